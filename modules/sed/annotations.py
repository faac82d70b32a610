"""Event annotation tables: read Raven selection tables and plain CSV/TSV tables, write them back.

Every reader returns one table of events::

    file     absolute path of the recording (str)
    onset    seconds from the start of the recording (float)
    offset   seconds (float), greater than onset
    label    the event's class (str, non-empty)

sorted by file, then onset. The format is detected from the header line:

* **Raven selection tables** (tab-separated, with ``Begin Time (s)`` and ``End Time (s)``). The
  label comes from ``Annotation``, ``Label``, ``Species`` or ``Class`` (the first found), or the
  column named by ``label_column``. The recording comes from ``Begin File``, ``Begin Path``,
  ``File`` or ``filename`` (the first found); a table without any of them belongs to the
  recording it is named after: ``<recording>.Table.1.selections.txt`` -> ``<recording>.wav``
  next to it. Raven writes one row per view of a selection (``Waveform 1``, ``Spectrogram 1``):
  one row per ``Selection`` id is kept. When a table lists a file sequence, ``Begin Time (s)``
  counts from the start of the first file; with a ``File Offset (s)`` column the onset is that
  offset into ``Begin File`` instead, and the offset is the onset plus the selection's length.
* **Plain CSV or TSV** (comma, tab or semicolon separated) with the columns (case-insensitive)
  file (or filename, path, recording), onset (or start, begin), offset (or end, stop) and label
  (or event_label, class, annotation), or the label column named by ``label_column``.

Relative recording names resolve against ``audio_root`` (default: the table's folder). A Windows
path (``C:\\...`` or with backslashes) read on another system keeps only its file name, resolved
against ``audio_root``: Raven's ``Begin Path`` is the path on the annotator's computer.
Whether the recordings exist is not checked here.

Problems are one-line ``ValueError`` s naming the table, the data row and its line number.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from pathlib import Path, PureWindowsPath
from typing import Optional, Union

import numpy as np
import pandas as pd

PathArg = Union[str, os.PathLike]

EVENT_COLUMNS = ("file", "onset", "offset", "label")

RAVEN_BEGIN = "Begin Time (s)"
RAVEN_END = "End Time (s)"
RAVEN_FILE_OFFSET = "File Offset (s)"
RAVEN_LABEL_COLUMNS = ("Annotation", "Label", "Species", "Class")
RAVEN_FILE_COLUMNS = ("Begin File", "Begin Path", "File", "filename")
RAVEN_TABLE_NAME = re.compile(r"^(?P<recording>.+?)\.Table\.\d+\.selections\.txt$", re.IGNORECASE)

ALIASES = {
    "file": ("file", "filename", "path", "recording"),
    "onset": ("onset", "start", "begin"),
    "offset": ("offset", "end", "stop"),
    "label": ("label", "event_label", "class", "annotation"),
}

TABLE_SUFFIXES = (".txt", ".csv", ".tsv")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".w64", ".rf64")


# --------------------------------------------------------------------------------------------
# Reading


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # Raven on Windows writes the system code page


def _split_header(text: str) -> tuple[int, str]:
    """(index of the header line, the header line); ValueError-free: empty text gives (0, "")."""
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
        _, header = _split_header(_read_text(path))
    except OSError:
        return True  # let the reader report it
    return _delimiter(header) is not None


def _load(path: Path) -> tuple[pd.DataFrame, list[int]]:
    """The table as strings (stripped, "" for empty cells) and each row's line number."""
    text = _read_text(path)
    header_index, header = _split_header(text)
    if not header:
        raise ValueError(f"{path}: empty file, expected an annotation table with a header line")
    delimiter = _delimiter(header) or "\t"
    try:
        table = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                            skiprows=header_index, skip_blank_lines=False, quotechar='"',
                            index_col=False)
    except pd.errors.ParserError as error:
        message = " ".join(str(error).split())
        raise ValueError(f"{path}: cannot parse the table: {message}") from None
    table.columns = [str(column).strip() for column in table.columns]
    table = table.apply(lambda column: column.fillna("").astype(str).str.strip())
    lines = [header_index + 2 + i for i in range(len(table))]  # header is line header_index+1
    filled = (table != "").any(axis=1).to_numpy() if len(table.columns) else np.zeros(0, bool)
    table = table[filled].reset_index(drop=True)
    lines = [line for line, keep in zip(lines, filled) if keep]
    return table, lines


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


