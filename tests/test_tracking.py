import warnings

from mlflow.tracking import MlflowClient

from modules.tracking import Tracker, local_tracking_uri


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
