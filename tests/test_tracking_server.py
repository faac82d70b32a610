"""One real ``mlflow server`` for many jobs: two processes log to it at once; a server killed
mid-job sends the rest of the job to the local store (recorded in ``tracking.json``), and
``spectrain sync-tracking`` puts every point on the restarted server exactly once.

The server is started once for the module (a start takes 5-15 s on 2 cores) and killed and
started again on the same store and port by the tests that need it down."""

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import traceback
import warnings
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from modules import PROJECT_ROOT
from modules.cli import main
from modules.tracking import Tracker, local_tracking_uri, server_reachable

MLFLOW = Path(sys.executable).parent / "mlflow"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """An ``mlflow server`` on a sqlite store in ``folder``; killed and started again on the
    same store and port."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self, deadline: float = 120) -> None:
        # One worker and no job runner (its task consumers are 7 more processes): light.
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with open(self.folder / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [str(MLFLOW), "server", "--backend-store-uri",
                 f"sqlite:///{self.folder / 'mlflow.db'}",
                 "--artifacts-destination", str(self.folder / "artifacts"),
                 "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
                cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)  # its own process group: the kill reaches uvicorn too
        end = time.monotonic() + deadline
        while not server_reachable(self.uri, timeout=1):
            if self.process.poll() is not None or time.monotonic() > end:
                self.kill()
                tail = (self.folder / "server.log").read_text()[-2000:]
                pytest.fail(f"mlflow server did not come up at {self.uri}:\n{tail}")
            time.sleep(0.3)

    def ensure_up(self) -> None:
        if not server_reachable(self.uri, timeout=1):
            self.start()

    def kill(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self.process = None
        end = time.monotonic() + 30
        while server_reachable(self.uri, timeout=1) and time.monotonic() < end:
            time.sleep(0.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("mlflow_server"))
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _log_to_server(uri, cache_root, index, together, results):
    """One machine's job of the shared-server test, in its own process."""
    try:
        results.put(_one_machine(uri, cache_root, index, together))
    except BaseException:  # noqa: BLE001 - to the test, which would otherwise wait for it
        results.put((index, traceback.format_exc(), None, False, []))


def _one_machine(uri, cache_root, index, together):
    Path(cache_root).mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        together.wait(timeout=120)  # both create the experiment on the fresh server at once
        tracker = Tracker(uri, cache_root, experiment="shared", run_name=f"machine{index}")
        tracker.log_params({"machine": index})
        for step in range(30):
            tracker.log_metrics({"loss": index + step / 100}, step=step)
        artifact = Path(cache_root) / "report.txt"
        artifact.write_text(f"machine {index}\n")
        tracker.log_artifact(artifact)
        used, active = tracker.uri, tracker.active
        tracker.end("FINISHED")
    mine = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    return index, tracker.run_id, used, active, mine


def test_two_jobs_log_to_one_server_at_once(server, tmp_path):
    server.ensure_up()
    context = multiprocessing.get_context("fork")  # no second TensorFlow import in children
    together, results = context.Barrier(2), context.Queue()
    processes = [context.Process(target=_log_to_server, args=(
        server.uri, tmp_path / f"machine{i}", i, together, results)) for i in range(2)]
    for process in processes:
        process.start()
    reports = sorted(results.get(timeout=180) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0, 0]
    for index, run_id, used, active, caught in reports:
        assert used == server.uri and active and not caught, (index, used, caught)
        assert not (tmp_path / f"machine{index}" / "mlflow.db").exists()  # nothing went local

    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("shared")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == ["machine0", "machine1"]
    for index, run_id, *_ in reports:
        run = runs[f"machine{index}"]
        assert run.info.run_id == run_id and run.info.status == "FINISHED"
        assert run.data.params == {"machine": str(index)}
        loss = client.get_metric_history(run_id, "loss")
        assert sorted((m.step, m.value) for m in loss) == [(s, index + s / 100) for s in range(30)]
        assert [a.path for a in client.list_artifacts(run_id)] == ["report.txt"]
        assert client.download_artifacts(run_id, "report.txt", str(tmp_path / f"d{index}"))


