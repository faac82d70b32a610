"""Event annotation tables: read Raven / BirdNET / Koogu selection tables, CSV/TSV tables and the
event lists of DCASE and sed_eval; read clip-level (weak) label lists; write events back.

Every event reader returns one table of events::

    file     absolute path of the recording (str)
    onset    seconds from the start of the recording (float)
    offset   seconds (float), greater than onset
    label    the event's class (str, non-empty)

sorted by file, then onset, with two lists in ``attrs``:

* ``attrs["skipped"]``: the rows left out, each ``{"file": table, "line": line number (or None
  for a whole file), "reason": ...}``. One bad row (an empty label, a time that is no number,
  offset <= onset, BirdNET's ``nocall`` placeholder) never costs the rest of the table: it is
  skipped and listed here. A table that cannot be read at all (no time column, no label column,
  an unknown recording) is a one-line ``ValueError`` naming the table.
* ``attrs["empty_files"]``: recordings the table lists as having no events (DCASE rows with a
  file name and empty fields), absolute, sorted.

The format is detected from the first line:

* **Raven selection tables** (tab-separated, with ``Begin Time (s)`` and ``End Time (s)``), as
  Raven Pro, BirdNET-Analyzer and Koogu write them. The label comes from ``Annotation``,
  ``Label``, ``Species``, ``Class``, ``Common Name``, ``Species Code`` (BirdNET) or ``Tags``
  (Koogu), the first found, or the column named by ``label_column``. The recording comes from
  ``Begin File``, ``Begin Path``, ``File`` or ``filename``, the first one with a value (Koogu
  writes an empty ``Begin Path``); a table without one belongs to the recording given as
  ``recording``, or to the one it is named after: ``<recording>.Table.1.selections.txt``
  (Raven), ``<recording>.selections.txt`` (Koogu) or ``<recording>.BirdNET.selection.table.txt``
  (BirdNET) -> ``<recording>.wav`` (or the one audio file of that name that exists). Raven
  writes one row per view of a selection (``Waveform 1``, ``Spectrogram 1``): one row per
  ``Selection`` id is kept. When a table lists a file sequence, ``Begin Time (s)`` counts from
  the start of the first file; with a ``File Offset (s)`` column the onset is that offset into
  ``Begin File`` instead, and the offset is the onset plus the selection's length. BirdNET's
  ``nocall`` rows (its placeholder for a file without detections) are skipped, never a class.
* **CSV or TSV with a header** (comma, tab or semicolon separated) with the columns
  (case-insensitive) file (or filename, path, recording), onset (or start, begin, Start (s)),
  offset (or end, stop, End (s)) and label (or event_label, class, annotation, Common name), or
  the label column named by ``label_column``; other columns (a DCASE ``scene_label``) are
  ignored. This is the DCASE 2019+ TSV (``filename onset offset event_label``), whose rows with
  only a file name list files without events.
* **Event lists without a header**, in the forms sed_eval / dcase_util read: ``onset offset
  label`` (the recording from ``recording`` or a ``<recording>.ann`` name), ``file onset offset
  label``, ``file onset offset label identifier``, ``file scene onset offset label`` (with
  ``source`` and ``identifier`` columns after it, as DCASE 2017 writes), and ``file`` alone (or
  followed by empty fields): a file without events.

Clip-level (weak) label lists (``filename event_labels``, the labels comma-separated, as DCASE
2019 task 4 writes them) are no event tables: :func:`read_weak_labels`
(:mod:`modules.data.weak_labels`, named here too) reads them.

Relative recording names resolve against ``audio_root`` (default: the table's folder). A Windows
path (``C:\\...`` or with backslashes) read on another system keeps only its file name, resolved
against ``audio_root``: Raven's ``Begin Path`` is the path on the annotator's computer.
Whether the recordings exist is not checked here.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Optional, Union

import numpy as np
import pandas as pd

from modules.data.rows import read_text, read_text_rows
# read_weak_labels is named here too, beside the event-table readers.
from modules.data.weak_labels import WEAK_LABEL_COLUMNS, read_weak_labels  # noqa: F401

PathArg = Union[str, os.PathLike]

EVENT_COLUMNS = ("file", "onset", "offset", "label")

RAVEN_BEGIN = "Begin Time (s)"
RAVEN_END = "End Time (s)"
RAVEN_FILE_OFFSET = "File Offset (s)"
RAVEN_LABEL_COLUMNS = ("Annotation", "Label", "Species", "Class", "Common Name", "Species Code",
                       "Tags")
RAVEN_FILE_COLUMNS = ("Begin File", "Begin Path", "File", "filename")
RAVEN_TABLE_NAME = re.compile(
    r"^(?P<recording>.+?)(?:\.Table\.\d+\.selections|\.BirdNET\.selection\.table|\.selections)"
    r"\.txt$", re.IGNORECASE)
EVENT_LIST_NAME = re.compile(r"^(?P<recording>.+)\.ann$", re.IGNORECASE)
TABLE_NAMES = ("<recording>.Table.1.selections.txt", "<recording>.selections.txt",
               "<recording>.BirdNET.selection.table.txt", "<recording>.ann")
NOCALL = "nocall"
NOCALL_REASON = ("BirdNET 'nocall' row (its placeholder for a file without detections, "
                 "not a class)")

ALIASES = {
    "file": ("file", "filename", "path", "recording"),
    "onset": ("onset", "start", "begin", "start (s)", "onset (s)"),
    "offset": ("offset", "end", "stop", "end (s)", "offset (s)"),
    "label": ("label", "event_label", "class", "annotation", "common name"),
}

TABLE_SUFFIXES = (".txt", ".csv", ".tsv", ".ann")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".w64", ".rf64")

# Headerless event lists as dcase_util's MetaDataContainer.load reads them: (form, number of
# fields, position of file (None: the table's recording), onset, offset, label).
EVENT_LIST_FORMS = (
    ("onset offset label", 3, None, 0, 1, 2),
    ("file onset offset label", 4, 0, 1, 2, 3),
    ("file onset offset label identifier", 5, 0, 1, 2, 3),
    ("file scene onset offset label", 5, 0, 2, 3, 4),
    ("file scene onset offset label source", 6, 0, 2, 3, 4),
    ("file scene onset offset label source identifier", 7, 0, 2, 3, 4),
)


class NotAnEventTable(ValueError):
    """A file that is no event table (a README, a list of file names, a weak-label list)."""


class WeakLabelList(NotAnEventTable):
    """A clip-level label list (file + labels, no times): read it with read_weak_labels."""


# --------------------------------------------------------------------------------------------
# Reading


def _split_header(text: str) -> tuple[int, str]:
    """(index of the first non-empty line, that line); empty text gives (0, "")."""
    for index, line in enumerate(text.splitlines()):
        if line.strip():
            return index, line
    return 0, ""


def _delimiter(header: str) -> Optional[str]:
    for delimiter in ("\t", ",", ";"):
        if delimiter in header:
            return delimiter
    return None


def _is_table(path: Path) -> bool:
    """Whether a file's first non-empty line can be a table header (has a delimiter)."""
    try:
        _, header = _split_header(read_text(path))
    except OSError:
        return True  # let the reader report it
    return _delimiter(header) is not None


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _read_rows(path: Path) -> tuple[list[list[str]], list[int]]:
    """The non-empty rows (stripped cells) and their line numbers (1-based)."""
    rows, lines = read_text_rows(path)
    if not rows:
        raise NotAnEventTable(f"{path}: empty file, expected an annotation table")
    return rows, lines


