"""``launch_job``: one job block of a trainer file -> one job folder under ``cache/``.

A trainer sets fields on the global ``parameters`` and calls ``launch_job``; this is the only
library function that reads the global object. It freezes a snapshot and hands that down.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from modules import PROJECT_ROOT
from modules.jobs import JobRef, atomic_write_text, create_job_dir, find_job
from modules.parameters import Parameters, parameters
from modules.parsers import qualified_name, spec_parser

@dataclass
class LaunchOptions:
    """What the command line asked for; it wins over what a trainer file sets."""

    testing: bool = False
    description: str | None = None
    validation_only: bool = False
    job: int | None = None
    cache_root: str | None = None
    data_root: str | None = None
    progress: bool = True
    replayed: list = field(default_factory=list)  # job folders replayed in this process
    pretend: int | None = None  # `spectrain augment --pretend N`: show clip N, train nothing
    pretend_block: int | None = None  # with pretend: only this job block (1-based)
    pretended: list = field(default_factory=list)  # folders `augment --pretend` wrote


launch_options = LaunchOptions()
_blocks_launched: dict[str, int] = {}  # trainer file -> launch_job calls so far in this process


def resolve_path(path: str | Path) -> Path:
    """Relative paths in parameters are relative to the project root, not the current folder."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def _calling_trainer() -> Path:
    """The file that called launch_job (the first frame outside the library)."""
    library = Path(__file__).resolve().parent
    for frame in inspect.stack()[2:]:
        filename = Path(frame.filename).resolve()
        if library not in filename.parents and filename.suffix == ".py":
            return filename
    return Path("interactive.py")


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


def launch_job(datasets: dict, model, spec_aug_params: Sequence = (), audio_aug_params: Sequence = (),
               parse_function: Callable | None = None) -> Path | None:
    """Train ``model`` on the flagged ``datasets`` (e.g. ``{"Esc10": 1}``) as one job.

    ``model``: a builder ``f(input_shape, n_classes) -> keras.Model`` (use functools.partial for
    options) or a built ``keras.Model``. ``parse_function``: a parse-function builder from
    ``modules.parsers`` (default ``spec_parser``). ``spec_aug_params`` / ``audio_aug_params``:
    lists of ``[name, {arguments}]`` (see :mod:`modules.augment`), applied to training
    examples only; they are checked here, before anything else runs.
    Returns the job folder (or, in a validation-only run, the replayed job's folder or None).
    """
    parse_function = parse_function or spec_parser
    trainer_file = _calling_trainer()
    block = _blocks_launched.get(str(trainer_file), 0)
    _blocks_launched[str(trainer_file)] = block + 1
    from modules.augment import build_augmentations
    from modules.data.respiratory import TASK_CLASSES
    from modules.training_metrics import check_target_metric

    augmentations = build_augmentations(spec_aug_params, audio_aug_params)
    if parameters.task and parameters.task not in (*TASK_CLASSES, "sed"):
        raise ValueError(f"unknown task {parameters.task!r}; expected '' (the datasets' labels), "
                         f"'sed' (sound event detection) or one of {', '.join(TASK_CLASSES)}")
    check_target_metric(parameters.target_metric, parameters.task, parameters.n_classes)
    if not isinstance(datasets, dict) or not datasets:
        raise TypeError('datasets takes a dict of dataset names to 0/1 flags, e.g. {"Esc10": 1}')

    # A per-job copy: values derived for this job (shape, n_classes...) must not leak into the
    # trainer's next job block through the global object.
    run = Parameters.from_snapshot(parameters.snapshot())
    _apply_launch_options(run)
    if not run.mode:
        run.mode = trainer_file.parent.name
    trainer = trainer_file.stem

    if launch_options.pretend is not None:
        from modules.augment.pretend import pretend_block

        folder = pretend_block(run, datasets, augmentations, parse_function, trainer, block,
                               launch_options.pretend, model=model,
                               only_block=launch_options.pretend_block)
        if folder:
            launch_options.pretended.append(folder)
        return folder
    if launch_options.validation_only:
        return _replay_block(run, trainer, block, parse_function)
    return _train_job(run, datasets, model, parse_function, trainer_file, trainer, block,
                      augmentations)