def _raven_recording(path: Path, root: Path) -> str:
    """The recording a Raven table without a file column belongs to, from the table's name."""
    match = RAVEN_TABLE_NAME.match(path.name)
    if not match:
        raise ValueError(
            f"{path}: a Raven table without a file column (accepted: "
            f"{', '.join(RAVEN_FILE_COLUMNS)}) must be named <recording>.Table.1.selections.txt "
            "to tell which recording it belongs to")
    stem = match.group("recording")
    if stem.lower().endswith(AUDIO_SUFFIXES):  # "rec.wav.Table.1.selections.txt"
        return _resolve(stem, root)
    wav = root / f"{stem}.wav"
    if not wav.exists():  # the recording may be FLAC or another format; prefer what is there
        others = [root / f"{stem}{suffix}" for suffix in AUDIO_SUFFIXES[1:]]
        present = [other for other in others if other.exists()]
        if len(present) == 1:
            return os.path.normpath(str(present[0]))
    return os.path.normpath(str(wav))


def _parse_times(values: pd.Series) -> np.ndarray:
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


def read_annotations(path: PathArg, audio_root: Optional[PathArg] = None,
                     label_column: Optional[str] = None) -> pd.DataFrame:
    """Read one annotation table (Raven selection table, CSV or TSV; see the module docstring).

    Args:
        path: the table.
        audio_root: folder that relative recording names resolve against (default: the table's
            folder).
        label_column: the column holding the labels, instead of the usual names.

    Returns:
        DataFrame with columns file (absolute path), onset, offset (s), label; sorted by file
        and onset.

    Raises:
        ValueError: a missing required column, an unparsable or negative time, offset <= onset,
            a missing label or recording name; the message names the table and the row.
        FileNotFoundError: no such table.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation table {path} does not exist")
    root = Path(audio_root) if audio_root is not None else path.parent
    root = Path(os.path.abspath(root))
    table, lines = _load(path)
    columns = list(table.columns)
    raven = _find(columns, [RAVEN_BEGIN]) is not None or _find(columns, [RAVEN_END]) is not None

    if raven:
        table, lines = _one_row_per_selection(table, lines, columns)
        rows = _raven_rows(path, table, columns, root, label_column)
    else:
        rows = _plain_rows(path, table, columns, root, label_column)
    files, onset_text, offset_text, onset, offset, labels = rows

    problems = _row_problems(files, onset_text, offset_text, onset, offset, labels)
    _raise_first(str(path), problems, lines)
    return _events(files, onset, offset, labels)


def _one_row_per_selection(table: pd.DataFrame, lines: list[int], columns: list[str]):
    """A Raven table's rows with one per selection (its views repeat them): (table, lines)."""
    selection = _find(columns, ["Selection"])
    if selection is not None and len(table):
        keep = ~table[selection].duplicated().to_numpy()
    elif _find(columns, ["View"]) is not None and len(table):
        view = table[_find(columns, ["View"])]
        keep = (view == view.iloc[0]).to_numpy()  # no ids: keep the rows of one view
    else:
        keep = np.ones(len(table), bool)
    table = table[keep].reset_index(drop=True)
    return table, [line for line, kept in zip(lines, keep) if kept]