def server_state(client, run_id):
    run = client.get_run(run_id)
    history = {key: sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
               for key in ("loss", "accuracy")}
    artifacts = sorted(a.path for a in client.list_artifacts(run_id))
    return run.info.status, run.data.params, history, artifacts


def test_a_server_killed_mid_job_loses_nothing_after_a_sync(server, tmp_path, capsys):
    server.ensure_up()
    job = tmp_path / "job"
    job.mkdir()
    (job / "report.txt").write_text("accuracy 0.9\n")
    tracker = Tracker(server.uri, tmp_path / "cache", experiment="failover", run_name="t/1",
                      tags={"trainer": "t"}, job_dir=job)
    server_run = tracker.run_id
    tracker.log_params({"lr": 0.001, "n_mels": 64})
    for epoch in range(3):
        tracker.log_metrics({"loss": 1 / (epoch + 1), "accuracy": epoch / 10}, step=epoch)

    server.kill()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.monotonic()
        tracker.log_metrics({"loss": 1 / 4, "accuracy": 0.3}, step=3)
        first = time.monotonic() - start
        for epoch in range(4, 6):
            tracker.log_metrics({"loss": 1 / (epoch + 1), "accuracy": epoch / 10}, step=epoch)
        tracker.log_artifact(job / "report.txt")
        tracker.end("FINISHED")
    with capsys.disabled():
        print(f"\nfirst call to the dead server (switch included): {first:.1f} s; the rest of "
              f"the job: {time.monotonic() - start - first:.1f} s")
    assert first < 60  # a sanity bound: MLflow's own settings took about 4 minutes
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "went away at step 3" in messages[0], messages
    assert f"spectrain sync-tracking {job}" in messages[0]
    record = json.loads((job / "tracking.json").read_text())
    assert record["server_uri"] == server.uri and record["server_run_id"] == server_run
    assert record["local_uri"] == local_tracking_uri(tmp_path / "cache") == tracker.uri
    assert record["local_run_id"] == tracker.run_id != server_run and record["step"] == 3
    local = MlflowClient(record["local_uri"])
    local_run = local.get_run(tracker.run_id)
    assert local_run.data.tags["server_run_id"] == server_run and local_run.info.run_name == "t/1"
    assert local_run.data.params == {"lr": "0.001", "n_mels": "64"}
    # The whole run is local, earlier epochs too: the sync has all it needs even if the
    # server's copy is gone.
    assert [m.step for m in local.get_metric_history(tracker.run_id, "loss")] == list(range(6))

    with pytest.raises(SystemExit, match="spectrain sync-tracking: MLflow server .* cannot"):
        main(["sync-tracking", str(job)])
    server.start()
    remote = MlflowClient(server.uri)
    assert [m.step for m in remote.get_metric_history(server_run, "loss")] == [0, 1, 2]
    assert main(["sync-tracking", str(job)]) == 0
    assert "got 6 metric points, 0 params" in capsys.readouterr().out  # steps 3-5, 2 metrics
    synced = server_state(remote, server_run)
    status, params, history, artifacts = synced
    assert status == "FINISHED" and params == {"lr": "0.001", "n_mels": "64"}
    assert history["loss"] == [(e, 1 / (e + 1)) for e in range(6)]  # each epoch exactly once
    assert history["accuracy"] == [(e, e / 10) for e in range(6)]
    assert artifacts == ["report.txt"]
    assert "server_run_id" not in remote.get_run(server_run).data.tags  # the link stays local

    assert main(["sync-tracking", str(job)]) == 0  # again: nothing doubled
    assert "got 0 metric points, 0 params, 0 tags and 0 artifacts" in capsys.readouterr().out
    assert server_state(remote, server_run) == synced

    remote.delete_run(server_run)  # the recorded run gone: a new one with the whole job
    assert main(["sync-tracking", str(job)]) == 0
    record = json.loads((job / "tracking.json").read_text())
    assert record["server_run_id"] != server_run and record["synced"]["new_server_run"]
    assert server_state(remote, record["server_run_id"]) == synced
    assert remote.get_run(record["server_run_id"]).info.run_name == "t/1"


