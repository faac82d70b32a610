"""The manifest layout: a .csv file listing the audio files, one row each.

Importing this module registers the layout "manifest".
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .layouts import register_layout
from .schema import SPLIT_VALUES, PathArg, make_table


def _read_manifest(csv_path: Path) -> pd.DataFrame:
    """The manifest's rows, with ``path`` and ``label`` present and non-empty."""
    manifest = pd.read_csv(csv_path, dtype={"path": str, "label": str, "split": str,
                                            "group": str, "annotation": str})
    manifest.columns = [str(column).strip() for column in manifest.columns]
    missing = [column for column in ("path", "label") if column not in manifest.columns]
    if missing:
        raise ValueError(f"{csv_path}: manifest is missing required column(s) "
                         f"{', '.join(missing)}; found {', '.join(manifest.columns) or 'none'}")
    for column in ("path", "label"):
        empty = manifest[column].isna() | (manifest[column].str.strip() == "")
        if empty.any():
            lines = ", ".join(str(i + 2) for i in manifest.index[empty][:10])
            raise ValueError(f"{csv_path}: empty '{column}' on line(s) {lines}")
    return manifest


def _check_fold_and_split(manifest: pd.DataFrame, csv_path: Path) -> None:
    """Folds as whole numbers (Int64), splits lower-cased and among :data:`SPLIT_VALUES`."""
    if "fold" in manifest:
        folds = pd.to_numeric(manifest["fold"], errors="coerce")
        bad = (folds.notna() & (folds != folds.round())) | (folds.isna() & manifest["fold"].notna())
        if bad.any():
            values = ", ".join(map(repr, manifest.loc[bad, "fold"].unique()[:5]))
            raise ValueError(f"{csv_path}: 'fold' must hold whole numbers, got {values}")
        manifest["fold"] = folds.astype("Int64")
    if "split" in manifest:
        manifest["split"] = manifest["split"].str.strip().str.lower()
        bad = manifest["split"].notna() & ~manifest["split"].isin(SPLIT_VALUES)
        if bad.any():
            values = ", ".join(map(repr, manifest.loc[bad, "split"].unique()[:5]))
            raise ValueError(f"{csv_path}: 'split' must be one of {', '.join(SPLIT_VALUES)} "
                             f"or empty, got {values}")


def load_manifest(csv_path: PathArg) -> pd.DataFrame:
    """A CSV manifest with columns ``path,label`` and optionally ``fold``, ``split``, ``group``,
    ``annotation``.

    Relative paths (``path``, ``annotation``) are relative to the CSV file's folder. Rows keep
    the manifest's order.
    ``split`` values must be "train", "validation" or "test" (or empty). Other columns are
    ignored.
    """
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: manifest file not found")
    csv_path = csv_path.resolve()
    manifest = _read_manifest(csv_path)
    # normpath folds "../" away without resolving symbolic links the user may rely on.
    manifest["path"] = [os.path.normpath(csv_path.parent / Path(path).expanduser())
                        for path in manifest["path"].str.strip()]
    if "annotation" in manifest:
        manifest["annotation"] = [
            np.nan if pd.isna(path) or not str(path).strip()
            else os.path.normpath(csv_path.parent / Path(str(path).strip()).expanduser())
            for path in manifest["annotation"]]
    _check_fold_and_split(manifest, csv_path)
    if manifest.empty:
        raise ValueError(f"{csv_path}: manifest has no rows")
    return make_table(manifest, dataset=csv_path.stem)


def is_manifest(path: Path) -> bool:
    """Whether ``path`` is a .csv file that is no clip-level label list (``filename,
    event_labels``: the layout "weak_labels")."""
    from .weak_labels import is_weak_label_list  # here: the manifest layout registers first

    return path.is_file() and path.suffix.lower() == ".csv" and not is_weak_label_list(path)


register_layout("manifest", is_manifest, load_manifest,
                "a manifest .csv file with columns path,label (optional fold, split, group, "
                "annotation)")
