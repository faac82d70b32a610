"""Fuse feature sets, and export / import them as CSV or ARFF in auDeep's folder layout.

Layout (``export``), as auDeep's ``export`` command writes it, with ``<name>`` the file stem
(auDeep's CLI uses the stem of the input netCDF file) and ``<fmt>`` ``csv`` or ``arff``:

* no partitions and no cross-validation folds: ``<output_dir>/<name>.<fmt>``;
* folds only: ``<output_dir>/fold_<i>/<name>.<fmt>`` for i = 1..n_folds, each holding the
  instances that are VALID in fold i (auDeep writes only the validation split of each fold: an
  instance's TRAIN/VALID assignment in every fold is rebuilt from the folders it appears in);
* partitions only: ``<output_dir>/<train|devel|test>/<name>.<fmt>``, one per non-empty partition;
* partitions and folds: ``<output_dir>/<partition>/fold_<i>/<name>.<fmt>``, each holding the
  instances of that partition that are VALID in fold i. (auDeep writes the whole set's fold into
  every partition folder there, which duplicates instances; this writes the partition's share.)
  A partition in which no instance is VALID in any fold (e.g. a held-out test set) is written
  flat, ``<output_dir>/<partition>/<name>.<fmt>``, and reads back as TRAIN in every fold.

Fold files with no rows are still written (header only), so the number of folds survives.

Columns / attributes (auDeep's names and order): ``filename``, ``chunk_nr``, ``label_nominal``,
``label_numeric``, then ``feature_0`` .. ``feature_<n-1>``: each instance's features flattened
in C order; ``labels_last=True`` moves the two label columns after the features (auDeep's
``--labels-last``, which suits Weka's "last attribute is the class"). Partition and fold
membership are not columns: they are the folders. Floats are written as ``%.9g``, enough
digits for every float32 to read back identical. Missing labels are empty cells in CSV and
``?`` in ARFF. ARFF declares ``filename`` as string, ``label_nominal`` nominal with the
label map's class names (sorted), and ``chunk_nr``, ``label_numeric`` and the features numeric.

``import_features`` reads any of these layouts back (also files written by auDeep). Imported
features are 1-D, dimension ``generated`` (auDeep's name). Instances come back in the order of
``exported_order``: partitions in the order train, devel, test; within a cross-validated scope,
fold 1's file, then fold 2's, ..., an instance VALID in several folds appearing once, where it
first occurs; within a file, the stored order (which is the set's order). netCDF metadata
(``FeatureSet.metadata``) is not stored in CSV/ARFF, and a label map is rebuilt from the labels
that occur (plus, for ARFF, the declared class names), so unused classes of a CSV are lost.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .dataset import (INSTANCE_FIELDS, PARTITIONS, TRAIN, VALID, FeatureSet, FeatureSetError,
                      make_label_map)

FORMATS = ("csv", "arff")
FEATURE_DIM = "generated"  # auDeep's name for the dimension of imported / generated features
FLOAT_FORMAT = "%.9g"  # 9 significant digits: every float32 reads back bit-identical
ARFF_RELATION = "auDeep exported data set"
META_COLUMNS = ("filename", "chunk_nr")
LABEL_COLUMNS = ("label_nominal", "label_numeric")
PARTITION_NAMES = {number: name for name, number in PARTITIONS.items()}
_FOLD_DIR = re.compile(r"^fold_(\d+)$")


# -- fuse -------------------------------------------------------------------------------------
def fuse(sets: Sequence[FeatureSet], sources: Optional[Sequence[str]] = None) -> FeatureSet:
    """Concatenate the features of the same instances from different sets along the last
    feature dimension (auDeep's ``fuse``, e.g. representations from several autoencoders).

    All sets must agree exactly, instance by instance and in the same order, on filename,
    chunk_nr, label_nominal, label_numeric, cv_folds and partition, and on the label map, the
    feature dimension names and all feature sizes but the last. ``sources`` (e.g. file names)
    name the inputs in errors and in ``metadata["fused"]``, which lists per input its source,
    its size along the fused dimension and its own metadata.
    """
    sets = list(sets)
    if len(sets) < 2:
        raise FeatureSetError(f"fuse needs at least 2 feature sets, got {len(sets)}")
    if sources is None:
        sources = [f"input {i + 1}" for i in range(len(sets))]
    sources = [str(source) for source in sources]
    if len(sources) != len(sets):
        raise FeatureSetError(f"fuse: {len(sources)} source names for {len(sets)} feature sets")
    first = sets[0]
    if not first.feature_dims:
        raise FeatureSetError(f"cannot fuse: {sources[0]} has no feature dimension")
    for source, other in zip(sources[1:], sets[1:]):
        problem = first.mismatch(other, fields=INSTANCE_FIELDS, attributes=("label_map",))
        if problem is None and first.feature_dims != other.feature_dims:
            problem = f"feature dimensions differ: {first.feature_dims} != {other.feature_dims}"
        if problem is None and first.feature_shape[:-1] != other.feature_shape[:-1]:
            problem = (f"feature shapes differ other than in the last dimension "
                       f"({first.feature_dims[-1]}): {first.feature_shape} != "
                       f"{other.feature_shape}")
        if problem is not None:
            raise FeatureSetError(f"cannot fuse {source} with {sources[0]}: {problem}")
    fused = [{"source": source, "size": int(fs.feature_shape[-1]), "metadata": fs.metadata}
             for source, fs in zip(sources, sets)]
    return FeatureSet(first.filename.copy(), first.chunk_nr.copy(), first.label_nominal.copy(),
                      first.label_numeric.copy(), first.cv_folds.copy(), first.partition.copy(),
                      np.concatenate([fs.features for fs in sets], axis=-1),
                      list(first.feature_dims),
                      None if first.label_map is None else dict(first.label_map),
                      {"fused": fused})


# -- layout -----------------------------------------------------------------------------------
def _check_format(fmt: str) -> str:
    fmt = str(fmt).lower().lstrip(".")
    if fmt not in FORMATS:
        raise FeatureSetError(f"unknown export format {fmt!r} (expected one of "
                              f"{', '.join(FORMATS)})")
    return fmt


def export_plan(fs: FeatureSet, name: str = "features", fmt: str = "csv") -> list:
    """``[(relative path, row indices), ...]``: the files ``export`` writes and which instances
    go into each, in writing order. Refuses sets the layout cannot represent exactly."""
    fmt = _check_format(fmt)
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise FeatureSetError(f"invalid export name {name!r}: expected a plain file stem")
    bad_split = ~np.isin(fs.cv_folds, (TRAIN, VALID))
    if bad_split.any():
        row = int(np.argwhere(bad_split)[0][0])
        shown = ["missing" if v < 0 else v for v in fs.cv_folds[row].tolist()]
        raise FeatureSetError(f"cv_folds of {fs.describe(row)} is {shown}: expected only "
                              f"TRAIN ({TRAIN}) / VALID ({VALID}) (the fold_<i> folders cannot "
                              f"hold a missing split)")
    bad_partition = ~np.isin(fs.partition, (-1, *PARTITION_NAMES))
    if bad_partition.any():
        row = int(np.flatnonzero(bad_partition)[0])
        raise FeatureSetError(f"partition of {fs.describe(row)} is {fs.partition[row]}: expected "
                              f"{', '.join(f'{v} ({k})' for k, v in PARTITIONS.items())} or none")
    has_partitions = bool((fs.partition >= 0).any())
    if has_partitions and (fs.partition < 0).any():
        row = int(np.flatnonzero(fs.partition < 0)[0])
        raise FeatureSetError(f"{fs.describe(row)} has no partition while others have one: the "
                              f"partition folders cannot hold it")
    if len(fs) and fs.n_folds > 0 and not (fs.cv_folds == VALID).any():
        raise FeatureSetError(f"cv_folds has {fs.n_folds} fold(s) but no instance is VALID in "
                              f"any: the fold_<i> folders (VALID splits) cannot hold them")
    filename = f"{name}.{fmt}"
    rows = np.arange(len(fs))
    if has_partitions:
        scopes = [(Path(label), rows[fs.partition == number])
                  for number, label in sorted(PARTITION_NAMES.items())]
        scopes = [(folder, scope) for folder, scope in scopes if len(scope)]
    else:
        scopes = [(Path(), rows)]
    plan = []
    for folder, scope in scopes:
        valid = fs.cv_folds[scope] == VALID
        if fs.n_folds == 0 or (has_partitions and not valid.any()):
            plan.append((folder / filename, scope))
            continue
        lost = scope[~valid.any(axis=1)]
        where = f" of partition {folder}" if has_partitions else ""
        if len(lost):
            raise FeatureSetError(
                f"{len(lost)} instance(s){where} are VALID in no fold (first: "
                f"{fs.describe(lost[0])}): the fold_<i> folders hold only VALID splits")
        seen = {}
        for row in scope:
            key = (fs.filename[row], int(fs.chunk_nr[row]))
            if key in seen:
                raise FeatureSetError(
                    f"{fs.describe(row)} has the same filename and chunk_nr as "
                    f"{fs.describe(seen[key])}{where}: the fold folders identify instances by them")
            seen[key] = row
        for fold in range(fs.n_folds):
            plan.append((folder / f"fold_{fold + 1}" / filename, scope[valid[:, fold]]))
    return plan


def exported_order(fs: FeatureSet) -> np.ndarray:
    """Row indices of ``fs`` in the order ``import_features`` returns an export of it."""
    order, seen = [], set()
    for _, rows in export_plan(fs):
        for row in rows.tolist():
            if row not in seen:
                seen.add(row)
                order.append(row)
    return np.asarray(order, dtype=np.int64)


# -- export -----------------------------------------------------------------------------------
def _columns(n_features: int, labels_last: bool) -> list:
    features = [f"feature_{i}" for i in range(n_features)]
    if labels_last:
        return [*META_COLUMNS, *features, *LABEL_COLUMNS]
    return [*META_COLUMNS, *LABEL_COLUMNS, *features]


def _csv_cell(value: str) -> str:
    """A CSV text cell, quoted (RFC 4180) when it holds a delimiter, quote, line break or
    surrounding white space."""
    if value != value.strip() or any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _data_lines(fs: FeatureSet, rows: np.ndarray, labels_last: bool, text, nominal,
                missing: str):
    """One line per instance: filename, chunk_nr, the two labels and the features (CSV and ARFF
    differ only in how text is quoted and how a missing value is written)."""
    flat = fs.features[rows].reshape(len(rows), int(np.prod(fs.feature_shape)))
    for i, row in enumerate(rows.tolist()):
        label = fs.label_nominal[row]
        numeric = int(fs.label_numeric[row])
        labels = [missing if label is None else nominal(str(label)),
                  missing if numeric < 0 else str(numeric)]
        values = [FLOAT_FORMAT % v for v in flat[i].tolist()]
        head = [text(str(fs.filename[row])), str(int(fs.chunk_nr[row]))]
        yield ",".join(head + values + labels if labels_last else head + labels + values)


def _n_columns(fs: FeatureSet) -> int:
    return int(np.prod(fs.feature_shape))


def _write_csv(path: Path, fs: FeatureSet, rows: np.ndarray, labels_last: bool) -> None:
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(",".join(_columns(_n_columns(fs), labels_last)) + "\n")
        for line in _data_lines(fs, rows, labels_last, _csv_cell, _csv_cell, ""):
            out.write(line + "\n")


def _arff_quote(value: str) -> str:
    for char, escaped in (("\\", "\\\\"), ("'", "\\'"), ("\n", "\\n"), ("\r", "\\r"),
                          ("\t", "\\t"), ("%", "\\%")):
        value = value.replace(char, escaped)
    return f"'{value}'"


def _arff_nominal(value: str) -> str:
    """A nominal value: bare when that is unambiguous, else quoted."""
    if value in ("", "?") or re.search(r"[\s,'\"{}%\\]", value):
        return _arff_quote(value)
    return value


def _write_arff(path: Path, fs: FeatureSet, rows: np.ndarray, labels_last: bool) -> None:
    if fs.label_map is not None:
        classes = sorted(fs.label_map)
    else:
        classes = sorted({str(v) for v in fs.label_nominal if v is not None})
    extra = sorted({str(v) for v in fs.label_nominal if v is not None} - set(classes))
    classes += extra  # labels outside the label map must still be declared
    nominal_type = "{" + ",".join(_arff_nominal(c) for c in classes) + "}" if classes else "string"
    types = {"filename": "string", "chunk_nr": "numeric", "label_nominal": nominal_type,
             "label_numeric": "numeric"}
    columns = _columns(_n_columns(fs), labels_last)
    lines = [f"@relation {_arff_quote(ARFF_RELATION)}", ""]
    lines += [f"@attribute {column} {types.get(column, 'numeric')}" for column in columns]
    lines += ["", "@data"]
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write("\n".join(lines) + "\n")
        for line in _data_lines(fs, rows, labels_last, _arff_quote, _arff_nominal, "?"):
            out.write(line + "\n")


def _existing_layout(output_dir: Path) -> set:
    """Data files already in ``output_dir`` where the layout (and ``import_features``) looks."""
    found = set()

    def scan(folder: Path, depth: int) -> None:
        for entry in folder.iterdir():
            if entry.is_file() and entry.suffix.lower().lstrip(".") in FORMATS:
                found.add(entry)
            elif entry.is_dir() and depth > 0 and (entry.name in PARTITIONS
                                                   or _FOLD_DIR.match(entry.name)):
                scan(entry, depth - 1)

    if output_dir.is_dir():
        scan(output_dir, 2)
    return found


def export(fs: FeatureSet, output_dir, fmt: str = "csv", name: str = "features",
           labels_last: bool = False) -> list:
    """Write ``fs`` as CSV or ARFF files below ``output_dir`` in auDeep's layout (see the module
    docstring) and return the written paths. Refuses, before writing anything, when
    ``output_dir`` already holds other data files of a layout (they would mix into an import)."""
    fmt = _check_format(fmt)
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise FeatureSetError(f"{output_dir}: exists and is not a folder")
    plan = export_plan(fs, name, fmt)
    targets = [output_dir / relative for relative, _ in plan]
    stale = sorted(_existing_layout(output_dir) - set(targets))
    if stale:
        more = f" and {len(stale) - 1} more data file(s)" if len(stale) > 1 else ""
        raise FeatureSetError(f"{output_dir}: already holds {stale[0]}{more} outside this "
                              f"export; use an empty folder")
    writer = _write_csv if fmt == "csv" else _write_arff
    for target, (_, rows) in zip(targets, plan):
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        writer(partial, fs, rows, labels_last)
        partial.replace(target)
    return targets


# -- import -----------------------------------------------------------------------------------
class _Table:
    """One file's rows: metadata lists, features (rows, n) float32, feature column names."""

    def __init__(self, path, filename, chunk_nr, label_nominal, label_numeric, features,
                 feature_names, declared_classes=None):
        self.path, self.filename, self.chunk_nr = path, filename, chunk_nr
        self.label_nominal, self.label_numeric = label_nominal, label_numeric
        self.features, self.feature_names = features, feature_names
        self.declared_classes = declared_classes


