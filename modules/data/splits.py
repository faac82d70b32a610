"""Train/validation splits of a dataset table (see :mod:`modules.data.tables`)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

SPLIT_METHODS = ("auto", "fold", "group", "random", "split")


def _has_all(table: pd.DataFrame, column: str) -> bool:
    return column in table and len(table) > 0 and bool(table[column].notna().all())


def _choose_method(table: pd.DataFrame, validation_fold: Optional[int]) -> str:
    """The method "auto" stands for (see :func:`split_table`)."""
    if _has_all(table, "split") and table["split"].isin(("validation", "test")).any():
        return "split"
    if _has_all(table, "fold") and validation_fold is not None:
        return "fold"
    if _has_all(table, "group"):
        return "group"
    return "random"


def _parts(table: pd.DataFrame, validation_mask: np.ndarray, train_mask: Optional[np.ndarray]
           = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    if train_mask is None:
        train_mask = ~validation_mask
    train = table[train_mask].reset_index(drop=True)
    validation = table[validation_mask].reset_index(drop=True)
    return train, validation


def split_table(table: pd.DataFrame, method: str = "auto", validation_fold: Optional[int] = 1,
                validation_size: float = 0.2, seed: int = 42
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a table into (train, validation).

    Methods:
        "fold": validation = rows whose ``fold`` equals ``validation_fold``; train = the rest.
        "group": stratified by label, and no ``group`` on both sides: the first fold of
            ``StratifiedGroupKFold(n_splits=round(1 / validation_size), shuffle=True,
            random_state=seed)``.
        "random": ``train_test_split`` stratified by label, ``test_size=validation_size``.
        "split": the ``split`` column: train = rows "train"; validation = rows "validation",
            or rows "test" when there are no "validation" rows. Other rows (e.g. "test" when
            "validation" rows exist) are in neither part.
        "auto": "split" if every row has a split and some say "validation" or "test"; else
            "fold" if every row has a fold (and ``validation_fold`` is set); else "group" if
            every row has a group; else "random".

    The result depends only on the table and the arguments (``seed`` included). Both parts
    keep the table's row order and get a fresh 0..n-1 index.

    Raises:
        ValueError: unknown method; the column the method needs is missing or incomplete; an
            empty part; too few rows or groups for the requested split.
    """
    if method not in SPLIT_METHODS:
        raise ValueError(f"unknown split method {method!r}; expected one of "
                         f"{', '.join(SPLIT_METHODS)}")
    if len(table) == 0:
        raise ValueError("cannot split an empty table")
    if method == "auto":
        method = _choose_method(table, validation_fold)

    if method == "fold":
        if validation_fold is None:
            raise ValueError("split method 'fold' needs validation_fold")
        if not _has_all(table, "fold"):
            missing = int(table["fold"].isna().sum()) if "fold" in table else len(table)
            raise ValueError(f"split method 'fold' needs a fold on every row; {missing} of "
                             f"{len(table)} rows have none. Use 'group' or 'random' instead.")
        folds = table["fold"].to_numpy(dtype=np.int64)
        validation_mask = folds == int(validation_fold)
        if not validation_mask.any():
            raise ValueError(f"validation fold {validation_fold} has no rows; the table's folds "
                             f"are {sorted(set(folds.tolist()))}")
        if validation_mask.all():
            raise ValueError(f"every row is in validation fold {validation_fold}: nothing left "
                             "to train on")
        return _parts(table, validation_mask)

    if method == "split":
        if "split" not in table or table["split"].isna().all():
            raise ValueError("split method 'split' needs a 'split' column (train/validation/test)")
        splits = table["split"]
        validation_mask = (splits == "validation").to_numpy(dtype=bool)
        if not validation_mask.any():
            validation_mask = (splits == "test").to_numpy(dtype=bool)
        train_mask = (splits == "train").to_numpy(dtype=bool)
        if not validation_mask.any() or not train_mask.any():
            counts = splits.value_counts(dropna=False).to_dict()
            raise ValueError("split method 'split' needs rows with split 'train' and rows with "
                             f"'validation' (or 'test'); the table has {counts}")
        return _parts(table, validation_mask, train_mask)

    if not 0.0 < validation_size < 1.0:
        raise ValueError(f"validation_size must be between 0 and 1, got {validation_size}")
    labels = table["label"].to_numpy(dtype=object)
    positions = np.arange(len(table))

    if method == "group":
        if not _has_all(table, "group"):
            raise ValueError("split method 'group' needs a group on every row; use 'random' "
                             "for a table without groups")
        n_splits = int(round(1.0 / validation_size))
        groups = table["group"].to_numpy(dtype=object)
        n_groups = len(set(groups))
        if n_splits < 2:
            raise ValueError(f"validation_size={validation_size} is too large for a group "
                             "split: round(1 / validation_size) must be at least 2")
        if n_groups < n_splits:
            raise ValueError(f"a group split with validation_size={validation_size} needs at "
                             f"least {n_splits} groups; the table has {n_groups}")
        from sklearn.model_selection import StratifiedGroupKFold  # slow import: only when used

        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        _, validation_positions = next(iter(splitter.split(positions, labels, groups)))
        validation_mask = np.zeros(len(table), bool)
        validation_mask[validation_positions] = True
        train, validation = _parts(table, validation_mask)
        check_no_group_leak(train, validation)
        return train, validation

    # method == "random"
    from sklearn.model_selection import train_test_split  # slow import: only when used

    try:
        _, validation_positions = train_test_split(
            positions, test_size=validation_size, stratify=labels, random_state=seed)
    except ValueError as error:
        raise ValueError(f"stratified random split failed: {error} (every class needs at least "
                         "2 rows, and the validation part at least one row per class)") from None
    validation_mask = np.zeros(len(table), bool)
    validation_mask[validation_positions] = True
    return _parts(table, validation_mask)


def testing_subset(table: pd.DataFrame, per_class: int, seed: int = 42) -> pd.DataFrame:
    """At most ``per_class`` rows of each label, picked at random (from ``seed``), in table order.

    Used for quick test runs; the pick does not depend on how the labels are ordered.
    """
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    labels = table["label"].to_numpy(dtype=object)
    for label in sorted(set(labels), key=str):
        positions = np.flatnonzero(labels == label)
        if len(positions) > per_class:
            positions = rng.choice(positions, size=per_class, replace=False)
        keep.extend(positions.tolist())
    return table.iloc[sorted(keep)].reset_index(drop=True)


# Its name starts with "test": stop pytest from collecting it in test files that import it.
testing_subset.__test__ = False


def check_no_group_leak(train: pd.DataFrame, validation: pd.DataFrame) -> None:
    """Raise ValueError if a group has rows on both sides (rows without a group are ignored)."""
    if "group" not in train or "group" not in validation:
        return
    leaked = sorted(set(train["group"].dropna()) & set(validation["group"].dropna()), key=str)
    if leaked:
        shown = ", ".join(map(str, leaked[:10])) + (" ..." if len(leaked) > 10 else "")
        raise ValueError(f"{len(leaked)} group(s) have rows in both train and validation: "
                         f"{shown}")
