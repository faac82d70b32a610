"""TensorFlow's start-up chatter: ``modules/__init__.py`` sets ``TF_CPP_MIN_LOG_LEVEL=2`` before
anything imports TensorFlow (``os.environ.setdefault``: a user's own setting wins).

What it cannot silence: the two ``oneDNN custom operations are on`` lines (each after absl's
``All log messages before absl::InitializeLog()`` line). TensorFlow 2.21 writes them through absl
while loading ``libtensorflow_framework.so.2`` and again while loading
``_pywrap_profiler_plugin.so`` (``import tensorflow`` imports ``tf.profiler.experimental.client``),
which holds its own copy of that code; neither honours ``TF_CPP_MIN_LOG_LEVEL``, and only
``TF_ENABLE_ONEDNN_OPTS=0``, which changes the numbers, removes them."""

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