def _apply_launch_options(params: Parameters) -> None:
    if launch_options.testing:
        params.testing = True
    if launch_options.description is not None:
        params.description = launch_options.description
    if launch_options.cache_root is not None:
        params.cache_root = launch_options.cache_root
    if launch_options.data_root is not None:
        params.data_root = launch_options.data_root


# ----------------------------------------------------------------------------------- replay
def _replay_block(run: Parameters, trainer: str, block: int, parse_function: Callable) -> Path | None:
    from modules.replay import replay_job

    job = find_job(resolve_path(run.cache_root), run.mode, trainer,
                   job_id=launch_options.job, testing=True if launch_options.testing else None)
    info = json.loads((job.path / "job.json").read_text())
    if info.get("block", 0) != block or launch_options.replayed:
        print(f"job block {block + 1}: not replayed (job {job.path.name} came from block "
              f"{info.get('block', 0) + 1})")
        return None
    replay_job(job.path, parse_function=parse_function, progress=launch_options.progress)
    launch_options.replayed.append(job.path)
    return job.path


# ---------------------------------------------------------------------------------- training
def _train_job(run: Parameters, datasets, model, parse_function, trainer_file: Path, trainer: str,
               block: int, augmentations: list) -> Path:
    cache_root = resolve_path(run.cache_root)
    job = create_job_dir(cache_root, run.mode, trainer, run.testing)
    run.job_id = job.job_id
    started, clock = _now(), time.time()
    info = {
        "job_id": job.job_id, "job_dir": str(job.path), "trainer": trainer,
        "trainer_file": str(trainer_file), "block": block, "mode": run.mode,
        "testing": run.testing, "datasets": datasets, "status": "running",
        "started": started, "parse_function": qualified_name(parse_function),
        "model": qualified_name(model),
    }
    atomic_write_text(job.path / "job.json", json.dumps(info, indent=2) + "\n")
    title = f"job {job.job_id}{' (testing)' if run.testing else ''}: {job.path}"
    print(f"\n{'=' * len(title)}\n{title}\n{'=' * len(title)}")
    if run.description:
        print(f"description: {run.description}")
    tracker = None
    try:
        tracker = _run_training(run, job, datasets, model, parse_function, info, cache_root,
                                augmentations)
        info.update(status="finished", finished=_now(), duration_s=round(time.time() - clock, 1))
        atomic_write_text(job.path / "job.json", json.dumps(info, indent=2) + "\n")
        if tracker:
            tracker.log_artifact(job.path / "job.json")
            tracker.end("FINISHED")
    except BaseException as error:
        # Keep everything written so far; say what happened where the results would have been.
        status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        info.update(status=status, finished=_now(), error=f"{type(error).__name__}: {error}")
        atomic_write_text(job.path / "job.json", json.dumps(info, indent=2) + "\n")
        atomic_write_text(job.path / "error.txt", traceback.format_exc())
        if tracker:
            tracker.end("KILLED" if status == "interrupted" else "FAILED")
        print(f"job {job.job_id} {status}: {info['error']} (details in {job.path / 'error.txt'})")
        raise
    # Outside the guarded block: nothing after this point can turn a finished job into a failed one.
    print(f"job {job.job_id} finished in {info['duration_s']:.0f} s: {job.path}")
    return job.path


