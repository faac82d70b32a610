"""Sound event detection metrics: framewise targets, activity -> events, frame / event / segment
metrics, PSDS, and a plain-text report.

Conventions used throughout
---------------------------
* An event table is a pandas DataFrame with the columns ``file``, ``onset``, ``offset`` (seconds,
  ``0 <= onset < offset``) and ``label`` (one of ``classes``); other columns are ignored. An empty
  DataFrame (even one without columns) means "no events".
* Frame ``i`` covers the half-open interval ``[i * hop, (i + 1) * hop)``. An event marks every
  frame it overlaps by any positive amount, so an event ending exactly on a frame edge does not
  mark the next frame. Divisions by ``hop`` are snapped to the nearest integer when within 1e-6
  frames of it (1.1 / 0.1 is 11.000000000000002 in floating point, not a frame past 11).
* A frame is active when its score is ``>= threshold``, in :func:`activity_to_events` and
  :func:`frame_metrics` alike.
* Files are matched between reference and estimated tables by the text of ``file``: exactly
  (``match_on="path"``, the default) or by base name (``match_on="name"``: ``/data/a.wav`` and
  ``a.wav`` are the same file; two different paths with the same base name in one table are
  refused as ambiguous). A file that appears in only one table still counts: its reference events
  are all missed, its estimated events are all false alarms.

:func:`event_metrics` and :func:`segment_metrics` need ``sed_eval`` (``pip install sed_eval
"setuptools<81"``: sed_eval's dependency dcase_util imports ``pkg_resources``), :func:`psds` needs
``psds_eval`` (``pip install psds_eval``). Both are imported only when those functions run, so
everything else works without them.
"""

from __future__ import annotations

import math
import ntpath
import warnings
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

#: Columns of an event table, in the order the functions here return them.
EVENT_COLUMNS = ("file", "onset", "offset", "label")

_FRAME_TOLERANCE = 1e-6   # frames: how close to an integer a time / hop must be to snap to it
_SECONDS_TOLERANCE = 1e-9  # seconds: float noise when comparing gaps and durations to limits


# ---------------------------------------------------------------------------------- validation
def _check_classes(classes) -> list[str]:
    if isinstance(classes, str) or not isinstance(classes, Sequence) or len(classes) == 0:
        raise ValueError(f"classes must be a non-empty list of class names, got {classes!r}")
    names = list(classes)
    bad = [c for c in names if not isinstance(c, str) or not c]
    if bad:
        raise ValueError(f"class names must be non-empty strings, got {bad!r}")
    if len(set(names)) != len(names):
        duplicates = sorted({c for c in names if names.count(c) > 1})
        raise ValueError(f"classes must be unique; repeated: {duplicates}")
    return names


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame({"file": pd.Series(dtype=object), "onset": pd.Series(dtype=float),
                         "offset": pd.Series(dtype=float), "label": pd.Series(dtype=object)})


def _check_events(events, classes: list[str], name: str, need_file: bool = True) -> pd.DataFrame:
    """A clean copy of an event table: ``file`` as text, times as floats, labels in ``classes``."""
    if not isinstance(events, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame with columns "
                         f"{', '.join(EVENT_COLUMNS)}; got {type(events).__name__}")
    needed = list(EVENT_COLUMNS) if need_file else ["onset", "offset", "label"]
    missing = [c for c in needed if c not in events.columns]
    if events.empty and missing:  # pd.DataFrame() is an acceptable "no events"
        return _empty_events()
    if missing:
        raise ValueError(f"{name} lacks the column(s) {missing}; it has {list(events.columns)}")
    out = events[[c for c in EVENT_COLUMNS if c in events.columns]].reset_index(drop=True)
    out = out.copy()
    if not need_file and "file" in out.columns and out["file"].isna().all():
        out = out.drop(columns="file")  # e.g. activity_to_events(..., file=None)
    for column in ("onset", "offset"):
        values = pd.to_numeric(out[column], errors="coerce").astype(float)
        bad = values.index[~np.isfinite(values.to_numpy())].tolist()
        if bad:
            raise ValueError(f"{name}: {column} is missing or not a finite number in rows "
                             f"{bad[:10]}")
        out[column] = values
    bad = out.index[out["onset"] < 0].tolist()
    if bad:
        raise ValueError(f"{name}: negative onset in rows {bad[:10]}")
    bad = out.index[out["offset"] <= out["onset"]].tolist()
    if bad:
        raise ValueError(f"{name}: offset must be after onset; rows {bad[:10]} are not")
    if out["label"].isna().any():
        raise ValueError(f"{name}: missing label in rows "
                         f"{out.index[out['label'].isna()].tolist()[:10]}")
    out["label"] = out["label"].astype(str)
    unknown = sorted(set(out["label"]) - set(classes))
    if unknown:
        raise ValueError(f"{name}: label(s) {unknown} are not in classes {classes}")
    if "file" in out.columns:
        if out["file"].isna().any():
            raise ValueError(f"{name}: missing file in rows "
                             f"{out.index[out['file'].isna()].tolist()[:10]}")
        out["file"] = out["file"].map(str)  # pathlib.Path and str name the same file
    return out


def _per_class(value, classes: list[str], name: str) -> np.ndarray:
    """A scalar or one value per class, as a float array of length ``len(classes)``."""
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = np.full(len(classes), float(array))
    if array.shape != (len(classes),):
        raise ValueError(f"{name} must be a scalar or one value per class ({len(classes)}), "
                         f"got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {array.tolist()}")
    return array


