"""Replay a job validation-only: its best model on its saved validation files, same pipeline.

The numbers must equal the recorded ones; the replay report says whether they do. The job's
task (:mod:`modules.tasks`) does the evaluating and comparing; this is the one skeleton around
it: open the folder, seed as the job did, write the report beside the job (never over an
earlier one).

Before anything runs, a replay refuses, in one line and writing nothing, a job that did not
finish (its status), a validation file that is missing or changed since the job trained (the
job's ``validation_files.csv``, see :mod:`modules.data.fingerprints`) and a best model that
cannot be loaded: each would otherwise show up only as numbers that differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from modules.data.fingerprints import FileChange, changed_validation_files
from modules.job_folder import Job, JobFolderError
from modules.jobs import atomic_write_text, stamped_path
from modules.tasks.common import seed_everything


@dataclass
class ReplayResult:
    metrics: dict
    recorded: dict
    report_path: Path
    identical: bool
    max_probability_difference: float


def replay_job(job_dir: Path | str, parse_function: Callable | None = None,
               progress: bool = True) -> ReplayResult:
    """Replay ``job_dir`` (``parse_function``: a builder to use instead of the recorded one).

    Raises:
        modules.job_folder.JobFolderError: not a finished job folder, a missing or changed
            validation file, or a best model that cannot be loaded (see :func:`ready_job`).
    """
    job = ready_job(job_dir)
    seed_everything(job.params)
    comparison = job.task.replay(job, parse_function, progress)
    path = stamped_path(job.path, "replay-", ".txt")  # never overwrite an earlier replay
    atomic_write_text(path, comparison.text)
    print(comparison.text)
    print(f"replay report: {path}")
    return ReplayResult(comparison.metrics, comparison.recorded, path, comparison.identical,
                        comparison.difference)


def ready_job(job_dir: Path | str) -> Job:
    """``job_dir`` opened for a replay, once everything a replay needs is checked: the job
    finished, its files are there, its validation files are as they were and its best model
    loads. Reads only; JobFolderError with a one-line message otherwise."""
    refuse_unfinished(Job(job_dir, required=()))
    job = Job(job_dir)
    changes = changed_validation_files(job.path)
    if changes:
        raise JobFolderError(describe_changes(changes, job.info.get("job_id", job.path.name)))
    job.model  # a damaged best_model.keras: JobFolderError before any audio is decoded
    return job


def refuse_unfinished(job: Job) -> None:
    """JobFolderError for a job whose ``job.json`` says it did not finish (running, died,
    interrupted, failed...); an old ``job.json`` without a status passes."""
    if job.info.get("status") in (None, "finished"):
        return
    status = job.status  # "died" for a running job whose process is gone
    mode = job.info.get("mode") or job.path.parent.parent.name
    trainer = job.info.get("trainer") or job.path.parent.name
    testing = " --testing" if job.info.get("testing") else ""  # as `spectrain jobs` says
    resume = f"`bash launch.sh {mode}/{trainer} --resume{testing}`"
    where = f"job {job.info.get('job_id', job.path.name)} ({job.path})"
    if status == "running":  # its process may be alive: it may still be training
        raise JobFolderError(f"{where} did not finish: its status is 'running'; replay it "
                             f"once it has finished, or, if its process is gone, resume it "
                             f"with {resume}")
    raise JobFolderError(f"{where} did not finish (status {status!r}), so it has no final "
                         f"results to replay; resume it with {resume}")


def describe_changes(changes: list[FileChange], job_id) -> str:
    """One line for the first missing or changed validation file (and how many more)."""
    first = changes[0]
    if first.what == "missing":
        text = (f"validation file {first.path} is missing (it was there when job {job_id} "
                f"trained)")
    else:
        text = f"validation file {first.path} changed since job {job_id} trained ({first.detail})"
    if len(changes) > 1:
        text += f"; {len(changes) - 1} more validation file(s) missing or changed"
    return text + "; not replayed: its numbers could not be compared with the recorded ones"
