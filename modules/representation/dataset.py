"""Feature sets in auDeep's netCDF data model, so files can be exchanged with auDeep and opened
with xarray.

Dimensions: ``instance``, ``fold``, and the feature dimensions (e.g. ``time``, ``freq`` for
spectrograms, ``generated`` for learned representations). Variables:

=============  ======================  ==========================================================
filename       (instance,) str         the audio file (relative to the dataset folder)
chunk_nr       (instance,) int         chunk index within the file
label_nominal  (instance,) str         class name; MISSING_STR when unlabelled
label_numeric  (instance,) int         class number; MISSING_INT when unlabelled
cv_folds       (instance, fold) int    per fold: TRAIN (0) or VALID (1)
partition      (instance,) int         TRAIN (0), DEVEL (1), TEST (2); MISSING_INT when none
features       (instance, *dims) f32   the features
=============  ======================  ==========================================================

Attributes: ``feature_dims`` (JSON list of the feature dimension names, in storage order),
``label_map`` (JSON object class name -> number, when labels exist), and any extra metadata
(e.g. how the spectrograms were made) as JSON strings under ``spectrain_*`` names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

INSTANCE, FOLD = "instance", "fold"
VARIABLES = ("filename", "chunk_nr", "label_nominal", "label_numeric", "cv_folds", "partition",
             "features")
MISSING_STR = "__MISSING_VALUE"  # auDeep's markers for missing values
MISSING_INT = -999999
TRAIN, VALID = 0, 1  # cv_folds values
PARTITIONS = {"train": 0, "devel": 1, "test": 2}
INSTANCE_FIELDS = ("filename", "chunk_nr", "label_nominal", "label_numeric", "cv_folds",
                   "partition")  # per-instance metadata (everything but the features)


class FeatureSetError(ValueError):
    """A file that is not a valid feature set, or inconsistent arrays."""


@dataclass
class FeatureSet:
    """In-memory feature set: one row per instance (a chunk of an audio file).

    ``label_nominal`` uses None for unlabelled instances and ``partition`` / ``label_numeric``
    use -1 in memory; the auDeep markers only appear in files.
    """

    filename: np.ndarray
    chunk_nr: np.ndarray
    label_nominal: np.ndarray
    label_numeric: np.ndarray
    cv_folds: np.ndarray
    partition: np.ndarray
    features: np.ndarray
    feature_dims: list = field(default_factory=list)
    label_map: Optional[dict] = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.filename = np.asarray(self.filename, dtype=object)
        n = len(self.filename)
        self.chunk_nr = np.asarray(self.chunk_nr, dtype=np.int64).reshape(n)
        self.label_nominal = np.asarray(self.label_nominal, dtype=object).reshape(n)
        self.label_numeric = np.asarray(self.label_numeric, dtype=np.int64).reshape(n)
        cv_folds = np.asarray(self.cv_folds, dtype=np.int64)  # (n, folds); keeps folds when n = 0
        self.cv_folds = (cv_folds if cv_folds.ndim == 2 and len(cv_folds) == n
                         else cv_folds.reshape(n, -1))
        self.partition = np.asarray(self.partition, dtype=np.int64).reshape(n)
        self.features = np.asarray(self.features, dtype=np.float32)
        if len(self.features) != n:
            raise FeatureSetError(f"features has {len(self.features)} rows, filename {n}")
        if not self.feature_dims:
            self.feature_dims = [f"dim{i}" for i in range(1, self.features.ndim)]
        if len(self.feature_dims) != self.features.ndim - 1:
            raise FeatureSetError(f"feature_dims {self.feature_dims} do not match features of "
                                  f"shape {self.features.shape}")
        if np.isnan(self.features).any():
            raise FeatureSetError("features contain NaN values")

    # -- shape -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.filename)

    @property
    def n_folds(self) -> int:
        return self.cv_folds.shape[1]

    @property
    def feature_shape(self) -> tuple:
        return tuple(self.features.shape[1:])

    def subset(self, rows) -> "FeatureSet":
        """The instances at ``rows`` (indices or a boolean mask), same metadata."""
        rows = np.asarray(rows)
        return FeatureSet(self.filename[rows], self.chunk_nr[rows], self.label_nominal[rows],
                          self.label_numeric[rows], self.cv_folds[rows], self.partition[rows],
                          self.features[rows], list(self.feature_dims),
                          None if self.label_map is None else dict(self.label_map),
                          dict(self.metadata))

    def describe(self, row: int) -> str:
        """``instance <row> (<filename> chunk <chunk_nr>)``, for error messages."""
        return f"instance {row} ({self.filename[row]} chunk {self.chunk_nr[row]})"

    def flattened(self, dim: str = "generated") -> "FeatureSet":
        """Same instances with features reshaped to (instance, dim) in C order, as CSV/ARFF
        export writes them (auDeep calls the dimension of imported features ``generated``)."""
        flat = self.features.reshape(len(self), int(np.prod(self.feature_shape)))
        return FeatureSet(self.filename, self.chunk_nr, self.label_nominal, self.label_numeric,
                          self.cv_folds, self.partition, flat,
                          [dim], None if self.label_map is None else dict(self.label_map),
                          dict(self.metadata))

    def mismatch(self, other: "FeatureSet", fields: Sequence[str] = INSTANCE_FIELDS + ("features",),
                 attributes: Sequence[str] = ("feature_dims", "label_map", "metadata"),
                 ) -> Optional[str]:
        """The first difference from ``other`` as one line, or None when they agree.

        ``fields`` are per-instance arrays (compared exactly, instance by instance, in order);
        ``attributes`` are whole-set values. The line names the field and the instance."""
        if len(self) != len(other):
            return f"instance count differs: {len(self)} != {len(other)}"
        for name in fields:
            mine, theirs = getattr(self, name), getattr(other, name)
            if name == "cv_folds" and mine.shape[1] != theirs.shape[1]:
                return f"cv_folds: number of folds differs: {mine.shape[1]} != {theirs.shape[1]}"
            if name == "features" and mine.shape != theirs.shape:
                return (f"features: shape differs: {mine.shape[1:]} != {theirs.shape[1:]} "
                        f"(per instance)")
            if np.array_equal(mine, theirs):
                continue
            for row in range(len(self)):
                a, b = mine[row], theirs[row]
                same = (np.array_equal(a, b) if isinstance(a, np.ndarray)
                        else (a is None) == (b is None) and a == b)
                if not same:
                    if isinstance(a, np.ndarray):
                        if name == "features":
                            at = int(np.flatnonzero(a.ravel() != b.ravel())[0])
                            detail = (f"value {at}: {a.ravel()[at].item()!r} != "
                                      f"{b.ravel()[at].item()!r}")
                        else:
                            detail = f"{a.tolist()} != {b.tolist()}"
                    else:
                        detail = f"{_plain(a)!r} != {_plain(b)!r}"
                    return f"{name} differs at {self.describe(row)}: {detail}"
        for name in attributes:
            if getattr(self, name) != getattr(other, name):
                return f"{name} differs: {getattr(self, name)!r} != {getattr(other, name)!r}"
        return None

    # -- files -------------------------------------------------------------------------------
    def to_xarray(self):
        import xarray as xr

        dims = [INSTANCE] + list(self.feature_dims)
        labels = np.array([MISSING_STR if v is None else str(v) for v in self.label_nominal],
                          dtype=object)
        numeric = np.where(self.label_numeric < 0, MISSING_INT, self.label_numeric)
        partition = np.where(self.partition < 0, MISSING_INT, self.partition)
        attrs = {"feature_dims": json.dumps(list(self.feature_dims))}
        if self.label_map is not None:
            attrs["label_map"] = json.dumps(self.label_map)
        for key, value in self.metadata.items():
            attrs[f"spectrain_{key}"] = json.dumps(value)
        return xr.Dataset(
            {
                "filename": ([INSTANCE], self.filename.astype(str).astype(object)),
                "chunk_nr": ([INSTANCE], self.chunk_nr),
                "label_nominal": ([INSTANCE], labels),
                "label_numeric": ([INSTANCE], numeric),
                "cv_folds": ([INSTANCE, FOLD], self.cv_folds),
                "partition": ([INSTANCE], partition),
                "features": (dims, self.features),
            },
            attrs=attrs,
        )

    def save(self, path) -> Path:
        """Write a netCDF4 file (creating folders; replaces ``path`` atomically)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        self.to_xarray().to_netcdf(partial, engine="netcdf4")
        partial.replace(path)
        return path

    @classmethod
    def from_xarray(cls, data, source: str = "data set") -> "FeatureSet":
        missing = [name for name in VARIABLES if name not in data.variables]
        if missing:
            raise FeatureSetError(f"{source}: not a feature set: missing variable(s) "
                                  f"{', '.join(missing)} (expected {', '.join(VARIABLES)})")
        if "feature_dims" not in data.attrs:
            raise FeatureSetError(f"{source}: not a feature set: missing attribute feature_dims")
        feature_dims = json.loads(data.attrs["feature_dims"])
        label_map = json.loads(data.attrs["label_map"]) if "label_map" in data.attrs else None
        if isinstance(label_map, list):  # older files store a list of [name, number] pairs
            label_map = {str(k): int(v) for k, v in label_map}
        metadata = {key[len("spectrain_"):]: json.loads(value)
                    for key, value in data.attrs.items() if key.startswith("spectrain_")}
        labels = [None if str(v) == MISSING_STR else str(v)
                  for v in data["label_nominal"].values.tolist()]
        numeric = data["label_numeric"].values.astype(np.int64)
        partition = data["partition"].values.astype(np.int64)
        features = data["features"].transpose(INSTANCE, *feature_dims).values
        cv_folds = data["cv_folds"].values
        return cls(
            filename=np.array([str(v) for v in data["filename"].values.tolist()], dtype=object),
            chunk_nr=data["chunk_nr"].values,
            label_nominal=np.array(labels, dtype=object),
            label_numeric=np.where(numeric == MISSING_INT, -1, numeric),
            cv_folds=cv_folds if cv_folds.ndim == 2 else cv_folds.reshape(len(labels), -1),
            partition=np.where(partition == MISSING_INT, -1, partition),
            features=features,
            feature_dims=feature_dims,
            label_map=label_map,
            metadata=metadata,
        )

    @classmethod
    def load(cls, path) -> "FeatureSet":
        """Read a netCDF feature set; a missing file or variable gets a one-line error."""
        import xarray as xr

        path = Path(path)
        if not path.is_file():
            raise FeatureSetError(f"{path}: no such file")
        try:
            data = xr.open_dataset(path, engine="netcdf4")
        except (OSError, ValueError) as error:
            raise FeatureSetError(f"{path}: not a netCDF file ({error})") from None
        with data:
            data.load()
            return cls.from_xarray(data, source=str(path))


