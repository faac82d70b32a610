"""The dataset table: one row per audio file, whatever layout it was loaded from.

A *table* is a pandas DataFrame with the columns of :data:`TABLE_COLUMNS`:

==========  =============  ============================================================
path        str            absolute path of the audio file
label       str            class name
fold        Int64 or NA    cross-validation fold, when the dataset defines folds
split       str or NA      "train", "validation" or "test", when the dataset defines it
group       str or NA      rows that must stay on one side of a split (same patient, same
                           source recording...)
annotation  str or NA      the file's annotation file (e.g. the respiratory-cycle .txt of an
                           ICBHI recording), for loaders whose labels vary along a recording
dataset     str            the registered dataset name (the folder or manifest name when a
                           loader is used directly)
==========  =============  ============================================================

String columns use pandas' default string dtype (``str`` in pandas 3: missing values are NaN,
comparisons give plain bool masks; object dtype on older pandas). Test for missing values with
``isna()``. Folder loaders return rows in a sorted order that does not depend on the order in
which the file system lists files; a manifest keeps its own row order.

This module imports no loader: every loader imports it (:mod:`.layouts` says how loaders are
found).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import numpy as np
import pandas as pd

PathArg = Union[str, os.PathLike]

TABLE_COLUMNS = ("path", "label", "fold", "split", "group", "annotation", "dataset")
SPLIT_VALUES = ("train", "validation", "test")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")

# The label tasks a loader can be asked for (``parameters.task``) and their fixed class lists;
# the first class of each is the negative/normal one. Loaders that take a ``task`` label their
# rows with these classes (see :mod:`.respiratory`).
TASK_CLASSES = {
    "pneumonia": ("no_pneumonia", "pneumonia"),
    "cw": ("none", "crackle", "wheeze", "both"),
}

try:  # pandas >= 2.3: the string dtype that pandas 3 infers for text, NaN for missing values
    STRING_DTYPE = pd.StringDtype(na_value=np.nan)
except TypeError:
    STRING_DTYPE = np.dtype(object)


def make_table(rows: Union[pd.DataFrame, list[dict], None] = None,
               dataset: Optional[str] = None) -> pd.DataFrame:
    """A table with exactly :data:`TABLE_COLUMNS` and their dtypes.

    Missing columns become NA; other columns are dropped. ``dataset`` fills the dataset column
    where it is missing.
    """
    frame = pd.DataFrame(rows if rows is not None else [])
    table = pd.DataFrame(index=range(len(frame)))
    for column in TABLE_COLUMNS:
        if column == "fold":
            values = frame[column].to_numpy() if column in frame else [pd.NA] * len(frame)
            table[column] = pd.array(values, dtype="Int64")
        else:
            values = frame[column] if column in frame else pd.Series([np.nan] * len(frame))
            # str() each present value, so that e.g. numeric group ids become text too.
            table[column] = pd.array([np.nan if pd.isna(value) else str(value)
                                      for value in values], dtype=STRING_DTYPE)
    if dataset is not None:
        table["dataset"] = table["dataset"].fillna(dataset)
    return table


def is_audio_file(path: Path) -> bool:
    """Whether ``path``'s name is that of a visible audio file (by extension, any letter case);
    it does not look at the disk."""
    return path.suffix.lower() in AUDIO_EXTENSIONS and not path.name.startswith(".")


def visible_subfolders(root: Path) -> list[Path]:
    """The sub-folders of ``root`` whose names do not start with a dot, sorted."""
    return sorted(child for child in root.iterdir()
                  if child.is_dir() and not child.name.startswith("."))


def require_dir(root: PathArg, what: str) -> Path:
    """``root`` resolved, or FileNotFoundError / NotADirectoryError naming ``what`` it should
    be (e.g. "ICBHI dataset folder")."""
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{root}: {what} not found")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: expected a folder ({what})")
    return root.resolve()