def _is_header(cells: list[str]) -> bool:
    """Whether a first row names columns (no number and no audio file name in it)."""
    return not any(cell and (_is_number(cell) or cell.lower().endswith(AUDIO_SUFFIXES))
                   for cell in cells)


@dataclass
class _Table:
    """A table with a header: columns (first of equal names wins) and each row's line."""

    path: Path
    columns: list[str]
    cells: dict[str, list[str]]
    lines: list[int]
    problems: dict[int, str] = field(default_factory=dict)  # row position -> reason

    @classmethod
    def from_rows(cls, path: Path, rows: list[list[str]], lines: list[int]) -> "_Table":
        header, data = rows[0], rows[1:]
        first = {}
        for index, name in enumerate(header):
            first.setdefault(name, index)  # first of equal names wins
        cells = {name: [row[i] if i < len(row) else "" for row in data]
                 for name, i in first.items()}
        problems = {position: f"{len(row)} fields, the header has {len(header)}"
                    for position, row in enumerate(data)
                    if len(row) > len(header) and any(row[len(header):])}
        columns = list(first)
        return cls(path, columns, cells, lines[1:], problems)

    def keep(self, mask: list[bool]) -> "_Table":
        positions = [i for i, kept in enumerate(mask) if kept]
        renumber = {old: new for new, old in enumerate(positions)}
        return _Table(self.path, self.columns,
                      {c: [v[i] for i in positions] for c, v in self.cells.items()},
                      [self.lines[i] for i in positions],
                      {renumber[i]: p for i, p in self.problems.items() if i in renumber})

    def __len__(self) -> int:
        return len(self.lines)


