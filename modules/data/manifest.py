"""The manifest layout: a .csv file listing the audio files, one row each.

Importing this module registers the layout "manifest".
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .layouts import register_layout
from .rows import SkippedRow, attach_skipped, read_delimited, report_skipped, whole_number
from .schema import SPLIT_VALUES, PathArg, make_table


COLUMNS = ("path", "label", "fold", "split", "group", "annotation")  # others are ignored


def _read_manifest(csv_path: Path) -> tuple[pd.DataFrame, list[SkippedRow]]:
    """The manifest's usable rows (text; "" as NaN) and the rows left out, each with its line
    and reason: a bad row never costs the rest of the file."""
    rows = read_delimited(csv_path, ",")
    if not rows:
        raise ValueError(f"{csv_path}: manifest is empty")
    header = rows[0][1]
    missing = [column for column in ("path", "label") if column not in header]
    if missing:
        raise ValueError(f"{csv_path}: manifest is missing required column(s) "
                         f"{', '.join(missing)}; found {', '.join(header) or 'none'}")
    records, skipped = [], []
    for line, cells in rows[1:]:
        record = dict(zip(header, cells + [""] * (len(header) - len(cells))))
        problem = _row_problem(record, len(cells) - len(header), cells)
        if problem:
            skipped.append(SkippedRow(str(csv_path), line, problem))
            continue
        records.append({column: record.get(column, "") for column in COLUMNS if column in header})
    manifest = pd.DataFrame(records, columns=[c for c in COLUMNS if c in header], dtype=object)
    manifest = manifest.replace("", np.nan)
    if "fold" in manifest:
        manifest["fold"] = pd.array([whole_number(f) if isinstance(f, str) else None
                                     for f in manifest["fold"]], dtype="Int64")
    if "split" in manifest:
        manifest["split"] = manifest["split"].str.lower()
    return manifest, skipped


def _row_problem(record: dict, extra_cells: int, cells: list) -> str | None:
    """Why a manifest row cannot be used (None: it can)."""
    if extra_cells > 0 and any(cells[-extra_cells:]):
        return f"{len(cells)} cells, and the header names {len(cells) - extra_cells} columns"
    for column in ("path", "label"):
        if not record[column]:
            return f"empty '{column}'"
    fold = record.get("fold", "")
    if fold and whole_number(fold) is None:
        return f"fold {fold!r} is not a whole number"
    split = record.get("split", "")
    if split and split.lower() not in SPLIT_VALUES:
        return f"split {split!r} is not one of {', '.join(SPLIT_VALUES)} (or empty)"
    return None


def load_manifest(csv_path: PathArg) -> pd.DataFrame:
    """A CSV manifest with columns ``path,label`` and optionally ``fold``, ``split``, ``group``,
    ``annotation``.

    Relative paths (``path``, ``annotation``) are relative to the CSV file's folder. Rows keep
    the manifest's order.
    ``split`` values must be "train", "validation" or "test" (or empty). Other columns are
    ignored. A row with an empty path or label, a fold that is not a whole number, another
    split value, or more cells than the header is reported (line and reason) and left out
    (``attrs["skipped_rows"]``); the rest of the file is read.
    """
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: manifest file not found")
    csv_path = csv_path.resolve()
    manifest, skipped = _read_manifest(csv_path)
    report_skipped(skipped, str(csv_path))
    if manifest.empty:
        reasons = "; ".join(str(row) for row in skipped[:3])
        raise ValueError(f"{csv_path}: manifest has no usable rows"
                         + (f" ({len(skipped)} skipped: {reasons})" if skipped else ""))
    # normpath folds "../" away without resolving symbolic links the user may rely on.
    manifest["path"] = [os.path.normpath(csv_path.parent / Path(path).expanduser())
                        for path in manifest["path"]]
    if "annotation" in manifest:
        manifest["annotation"] = [
            np.nan if pd.isna(path) or not str(path).strip()
            else os.path.normpath(csv_path.parent / Path(str(path).strip()).expanduser())
            for path in manifest["annotation"]]
    return attach_skipped(make_table(manifest, dataset=csv_path.stem), skipped)


def is_manifest(path: Path) -> bool:
    """Whether ``path`` is a .csv file that is no clip-level label list (``filename,
    event_labels``: the layout "weak_labels")."""
    from .weak_labels import is_weak_label_list  # here: the manifest layout registers first

    return path.is_file() and path.suffix.lower() == ".csv" and not is_weak_label_list(path)


register_layout("manifest", is_manifest, load_manifest,
                "a manifest .csv file with columns path,label (optional fold, split, group, "
                "annotation)")
