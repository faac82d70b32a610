"""A readable summary of a feature set in auDeep's netCDF data model: what
``spectrain inspect netcdf --input FILE`` prints."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Optional

import numpy as np

from .dataset import PARTITIONS, TRAIN, VALID, FeatureSet

NO_LABEL = "(unlabelled)"


def _table(rows: list, indent: str = "  ", numbers: bool = True) -> list:
    """Aligned columns: the first left-aligned, the others right-aligned (``numbers``) or left."""
    if not rows:
        return []
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.rjust(widths[i]) if i and numbers else cell.ljust(widths[i])
                               for i, cell in enumerate(row)).rstrip() for row in rows]


def summarize(fs: FeatureSet, source: Optional[str] = None) -> str:
    """Instances, feature dimensions and shape, value range, labels with counts, folds with
    TRAIN / VALID counts, partitions with counts, and metadata, as lines of text."""
    n = len(fs)
    lines = [f"feature set {source}" if source else "feature set"]
    files = len(set(fs.filename.tolist()))
    lines += _table([
        ["instances", f"{n} ({files} file{'s' if files != 1 else ''}, chunks per file "
                      f"{_range(Counter(fs.filename.tolist()).values())})"],
        ["features", f"({', '.join(['instance'] + list(fs.feature_dims))}) = "
                     f"{tuple(fs.features.shape)} {fs.features.dtype}"],
        ["values", _values(fs.features)],
    ], numbers=False)

    counts = Counter(None if v is None else str(v) for v in fs.label_nominal)
    label_map = fs.label_map or {}
    names = sorted(label_map, key=lambda k: (label_map[k], k))
    names += sorted(k for k in counts if k is not None and k not in label_map)
    lines.append(f"labels: {len(label_map)} in the label map" if fs.label_map is not None
                 else "labels: no label map")
    rows = [[name, label_map.get(name, "-"), counts.get(name, 0)] for name in names]
    if counts.get(None):
        rows.append([NO_LABEL, "-", counts[None]])
    lines += _table([["label", "number", "instances"]] + rows) if rows else ["  (none)"]

    lines.append(f"cross-validation folds: {fs.n_folds}")
    if fs.n_folds:
        fold_rows = [[f"fold {k + 1}", int((fs.cv_folds[:, k] == TRAIN).sum()),
                      int((fs.cv_folds[:, k] == VALID).sum()), int((fs.cv_folds[:, k] < 0).sum())]
                     for k in range(fs.n_folds)]
        header = ["fold", "train", "valid", "missing"]
        if not (fs.cv_folds < 0).any():  # the missing column only when a split is missing
            header, fold_rows = header[:3], [row[:3] for row in fold_rows]
        lines += _table([header] + fold_rows)

    partition_counts = Counter(fs.partition.tolist())
    if any(p >= 0 for p in partition_counts):
        lines.append("partitions:")
        rows = [[name, partition_counts.get(number, 0)] for name, number in PARTITIONS.items()]
        if partition_counts.get(-1):
            rows.append(["(none)", partition_counts[-1]])
        lines += _table(rows)
    else:
        lines.append("partitions: none")

    if fs.metadata:
        lines.append("metadata:")
        lines += _table([[key, _short(json.dumps(value))] for key, value in
                         sorted(fs.metadata.items())], numbers=False)
    else:
        lines.append("metadata: none")
    return "\n".join(lines)


def _range(values) -> str:
    values = list(values)
    if not values:
        return "-"
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def _values(features: np.ndarray) -> str:
    if features.size == 0:
        return "(no values)"
    return (f"min {features.min():.6g}, max {features.max():.6g}, "
            f"mean {features.mean(dtype=np.float64):.6g}, std {features.std(dtype=np.float64):.6g}")


def _short(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def inspect_netcdf(path) -> str:
    """Load a netCDF feature set (one-line FeatureSetError when it is missing or not one) and
    summarize it."""
    path = Path(path)
    return summarize(FeatureSet.load(path), source=str(path))
