"""MLflow tracking: one run per job, with parameters, per-epoch metrics, report, plots and model.

The default store is a sqlite file under the cache root (no server to run). Tracking is a
convenience, never a reason to lose a job: if the store cannot be reached, or a call fails mid-job,
the tracker warns once and the job goes on (everything is in the job folder anyway).
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import keras



def _quiet_mlflow() -> None:
    # MLflow and its migration tool log every schema step at INFO on first use of a store;
    # mlflow sets up its loggers when imported, so this runs after that import.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def local_tracking_uri(cache_root: Path | str) -> str:
    return f"sqlite:///{Path(cache_root).resolve() / 'mlflow.db'}"


def server_reachable(uri: str, timeout: float = 3.0) -> bool:
    """True when an http(s) tracking server answers its health endpoint."""
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


class Tracker:
    """A thin, failure-tolerant wrapper over ``MlflowClient`` for one job's run."""

    def __init__(self, tracking_uri: str | None, cache_root: Path | str, experiment: str,
                 run_name: str, tags: dict | None = None, resume: str | None = None) -> None:
        """``resume``: the id of an earlier run of this store to go on with (marked running
        again) instead of a new run; a new run when it is not found."""
        self.active = False
        self.run_id: str | None = None
        self._warned = False
        local = local_tracking_uri(cache_root)
        uri = tracking_uri or local
        if uri.startswith(("http://", "https://")) and not server_reachable(uri):
            self._warn(f"MLflow server {uri} cannot be reached; logging to the local store {local}")
            uri = local
        self.uri = uri
        try:
            from mlflow.tracking import MlflowClient

            _quiet_mlflow()
            self.client = MlflowClient(tracking_uri=uri)
            found = self.client.get_experiment_by_name(experiment)
            if found is None:
                # Artifacts beside the sqlite file, not in ./mlruns of whatever folder we ran from.
                location = None
                if uri.startswith("sqlite:"):
                    location = (Path(cache_root).resolve() / "mlartifacts").as_uri()
                experiment_id = self.client.create_experiment(experiment, artifact_location=location)
            else:
                experiment_id = found.experiment_id
            self.run_id = self._resumed(resume)
            if self.run_id is None:
                run = self.client.create_run(experiment_id, run_name=run_name, tags=tags or {})
                self.run_id = run.info.run_id
            self.active = True
        except Exception as error:  # noqa: BLE001 - any store failure must not stop the job
            self._warn(f"MLflow tracking is off for this job: {type(error).__name__}: {error}")

    def _resumed(self, run_id: str | None) -> str | None:
        if not run_id:
            return None
        try:
            self.client.update_run(run_id, status="RUNNING")
        except Exception:  # noqa: BLE001 - another store, or a deleted run: start a new one
            return None
        return run_id

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(message, RuntimeWarning, stacklevel=3)
            print(f"warning: {message}")

    def _call(self, method: str, *args, **kwargs) -> None:
        if not self.active:
            return
        try:
            getattr(self.client, method)(self.run_id, *args, **kwargs)
        except Exception as error:  # noqa: BLE001
            self.active = False
            self._warn(f"MLflow {method} failed ({type(error).__name__}: {error}); "
                       "tracking is off for the rest of this job")

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        # MLflow caps a parameter value at 6000 characters.
        items = [Param(str(k), str(v)[:6000]) for k, v in sorted(params.items())]
        for start in range(0, len(items), 100):  # log_batch takes at most 100 params a call
            self._call("log_batch", params=items[start:start + 100])

    def log_metrics(self, metrics: dict, step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(str(k), float(v), now, step) for k, v in metrics.items()
                 if isinstance(v, (int, float))]
        if items:
            self._call("log_batch", metrics=items)

    def set_tags(self, tags: dict) -> None:
        for key, value in tags.items():
            self._call("set_tag", str(key), str(value))

    def log_artifact(self, path: Path | str, artifact_path: str | None = None) -> None:
        if Path(path).exists():
            self._call("log_artifact", str(path), artifact_path)

    def log_artifacts(self, folder: Path | str, artifact_path: str | None = None) -> None:
        if Path(folder).is_dir():
            self._call("log_artifacts", str(folder), artifact_path)

    def end(self, status: str = "FINISHED") -> None:
        self._call("set_terminated", status)
        self.active = False


class TrackerCallback(keras.callbacks.Callback):
    """Logs every epoch's metrics (and learning rate) to the tracker."""

    def __init__(self, tracker: Tracker) -> None:
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch, logs=None):
        metrics = dict(logs or {})
        self.tracker.log_metrics(metrics, step=epoch)
