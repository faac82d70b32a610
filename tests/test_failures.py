"""Clear failures, nothing lost: a replay that cannot be trusted is refused in one line that
names what is wrong (a job that did not finish, a damaged model, a missing or changed
validation file), and writes nothing; the command line shows user errors as one line.

One real job is trained once for the module (testing mode, one epoch, real ESC-10 clips copied
under the test's folder so that tests can delete or alter them); each test damages a copy.
"""

import hashlib
import json
import re
import shutil
import subprocess
import textwrap
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from modules import PROJECT_ROOT
from modules.cli import main, run_trainer
from modules.data.fingerprints import (RECORD_NAME, changed_validation_files, fingerprint,
                                       validation_file_paths)
from modules.errors import UserError
from modules.job_folder import JobFolderError
from modules.replay import replay_job

pytestmark = pytest.mark.slow

ESC10 = PROJECT_ROOT.parent / "shared" / "datasets" / "ESC-10"
MODE, TRAINER = "failures", "train5"


def folder_digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(trainer file, job folder): one finished testing job on copies of 8 ESC-10 clips."""
    if not ESC10.is_dir():
        pytest.skip(f"ESC-10 not found at {ESC10}")
    root = tmp_path_factory.mktemp("failures")
    rows = ["path,label,fold"]
    for folder in ("001 - Dog bark", "002 - Rain"):
        for fold in ("1", "2"):
            for source in sorted((ESC10 / folder).glob(f"{fold}-*.ogg"))[:2]:
                copy = root / "data" / folder[6:] / source.name
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, copy)
                rows.append(f"{copy},{folder[6:]},{fold}")
    (root / "files.csv").write_text("\n".join(rows) + "\n")
    trainer = root / "trainers" / MODE / f"{TRAINER}.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent(f"""
        from modules.data import register_dataset
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.training import launch_job

        register_dataset("Copied", {str(root / "files.csv")!r})
        parameters.n_mels = 32
        parameters.n_fft = 512
        parameters.testing_epochs = 1
        parameters.validation_fold = 1
        launch_job({{"Copied": 1}}, baseline_cnn, [], [])
    """))
    run_trainer(trainer, testing=True, cache_root=str(root / "cache"), progress=False)
    job = root / "cache" / MODE / TRAINER / "1_testing"
    assert json.loads((job / "job.json").read_text())["status"] == "finished"
    return trainer, job


def copy_job(job: Path, tmp_path: Path, status: str | None = None) -> Path:
    """A copy of the job at <tmp>/cache/MODE/TRAINER/<job> (a replay reads the cache root from
    where the folder is); ``status``: written into its job.json."""
    target = tmp_path / "cache" / MODE / TRAINER / job.name
    shutil.copytree(job, target)
    if status:
        info = json.loads((target / "job.json").read_text())
        info["status"] = status
        (target / "job.json").write_text(json.dumps(info, indent=2) + "\n")
    return target


@pytest.fixture
def restore():
    """Validation audio files a test damages, put back as they were afterwards (the trained
    job's data is shared by the module's tests)."""
    saved: dict[Path, bytes] = {}
    yield lambda path: saved.setdefault(path, path.read_bytes())
    for path, content in saved.items():
        path.write_bytes(content)


def refused(job: Path, match: str) -> str:
    """Replay ``job`` expecting a one-line JobFolderError; checks that nothing was written."""
    before = folder_digest(job)
    with pytest.raises(JobFolderError, match=match) as caught:
        replay_job(job, progress=False)
    assert "\n" not in str(caught.value)
    assert folder_digest(job) == before  # no replay-*.txt, nothing changed
    return str(caught.value)


def test_training_records_every_validation_file_with_size_and_fingerprint(trained):
    _, job = trained
    validation = pd.read_csv(job / "validation.csv")
    record = pd.read_csv(job / RECORD_NAME)
    assert list(record["path"]) == list(validation["path"]) and len(record) == 4
    for path, size, mark in record.itertuples(index=False):
        assert size == Path(path).stat().st_size and mark == fingerprint(path)
    assert changed_validation_files(job) == []


@pytest.mark.parametrize("status", ["interrupted", "failed", "died"])
def test_a_job_that_did_not_finish_is_refused_with_the_resume_command(trained, tmp_path, status):
    job = copy_job(trained[1], tmp_path, status)
    message = refused(job, "did not finish")
    assert f"job 1 ({job})" in message and f"status '{status}'" in message
    assert f"`bash launch.sh {MODE}/{TRAINER} --resume --testing`" in message


def test_a_running_job_is_refused(trained, tmp_path):
    job = copy_job(trained[1], tmp_path, "running")
    message = refused(job, "did not finish: its status is 'running'")
    assert "once it has finished" in message and "--resume" in message


def test_a_damaged_model_is_refused_naming_the_file(trained, tmp_path):
    job = copy_job(trained[1], tmp_path)
    model = job / "best_model.keras"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 3])
    refused(job, rf"^{model} is damaged: not a complete \.keras \(zip\) file "
                 rf"\({model.stat().st_size} bytes\)$")
    model.write_bytes(b"not a model at all\n" * 50)
    refused(job, r"best_model\.keras is damaged: not a complete \.keras \(zip\) file \(950 ")
    with zipfile.ZipFile(model, "w") as archive:  # a zip, but not a Keras model
        archive.writestr("notes.txt", "hello")
    refused(job, r"best_model\.keras cannot be loaded \(")


def test_a_missing_validation_file_is_named(trained, tmp_path, restore):
    job = copy_job(trained[1], tmp_path)
    record = pd.read_csv(job / RECORD_NAME)
    gone = Path(record["path"][1])
    restore(gone)
    gone.unlink()
    message = refused(job, "is missing")
    assert message.startswith(f"validation file {gone} is missing (it was there when job 1 "
                              f"trained)")
    assert "more validation file" not in message


def test_a_changed_validation_file_is_named_with_what_changed(trained, tmp_path, restore):
    job = copy_job(trained[1], tmp_path)
    first, second = (Path(p) for p in pd.read_csv(job / RECORD_NAME)["path"][:2])
    content = restore(first)
    altered = bytearray(content)
    altered[len(altered) // 2] ^= 0xFF  # one byte, same size
    first.write_bytes(bytes(altered))
    refused(job, rf"^validation file {first} changed since job 1 trained \(same size, "
                 r"different content\)")
    restore(second)
    second.write_bytes(second.read_bytes() + b"\0")
    message = refused(job, "same size, different content")
    assert "; 1 more validation file(s) missing or changed" in message
    first.write_bytes(content)
    refused(job, rf"^validation file {second} changed since job 1 trained \(size was "
                 rf"{len(second.read_bytes()) - 1} bytes, now {len(second.read_bytes())}\)")


def test_an_old_job_without_the_record_replays_as_before(trained, tmp_path):
    job = copy_job(trained[1], tmp_path)
    (job / RECORD_NAME).unlink()
    result = replay_job(job, progress=False)
    assert result.identical and result.report_path.parent == job


def test_validation_files_of_packs_feature_sets_and_annotations():
    table = pd.DataFrame({"path": ["/d/set.nc::a.wav", "/d/set.nc::b.wav", "/d/clips.h5::3",
                                   "/d/r1.wav", "/d/r1.wav"],
                          "annotation": [None, None, None, "/d/r1.txt", "/d/r1.txt"]})
    assert validation_file_paths(table) == ["/d/set.nc", "/d/clips.h5", "/d/r1.wav",
                                            "/d/r1.txt"]


def test_large_files_are_fingerprinted_by_their_ends(tmp_path):
    big = tmp_path / "big.bin"
    content = bytearray(3 * 2**20)
    big.write_bytes(bytes(content))
    ends, whole = fingerprint(big, ends=True), fingerprint(big)
    assert ends.startswith("blake2b-ends:") and whole.startswith("blake2b:")
    content[len(content) // 2] = 1  # the middle: unseen by the ends, seen by the whole file
    big.write_bytes(bytes(content))
    assert fingerprint(big, ends=True) == ends and fingerprint(big) != whole
    content[-1] = 1
    big.write_bytes(bytes(content))
    assert fingerprint(big, ends=True) != ends


# ------------------------------------------------------------------------ the command line
def one_line_exit(argv, capsys) -> str:
    """Run ``spectrain argv`` in-process expecting a one-line user error; returns the line."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    message = caught.value.code
    assert isinstance(message, str) and "\n" not in message
    assert "Traceback" not in capsys.readouterr().err
    return message