def _run_training(run: Parameters, job: JobRef, datasets, model_spec, parse_function, info: dict,
                  cache_root: Path, augmentations: list):
    import keras
    import tensorflow as tf

    from modules import evaluation
    from modules.augment import AugmentedTrainingSet, ExamplePool, describe
    from modules.data import TABLE_COLUMNS, testing_subset
    from modules.data.respiratory import make_chunk_labeler
    from modules.pipeline import (AudioConfig, SkippedFiles, balanced_class_weights, decoded_dataset,
                                  evaluation_dataset, fill_cache, one_hot_labels, training_dataset)
    from modules.models import load_model
    from modules.models.feature_mlp import adapt_standardization
    from modules.models.finetune import build_network, output_activation
    from modules.training_metrics import training_metrics

    progress = launch_options.progress
    if run.task == "sed":
        from modules.sed.job import run_sed_training

        return run_sed_training(run, job, datasets, model_spec, parse_function, info,
                                cache_root, augmentations, progress)
    # ---- data -----------------------------------------------------------------------------
    train, validation, class_names = load_and_split(run, datasets)
    if run.n_classes is None:
        run.n_classes = len(class_names)
    elif run.n_classes != len(class_names):
        raise ValueError(f"parameters.n_classes is {run.n_classes}, but the data has "
                         f"{len(class_names)} classes: {', '.join(class_names)}")
    if run.testing:
        run.n_epochs = run.testing_epochs
        run.n_example_plots = min(run.n_example_plots, 1)  # matplotlib needs ~0.15 s a figure
        train = testing_subset(train, run.testing_files_per_class, seed=run.seed)
        validation = testing_subset(validation, run.testing_files_per_class,
                                    seed=run.seed)
    for name, part in (("train", train), ("validation", validation)):
        part.reindex(columns=TABLE_COLUMNS).to_csv(job.path / f"{name}.csv", index=False)

    # ---- seeds, front end, parameters snapshot ---------------------------------------------
    keras.utils.set_random_seed(run.seed)
    if run.deterministic:
        tf.config.experimental.enable_op_determinism()
    from modules.data.feature_sets import feature_reference

    if not any(feature_reference(path) for path in train["path"][:1]):
        _adopt_model_frontend(run, model_spec)  # first: it may change the sample rate
    audio = AudioConfig.from_parameters(run, [*train["path"], *validation["path"]])
    if audio.features:
        _check_feature_job(augmentations, info)
    parse = parse_function(run.freeze())
    example_input = parse(tf.zeros([1, audio.samples]), tf.zeros([1, len(class_names)]))[0]
    derived_shape = tuple(int(d) for d in example_input.shape[1:])
    if run.shape is None:
        run.shape = derived_shape
    elif tuple(run.shape) != derived_shape:
        raise ValueError(f"parameters.shape is {tuple(run.shape)}, but the parse function "
                         f"gives {derived_shape} for these front-end settings; set shape = None")
    for augmentation in augmentations:
        augmentation.bind(class_names)
        augmentation.check_input(run.shape)
    params = run.freeze()
    params.save(job.path / "params.json")
    info["class_names"] = class_names
    info["augmentation"] = describe(augmentations)
    atomic_write_text(job.path / "augmentation.json",
                      json.dumps(info["augmentation"], indent=2, default=str) + "\n")
    atomic_write_text(job.path / "job.json", json.dumps(info, indent=2) + "\n")

    tracker = start_tracker(params, cache_root, info, job.path)

    # ---- decode once, cache ----------------------------------------------------------------
    skipped = SkippedFiles()
    # "disk": tf.data cache files inside the job folder, removed when the job has finished.
    cache = params.data_cache if params.data_cache != "disk" else None
    train_labels = one_hot_labels(train["label"], class_names)
    val_labels = one_hot_labels(validation["label"], class_names)
    labeler_args = (params.task, class_names, audio.sr, audio.audio_length, audio.step_size,
                    audio.chunking, params.overlap_threshold)
    # Augmentation keeps the decoded training examples in memory itself (examples are paired at
    # random), so tf.data does not cache a second copy.
    augmenting = bool(augmentations) or params.oversample
    train_decoded = decoded_dataset(train["path"], train_labels, audio, skipped,
                                    cache="none" if augmenting
                                    else cache or str(job.path / ".decoded_train"),
                                    chunk_labels=make_chunk_labeler(train, *labeler_args))
    val_decoded = decoded_dataset(validation["path"], val_labels, audio, skipped,
                                  cache=cache or str(job.path / ".decoded_validation"),
                                  chunk_labels=make_chunk_labeler(validation, *labeler_args))
    train_meta = fill_cache(train_decoded, len(train), "decoding training audio", progress,
                            keep_audio=augmenting)
    val_meta = fill_cache(val_decoded, len(validation), "decoding validation audio", progress)
    print(f"training: {len(train)} files -> {len(train_meta['label'])} examples; "
          f"validation: {len(validation)} files -> {len(val_meta['label'])} examples; "
          f"{len(class_names)} classes; {len(skipped)} files skipped")

    class_weights = balanced_class_weights(train_meta["label"]) if params.class_weights else None
    n_train = len(train_meta["label"])
    if augmenting:
        pool = ExamplePool(train_meta.pop("audio"), train_meta["label"], train_meta["padded"],
                           audio.sr, params.shape)
        augmented = AugmentedTrainingSet(pool, augmentations, params.seed, params.oversample,
                                         warn=print)
        print(augmented.summary())
        info["training_examples_per_epoch"] = augmented.summary()
        train_ds = augmented.dataset(parse, params.batch_size, class_weights)
    else:
        train_ds = training_dataset(train_decoded, parse, params.batch_size, params.seed,
                                    n_train, class_weights)
    val_ds = evaluation_dataset(val_decoded, parse, params.batch_size, len(val_meta["label"]))

    # ---- model -----------------------------------------------------------------------------
    network, transfer = build_network(model_spec, params.shape, params.n_classes,
                                      resolve_path(params.pretrained_path) if params.pretrained_path
                                      else None, params.freeze_base)
    if transfer:
        print(transfer.summary())
        info["pretrained"] = {"path": transfer.source, "layers_loaded": len(transfer.copied),
                              "new_head": transfer.new_head, "frozen": len(transfer.frozen)}
    expected = tuple(network.input_shape[1:])
    if expected != tuple(params.shape):
        hint = (" (a model with its own front end takes waveforms: use waveform_parser)"
                if len(expected) == 1 else "")
        raise ValueError(f"the model takes inputs of shape {expected}, the parse function gives "
                         f"{tuple(params.shape)}{hint}")
    # A sigmoid head is a multi-label head (PANNs, HTS-AT): binary cross-entropy per class.
    multi_label = output_activation(network) == "sigmoid"
    loss = (keras.losses.BinaryCrossentropy() if multi_label
            else keras.losses.CategoricalCrossentropy())
    # Standardisation layers (feature_mlp) learn their statistics from the training examples
    # as they are, before any augmentation.
    standardized = adapt_standardization(network, lambda: (
        inputs.numpy() for inputs, _ in evaluation_dataset(train_decoded, parse, 256)))
    if standardized:
        print(f"standardised the inputs ({', '.join(standardized)}) on the {n_train} "
              f"training examples")
    network.compile(optimizer=keras.optimizers.Adam(params.lr), loss=loss,
                    metrics=training_metrics(params.task, params.n_classes, multi_label))
    info["model_name"] = network.name
    info["model_parameters"] = int(network.count_params())
    atomic_write_text(job.path / "job.json", json.dumps(info, indent=2) + "\n")

    callbacks = job_callbacks(params, job.path, tracker)
    network.fit(train_ds, validation_data=val_ds, epochs=params.n_epochs, callbacks=callbacks,
                shuffle=False,  # the dataset shuffles itself, from the job's seed
                verbose=1 if progress and _interactive() else 2)
    network.save(job.path / "last_model.keras")
    for leftover in job.path.glob(".decoded_*"):
        leftover.unlink()

    # ---- evaluate the best model exactly as a replay will ------------------------------------
    history = pd.read_csv(job.path / "history.csv")
    column = history[params.target_metric]
    best_row = best_history_row(history, params.target_metric)
    info["best_epoch"] = int(history["epoch"].iloc[best_row]) + 1
    info["epochs_run"] = len(history)
    best = load_model(job.path / "best_model.keras", compile=False)  # predicting only
    n_val = len(val_meta["label"])
    table, metrics = evaluation.evaluate_model(best, val_ds, val_meta, validation["path"],
                                               class_names, "validating best model", progress,
                                               groups=evaluation.file_groups(validation),
                                               task=params.task or None)
    metrics["best_epoch"] = info["best_epoch"]
    table.to_csv(job.path / "predictions.csv", index=False, float_format="%.9g")
    atomic_write_text(job.path / "metrics.json", json.dumps(metrics, indent=2) + "\n")

    header = {
        "job": str(job.path), "trainer": f"{info['trainer_file']} (job block {info['block'] + 1})",
        "description": params.description or "-", "started": info["started"], "reported": _now(),
        "datasets": ", ".join(name for name, flag in info["datasets"].items() if flag),
        "classes": f"{len(class_names)}: {', '.join(class_names)}",
        "split": _describe_split(params),
        "training": f"{len(train)} files -> {len(train_meta['label'])} examples"
                    + (f" ({info['training_examples_per_epoch']})"
                       if "training_examples_per_epoch" in info else ""),
        "augmentation": "; ".join(f"{a.domain}: {a!r}" for a in augmentations) or "none",
        "task": params.task or "labels of the datasets",
        "validation": f"{len(validation)} files -> {n_val} examples",
        "model": f"{network.name} ({info['model_parameters']:,} parameters)",
        "pretrained": (f"{params.pretrained_path} ({info['pretrained']['layers_loaded']} layers; "
                       f"new head: {', '.join(info['pretrained']['new_head']) or 'none'}; "
                       f"{'base frozen' if params.freeze_base else 'all layers trained'})")
        if params.pretrained_path else "none",
        "input": f"{params.shape} from {info['parse_function']}",
        "epochs": f"{info['epochs_run']} run, best {info['best_epoch']} "
                  f"({params.target_metric} = {column.iloc[best_row]:.4f})",
        "mlflow": f"{tracker.uri} run {tracker.run_id}" if tracker.run_id else "off",
    }
    from modules import reports

    report = reports.format_report(header, metrics, class_names, skipped.items())
    atomic_write_text(job.path / "report.txt", report)
    print(report)
    atomic_write_text(job.path / "skipped.txt",
                      "".join(f"{p}\t{r}\n" for p, r in skipped.items()))
    reports.plot_confusion_matrix(metrics["examples"]["confusion_matrix"], class_names,
                                  job.path / "confusion_matrix.png",
                                  title=f"{params.mode}/{info['trainer']} job {job.job_id}: "
                                        f"accuracy {metrics['examples']['accuracy']:.3f}")
    reports.plot_history(history, job.path / "history.png", best_epoch=info["best_epoch"])
    if "patients" in metrics["examples"]:
        reports.plot_patient_confusion(
            metrics["examples"]["patients"], job.path / "patient_confusion_matrix.png",
            title=f"{params.mode}/{info['trainer']} job {job.job_id}: patients")
    if audio.features:
        # Feature vectors have no time-frequency layout to draw or to attribute with Grad-CAM.
        atomic_write_text(job.path / "examples.txt", "no spectrogram examples or Grad-CAM maps: "
                          "this job's inputs are feature vectors, not spectrograms\n")
        reports.write_true_negatives(table, reports.outcome_sets(table, class_names),
                                     job.path / "tns.txt")
    else:
        _write_examples(job.path, best, val_ds, table, class_names, params, progress)

    summary = {"best_accuracy": metrics["examples"]["accuracy"],
               "best_balanced_accuracy": metrics["examples"]["balanced_accuracy"],
               "best_macro_f1": metrics["examples"]["macro_f1"], "best_epoch": info["best_epoch"]}
    for key in ("sensitivity", "specificity", "icbhi_score", "roc_auc"):  # respiratory tasks
        value = metrics["examples"].get(key)
        if isinstance(value, float) and np.isfinite(value):
            summary[f"best_{key}"] = value
    tracker.log_metrics(summary, step=info["best_epoch"])
    for name in ("report.txt", "params.json", "metrics.json", "history.csv", "predictions.csv",
                 "confusion_matrix.png", "history.png", "train.csv", "validation.csv",
                 "augmentation.json", "patient_confusion_matrix.png"):
        if not (job.path / name).exists():
            continue
        tracker.log_artifact(job.path / name)
    tracker.log_artifact(job.path / "best_model.keras", "model")
    tracker.log_artifacts(job.path / "gradcam", "gradcam")
    return tracker


