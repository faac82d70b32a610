"""Every registered task, driven by the registry (as timm tests every registered model): a
testing-mode job from a trainer file, its replay (IDENTICAL), and ``spectrain explain`` /
``spectrain detect`` where the task has them (and a clear refusal where it has not).

A new task registers itself in :mod:`modules.tasks`; this test then fails until it gets a
recipe below: a small trainer file and the data it trains on.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from modules.cli import main, run_trainer
from modules.job_folder import jobs_table
from modules.replay import replay_job
from modules.tasks import Task, get_task, register_task, registered_tasks

COMMON_FILES = {"params.json", "job.json", "train.csv", "validation.csv", "best_model.keras",
                "last_model.keras", "history.csv", "history.png", "report.txt", "metrics.json"}
RECIPES = {}

TINY_FRONT_END = """
parameters.n_fft = 256
parameters.hop_length = 256
parameters.n_mels = 16
parameters.n_example_plots = 1
parameters.n_gradcam = 1
"""


def trainer_source(*parts: str) -> str:
    """A trainer file from indented pieces (each dedented on its own)."""
    return "\n".join(textwrap.dedent(part).strip("\n") for part in parts) + "\n"


def recipe(name: str):
    """``f(root) -> (trainer source, data_root or None, files only this task writes)``."""

    def add(function):
        RECIPES[name] = function
        return function

    return add


@recipe("classification")
def classification_recipe(root: Path):
    return trainer_source("""
        import functools
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.parsers import spec_parser
        from modules.training import launch_job

        parameters.sr = 8000
        parameters.audio_length = 2.5
        parameters.step_size = 2.5
        parameters.testing_files_per_class = 2
        """, TINY_FRONT_END, """
        launch_job({"Esc10": 1}, functools.partial(baseline_cnn, filters=(4, 8)), [], [],
                   spec_parser)
        """), None, {"predictions.csv", "confusion_matrix.png", "gradcam"}


def respiratory_recipe(root: Path, task: str):
    from tests.respiratory_data import make_icbhi

    if not (root / "data" / "ICBHI").exists():
        make_icbhi(root / "data" / "ICBHI", n_patients=8, recordings_per_patient=2,
                   duration=6.0, seed=1)
    return trainer_source(f"""
        import functools
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.parsers import spec_parser
        from modules.training import launch_job

        parameters.task = {task!r}
        parameters.sr = 4000
        parameters.audio_length = 2.0
        parameters.step_size = 2.0
        parameters.split = "group"
        parameters.testing_files_per_class = 3
        """, TINY_FRONT_END, """
        launch_job({"Icbhi": 1}, functools.partial(baseline_cnn, filters=(4, 8)), [], [],
                   spec_parser)
        """), root / "data", {"predictions.csv", "patient_confusion_matrix.png"}


recipe("pneumonia")(lambda root: respiratory_recipe(root, "pneumonia"))
recipe("cw")(lambda root: respiratory_recipe(root, "cw"))


@recipe("sed")
def sed_recipe(root: Path):
    import pandas as pd

    from modules.sed.clips import make_clips
    from tests.sed_data import make_long_recording

    # five recordings: clips of one recording stay on one side of a group split into 5 folds
    events = pd.concat([make_long_recording(root / "recordings" / f"rec{i}.wav",
                                            {"Dog bark": 1, "Chainsaw": 1}, 16.0, sr=8000,
                                            seed=i, snr_db=12.0) for i in range(5)],
                       ignore_index=True)
    make_clips(events, root / "clips", clip_length=2.5, seed=0, n_background=0, progress=False)
    return trainer_source(f"""
        import functools
        from modules.data import register_dataset
        from modules.models import sed_crnn
        from modules.parameters import parameters
        from modules.parsers import spec_parser
        from modules.training import launch_job

        register_dataset("Mixed", {str(root / "clips")!r})
        parameters.task = "sed"
        parameters.sr = 8000
        parameters.audio_length = 2.0
        parameters.event_bins = 4
        parameters.testing_files_per_class = 6
        parameters.batch_size = 4
        """, TINY_FRONT_END, """
        launch_job({"Mixed": 1}, functools.partial(sed_crnn, filters=(4, 8), time_pool=(2, 2),
                                                  rnn_units=4), [], [], spec_parser)
        """), None, {"predictions.npz", "validation_events.csv", "examples"}


@recipe("multilabel")
def multilabel_recipe(root: Path):
    from tests.conftest import ESC10
    from tests.multilabel_data import make_weak_dataset

    weak = make_weak_dataset(root / "desed", ESC10, per_class=4)
    return trainer_source(f"""
        import functools
        from modules.data import register_dataset
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.parsers import spec_parser
        from modules.training import launch_job

        register_dataset("Weak", {str(weak)!r})
        parameters.task = "multilabel"
        parameters.sr = 8000
        parameters.audio_length = 1.25
        parameters.step_size = 1.25
        parameters.split = "random"
        parameters.validation_size = 0.3
        parameters.testing_files_per_class = 3
        """, TINY_FRONT_END, """
        launch_job({"Weak": 1}, functools.partial(baseline_cnn, filters=(4, 8), multi_label=True),
                   [], [], spec_parser)
        """), None, {"predictions.csv", "per_class.png"}


def _run_recipe(name: str, root: Path) -> tuple[Path, set]:
    """The recipe's job folder, and the files only this task writes."""
    source, data_root, own_files = RECIPES[name](root)
    trainer = root / "trainers" / "smoke" / "train1.py"
    trainer.parent.mkdir(parents=True, exist_ok=True)
    trainer.write_text(source)
    run_trainer(trainer, testing=True, cache_root=str(root / "cache"),
                data_root=str(data_root) if data_root else None, progress=False)
    [job] = (root / "cache" / "smoke" / "train1").glob("*_testing")
    return job, own_files


