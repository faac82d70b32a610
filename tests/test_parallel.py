"""``spectrain train NAME --parallel K``: job blocks and cross-validation folds as tasks on a real
local Ray cluster, compared with a serial run of the same trainer.

The trainer has three blocks: a plain job, a 2-fold cross-validated block (two fold jobs and a
summary) and a block that fails (an unknown dataset). Four Ray tasks, two at a time.
"""

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from modules import PROJECT_ROOT
from modules.cli import main, run_trainer
from modules.tracking import local_tracking_uri
from tests.small_trainers import HEAD, esc10_or_skip

pytestmark = pytest.mark.slow

TRAINER = HEAD + textwrap.dedent("""
    common(3)
    launch_job({"Esc10": 1}, small_cnn, [], [], spec_parser)

    common(3)
    parameters.cross_validate = True
    parameters.split = "group"
    parameters.n_folds = 2
    launch_job({"Esc10": 1}, small_cnn, [], [], spec_parser)

    common(3)
    launch_job({"NoSuchDataset": 1}, small_cnn, [], [], spec_parser)
""")

LONG_TRAINER = HEAD + textwrap.dedent("""
    for lr in (1e-3, 2e-3):
        common(500)
        parameters.lr = lr
        launch_job({"Esc10": 1}, small_cnn, [], [], spec_parser)
""")


def jobs_by_block(folder: Path) -> dict:
    """(block, fold) -> job folder, whatever ids the jobs took."""
    found = {}
    for job in folder.glob("[0-9]*_testing"):
        info = json.loads((job / "job.json").read_text())
        fold = (info.get("cross_validation") or {}).get("fold")
        found[(info["job_block"], fold)] = (job, info)
    return found


@pytest.fixture(scope="module")
def launches(tmp_path_factory):
    esc10_or_skip()
    folder = tmp_path_factory.mktemp("parallel")
    trainer = folder / "train_par.py"
    trainer.write_text(TRAINER)
    parallel, serial = folder / "parallel", folder / "serial"
    started = time.monotonic()
    os.environ["SPECTRAIN_LOG_DIR"] = str(folder / "logs")  # not the project's jobs/
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            code = main(["train", str(trainer), "--testing", "--parallel", "2",
                         "--cache-root", str(parallel)])
    finally:
        del os.environ["SPECTRAIN_LOG_DIR"]
    print(f"parallel launch: {time.monotonic() - started:.0f} s")
    with pytest.raises(Exception, match="NoSuchDataset"):
        run_trainer(trainer, testing=True, cache_root=str(serial), progress=False)
    return {"code": code, "stderr": errors.getvalue(), "parallel": parallel / "esc10" / "train_par", "logs": folder / "logs",
            "serial": serial / "esc10" / "train_par", "cache": parallel}


def test_the_launch_says_which_job_failed_and_the_others_finish(launches, capsys):
    assert launches["code"] == 1
    [failed] = [line for line in launches["stderr"].splitlines() if line.startswith("FAILED")]
    assert failed.startswith("FAILED block 3: UnknownDatasetError: unknown dataset")
    jobs = jobs_by_block(launches["parallel"])
    assert {key: info["status"] for key, (_, info) in jobs.items()} == {
        (1, None): "finished", (2, 1): "finished", (2, 2): "finished", (3, None): "failed"}
    assert len({path.name for path, _ in jobs.values()}) == 4  # four folders, no collision
    [log] = launches["logs"].glob("train_par-*-parallel/block3.log")
    assert "unknown dataset 'NoSuchDataset'" in log.read_text()


def test_parallel_jobs_equal_the_serial_run(launches):
    parallel, serial = jobs_by_block(launches["parallel"]), jobs_by_block(launches["serial"])
    for key in ((1, None), (2, 1), (2, 2)):
        ran, reference = parallel[key][0], serial[key][0]
        assert (ran / "predictions.csv").read_text() == (reference / "predictions.csv").read_text()
        assert (json.loads((ran / "metrics.json").read_text())
                == json.loads((reference / "metrics.json").read_text()))