def start_tracker(params: Parameters, cache_root: Path, info: dict, job_dir: Path):
    """The job's MLflow run (named trainer/job, tagged with the folder), parameters logged."""
    from modules.tracking import Tracker

    tracker = Tracker(params.tracking_uri, cache_root, experiment=params.mode,
                      run_name=f"{info['trainer']}/{job_dir.name}",
                      tags={"job_dir": str(job_dir), "trainer": info["trainer"],
                            "mlflow.note.content": params.description})
    tracker.log_params(params.snapshot())
    return tracker


def best_history_row(history: pd.DataFrame, target_metric: str) -> int:
    """Row of ``history`` (the CSV log) at the best epoch by ``target_metric``."""
    from modules.training_metrics import metric_direction

    column = history[target_metric]
    return int(column.idxmin() if metric_direction(target_metric) == "min" else column.idxmax())


def job_callbacks(params: Parameters, job_dir: Path, tracker) -> list:
    """Best checkpoint, early stopping and LR reduction on ``params.target_metric``, NaN stop,
    MLflow, and the CSV history (last: it sees the learning rate the others add)."""
    import keras

    from modules.tracking import TrackerCallback
    from modules.training_metrics import metric_direction

    direction = metric_direction(params.target_metric)
    return [
        keras.callbacks.ModelCheckpoint(str(job_dir / "best_model.keras"),
                                        monitor=params.target_metric, mode=direction,
                                        save_best_only=True),
        keras.callbacks.EarlyStopping(monitor=params.target_metric, mode=direction,
                                      patience=params.es_patience, min_delta=params.min_delta),
        keras.callbacks.ReduceLROnPlateau(monitor=params.target_metric, mode=direction,
                                          factor=params.factor, patience=params.lr_patience,
                                          min_lr=params.min_lr, min_delta=params.min_delta),
        keras.callbacks.TerminateOnNaN(),
        TrackerCallback(tracker),
        keras.callbacks.CSVLogger(str(job_dir / "history.csv")),
    ]