def check_report_page(job: Path) -> None:
    """The job's report.html has a part for each level its task measured (windows, recordings,
    frames, events) and, for a respiratory task, its patients."""
    from modules.html_report.metrics_sections import LEVEL_TITLES
    from modules.html_report.page import escape

    page = (job / "report.html").read_text()
    metrics = json.loads((job / "metrics.json").read_text())
    levels = [name for name in metrics if name in LEVEL_TITLES]
    assert levels and all(escape(LEVEL_TITLES[name]) in page for name in levels)
    if any(isinstance(level, dict) and "patients" in level for level in metrics.values()):
        assert "<h3>Per patient</h3>" in page and "icbhi score" in page.lower()
    assert "missing" not in page.split('id="results"', 1)[1].split("</section>", 1)[0]


def test_every_registered_task_has_a_recipe():
    assert set(registered_tasks()) <= set(RECIPES), (
        f"add a recipe to tests/test_tasks.py for {set(registered_tasks()) - set(RECIPES)}")


@pytest.mark.slow
@pytest.mark.parametrize("name", registered_tasks())
def test_a_registered_task_trains_replays_and_explains_or_detects(name, tmp_path, esc10,
                                                                  capsys):
    task = get_task(name)
    job, own_files = _run_recipe(name, tmp_path)
    info = json.loads((job / "job.json").read_text())
    assert info["status"] == "finished" and info["task"] == name
    written = {path.name for path in job.iterdir()}
    assert COMMON_FILES | own_files <= written

    # `spectrain jobs` lists the task's headline numbers
    summary = task.summary(json.loads((job / "metrics.json").read_text()))
    header, row = jobs_table(tmp_path / "cache").splitlines()
    listed = [label for key, label in task.listed.items() if key in summary]
    assert listed and all(label in header for label in listed)
    assert f"{summary[next(iter(task.listed))]:.4f}" in row

    check_report_page(job)
    result = replay_job(job, progress=False)
    assert result.identical, result.report_path.read_text()
    assert result.max_probability_difference == 0.0

    capsys.readouterr()
    explain = ["explain", "--job", str(job), "--method", "gradcam", "--index", "0",
               "--no-progress"]
    if task.explains:
        assert main(explain) == 0
        [folder] = (job / "interpret").glob("gradcam-*")
        assert {"settings.json", "summary.txt"} <= {p.name for p in folder.iterdir()}
    else:
        with pytest.raises(SystemExit, match="explanations are for classification jobs"):
            main(explain)

    recording = tmp_path / "new" / "recording.wav"
    if task.detects:
        from tests.sed_data import make_long_recording

        make_long_recording(recording, {"Dog bark": 1, "Chainsaw": 1}, 16.0, sr=8000, seed=9)
    detect = ["detect", "--job", str(job), "--input", str(recording), "--output",
              str(tmp_path / "events"), "--no-progress"]
    if task.detects:
        assert main(detect) == 0
        assert (tmp_path / "events" / "events.csv").is_file()
    else:
        with pytest.raises(SystemExit, match="is not a sound event detection job"):
            main(detect)

    # `spectrain predict`: windows of new recordings, or events for a detection job
    new_file = recording if task.detects else job_validation_file(job)
    predict = ["predict", "--job", str(job), "--input", str(new_file), "--output",
               str(tmp_path / "predicted"), "--no-progress"]
    if task.predicts or task.detects:
        assert main(predict) == 0
        written = {path.name for path in (tmp_path / "predicted").iterdir()}
        assert ({"events.csv"} if task.detects else {"windows.csv", "files.csv"}) <= written
    else:
        with pytest.raises(SystemExit, match="does not predict windows"):
            main(predict)