def _raven_rows(path: Path, table: pd.DataFrame, columns: list[str], root: Path,
                label_column: Optional[str]):
    """(files, onset texts, offset texts, onsets, offsets, labels) of a Raven selection table."""
    begin_column, end_column = _find(columns, [RAVEN_BEGIN]), _find(columns, [RAVEN_END])
    for name, column in (("begin time", begin_column), ("end time", end_column)):
        if column is None:
            raise _missing_column(path, f"Raven {name}", columns, [RAVEN_BEGIN, RAVEN_END])
    label_candidates = [label_column] if label_column else list(RAVEN_LABEL_COLUMNS)
    label_name = _find(columns, label_candidates)
    if label_name is None:
        raise _missing_column(path, "label", columns, label_candidates
                              + ([] if label_column else ["(or pass label_column)"]))
    file_name = _find(columns, RAVEN_FILE_COLUMNS)
    if file_name is None:
        recording = _raven_recording(path, root)
        files = [recording] * len(table)
    else:
        files = [_resolve(name, root) if name else "" for name in table[file_name]]
    onset_text, offset_text = table[begin_column].tolist(), table[end_column].tolist()
    onset, offset = _parse_times(table[begin_column]), _parse_times(table[end_column])
    file_offset = _find(columns, [RAVEN_FILE_OFFSET])
    if file_offset is not None and file_name is not None and \
            file_name.lower() in ("begin file", "begin path"):
        # A file sequence: Begin Time counts from the first file, File Offset from Begin File.
        starts = _parse_times(table[file_offset])
        has_offset = np.isfinite(starts)
        offset = np.where(has_offset, starts + (offset - onset), offset)
        onset = np.where(has_offset, starts, onset)
        onset_text = [s if h else t for s, h, t in
                      zip(table[file_offset].tolist(), has_offset, onset_text)]
    return files, onset_text, offset_text, onset, offset, table[label_name].tolist()


def _plain_rows(path: Path, table: pd.DataFrame, columns: list[str], root: Path,
                label_column: Optional[str]):
    """(files, onset texts, offset texts, onsets, offsets, labels) of a CSV/TSV event table."""
    found = {}
    for key, aliases in ALIASES.items():
        if key == "label" and label_column:
            aliases = (label_column,)
        found[key] = _find(columns, aliases)
        if found[key] is None:
            if len(columns) == 1 and _delimiter(columns[0]) is None:
                raise ValueError(
                    f"{path}: not a table: the header has a single column {columns[0]!r} "
                    "(expected a Raven selection table or a CSV/TSV with columns file, "
                    "onset, offset, label)")
            raise _missing_column(path, key, columns, aliases)
    files = [_resolve(name, root) if name else "" for name in table[found["file"]]]
    onset_text, offset_text = table[found["onset"]].tolist(), table[found["offset"]].tolist()
    onset, offset = _parse_times(table[found["onset"]]), _parse_times(table[found["offset"]])
    return files, onset_text, offset_text, onset, offset, table[found["label"]].tolist()


def read_annotation_folder(folder: PathArg, audio_root: Optional[PathArg] = None,
                           label_column: Optional[str] = None) -> pd.DataFrame:
    """Read every ``*.txt``, ``*.csv`` and ``*.tsv`` table under ``folder`` (recursively).

    Relative recording names resolve against ``audio_root``, or each table's own folder. A
    ``.txt`` file whose first line has no tab, comma or semicolon (a README, notes) is no table:
    it is skipped with a warning. Returns the events of all tables, sorted as
    :func:`read_annotations`.

    Raises:
        ValueError: no table under the folder, or a bad table (as :func:`read_annotations`).
        FileNotFoundError: no such folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"annotation folder {folder} does not exist")
    paths = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    parts = []
    for path in paths:
        if path.suffix.lower() == ".txt" and not _is_table(path):
            warnings.warn(f"{path}: not an annotation table (no delimiter in its first line); "
                          "skipped", stacklevel=2)
            continue
        parts.append(read_annotations(path, audio_root=audio_root, label_column=label_column))
    if not parts:
        raise ValueError(f"no annotation tables ({', '.join('*' + s for s in TABLE_SUFFIXES)}) "
                         f"under {folder}")
    return sort_events(pd.concat(parts, ignore_index=True))


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
