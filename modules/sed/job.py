"""Sound event detection jobs: ``parameters.task = "sed"`` in a job block.

The datasets are folders written by ``spectrain clips`` (a ``metadata.tsv`` beside the WAVs).
Every epoch each training clip gives a new random window of ``audio_length`` seconds with frame
targets (classes x ``event_bins``); validation uses one fixed window per clip
(:mod:`modules.sed.windows`). Clips of one source recording stay on one side of the split
(``split`` "auto" becomes "group"). The model is any builder or model with a
``framewise_output``: ``sed_crnn``, or the decision-level PANNs (their frames are resized to
``event_bins``); it is trained with frame-level binary cross-entropy, plus a clip-level term
weighted by ``sed_clip_weight`` (:func:`frame_clip_loss`).

The job folder holds what a classification job holds, with SED metrics instead of a confusion
matrix: ``metrics.json`` (frame-level P/R/F1/AP per class, event-based F1 with 200 ms onset
collars), ``report.txt``, ``predictions.npz`` (the validation activity), ``history.*``,
``best_model.keras`` (it outputs the framewise activity only) and ``examples/`` PNGs of
validation windows with the activity curves over the spectrogram and the true events.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd

from modules.jobs import atomic_write_text, stamped_path

FRAMEWISE = "framewise_output"


def frame_clip_loss(clip_weight: float):
    """Frame-level binary cross-entropy, plus ``clip_weight`` times the binary cross-entropy of
    the clip-level presence (the maximum over the event bins of targets and outputs): the clip
    term rewards getting *whether* an event is in the window right even where its exact bins
    are uncertain. ``y`` is (batch, event_bins, classes)."""
    import keras
    from keras import ops

    def loss(y_true, y_pred):
        frames = ops.mean(keras.losses.binary_crossentropy(y_true, y_pred), axis=-1)
        if not clip_weight:
            return frames
        clips = keras.losses.binary_crossentropy(ops.max(y_true, axis=1), ops.max(y_pred, axis=1))
        return frames + clip_weight * clips

    return loss


def _clips_of(table: pd.DataFrame) -> pd.DataFrame:
    """The clip rows (with their events) of a dataset table, in table order."""
    from modules.sed.windows import load_clip_table

    by_path = {}
    for annotation in sorted(set(table["annotation"].dropna())):
        clips, _ = load_clip_table(Path(annotation).parent)
        by_path.update({row["path"]: row for row in clips.to_dict("records")})
    missing = [path for path in table["path"] if path not in by_path]
    if missing:
        raise ValueError(f"a sound event detection job needs `spectrain clips` folders as "
                         f"datasets; {missing[0]} is not a clip of one")
    return pd.DataFrame([by_path[path] for path in table["path"]]).reset_index(drop=True)


def _framewise_network(model_spec, shape, n_classes: int, event_bins: int):
    """The job's model reduced to its framewise output, resized to ``event_bins``."""
    import keras

    from modules.models.sed_crnn import FramesToBins

    if isinstance(model_spec, keras.Model):
        model = model_spec
    else:
        target = getattr(model_spec, "func", model_spec)
        try:
            takes_bins = "event_bins" in inspect.signature(target).parameters
        except (TypeError, ValueError):
            takes_bins = False
        model = (model_spec(tuple(shape), n_classes, event_bins=event_bins) if takes_bins
                 else model_spec(tuple(shape), n_classes))
    outputs = model.output
    if isinstance(outputs, dict):
        if FRAMEWISE not in outputs:
            raise ValueError(f"model {model.name!r} has no {FRAMEWISE!r} output (outputs: "
                             f"{', '.join(outputs)}); a sound event detection job needs one")
        framewise = outputs[FRAMEWISE]
    else:
        raise ValueError(f"model {model.name!r} gives one output; a sound event detection job "
                         f"needs a {FRAMEWISE!r} (e.g. sed_crnn or a decision-level PANNs)")
    if framewise.shape[1] != event_bins:
        framewise = FramesToBins(event_bins, name="to_event_bins")(framewise)
    if tuple(framewise.shape[1:]) != (event_bins, n_classes):
        raise ValueError(f"{model.name}: framewise output {tuple(framewise.shape[1:])}, expected "
                         f"(event_bins={event_bins}, classes={n_classes})")
    return keras.Model(model.input, framewise, name=model.name)


