"""Going on after a kill: the per-epoch resume state of a job, and whether a job's process lives.

Every epoch a job writes ``resume_state.npz`` into its folder, in one atomic replace, after the
epoch's other callbacks have run: every model variable (the weights and the random-seed states
of dropout and SpecAugment layers, which ``model.save_weights`` leaves out), every optimizer
variable (moments, step count, learning rate), the state of the callbacks that remember across
epochs (best checkpoint, early stopping, LR reduction) and how many epochs are done. The
training sets draw each epoch's order, crops and augmentation from (seed, epoch) alone, so a job
resumed at epoch k sees what an uninterrupted run sees from epoch k on: it ends with exactly the
same weights, metrics and predictions. The file is removed when the job finishes.

``job.json`` records the process (host, pid and its start time) and a heartbeat, so a job whose
process is gone shows as ``died``, not ``running``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
from pathlib import Path
from typing import Callable

import numpy as np

RESUME_FILE = "resume_state.npz"
HEARTBEAT_SECONDS = 30.0
# A job on another host is taken for dead when its heartbeat is this old.
STALE_HEARTBEAT_SECONDS = 10 * HEARTBEAT_SECONDS
UNFINISHED = ("running", "died", "interrupted", "failed")

# What each kind of callback remembers from one epoch to the next (set back on resume).
CALLBACK_STATE = {
    "BestModelCheckpoint": ("best", "best_epoch"),
    "EarlyStopping": ("wait", "best", "best_epoch", "stopped_epoch"),
    "ReduceLROnPlateau": ("wait", "best", "cooldown_counter"),
}


# --------------------------------------------------------------------------- the resume state
def _plain(value):
    """A callback's remembered value as JSON (a numpy scalar as a float; inf stays inf)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return float(value)


def callback_states(callbacks) -> list:
    """Per callback, the values of :data:`CALLBACK_STATE` it holds (None for stateless ones)."""
    states = []
    for callback in callbacks:
        names = CALLBACK_STATE.get(type(callback).__name__)
        states.append(None if names is None else
                      {name: _plain(getattr(callback, name)) for name in names})
    return states


def save_resume_state(path: Path, model, epochs_done: int, stopped: bool, callbacks) -> None:
    """Write the resume state (see the module docstring), replacing the last one atomically."""
    arrays = {f"model_{i:05d}": np.asarray(v) for i, v in enumerate(model.variables)}
    arrays.update({f"optimizer_{i:05d}": np.asarray(v)
                   for i, v in enumerate(model.optimizer.variables)})
    record = {"epochs_done": int(epochs_done), "stopped": bool(stopped),
              "callbacks": callback_states(callbacks),
              "model_variables": [v.path for v in model.variables],  # to read, not compared
              "saved": dt.datetime.now().isoformat(timespec="seconds")}
    arrays["record"] = np.array(json.dumps(record))
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    with open(temporary, "wb") as handle:
        np.savez(handle, **arrays)
        handle.flush()
        os.fsync(handle.fileno())  # a preempted VM must not leave a renamed, empty file
    os.replace(temporary, path)


class ResumeState:
    """A job's saved resume state, read back."""

    def __init__(self, path: Path):
        with np.load(path) as data:
            self.record = json.loads(str(data["record"]))
            self.model = [data[k] for k in sorted(data.files) if k.startswith("model_")]
            self.optimizer = [data[k] for k in sorted(data.files) if k.startswith("optimizer_")]

    @classmethod
    def read(cls, job_dir: Path) -> "ResumeState | None":
        path = Path(job_dir) / RESUME_FILE
        return cls(path) if path.is_file() else None

    @property
    def epochs_done(self) -> int:
        return int(self.record["epochs_done"])

    @property
    def stopped(self) -> bool:
        """True when training had ended (early stopping, NaN) before the job was killed."""
        return bool(self.record["stopped"])

    def restore_model(self, model) -> None:
        """Set the model's and its optimizer's variables; the model must be compiled."""
        # Shapes, not names: Keras numbers auto-named layers per process (conv2d, conv2d_1...).
        shapes = [list(v.shape) for v in model.variables]
        if shapes != [list(value.shape) for value in self.model]:
            raise ValueError("the resume state does not fit this model (its variables differ); "
                             "was the trainer's model changed since the job started?")
        for variable, value in zip(model.variables, self.model):
            variable.assign(value)
        optimizer = model.optimizer
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        if len(optimizer.variables) != len(self.optimizer):
            raise ValueError("the resume state does not fit this model's optimizer")
        for variable, value in zip(optimizer.variables, self.optimizer):
            variable.assign(value)

    def restore_callbacks(self, callbacks) -> None:
        for callback, state in zip(callbacks, self.record["callbacks"]):
            for name, value in (state or {}).items():
                setattr(callback, name, value)


