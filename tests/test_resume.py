"""Resume after a kill: a real ``kill -9`` of a training process, then ``--resume``.

The trainer has two job blocks: block 1 shuffles fixed windows under the plateau schedule (with
a dropout layer, whose seed state is part of the model), block 2 takes random crops with mixup
and SpecAugment under the cosine schedule. The first process is killed in block 1; a second,
``--resume``, process goes on with block 1 and is killed in block 2; a third (this process)
resumes block 2. Both jobs must end with exactly what an uninterrupted run of the same trainer
records: the same history, metrics and predictions, to the last bit.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from modules import PROJECT_ROOT
from modules.cli import list_jobs_table, main, run_trainer
from modules.resume import RESUME_FILE, ResumeState
from tests.small_trainers import HEAD, esc10_or_skip

pytestmark = pytest.mark.slow

EPOCHS = 6

TRAINER = HEAD + textwrap.dedent(f"""
    common({EPOCHS})
    parameters.lr_patience = 1  # the plateau schedule acts within the run
    launch_job({{"Esc10": 1}}, small_cnn, [], [], spec_parser)

    common({EPOCHS})
    parameters.audio_length = 2.5
    parameters.random_crops = True
    parameters.lr_schedule = "cosine"
    launch_job({{"Esc10": 1}}, small_cnn,
               [["mixup", {{"quantity": 0.5}}], ["specaugment", {{"quantity": 0.5}}]], [],
               spec_parser)
""")


def start(trainer: Path, cache: Path, *options) -> subprocess.Popen:
    code = ("import sys; from modules.cli import main; "
            f"sys.exit(main(['train', {str(trainer)!r}, '--testing', '--no-progress', "
            f"'--cache-root', {str(cache)!r}, *{list(options)!r}]))")
    return subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_during(process: subprocess.Popen, job: Path, epochs_done: int = 2,
                timeout: float = 600) -> None:
    """``kill -9`` the process once ``job`` has saved the resume state of ``epochs_done``
    epochs (and is still training)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the job process ended before the kill:\n{process.stdout.read()}")
        try:
            if ResumeState.read(job) and ResumeState.read(job).epochs_done >= epochs_done:
                break
        except (OSError, ValueError, KeyError):
            pass  # read while being replaced: try again
        time.sleep(0.05)
    else:
        raise AssertionError(f"{job} saved no resume state in {timeout} s")
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert json.loads((job / "job.json").read_text())["status"] == "running"


def outcome(job: Path) -> dict:
    metrics = json.loads((job / "metrics.json").read_text())
    return {"history": pd.read_csv(job / "history.csv").to_dict("list"),
            "metrics": metrics,
            "predictions": (job / "predictions.csv").read_text()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    esc10_or_skip()
    folder = tmp_path_factory.mktemp("resume")
    trainer = folder / "train_resume.py"
    trainer.write_text(TRAINER)
    killed_cache, reference_cache = folder / "killed", folder / "reference"
    first = killed_cache / "esc10" / "train_resume" / "1_testing"
    second = killed_cache / "esc10" / "train_resume" / "2_testing"

    kill_during(start(trainer, killed_cache), first)
    listing_after_kill = list_jobs_table(killed_cache, "esc10")
    kill_during(start(trainer, killed_cache, "--resume"), second)
    second_info = json.loads((second / "job.json").read_text())
    assert main(["train", str(trainer), "--testing", "--no-progress", "--cache-root",
                 str(killed_cache), "--resume"]) == 0
    run_trainer(trainer, testing=True, cache_root=str(reference_cache), progress=False)
    reference = reference_cache / "esc10" / "train_resume"
    return {"killed": (first, second), "reference": (reference / "1_testing",
                                                     reference / "2_testing"),
            "listing_after_kill": listing_after_kill, "second_info": second_info,
            "trainer": trainer, "cache": killed_cache}


def test_a_killed_job_shows_as_died_with_the_command_that_resumes_it(runs):
    listing = runs["listing_after_kill"]
    row = next(line for line in listing.splitlines() if "1_testing" in line)
    assert " died " in f" {row} "
    assert "bash launch.sh esc10/train_resume --resume --testing" in listing
    assert runs["second_info"]["pid"] != os.getpid() and runs["second_info"]["host"]


def test_resumed_jobs_end_exactly_as_an_uninterrupted_run(runs):
    for killed, reference in zip(runs["killed"], runs["reference"]):
        resumed, uninterrupted = outcome(killed), outcome(reference)
        assert resumed["history"] == uninterrupted["history"]
        assert len(resumed["history"]["epoch"]) == EPOCHS
        assert resumed["predictions"] == uninterrupted["predictions"]
        assert resumed["metrics"] == uninterrupted["metrics"]


def test_a_resumed_job_records_where_it_went_on_and_drops_its_resume_state(runs):
    first, second = runs["killed"]
    for job, killed_at in ((first, 2), (second, 2)):
        info = json.loads((job / "job.json").read_text())
        assert info["status"] == "finished"
        [resumed] = info["resumed"]
        assert resumed["after"] == "died" and resumed["from_epoch"] >= killed_at + 1
        assert not (job / RESUME_FILE).exists()
    # the first resume process finished block 1 and was killed in block 2: three jobs would
    # mean a finished job was trained again
    jobs = sorted(p.name for p in (runs["cache"] / "esc10" / "train_resume").iterdir()
                  if p.is_dir())
    assert jobs == ["1_testing", "2_testing"]


def test_resume_skips_finished_jobs(runs, capsys):
    assert main(["train", str(runs["trainer"]), "--testing", "--no-progress", "--cache-root",
                 str(runs["cache"]), "--resume"]) == 0
    out = capsys.readouterr().out
    assert "job block 1: job 1_testing is finished; not trained again" in out
    assert "job block 2: job 2_testing is finished; not trained again" in out


def test_a_resumed_job_goes_on_with_its_mlflow_run(runs):
    from mlflow.tracking import MlflowClient

    from modules.tracking import local_tracking_uri

    client = MlflowClient(local_tracking_uri(runs["cache"]))
    [experiment] = [e for e in client.search_experiments() if e.name == "esc10"]
    found = client.search_runs([experiment.experiment_id],
                               filter_string="attributes.run_name = 'train_resume/1_testing'")
    assert len(found) == 1 and found[0].info.status == "FINISHED"
    steps = {point.step for point in client.get_metric_history(found[0].info.run_id, "loss")}
    assert steps == set(range(1, EPOCHS + 1))  # epochs, counted from 1