def _window_events(clips: pd.DataFrame, starts_s: np.ndarray, window_s: float) -> pd.DataFrame:
    """True events of each validation window, in window time, file = the clip."""
    rows = []
    for clip, start in zip(clips.itertuples(index=False), starts_s):
        for onset, offset, label in clip.events:
            onset, offset = max(onset - start, 0.0), min(offset - start, window_s)
            if offset > onset:
                rows.append({"file": clip.path, "onset": onset, "offset": offset,
                             "label": label})
    return pd.DataFrame(rows, columns=["file", "onset", "offset", "label"])


def evaluate_windows(activity: np.ndarray, targets: np.ndarray, clips: pd.DataFrame,
                     starts_s: np.ndarray, window_s: float, classes, threshold: float) -> dict:
    """Frame- and event-level metrics of validation windows. ``activity`` and ``targets``
    are (n, event_bins, classes)."""
    from modules.sed.metrics import activity_to_events, event_metrics, frame_metrics

    n, bins, n_classes = activity.shape
    frames = frame_metrics(targets.reshape(-1, n_classes), activity.reshape(-1, n_classes),
                           classes, threshold=threshold)
    estimated = [activity_to_events(activity[i], window_s / bins, classes,
                                    thresholds=threshold, file=clips["path"].iloc[i])
                 for i in range(n)]
    estimated = pd.concat([e for e in estimated if len(e)] or [pd.DataFrame(
        columns=["file", "onset", "offset", "label"])], ignore_index=True)
    reference = _window_events(clips, starts_s, window_s)
    events = event_metrics(reference, estimated, classes)
    return {"frames": frames, "events": events, "n_windows": int(n),
            "estimated_events": estimated}


