"""TensorFlow's start-up chatter: ``modules/__init__.py`` sets ``TF_CPP_MIN_LOG_LEVEL=2`` before
anything imports TensorFlow (``os.environ.setdefault``: a user's own setting wins).

What that setting cannot silence: the two ``oneDNN custom operations are on`` lines (each after
absl's ``All log messages before absl::InitializeLog()`` line). TensorFlow 2.21 writes them
through absl while loading ``libtensorflow_framework.so.2`` and again while loading
``_pywrap_profiler_plugin.so`` (``import tensorflow`` imports ``tf.profiler.experimental.client``),
which holds its own copy of that code; neither honours ``TF_CPP_MIN_LOG_LEVEL``, and only
``TF_ENABLE_ONEDNN_OPTS=0``, which changes the numbers, removes them. The ``spectrain`` command
line therefore loads TensorFlow with its stderr held and leaves those lines out
(``modules/startup.py``); everything else written meanwhile is passed on."""

import os
import subprocess
import sys

from modules import PROJECT_ROOT


def _run(code: str, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300, env={**environment, **env}, check=True)


def test_tensorflow_info_lines_are_silenced_and_a_users_level_wins():
    quiet = _run("import modules, tensorflow, os; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    assert quiet.stdout.strip() == "2"
    assert "cpu_feature_guard" not in quiet.stderr
    assert "This TensorFlow binary is optimized" not in quiet.stderr
    # The user's own level is kept (checked without TensorFlow: the import is what is slow).
    own = _run("import modules, os; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])",
               TF_CPP_MIN_LOG_LEVEL="0")
    assert own.stdout.strip() == "0"


def test_a_command_starts_without_tensorflows_start_up_lines_and_keeps_its_own_errors(tmp_path):
    # replay of a folder that is no job: TensorFlow is loaded, then the one-line user error;
    # TensorFlow is imported after it in any case, so that both runs load it
    command = ("import sys\nfrom modules.cli import main\ntry:\n"
               f"    main(['replay', {str(tmp_path)!r}])\n"
               "except SystemExit as error:\n    print(error, file=sys.stderr)\n"
               "import tensorflow\n")
    quiet = subprocess.run([sys.executable, "-c", command], cwd=PROJECT_ROOT,
                           capture_output=True, text=True, timeout=300, check=True)
    assert "spectrain replay:" in quiet.stderr, quiet.stderr
    assert "oneDNN custom operations are on" not in quiet.stderr, quiet.stderr
    assert "absl::InitializeLog" not in quiet.stderr
    # Asked for TensorFlow's own lines, a user gets them (the start-up lines among them).
    loud = subprocess.run([sys.executable, "-c", command], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300, check=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert "oneDNN custom operations are on" in loud.stderr, loud.stderr


def test_lines_written_while_tensorflow_loads_are_passed_on(tmp_path):
    # a module named tensorflow that writes one known start-up line and one other line
    (tmp_path / "tensorflow.py").write_text(
        "import os\n"
        "os.write(2, b'I0000 port.cc:153] oneDNN custom operations are on. ...\\n')\n"
        "os.write(2, b'E0000 something TensorFlow wants you to see\\n')\n")
    code = "from modules.startup import import_tensorflow_quietly; import_tensorflow_quietly()"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                                                        "PYTHONPATH": str(tmp_path)})
    assert result.stderr == "E0000 something TensorFlow wants you to see\n"


def test_light_commands_start_without_tensorflow(tmp_path):
    code = ("import sys\nfrom modules.cli import main\n"
            f"main(['jobs', '--cache-root', {str(tmp_path)!r}])\n"
            "print('TensorFlow loaded:', 'tensorflow' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=120, check=True)
    assert "no jobs found" in result.stdout and "TensorFlow loaded: False" in result.stdout
