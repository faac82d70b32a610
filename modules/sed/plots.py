"""Pictures of sound event detection: one clip's detections, and a long recording's timeline.

* :func:`plot_detection`: the spectrogram (time in seconds) with the true events shaded and
  labelled and the predicted events outlined, above one activity curve per class with its
  threshold dashed.
* :func:`plot_event_timeline`: true vs predicted events as horizontal bars, one row per class,
  one panel per recording.

Both write a PNG and return the :class:`matplotlib.figure.Figure` (object API, no pyplot, as in
:mod:`modules.reports`), so that callers and tests can look at its Axes.

Events are DataFrames with columns onset, offset (s) and label (a ``file`` column is optional;
see :mod:`modules.sed.annotations`).
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import matplotlib

matplotlib.use("Agg")  # files only
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from modules.plot_text import save_figure

PathArg = Union[str, os.PathLike]
UNKNOWN_COLOUR = (0.5, 0.5, 0.5, 1.0)


def class_colours(classes: Sequence[str]) -> dict[str, tuple]:
    """A distinct colour per class: tab10 up to 10 classes, tab20 up to 20, then a cycle."""
    cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(classes)}


def _check_events(events, what: str) -> Optional[pd.DataFrame]:
    if events is None:
        return None
    if not isinstance(events, pd.DataFrame):
        raise ValueError(f"{what}: expected a DataFrame with onset, offset, label; got "
                         f"{type(events).__name__}")
    missing = [c for c in ("onset", "offset", "label") if c not in events.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}")
    onset = pd.to_numeric(events["onset"], errors="coerce").to_numpy(float)
    offset = pd.to_numeric(events["offset"], errors="coerce").to_numpy(float)
    if not (np.isfinite(onset).all() and np.isfinite(offset).all()):
        raise ValueError(f"{what}: onset and offset must be numbers of seconds")
    if (offset < onset).any():
        raise ValueError(f"{what}: an event ends before it starts")
    out = pd.DataFrame({"onset": onset, "offset": offset,
                        "label": events["label"].astype(str).to_numpy()})
    if "file" in events.columns:
        out["file"] = events["file"].astype(str).to_numpy()
    return out


def _thresholds(thresholds, n: int) -> Optional[np.ndarray]:
    if thresholds is None:
        return None
    if isinstance(thresholds, numbers.Real):
        return np.full(n, float(thresholds))
    values = np.asarray(thresholds, dtype=float).reshape(-1)
    if values.shape != (n,):
        raise ValueError(f"thresholds: expected one number or {n} (one per class), got "
                         f"{values.size}")
    return values


def plot_detection(spectrogram, frame_seconds: float, activity, classes: Sequence[str],
                   path: PathArg, title: str = "", true_events=None, predicted_events=None,
                   thresholds=None, activity_seconds: Optional[float] = None,
                   max_frequency: Optional[float] = None) -> Figure:
    """The spectrogram with events over it, and the per-class activity below.

    Args:
        spectrogram: (bins, frames) in dB, low frequencies first.
        frame_seconds: the spectrogram's time step (s per frame).
        activity: (steps, classes) in [0, 1] (1-D for one class).
        classes: the class names, one per activity column (2-10 stay legible).
        path: the PNG to write (its folder is created).
        title: the figure's title.
        true_events: DataFrame onset, offset (s), label: shaded spans labelled with the class.
        predicted_events: same columns: outlined spans, labelled at the bottom.
        thresholds: one number, or one per class: dashed lines over the activity.
        activity_seconds: the activity's time step (s); default: the activity spread over the
            spectrogram's duration.
        max_frequency: the top of the spectrogram in Hz (the y axis is then in Hz, else bins).

    Returns:
        The Figure (its first Axes is the spectrogram, its last the activity).

    Raises:
        ValueError: a spectrogram that is not 2-D and non-empty, an activity whose columns are
            not one per class, a non-positive time step, bad thresholds or events tables.
    """
    spectrogram, activity, classes = _detection_arrays(spectrogram, activity, classes)
    if not (frame_seconds and frame_seconds > 0):
        raise ValueError(f"frame_seconds must be positive, got {frame_seconds}")
    duration = spectrogram.shape[1] * float(frame_seconds)
    if activity_seconds is None:
        activity_seconds = duration / activity.shape[0]
    if not activity_seconds > 0:
        raise ValueError(f"activity_seconds must be positive, got {activity_seconds}")
    levels = _thresholds(thresholds, len(classes))
    true_events = _check_events(true_events, "true_events")
    predicted_events = _check_events(predicted_events, "predicted_events")

    colours = class_colours(classes)
    fig = Figure(figsize=(10, 6.2), layout="constrained")
    spec_ax, act_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    _spectrogram_panel(fig, spec_ax, spectrogram, duration, max_frequency)
    _event_spans(spec_ax, true_events, predicted_events, colours)
    _activity_panel(act_ax, activity, activity_seconds, classes, colours, levels)
    act_ax.set_xlim(0.0, duration)
    if title:
        fig.suptitle(title, fontsize=9)
    _save(fig, path)
    return fig


def _detection_arrays(spectrogram, activity, classes: Sequence[str]):
    """(spectrogram, activity, classes) as float arrays and names; raise on bad shapes."""
    spectrogram = np.asarray(spectrogram, dtype=float)
    if spectrogram.ndim != 2 or 0 in spectrogram.shape:
        raise ValueError(f"spectrogram: expected a non-empty (bins, frames) array, got shape "
                         f"{spectrogram.shape}")
    classes = [str(c) for c in classes]
    if not classes:
        raise ValueError("classes: at least one class is needed")
    activity = np.asarray(activity, dtype=float)
    if activity.ndim == 1 and len(classes) == 1:
        activity = activity[:, None]
    if activity.ndim != 2 or activity.shape[1] != len(classes) or activity.shape[0] == 0:
        raise ValueError(f"activity: expected shape (steps, {len(classes)}) for {len(classes)} "
                         f"classes, got {activity.shape}")
    return spectrogram, activity, classes


def _spectrogram_panel(fig: Figure, spec_ax, spectrogram: np.ndarray, duration: float,
                       max_frequency: Optional[float]) -> None:
    """The spectrogram over (0, duration) seconds, with its dB colour bar."""
    top = float(max_frequency) if max_frequency else float(spectrogram.shape[0])
    image = spec_ax.imshow(spectrogram, origin="lower", aspect="auto", cmap="magma",
                           interpolation="nearest", extent=(0.0, duration, 0.0, top))
    fig.colorbar(image, ax=spec_ax, label="dB", pad=0.01)
    spec_ax.set_ylabel("Hz" if max_frequency else "bin")


def _event_spans(spec_ax, true_events: Optional[pd.DataFrame],
                 predicted_events: Optional[pd.DataFrame], colours: dict) -> None:
    """True events shaded and labelled at the top, predicted ones outlined, and a legend."""
    handles = []
    if true_events is not None and len(true_events):
        for row in true_events.itertuples():
            colour = colours.get(row.label, UNKNOWN_COLOUR)
            spec_ax.axvspan(row.onset, row.offset, color=colour, alpha=0.3, linewidth=0)
            spec_ax.text((row.onset + row.offset) / 2, 0.97, row.label, color="white",
                         transform=spec_ax.get_xaxis_transform(), ha="center", va="top",
                         fontsize=7, clip_on=True,
                         bbox=dict(boxstyle="round,pad=0.15", fc=colour, ec="none", alpha=0.8))
        handles.append(Patch(facecolor="grey", alpha=0.4, label="true (shaded)"))
    if predicted_events is not None and len(predicted_events):
        for row in predicted_events.itertuples():
            colour = colours.get(row.label, UNKNOWN_COLOUR)
            spec_ax.axvspan(row.onset, row.offset, ymin=0.02, ymax=0.86, fill=False,
                            edgecolor=colour, linewidth=1.8)
            spec_ax.text((row.onset + row.offset) / 2, 0.04, row.label, color=colour,
                         transform=spec_ax.get_xaxis_transform(), ha="center", va="bottom",
                         fontsize=7, clip_on=True, fontweight="bold",
                         bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.75))
        handles.append(Patch(facecolor="none", edgecolor="grey", linewidth=1.8,
                             label="predicted (outlined)"))
    if handles:
        spec_ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.7)


def _activity_panel(act_ax, activity: np.ndarray, activity_seconds: float,
                    classes: list[str], colours: dict, levels: Optional[np.ndarray]) -> None:
    """One activity curve per class at the step centres, its threshold dashed, and a legend."""
    times = (np.arange(activity.shape[0]) + 0.5) * activity_seconds  # step centres
    for i, name in enumerate(classes):
        act_ax.plot(times, np.clip(activity[:, i], 0, 1), color=colours[name], linewidth=1.2,
                    label=name)
        if levels is not None:
            act_ax.axhline(levels[i], color=colours[name], linestyle="--", linewidth=0.9,
                           alpha=0.9)
    act_ax.set_ylim(-0.02, 1.02)
    act_ax.set_ylabel("activity")
    act_ax.set_xlabel("time (s)")
    act_ax.grid(alpha=0.25)
    act_ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7,
                  ncol=1 if len(classes) <= 10 else 2, title="class (- - threshold)"
                  if levels is not None else "class", title_fontsize=7)


def _by_file(events, what: str) -> dict:
    """{file: DataFrame} from a dict, a DataFrame with several files, or one file's events."""
    if events is None:
        return {}
    if isinstance(events, Mapping):
        return {str(k): _check_events(v, f"{what}[{k!r}]") for k, v in events.items()}
    table = _check_events(events, what)
    if "file" in table.columns and table["file"].nunique() > 1:
        return {str(f): part.reset_index(drop=True)
                for f, part in table.groupby("file", sort=True)}
    name = str(table["file"].iloc[0]) if "file" in table.columns and len(table) else ""
    return {name: table}