def job_validation_file(job: Path) -> str:
    """A recording the job validated on (a pack row or feature set has no file to stream)."""
    import pandas as pd

    return pd.read_csv(job / "validation.csv")["path"][0]


# --- the registry itself ----------------------------------------------------------------------
class ShoutingTask(Task):
    """A task defined outside the library, named by its "module:attribute" path."""


def test_tasks_resolve_by_name_by_path_and_fail_with_the_closest_name():
    assert get_task("").name == "classification"
    assert get_task("sed").detects and not get_task("sed").explains
    assert isinstance(get_task("tests.test_tasks:ShoutingTask"), ShoutingTask)
    with pytest.raises(ValueError, match="unknown task 'sde'; did you mean 'sed'"):
        get_task("sde")
    with pytest.raises(ValueError, match="is a dict, not a Task"):
        get_task("tests.test_tasks:RECIPES")


def test_a_task_name_is_registered_once():
    with pytest.raises(ValueError, match="task 'sed' is registered twice"):
        register_task("sed")(ShoutingTask)


def test_an_unknown_task_fails_before_a_job_folder_exists(tmp_path):
    trainer = tmp_path / "trainers" / "smoke" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent("""
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.training import launch_job

        parameters.task = "pneumonai"
        launch_job({"Esc10": 1}, baseline_cnn, [], [])
        """))
    with pytest.raises(ValueError, match="did you mean 'pneumonia'"):
        run_trainer(trainer, testing=True, cache_root=str(tmp_path / "cache"), progress=False)
    assert not (tmp_path / "cache").exists()


def test_classification_summary_adds_the_recording_level_when_files_have_windows():
    numbers = {"accuracy": 0.8, "balanced_accuracy": 0.79, "macro_f1": 0.78}
    task = get_task("")
    assert "best_file_accuracy" not in task.summary({"examples": numbers})
    summary = task.summary({"examples": numbers,
                            "clips": {"accuracy": 0.9, "balanced_accuracy": 0.88}})
    assert summary["best_accuracy"] == 0.8
    assert (summary["best_file_accuracy"], summary["best_file_balanced_accuracy"]) == (0.9, 0.88)
