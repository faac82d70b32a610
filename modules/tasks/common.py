"""Job pieces every task uses: paths, the data split, the testing subset, the model's own front
end, seeding, tracking, callbacks and the best epoch."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from modules import PROJECT_ROOT


def resolve_path(path: str | Path) -> Path:
    """Relative paths in parameters are relative to the project root, not the current folder."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def load_and_split(run, datasets: dict, label_source: str | None = None,
                   multi_label: bool = False):
    """(:class:`modules.data.SplitParts`, class_names) of the flagged datasets, split as ``run``
    says: the one place that turns a job block's data settings into its train, validation and
    held-out test parts. ``label_source``: None for the datasets' own labels, or a respiratory
    task ("pneumonia", "cw"). Unless ``multi_label``, a file with several classes (or none) is
    refused, not given one of them."""
    from modules.data import load_datasets, split_parts

    table, class_names = load_datasets(datasets, data_root=resolve_path(run.data_root),
                                       task=label_source)
    if not multi_label:
        check_single_label(table)
    parts = split_parts(table, method=run.split, validation_fold=run.validation_fold,
                        validation_size=run.validation_size, seed=run.seed, n_folds=run.n_folds,
                        test_fold=run.test_fold)
    return parts, class_names


def check_single_label(table: pd.DataFrame) -> None:
    """Refuse a table with files of several classes (or of none): a classification job has one
    class per file, and picking one of them would silently relabel the file."""
    from modules.data.schema import is_multi_label, row_labels

    if not is_multi_label(table):
        return
    counts = [len(labels) for labels in row_labels(table)]
    off = [i for i, n in enumerate(counts) if n != 1]
    if off:
        first = table.iloc[off[0]]
        raise ValueError(
            f"dataset {first['dataset']}: {len(off)} of {len(table)} files have several classes "
            f"or none (first: {first['path']}: {first['label']}); a classification job takes "
            f"one class per file: set parameters.task = \"multilabel\" to train on every "
            f"class of each file")


def testing_subsets(run, *parts: pd.DataFrame) -> tuple:
    """A testing job's small subsets of its parts (``testing_files_per_class`` each; an empty
    part stays empty)."""
    from modules.data import testing_subset

    if not run.testing:
        return parts
    return tuple(part if part.empty
                 else testing_subset(part, run.testing_files_per_class, seed=run.seed)
                 for part in parts)


def adopt_model_frontend(run, model_spec) -> None:
    """A model with its own front-end preset (PANNs, HTS-AT) sets the job's sample rate, window,
    hop and mel settings, so the audio is decoded and resampled at the rate its weights expect."""
    import keras

    from modules.models.finetune import builder_preset
    from modules.models.presets import frontend_settings

    if isinstance(model_spec, keras.Model):
        settings = frontend_settings(model_spec)
        wanted = None if settings is None else {
            key: settings[key] for key in ("sr", "n_fft", "hop_length", "n_mels", "fmin", "fmax")}
        name = model_spec.name
    else:
        preset = builder_preset(model_spec)
        wanted = None if preset is None else preset.parameters()
        name = None if preset is None else preset.name
    if not wanted:
        return
    changed = {key: (getattr(run, key), value) for key, value in wanted.items()
               if getattr(run, key) != value}
    if changed:
        print(f"model front end {name}: " + ", ".join(
            f"{key} {old} -> {new}" for key, (old, new) in changed.items())
            + " (audio is resampled to the model's rate)")
        for key, (_, value) in changed.items():
            setattr(run, key, value)
    # The model's window is its n_fft; a window set for another front end would not apply.
    run.window = None


