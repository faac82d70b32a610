"""Clip-level (weak) label lists: one row per clip, its file and the classes heard in it.

Forms read (:func:`read_weak_labels`):

* DCASE 2019-2021 task 4 ``metadata/train/weak.tsv``: a header ``filename<TAB>event_labels``,
  the labels of a clip comma-separated (``Alarm_bell_ringing,Dog``); the headers ``file``,
  ``labels`` and ``tags`` are accepted too;
* dcase_util's headerless tag lists (``MetaDataContainer`` with tags): ``file<TAB>tag;tag``;
* a comma-separated copy whose label list is not quoted (every field after the file name is a
  label).

A clip listed twice gets the labels of both rows; a clip with no label keeps an empty list (a
clip with none of the classes). A row without a file name, or with a number among its labels
(an event row with times), is reported with its line and skipped.

As a dataset (the layout "weak_labels", :func:`load_weak_labels`) every clip becomes a
multi-label table row (``labels``, see :mod:`.schema`) for the "multilabel" task. DCASE keeps
the audio of ``<dataset>/metadata/<part>/<list>.tsv`` in ``<dataset>/audio/<part>/<list>/``;
that folder is used when the listed files are not beside the list. A listed file that does not
exist is reported (list, line) and left out. Importing this module registers the layout.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Optional

import pandas as pd

from .layouts import register_layout
from .rows import SkippedRow, attach_skipped, read_text_rows, report_skipped
from .schema import PathArg, label_combination, make_table

FILE_COLUMNS = ("filename", "file", "path", "recording")
WEAK_LABEL_COLUMNS = ("event_labels", "labels", "tags", "event_label", "label")
TIME_COLUMNS = ("onset", "offset", "start", "end", "begin", "stop")
LIST_SUFFIXES = (".tsv", ".csv", ".txt")
# Headers that detection takes for a weak-label list (a manifest's path,label is none).
DETECTED_FILE_COLUMNS = ("filename", "file")
DETECTED_LABEL_COLUMNS = ("event_labels", "labels", "tags")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _column(header: list[str], names) -> Optional[int]:
    lowered = [cell.lower() for cell in header]
    return next((lowered.index(name) for name in names if name in lowered), None)


def _is_header(cells: list[str]) -> bool:
    """A first row that names columns: no number and no audio file name in it."""
    return not any(cell and (_is_number(cell) or re.search(r"\.(wav|flac|ogg|mp3|aiff?)$",
                                                           cell.lower())) for cell in cells)


def read_weak_labels(path: PathArg, audio_root: Optional[PathArg] = None) -> pd.DataFrame:
    """A clip-level label list (see the module docstring) as a DataFrame with columns file
    (absolute), labels (list of str, in their order, without repeats) and line (of the clip's
    first row), sorted by file; ``attrs["skipped"]`` lists the rows left out as
    ``{"file", "line", "reason"}``.

    Raises:
        FileNotFoundError: no such list.
        ValueError: an event table (onset and offset columns), or a header without a file or
            a label column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label list {path} does not exist")
    root = Path(os.path.abspath(audio_root if audio_root is not None else path.parent))
    rows, lines = read_text_rows(path)
    if not rows:
        raise ValueError(f"{path}: empty file, expected a clip-level label list")
    file_at, labels_at, n_columns = 0, None, 0
    if _is_header(rows[0]):
        header = rows[0]
        if sum(cell.lower() in TIME_COLUMNS for cell in header) >= 2:
            raise ValueError(f"{path}: an event table (onset and offset columns), not a "
                             "clip-level label list; read it with read_annotations")
        file_at, labels_at = _column(header, FILE_COLUMNS), _column(header, WEAK_LABEL_COLUMNS)
        if file_at is None or labels_at is None:
            raise ValueError(f"{path}: expected columns filename and event_labels; columns "
                             f"found: {', '.join(map(repr, header))}")
        n_columns, rows, lines = len(header), rows[1:], lines[1:]
    return _weak_table(path, rows, lines, root, file_at, labels_at, n_columns)


def _row_fields(cells: list[str], file_at: int, labels_at: Optional[int],
                n_columns: int) -> list[str]:
    if labels_at is None:
        return cells[file_at + 1:]
    if labels_at == n_columns - 1:  # the last column: unquoted commas split it further
        return cells[labels_at:]
    return [cells[labels_at]] if labels_at < len(cells) else []


