"""Feature sets as datasets: learned representations (``spectrain t-rae generate``, ``fuse``,
``import``) feeding a job block instead of audio.

A netCDF feature set (:mod:`modules.representation.dataset`) registered as a dataset becomes a
table with one row per *file* of the set: path ``<set>.nc::<filename>``, the instance's label,
the fold in which the file is validation data (``cv_folds``), the partition as ``split`` (train,
devel -> validation, test; none when the set has no partition, which auDeep stores as NaN) and
the file name as ``group``. A file whose chunks disagree, or that is VALID in several folds or
has a missing split, is refused with a one-line message (a table row has one fold). Decoding such a path gives that file's
feature vectors, one per chunk in ``chunk_nr`` order, where an audio file would give its audio
chunks; everything after decoding (splits, class weights, batching, reports, replay, MLflow) is
the same as for audio. Use :func:`modules.parsers.feature_parser` and a model that takes
feature vectors, e.g. :func:`modules.models.feature_mlp`::

    register_dataset("Esc10Rae", "cache/representations/esc10/representations.nc")
    launch_job({"Esc10Rae": 1}, feature_mlp, [], [], feature_parser)

Only feature sets with one feature dimension (one vector per instance) feed a job.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .layouts import register_layout
from .schema import make_table

FEATURE_SEPARATOR = "::"
FEATURE_SUFFIXES = (".nc",)
_PARTITION_SPLITS = {0: "train", 1: "validation", 2: "test"}  # auDeep TRAIN, DEVEL, TEST


def feature_reference(path) -> Optional[tuple[str, str]]:
    """(feature-set file, file name) for a ``<set>.nc::<filename>`` path, else None."""
    head, separator, name = str(path).partition(FEATURE_SEPARATOR)
    if separator and name and head.lower().endswith(FEATURE_SUFFIXES):
        return head, name
    return None


class _OpenSets:
    """Feature sets read once per process (keyed by path, size and mtime), shared by the
    tf.data worker threads; a file changed on disk is read again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sets: dict = {}

    def get(self, path: str):
        from modules.representation.dataset import FeatureSet, FeatureSetError

        if not os.path.isfile(path):
            raise FeatureSetError(f"{path}: no such file")
        stat = os.stat(path)
        key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            entry = self._sets.get(key)
            if entry is None:
                fs = FeatureSet.load(path)
                _check_vectors(fs, path)
                rows: dict[str, list[int]] = {}
                for row, name in enumerate(fs.filename):
                    rows.setdefault(str(name), []).append(row)
                order = {name: sorted(found, key=lambda r: int(fs.chunk_nr[r]))
                         for name, found in rows.items()}
                entry = (fs, np.ascontiguousarray(fs.features, dtype=np.float32), order)
                self._sets = {k: v for k, v in self._sets.items() if k[0] != key[0]}
                self._sets[key] = entry
            return entry


_open_sets = _OpenSets()


def _check_vectors(fs, path) -> None:
    from modules.representation.dataset import FeatureSetError

    if len(fs.feature_shape) != 1:
        raise FeatureSetError(
            f"{path}: features of shape {tuple(fs.feature_shape)} per instance "
            f"({', '.join(d for d in fs.feature_dims)}); a job takes one feature vector per "
            f"instance, such as the output of `spectrain t-rae generate`")


def feature_width(path) -> int:
    """Values per feature vector of the feature set behind ``path`` (a set or a reference)."""
    reference = feature_reference(path)
    _, features, _ = _open_sets.get(reference[0] if reference else str(path))
    return int(features.shape[1])


def read_feature_rows(path, width: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """The feature vectors of one file of a set, like :func:`~.audio.decode_to_chunks` for
    audio: ``(vectors (chunks, width) float32, padded (chunks,) all False, error)``; never
    raises for a missing set or file name: it returns no rows (``width`` columns, for a set
    that cannot be read) and the reason instead."""
    reference = feature_reference(path)
    if reference is None:
        raise ValueError(f"{path}: not a feature-set reference '<set>.nc::<filename>'")
    set_path, name = reference
    try:
        _, features, order = _open_sets.get(set_path)
    except (OSError, ValueError) as error:  # FeatureSetError is a ValueError
        return np.zeros((0, width), np.float32), np.zeros((0,), bool), str(error).split("\n")[0]
    rows = order.get(name)
    if not rows:
        return (np.zeros((0, features.shape[1]), np.float32), np.zeros((0,), bool),
                f"no instance named {name!r} in {set_path}")
    vectors = features[rows]
    if not np.isfinite(vectors).all():
        return (np.zeros((0, features.shape[1]), np.float32), np.zeros((0,), bool),
                "non-finite feature values (NaN or inf)")
    return vectors, np.zeros((len(rows),), bool), ""


def load_feature_set(path) -> pd.DataFrame:
    """A dataset table of a netCDF feature set, one row per file (see the module docstring).

    Raises:
        FeatureSetError: not a feature set, features that are not vectors, or no labels.
    """
    from modules.representation.dataset import FeatureSetError

    path = Path(path)
    fs, _, order = _open_sets.get(str(path))
    first_rows = [rows[0] for rows in order.values()]
    unlabelled = [str(fs.filename[r]) for r in first_rows if fs.label_nominal[r] is None]
    if len(unlabelled) == len(first_rows):
        raise FeatureSetError(f"{path}: no instance has a label; a training job needs "
                              f"labelled instances")
    records = [_file_record(fs, path, name, rows) for name, rows in order.items()
               if fs.label_nominal[rows[0]] is not None]
    if unlabelled:
        print(f"{path}: {len(unlabelled)} unlabelled file(s) left out, e.g. {unlabelled[0]}")
    return make_table(records, dataset=path.stem)


def _file_record(fs, path, name: str, rows: list) -> dict:
    """The table row of one file of the set. Its chunks must agree on label, cv_folds and
    partition (auDeep's integrity constraints 1-4) and it must be VALID in at most one fold, with
    no missing split: a table row has one fold, and none is picked silently."""
    from modules.representation.dataset import FeatureSetError, VALID

    row = rows[0]
    for other in rows[1:]:
        for field in ("label_nominal", "partition", "cv_folds"):
            if not np.array_equal(getattr(fs, field)[other], getattr(fs, field)[row]):
                raise FeatureSetError(f"{path}: variable {field}: the chunks of {name} disagree "
                                      f"({fs.describe(row)} vs chunk {fs.chunk_nr[other]}): "
                                      f"expected one value per file")
    folds = np.flatnonzero(fs.cv_folds[row] == VALID) if fs.n_folds else []
    if len(folds) > 1 or (fs.cv_folds[row] < 0).any():
        what = ("has a missing split" if (fs.cv_folds[row] < 0).any()
                else f"is VALID in folds {', '.join(str(k + 1) for k in folds)}")
        raise FeatureSetError(f"{path}: variable cv_folds: {name} {what}: a job needs each "
                              f"file VALID in at most one fold")
    return {
        "path": f"{path}{FEATURE_SEPARATOR}{name}",
        "label": fs.label_nominal[row],
        "fold": int(folds[0]) + 1 if len(folds) else pd.NA,
        "split": _PARTITION_SPLITS.get(int(fs.partition[row]), np.nan),
        "group": name,
    }


def is_feature_set(path: Path) -> bool:
    """Whether ``path`` is an .nc file."""
    return path.is_file() and path.suffix.lower() in FEATURE_SUFFIXES


register_layout("feature_set", is_feature_set, load_feature_set,
                "an .nc feature set of learned representations")