def _json(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def run_sed_training(run, job, datasets, model_spec, parse_function, info, cache_root,
                     augmentations, progress: bool):
    import keras
    import tensorflow as tf

    from modules import reports
    from modules.data import TABLE_COLUMNS, check_no_group_leak, testing_subset
    from modules.sed.metrics import format_sed_report
    from modules.sed.windows import RandomWindows
    from modules.training import (_adopt_model_frontend, best_history_row, job_callbacks,
                                  load_and_split, start_tracker)

    if augmentations:
        raise ValueError("augmentation lists are not supported in sound event detection jobs "
                         "yet: the random window per clip and epoch is the augmentation")
    if run.split == "auto":
        run.split = "group"  # clips of one recording never on both sides
    train, validation, _ = load_and_split(run, datasets)
    check_no_group_leak(train, validation)
    if run.testing:
        run.n_epochs = run.testing_epochs
        train = testing_subset(train, run.testing_files_per_class, seed=run.seed)
        validation = testing_subset(validation, run.testing_files_per_class, seed=run.seed)
    for name, part in (("train", train), ("validation", validation)):
        part.reindex(columns=TABLE_COLUMNS).to_csv(job.path / f"{name}.csv", index=False)
    train_clips, validation_clips = _clips_of(train), _clips_of(validation)
    classes = sorted({label for clips in (train_clips, validation_clips)
                      for events in clips["events"] for _, _, label in events})
    if not classes:
        raise ValueError("the clips hold no annotated event: nothing to detect")
    if run.n_classes not in (None, len(classes)):
        raise ValueError(f"parameters.n_classes is {run.n_classes}, the clips have "
                         f"{len(classes)} event classes: {', '.join(classes)}")
    run.n_classes = len(classes)

    keras.utils.set_random_seed(run.seed)
    if run.deterministic:
        tf.config.experimental.enable_op_determinism()
    _adopt_model_frontend(run, model_spec)  # PANNs: the windows are decoded at the model's rate
    samples = int(round(run.audio_length * run.sr))
    parse = parse_function(run.freeze())
    run.shape = tuple(int(d) for d in parse(tf.zeros([1, samples]),
                                            tf.zeros([1, len(classes)]))[0].shape[1:])
    params = run.freeze()
    params.save(job.path / "params.json")
    info.update(class_names=classes, task="sed", event_bins=params.event_bins,
                window_seconds=params.audio_length)
    atomic_write_text(job.path / "job.json", json.dumps(info, indent=2) + "\n")
    tracker = start_tracker(params, cache_root, info, job.path)

    windows = dict(sr=params.sr, window_seconds=params.audio_length,
                   event_bins=params.event_bins, seed=params.seed)
    train_windows = RandomWindows(train_clips, classes, **windows)
    validation_windows = RandomWindows(validation_clips, classes, validation=True, **windows)
    skipped = train_windows.skipped + validation_windows.skipped
    print(f"training: {len(train_windows.clips)} clips, validation: "
          f"{len(validation_windows.clips)} clips; {len(classes)} event classes "
          f"({', '.join(classes)}); windows of {params.audio_length:g} s, "
          f"{params.event_bins} event bins; {len(skipped)} clips skipped")

    def to_model(audio, labels):
        inputs, _ = parse(audio, tf.zeros([tf.shape(audio)[0], len(classes)]))
        return inputs, tf.transpose(labels, [0, 2, 1])  # (batch, event_bins, classes)

    train_ds = train_windows.dataset(params.batch_size).map(to_model)
    val_ds = validation_windows.dataset(params.batch_size).map(to_model)

    network = _framewise_network(model_spec, params.shape, len(classes), params.event_bins)
    network.compile(optimizer=keras.optimizers.Adam(params.lr),
                    loss=frame_clip_loss(params.sed_clip_weight),
                    metrics=[keras.metrics.BinaryAccuracy(name="binary_accuracy"),
                             keras.metrics.AUC(curve="PR", name="pr_auc")])
    info["model_name"] = network.name
    info["model_parameters"] = int(network.count_params())
    atomic_write_text(job.path / "job.json", json.dumps(info, indent=2) + "\n")
    callbacks = job_callbacks(params, job.path, tracker)
    network.fit(train_ds, validation_data=val_ds, epochs=params.n_epochs, callbacks=callbacks,
                shuffle=False,  # the windows dataset shuffles itself, from the job's seed
                verbose=2)
    network.save(job.path / "last_model.keras")

    history = pd.read_csv(job.path / "history.csv")
    column = history[params.target_metric]
    best_row = best_history_row(history, params.target_metric)
    info["best_epoch"] = int(history["epoch"].iloc[best_row]) + 1
    info["epochs_run"] = len(history)
    result = evaluate_job(job.path, progress=progress, params=params, classes=classes,
                          windows=validation_windows, parse=parse)
    metrics = result["metrics"]
    metrics["best_epoch"] = info["best_epoch"]
    atomic_write_text(job.path / "metrics.json",
                      json.dumps(metrics, indent=2, default=_json) + "\n")
    np.savez_compressed(job.path / "predictions.npz", activity=result["activity"],
                        targets=result["targets"], starts=result["starts"],
                        clips=np.array(validation_windows.clips["path"].tolist()))
    result["estimated"].to_csv(job.path / "validation_events.csv", index=False)

    header = {
        "job": str(job.path), "trainer": f"{info['trainer_file']} (job block {info['block'] + 1})",
        "description": params.description or "-", "started": info["started"],
        "datasets": ", ".join(name for name, flag in info["datasets"].items() if flag),
        "task": f"sound event detection, {len(classes)} classes: {', '.join(classes)}",
        "windows": f"{params.audio_length:g} s, {params.event_bins} event bins "
                   f"({params.audio_length / params.event_bins:g} s each)",
        "split": f"{params.split} (validation {len(validation_windows.clips)} clips, training "
                 f"{len(train_windows.clips)})",
        "model": f"{network.name} ({info['model_parameters']:,} parameters)",
        "epochs": f"{info['epochs_run']} run, best {info['best_epoch']} "
                  f"({params.target_metric} = {column.iloc[best_row]:.4f})",
        "mlflow": f"{tracker.uri} run {tracker.run_id}" if tracker.run_id else "off",
    }
    width = max(map(len, header)) + 2
    report = ("spectrain sound event detection report\n" + "=" * 38 + "\n\n"
              + "\n".join(f"{key + ':':<{width}}{value}" for key, value in header.items())
              + "\n\n" + format_sed_report(metrics["frames"], metrics["events"], classes)
              + "\nSkipped clips (" + str(len(skipped)) + ")\n"
              + "".join(f"{path}\t{reason}\n" for path, reason in skipped))
    atomic_write_text(job.path / "report.txt", report)
    print(report)
    reports.plot_history(history, job.path / "history.png", best_epoch=info["best_epoch"])
    _plot_examples(job.path, result, validation_windows, classes, params)
    tracker.log_metrics({"best_frame_f1": float(metrics["frames"]["micro"]["f1"]),
                         "best_event_f1": float(metrics["events"]["overall"]["f1"]),
                         "best_epoch": info["best_epoch"]}, step=info["best_epoch"])
    for name in ("report.txt", "params.json", "metrics.json", "history.csv", "history.png",
                 "train.csv", "validation.csv"):
        tracker.log_artifact(job.path / name)
    tracker.log_artifact(job.path / "best_model.keras", "model")
    return tracker


def evaluate_job(job_dir: Path, progress: bool, params, classes, windows, parse) -> dict:
    """The best model on the fixed validation windows: activity, targets and metrics."""
    from modules.models import load_model

    audio, targets = windows.numpy_epoch(0)
    targets = np.transpose(targets, (0, 2, 1))
    model = load_model(Path(job_dir) / "best_model.keras", compile=False)
    import tensorflow as tf

    activity = []
    for start in range(0, len(audio), params.batch_size):
        batch = tf.constant(audio[start:start + params.batch_size])
        inputs, _ = parse(batch, tf.zeros([batch.shape[0], len(classes)]))
        activity.append(np.asarray(model(inputs, training=False)))
    activity = np.concatenate(activity)
    starts = windows.starts(0) / params.sr
    metrics = evaluate_windows(activity, targets, windows.clips, starts, params.audio_length,
                               classes, params.sed_threshold)
    estimated = metrics.pop("estimated_events")
    return {"audio": audio, "activity": activity, "targets": targets, "starts": starts,
            "metrics": metrics, "estimated": estimated}


def _plot_examples(job_dir: Path, result: dict, windows, classes, params) -> None:
    """PNGs of a few validation windows: activity over the spectrogram, true events."""
    try:
        from modules.sed.plots import plot_detection
    except ImportError:  # the plots module is optional here
        return
    from modules.frontend import frontend_from_parameters

    folder = job_dir / "examples"
    folder.mkdir(exist_ok=True)
    audio = result["audio"]
    frontend = frontend_from_parameters(params)
    count = min(params.n_example_plots, len(audio))
    for i in range(count):
        clip = windows.clips.iloc[i]
        start = result["starts"][i]
        spectrogram = np.asarray(frontend(audio[i:i + 1]))[0, ..., 0]
        true = _window_events(windows.clips.iloc[i:i + 1], [start], params.audio_length)
        estimated = result["estimated"][result["estimated"]["file"] == clip["path"]]
        plot_detection(spectrogram, params.audio_length / spectrogram.shape[1],
                       result["activity"][i], classes,
                       folder / f"{i:04d}-{Path(clip['path']).stem}.png",
                       f"{Path(clip['path']).name} from {start:.2f} s", true_events=true,
                       predicted_events=estimated, thresholds=params.sed_threshold,
                       activity_seconds=params.audio_length / params.event_bins)


def replay_sed(job_dir, progress: bool = True):
    """Replay a sound event detection job: the best model on the same validation windows; the
    activity and metrics must equal the recorded ones."""
    from modules.parameters import Parameters
    from modules.parsers import resolve
    from modules.replay import ReplayResult
    from modules.sed.windows import RandomWindows

    job_dir = Path(job_dir)
    params = Parameters.load(job_dir / "params.json").freeze()
    info = json.loads((job_dir / "job.json").read_text())
    classes = info["class_names"]
    validation = pd.read_csv(job_dir / "validation.csv", dtype=str, keep_default_na=False,
                             na_values=[""])
    windows = RandomWindows(_clips_of(validation), classes, sr=params.sr,
                            window_seconds=params.audio_length, event_bins=params.event_bins,
                            seed=params.seed, validation=True)
    parse = resolve(info["parse_function"])(params)
    result = evaluate_job(job_dir, progress, params, classes, windows, parse)
    recorded = json.loads((job_dir / "metrics.json").read_text())
    before = np.load(job_dir / "predictions.npz")["activity"]
    difference = (float(np.abs(before - result["activity"]).max())
                  if before.shape == result["activity"].shape else float("inf"))
    now = json.loads(json.dumps(result["metrics"], default=_json))
    identical = difference == 0.0 and all(
        recorded[level][key] == now[level][key] for level in ("frames", "events")
        for key in ("micro", "overall") if key in now[level])
    path = stamped_path(job_dir, "replay-", ".txt")
    text = (f"replay of {job_dir}\nframe F1 (micro): recorded "
            f"{recorded['frames']['micro']['f1']:.6f}, replayed {now['frames']['micro']['f1']:.6f}"
            f"\nevent F1: recorded {recorded['events']['overall']['f1']:.6f}, replayed "
            f"{now['events']['overall']['f1']:.6f}\nlargest difference in any frame activity: "
            f"{difference:.3g}\n"
            + ("IDENTICAL to the recorded metrics\n" if identical
               else "DIFFERENT from the recorded metrics\n"))
    atomic_write_text(path, text)
    print(text + f"replay report: {path}")
    return ReplayResult(now, recorded, path, identical, difference)


def detect_with_job(job_dir, inputs, output_dir, hop_seconds=None, threshold=None,
                    median_filter=None, min_duration: float = 0.0, min_gap: float = 0.0,
                    progress: bool = True) -> pd.DataFrame:
    """``spectrain detect``: a sound event detection job's best model over long recordings.

    Windows of the job's ``audio_length`` every ``hop_seconds`` (default: half a window,
    rounded to whole event bins) go through the job's own front end and model; overlapping
    outputs are averaged, thresholded (default: the job's ``sed_threshold``) and merged into
    events, written to ``output_dir`` as ``events.csv`` and a Raven table."""
    import tensorflow as tf

    from modules.models import load_model
    from modules.parameters import Parameters
    from modules.parsers import resolve
    from modules.sed.detect import detect

    job_dir = Path(job_dir)
    if not (job_dir / "best_model.keras").is_file() or not (job_dir / "params.json").is_file():
        raise ValueError(f"{job_dir} is not a finished job folder (no best_model.keras)")
    params = Parameters.load(job_dir / "params.json").freeze()
    if params.task != "sed":
        raise ValueError(f"{job_dir} is not a sound event detection job (task "
                         f"{params.task or 'classification'!r})")
    info = json.loads((job_dir / "job.json").read_text())
    classes = info["class_names"]
    frame_hop = params.audio_length / params.event_bins
    if hop_seconds is None:
        hop_seconds = frame_hop * max(1, params.event_bins // 2)
    for option, value in (("threshold", threshold), ("median filter", median_filter)):
        unknown = sorted(set(value) - set(classes)) if isinstance(value, dict) else []
        if unknown:
            raise ValueError(f"{option} for unknown class(es) {', '.join(unknown)}; the job's "
                             f"classes are {', '.join(classes)}")
    if isinstance(threshold, dict):  # classes not named keep the job's threshold
        threshold = {name: threshold.get(name, params.sed_threshold) for name in classes}
    if isinstance(median_filter, dict):  # classes not named are not filtered
        median_filter = {name: median_filter.get(name, 1) for name in classes}
    model = load_model(job_dir / "best_model.keras", compile=False)
    parse = resolve(info["parse_function"])(params)

    def predict_fn(batch):
        batch = tf.constant(np.asarray(batch, np.float32))
        inputs, _ = parse(batch, tf.zeros([batch.shape[0], len(classes)]))
        return np.asarray(model(inputs, training=False))

    return detect(list(inputs), predict_fn, sr=params.sr, window_seconds=params.audio_length,
                  hop_seconds=hop_seconds, frame_hop_seconds=frame_hop, classes=classes,
                  output_dir=output_dir,
                  thresholds=params.sed_threshold if threshold is None else threshold,
                  median_filter=median_filter, min_duration=min_duration, min_gap=min_gap,
                  progress=progress)