def load_and_split(run: Parameters, datasets: dict):
    """(train, validation, class_names) of the flagged datasets, split as ``run`` says; the
    one place that turns a job block's data settings into its two parts."""
    from modules.data import load_datasets, split_table

    # "sed" chooses the training path, not the labels: the clips folders give the events
    table, class_names = load_datasets(datasets, data_root=resolve_path(run.data_root),
                                       task=run.task if run.task not in ("", "sed") else None)
    train, validation = split_table(table, method=run.split, validation_fold=run.validation_fold,
                                    validation_size=run.validation_size, seed=run.seed,
                                    n_folds=run.n_folds)
    return train, validation, class_names


def _adopt_model_frontend(run: Parameters, model_spec) -> None:
    """A model with its own front-end preset (PANNs, HTS-AT) sets the job's sample rate, window,
    hop and mel settings, so the audio is decoded and resampled at the rate its weights expect."""
    import keras

    from modules.models.finetune import builder_preset
    from modules.models.presets import frontend_settings

    if isinstance(model_spec, keras.Model):
        settings = frontend_settings(model_spec)
        wanted = None if settings is None else {
            "sr": settings["sr"], "n_fft": settings["n_fft"], "hop_length": settings["hop_length"],
            "n_mels": settings["n_mels"], "fmin": settings["fmin"], "fmax": settings["fmax"]}
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


