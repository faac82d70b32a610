"""A finished job applied to new recordings, outside its job folder.

The job folder is opened once (:class:`modules.job_folder.Job`) and its task does the work, with
the job's own front end and best model, so a new recording goes through exactly the pipeline
the job was evaluated with.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from modules.job_folder import Job, JobFolderError


def detect_with_job(job_dir, inputs, output_dir, hop_seconds=None, threshold=None,
                    median_filter=None, min_duration: float = 0.0, min_gap: float = 0.0,
                    progress: bool = True) -> pd.DataFrame:
    """``spectrain detect``: events in long recordings, found by a sound event detection job.

    Windows of the job's ``audio_length`` every ``hop_seconds`` (default: half a window,
    rounded to whole event bins) go through the job's front end and model; overlapping outputs
    are averaged, thresholded (default: the job's ``sed_threshold``; ``threshold`` and
    ``median_filter`` take one value or a {class: value} dict, classes not named keep the job's
    threshold and are not filtered) and merged into events, written to ``output_dir`` as
    ``events.csv`` and a Raven table.

    Raises:
        JobFolderError: not a finished job folder, or not a job whose task detects events.
        ValueError: a per-class setting for a class the job does not have.
    """
    job = Job(job_dir, required=("params.json", "job.json", "best_model.keras"))
    if not job.task.detects:
        raise JobFolderError(f"{job.path} is not a sound event detection job (task "
                             f"{job.params.task or 'classification'!r})")
    return job.task.detect(job, inputs, Path(output_dir), hop_seconds, threshold,
                           median_filter, min_duration, min_gap, progress)