@dataclass
class _Rows:
    """Candidate events of one table, before validation."""

    files: list[str]
    onset_text: list[str]
    offset_text: list[str]
    labels: list[str]
    lines: list[int]
    problems: dict[int, str] = field(default_factory=dict)  # known before validation
    onset: Optional[np.ndarray] = None
    offset: Optional[np.ndarray] = None

    def times(self) -> tuple[np.ndarray, np.ndarray]:
        if self.onset is None:
            self.onset, self.offset = _parse_times(self.onset_text), _parse_times(self.offset_text)
        return self.onset, self.offset


def _find(columns: list[str], candidates) -> Optional[str]:
    lowered = {column.lower(): column for column in reversed(columns)}  # first one wins
    for candidate in candidates:
        if candidate.lower() in lowered:
            return lowered[candidate.lower()]
    return None


def _missing_column(path: Path, what: str, columns: list[str], accepted) -> ValueError:
    found = ", ".join(repr(c) for c in columns) or "none"
    return ValueError(f"{path}: no {what} column; columns found: {found}; accepted: "
                      f"{', '.join(accepted)}")


def _resolve(name: str, root: Path) -> str:
    if os.sep == "/" and (re.match(r"^[A-Za-z]:[\\/]", name) or "\\" in name):
        windows = PureWindowsPath(name)
        name = windows.name if windows.is_absolute() or windows.drive else windows.as_posix()
    candidate = Path(name).expanduser()
    if not candidate.is_absolute():
        candidate = root / candidate
    return os.path.normpath(str(candidate))


def _named_recording(stem: str, root: Path) -> str:
    """``<root>/<stem>.wav``, or the one other audio file ``<root>/<stem>.*`` that exists."""
    if stem.lower().endswith(AUDIO_SUFFIXES):  # "rec.wav.Table.1.selections.txt"
        return _resolve(stem, root)
    wav = root / f"{stem}.wav"
    if not wav.exists():  # the recording may be FLAC or another format; prefer what is there
        present = [root / f"{stem}{s}" for s in AUDIO_SUFFIXES[1:] if (root / f"{stem}{s}").exists()]
        if len(present) == 1:
            return os.path.normpath(str(present[0]))
    return os.path.normpath(str(wav))


def _table_recording(path: Path, root: Path, recording: Optional[str], missing: str) -> str:
    """The recording of a table without a file column: ``recording``, else from its name."""
    if recording:
        return _resolve(str(recording), root)
    match = RAVEN_TABLE_NAME.match(path.name) or EVENT_LIST_NAME.match(path.name)
    if not match:
        raise ValueError(f"{path}: {missing}; such a table must be named "
                         f"{' or '.join(TABLE_NAMES)} to tell which recording it belongs to, "
                         "or be given its recording (--recording)")
    return _named_recording(match.group("recording"), root)