def seed_everything(params) -> None:
    """Python, numpy and TensorFlow seeds, and deterministic ops when the job asks for them."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(params.seed)
    if params.deterministic:
        tf.config.experimental.enable_op_determinism()


def start_tracker(params, cache_root: Path, info: dict, job_dir: Path):
    """The job's MLflow run (named trainer/job, tagged with the folder), parameters logged; a
    resumed job goes on with the run it had (``info["mlflow_run_id"]``), and records it."""
    from modules.tracking import Tracker

    tags = {"job_dir": str(job_dir), "trainer": info["trainer"],
            "mlflow.note.content": params.description}
    parent = (info.get("cross_validation") or {}).get("mlflow_parent")
    if parent:  # a fold of a cross-validation run: a child of the run's MLflow run
        tags.update({"mlflow.parentRunId": parent,
                     "cv_fold": str(info["cross_validation"]["fold"])})
    tracker = Tracker(params.tracking_uri, cache_root, experiment=params.mode,
                      run_name=f"{info['trainer']}/{job_dir.name}", tags=tags, job_dir=job_dir,
                      resume=info.get("mlflow_run_id"))
    if tracker.run_id:
        info["mlflow_run_id"] = tracker.run_id
    tracker.log_params(params.snapshot())
    return tracker


def best_history_row(history: pd.DataFrame, target_metric: str) -> int:
    """Row of ``history`` (the CSV log) at the best epoch by ``target_metric``."""
    from modules.training_metrics import metric_direction

    column = history[target_metric]
    return int(column.idxmin() if metric_direction(target_metric) == "min" else column.idxmax())


def job_callbacks(params, job_dir: Path, tracker, first: list = (), resumed=None,
                  clock=None) -> list:
    """The epoch ``clock`` (:class:`modules.resume.EpochClock`) set, ``first`` (a task's own
    callbacks, e.g. ones that add metrics to the logs), then best checkpoint, early stopping
    and LR reduction on ``params.target_metric``, NaN stop, MLflow, the CSV history (it sees
    the learning rate the others add) and, last, the resume state (:mod:`modules.resume`;
    ``resumed``: the state a resumed job goes on from)."""
    import keras

    from modules.callbacks import (BestModelCheckpoint, EpochCSVLogger, SaveResumeState,
                                   SetEpochClock)
    from modules.tracking import TrackerCallback
    from modules.training_metrics import metric_direction

    direction = metric_direction(params.target_metric)
    callbacks = [*([SetEpochClock(clock)] if clock is not None else []), *first,
        BestModelCheckpoint(job_dir / "best_model.keras", params.target_metric, direction),
        keras.callbacks.EarlyStopping(monitor=params.target_metric, mode=direction,
                                      patience=params.es_patience, min_delta=params.min_delta),
        learning_rate_callback(params, direction),
        keras.callbacks.TerminateOnNaN(),
        TrackerCallback(tracker),
        EpochCSVLogger(str(job_dir / "history.csv"), append=resumed is not None),
    ]
    return [*callbacks, SaveResumeState(job_dir, callbacks, resumed)]


def cosine_learning_rate(epoch: int, lr: float, min_lr: float, n_epochs: int,
                         warmup_epochs: int = 0) -> float:
    """The learning rate of ``epoch`` (0-based): linear warm-up to ``lr`` over ``warmup_epochs``,
    then a half cosine from ``lr`` down to ``min_lr`` at the last epoch."""
    import math

    if epoch < warmup_epochs:
        return lr * (epoch + 1) / (warmup_epochs + 1)
    decay_epochs = max(n_epochs - warmup_epochs - 1, 1)
    progress = min((epoch - warmup_epochs) / decay_epochs, 1.0)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def learning_rate_callback(params, direction: str):
    """``params.lr_schedule``: ReduceLROnPlateau on the target metric, or the cosine schedule
    (fixed in advance, so it never looks at the validation data)."""
    import keras

    if params.lr_schedule == "cosine":
        return keras.callbacks.LearningRateScheduler(
            lambda epoch: cosine_learning_rate(epoch, params.lr, params.min_lr, params.n_epochs,
                                               params.warmup_epochs))
    return keras.callbacks.ReduceLROnPlateau(monitor=params.target_metric, mode=direction,
                                             factor=params.factor, patience=params.lr_patience,
                                             min_lr=params.min_lr, min_delta=params.min_delta)


def json_default(value):
    """``json.dumps(default=...)`` for numpy numbers and arrays in metrics."""
    import numpy as np

    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def read_table(path: Path) -> pd.DataFrame:
    """A split table as written: text, so a class or patient named "none" or "NA" stays one."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def per_class_setting(value, classes, default, option: str):
    """One value for all classes, or a {class: value} dict completed with ``default``."""
    if not isinstance(value, dict):
        return value
    unknown = sorted(set(value) - set(classes))
    if unknown:
        raise ValueError(f"{option} for unknown class(es) {', '.join(unknown)}; the job's "
                         f"classes are {', '.join(classes)}")
    return {name: value.get(name, default) for name in classes}
