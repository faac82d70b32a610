"""The metadata tables datasets ship (``UrbanSound8K.csv``, ``esc50.csv``, DCASE's file lists),
read row by row: a row that cannot be used is reported (file, line, reason) and skipped, so one
bad row never costs the rest of the table.

Loaders return the skipped rows beside what they read; a dataset table carries them, as text,
in ``table.attrs["skipped_rows"]`` (:func:`attach_skipped`), which ``spectrain inspect raw``
lists, and :func:`report_skipped` prints them when a job loads the dataset.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

SKIPPED_ROWS = "skipped_rows"  # the key of a table's attrs
_REPORTED = 10  # rows printed one by one; the rest are counted


@dataclass(frozen=True)
class SkippedRow:
    """One row of a metadata file that was left out, and why."""
    file: str
    line: int  # 1-based line of the file
    reason: str

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}: {self.reason}"


def read_delimited(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """The non-blank lines of a delimited text file as ``(line number, cells)``, each cell
    stripped. A UTF-8 byte-order mark and CRLF line ends are accepted; bytes that are not UTF-8
    are replaced (the row then names a file that is not found, and is reported)."""
    rows = []
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((reader.line_num, [cell.strip() for cell in cells]))
    return rows


def read_text(path: Path) -> str:
    """A text file's contents: UTF-8 (a byte-order mark dropped), else latin-1 (Raven on Windows
    writes the system code page)."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_text_rows(path: Path) -> tuple[list[list[str]], list[int]]:
    """The non-empty rows (stripped cells) of a delimited text file and their 1-based line
    numbers; the delimiter is the first of tab, comma and semicolon in the first non-empty line
    (tab when none). An empty file gives no rows.

    Raises:
        ValueError: a row the csv module cannot parse (file and line named).
    """
    text = read_text(path)
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = next((d for d in ("\t", ",", ";") if d in first), "\t")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"')
    rows, lines = [], []
    try:
        for row in reader:
            cells = [cell.strip() for cell in row]
            if any(cells):
                rows.append(cells)
                lines.append(reader.line_num)
    except csv.Error as error:
        raise ValueError(f"{path}, line {reader.line_num + 1}: cannot parse the table: "
                         f"{' '.join(str(error).split())}") from None
    return rows, lines


def column_index(header: Sequence[str], path: Path, required: Sequence[str],
                 expected: Sequence[str]) -> dict[str, int]:
    """Column name -> position in ``header``.

    Raises:
        ValueError: a required column is missing (one line naming the file, the missing columns
            and the ``expected`` header).
    """
    index = {name: i for i, name in reversed(list(enumerate(header)))}
    missing = [name for name in required if name not in index]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                         f"{', '.join(expected)} (found {', '.join(header) or 'no header'})")
    return index


def cell(cells: Sequence[str], position: Optional[int]) -> str:
    """The cell at ``position``, "" when the row is shorter (or the column absent)."""
    return cells[position] if position is not None and position < len(cells) else ""


def whole_number(text: str) -> Optional[int]:
    """``"3"`` or ``"3.0"`` -> 3; None for anything else (empty, "x", "1.5")."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return int(value) if value.is_integer() else None


def numbering_problem(numbering: dict, label: str, number: int, line: int,
                      names: tuple = ("class", "number")) -> Optional[str]:
    """Why a row breaks the one-to-one numbering of classes seen so far (``numbering`` holds
    ``("label", label)`` and ``("number", number)`` -> (the other, line)); None when it keeps
    it, and the row is then remembered."""
    label_name, number_name = names
    seen_label = numbering.get(("label", label))
    seen_number = numbering.get(("number", number))
    if seen_label and seen_label[0] != number:
        return (f"{label_name} {label!r} has {number_name} {number} here and {seen_label[0]} "
                f"on line {seen_label[1]}")
    if seen_number and seen_number[0] != label:
        return (f"{number_name} {number} is {label_name} {label!r} here and "
                f"{seen_number[0]!r} on line {seen_number[1]}")
    numbering.setdefault(("label", label), (number, line))
    numbering.setdefault(("number", number), (label, line))
    return None


def report_skipped(skipped: Sequence[SkippedRow], what: str) -> None:
    """Print the skipped rows (the first few one per line, then how many more)."""
    if not skipped:
        return
    print(f"{what}: {len(skipped)} row(s) skipped:", flush=True)
    for row in skipped[:_REPORTED]:
        print(f"  {row}", flush=True)
    if len(skipped) > _REPORTED:
        print(f"  ... and {len(skipped) - _REPORTED} more", flush=True)


def attach_skipped(table: pd.DataFrame, skipped: Sequence[SkippedRow]) -> pd.DataFrame:
    """``table`` with the skipped rows, as text, in ``attrs["skipped_rows"]``."""
    table.attrs[SKIPPED_ROWS] = [str(row) for row in skipped]
    return table


def skipped_of(table: pd.DataFrame) -> list[str]:
    """The skipped rows a loader attached to ``table`` (empty when none)."""
    return list(getattr(table, "attrs", {}).get(SKIPPED_ROWS, []))