def _weak_table(path: Path, rows, lines, root: Path, file_at: int, labels_at: Optional[int],
                n_columns: int) -> pd.DataFrame:
    labels_of: dict[str, list[str]] = {}
    line_of: dict[str, int] = {}
    skipped = []
    for cells, line in zip(rows, lines):
        name = cells[file_at] if file_at < len(cells) else ""
        fields = _row_fields(cells, file_at, labels_at, n_columns)
        if not name:
            skipped.append({"file": str(path), "line": line, "reason": "missing file name"})
            continue
        if any(_is_number(value) for value in fields):
            skipped.append({"file": str(path), "line": line, "reason": "a number among the "
                            "labels (an event row with times, not clip-level labels)"})
            continue
        labels = [label.strip() for value in fields for label in re.split(r"[,;]", value)]
        file = os.path.normpath(str(root / Path(name).expanduser()))
        merged = labels_of.setdefault(file, [])
        line_of.setdefault(file, line)
        merged += [label for label in labels if label and label not in merged]
    files = sorted(labels_of)
    table = pd.DataFrame({"file": pd.Series(files, dtype=object),
                          "labels": pd.Series([labels_of[f] for f in files], dtype=object),
                          "line": pd.Series([line_of[f] for f in files], dtype="int64")})
    table.attrs = {"skipped": skipped}
    return table


def dcase_audio_folder(path: Path) -> Optional[Path]:
    """``<dataset>/audio/<part>/<stem>`` for a list at ``<dataset>/metadata/<part>/<stem>.tsv``
    (DCASE task 4), when that folder exists."""
    parts = path.resolve().parts
    if "metadata" not in parts[:-1]:
        return None
    at = len(parts) - 1 - parts[::-1].index("metadata")
    folder = Path(*parts[:at], "audio", *parts[at + 1:-1], path.stem)
    return folder if folder.is_dir() else None


def _audio_root(path: Path, labels: pd.DataFrame) -> Optional[Path]:
    """Where the listed files are: beside the list, else in DCASE's audio folder."""
    if labels.empty or Path(labels["file"].iloc[0]).exists():
        return None
    return dcase_audio_folder(path)


def load_weak_labels(path: PathArg, audio_root: Optional[PathArg] = None) -> pd.DataFrame:
    """A dataset table of a weak-label list: one multi-label row per clip whose file exists
    (path, labels, label = the label combination); skipped rows and missing files are reported
    and listed in ``attrs["skipped_rows"]``."""
    path = Path(path).expanduser().resolve()
    labels = read_weak_labels(path, audio_root)
    if audio_root is None and (root := _audio_root(path, labels)) is not None:
        labels = read_weak_labels(path, root)
    skipped = [SkippedRow(row["file"], row["line"], row["reason"])
               for row in labels.attrs["skipped"]]
    exists = labels["file"].map(os.path.isfile)
    skipped += [SkippedRow(str(path), int(line), f"audio file not found: {file}")
                for file, line in zip(labels["file"][~exists], labels["line"][~exists])]
    report_skipped(skipped, str(path))
    kept = labels[exists]
    if kept.empty:
        raise ValueError(f"{path}: none of the {len(labels)} listed clips was found (first "
                         f"looked for: {labels['file'].iloc[0] if len(labels) else 'none'})")
    table = make_table({"path": kept["file"].tolist(),
                        "labels": kept["labels"].tolist(),
                        "label": [label_combination(clip) for clip in kept["labels"]]},
                       dataset=path.stem)
    return attach_skipped(table, skipped)


def is_weak_label_list(path: Path) -> bool:
    """A .tsv / .csv / .txt file whose header is a file column and a weak-label column (e.g.
    DCASE's ``filename event_labels``) with no event times."""
    if not (path.is_file() and path.suffix.lower() in LIST_SUFFIXES):
        return False
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            first = handle.readline().strip().lower()
    except OSError:
        return False
    cells = [cell.strip() for cell in re.split(r"[\t,;]", first)]
    return (any(name in cells for name in DETECTED_FILE_COLUMNS)
            and any(name in cells for name in DETECTED_LABEL_COLUMNS)
            and not any(name in cells for name in TIME_COLUMNS))


register_layout("weak_labels", is_weak_label_list, load_weak_labels,
                "a clip-level (weak) label list, e.g. DCASE's metadata/train/weak.tsv "
                "(filename, event_labels), for multi-label jobs")
