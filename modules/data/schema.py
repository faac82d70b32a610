"""The dataset table: one row per audio file, whatever layout it was loaded from.

A *table* is a pandas DataFrame with the columns of :data:`TABLE_COLUMNS`:

==========  =============  ============================================================
path        str            absolute path of the audio file
label       str            class name; for a file of a multi-label dataset, its label *combination*
                           (:func:`label_combination`), a key for stratified splits, never a
                           class
labels      str or NA      a multi-label file's classes as a JSON list (``[]``: none of the
                           classes, a negative clip); NA in a single-label dataset
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

import json
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np
import pandas as pd

PathArg = Union[str, os.PathLike]

TABLE_COLUMNS = ("path", "label", "labels", "fold", "split", "group", "annotation", "dataset")
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


NO_CLASS = "(none of the classes)"  # the label combination of a clip without any class


def encode_labels(labels) -> str:
    """A multi-label file's classes as the ``labels`` cell: a JSON list, in their order."""
    return json.dumps([str(label) for label in labels], ensure_ascii=False)


def decode_labels(cell) -> list[str]:
    """The classes of a ``labels`` cell (see :func:`encode_labels`)."""
    return [str(label) for label in json.loads(cell)]


def label_combination(labels) -> str:
    """The ``label`` of a multi-label file: its classes sorted and joined by " + " (one class:
    that class, as in a single-label dataset), :data:`NO_CLASS` for none."""
    return " + ".join(sorted(str(label) for label in labels)) or NO_CLASS


def is_multi_label(table: pd.DataFrame) -> bool:
    """Whether any row of ``table`` carries a ``labels`` list."""
    return "labels" in table and bool(table["labels"].notna().any())


def row_labels(table: pd.DataFrame) -> list[list[str]]:
    """Every row's classes: its ``labels`` list, or ``[label]`` for a single-label row."""
    labels = table["labels"] if "labels" in table else [np.nan] * len(table)
    return [decode_labels(cell) if isinstance(cell, str) else [str(label)]
            for label, cell in zip(table["label"], labels)]


def multi_hot(label_lists, class_names, dtype=np.float32) -> np.ndarray:
    """(files, classes): 1 for each class of each file (a row of zeros: none)."""
    index = {name: i for i, name in enumerate(class_names)}
    out = np.zeros((len(label_lists), len(class_names)), dtype)
    for row, labels in enumerate(label_lists):
        out[row, [index[label] for label in labels]] = 1
    return out


CLASS_ORDER = "class_names"  # attrs key: a loader's own class order (a pack's target columns)


def multi_label_classes(table: pd.DataFrame) -> list[str]:
    """The classes of a multi-label table: those in its loaders' own order
    (``attrs["class_names"]``) first, then the others in the order in which they appear;
    classes no row has are left out."""
    seen: dict[str, None] = {}
    for labels in row_labels(table):
        seen.update(dict.fromkeys(labels))
    declared = [name for name in dict.fromkeys(table.attrs.get(CLASS_ORDER, [])) if name in seen]
    return declared + [name for name in seen if name not in declared]


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
            table[column] = pd.array([_cell_text(value) for value in values],
                                     dtype=STRING_DTYPE)
    if dataset is not None:
        table["dataset"] = table["dataset"].fillna(dataset)
    return table


def _cell_text(value):
    """A table cell as text: NA stays NA, a list or tuple (``labels``) becomes its JSON list,
    anything else str() (so that e.g. numeric group ids become text too)."""
    if isinstance(value, (list, tuple)):
        return encode_labels(value)
    return np.nan if pd.isna(value) else str(value)


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
