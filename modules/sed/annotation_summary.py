"""What an annotation table (or a folder of them) holds, for ``spectrain inspect annotations``:
events per label and per recording, the total annotated duration, the recordings listed without
events, and every row that was left out with its table, line and reason.

A clip-level (weak) label list is summarised too: clips per label.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Optional, Union

import pandas as pd

from .annotations import WeakLabelList, read_annotation_folder, read_annotations, read_weak_labels

PathArg = Union[str, os.PathLike]

MAX_LISTED = 100  # rows of a long list printed before "... and N more"


def read_events(path: PathArg, audio_root: Optional[PathArg] = None,
                label_column: Optional[str] = None,
                recording: Optional[PathArg] = None) -> pd.DataFrame:
    """The events of one table or of every table under a folder (``attrs`` as the readers).

    Raises:
        FileNotFoundError: no such file or folder.
        ValueError: an unreadable table; ``recording`` given with a folder.
    """
    path = Path(path)
    if path.is_dir():
        if recording is not None:
            raise ValueError(f"{path} is a folder; a recording is given only for one table "
                             "without a file column")
        return read_annotation_folder(path, audio_root=audio_root, label_column=label_column)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    return read_annotations(path, audio_root=audio_root, label_column=label_column,
                            recording=recording)


def format_skipped(skipped: list[dict], limit: int = MAX_LISTED) -> list[str]:
    """Lines for the rows left out: a count per reason, then ``table, line N: reason`` each."""
    if not skipped:
        return ["rows skipped: none"]
    lines = [f"rows skipped: {len(skipped)}"]
    for reason, count in Counter(entry["reason"] for entry in skipped).most_common():
        lines.append(f"  {count:>6}  {reason}")
    for entry in skipped[:limit]:
        where = entry["file"] if entry.get("line") is None else \
            f"{entry['file']}, line {entry['line']}"
        lines.append(f"  {where}: {entry['reason']}")
    if len(skipped) > limit:
        lines.append(f"  ... and {len(skipped) - limit} more")
    return lines


def _table(rows: list[tuple[str, int, float]], title: str, limit: int) -> list[str]:
    width = max([len(name) for name, _, _ in rows[:limit]] + [len(title)])
    lines = [f"  {title:<{width}}  {'events':>7}  {'seconds':>10}"]
    for name, count, seconds in rows[:limit]:
        lines.append(f"  {name:<{width}}  {count:>7}  {seconds:>10.2f}")
    if len(rows) > limit:
        lines.append(f"  ... and {len(rows) - limit} more")
    return lines


def describe_events(events: pd.DataFrame, source: PathArg, limit: int = MAX_LISTED) -> str:
    """The text of ``spectrain inspect annotations`` for events read from ``source``."""
    duration = events["offset"] - events["onset"]
    n_recordings = events["file"].nunique()
    lines = [f"annotations: {source}",
             f"{len(events)} events, {events['label'].nunique()} labels, {n_recordings} "
             f"recordings, {duration.sum():.2f} s annotated in total"]
    if len(events):
        grouped = events.assign(seconds=duration)
        for key, title in (("label", "label"), ("file", "recording")):
            stats = grouped.groupby(key, sort=True)["seconds"].agg(["count", "sum"])
            rows = [(str(name), int(row["count"]), float(row["sum"]))
                    for name, row in stats.iterrows()]
            lines.append(f"per {title}:")
            lines += _table(rows, title, limit)
    empty = events.attrs.get("empty_files", [])
    lines.append(f"recordings listed without events: {len(empty)}")
    lines += [f"  {name}" for name in empty[:limit]]
    if len(empty) > limit:
        lines.append(f"  ... and {len(empty) - limit} more")
    lines += format_skipped(events.attrs.get("skipped", []), limit)
    return "\n".join(lines)


def describe_weak_labels(labels: pd.DataFrame, source: PathArg) -> str:
    """The text of ``spectrain inspect annotations`` for a clip-level (weak) label list."""
    counts = Counter(label for clip in labels["labels"] for label in clip)
    n_none = sum(1 for clip in labels["labels"] if not clip)
    lines = [f"clip-level (weak) labels: {source}",
             f"{len(labels)} clips, {len(counts)} labels, {n_none} clips without a label",
             "clips per label:"]
    width = max([len(name) for name in counts] + [5])
    lines += [f"  {name:<{width}}  {counts[name]:>7}" for name in sorted(counts)]
    lines += format_skipped(labels.attrs.get("skipped", []))
    return "\n".join(lines)


def inspect_annotations(path: PathArg, audio_root: Optional[PathArg] = None,
                        label_column: Optional[str] = None,
                        recording: Optional[PathArg] = None) -> tuple[pd.DataFrame, str]:
    """Read an annotation table or folder and describe it: (events or weak labels, text).

    Raises:
        FileNotFoundError, ValueError: as :func:`read_events`.
    """
    try:
        events = read_events(path, audio_root=audio_root, label_column=label_column,
                             recording=recording)
    except WeakLabelList:
        labels = read_weak_labels(path, audio_root=audio_root)
        return labels, describe_weak_labels(labels, path)
    return events, describe_events(events, path)