def _refuse_recording(path: Path, recording: Optional[str], where: str) -> None:
    if recording:
        raise ValueError(f"{path}: the table names its recordings ({where}); a recording "
                         "argument is only for tables without a file column")


def _parse_times(values) -> np.ndarray:
    values = pd.Series(list(values), dtype=object)
    return pd.to_numeric(values.where(values != ""), errors="coerce").to_numpy(dtype=float)


def _row_problems(file: list[str], onset_text, offset_text, onset, offset, labels
                  ) -> list[tuple[int, str]]:
    """(row position, problem) for every bad row, in order."""
    problems = []
    for i in range(len(labels)):
        problem = None
        if not file[i]:
            problem = "missing recording (empty file name)"
        else:
            for name, text, value in (("onset", onset_text[i], onset[i]),
                                      ("offset", offset_text[i], offset[i])):
                if text == "":
                    problem = f"missing {name} time"
                elif not math.isfinite(value):
                    problem = f"{name} {text!r} is not a number of seconds"
                elif value < 0:
                    problem = f"negative {name} time {text}"
                if problem:
                    break
        if problem is None and offset[i] <= onset[i]:
            problem = f"offset {offset[i]:g} s <= onset {onset[i]:g} s"
        if problem is None and not labels[i]:
            problem = "missing label"
        if problem:
            problems.append((i, problem))
    return problems


def _raise_first(where: str, problems: list[tuple[int, str]], lines: Optional[list[int]]):
    if not problems:
        return
    position, problem = problems[0]
    row = f"row {position + 1}" + (f" (line {lines[position]})" if lines is not None else "")
    more = f" (and {len(problems) - 1} more bad rows)" if len(problems) > 1 else ""
    raise ValueError(f"{where}, {row}: {problem}{more}")


def _events(files, onset, offset, labels) -> pd.DataFrame:
    events = pd.DataFrame({"file": pd.Series(files, dtype=object).astype(str),
                           "onset": np.asarray(onset, dtype=float),
                           "offset": np.asarray(offset, dtype=float),
                           "label": pd.Series(labels, dtype=object).astype(str)})
    return sort_events(events)


def sort_events(events: pd.DataFrame) -> pd.DataFrame:
    """Events sorted by file, onset, offset and label, with a fresh index."""
    return events.sort_values(["file", "onset", "offset", "label"], kind="mergesort"
                              ).reset_index(drop=True)


def _finish(path: Path, rows: _Rows, empty_files: list[str]) -> pd.DataFrame:
    """Validate the rows: the good ones as events, the bad ones in ``attrs["skipped"]``."""
    onset, offset = rows.times()
    problems = dict(_row_problems(rows.files, rows.onset_text, rows.offset_text, onset, offset,
                                  rows.labels))
    problems.update(rows.problems)  # the reader's own findings come first
    for position, label in enumerate(rows.labels):
        if position not in problems and label.lower() == NOCALL:
            problems[position] = NOCALL_REASON
    keep = np.array([i not in problems for i in range(len(rows.labels))], dtype=bool)
    pick = np.flatnonzero(keep)
    events = _events([rows.files[i] for i in pick], onset[pick], offset[pick],
                     [rows.labels[i] for i in pick])
    skipped = [{"file": str(path), "line": rows.lines[i], "reason": problems[i]}
               for i in sorted(problems)]
    return _with_attrs(events, skipped, empty_files)


def _with_attrs(events: pd.DataFrame, skipped: list[dict], empty_files) -> pd.DataFrame:
    with_events = set(events["file"])
    events.attrs = {"skipped": list(skipped),
                    "empty_files": sorted(set(empty_files) - with_events)}
    return events