def _check_hop(hop_seconds) -> float:
    hop = float(hop_seconds)
    if not math.isfinite(hop) or hop <= 0:
        raise ValueError(f"hop_seconds must be a positive number, got {hop_seconds!r}")
    return hop


def _frame_index(seconds: np.ndarray, hop: float, rounding) -> np.ndarray:
    """``rounding(seconds / hop)``, after snapping values within float noise of an integer."""
    position = np.asarray(seconds, dtype=float) / hop
    nearest = np.round(position)
    position = np.where(np.abs(position - nearest) < _FRAME_TOLERANCE, nearest, position)
    return rounding(position).astype(int)


# ------------------------------------------------------------------------- frames <-> events
def frame_labels(events: pd.DataFrame, n_frames: int, hop_seconds: float,
                 classes: Sequence[str], file: str | None = None) -> np.ndarray:
    """Framewise 0/1 targets, shape ``(n_frames, len(classes))``, from an event table.

    Frame ``i`` is 1 for a class when an event of that class overlaps ``[i * hop, (i + 1) * hop)``
    by any positive amount: the frames ``floor(onset / hop)`` to ``ceil(offset / hop) - 1``. An
    event ending exactly on a frame edge does not mark the next frame. Events reaching past
    ``n_frames`` are cut there.

    ``events`` needs ``onset``, ``offset`` and ``label``; ``file`` is optional. When the table
    holds several files, ``file`` says which one to use (otherwise ValueError).
    """
    classes = _check_classes(classes)
    hop = _check_hop(hop_seconds)
    if int(n_frames) != n_frames or n_frames < 0:
        raise ValueError(f"n_frames must be a non-negative integer, got {n_frames!r}")
    n_frames = int(n_frames)
    table = _check_events(events, classes, "events", need_file=False)
    if file is not None:
        if "file" not in table.columns:
            raise ValueError("file was given but the events table has no file column")
        table = table[table["file"] == str(file)]
    elif "file" in table.columns and table["file"].nunique() > 1:
        raise ValueError(f"events hold {table['file'].nunique()} files; say which with file=")
    targets = np.zeros((n_frames, len(classes)), dtype=np.float32)
    if table.empty:
        return targets
    starts = np.clip(_frame_index(table["onset"].to_numpy(), hop, np.floor), 0, n_frames)
    ends = np.clip(_frame_index(table["offset"].to_numpy(), hop, np.ceil), 0, n_frames)
    column = {name: k for k, name in enumerate(classes)}
    for start, end, label in zip(starts, ends, table["label"]):
        targets[start:end, column[label]] = 1.0
    return targets


def _median_windows(median_filter, classes: list[str]) -> np.ndarray:
    if median_filter is None:
        return np.ones(len(classes), dtype=int)
    windows = _per_class(median_filter, classes, "median_filter")
    if np.any(windows != np.round(windows)) or np.any(windows < 1) or np.any(windows % 2 == 0):
        # An even window has no middle frame: scipy takes the upper median, which shifts events by
        # half a frame and favours activity. 1 means no filtering.
        raise ValueError(f"median_filter must be odd whole numbers of frames (1 = off), got "
                         f"{windows.tolist()}")
    return windows.astype(int)