def _plain(value):
    """numpy scalars as Python values, for readable messages."""
    return value.item() if isinstance(value, np.generic) else value


def concatenate(sets: Sequence[FeatureSet], sources: Sequence[str] = ()) -> FeatureSet:
    """The instances of several sets one after the other (e.g. several files to train one
    autoencoder on, as auDeep's ``--input A.nc B.nc``). Feature dimensions and shapes, fold
    counts and label maps must agree."""
    if not sets:
        raise FeatureSetError("nothing to concatenate")
    first = sets[0]
    names = list(sources) or [f"input {i + 1}" for i in range(len(sets))]
    for name, other in zip(names[1:], sets[1:]):
        for what, mine, theirs in (("feature dims", first.feature_dims, other.feature_dims),
                                   ("feature shape", first.feature_shape, other.feature_shape),
                                   ("number of folds", first.n_folds, other.n_folds),
                                   ("label map", first.label_map, other.label_map)):
            if mine != theirs:
                raise FeatureSetError(f"cannot combine {name} with {names[0]}: {what} "
                                      f"{theirs} != {mine}")
    return FeatureSet(*(np.concatenate([getattr(fs, field) for fs in sets])
                        for field in ("filename", "chunk_nr", "label_nominal", "label_numeric",
                                      "cv_folds", "partition", "features")),
                      feature_dims=list(first.feature_dims), label_map=first.label_map,
                      metadata={"concatenated": list(names)})


def make_label_map(labels: Sequence) -> dict:
    """Class name -> number, in sorted order of the names (missing labels left out)."""
    names = sorted({str(v) for v in labels if v is not None})
    return {name: i for i, name in enumerate(names)}