def test_cli_replay_refusals_are_one_line(trained, tmp_path, capsys):
    job = copy_job(trained[1], tmp_path, "interrupted")
    message = one_line_exit(["replay", str(job), "--no-progress"], capsys)
    assert message.startswith(f"spectrain replay: job 1 ({job}) did not finish")
    # --validation-only of the trainer finds the same job and refuses it the same way
    message = one_line_exit(["train", str(trained[0]), "--testing", "--validation-only",
                             "--cache-root", str(tmp_path / "cache"), "--no-progress"], capsys)
    assert message.startswith(f"spectrain train: job 1 ({job}) did not finish")
    assert not list(job.glob("replay-*"))
    with pytest.raises(JobFolderError, match="did not finish"):  # --debug: the traceback
        main(["--debug", "replay", str(job)])


def test_cli_user_errors_in_a_trainer_are_one_line_naming_the_trainer_line(tmp_path, capsys):
    trainer = tmp_path / "trainers" / MODE / "train6.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text("from modules.parameters import parameters\n\n"
                       "parameters.n_epoch = 3\n")
    message = one_line_exit(["train", str(trainer), "--cache-root", str(tmp_path)], capsys)
    assert message == (f"spectrain train: unknown parameter 'n_epoch': did you mean n_epochs "
                       f"or testing_epochs or warmup_epochs? ({trainer}, line 3)")
    trainer.write_text("from modules.models import baseline_cnn\n"
                       "from modules.training import launch_job\n\n"
                       'launch_job({"Esc1O": 1}, baseline_cnn, [], [])\n')
    message = one_line_exit(["train", str(trainer), "--testing", "--cache-root",
                             str(tmp_path / "cache"), "--no-progress"], capsys)
    assert message.startswith("spectrain train: unknown dataset 'Esc1O'; did you mean 'Esc10'")
    assert message.endswith(f"({trainer}, line 4)")
    # the job it had started records the failure, as every failed job does
    info = json.loads((tmp_path / "cache" / MODE / "train6" / "1_testing" / "job.json")
                      .read_text())
    assert info["status"] == "failed" and "UnknownDatasetError: unknown dataset" in info["error"]