def activity_to_events(activity: np.ndarray, hop_seconds: float, classes: Sequence[str],
                       thresholds=0.5, median_filter=None, min_duration: float = 0.0,
                       min_gap: float = 0.0, file: str | None = None) -> pd.DataFrame:
    """Events from framewise class activity (scores), shape ``(frames, classes)``.

    Steps, per class, in this order:

    1. threshold: a frame is active when its score is ``>= thresholds`` (a scalar, or one value
       per class);
    2. ``median_filter``: window length in frames (odd; a scalar or one per class; None or 1 =
       off), ``scipy.ndimage.median_filter`` along time on the 0/1 activity: a majority vote
       that removes spikes and fills gaps shorter than half the window;
    3. ``min_gap`` (seconds): consecutive events of a class separated by less than this are
       merged into one;
    4. ``min_duration`` (seconds): events shorter than this are dropped. Merging comes first, so
       short fragments that merge into a long enough event survive.

    An event spans whole frames: onset ``first_frame * hop``, offset ``(last_frame + 1) * hop``.
    Returns a DataFrame with columns file (``file``, may be None), onset, offset, label, sorted
    by onset, then class order.
    """
    from scipy import ndimage

    classes = _check_classes(classes)
    hop = _check_hop(hop_seconds)
    activity = np.asarray(activity, dtype=float)
    if activity.ndim != 2 or activity.shape[1] != len(classes):
        raise ValueError(f"activity must have shape (frames, {len(classes)} classes), "
                         f"got {activity.shape}")
    if not np.all(np.isfinite(activity)):
        raise ValueError("activity holds NaN or infinite values")
    thresholds = _per_class(thresholds, classes, "thresholds")
    windows = _median_windows(median_filter, classes)
    for name, value in (("min_duration", min_duration), ("min_gap", min_gap)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative number of seconds, got {value!r}")

    rows = []
    for k, label in enumerate(classes):
        active = (activity[:, k] >= thresholds[k]).astype(np.int8)
        if windows[k] > 1:
            active = ndimage.median_filter(active, size=int(windows[k]))
        edges = np.diff(np.concatenate([[0], active, [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # ends exclusive
        if len(starts) > 1 and min_gap > 0:
            merge = (starts[1:] - ends[:-1]) * hop < min_gap - _SECONDS_TOLERANCE
            starts = starts[np.concatenate([[True], ~merge])]
            ends = ends[np.concatenate([~merge, [True]])]
        keep = (ends - starts) * hop >= min_duration - _SECONDS_TOLERANCE
        rows += [(file, s * hop, e * hop, label, k) for s, e in zip(starts[keep], ends[keep])]
    if not rows:
        return _empty_events()
    table = pd.DataFrame(rows, columns=[*EVENT_COLUMNS, "_class"])
    table = table.sort_values(["onset", "_class"], kind="stable").drop(columns="_class")
    return table.reset_index(drop=True)


# ------------------------------------------------------------------------------ frame metrics
def frame_metrics(y_true: np.ndarray, y_score: np.ndarray, classes: Sequence[str],
                  threshold=0.5) -> dict:
    """Framewise (multi-label) metrics from 0/1 targets and scores, both ``(frames, classes)``.

    A frame is predicted active when ``y_score >= threshold`` (a scalar or one per class).

    Returns ``{"per_class": {class: {...}}, "micro": {...}, "macro": {...},
    "mean_average_precision", "n_frames", "threshold"}``. Per class: ``tp``, ``fp``, ``fn``,
    ``tn``, ``support`` (frames where the class is truly active), ``predicted`` (frames predicted
    active), ``precision``, ``recall``, ``f1`` and ``average_precision``.

    Undefined ratios are 0 (sklearn's ``zero_division=0``): precision is 0 for a class never
    predicted, recall is 0 for a class with no positive frames (support 0), and F1 is 0 when
    precision + recall is 0. Macro averages are plain means over all classes, so such classes pull
    them down; look at ``support`` and ``predicted`` to tell. Micro averages pool the counts of
    all classes. ``average_precision`` (sklearn ``average_precision_score``, threshold-free) is
    NaN for a class with no positive frames, where it is undefined; ``mean_average_precision`` is
    the mean over the other classes (NaN when none has positives).
    """
    from sklearn.metrics import average_precision_score

    classes = _check_classes(classes)
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=float)
    if y_true.ndim != 2 or y_true.shape[1] != len(classes):
        raise ValueError(f"y_true must have shape (frames, {len(classes)} classes), "
                         f"got {y_true.shape}")
    if y_score.shape != y_true.shape:
        raise ValueError(f"y_score has shape {y_score.shape}, y_true {y_true.shape}")
    if not np.all(np.isin(y_true, (0, 1))):
        raise ValueError("y_true must hold only 0 and 1")
    if not np.all(np.isfinite(y_score)):
        raise ValueError("y_score holds NaN or infinite values")
    thresholds = _per_class(threshold, classes, "threshold")
    truth = y_true.astype(bool)
    predicted = y_score >= thresholds[None, :]

    def ratios(tp, fp, fn):
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}

    per_class = {}
    for k, name in enumerate(classes):
        t, p = truth[:, k], predicted[:, k]
        tp, fp = int(np.sum(t & p)), int(np.sum(~t & p))
        fn, tn = int(np.sum(t & ~p)), int(np.sum(~t & ~p))
        row = {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "support": tp + fn, "predicted": tp + fp,
               **ratios(tp, fp, fn)}
        row["average_precision"] = (float(average_precision_score(t, y_score[:, k]))
                                    if tp + fn else float("nan"))
        per_class[name] = row
    totals = {key: sum(row[key] for row in per_class.values())
              for key in ("tp", "fp", "fn", "tn", "support", "predicted")}
    micro = {**totals, **ratios(totals["tp"], totals["fp"], totals["fn"])}
    macro = {key: float(np.mean([row[key] for row in per_class.values()]))
             for key in ("precision", "recall", "f1")}
    aps = [row["average_precision"] for row in per_class.values()
           if not math.isnan(row["average_precision"])]
    return {"per_class": per_class, "micro": micro, "macro": macro,
            "mean_average_precision": float(np.mean(aps)) if aps else float("nan"),
            "n_frames": int(y_true.shape[0]),
            "threshold": float(thresholds[0]) if np.ndim(threshold) == 0 else thresholds.tolist()}


# --------------------------------------------------------------------------- matching files
def _file_key(match_on: str):
    if match_on == "path":
        return lambda path: path
    if match_on == "name":
        # ntpath splits on both / and \, so Windows-style paths give their name too.
        return lambda path: ntpath.basename(path)
    raise ValueError(f"match_on must be 'path' or 'name', got {match_on!r}")


def _keyed(table: pd.DataFrame, key, name: str) -> pd.DataFrame:
    """``table`` with a ``key`` column: the name under which its file is matched."""
    table = table.copy()
    table["key"] = table["file"].map(key)
    paths = table.groupby("key")["file"].nunique()
    ambiguous = paths[paths > 1]
    if len(ambiguous):
        examples = sorted(table.loc[table["key"] == ambiguous.index[0], "file"].unique())
        raise ValueError(f"{name}: different files share a name ({examples}); match them by "
                         "path (match_on='path')")
    return table


def _keyed_durations(durations: Mapping, key, name: str = "durations") -> dict[str, float]:
    if not isinstance(durations, Mapping):
        raise ValueError(f"{name} must be a dict file -> seconds, got {type(durations).__name__}")
    out: dict[str, float] = {}
    for path, seconds in durations.items():
        k = key(str(path))
        seconds = float(seconds)
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"{name}: {path} has duration {seconds!r}; it must be positive")
        if k in out and out[k] != seconds:
            raise ValueError(f"{name}: two entries for file {k!r}")
        out[k] = seconds
    return out


# ---------------------------------------------------------------------------- sed_eval metrics
def _import_sed_eval():
    try:
        with warnings.catch_warnings():
            # dcase_util (sed_eval's dependency) imports the deprecated pkg_resources.
            warnings.filterwarnings("ignore", message=".*pkg_resources.*")
            import sed_eval
    except ImportError as error:
        raise ImportError("event_metrics and segment_metrics need sed_eval: "
                          'pip install sed_eval "setuptools<81" (its dependency dcase_util '
                          f"imports pkg_resources, gone from setuptools 81). ({error})") from error
    return sed_eval


def _sed_eval_run(evaluator, reference: pd.DataFrame, estimated: pd.DataFrame,
                  classes: list[str], match_on: str, durations: Mapping | None = None) -> int:
    """Feed ``evaluator`` file by file (sed_eval evaluates one file per call); returns the
    number of files evaluated."""
    key = _file_key(match_on)
    reference = _keyed(reference, key, "reference_events")
    estimated = _keyed(estimated, key, "estimated_events")
    # sed_eval sees each class as a neutral token: dcase_util strips labels and turns "none" or ""
    # into None, which would corrupt such class names.
    token = {name: f"class{k}" for k, name in enumerate(classes)}
    files = sorted(set(reference["key"]) | set(estimated["key"]))
    lengths = None
    if durations is not None:
        lengths = _keyed_durations(durations, key)
        missing = [f for f in files if f not in lengths]
        if missing:
            raise ValueError(f"durations lacks files that have events: {missing[:10]}")
        files = sorted(set(files) | set(lengths))

    def events(table: pd.DataFrame, file: str) -> list[dict]:
        rows = table[table["key"] == file]
        return [{"filename": file, "onset": float(on), "offset": float(off),
                 "event_label": token[label]}
                for on, off, label in zip(rows["onset"], rows["offset"], rows["label"])]

    for file in files:
        if lengths is None:
            evaluator.evaluate(events(reference, file), events(estimated, file))
        else:
            evaluator.evaluate(events(reference, file), events(estimated, file),
                               evaluated_length_seconds=lengths[file])
    return len(files)


def _nan_if(condition: bool, value) -> float:
    return float("nan") if condition else float(value)


def _sed_eval_results(evaluator, classes: list[str], segment: bool) -> dict:
    """sed_eval's numbers in this module's layout, with counts."""
    results = evaluator.results()
    overall, class_wise = results["overall"], results["class_wise"]
    counts = evaluator.overall
    n_ref, n_sys = int(counts["Nref"]), int(counts["Nsys"])
    tp = int(counts["Ntp"])
    subs, deletions, insertions = ((counts["S"], counts["D"], counts["I"]) if segment else
                                   (counts["Nsubs"], counts["Nfn"], counts["Nfp"]))
    out_overall = {
        "f1": float(overall["f_measure"]["f_measure"]),
        "precision": float(overall["f_measure"]["precision"]),
        "recall": float(overall["f_measure"]["recall"]),
        # sed_eval divides by Nref + eps: with no reference at all the rates are meaningless.
        "error_rate": _nan_if(n_ref == 0, overall["error_rate"]["error_rate"]),
        "substitution_rate": _nan_if(n_ref == 0, overall["error_rate"]["substitution_rate"]),
        "deletion_rate": _nan_if(n_ref == 0, overall["error_rate"]["deletion_rate"]),
        "insertion_rate": _nan_if(n_ref == 0, overall["error_rate"]["insertion_rate"]),
        "n_ref": n_ref, "n_sys": n_sys, "tp": tp, "fp": n_sys - tp, "fn": n_ref - tp,
        "substitutions": int(subs), "deletions": int(deletions), "insertions": int(insertions),
    }
    per_class = {}
    for k, name in enumerate(classes):
        row, raw = class_wise[f"class{k}"], evaluator.class_wise[f"class{k}"]
        c_ref, c_sys, c_tp = int(raw["Nref"]), int(raw["Nsys"]), int(raw["Ntp"])
        per_class[name] = {
            "f1": float(row["f_measure"]["f_measure"]),
            "precision": float(row["f_measure"]["precision"]),
            "recall": float(row["f_measure"]["recall"]),
            # Without reference events sed_eval's rates are (count / 2.2e-16): undefined instead.
            "error_rate": _nan_if(c_ref == 0, row["error_rate"]["error_rate"]),
            "deletion_rate": _nan_if(c_ref == 0, row["error_rate"]["deletion_rate"]),
            "insertion_rate": _nan_if(c_ref == 0, row["error_rate"]["insertion_rate"]),
            "n_ref": c_ref, "n_sys": c_sys, "tp": c_tp, "fp": c_sys - c_tp, "fn": c_ref - c_tp,
        }
    average = results["class_wise_average"]["f_measure"]
    error_rates = [row["error_rate"] for row in per_class.values()
                   if not math.isnan(row["error_rate"])]
    macro = {"f1": float(average["f_measure"]), "precision": float(average["precision"]),
             "recall": float(average["recall"]),
             "error_rate": float(np.mean(error_rates)) if error_rates else float("nan")}
    return {"overall": out_overall, "per_class": per_class, "macro": macro}


def event_metrics(reference_events: pd.DataFrame, estimated_events: pd.DataFrame,
                  classes: Sequence[str], t_collar: float = 0.2,
                  percentage_of_length: float = 0.2, evaluate_offset: bool = True,
                  match_on: str = "path") -> dict:
    """Event-based metrics with sed_eval's ``EventBasedMetrics`` (optimal matching).

    An estimated event matches a reference event of the same class when its onset is within
    ``t_collar`` seconds of the reference onset and, when ``evaluate_offset``, its offset within
    ``max(t_collar, percentage_of_length * reference length)`` of the reference offset. Each event
    matches at most once. The DCASE task 4 setting is the default (200 ms, 20 %).

    Files are matched by ``file`` (see the module docstring for ``match_on``); every file of
    either table is evaluated, so a file with reference events and no estimate counts all of them
    as missed, and one with only estimated events counts them all as false alarms.

    Returns ``{"overall", "per_class", "macro", "parameters", "n_files"}``:

    * ``overall`` (micro, pooled over classes): f1, precision, recall, error_rate and its
      substitution / deletion / insertion rates, and counts n_ref, n_sys, tp, fp (= n_sys - tp),
      fn (= n_ref - tp), substitutions, deletions, insertions. In the error rate a wrong label
      with right timing is one substitution, not a deletion plus an insertion:
      ER = (S + D + I) / n_ref.
    * ``per_class``: f1, precision, recall, error_rate, deletion_rate, insertion_rate, n_ref,
      n_sys, tp, fp, fn.
    * ``macro`` (class-wise average): f1, precision, recall (sed_eval's means, which skip NaN
      classes) and error_rate (mean over classes with reference events).

    Undefined values: precision is 0 for a class with no estimated events (sed_eval's
    ``empty_system_output_handling="zero_score"``, as the DCASE baseline uses, so a class the
    system never outputs scores F1 0 instead of dropping out of the macro average). Recall, and
    so F1, is NaN for a class with no reference events, and such a class is left out of the
    macro averages (sed_eval's nanmean); its error rates are NaN (sed_eval would give count / eps).

    Raises ImportError (with the pip command) when sed_eval is not installed.
    """
    classes = _check_classes(classes)
    t_collar, percentage_of_length = float(t_collar), float(percentage_of_length)
    if not math.isfinite(t_collar) or t_collar <= 0:
        raise ValueError(f"t_collar must be a positive number of seconds, got {t_collar!r}")
    if not 0.0 <= percentage_of_length <= 1.0:
        raise ValueError(f"percentage_of_length must be in [0, 1], got {percentage_of_length!r}")
    reference = _check_events(reference_events, classes, "reference_events")
    estimated = _check_events(estimated_events, classes, "estimated_events")
    sed_eval = _import_sed_eval()
    evaluator = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=[f"class{k}" for k in range(len(classes))],
        evaluate_onset=True, evaluate_offset=bool(evaluate_offset), t_collar=t_collar,
        percentage_of_length=percentage_of_length, event_matching_type="optimal",
        empty_system_output_handling="zero_score")
    n_files = _sed_eval_run(evaluator, reference, estimated, classes, match_on)
    out = _sed_eval_results(evaluator, classes, segment=False)
    out["parameters"] = {"t_collar": t_collar, "percentage_of_length": percentage_of_length,
                         "evaluate_offset": bool(evaluate_offset), "match_on": match_on}
    out["n_files"] = n_files
    return out


def segment_metrics(reference_events: pd.DataFrame, estimated_events: pd.DataFrame,
                    classes: Sequence[str], time_resolution: float = 1.0,
                    durations: Mapping | None = None, match_on: str = "path") -> dict:
    """Segment-based metrics with sed_eval's ``SegmentBasedMetrics``.

    Each file is cut into segments of ``time_resolution`` seconds; a class is active in a segment
    when any of its events overlaps it (sed_eval: segments ``floor(onset / r)`` to
    ``ceil(offset / r) - 1``). Counts are over (segment, class) pairs. A file is evaluated up to
    its ``durations`` entry when given (then every file with events needs one, and listed files
    without events count too, as silence), otherwise up to the last offset in either table.

    Same layout and conventions as :func:`event_metrics` (files matched by ``file``, a file in
    only one table counts; precision 0 for a class never estimated). In the overall error rate,
    per segment, S = min(n_ref, n_sys) - tp, D = max(0, n_ref - n_sys), I = max(0, n_sys - n_ref).

    Raises ImportError (with the pip command) when sed_eval is not installed.
    """
    classes = _check_classes(classes)
    time_resolution = float(time_resolution)
    if not math.isfinite(time_resolution) or time_resolution <= 0:
        raise ValueError(f"time_resolution must be a positive number of seconds, "
                         f"got {time_resolution!r}")
    reference = _check_events(reference_events, classes, "reference_events")
    estimated = _check_events(estimated_events, classes, "estimated_events")
    sed_eval = _import_sed_eval()
    evaluator = sed_eval.sound_event.SegmentBasedMetrics(
        event_label_list=[f"class{k}" for k in range(len(classes))],
        time_resolution=time_resolution)
    # SegmentBasedMetrics takes no such argument but reads the attribute; same rule as events.
    evaluator.empty_system_output_handling = "zero_score"
    n_files = _sed_eval_run(evaluator, reference, estimated, classes, match_on, durations)
    out = _sed_eval_results(evaluator, classes, segment=True)
    out["parameters"] = {"time_resolution": time_resolution, "match_on": match_on}
    out["n_files"] = n_files
    return out


# ------------------------------------------------------------------------------------- PSDS
_PSDS_EVAL_CLASS = None


def _psds_eval_class():
    """psds_eval's ``PSDSEval`` with two of its helpers made to run on today's pandas and numpy.

    psds_eval 0.5.3 calls ``DataFrame.fillna(method="ffill")`` (removed in pandas 3) in
    ``step_curve`` and ``int()`` of a one-element 1-D array (an error in numpy 2.4) in ``_auc``.
    The overrides are copies of the originals with only those calls replaced, so the numbers
    are psds_eval's.
    """
    global _PSDS_EVAL_CLASS
    if _PSDS_EVAL_CLASS is not None:
        return _PSDS_EVAL_CLASS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from psds_eval import PSDSEval
            from psds_eval.psds import PSDSEvalError
    except ImportError as error:
        raise ImportError(f"psds needs psds_eval: pip install psds_eval ({error})") from error

    class _PSDSEval(PSDSEval):
        @staticmethod
        def step_curve(x, xp, yp):
            roc_orig = pd.DataFrame({"x": xp, "y": yp})
            roc_valid_only = (roc_orig.groupby("x").agg("max").reset_index().sort_values(by="x"))
            if x.size < roc_valid_only.x.size:
                raise PSDSEvalError(f"x: {x.size}, xp: {xp.size}")
            roc_valid_only.y = roc_valid_only.y.cummax()
            roc_new = pd.merge(pd.Series(x, name="x"), roc_valid_only, how="outer",
                               on="x").ffill().fillna(value=0)
            return roc_new.y.values

        @staticmethod
        def _auc(x, y, max_x=None, decreasing_y=False):
            if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
                raise PSDSEvalError("x and y must be provided as a numpy.ndarray")
            if x.ndim > 1 or y.ndim > 1:
                raise PSDSEvalError("x or y are not 1-dimensional numpy.ndarray")
            if x.size != y.size:
                raise PSDSEvalError(f"x and y must be of equal length {x.size} != {y.size}")
            if np.any(np.diff(x) < 0):
                raise PSDSEvalError("non-decreasing property not verified for x")
            if not decreasing_y and np.any(np.diff(y) < 0):
                raise PSDSEvalError("non-decreasing property not verified for y")
            _x, _y = np.array(x), np.array(y)
            if max_x is None:
                max_x = _x.max()
            if max_x not in _x:
                _x = np.sort(np.concatenate([_x, [max_x]]))
                max_i = int(np.argwhere(_x == max_x)[0, 0])
                _y = np.concatenate([_y[:max_i], [_y[max_i - 1]], _y[max_i:]])
            valid_idx = _x <= max_x
            dx = np.diff(_x[valid_idx])
            _y = np.array(_y[valid_idx])[:-1]
            if dx.size != _y.size:
                raise PSDSEvalError(f"{dx.size} != {_y.size}")
            return np.sum(dx * _y)

    _PSDS_EVAL_CLASS = _PSDSEval
    return _PSDSEval


def _check_no_overlap(table: pd.DataFrame, name: str) -> None:
    """psds_eval refuses overlapping events of one class in one file; say which."""
    for (file, label), rows in table.groupby(["key", "label"]):
        rows = rows.sort_values("onset")
        overlapping = rows["onset"].to_numpy()[1:] < rows["offset"].to_numpy()[:-1]
        if overlapping.any():
            i = int(np.flatnonzero(overlapping)[0])
            raise ValueError(f"{name}: overlapping '{label}' events in {file} (onsets "
                             f"{rows['onset'].iloc[i]} and {rows['onset'].iloc[i + 1]}); PSDS "
                             "needs them merged")


def psds(reference_events: pd.DataFrame,
         estimated_events_by_threshold: Mapping[float, pd.DataFrame],
         durations: Mapping[str, float], classes: Sequence[str], dtc: float = 0.7,
         gtc: float = 0.7, cttc: float = 0.3, alpha_ct: float = 0.0, alpha_st: float = 0.0,
         max_efpr: float = 100.0, duration_unit: str = "hour", match_on: str = "path") -> dict:
    """Polyphonic Sound Detection Score with psds_eval (Bilen et al., ICASSP 2020).

    ``estimated_events_by_threshold`` maps each decision threshold to the event table it gave
    (e.g. :func:`activity_to_events` over a sweep of thresholds); each is one operating point.
    ``durations`` maps every evaluated file to its length in seconds (all files with events need
    one; listed files without events count as audio with no events, where every detection is a
    false positive). A detection is a true positive when at least ``dtc`` of it lies on reference
    events of its class and it covers, with the other such detections, at least ``gtc`` of a
    reference event; detections failing the DTC that lie at least ``cttc`` on another class's
    events are cross-triggers. False positive rates are per ``duration_unit`` ("hour" by default,
    so ``max_efpr`` = 100 means 100 false positives per hour). ``alpha_ct`` weights
    cross-triggers in the effective FP rate, ``alpha_st`` penalises the spread of TPR across
    classes. The defaults are DCASE's scenario 1 (dtc = gtc = 0.7, cttc = 0.3, alphas 0, 100/h).

    Our tables (file, onset, offset, label) are passed to psds_eval as its ground-truth /
    detection tables with columns ``filename``, ``onset``, ``offset``, ``event_label``, and
    ``durations`` as its metadata table with columns ``filename``, ``duration``; files are
    matched by ``match_on`` as in :func:`event_metrics`.

    Every class needs at least one reference event (psds_eval leaves its TPR undefined
    otherwise) and no table may hold overlapping events of one class in one file (psds_eval
    refuses them): both raise ValueError.

    Returns ``{"psds", "operating_points", "roc", "duplicate_thresholds", "parameters"}``:
    ``psds`` the score (a perfect detector gets 1.0, no detections 0.0); ``operating_points`` a
    DataFrame with one row per (threshold, class): tpr, fpr and efpr (per ``duration_unit``);
    ``roc`` the PSD-ROC (DataFrame efpr, etpr); ``duplicate_thresholds`` the thresholds whose
    detections were identical to those of a lower threshold, which psds_eval does not add again.

    Raises ImportError (with the pip command) when psds_eval is not installed.
    """
    classes = _check_classes(classes)
    reference, estimated, lengths = _psds_inputs(reference_events, estimated_events_by_threshold,
                                                 durations, classes, match_on)
    evaluator, result, rates = _run_psds_eval(reference, estimated, lengths, classes, dtc, gtc,
                                              cttc, alpha_ct, alpha_st, max_efpr, duration_unit)
    points = evaluator.operating_points
    kept = {float(t) for t in points["threshold"]}
    return {"psds": float(result.value),
            "operating_points": _operating_point_rates(points, rates, classes),
            "roc": pd.DataFrame({"efpr": np.asarray(result.plt.xp, dtype=float),
                                 "etpr": np.asarray(result.plt.yp, dtype=float)}),
            "duplicate_thresholds": [t for t in estimated if t not in kept],
            "parameters": {"dtc": dtc, "gtc": gtc, "cttc": cttc, "alpha_ct": alpha_ct,
                           "alpha_st": alpha_st, "max_efpr": max_efpr,
                           "duration_unit": duration_unit, "match_on": match_on}}


def _psds_inputs(reference_events: pd.DataFrame,
                 estimated_events_by_threshold: Mapping[float, pd.DataFrame],
                 durations: Mapping[str, float], classes: list, match_on: str):
    """Checked, keyed (reference, {threshold: estimated}, durations) for :func:`psds`."""
    if not isinstance(estimated_events_by_threshold, Mapping) or not estimated_events_by_threshold:
        raise ValueError("estimated_events_by_threshold must be a non-empty dict "
                         "threshold -> event table")
    key = _file_key(match_on)
    reference = _keyed(_check_events(reference_events, classes, "reference_events"), key,
                       "reference_events")
    lengths = _keyed_durations(durations, key)
    no_events = [c for c in classes if c not in set(reference["label"])]
    if no_events:
        raise ValueError(f"PSDS needs reference events of every class; none for {no_events}")
    _check_no_overlap(reference, "reference_events")
    estimated = {}
    for threshold, table in sorted(estimated_events_by_threshold.items()):
        name = f"estimated events at threshold {threshold}"
        table = _keyed(_check_events(table, classes, name), key, name)
        _check_no_overlap(table, name)
        estimated[float(threshold)] = table
    files = set(reference["key"]).union(*(set(t["key"]) for t in estimated.values()))
    missing = sorted(files - set(lengths))
    if missing:
        raise ValueError(f"durations lacks files that have events: {missing[:10]}")
    return reference, estimated, lengths


def _psds_table(table: pd.DataFrame) -> pd.DataFrame:
    """A keyed event table in psds_eval's columns (filename, onset, offset, event_label)."""
    return pd.DataFrame({"filename": table["key"].astype(object),
                         "onset": table["onset"].astype(float),
                         "offset": table["offset"].astype(float),
                         "event_label": table["label"].astype(object)})


def _run_psds_eval(reference: pd.DataFrame, estimated: dict, lengths: dict, classes: list,
                   dtc: float, gtc: float, cttc: float, alpha_ct: float, alpha_st: float,
                   max_efpr: float, duration_unit: str):
    """psds_eval over the operating points: (evaluator, its PSDS result, effective FP rates)."""
    metadata = pd.DataFrame({"filename": list(lengths), "duration": list(lengths.values())})
    evaluator_class = _psds_eval_class()
    with warnings.catch_warnings():
        # psds_eval 0.5.3 on pandas 3: deprecation notices (inplace=, concat with an empty
        # frame), NaN comparisons in its outer merges, and a notice per duplicate threshold,
        # which we report in duplicate_thresholds instead.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message="invalid value encountered",
                                category=RuntimeWarning)
        warnings.filterwarnings("ignore", message="A similar operating point exists")
        evaluator = evaluator_class(dtc_threshold=dtc, gtc_threshold=gtc, cttc_threshold=cttc,
                                    class_names=classes, duration_unit=duration_unit,
                                    ground_truth=_psds_table(reference), metadata=metadata)
        for threshold, table in estimated.items():
            evaluator.add_operating_point(_psds_table(table), info={"threshold": threshold})
        result = evaluator.psds(alpha_ct=alpha_ct, alpha_st=alpha_st, max_efpr=max_efpr)
        rates = evaluator._effective_fp_rate(alpha_ct)  # per class, one column per point
    return evaluator, result, rates


