"""Trainer -> job folder -> replay, on real ESC-10 clips, in testing mode (2 epochs, subset).

These run real training in-process (one TensorFlow import for the whole file); together they take
about a minute on 2 cores.
"""

import hashlib
import json
import textwrap
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from modules import PROJECT_ROOT
from modules.cli import find_trainer, list_jobs_table, run_trainer
from modules.replay import replay_job
from modules.tracking import local_tracking_uri

pytestmark = pytest.mark.slow

JOB_FILES = {"params.json", "job.json", "train.csv", "validation.csv", "best_model.keras",
             "last_model.keras", "history.csv", "history.png", "report.txt", "metrics.json",
             "predictions.csv", "confusion_matrix.png", "tns.txt", "skipped.txt", "tp", "fp", "fn",
             "gradcam"}


def folder_digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def two_jobs(tmp_path_factory):
    """train1 --testing run twice into one cache; job 1's files hashed between the runs."""
    if not (PROJECT_ROOT.parent / "shared" / "datasets" / "ESC-10").is_dir():
        pytest.skip("ESC-10 is not beside the project")
    cache = tmp_path_factory.mktemp("cache")
    trainer = find_trainer("train1")
    run_trainer(trainer, testing=True, cache_root=str(cache), progress=False)
    first = cache / "esc10" / "train1" / "1_testing"
    before = folder_digest(first)
    run_trainer(trainer, testing=True, cache_root=str(cache), progress=False,
                description="second run")
    return cache, first, before


def test_a_job_leaves_a_complete_folder(two_jobs):
    cache, first, _ = two_jobs
    assert JOB_FILES <= {p.name for p in first.iterdir()}
    info = json.loads((first / "job.json").read_text())
    assert info["status"] == "finished" and info["job_block"] == 1
    params = json.loads((first / "params.json").read_text())
    assert params["testing"] is True and params["n_epochs"] == 2 and params["shape"] == [64, 216, 1]
    metrics = json.loads((first / "metrics.json").read_text())["examples"]
    assert metrics["n_examples"] == 40  # 4 clips per class in fold 1
    assert sum(map(sum, metrics["confusion_matrix"])) == 40
    assert len(list((first / "gradcam").glob("*.png"))) == 8
    assert list((first / "tp").glob("*.png")) or list((first / "fn").glob("*.png"))
    report = (first / "report.txt").read_text()
    for needle in ("accuracy", "balanced accuracy", "Dog bark", "confusion matrix",
                   "Skipped files (0)"):
        assert needle in report


def test_second_run_is_job_2_beside_an_untouched_job_1(two_jobs):
    cache, first, before = two_jobs
    assert sorted(p.name for p in (cache / "esc10" / "train1").iterdir()
                  if not p.name.startswith(".")) == ["1_testing", "2_testing"]
    assert folder_digest(first) == before
    second = cache / "esc10" / "train1" / "2_testing"
    assert json.loads((second / "params.json").read_text())["description"] == "second run"
    # Same seed, same data, op determinism: the second job learns exactly the same numbers.
    assert (first / "history.csv").read_text() == (second / "history.csv").read_text()


def test_mlflow_has_one_run_per_job_with_epoch_metrics(two_jobs):
    cache, _, _ = two_jobs
    client = MlflowClient(local_tracking_uri(cache))
    experiment = client.get_experiment_by_name("esc10")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["train1/1_testing", "train1/2_testing"]
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 2
    assert "best_accuracy" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.txt", "params.json", "model"} <= artifacts


def test_replay_reproduces_the_recorded_metrics_exactly(two_jobs):
    cache, first, _ = two_jobs
    replayed = run_trainer(find_trainer("train1"), testing=True, validation_only=True, job=1,
                           cache_root=str(cache), progress=False)
    assert replayed == [first]
    result = replay_job(first, progress=False)  # and from the folder alone
    recorded = json.loads((first / "metrics.json").read_text())
    assert result.identical
    assert result.metrics["examples"]["accuracy"] == recorded["examples"]["accuracy"]
    assert result.metrics["examples"]["confusion_matrix"] == recorded["examples"]["confusion_matrix"]
    assert result.max_probability_difference == 0.0
    replays = sorted(first.glob("replay-*.txt"))
    assert len(replays) == 2  # two replays in the same second do not overwrite each other
    assert "IDENTICAL to the recorded metrics" in replays[0].read_text()
    table = list_jobs_table(cache, "esc10").splitlines()
    # Job folders only (not MLflow's artifact copies of job.json), in id order.
    assert [line.split()[1] for line in table[1:]] == ["1_testing", "2_testing"]


def test_own_dataset_with_bad_files_skips_them_and_reports_why(tmp_path, bad_audio_files, esc10):
    good = sorted((esc10 / "001 - Dog bark").glob("1-*.ogg"))[:2] + \
        sorted((esc10 / "002 - Rain").glob("1-*.ogg"))[:2] + \
        sorted((esc10 / "001 - Dog bark").glob("2-*.ogg"))[:2] + \
        sorted((esc10 / "002 - Rain").glob("2-*.ogg"))[:2]
    rows = ["path,label,fold"] + [f"{p},{p.parent.name[6:]},{p.name[0]}" for p in good]
    rows += [f"{p},Rain,2" for p in bad_audio_files.values()]
    (tmp_path / "mine.csv").write_text("\n".join(rows) + "\n")
    trainer = tmp_path / "trainers" / "mine" / "train7.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent(f"""
        from modules.data import register_dataset
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.training import launch_job

        register_dataset("Mine", {str(tmp_path / "mine.csv")!r})
        parameters.n_mels = 32
        parameters.n_fft = 512
        parameters.n_epochs = 1
        parameters.validation_fold = 1
        launch_job({{"Mine": 1}}, baseline_cnn, [], [])
    """))
    run_trainer(trainer, cache_root=str(tmp_path / "cache"), progress=False)
    job = tmp_path / "cache" / "mine" / "train7" / "1"
    report = (job / "report.txt").read_text()
    assert f"Skipped files ({len(bad_audio_files)})" in report
    for word, path in bad_audio_files.items():
        line = next(line for line in report.splitlines() if line.startswith(str(path)))
        assert word in line or word == "corrupt", line
    assert json.loads((job / "metrics.json").read_text())["examples"]["n_examples"] == 4


def test_a_crashing_job_keeps_what_it_wrote_and_earlier_jobs(tmp_path, esc10):
    trainer = tmp_path / "trainers" / "crash" / "train9.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent("""
        from modules.parameters import parameters
        from modules.training import launch_job

        def broken_model(input_shape, n_classes):
            raise RuntimeError("model builder exploded")

        parameters.testing_files_per_class = 1
        launch_job({"Esc10": 1}, broken_model, [], [])
    """))
    cache = tmp_path / "cache"
    earlier = cache / "crash" / "train9" / "1"
    earlier.mkdir(parents=True)
    (earlier / "report.txt").write_text("an earlier result\n")
    with pytest.raises(RuntimeError, match="model builder exploded"):
        run_trainer(trainer, testing=True, cache_root=str(cache), progress=False)
    job = cache / "crash" / "train9" / "2_testing"
    info = json.loads((job / "job.json").read_text())
    assert info["status"] == "failed" and "exploded" in info["error"]
    assert "model builder exploded" in (job / "error.txt").read_text()
    assert {"params.json", "train.csv", "validation.csv"} <= {p.name for p in job.iterdir()}
    assert (earlier / "report.txt").read_text() == "an earlier result\n"