def _check_feature_job(augmentations: list, info: dict) -> None:
    """A job on feature vectors: no audio to augment; note where its features come from."""
    from modules.augment import AugmentationError

    audio_domain = [a.name for a in augmentations if a.domain == "audio"]
    if audio_domain:
        raise AugmentationError(
            f"{', '.join(audio_domain)} in audio_aug_params: this job trains on feature vectors "
            f"(a feature set), which have no audio to augment; leave audio_aug_params empty "
            f"(mixup in spec_aug_params mixes feature vectors)")
    info["inputs"] = "feature vectors"


def _describe_split(params: Parameters) -> str:
    folds = params.n_folds or round(1 / params.validation_size)
    fold = f"validation fold {params.validation_fold or 1} of {folds}"
    if params.split in ("fold", "auto"):
        return f"{params.split} (validation fold {params.validation_fold})"
    if params.split == "group":
        return f"group (no group, e.g. patient, on both sides; {fold})"
    if params.split == "official":
        return f"official (the dataset's own split; files without one split by group, {fold})"
    return params.split


def _interactive() -> bool:
    return sys.stdout.isatty() or os.environ.get("SPECTRAIN_INTERACTIVE") == "1"


def _gather_inputs(eval_ds, positions: set[int]) -> dict[int, np.ndarray]:
    """Model inputs of the examples at ``positions`` (dataset order)."""
    found, offset = {}, 0
    for inputs, _ in eval_ds:
        inputs = inputs.numpy()
        for i in range(len(inputs)):
            if offset + i in positions:
                found[offset + i] = inputs[i]
        offset += len(inputs)
        if len(found) == len(positions):
            break
    return found