def _operating_point_rates(points: pd.DataFrame, rates, classes: list) -> pd.DataFrame:
    """One row per (threshold, class): tpr, fpr and efpr of psds_eval's kept operating points."""
    order = sorted(classes)  # psds_eval keeps its per-class arrays in sorted class order
    rows = []
    for j, threshold in enumerate(points["threshold"]):
        for name in classes:
            i = order.index(name)
            rows.append({"threshold": float(threshold), "class": name,
                         "tpr": float(rates.tp_ratio[i, j]), "fpr": float(rates.fp_rate[i, j]),
                         "efpr": float(rates.effective_fp_rate[i, j])})
    return pd.DataFrame(rows, columns=["threshold", "class", "tpr", "fpr", "efpr"])


# ------------------------------------------------------------------------------------- report
def _number(value, digits: int = 4) -> str:
    """A metric for the report: "n/a" for None or NaN (undefined, e.g. no reference events)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _underlined(title: str) -> list[str]:
    return [title, "-" * len(title)]


def _event_section(metrics: dict, classes: list[str], title: str) -> list[str]:
    overall, macro = metrics["overall"], metrics["macro"]
    lines = _underlined(title)
    lines += [f"files               {metrics.get('n_files', 'n/a')}",
              f"overall F1          {_number(overall['f1'])}   (micro: pooled over classes)",
              f"precision           {_number(overall['precision'])}",
              f"recall              {_number(overall['recall'])}",
              f"error rate          {_number(overall['error_rate'])}"
              f"   (S {overall['substitutions']} + D {overall['deletions']} + "
              f"I {overall['insertions']}) / N {overall['n_ref']}",
              f"macro F1            {_number(macro['f1'])}   (mean over classes)", ""]
    width = max(12, max(len(name) for name in classes) + 2)
    lines.append(f"{'class':<{width}}{'ref':>6}{'est':>6}{'tp':>6}{'fp':>6}{'fn':>6}"
                 f"{'precision':>11}{'recall':>8}{'f1':>8}{'ER':>8}")
    for name in classes:
        row = metrics["per_class"][name]
        lines.append(f"{name:<{width}}{row['n_ref']:>6d}{row['n_sys']:>6d}{row['tp']:>6d}"
                     f"{row['fp']:>6d}{row['fn']:>6d}{_number(row['precision'], 3):>11}"
                     f"{_number(row['recall'], 3):>8}{_number(row['f1'], 3):>8}"
                     f"{_number(row['error_rate'], 3):>8}")
    return lines + [""]


def format_sed_report(frame: dict | None, event: dict | None, classes: Sequence[str],
                      segment: dict | None = None) -> str:
    """Plain-text sound event detection report in the style of ``modules.reports``.

    ``frame`` from :func:`frame_metrics`, ``event`` from :func:`event_metrics`, optional
    ``segment`` from :func:`segment_metrics`; a None section is left out. Undefined values
    print as "n/a".
    """
    classes = _check_classes(classes)
    lines = ["Sound event detection", "=====================", ""]
    width = max(12, max(len(name) for name in classes) + 2)
    if frame is not None:
        threshold = frame.get("threshold")
        threshold = (", ".join(f"{t:g}" for t in threshold) if isinstance(threshold, list)
                     else f"{threshold:g}" if threshold is not None else "n/a")
        lines += _underlined(f"Frame level (threshold {threshold})")
        lines += [f"frames              {frame['n_frames']}",
                  f"micro F1            {_number(frame['micro']['f1'])}",
                  f"macro F1            {_number(frame['macro']['f1'])}",
                  f"mean avg precision  {_number(frame['mean_average_precision'])}"
                  "   (classes with positive frames)", ""]
        lines.append(f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}"
                     f"{'support':>9}{'AP':>8}")
        for name in classes:
            row = frame["per_class"][name]
            lines.append(f"{name:<{width}}{row['precision']:>10.3f}{row['recall']:>10.3f}"
                         f"{row['f1']:>10.3f}{row['support']:>9d}"
                         f"{_number(row['average_precision'], 3):>8}")
        lines.append("")
    if event is not None:
        parameters = event.get("parameters", {})
        if "t_collar" in parameters:
            collar = f"onset collar {parameters['t_collar'] * 1000:g} ms"
            if parameters.get("evaluate_offset", True):
                collar += (f", offset collar max({parameters['t_collar'] * 1000:g} ms, "
                           f"{parameters['percentage_of_length'] * 100:g}% of length)")
            else:
                collar += ", offsets not evaluated"
            title = f"Event level ({collar})"
        else:
            title = "Event level"
        lines += _event_section(event, classes, title)
    if segment is not None:
        resolution = segment.get("parameters", {}).get("time_resolution")
        title = ("Segment level" if resolution is None
                 else f"Segment level ({resolution:g} s segments)")
        lines += _event_section(segment, classes, title)
    return "\n".join(lines).rstrip("\n") + "\n"