def read_annotations(path: PathArg, audio_root: Optional[PathArg] = None,
                     label_column: Optional[str] = None,
                     recording: Optional[PathArg] = None) -> pd.DataFrame:
    """Read one annotation table (see the module docstring for the formats).

    Args:
        path: the table.
        audio_root: folder that relative recording names resolve against (default: the table's
            folder).
        label_column: the column holding the labels, instead of the usual names.
        recording: the recording of a table without a file column (instead of its name).

    Returns:
        DataFrame with columns file (absolute path), onset, offset (s), label; sorted by file
        and onset; ``attrs["skipped"]`` lists the rows left out (file, line, reason) and
        ``attrs["empty_files"]`` the recordings listed as having no events.

    Raises:
        ValueError: a table that cannot be read (no time or label column, no way to tell its
            recording, a weak-label list: :class:`WeakLabelList`); one line naming the table.
        FileNotFoundError: no such table.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation table {path} does not exist")
    root = Path(os.path.abspath(audio_root if audio_root is not None else path.parent))
    recording = str(recording) if recording is not None else None
    rows, lines = _read_rows(path)
    if not _is_header(rows[0]):
        event_rows, empty_files = _list_rows(path, rows, lines, root, recording)
        return _finish(path, event_rows, empty_files)
    table = _Table.from_rows(path, rows, lines)
    if _find(table.columns, [RAVEN_BEGIN, RAVEN_END]) is not None:
        table = _one_row_per_selection(table)
        return _finish(path, _raven_rows(table, root, label_column, recording), [])
    event_rows, empty_files = _plain_rows(table, root, label_column, recording)
    return _finish(path, event_rows, empty_files)


def _one_row_per_selection(table: _Table) -> _Table:
    """A Raven table's rows with one per selection (its views repeat them)."""
    selection = _find(table.columns, ["Selection"])
    view = _find(table.columns, ["View"])
    if selection is not None and len(table):
        seen, keep = set(), []
        for value in table.cells[selection]:
            keep.append(not value or value not in seen)  # rows without an id are all kept
            seen.add(value)
    elif view is not None and len(table):
        first = table.cells[view][0]
        keep = [value == first for value in table.cells[view]]  # no ids: one view's rows
    else:
        return table
    return table.keep(keep)


def _file_column(table: _Table, candidates) -> Optional[str]:
    """The first of ``candidates`` present with a value in some row (Koogu leaves one empty)."""
    for candidate in candidates:
        column = _find(table.columns, [candidate])
        if column is not None and any(table.cells[column]):
            return column
    return None


def _raven_rows(table: _Table, root: Path, label_column: Optional[str],
                recording: Optional[str]) -> _Rows:
    """The candidate events of a Raven selection table (one row per selection)."""
    path, columns = table.path, table.columns
    begin_column, end_column = _find(columns, [RAVEN_BEGIN]), _find(columns, [RAVEN_END])
    for name, column in (("begin time", begin_column), ("end time", end_column)):
        if column is None:
            raise _missing_column(path, f"Raven {name}", columns, [RAVEN_BEGIN, RAVEN_END])
    label_candidates = [label_column] if label_column else list(RAVEN_LABEL_COLUMNS)
    label_name = _find(columns, label_candidates)
    if label_name is None:
        raise _missing_column(path, "label", columns, label_candidates
                              + ([] if label_column else ["(or pass label_column)"]))
    file_name, files = _row_files(table, RAVEN_FILE_COLUMNS, root, recording)
    rows = _Rows(files, table.cells[begin_column], table.cells[end_column],
                 table.cells[label_name], table.lines, dict(table.problems))
    onset, offset = rows.times()
    file_offset = _find(columns, [RAVEN_FILE_OFFSET])
    if file_offset is not None and file_name is not None and \
            file_name.lower() in ("begin file", "begin path"):
        # A file sequence: Begin Time counts from the first file, File Offset from Begin File.
        starts = _parse_times(table.cells[file_offset])
        has_offset = np.isfinite(starts)
        rows.offset = np.where(has_offset, starts + (offset - onset), offset)
        rows.onset = np.where(has_offset, starts, onset)
        rows.onset_text = [s if h else t for s, h, t in
                           zip(table.cells[file_offset], has_offset, rows.onset_text)]
    return rows