def _display_spectrograms(inputs: dict[int, np.ndarray], params: Parameters) -> dict[int, np.ndarray]:
    """(bins, frames) images to show: the input itself for image models, else its log-mel."""
    if not inputs:
        return {}
    first = next(iter(inputs.values()))
    if first.ndim == 3:
        return {k: v[..., 0] for k, v in inputs.items()}
    from modules.frontend import frontend_from_parameters

    frontend = frontend_from_parameters(params)
    keys = sorted(inputs)
    images = np.asarray(frontend(np.stack([inputs[k] for k in keys])))[..., 0]
    return dict(zip(keys, images))


def _write_examples(job_dir: Path, model, eval_ds, table: pd.DataFrame, class_names, params,
                    progress: bool) -> None:
    from tqdm.auto import tqdm

    from modules import reports
    from modules.interpret import grad_cam

    outcomes = reports.outcome_sets(table, class_names)
    chosen = reports.select_examples(outcomes, params.n_example_plots)
    reports.write_true_negatives(table, outcomes, job_dir / "tns.txt")
    # Grad-CAM on a spread of validation examples: the first of each true class, round robin.
    by_class: dict[int, list[int]] = {}
    for position, true_index in enumerate(table["true_index"]):
        by_class.setdefault(int(true_index), []).append(position)
    gradcam_positions, depth = [], 0
    while len(gradcam_positions) < min(params.n_gradcam, len(table)):
        for positions in by_class.values():
            if depth < len(positions) and len(gradcam_positions) < params.n_gradcam:
                gradcam_positions.append(positions[depth])
        depth += 1
    wanted = {p for items in chosen.values() for p, _ in items} | set(gradcam_positions)
    inputs = _gather_inputs(eval_ds, wanted)
    images = _display_spectrograms(inputs, params)
    total = sum(len(items) for items in chosen.values()) + len(gradcam_positions)
    with tqdm(total=total, desc="writing example plots", unit="plot", disable=not progress) as bar:
        reports.write_example_plots(job_dir, table, chosen, images, progress=bar.update)
        folder = job_dir / "gradcam"
        folder.mkdir(exist_ok=True)
        try:
            batch = np.stack([inputs[p] for p in gradcam_positions])
            first_image = images[gradcam_positions[0]]
            heatmaps = grad_cam(model, batch, output_size=first_image.shape)
        except Exception as error:  # noqa: BLE001 - a model Grad-CAM cannot read loses only the maps
            (folder / "unavailable.txt").write_text(f"Grad-CAM failed: {error}\n")
            print(f"warning: Grad-CAM skipped: {error}")
            return
        for position, heatmap in zip(gradcam_positions, heatmaps):
            row = table.iloc[position]
            title = (f"Grad-CAM for predicted {row['predicted']}: {Path(row['path']).name} "
                     f"chunk {row['chunk_index']} (true {row['true']})")
            reports.plot_spectrogram(images[position],
                                     folder / f"{reports.example_name(row)}.png", title, heatmap)
            bar.update()
