import json
import multiprocessing
import traceback
import warnings
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from modules.cli import main
from modules.tracking import HTTP_SETTINGS, Tracker, local_tracking_uri


def test_run_with_params_metrics_and_artifacts_in_local_sqlite_store(tmp_path):
    report = tmp_path / "report.txt"
    report.write_text("accuracy 0.5\n")
    tracker = Tracker(None, tmp_path, experiment="esc10", run_name="train1/1", tags={"k": "v"})
    assert tracker.active and tracker.uri.startswith("sqlite:")
    tracker.log_params({"sr": 22050, "n_mels": 64})
    for epoch in range(3):
        tracker.log_metrics({"loss": 1.0 / (epoch + 1), "note": "not a number"}, step=epoch)
    tracker.log_artifact(report)
    tracker.end("FINISHED")

    client = MlflowClient(local_tracking_uri(tmp_path))
    run = client.get_run(tracker.run_id)
    assert run.data.params == {"sr": "22050", "n_mels": "64"}
    assert [m.value for m in client.get_metric_history(tracker.run_id, "loss")] == [1.0, 0.5, 1 / 3]
    assert run.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(tracker.run_id)] == ["report.txt"]
    # Artifacts live beside the store, not in the current folder's ./mlruns.
    assert (tmp_path / "mlartifacts").is_dir()


def test_unreachable_server_warns_once_and_falls_back_to_local(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracker = Tracker("http://127.0.0.1:9", tmp_path, experiment="e", run_name="r")
    assert tracker.active and tracker.uri == local_tracking_uri(tmp_path)
    assert sum("cannot be reached" in str(w.message) for w in caught) == 1


def test_failure_mid_job_disables_tracking_without_raising(tmp_path):
    tracker = Tracker(None, tmp_path, experiment="e", run_name="r")
    tracker.run_id = "no-such-run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracker.log_metrics({"loss": 1.0})
        tracker.log_metrics({"loss": 2.0})
    assert not tracker.active
    assert len(caught) == 1


def test_short_http_settings_unless_the_user_set_them(tmp_path, monkeypatch):
    for name in HTTP_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    Tracker(None, tmp_path, experiment="e", run_name="r")
    from mlflow.environment_variables import (MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
                                              MLFLOW_HTTP_REQUEST_MAX_RETRIES,
                                              MLFLOW_HTTP_REQUEST_TIMEOUT)

    # As MLflow reads them at each request: its defaults are 7 retries, backoff 2, 120 s.
    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 2
    assert MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get() == 1
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 60


def test_unreachable_server_at_the_start_is_recorded_for_a_later_sync(tmp_path, capsys):
    job = tmp_path / "job"
    job.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracker = Tracker("http://127.0.0.1:9", tmp_path, experiment="e", run_name="r",
                          job_dir=job)
    record = json.loads((job / "tracking.json").read_text())
    assert record["server_uri"] == "http://127.0.0.1:9" and record["server_run_id"] is None
    assert (record["local_uri"], record["local_run_id"]) == (tracker.uri, tracker.run_id)
    run = MlflowClient(tracker.uri).get_run(tracker.run_id)
    assert run.data.tags["server_uri"] == "http://127.0.0.1:9"
    assert f"spectrain sync-tracking {job}" in capsys.readouterr().out

    # The server is still away: one line, a non-zero exit, the record unchanged.
    with pytest.raises(SystemExit) as exit_info:
        main(["sync-tracking", str(job)])
    message = str(exit_info.value.code)
    assert message.startswith("spectrain sync-tracking: MLflow server http://127.0.0.1:9 cannot")
    assert "\n" not in message
    assert json.loads((job / "tracking.json").read_text()) == record


def test_sync_of_a_job_that_never_switched_is_a_one_line_error(tmp_path):
    with pytest.raises(SystemExit, match="tracking.json not found"):
        main(["sync-tracking", str(tmp_path)])


def _log_a_job(cache_root, index, created, logging_done, results):
    """One job of the concurrency test, in its own process."""
    try:
        results.put(_one_job(cache_root, index, created, logging_done))
    except BaseException:  # noqa: BLE001 - to the test, which would otherwise wait for it
        results.put((index, traceback.format_exc(), False, []))


def _one_job(cache_root, index, created, logging_done):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        created.wait(timeout=120)  # every process opens the new store at the same moment
        tracker = Tracker(None, cache_root, experiment="concurrent", run_name=f"job{index}")
        logging_done.wait(timeout=120)  # and logs at the same time as the others
        tracker.log_params({"index": index, "lr": 0.001})
        for step in range(50):
            tracker.log_metrics({"loss": index + step / 100, "accuracy": step / 50}, step=step)
        artifact = Path(cache_root) / f"report{index}.txt"
        artifact.write_text(f"job {index}\n")
        tracker.log_artifact(artifact)
        active = tracker.active
        tracker.end("FINISHED")
    # The tracker's own warnings (library deprecation warnings are not its business).
    mine = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    return index, tracker.run_id, active, mine


def test_concurrent_jobs_share_a_new_sqlite_store_without_losing_anything(tmp_path):
    # fork: the children need not import TensorFlow again (spawn costs ~10 s more on 2 cores).
    context = multiprocessing.get_context("fork")
    created, logging_done = context.Barrier(4), context.Barrier(4)
    results = context.Queue()
    processes = [context.Process(target=_log_a_job,
                                 args=(tmp_path, i, created, logging_done, results))
                 for i in range(4)]
    for process in processes:
        process.start()
    reports = sorted(results.get(timeout=300) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0] * 4
    for index, run_id, active, caught in reports:
        assert active and run_id and not caught, (index, caught)

    client = MlflowClient(local_tracking_uri(tmp_path))
    experiment = client.get_experiment_by_name("concurrent")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == [f"job{i}" for i in range(4)]
    for index in range(4):
        run = runs[f"job{index}"]
        assert run.info.run_id == reports[index][1] and run.info.status == "FINISHED"
        assert run.data.params == {"index": str(index), "lr": "0.001"}
        loss = client.get_metric_history(run.info.run_id, "loss")
        assert sorted(m.step for m in loss) == list(range(50))
        assert sorted(m.value for m in loss) == [index + step / 100 for step in range(50)]
        assert len(client.get_metric_history(run.info.run_id, "accuracy")) == 50
        assert [a.path for a in client.list_artifacts(run.info.run_id)] == [f"report{index}.txt"]


def test_sync_of_a_damaged_record_is_a_one_line_error(tmp_path):
    (tmp_path / "tracking.json").write_text('{"server_uri": "http://127.0.0.1:9"}\n')
    with pytest.raises(SystemExit, match="is not a tracking record .no local_run_id, local_uri"):
        main(["sync-tracking", str(tmp_path)])
