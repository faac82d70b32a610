"""Feature sets in auDeep's netCDF data model, so files can be exchanged with auDeep and opened
with xarray.

Dimensions: ``instance``, ``fold``, and the feature dimensions (e.g. ``time``, ``freq`` for
spectrograms, ``generated`` for learned representations). Variables, written the way auDeep's
``DataSet.save`` writes them (auDeep keeps object arrays with None for "missing", which xarray
stores as float64 NaN for numbers and "" for text):

=============  ======================  ==========================================================
filename       (instance,) str         the audio file (relative to the dataset folder)
chunk_nr       (instance,) int64       chunk index within the file
label_nominal  (instance,) str         class name; "" when unlabelled (all float64 NaN when no
                                       instance has a label)
label_numeric  (instance,) int64       class number; float64 with NaN when some are unlabelled
cv_folds       (instance, fold) int64  per fold: TRAIN (0) or VALID (1); float64 with NaN for a
                                       missing split (and when there are no folds)
partition      (instance,) int64       TRAIN (0), DEVEL (1), TEST (2); float64 with NaN where
                                       an instance has none (all NaN: no partitions)
features       (instance, *dims) f32   the features
=============  ======================  ==========================================================

Attributes: ``feature_dims`` (JSON list of the feature dimension names, in storage order),
``label_map`` (when labels exist: auDeep's form, a JSON list of ``[name, number]`` pairs sorted by
name; a JSON object name -> number is read too), and any extra metadata (e.g. how the
spectrograms were made) as JSON strings under ``spectrain_*`` names, which auDeep ignores.

Reading also accepts the -999999 / "__MISSING_VALUE" markers that earlier spectrain versions
wrote (auDeep uses them only in memory, for its integrity check). Every variable is checked on
reading: a value that is neither valid nor missing, a label outside the label map, or a numeric
label that disagrees with it is a one-line :class:`FeatureSetError` naming the file, the variable
and the instance; nothing is relabelled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import UserError

INSTANCE, FOLD = "instance", "fold"
VARIABLES = ("filename", "chunk_nr", "label_nominal", "label_numeric", "cv_folds", "partition",
             "features")
MISSING_STR = "__MISSING_VALUE"  # auDeep's in-memory markers for missing values; earlier
MISSING_INT = -999999            # spectrain versions wrote them to files (still read)
TRAIN, VALID = 0, 1  # cv_folds values
PARTITIONS = {"train": 0, "devel": 1, "test": 2}
INSTANCE_FIELDS = ("filename", "chunk_nr", "label_nominal", "label_numeric", "cv_folds",
                   "partition")  # per-instance metadata (everything but the features)


class FeatureSetError(UserError, ValueError):
    """A file that is not a valid feature set, or inconsistent arrays."""


@dataclass
class FeatureSet:
    """In-memory feature set: one row per instance (a chunk of an audio file).

    ``label_nominal`` uses None for unlabelled instances and ``partition``, ``label_numeric`` and
    ``cv_folds`` use -1 in memory for a missing value; files hold auDeep's NaN / "" instead.
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
            row = int(np.argwhere(np.isnan(self.features))[0][0])
            raise FeatureSetError(f"variable features: NaN values (first at instance {row}): "
                                  f"features may not contain NaN")

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
        """The set as an xarray Dataset with auDeep's variables, dtypes and missing values (see
        the module docstring)."""
        import xarray as xr

        dims = [INSTANCE] + list(self.feature_dims)
        attrs = {"feature_dims": json.dumps(list(self.feature_dims))}
        if self.label_map is not None:  # auDeep's DataSet.label_map setter: sorted pairs
            attrs["label_map"] = json.dumps(sorted(self.label_map.items(), key=lambda i: i[0]))
        for key, value in self.metadata.items():
            attrs[f"spectrain_{key}"] = json.dumps(value)
        return xr.Dataset(
            {
                "filename": ([INSTANCE], self.filename.astype(str).astype(object)),
                "chunk_nr": ([INSTANCE], self.chunk_nr),
                "label_nominal": ([INSTANCE], _text_variable(self.label_nominal)),
                "label_numeric": ([INSTANCE], _number_variable(self.label_numeric)),
                "cv_folds": ([INSTANCE, FOLD], _number_variable(self.cv_folds)),
                "partition": ([INSTANCE], _number_variable(self.partition)),
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
        """Read auDeep's variables (and spectrain's earlier missing-value markers), checking
        each; a bad value is a one-line FeatureSetError naming ``source`` and the variable."""
        missing = [name for name in VARIABLES if name not in data.variables]
        if missing:
            raise FeatureSetError(f"{source}: not a feature set: missing variable(s) "
                                  f"{', '.join(missing)} (expected {', '.join(VARIABLES)})")
        if "feature_dims" not in data.attrs:
            raise FeatureSetError(f"{source}: not a feature set: missing attribute feature_dims")
        feature_dims = _json_attribute(data.attrs, "feature_dims", source)
        if (not isinstance(feature_dims, list)
                or sorted(feature_dims) != sorted(set(data["features"].dims) - {INSTANCE})):
            raise FeatureSetError(f"{source}: attribute feature_dims is {feature_dims!r}: expected "
                                  f"a JSON list of the dimensions of variable features "
                                  f"{list(data['features'].dims)} other than instance")
        metadata = {key[len("spectrain_"):]: _json_attribute(data.attrs, key, source)
                    for key in data.attrs if key.startswith("spectrain_")}
        n = data["features"].sizes[INSTANCE]
        cv_folds = _whole_numbers(data, "cv_folds", source, allowed=(TRAIN, VALID))
        fields = dict(
            filename=_texts(data, "filename", source, required=True),
            chunk_nr=_whole_numbers(data, "chunk_nr", source, required=True),
            label_nominal=_texts(data, "label_nominal", source),
            label_numeric=_whole_numbers(data, "label_numeric", source),
            cv_folds=cv_folds if cv_folds.ndim == 2 else cv_folds.reshape(n, -1),
            partition=_whole_numbers(data, "partition", source,
                                     allowed=tuple(PARTITIONS.values())),
            label_map=_read_label_map(data.attrs, source))
        try:
            fs = cls(features=data["features"].transpose(INSTANCE, *feature_dims).values,
                     feature_dims=feature_dims, metadata=metadata, **fields)
        except FeatureSetError as error:
            raise FeatureSetError(f"{source}: {error}") from None
        problem = fs.label_problem()
        if problem:
            raise FeatureSetError(f"{source}: {problem}")
        return fs

    def label_problem(self) -> Optional[str]:
        """The first instance whose labels disagree with the label map (auDeep's integrity
        constraint 5: both labels or neither, the name in the map, the number the map's), as
        one line; None when they agree or there is no label map."""
        if self.label_map is None:
            return None
        for row, (name, number) in enumerate(zip(self.label_nominal, self.label_numeric)):
            number = int(number)
            if name is None and number < 0:
                continue
            if name is None or number < 0:
                return (f"{self.describe(row)}: label_nominal {name!r} but label_numeric "
                        f"{number if number >= 0 else 'missing'}: expected both or neither")
            if name not in self.label_map:
                return (f"{self.describe(row)}: label_nominal {name!r} is not in the label_map "
                        f"attribute ({', '.join(sorted(self.label_map))})")
            if self.label_map[name] != number:
                return (f"{self.describe(row)}: label_numeric {number} but the label_map "
                        f"attribute maps {name!r} to {self.label_map[name]}")
        return None

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


def _number_variable(values: np.ndarray) -> np.ndarray:
    """auDeep's storage of an integer variable: int64 when every value is present, else float64
    with NaN where missing (-1 in memory), as xarray writes auDeep's object arrays with None
    (an empty array, e.g. no folds, is float64 too)."""
    values = np.asarray(values, dtype=np.int64)
    if values.size and (values >= 0).all():
        return values
    stored = values.astype(np.float64)
    stored[values < 0] = np.nan
    return stored


def _text_variable(labels: np.ndarray) -> np.ndarray:
    """auDeep's storage of label_nominal: strings with "" for missing, or float64 NaN when every
    label is missing (xarray's encoding of an object array holding only None)."""
    if all(label is None for label in labels):
        return np.full(len(labels), np.nan)
    for row, label in enumerate(labels):
        if label is not None and str(label) in ("", MISSING_STR):
            raise FeatureSetError(f"label_nominal of instance {row} is {str(label)!r}, which a "
                                  f"file stores for 'no label': use None for unlabelled")
    return np.array(["" if label is None else str(label) for label in labels], dtype=object)


def _json_attribute(attrs, key: str, source: str):
    try:
        return json.loads(attrs[key])
    except (TypeError, ValueError):
        raise FeatureSetError(f"{source}: attribute {key} is not JSON: "
                              f"{str(attrs[key])[:60]!r}") from None


def _read_label_map(attrs, source: str) -> Optional[dict]:
    """The ``label_map`` attribute: auDeep's list of [name, number] pairs (ordered by number
    here) or a JSON object; None when absent."""
    if "label_map" not in attrs:
        return None
    value = _json_attribute(attrs, "label_map", source)
    pairs = list(value.items()) if isinstance(value, dict) else value
    good = isinstance(pairs, list) and all(
        isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str)
        and isinstance(pair[1], int) and not isinstance(pair[1], bool) for pair in pairs)
    if not good or len({number for _, number in pairs}) != len(pairs):
        raise FeatureSetError(f"{source}: attribute label_map is {str(attrs['label_map'])[:60]!r}: "
                              f"expected a JSON list of [name, number] pairs with distinct "
                              f"numbers (auDeep) or an object name -> number")
    if isinstance(value, list):
        pairs = sorted(pairs, key=lambda pair: (pair[1], pair[0]))
    return {name: number for name, number in pairs}


def _whole_numbers(data, name: str, source: str, allowed: Optional[tuple] = None,
                   required: bool = False) -> np.ndarray:
    """An integer variable as int64 with -1 for missing: NaN (auDeep) or -999999 (earlier
    spectrain files). Non-whole numbers, values outside ``allowed`` (default: >= 0) and, when
    ``required``, missing values are refused, naming the variable and the instance."""
    values = data[name].values
    if values.dtype.kind == "f":
        missing = np.isnan(values)
        numbers = np.where(missing, -1, values)
        fraction = ~missing & (numbers != np.round(numbers))
        if fraction.any():
            at = tuple(np.argwhere(fraction)[0])
            raise FeatureSetError(f"{source}: variable {name}: {values[at].item()!r} at instance "
                                  f"{at[0]} is not a whole number (expected integers, NaN for "
                                  f"missing)")
        numbers = numbers.astype(np.int64)
    elif values.dtype.kind in "iub":
        numbers = values.astype(np.int64)
        missing = numbers == MISSING_INT
        numbers[missing] = -1
    else:
        raise FeatureSetError(f"{source}: variable {name} holds {values.dtype} values (expected "
                              f"integers, NaN for missing)")
    expected = (f"one of {', '.join(map(str, allowed))}" if allowed is not None
                else "a whole number >= 0")
    bad = ~missing & (~np.isin(numbers, allowed) if allowed is not None else numbers < 0)
    if required:
        bad |= missing
        expected += " (missing values are not allowed here)"
    else:
        expected += " or missing (NaN)"
    if bad.any():
        at = tuple(np.argwhere(bad)[0])
        shown = "missing" if missing[at] else repr(values[at].item())
        raise FeatureSetError(f"{source}: variable {name}: {shown} at instance {at[0]}: "
                              f"expected {expected}")
    return numbers


def _texts(data, name: str, source: str, required: bool = False) -> np.ndarray:
    """A text variable as an object array with None for missing: "" or an all-NaN float64
    variable (auDeep), or "__MISSING_VALUE" (earlier spectrain files)."""
    values = data[name].values
    if values.dtype.kind == "f":
        if not np.isnan(values).all():
            at = int(np.flatnonzero(~np.isnan(values))[0])
            raise FeatureSetError(f"{source}: variable {name} holds numbers "
                                  f"({values[at].item()!r} at instance {at}): expected text")
        texts = [None] * len(values)
    elif values.dtype.kind in "USO":
        texts = []
        for value in values.tolist():
            if isinstance(value, bytes):
                value = value.decode("utf-8", errors="replace")
            missing = value is None or (isinstance(value, float) and np.isnan(value))
            texts.append(None if missing or str(value) in ("", MISSING_STR) else str(value))
    else:
        raise FeatureSetError(f"{source}: variable {name} holds {values.dtype} values: "
                              f"expected text")
    if required and None in texts:
        raise FeatureSetError(f"{source}: variable {name} is empty at instance "
                              f"{texts.index(None)}: expected a value for every instance")
    return np.array(texts, dtype=object)


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
