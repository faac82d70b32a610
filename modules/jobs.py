"""Job folders: ``cache/<mode>/<trainer>/<job_id>[_testing]/``.

Job ids are taken under an exclusive file lock, so two launches at once get different ids, and a
folder, once made, is never reused: a past job is never overwritten.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TESTING_SUFFIX = "_testing"
_JOB_DIR = re.compile(r"^(\d+)(_testing)?$")
CV_DIR = re.compile(r"^cv(\d+)(_testing)?$")  # a cross-validation summary folder


@dataclass(frozen=True)
class JobRef:
    job_id: int
    testing: bool
    path: Path


def read_history(path: Path | str):
    """A job's ``history.csv`` as a DataFrame, its ``epoch`` column counted from 1 (files
    written before counted from 0: they are shifted on reading, never rewritten)."""
    import pandas as pd

    history = pd.read_csv(path)
    if "epoch" not in history:
        history.insert(0, "epoch", range(1, len(history) + 1))
    elif len(history) and int(history["epoch"].iloc[0]) == 0:
        history["epoch"] = history["epoch"] + 1
    return history


def job_block_of(info: dict) -> int | None:
    """The job block (1-based, as a person counts them) a ``job.json`` records: ``job_block``;
    folders written before it was added hold a 0-based ``block``."""
    if isinstance(info.get("job_block"), int):
        return info["job_block"]
    block = info.get("block")
    return block + 1 if isinstance(block, int) and not isinstance(block, bool) else None


def trainer_dir(cache_root: Path | str, mode: str, trainer: str) -> Path:
    return Path(cache_root) / mode / trainer


def list_jobs(cache_root: Path | str, mode: str, trainer: str) -> list[JobRef]:
    """Every job folder of a trainer, oldest id first."""
    root = trainer_dir(cache_root, mode, trainer)
    jobs = []
    if root.is_dir():
        for entry in root.iterdir():
            match = _JOB_DIR.match(entry.name)
            if match and entry.is_dir():
                jobs.append(JobRef(int(match.group(1)), bool(match.group(2)), entry))
    return sorted(jobs, key=lambda job: job.job_id)


def all_jobs(cache_root: Path | str) -> list[tuple[str, str, JobRef]]:
    """(mode, trainer, job) for every job folder under the cache root, in id order."""
    found = []
    for trainer_folder in sorted(Path(cache_root).glob("*/*")):
        if trainer_folder.is_dir():
            mode, trainer = trainer_folder.parent.name, trainer_folder.name
            found += [(mode, trainer, job) for job in list_jobs(cache_root, mode, trainer)]
    return found


@contextmanager
def _locked(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".job_id.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def create_job_dir(cache_root: Path | str, mode: str, trainer: str, testing: bool) -> JobRef:
    """Reserve the next job id of this trainer and make its folder.

    Testing and full jobs share one id sequence, so ``3`` and ``3_testing`` never both exist.
    """
    root = trainer_dir(cache_root, mode, trainer)
    with _locked(root):
        existing = [job.job_id for job in list_jobs(cache_root, mode, trainer)]
        job_id = max(existing, default=0) + 1
        path = root / f"{job_id}{TESTING_SUFFIX if testing else ''}"
        path.mkdir(parents=False, exist_ok=False)  # exist_ok=False: never reuse a folder
    return JobRef(job_id, testing, path)


def find_job(cache_root: Path | str, mode: str, trainer: str, job_id: int | None = None,
             testing: bool | None = None) -> JobRef:
    """The job to replay: ``job_id`` if given, else the latest one with a best model.

    ``testing`` narrows the default choice to testing (or full) jobs when such jobs exist.
    """
    jobs = list_jobs(cache_root, mode, trainer)
    where = trainer_dir(cache_root, mode, trainer)
    if job_id is not None:
        for job in jobs:
            if job.job_id == job_id:
                return job
        known = ", ".join(job.path.name for job in jobs) or "none"
        raise FileNotFoundError(f"no job {job_id} in {where} (jobs there: {known})")
    finished = [job for job in jobs if (job.path / "best_model.keras").exists()]
    if testing is not None and any(job.testing == testing for job in finished):
        finished = [job for job in finished if job.testing == testing]
    if not finished:
        raise FileNotFoundError(f"no finished job (with best_model.keras) in {where}")
    return finished[-1]


def stamped_path(folder: Path | str, prefix: str, suffix: str = "") -> Path:
    """``<folder>/<prefix><YYYYmmdd-HHMMSS><suffix>``, or with ``-2``, ``-3``... after the time
    when that exists: replays, explanations and other outputs never replace an earlier one."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(folder) / f"{prefix}{stamp}{suffix}"
    serial = 1
    while path.exists():
        serial += 1
        path = Path(folder) / f"{prefix}{stamp}-{serial}{suffix}"
    return path


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write a file so that a crash mid-write leaves the old content (or nothing), never half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def publish_new_file(write: Callable[[Path], None], path: Path) -> None:
    """``write(temporary path)``, then link the result into place at ``path``: readers never see
    a half-written file, and an existing file is never replaced (FileExistsError)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        try:
            os.link(temporary, path)  # fails with FileExistsError rather than overwrite
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: exclusive create, then copy
            with open(path, "xb") as target, open(temporary, "rb") as source:
                shutil.copyfileobj(source, target)
    finally:
        temporary.unlink(missing_ok=True)