def _row_files(table: "_Table", file_columns, root: Path, recording: Optional[str]):
    """(the file column used or None, each row's recording): from the first file column that
    has values, else the one recording the table is named after (or ``recording``)."""
    file_name = _file_column(table, file_columns)
    if file_name is None:
        missing = f"no file column with a value ({', '.join(file_columns)})"
        return None, [_table_recording(table.path, root, recording, missing)] * len(table)
    _refuse_recording(table.path, recording, f"column {file_name!r}")
    return file_name, [_resolve(name, root) if name else "" for name in table.cells[file_name]]


def _plain_rows(table: _Table, root: Path, label_column: Optional[str],
                recording: Optional[str]) -> tuple[_Rows, list[str]]:
    """The candidate events of a CSV/TSV with a header, and the files listed without events."""
    path, columns = table.path, table.columns
    if len(columns) == 1 and _delimiter(columns[0]) is None:
        raise NotAnEventTable(
            f"{path}: not an event table: the header has a single column {columns[0]!r} "
            "(expected a Raven selection table or a CSV/TSV with columns file, onset, offset, "
            "label)")
    found = {}
    for key in ("onset", "offset", "label"):
        aliases = (label_column,) if key == "label" and label_column else ALIASES[key]
        found[key] = _find(columns, aliases)
        if found[key] is None:
            weak = _find(columns, WEAK_LABEL_COLUMNS) and _find(columns, ALIASES["file"])
            if weak and key == "onset" and _find(columns, ALIASES["offset"]) is None:
                raise WeakLabelList(
                    f"{path}: a clip-level (weak) label list (columns "
                    f"{', '.join(map(repr, columns))}): no event times; read it with "
                    "read_weak_labels")
            raise _missing_column(path, key, columns, aliases)
    file_name, files = _row_files(table, ALIASES["file"], root, recording)
    onset_text, offset_text = table.cells[found["onset"]], table.cells[found["offset"]]
    labels = table.cells[found["label"]]
    empty = [file_name is not None and bool(table.cells[file_name][i]) and not onset_text[i]
             and not offset_text[i] and not labels[i] for i in range(len(table))]
    empty_files = [files[i] for i in range(len(table)) if empty[i]]
    table = table.keep([not e for e in empty])
    files = [f for f, e in zip(files, empty) if not e]
    rows = _Rows(files, table.cells[found["onset"]], table.cells[found["offset"]],
                 table.cells[found["label"]], table.lines, dict(table.problems))
    return rows, empty_files


def _list_form(cells: list[str]):
    """The first of :data:`EVENT_LIST_FORMS` that a headerless row has, or None."""
    for form in EVENT_LIST_FORMS:
        _, n_fields, file_at, onset_at, offset_at, label_at = form
        if (len(cells) == n_fields and _is_number(cells[onset_at])
                and _is_number(cells[offset_at]) and not _is_number(cells[label_at])
                and (file_at is None or not _is_number(cells[file_at]))):
            return form
    return None


