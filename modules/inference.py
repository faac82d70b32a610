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


def predict_with_job(job_dir, inputs, output_dir, hop_seconds=None, aggregate: str = "mean",
                     top_k: int = 3, threshold=None, batch_size: int | None = None,
                     progress: bool = True, embeddings: bool = False,
                     labels_from=None) -> pd.DataFrame:
    """``spectrain predict``: a finished job's best model over new recordings of any length.

    Windows of the job's ``audio_length`` every ``hop_seconds`` (default: the job's
    ``step_size``) go through the job's front end and model (:mod:`modules.prediction` writes
    windows.csv, files.csv, a Raven table and skipped.tsv into ``output_dir``). ``threshold``:
    one value or a {class: value} dict (default: the job's ``multilabel_threshold`` for
    multi-label jobs, else 0.5), for the Raven table and multi-label decisions. ``embeddings``:
    also write every window's embedding to ``embeddings.nc`` (auDeep's layout), labelled by the
    dataset at ``labels_from`` (any layout; files it does not list stay unlabelled). A sound
    event detection job detects events instead (:func:`detect_with_job`, with ``hop_seconds``
    and ``threshold``).

    Raises:
        JobFolderError: not a job folder, a job that did not finish, or one that cannot predict.
        ValueError: bad settings; FileExistsError: an output that already exists.
    """
    from modules.prediction import PredictionSettings, predict_files
    from modules.tasks.common import per_class_setting

    job = Job(job_dir, required=("params.json", "job.json", "best_model.keras"))
    if job.status != "finished":
        raise JobFolderError(f"{job.path}: the job did not finish (status {job.status!r}); "
                             f"predict with a finished job")
    if job.task.detects:
        return detect_with_job(job_dir, inputs, output_dir, hop_seconds, threshold,
                               progress=progress)
    if not job.task.predicts:
        raise JobFolderError(f"{job.path}: task {job.params.task!r} does not predict windows")
    params, classes, task = job.params, job.class_names, job.task
    default = params.multilabel_threshold if task.multi_label else 0.5
    thresholds = per_class_setting(threshold, classes, default, "threshold")
    if not isinstance(thresholds, dict):
        thresholds = dict.fromkeys(classes, default if threshold is None else thresholds)
    settings = PredictionSettings(
        sr=params.sr, window_seconds=params.audio_length,
        hop_seconds=params.step_size if hop_seconds is None else hop_seconds,
        classes=tuple(classes), thresholds=tuple(float(thresholds[c]) for c in classes),
        multi_label=task.multi_label, aggregate=aggregate, top_k=top_k,
        batch_size=batch_size or params.batch_size,
        silence_threshold_db=params.silence_threshold_db, trim_silence_db=params.trim_silence_db)
    if job.feature_vectors:
        return _predict_feature_sets(job, inputs, settings, Path(output_dir), embeddings)
    labels = dataset_labels(labels_from) if labels_from is not None else None
    return predict_files(inputs, task.window_predictor(job, embeddings), settings,
                         Path(output_dir), progress, embedding_labels=labels)


def _predict_feature_sets(job, inputs, settings, output_dir: Path, embeddings: bool):
    """A job on feature vectors takes feature sets (.nc), not recordings."""
    from modules.prediction import predict_feature_sets

    paths = [Path(item) for item in inputs]
    others = [str(path) for path in paths if path.suffix.lower() != ".nc"]
    if others or embeddings:
        raise ValueError(f"{job.path} trained on feature vectors: give it feature sets (.nc) "
                         f"in auDeep's layout" + (f", not {others[0]}" if others else
                                                  ", without --embeddings"))
    return predict_feature_sets(paths, job.task.window_predictor(job), settings, output_dir)


def dataset_labels(path) -> dict:
    """file -> (label, fold or None) of the dataset at ``path`` (its layout detected)."""
    from modules.data import load_auto
    from modules.data.schema import is_multi_label

    table = load_auto(path)
    if is_multi_label(table):
        raise ValueError(f"{path}: a multi-label dataset; an embedding feature set holds one "
                         f"label per window")
    return {str(row.path): (str(row.label), None if pd.isna(row.fold) else int(row.fold))
            for row in table.itertuples()}