def test_the_cross_validated_block_gets_its_summary(launches):
    [summary] = launches["parallel"].glob("cv*_testing/summary.json")
    data = json.loads(summary.read_text())
    assert [row["fold"] for row in data["folds"]] == [1, 2] and data["missing"] == []
    assert 0 <= data["mean"]["best_accuracy"] <= 1


def test_every_parallel_job_has_its_mlflow_run(launches):
    client = MlflowClient(local_tracking_uri(launches["cache"]))
    [experiment] = [e for e in client.search_experiments() if e.name == "esc10"]
    names = sorted(run.info.run_name for run in client.search_runs([experiment.experiment_id]))
    jobs = sorted(f"train_par/{path.name}" for path, info in
                  jobs_by_block(launches["parallel"]).values() if info["status"] == "finished")
    assert len(jobs) == 3
    assert set(jobs) <= set(names)
    assert any(name.startswith("train_par/cv") for name in names)  # the cv parent run


def test_ctrl_c_cancels_every_job_and_marks_them_interrupted(tmp_path):
    esc10_or_skip()
    trainer = tmp_path / "train_long.py"
    trainer.write_text(LONG_TRAINER)
    cache = tmp_path / "cache"
    driver = subprocess.Popen(
        [sys.executable, "-m", "modules.cli", "train", str(trainer), "--testing",
         "--parallel", "2", "--cache-root", str(cache)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "SPECTRAIN_LOG_DIR": str(tmp_path / "logs")})
    folder = cache / "esc10" / "train_long"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        training = [job for job in folder.glob("*_testing") if (job / "history.csv").is_file()]
        if len(training) == 2 or driver.poll() is not None:
            break
        time.sleep(0.2)
    assert driver.poll() is None, driver.stdout.read()
    driver.send_signal(signal.SIGINT)
    output = driver.communicate(timeout=180)[0]
    assert driver.returncode != 0, output
    statuses = [json.loads((job / "job.json").read_text())["status"]
                for job in folder.glob("*_testing")]
    assert statuses == ["interrupted", "interrupted"], output
    assert "cancelling 2 job(s)" in output


def test_ray_address_submits_the_jobs_to_an_existing_cluster(tmp_path, monkeypatch):
    """A real head node started with `ray start --head`, as on a cluster's head machine; Ray
    2.60 enables token authentication there, so the launch sets RAY_AUTH_MODE=token (the
    token is the one `ray start` wrote to ~/.ray/auth_token)."""
    esc10_or_skip()
    ray_cli = Path(sys.executable).with_name("ray")
    started = subprocess.run([str(ray_cli), "start", "--head", "--port", "0",
                              "--num-cpus", "2", "--disable-usage-stats",
                              "--include-dashboard", "false"],
                             capture_output=True, text=True, timeout=120)
    try:
        assert started.returncode == 0, started.stderr
        address = re.search(r"--address='([^']+)'", started.stdout + started.stderr).group(1)
        trainer = tmp_path / "train_one.py"
        trainer.write_text(HEAD + "\ncommon(2)\n"
                           "launch_job({'Esc10': 1}, small_cnn, [], [], spec_parser)\n")
        monkeypatch.setenv("RAY_AUTH_MODE", "token")
        monkeypatch.setenv("SPECTRAIN_LOG_DIR", str(tmp_path / "logs"))
        assert main(["train", str(trainer), "--testing", "--ray-address", address,
                     "--cache-root", str(tmp_path / "cache")]) == 0
    finally:
        subprocess.run([str(ray_cli), "stop", "--force"], capture_output=True, timeout=120)
    [job] = (tmp_path / "cache" / "esc10" / "train_one").glob("*_testing")
    info = json.loads((job / "job.json").read_text())
    assert info["status"] == "finished" and info["pid"] != os.getpid()