def test_cli_refused_pickled_checkpoint_is_one_line(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    checkpoint = tmp_path / "Cnn6.pth"
    torch.save({"model": {"fc1.weight": torch.zeros(2)}, "config": SimpleNamespace(a=1)},
               checkpoint)  # a pickled object besides the tensors: refused unless trusted
    message = one_line_exit(["convert", "panns", str(checkpoint), str(tmp_path / "out.keras"),
                             "--model", "Cnn6"], capsys)
    assert message.startswith(f"spectrain convert: {checkpoint} holds more than tensors")
    assert message.endswith("pass --trust-checkpoint (allow_pickle=True) to unpickle it in full")
    assert not (tmp_path / "out.keras").exists()


def test_the_installed_command_prints_one_line_and_exits_1(trained, tmp_path):
    job = copy_job(trained[1], tmp_path)
    (job / "best_model.keras").write_bytes(b"\0" * 100)
    before = folder_digest(job)
    done = subprocess.run([str(PROJECT_ROOT / ".venv" / "bin" / "spectrain"), "replay",
                           str(job), "--no-progress"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1
    # TensorFlow 2.21 logs its oneDNN notice before absl is set up, whatever
    # TF_CPP_MIN_LOG_LEVEL says: those lines are TensorFlow's, not spectrain's.
    lines = [line for line in done.stderr.strip().splitlines()
             if not re.match(r"(WARNING: All log messages before absl|I\d{4} .*port\.cc)", line)]
    assert len(lines) == 1, done.stderr
    assert lines[0] == (f"spectrain replay: {job / 'best_model.keras'} is damaged: not a "
                        f"complete .keras (zip) file (100 bytes)")
    assert "Traceback" not in done.stderr
    assert folder_digest(job) == before


def test_user_errors_keep_their_old_classes():
    from modules.data.datasets import UnknownDatasetError
    from modules.models.checkpoints import UnsafeCheckpointError
    from modules.parameters import ParameterError

    assert issubclass(JobFolderError, ValueError) and issubclass(ParameterError, AttributeError)
    assert issubclass(UnknownDatasetError, KeyError)
    assert issubclass(UnsafeCheckpointError, ValueError)
    for cls in (JobFolderError, ParameterError, UnknownDatasetError, UnsafeCheckpointError):
        assert issubclass(cls, UserError)
    assert str(UnknownDatasetError("unknown dataset 'X'")) == "unknown dataset 'X'"  # unquoted