def truncate_history(path: Path, epochs_done: int) -> None:
    """Keep the header and the first ``epochs_done`` rows of ``history.csv``: a job killed after
    the CSV logger wrote an epoch but before that epoch's resume state was saved redoes it."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:1 + epochs_done]) if epochs_done else "")


# --------------------------------------------------------------------------- which epoch
class EpochClock:
    """The epoch Keras is at, set by the job's first callback as each epoch begins. The training
    sets draw that epoch's order, crops and augmentation from it, not from how many passes over
    the data were made: under a distribution strategy Keras reads a batch to build the model
    before epoch 1, and a resumed job starts at its next epoch."""

    def __init__(self, epoch: int = 0):
        self.epoch = int(epoch)


class PassCounter:
    """Without a clock: each pass over the data (one per epoch in ``fit``) is the next epoch."""

    def __init__(self, first_epoch: int = 0):
        self.next = int(first_epoch)
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            self.next += 1
            return self.next - 1


def epoch_source(clock: EpochClock | None) -> Callable[[], int]:
    """``f() -> the epoch a pass over the data draws``: the clock's, or passes counted."""
    return (lambda: clock.epoch) if clock is not None else PassCounter()


# --------------------------------------------------------------------------- reopening a job
class ResumeError(ValueError):
    """A job that cannot be resumed as asked; the message says why and what to do."""


def reopen_job(job_dir: Path, spec, augmentation: list) -> tuple:
    """(JobRef, job.json record, ResumeState or None) of an unfinished job to go on with.

    Refuses (:class:`ResumeError`) a job block whose model, parse function or augmentation
    (``augmentation``: the block's, as ``modules.augment.describe`` gives it) differs from
    what the job started with; the parameters and split tables are compared when the job has
    rebuilt them (``modules.training``)."""
    from modules.jobs import TESTING_SUFFIX, JobRef
    from modules.parsers import qualified_name

    job_dir = Path(job_dir)
    info = json.loads((job_dir / "job.json").read_text())
    now = {"model": qualified_name(spec.model),
           "parse_function": qualified_name(spec.parse_function)}
    changed = [f"{key} {info.get(key)} -> {value}" for key, value in now.items()
               if info.get(key) not in (None, value)]
    if "augmentation" in info and (json.dumps(info["augmentation"], default=str)
                                   != json.dumps(augmentation, default=str)):
        changed.append("augmentation")
    if changed:
        raise ResumeError(f"job {job_dir.name} cannot be resumed: its job block changed since it "
                          f"started ({'; '.join(changed)}); run the trainer without --resume "
                          "for a new job")
    state = ResumeState.read(job_dir)
    segment_start = (info.get("resumed") or [{}])[-1].get("at", info.get("started"))
    if info.get("heartbeat") and segment_start:
        earlier = (dt.datetime.fromisoformat(info["heartbeat"])
                   - dt.datetime.fromisoformat(segment_start)).total_seconds()
        info["earlier_s"] = round(info.get("earlier_s", 0.0) + max(earlier, 0.0), 1)
    previous_error = job_dir / "error.txt"
    if previous_error.is_file():  # kept, under a name that says it came before the resume
        attempt = len(info.get("resumed", [])) + 1
        previous_error.rename(job_dir / f"error-before-resume-{attempt}.txt")
    for key in ("error", "finished"):
        info.pop(key, None)
    info.setdefault("resumed", []).append(
        {"at": _now(), "from_epoch": (state.epochs_done if state else 0) + 1,
         "after": displayed_status(info)})
    info["status"] = "running"
    for leftover in job_dir.glob(".decoded_*"):  # tf.data caches of the killed process
        leftover.unlink()
    testing = job_dir.name.endswith(TESTING_SUFFIX)
    job_id = int(job_dir.name[:-len(TESTING_SUFFIX)] if testing else job_dir.name)
    return JobRef(job_id, testing, job_dir), info, state