def _int_or_missing(path: Path, column: str, values) -> list:
    result = []
    for row, value in enumerate(values):
        if value is None:
            result.append(-1)
            continue
        text = str(value).strip()
        if text in ("", "?"):
            result.append(-1)
            continue
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not number.is_integer():
            raise FeatureSetError(f"{path}: column {column} holds {text!r} in data row {row + 1}: "
                                  f"expected an integer")
        result.append(int(number))
    return result


def _finish_table(path: Path, names: list, columns: dict, declared=None) -> _Table:
    """Build a table from column name -> list of values (features already float32 arrays)."""
    if "label_nominal" not in names:
        raise FeatureSetError(f"{path}: required column label_nominal missing (columns: "
                              f"{', '.join(names[:6])}{', ...' if len(names) > 6 else ''})")
    n = len(columns["label_nominal"])
    feature_names = [c for c in names if c not in META_COLUMNS + LABEL_COLUMNS]
    if "filename" in columns:
        filename = [str(v) for v in columns["filename"]]
    else:  # as auDeep: synthetic names, so instances stay distinguishable
        filename = [f"synthetic_{path}_{i}" for i in range(n)]
    chunk_nr = (_int_or_missing(path, "chunk_nr", columns["chunk_nr"]) if "chunk_nr" in columns
                else [0] * n)
    if any(v < 0 for v in chunk_nr):
        raise FeatureSetError(f"{path}: column chunk_nr has a missing or negative value")
    label_nominal = [None if v is None or str(v) == "" else str(v)
                     for v in columns["label_nominal"]]
    label_numeric = (_int_or_missing(path, "label_numeric", columns["label_numeric"])
                     if "label_numeric" in columns else None)
    features = (np.stack([columns[c] for c in feature_names], axis=1) if feature_names
                else np.zeros((n, 0), np.float32))
    return _Table(path, filename, chunk_nr, label_nominal, label_numeric, features,
                  feature_names, declared)