def plot_event_timeline(events, duration, path: PathArg, title: str = "",
                        predicted_events=None, classes: Optional[Sequence[str]] = None
                        ) -> Figure:
    """True (filled) and predicted (hatched, outlined) events as bars, one row per class.

    Args:
        events: the true events: one recording's DataFrame (onset, offset, label), a DataFrame
            with a ``file`` column naming several recordings, or a dict {recording: DataFrame}.
            One panel per recording.
        duration: the recording's length (s), or a dict {recording: length}.
        path: the PNG to write.
        title: the figure's title.
        predicted_events: the predictions, in the same form (matched to panels by recording).
        classes: the rows, in order (default: every label seen, sorted).

    Returns:
        The Figure, one Axes per recording with x limits (0, duration).

    Raises:
        ValueError: bad events tables, a missing or non-positive duration.
    """
    true = _by_file(events, "events")
    predicted = _by_file(predicted_events, "predicted_events")
    if len(true) == 1 and len(predicted) == 1 and set(true) != set(predicted):
        predicted = {next(iter(true)): next(iter(predicted.values()))}  # one file each
    files = list(dict.fromkeys(list(true) + list(predicted))) or [""]
    labels = set()
    for table in list(true.values()) + list(predicted.values()):
        labels.update(table["label"])
    classes = [str(c) for c in classes] if classes is not None else sorted(labels)
    classes += sorted(labels - set(classes))
    if not classes:
        classes = ["(none)"]
    colours = class_colours(classes)

    lengths = {}
    for f in files:
        value = duration.get(f) if isinstance(duration, Mapping) else duration
        if value is None or not float(value) > 0:
            raise ValueError(f"duration of {f or 'the recording'}: expected a positive number "
                             f"of seconds, got {value!r}")
        lengths[f] = float(value)

    row_height = 0.32
    height = 0.9 + len(files) * (0.5 + row_height * len(classes) * 2)
    fig = Figure(figsize=(11, min(height, 40)), layout="constrained")
    axes = fig.subplots(len(files), 1, squeeze=False)[:, 0]
    for ax, f in zip(axes, files):
        for row, name in enumerate(classes):
            y = len(classes) - 1 - row  # first class on top
            colour = colours[name]
            t = true.get(f)
            if t is not None:
                spans = [(a, b - a) for a, b, lab in zip(t["onset"], t["offset"], t["label"])
                         if lab == name]
                ax.broken_barh(spans, (y + 0.05, 0.42), facecolors=colour)
            p = predicted.get(f)
            if p is not None:
                spans = [(a, b - a) for a, b, lab in zip(p["onset"], p["offset"], p["label"])
                         if lab == name]
                ax.broken_barh(spans, (y - 0.47, 0.42), facecolors="none", edgecolors=colour,
                               hatch="///", linewidth=1.2)
        ax.set_yticks(range(len(classes)), classes[::-1], fontsize=8)
        ax.set_ylim(-0.55, len(classes) - 0.45)
        for y in range(len(classes) - 1):
            ax.axhline(y + 0.5, color="0.85", linewidth=0.6)
        ax.axhline(-0.5, color="0.85", linewidth=0.6)
        ax.set_xlim(0.0, lengths[f])
        ax.grid(axis="x", alpha=0.25)
        if f:
            ax.set_title(Path(f).name, fontsize=8, loc="left")
    axes[-1].set_xlabel("time (s)")
    axes[0].legend(handles=[Patch(facecolor="grey", label="true (upper half of a row)"),
                            Patch(facecolor="none", edgecolor="grey", hatch="///",
                                  label="predicted (lower half)")],
                   loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    _save(fig, path)
    return fig


def _save(fig: Figure, path: PathArg) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=100)
