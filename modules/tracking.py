"""MLflow tracking: one run per job, with parameters, per-epoch metrics, report, plots and model.

The default store is a sqlite file under the cache root (no server to run); several jobs may
write it at once. Tracking is a convenience, never a reason to lose a job or a number:

* a tracking server that cannot be reached at the start: the job logs to the local store;
* a server that fails mid-job: the tracker goes on in a new run of the local store (same
  experiment and run name, tagged with the server run), logs everything of the job's run so far
  there again, records the switch in the job folder's ``tracking.json`` and warns once;
  ``spectrain sync-tracking JOB_DIR`` (:func:`sync_job_tracking`) copies that run to the server;
* only a failure of the local store itself turns tracking off for the rest of the job
  (everything is in the job folder anyway).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import keras

from modules.errors import UserError
from modules.jobs import atomic_write_text

RECORD = "tracking.json"  # in the job folder: the switch to the local store, and its syncs
LINK_TAGS = ("server_uri", "server_run_id")  # tags of a local run that stands in for a server's

# MLflow's client retries a failed request 7 times with exponential backoff and waits up to
# 120 s for each answer: made for rate-limited cloud backends, it makes one call to a dead
# server take about 4 minutes. A job has the local store to go on with, so a dead server should
# cost seconds: 2 retries (the last 2-3 s after the first), 10 s for a server that hangs. MLflow
# reads these from the environment at every request (BACKOFF_FACTOR must be an integer); a
# value the user set wins.
HTTP_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def short_http_timeouts() -> None:
    """:data:`HTTP_SETTINGS` for every MLflow client of this process, unless already set."""
    for name, value in HTTP_SETTINGS.items():
        os.environ.setdefault(name, value)


def _quiet_mlflow() -> None:
    # MLflow and its migration tool log every schema step at INFO on first use of a store;
    # mlflow sets up its loggers when imported, so this runs after that import.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def local_tracking_uri(cache_root: Path | str) -> str:
    return f"sqlite:///{Path(cache_root).resolve() / 'mlflow.db'}"


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def server_reachable(uri: str, timeout: float = 3.0) -> bool:
    """True when an http(s) tracking server answers its health endpoint."""
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def describe(error: BaseException, limit: int = 200) -> str:
    """An exception on one short line (MLflow's messages run over several long ones)."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:limit]}{'...' if len(text) > limit else ''}"


def why_unreachable(error: BaseException) -> str:
    """The network reason in a failed MLflow request ("[Errno 111] Connection refused"), or the
    start of its message."""
    found = re.search(r"\[Errno -?\d+\][^'\")]*|Read timed out", str(error))
    return found.group(0).strip() if found else describe(error, 80)


@contextlib.contextmanager
def _store_lock(uri: str):
    # Jobs that open a new sqlite store at the same moment would all run MLflow's schema
    # migrations on it ("table _alembic_tmp_... already exists") and race to create the
    # experiment: one at a time here, with a lock file beside the database. Logging needs no
    # lock (MLflow gives sqlite a 20 s busy timeout).
    if not uri.startswith("sqlite:///"):
        yield
        return
    database = Path(uri[len("sqlite:///"):])
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def experiment_id(client, name: str, location: str | None = None) -> str:
    """The id of experiment ``name``, created when missing."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # noqa: BLE001 - another job's tracker created it between the two calls
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def open_store(uri: str, cache_root: Path | str, experiment: str):
    """``(MlflowClient, experiment id)`` of ``uri``; a sqlite store is opened under a lock."""
    from mlflow.tracking import MlflowClient

    short_http_timeouts()
    with _store_lock(uri):
        client = MlflowClient(tracking_uri=uri)
        _quiet_mlflow()
        location = None
        if uri.startswith("sqlite:"):
            # Artifacts beside the sqlite file, not in ./mlruns of whatever folder we ran from.
            location = (Path(cache_root).resolve() / "mlartifacts").as_uri()
        return client, experiment_id(client, experiment, location)


class Tracker:
    """A failure-tolerant wrapper over ``MlflowClient`` for one job's run (see the module)."""

    def __init__(self, tracking_uri: str | None, cache_root: Path | str, experiment: str,
                 run_name: str, tags: dict | None = None, resume: str | None = None,
                 job_dir: Path | str | None = None) -> None:
        """``resume``: the id of an earlier run of this store to go on with (marked running
        again) instead of a new run; a new run when it is not found. ``job_dir``: where
        ``tracking.json`` records a switch to the local store (none recorded without it)."""
        self.active = False
        self.run_id: str | None = None
        self.cache_root, self.experiment, self.run_name = Path(cache_root), experiment, run_name
        self.job_dir = Path(job_dir) if job_dir else None
        # What the run holds so far: a switch to the local store logs it there again.
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.params: dict = {}
        self.metrics: list = []
        self.artifacts: list[tuple[str, str, str | None]] = []
        self.step: int | None = None
        local = local_tracking_uri(cache_root)
        uri = tracking_uri or local
        if is_server(uri) and not server_reachable(uri):
            self._warn(f"MLflow server {uri} cannot be reached; logging to the local store "
                       f"{local}{self._sync_hint()}")
            self._start_local(uri, None, "unreachable at the start")
            return
        try:
            self._start(uri, resume)
        except Exception as error:  # noqa: BLE001 - any store failure must not stop the job
            if not is_server(uri):
                self._warn(f"MLflow tracking is off for this job: {describe(error)}")
                return
            self._warn(f"MLflow server {uri} failed ({describe(error)}); logging to the "
                       f"local store {local}{self._sync_hint()}")
            self._start_local(uri, None, "failed at the start")

    def _start(self, uri: str, resume: str | None = None, link: dict | None = None) -> None:
        client, experiment = open_store(uri, self.cache_root, self.experiment)
        run_id = self._resumed(client, resume)
        if run_id is None:
            run = client.create_run(experiment, run_name=self.run_name,
                                    tags={**self.tags, **(link or {})})
            run_id = run.info.run_id
        self.client, self.uri, self.run_id, self.active = client, uri, run_id, True

    @staticmethod
    def _resumed(client, run_id: str | None) -> str | None:
        if not run_id:
            return None
        try:
            client.update_run(run_id, status="RUNNING")
        except Exception:  # noqa: BLE001 - another store, or a deleted run: start a new one
            return None
        return run_id

    def _start_local(self, server_uri: str, server_run_id: str | None, reason: str) -> bool:
        """Go on in a new run of the local store, linked to the server's; False (tracking
        off) when the local store fails too."""
        self.active = False
        link = {"server_uri": server_uri, **({"server_run_id": server_run_id}
                                              if server_run_id else {})}
        try:
            self._start(local_tracking_uri(self.cache_root), link=link)
            self._log_again()
        except Exception as error:  # noqa: BLE001
            self.active = False
            self._warn(f"MLflow tracking is off for the rest of this job: the local store "
                       f"failed too ({describe(error)})")
            return False
        self._record({"server_uri": server_uri, "server_run_id": server_run_id,
                      "local_uri": self.uri, "local_run_id": self.run_id, "step": self.step,
                      "reason": reason, "switched": dt.datetime.now().isoformat(" ", "seconds")})
        return True

    def _log_again(self) -> None:
        """Everything the run got so far, into the new run: it holds the whole job."""
        from mlflow.entities import Param

        params = [Param(k, v) for k, v in sorted(self.params.items())]
        for start in range(0, len(params), 100):  # log_batch takes at most 100 params a call
            self.client.log_batch(self.run_id, params=params[start:start + 100])
        for start in range(0, len(self.metrics), 1000):  # and at most 1000 metrics
            self.client.log_batch(self.run_id, metrics=self.metrics[start:start + 1000])
        for method, path, artifact_path in self.artifacts:
            getattr(self.client, method)(self.run_id, path, artifact_path)

    def _record(self, record: dict) -> None:
        if self.job_dir is not None and self.job_dir.is_dir():
            atomic_write_text(self.job_dir / RECORD, json.dumps(record, indent=2) + "\n")

    def _sync_hint(self) -> str:
        if self.job_dir is None:
            return ""
        return f"; once it is back: spectrain sync-tracking {self.job_dir}"

    def _warn(self, message: str) -> None:
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        print(f"warning: {message}")

    def _call(self, method: str, *args, **kwargs) -> None:
        if not self.active:
            return
        try:
            getattr(self.client, method)(self.run_id, *args, **kwargs)
            return
        except Exception as error:  # noqa: BLE001
            failed = error
        if is_server(self.uri):
            server, server_run = self.uri, self.run_id
            if not self._start_local(server, server_run, f"{method} failed: {describe(failed)}"):
                return
            where = "" if self.step is None else f" at step {self.step}"
            self._warn(f"MLflow server {server} went away{where} ({why_unreachable(failed)}); "
                       f"the rest of this job logs to run {self.run_id} in the local store "
                       f"{self.uri}{self._sync_hint()}")
            try:  # the failed call again, in the local store: nothing is lost
                getattr(self.client, method)(self.run_id, *args, **kwargs)
                return
            except Exception as error:  # noqa: BLE001
                failed = error
        self.active = False
        self._warn(f"MLflow {method} failed ({describe(failed)}); "
                   "tracking is off for the rest of this job")

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        # MLflow caps a parameter value at 6000 characters.
        items = [Param(str(k), str(v)[:6000]) for k, v in sorted(params.items())]
        for start in range(0, len(items), 100):  # log_batch takes at most 100 params a call
            chunk = items[start:start + 100]
            self._call("log_batch", params=chunk)
            # Remembered after the call: a switch during the call logs it there itself.
            self.params.update((item.key, item.value) for item in chunk)

    def log_metrics(self, metrics: dict, step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(str(k), float(v), now, step) for k, v in metrics.items()
                 if isinstance(v, (int, float))]
        if items:
            self.step = step
            self._call("log_batch", metrics=items)
            self.metrics += items

    def set_tags(self, tags: dict) -> None:
        for key, value in tags.items():
            self._call("set_tag", str(key), str(value))
            self.tags[str(key)] = str(value)

    def log_artifact(self, path: Path | str, artifact_path: str | None = None) -> None:
        if Path(path).exists():
            self._call("log_artifact", str(path), artifact_path)
            self.artifacts.append(("log_artifact", str(path), artifact_path))

    def log_artifacts(self, folder: Path | str, artifact_path: str | None = None) -> None:
        if Path(folder).is_dir():
            self._call("log_artifacts", str(folder), artifact_path)
            self.artifacts.append(("log_artifacts", str(folder), artifact_path))

    def end(self, status: str = "FINISHED") -> None:
        self._call("set_terminated", status)
        self.active = False


class SyncError(UserError):
    """A job's local run could not be copied to its server (the message is one line)."""


def sync_job_tracking(job_dir: Path | str) -> dict:
    """Copy the local run a job switched to (its ``tracking.json``) into its server run: the
    metric points (value, step, timestamp) the server lacks, params, tags, artifacts and the
    final status; a new server run when the recorded one is gone. Running it again copies
    nothing twice. Returns how much of each kind was copied, and the server run id."""
    from mlflow.exceptions import MlflowException

    path = Path(job_dir) / RECORD
    if not path.is_file():
        raise SyncError(f"{path} not found: this job's tracking never left its server")
    try:
        record = json.loads(path.read_text())
    except ValueError as error:
        raise SyncError(f"{path} is not a tracking record ({describe(error)})") from None
    missing = {"server_uri", "local_uri", "local_run_id"} - set(record)
    if missing:
        raise SyncError(f"{path} is not a tracking record (no {', '.join(sorted(missing))})")
    server = record["server_uri"]
    short_http_timeouts()
    # MLflow draws a progress bar for every artifact it reads from the local store.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not server_reachable(server):
        raise SyncError(f"MLflow server {server} cannot be reached; nothing was synced "
                        "(run it again once the server is up)")
    try:
        copied = _copy_run(record)
    except (MlflowException, OSError) as error:
        raise SyncError(f"syncing to {server} failed: {describe(error)}") from None
    record["server_run_id"] = copied["server_run_id"]
    record["synced"] = {"time": dt.datetime.now().isoformat(" ", "seconds"), **copied}
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return copied


def _copy_run(record: dict) -> dict:
    from mlflow.tracking import MlflowClient

    local = MlflowClient(tracking_uri=record["local_uri"])
    _quiet_mlflow()
    run = local.get_run(record["local_run_id"])
    remote = MlflowClient(tracking_uri=record["server_uri"])
    experiment = local.get_experiment(run.info.experiment_id).name
    server_run_id, created = _server_run(remote, run, experiment, record.get("server_run_id"))
    there = remote.get_run(server_run_id)
    copied = {"server_run_id": server_run_id, "new_server_run": created,
              "params": _copy_params(remote, server_run_id, run, there),
              "tags": _copy_tags(remote, server_run_id, run, there),
              "metrics": _copy_metrics(local, remote, run, server_run_id),
              "artifacts": _copy_artifacts(local, remote, run.info.run_id, server_run_id),
              "status": run.info.status}
    if run.info.status in ("FINISHED", "FAILED", "KILLED"):
        remote.set_terminated(server_run_id, run.info.status, end_time=run.info.end_time)
    return copied


def _server_run(remote, run, experiment: str, run_id: str | None) -> tuple[str, bool]:
    """``(id, created)``: the recorded server run, or a new one when it is gone."""
    from mlflow.exceptions import MlflowException

    if run_id:
        try:
            if remote.get_run(run_id).info.lifecycle_stage == "active":
                return run_id, False
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
    tags = {k: v for k, v in run.data.tags.items() if k not in LINK_TAGS}
    created = remote.create_run(experiment_id(remote, experiment), start_time=run.info.start_time,
                                tags=tags, run_name=run.info.run_name)
    return created.info.run_id, True


def _copy_params(remote, run_id: str, run, there) -> int:
    from mlflow.entities import Param

    # A param once logged cannot change: only the ones the server run lacks.
    missing = [Param(k, v) for k, v in sorted(run.data.params.items())
               if k not in there.data.params]
    for start in range(0, len(missing), 100):
        remote.log_batch(run_id, params=missing[start:start + 100])
    return len(missing)


def _copy_tags(remote, run_id: str, run, there) -> int:
    from mlflow.entities import RunTag

    changed = [RunTag(k, v) for k, v in sorted(run.data.tags.items())
               if k not in LINK_TAGS and there.data.tags.get(k) != v]
    for start in range(0, len(changed), 100):
        remote.log_batch(run_id, tags=changed[start:start + 100])
    return len(changed)


def _copy_metrics(local, remote, run, run_id: str) -> int:
    """The local points the server run lacks; a point is its (step, timestamp): one
    ``log_metrics`` call stamps all its metrics with one millisecond, so no two differ only in
    value, and the comparison does not hang on how a float travels through JSON."""
    new = []
    for key in sorted(run.data.metrics):
        seen = {(m.step, m.timestamp) for m in remote.get_metric_history(run_id, key)}
        new += [m for m in local.get_metric_history(run.info.run_id, key)
                if (m.step, m.timestamp) not in seen]
    for start in range(0, len(new), 1000):  # log_batch takes at most 1000 metrics a call
        remote.log_batch(run_id, metrics=new[start:start + 1000])
    return len(new)


def _artifact_sizes(client, run_id: str, path: str | None = None) -> dict[str, int]:
    sizes = {}
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            sizes.update(_artifact_sizes(client, run_id, info.path))
        else:
            sizes[info.path] = info.file_size
    return sizes


def _copy_artifacts(local, remote, local_run_id: str, run_id: str) -> int:
    """The local artifacts the server run lacks (or holds with another size)."""
    there = _artifact_sizes(remote, run_id)
    missing = [path for path, size in _artifact_sizes(local, local_run_id).items()
               if there.get(path) != size]
    folder = Path(tempfile.mkdtemp(prefix="spectrain-sync-"))
    try:
        for path in missing:
            parent = Path(path).parent.as_posix()
            remote.log_artifact(run_id, local.download_artifacts(local_run_id, path, str(folder)),
                                None if parent == "." else parent)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return len(missing)


class TrackerCallback(keras.callbacks.Callback):
    """Logs every epoch's metrics (and learning rate) to the tracker."""

    def __init__(self, tracker: Tracker) -> None:
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch, logs=None):
        metrics = dict(logs or {})
        self.tracker.log_metrics(metrics, step=epoch + 1)  # epochs counted from 1, as everywhere