def check_same_parameters(job_dir: Path, snapshot: dict) -> None:
    """Refuse to resume a job whose trainer now sets other parameters than the job used."""
    recorded_path = Path(job_dir) / "params.json"
    if not recorded_path.is_file():
        return
    recorded = json.loads(recorded_path.read_text())
    ignored = ("description", "ray_cpus", "ray_gpus")
    changed = [f"{name} {recorded.get(name)!r} -> {value!r}" for name, value in snapshot.items()
               if name not in ignored and name in recorded and recorded[name] != value]
    if changed:
        raise ResumeError(f"job {Path(job_dir).name} cannot be resumed: the job block now sets "
                          f"other parameters ({'; '.join(changed[:5])}); run the trainer "
                          "without --resume for a new job")


def check_same_table(path: Path, text: str) -> None:
    """Refuse to resume a job whose split table (train.csv, validation.csv) would change."""
    if path.is_file() and path.read_text() != text:
        raise ResumeError(f"job {path.parent.name} cannot be resumed: its {path.name} would "
                          "change (the data or the split changed since it started); run the "
                          "trainer without --resume for a new job")


def find_resumable(cache_root, mode: str, trainer: str, block: int, testing: bool):
    """(what, job folder) for ``--resume`` of job block ``block`` (1-based): ``"new"`` (no job
    yet), ``"finished"`` or ``"running"`` (its latest job is done, or still alive), or
    ``"resume"`` (its latest job is unfinished and its process is gone)."""
    from modules.jobs import job_block_of, list_jobs

    latest = None
    for ref in list_jobs(cache_root, mode, trainer):
        try:
            info = json.loads((ref.path / "job.json").read_text())
        except (OSError, ValueError):
            continue
        if (ref.testing == testing and job_block_of(info) == block
                and not info.get("cross_validation")):
            latest = (ref.path, info)
    if latest is None:
        return "new", None
    path, info = latest
    status = displayed_status(info)
    if status == "finished":
        return "finished", path
    return ("running", path) if status == "running" else ("resume", path)


# --------------------------------------------------------------------------- process liveness
def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks (Linux), to tell it from a later one that
    reused its pid; None where /proc does not say."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return None


def process_record() -> dict:
    """What job.json records of the process running a job."""
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "pid_started": _process_start(os.getpid()), "heartbeat": _now()}


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


def process_alive(info: dict) -> bool:
    """True when the process job.json names may still be running the job."""
    if info.get("host") != socket.gethostname():
        beat = info.get("heartbeat")
        if not beat:
            return True  # an old job folder without a heartbeat: no way to tell
        age = (dt.datetime.now() - dt.datetime.fromisoformat(beat)).total_seconds()
        return age < STALE_HEARTBEAT_SECONDS
    pid = info.get("pid")
    if pid is None:
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    started = info.get("pid_started")
    return started is None or _process_start(int(pid)) in (None, started)


def displayed_status(info: dict) -> str:
    """A job's status as a person should read it: ``died`` for a running job whose process is
    gone (killed, out of memory, a preempted machine)."""
    status = info.get("status", "?")
    if status == "running" and not process_alive(info):
        return "died"
    return status


# job.json is written by the job and by its heartbeat thread; one lock keeps them apart.
_JOB_FILE_LOCK = threading.Lock()


def write_job_record(job_dir: Path, info: dict) -> None:
    """Write ``job.json`` (atomically), with a fresh heartbeat."""
    from modules.jobs import atomic_write_text

    with _JOB_FILE_LOCK:
        info["heartbeat"] = _now()
        atomic_write_text(Path(job_dir) / "job.json", json.dumps(info, indent=2) + "\n")


class Heartbeat:
    """Refreshes ``heartbeat`` in a running job's job.json every ``seconds``; the job's own
    writes (:func:`write_job_record`) refresh it too."""

    def __init__(self, job_dir: Path, seconds: float = HEARTBEAT_SECONDS):
        self.path = Path(job_dir) / "job.json"
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-heartbeat", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        from modules.jobs import atomic_write_text

        while not self._stop.wait(self.seconds):
            with _JOB_FILE_LOCK:
                try:
                    info = json.loads(self.path.read_text())
                    if info.get("status") != "running":
                        return
                    info["heartbeat"] = _now()
                    atomic_write_text(self.path, json.dumps(info, indent=2) + "\n")
                except (OSError, ValueError):
                    pass  # a full or vanished disk: the job itself will say so