TRAINER = """
import functools
from modules.models import baseline_cnn
from modules.parameters import parameters
from modules.parsers import spec_parser
from modules.training import launch_job

parameters.mode = "tracking"
parameters.tracking_uri = {uri!r}
parameters.testing_epochs = 4
parameters.es_patience = 10
parameters.split = "fold"
parameters.validation_fold = 1
parameters.sr = 8000
parameters.audio_length = 2.5
parameters.step_size = 2.5
parameters.n_fft = 256
parameters.hop_length = 256
parameters.n_mels = 16
parameters.n_example_plots = 0
parameters.n_gradcam = 0
launch_job({{"Esc10": 1}}, functools.partial(baseline_cnn, filters=(4, 8)), [], [], spec_parser)
"""


def wait_for_first_epoch(cache: Path, job: subprocess.Popen, deadline: float = 600) -> Path:
    """The job folder, once its history.csv has an epoch's row."""
    end = time.monotonic() + deadline
    while time.monotonic() < end and job.poll() is None:
        for history in cache.glob("*/*/*/history.csv"):
            if len(history.read_text().splitlines()) >= 2:
                return history.parent
        time.sleep(0.05)
    pytest.fail(f"no epoch in {cache} (job exit code {job.poll()})")


@pytest.mark.slow
def test_a_training_job_whose_server_dies_finishes_and_syncs(server, tmp_path, esc10):
    server.ensure_up()
    trainer = tmp_path / "trainers" / "tracking" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent(TRAINER.format(uri=server.uri)))
    cache = tmp_path / "cache"
    code = ("from pathlib import Path; from modules.cli import run_trainer; "
            f"run_trainer(Path({str(trainer)!r}), testing=True, cache_root={str(cache)!r}, "
            "progress=False)")
    start = time.monotonic()
    with open(tmp_path / "job.log", "wb") as log:
        job = subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        job_dir = wait_for_first_epoch(cache, job)
        job.send_signal(signal.SIGSTOP)  # the job holds still between epochs while...
        server.kill()  # ...its server dies, then goes on
        job.send_signal(signal.SIGCONT)
        assert job.wait(timeout=600) == 0, (tmp_path / "job.log").read_text()[-3000:]
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    print(f"job wall time with the server killed after epoch 1: {time.monotonic() - start:.0f} s")
    output = (tmp_path / "job.log").read_text()
    assert json.loads((job_dir / "job.json").read_text())["status"] == "finished"
    record = json.loads((job_dir / "tracking.json").read_text())
    print(f"switched to the local store at step {record['step']} ({record['reason'][:40]}...)")
    assert record["server_uri"] == server.uri and record["server_run_id"]
    assert f"MLflow server {server.uri} went away" in output
    assert f"spectrain sync-tracking {job_dir}" in output

    server.start()
    assert main(["sync-tracking", str(job_dir)]) == 0
    remote = MlflowClient(server.uri)
    run = remote.get_run(record["server_run_id"])
    loss = remote.get_metric_history(run.info.run_id, "loss")
    assert sorted(m.step for m in loss) == [1, 2, 3, 4]  # epochs, counted from 1
    history = (job_dir / "history.csv").read_text().splitlines()
    column = history[0].split(",").index("loss")
    assert [m.value for m in sorted(loss, key=lambda m: m.step)] == pytest.approx(
        [float(row.split(",")[column]) for row in history[1:]], rel=1e-5)
    assert run.info.status == "FINISHED" and run.data.params["testing"] == "True"
    assert {"report.txt", "history.csv", "job.json", "model"} <= {
        a.path for a in remote.list_artifacts(run.info.run_id)}