def _list_rows(path: Path, rows: list[list[str]], lines: list[int], root: Path,
               recording: Optional[str]) -> tuple[_Rows, list[str]]:
    """The candidate events of a headerless event list (sed_eval / dcase_util forms)."""
    trimmed = []
    for cells in rows:
        end = len(cells)
        while end and not cells[end - 1]:
            end -= 1
        trimmed.append(cells[:end])
    forms = [_list_form(cells) for cells in trimmed]
    counts = Counter(form for form in forms if form is not None)
    empty = [len(cells) == 1 and not _is_number(cells[0]) for cells in trimmed]
    if not counts:
        _refuse_list(path, trimmed, lines, empty)
    main = counts.most_common(1)[0][0] if counts else EVENT_LIST_FORMS[1]
    table_recording = None
    if main[2] is None:
        missing = "an event list without a file column (onset offset label)"
        table_recording = _table_recording(path, root, recording, missing)
    else:
        _refuse_recording(path, recording, "its first field")
    out = _Rows([], [], [], [], [])
    empty_files = []
    for cells, form, line, is_empty in zip(trimmed, forms, lines, empty):
        if is_empty and main[2] is not None:
            empty_files.append(_resolve(cells[0], root))
            continue
        if form is None or (form[2] is None) != (main[2] is None):
            if form is not None or len(cells) > main[1]:
                out.problems[len(out.lines)] = (
                    f"{len(cells)} fields; expected the list's form: {main[0]}")
            form, cells = main, cells + [""] * max(0, main[1] - len(cells))
        _, _, file_at, onset_at, offset_at, label_at = form
        out.files.append(table_recording if file_at is None else
                         (_resolve(cells[file_at], root) if cells[file_at] else ""))
        out.onset_text.append(cells[onset_at] if onset_at < len(cells) else "")
        out.offset_text.append(cells[offset_at] if offset_at < len(cells) else "")
        out.labels.append(cells[label_at] if label_at < len(cells) else "")
        out.lines.append(line)
    return out, empty_files


def _refuse_list(path: Path, trimmed: list[list[str]], lines: list[int], empty: list[bool]):
    """A headerless table with no event row: a weak-label list, a file list, or unreadable."""
    if all(empty):
        return  # only files without events: an empty events table
    weak = [len(c) >= 2 and not any(_is_number(x) for x in c) for c in trimmed]
    if sum(weak) > len(trimmed) / 2:
        raise WeakLabelList(f"{path}: a clip-level (weak) label list (file, labels; no event "
                            "times); read it with read_weak_labels")
    first = next(i for i, e in enumerate(empty) if not e)
    if all(len(c) == 2 and all(map(_is_number, c)) for c in trimmed):
        raise ValueError(f"{path}: only onset, offset pairs (sed_eval's two-column form): no "
                         "labels to train on; expected onset offset label")
    forms = "; ".join(form[0] for form in EVENT_LIST_FORMS)
    raise ValueError(f"{path}, line {lines[first]}: {len(trimmed[first])} fields "
                     f"{trimmed[first]!r} in no form of an event list; expected: {forms}")


