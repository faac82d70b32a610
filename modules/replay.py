"""Replay a job validation-only: its best model on its saved validation files, same pipeline.

The numbers must equal the recorded ones; the replay report says whether they do. The job's
task (:mod:`modules.tasks`) does the evaluating and comparing; this is the one skeleton around
it: open the folder, seed as the job did, write the report beside the job (never over an
earlier one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from modules.job_folder import Job
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
        modules.job_folder.JobFolderError: not a finished job folder.
    """
    job = Job(job_dir)
    seed_everything(job.params)
    comparison = job.task.replay(job, parse_function, progress)
    path = stamped_path(job.path, "replay-", ".txt")  # never overwrite an earlier replay
    atomic_write_text(path, comparison.text)
    print(comparison.text)
    print(f"replay report: {path}")
    return ReplayResult(comparison.metrics, comparison.recorded, path, comparison.identical,
                        comparison.difference)
