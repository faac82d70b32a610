"""Sound event detection jobs' pieces: the loss, the framewise network, window evaluation and
example plots (the task itself, its hooks and ``spectrain detect``: :mod:`modules.tasks.sed`).

In a job block with ``parameters.task = "sed"`` the datasets are folders written by
``spectrain clips`` (a ``metadata.tsv`` beside the WAVs). Every epoch each training clip gives a new random window of ``audio_length`` seconds with frame
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
from pathlib import Path

import numpy as np
import pandas as pd

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


def clips_of(table: pd.DataFrame) -> pd.DataFrame:
    """The clip rows (with their events) of a dataset table, in table order."""
    from modules.data.clip_folders import load_clip_table

    by_path = {}
    for annotation in sorted(set(table["annotation"].dropna())):
        clips, _ = load_clip_table(Path(annotation).parent)
        by_path.update({row["path"]: row for row in clips.to_dict("records")})
    missing = [path for path in table["path"] if path not in by_path]
    if missing:
        raise ValueError(f"a sound event detection job needs `spectrain clips` folders as "
                         f"datasets; {missing[0]} is not a clip of one")
    return pd.DataFrame([by_path[path] for path in table["path"]]).reset_index(drop=True)


def framewise_network(model_spec, shape, n_classes: int, event_bins: int):
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


def window_events(clips: pd.DataFrame, starts_s: np.ndarray, window_s: float) -> pd.DataFrame:
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
    reference = window_events(clips, starts_s, window_s)
    events = event_metrics(reference, estimated, classes)
    return {"frames": frames, "events": events, "n_windows": int(n),
            "estimated_events": estimated}


def evaluate_on_windows(model, params, classes, windows, parse) -> dict:
    """``model`` on the fixed validation windows: activity, targets and metrics."""
    import tensorflow as tf

    audio, targets = windows.numpy_epoch(0)
    targets = np.transpose(targets, (0, 2, 1))
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


def plot_examples(job_dir: Path, result: dict, windows, classes, params) -> None:
    """PNGs of a few validation windows: activity over the spectrogram, true events."""
    from modules.frontend import frontend_from_parameters
    from modules.sed.plots import plot_detection

    folder = job_dir / "examples"
    folder.mkdir(exist_ok=True)
    audio = result["audio"]
    frontend = frontend_from_parameters(params)
    count = min(params.n_example_plots, len(audio))
    for i in range(count):
        clip = windows.clips.iloc[i]
        start = result["starts"][i]
        spectrogram = np.asarray(frontend(audio[i:i + 1]))[0, ..., 0]
        true = window_events(windows.clips.iloc[i:i + 1], [start], params.audio_length)
        estimated = result["estimated"][result["estimated"]["file"] == clip["path"]]
        plot_detection(spectrogram, params.audio_length / spectrogram.shape[1],
                       result["activity"][i], classes,
                       folder / f"{i:04d}-{Path(clip['path']).stem}.png",
                       f"{Path(clip['path']).name} from {start:.2f} s", true_events=true,
                       predicted_events=estimated, thresholds=params.sed_threshold,
                       activity_seconds=params.audio_length / params.event_bins)