def read_annotation_folder(folder: PathArg, audio_root: Optional[PathArg] = None,
                           label_column: Optional[str] = None) -> pd.DataFrame:
    """Read every ``*.txt``, ``*.csv``, ``*.tsv`` and ``*.ann`` table under ``folder``
    (recursively; hidden files and folders left out).

    Relative recording names resolve against ``audio_root``, or each table's own folder. A file
    that is no event table (a README whose first line has no tab, comma or semicolon, a list of
    file names, a weak-label list) is left out with a warning and listed in ``attrs["skipped"]``
    (line None). Returns the events of all tables, sorted as :func:`read_annotations`, with
    ``attrs["skipped"]`` and ``attrs["empty_files"]`` of all tables.

    Raises:
        ValueError: no event table under the folder, or a table that cannot be read (as
            :func:`read_annotations`).
        FileNotFoundError: no such folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"annotation folder {folder} does not exist")
    paths = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    parts, skipped, empty_files = [], [], []
    for path in paths:
        try:
            if path.suffix.lower() == ".txt" and not _is_table(path):
                raise NotAnEventTable(f"{path}: not an annotation table (no delimiter in its "
                                      "first line)")
            events = read_annotations(path, audio_root=audio_root, label_column=label_column)
        except NotAnEventTable as error:
            warnings.warn(f"{error}; skipped", stacklevel=2)
            skipped.append({"file": str(path), "line": None,
                            "reason": str(error).removeprefix(f"{path}: ")})
            continue
        parts.append(events)
        skipped += events.attrs.get("skipped", [])
        empty_files += events.attrs.get("empty_files", [])
    if not parts:
        raise ValueError(f"no annotation tables ({', '.join('*' + s for s in TABLE_SUFFIXES)}) "
                         f"under {folder}")
    events = sort_events(pd.concat(parts, ignore_index=True))
    return _with_attrs(events, skipped, empty_files)


# --------------------------------------------------------------------------------------------
# Writing


def check_events(events: pd.DataFrame, where: str = "events") -> pd.DataFrame:
    """Validate an events table (columns file, onset, offset, label) as the readers do.

    Returns the four columns as a new DataFrame with float times and str labels (index kept).

    Raises:
        ValueError: a missing column or a bad row (named by its position, 1-based).
    """
    missing = [column for column in EVENT_COLUMNS if column not in events.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {', '.join(missing)}; columns found: "
                         f"{', '.join(map(str, events.columns)) or 'none'}")
    files = ["" if _is_missing(v) else str(v).strip() for v in events["file"]]
    labels = ["" if _is_missing(v) else str(v).strip() for v in events["label"]]
    times = {}
    for name in ("onset", "offset"):
        values = events[name]
        text = ["" if _is_missing(v) else str(v) for v in values]
        times[name] = (text, pd.to_numeric(values, errors="coerce").to_numpy(dtype=float))
    problems = _row_problems(files, times["onset"][0], times["offset"][0], times["onset"][1],
                             times["offset"][1], labels)
    _raise_first(where, problems, None)
    return pd.DataFrame({"file": files, "onset": times["onset"][1],
                         "offset": times["offset"][1], "label": labels}, index=events.index)


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _relative_name(file: str, root: Path) -> str:
    """``file`` relative to ``root`` when it lies under it (forward slashes), else absolute."""
    absolute = Path(os.path.abspath(file))
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return str(absolute)


def write_raven_table(events: pd.DataFrame, path: PathArg, sr: Optional[float] = None,
                      audio_root: Optional[PathArg] = None) -> Path:
    """Write events as a Raven selection table (tab-separated, one ``Spectrogram 1`` row each).

    Columns: Selection (1, 2, ... in the order given), View, Channel (1), Begin Time (s),
    End Time (s), Low Freq (Hz) (0), High Freq (Hz) (``sr / 2``, or 0 without ``sr``),
    Annotation, Begin File. Begin File is the recording relative to ``audio_root`` (default: the
    table's folder) when it lies under it, else its absolute path, so that
    ``read_annotations(path, audio_root)`` gives the events back.

    Raises:
        ValueError: a bad events table (see :func:`check_events`).
    """
    path = Path(path)
    clean = check_events(events)
    root = Path(os.path.abspath(audio_root if audio_root is not None else path.parent))
    table = pd.DataFrame({
        "Selection": np.arange(1, len(clean) + 1),
        "View": "Spectrogram 1",
        "Channel": 1,
        RAVEN_BEGIN: clean["onset"].to_numpy(),
        RAVEN_END: clean["offset"].to_numpy(),
        "Low Freq (Hz)": 0.0,
        "High Freq (Hz)": float(sr) / 2.0 if sr else 0.0,
        "Annotation": clean["label"].to_numpy(),
        "Begin File": [_relative_name(f, root) for f in clean["file"]],
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, sep="\t", index=False, lineterminator="\n")
    return path


def write_events_csv(events: pd.DataFrame, path: PathArg,
                     audio_root: Optional[PathArg] = None) -> Path:
    """Write events as a CSV with columns file, onset, offset, label.

    ``file`` is relative to ``audio_root`` (default: the CSV's folder) when the recording lies
    under it, else absolute; ``read_annotations(path, audio_root)`` gives the events back.

    Raises:
        ValueError: a bad events table (see :func:`check_events`).
    """
    path = Path(path)
    clean = check_events(events)
    root = Path(os.path.abspath(audio_root if audio_root is not None else path.parent))
    table = clean.assign(file=[_relative_name(f, root) for f in clean["file"]])
    path.parent.mkdir(parents=True, exist_ok=True)
    table[list(EVENT_COLUMNS)].to_csv(path, index=False, lineterminator="\n")
    return path