def _read_csv(path: Path) -> _Table:
    import pandas as pd

    try:
        header = pd.read_csv(path, nrows=0).columns.tolist()
        metadata = {c: str for c in header if c in META_COLUMNS + LABEL_COLUMNS}
        frame = pd.read_csv(path, dtype=metadata, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise FeatureSetError(f"{path}: not a readable CSV file "
                              f"({str(error).splitlines()[0] if str(error) else error})") from None
    names = [str(c) for c in frame.columns]
    columns = {}
    for name in names:
        series = frame[name]
        if name in metadata:
            columns[name] = series.tolist()
        elif len(series) and not pd.api.types.is_numeric_dtype(series):
            bad = next(v for v in series.tolist() if not _is_number(v))
            raise FeatureSetError(f"{path}: feature column {name!r} holds {bad!r}: expected "
                                  f"numbers (missing feature values are not allowed)")
        else:
            columns[name] = series.to_numpy(dtype=np.float64).astype(np.float32)
    return _finish_table(path, names, columns)


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return str(value).strip() != ""


_ARFF_VALUE = re.compile(r"""(?:^|,)\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^,]*)""", re.S)
_ARFF_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


def _arff_unquote(token: str):
    """A raw ARFF token -> (text, quoted)."""
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return re.sub(r"\\(.)", lambda m: _ARFF_ESCAPES.get(m.group(1), m.group(1)), token[1:-1],
                      flags=re.S), True
    return token, False


def _arff_values(line: str) -> list:
    return [_arff_unquote(token) for token in _ARFF_VALUE.findall(line)]


def _read_arff(path: Path) -> _Table:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise FeatureSetError(f"{path}: not a UTF-8 text file ({error.reason})") from None
    lines = text.splitlines()
    names, types, data_start = [], {}, None
    for number, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        keyword = line.split(None, 1)[0].lower()
        if keyword == "@relation":
            continue
        if keyword == "@data":
            data_start = number + 1
            break
        if keyword != "@attribute":
            raise FeatureSetError(f"{path}: line {number + 1}: expected @relation, @attribute or "
                                  f"@data, got {line[:40]!r}")
        rest = line[len("@attribute"):].strip()
        match = re.match(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S+""", rest)
        if match is None:
            raise FeatureSetError(f"{path}: line {number + 1}: @attribute without a name")
        name = _arff_unquote(match.group(0))[0]
        kind = rest[match.end():].strip()
        if kind.startswith("{"):
            if not kind.endswith("}"):
                raise FeatureSetError(f"{path}: line {number + 1}: unterminated nominal value list")
            inner = kind[1:-1]
            types[name] = [value for value, _ in _arff_values(inner)] if inner.strip() else []
        elif kind.lower() in ("numeric", "real", "integer"):
            types[name] = "numeric"
        elif kind.lower() == "string":
            types[name] = "string"
        else:
            raise FeatureSetError(f"{path}: line {number + 1}: unsupported type {kind!r} of "
                                  f"attribute {name!r} (expected numeric, string or {{...}})")
        names.append(name)
    if data_start is None:
        raise FeatureSetError(f"{path}: not an ARFF file (no @data section)")
    for name in names:
        if name not in META_COLUMNS + LABEL_COLUMNS and types[name] != "numeric":
            raise FeatureSetError(f"{path}: feature attribute {name!r} is not numeric")
    meta = [i for i, name in enumerate(names) if name in META_COLUMNS + LABEL_COLUMNS]
    feature_index = [i for i in range(len(names)) if i not in meta]
    span = (slice(feature_index[0], feature_index[-1] + 1)
            if feature_index and feature_index[-1] - feature_index[0] + 1 == len(feature_index)
            else None)
    meta_cells, feature_rows = [], []
    for number in range(data_start, len(lines)):
        line = lines[number].strip()
        if not line or line.startswith("%"):
            continue
        if line.startswith("{"):
            raise FeatureSetError(f"{path}: line {number + 1}: sparse ARFF rows are not supported")
        tokens = _ARFF_VALUE.findall(line)
        if len(tokens) != len(names):
            raise FeatureSetError(f"{path}: line {number + 1}: {len(tokens)} values for "
                                  f"{len(names)} attributes")
        meta_cells.append([_arff_unquote(tokens[i]) for i in meta])
        values = tokens[span] if span is not None else [tokens[i] for i in feature_index]
        try:
            feature_rows.append(np.array(values, dtype=np.float64).astype(np.float32))
        except ValueError:
            bad = next(v.strip() for v in values if not _is_number(v))
            raise FeatureSetError(f"{path}: line {number + 1}: feature value {bad!r} is not a "
                                  f"number (missing feature values are not allowed)") from None
    columns = {}
    for position, index in enumerate(meta):
        columns[names[index]] = [None if (value == "?" and not quoted) else value
                                 for value, quoted in (row[position] for row in meta_cells)]
    features = (np.stack(feature_rows) if feature_rows
                else np.zeros((0, len(feature_index)), np.float32))
    for position, index in enumerate(feature_index):
        columns[names[index]] = features[:, position]
    declared = types.get("label_nominal")
    return _finish_table(path, names, columns,
                         declared if isinstance(declared, list) else None)


def _read_table(path: Path) -> _Table:
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise FeatureSetError(f"{path}: unknown extension (expected .csv or .arff)")
    return _read_csv(path) if suffix == "csv" else _read_arff(path)


def _find_data_file(folder: Path, name: Optional[str], stems: set) -> Optional[Path]:
    """The single ``<name>.csv|.arff`` in ``folder`` (any stem when name is None)."""
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower().lstrip(".") in FORMATS
                   and (name is None or p.stem == name))
    if len(files) > 1:
        raise FeatureSetError(f"{folder}: ambiguous data files {', '.join(p.name for p in files)}"
                              f"{'' if name else ' (pass the file name stem)'}")
    if files:
        stems.add(files[0].stem)
    return files[0] if files else None


def _fold_dirs(folder: Path) -> list:
    """``[fold_1, fold_2, ...]`` below ``folder``, checked to be numbered 1..k without gaps."""
    numbered = {}
    for entry in folder.iterdir():
        match = _FOLD_DIR.match(entry.name)
        if entry.is_dir() and match:
            numbered[int(match.group(1))] = entry
    if sorted(numbered) != list(range(1, len(numbered) + 1)):
        missing = min(set(range(1, max(numbered) + 1)) - set(numbered))
        raise FeatureSetError(f"{folder}: fold_{missing} missing (found "
                              f"{', '.join(numbered[k].name for k in sorted(numbered))})")
    return [numbered[k] for k in sorted(numbered)]


def _plan_import(path: Path, name: Optional[str]) -> list:
    """``[(file, partition or -1, fold index or None, n_folds in that scope), ...]``."""
    stems = set()
    single = _find_data_file(path, name, stems)
    subdirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if single is not None:
        return [(single, -1, None, 0)]
    if not subdirs:
        raise FeatureSetError(f"{path}: no {name or '*'}.csv / .arff file and no partition or "
                              f"fold_<i> folders")
    partitions = [p for p in subdirs if p.name in PARTITIONS]
    folds = [p for p in subdirs if _FOLD_DIR.match(p.name)]
    others = [p.name for p in subdirs if p not in partitions and p not in folds]
    if others or (partitions and folds):
        raise FeatureSetError(f"{path}: expected either partition folders (train, devel, test) or "
                              f"fold_<i> folders, found {', '.join(p.name for p in subdirs)}")
    plan = []
    if folds:
        scopes = [(path, -1)]
    else:
        scopes = [(path / label, number) for number, label in sorted(PARTITION_NAMES.items())
                  if (path / label).is_dir()]
    for folder, partition in scopes:
        file = _find_data_file(folder, name, stems)
        fold_dirs = _fold_dirs(folder) if any(_FOLD_DIR.match(p.name) for p in folder.iterdir()
                                              if p.is_dir()) else []
        if file is not None and fold_dirs:
            raise FeatureSetError(f"{folder}: holds both {file.name} and fold_<i> folders")
        if file is not None:
            plan.append((file, partition, None, 0))
            continue
        if not fold_dirs:
            raise FeatureSetError(f"{folder}: no {name or '*'}.csv / .arff file and no fold_<i> "
                                  f"folders")
        for index, fold_dir in enumerate(fold_dirs):
            fold_file = _find_data_file(fold_dir, name, stems)
            if fold_file is None:
                raise FeatureSetError(f"{fold_dir}: no {name or '*'}.csv / .arff file")
            plan.append((fold_file, partition, index, len(fold_dirs)))
    if len(stems) > 1:
        raise FeatureSetError(f"{path}: data files with different names "
                              f"({', '.join(sorted(stems))}); pass the name to import")
    return plan


def _label_map(tables: list) -> Optional[dict]:
    """Class name -> number from the (nominal, numeric) pairs, refusing contradictions;
    declared ARFF classes that never occur get numbers too."""
    label_map, inverse, declared = {}, {}, []
    synthesize = any(t.label_numeric is None for t in tables)
    for table in tables:
        declared += [c for c in table.declared_classes or [] if c not in declared]
        if table.label_numeric is None:
            continue
        for row, (nominal, numeric) in enumerate(zip(table.label_nominal, table.label_numeric)):
            if nominal is None or numeric < 0:
                continue
            if (label_map.get(nominal, numeric) != numeric
                    or inverse.get(numeric, nominal) != nominal):
                raise FeatureSetError(
                    f"{table.path}: data row {row + 1} labels {nominal!r} as {numeric}, but "
                    f"{nominal!r} is {label_map.get(nominal)} / {numeric} is "
                    f"{inverse.get(numeric)!r} elsewhere")
            label_map[nominal], inverse[numeric] = numeric, nominal
    names = set(declared) | {v for t in tables for v in t.label_nominal if v is not None}
    if not names:
        return None
    if synthesize and not label_map:
        return make_label_map(names)
    unmapped = sorted(names - set(label_map))
    if unmapped:
        canonical = make_label_map(names)
        if all(canonical[k] == v for k, v in label_map.items()):
            label_map = canonical
        else:
            start = max(label_map.values(), default=-1) + 1
            label_map.update({k: start + i for i, k in enumerate(unmapped)})
    return dict(sorted(label_map.items(), key=lambda item: item[1]))


def import_features(path, name: Optional[str] = None) -> FeatureSet:
    """Read a CSV / ARFF file, or a folder in auDeep's export layout (one file, partition
    folders, fold_<i> folders, or partition folders with fold_<i> folders), back into a feature
    set with 1-D features (dimension ``generated``). ``name`` is the file stem to read (needed
    only when a folder holds several); instance order is documented in the module docstring.
    """
    path = Path(path)
    if not path.exists():
        raise FeatureSetError(f"{path}: no such file or folder")
    plan = [(path, -1, None, 0)] if path.is_file() else _plan_import(path, name)
    n_folds = max((k for *_, k in plan), default=0)
    for file, partition, fold, k in plan:
        if fold is not None and k != n_folds:
            where = PARTITION_NAMES.get(partition, str(path))
            raise FeatureSetError(f"{path}: partition {where} has {k} fold folders, another has "
                                  f"{n_folds}")
    tables = [_read_table(file) for file, *_ in plan]
    for table in tables[1:]:
        if table.feature_names != tables[0].feature_names:
            raise FeatureSetError(
                f"{table.path}: {len(table.feature_names)} feature columns do not match the "
                f"{len(tables[0].feature_names)} of {tables[0].path}")
    label_map = _label_map(tables)
    rows = {field: [] for field in ("filename", "chunk_nr", "label_nominal", "label_numeric",
                                    "cv_folds", "partition", "features")}
    where_is = {}  # (partition, filename, chunk_nr) -> output row, to merge fold files
    for table, (file, partition, fold, _) in zip(tables, plan):
        numeric = (table.label_numeric if table.label_numeric is not None
                   else [-1 if v is None else label_map[v] for v in table.label_nominal])
        seen_here = set()
        for i in range(len(table.filename)):
            key = (partition, table.filename[i], table.chunk_nr[i])
            if fold is not None and key in where_is:
                if key in seen_here:
                    raise FeatureSetError(f"{file}: {table.filename[i]} chunk "
                                          f"{table.chunk_nr[i]} appears twice")
                out = where_is[key]
                same = (rows["label_nominal"][out] == table.label_nominal[i]
                        and rows["label_numeric"][out] == numeric[i]
                        and np.array_equal(rows["features"][out], table.features[i]))
                if not same:
                    raise FeatureSetError(f"{file}: {table.filename[i]} chunk {table.chunk_nr[i]} "
                                          f"differs from its copy in another fold's file")
                rows["cv_folds"][out][fold] = VALID
                seen_here.add(key)
                continue
            cv = [TRAIN] * n_folds
            if fold is not None:
                cv[fold] = VALID
                where_is[key] = len(rows["filename"])
                seen_here.add(key)
            rows["filename"].append(table.filename[i])
            rows["chunk_nr"].append(table.chunk_nr[i])
            rows["label_nominal"].append(table.label_nominal[i])
            rows["label_numeric"].append(numeric[i])
            rows["cv_folds"].append(cv)
            rows["partition"].append(partition)
            rows["features"].append(table.features[i])
    n = len(rows["filename"])
    n_features = len(tables[0].feature_names)
    return FeatureSet(
        filename=np.array(rows["filename"], dtype=object),
        chunk_nr=np.array(rows["chunk_nr"], dtype=np.int64),
        label_nominal=np.array(rows["label_nominal"], dtype=object),
        label_numeric=np.array(rows["label_numeric"], dtype=np.int64),
        cv_folds=np.array(rows["cv_folds"], dtype=np.int64).reshape(n, n_folds),
        partition=np.array(rows["partition"], dtype=np.int64),
        features=(np.stack(rows["features"]) if n else np.zeros((0, n_features), np.float32)),
        feature_dims=[FEATURE_DIM],
        label_map=label_map,
    )
