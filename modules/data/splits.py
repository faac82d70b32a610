"""Train / validation / test splits of a dataset table (see :mod:`modules.data.schema`).

Validation drives every choice a job makes (early stopping, learning-rate reduction, the best
epoch); a test part, when the table or the parameters give one, is held out and only evaluated
once, with the chosen model, after training (:func:`split_parts`)."""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from modules.errors import UserError

from .schema import is_multi_label, multi_hot, row_labels

class SplitError(UserError, ValueError):
    """A split that the table and the parameters cannot give (a user error: one line)."""


SPLIT_METHODS = ("auto", "fold", "group", "official", "official_patients", "random", "split")
OFFICIAL_METHODS = ("official", "official_patients")

# The key of a table's attrs where a loader puts what it found matching a dataset's published
# split file to its recordings: {"matched_by_fields": [...], "unmatched": [...]}.
SPLIT_NAME_NOTES = "split_name_notes"


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


def _group_folds(n_folds: Optional[int], validation_size: float) -> int:
    """How many folds a group split uses: ``n_folds``, else ``round(1 / validation_size)``."""
    if n_folds is not None:
        if isinstance(n_folds, bool) or int(n_folds) != n_folds or n_folds < 2:
            raise SplitError(f"n_folds must be a whole number of at least 2, got {n_folds!r}")
        return int(n_folds)
    if not 0.0 < validation_size < 1.0:
        raise SplitError(f"validation_size must be between 0 and 1, got {validation_size}")
    n_splits = int(round(1.0 / validation_size))
    if n_splits < 2:
        raise SplitError(f"validation_size={validation_size} is too large for a group "
                         "split: round(1 / validation_size) must be at least 2")
    return n_splits


RARE_COMBINATIONS = "(label combinations seen once)"


def stratification_keys(table: pd.DataFrame) -> np.ndarray:
    """What a stratified split keeps in proportion: each row's label; for a multi-label row its
    label combination, the combinations seen only once pooled (one row cannot be stratified),
    and a pool of one row joined to the most common combination."""
    keys = table["label"].to_numpy(dtype=object).copy()
    if "labels" not in table or table["labels"].isna().all():
        return keys
    multi = table["labels"].notna().to_numpy()
    counts = pd.Series(keys[multi]).value_counts()
    rare = multi & np.isin(keys, counts.index[counts < 2])
    keys[rare] = RARE_COMBINATIONS
    if rare.sum() == 1 and len(counts) > 1:
        keys[rare] = counts.index[0]
    return keys


def iterative_validation_mask(table: pd.DataFrame, validation_size: float,
                              seed: int) -> np.ndarray:
    """Validation rows of a multi-label table by iterative stratification (Sechidis, Tsoumakas
    and Vlahavas, ECML PKDD 2011): the rarest class is placed first, each of its files on the
    side that most lacks that class, so every class keeps about ``validation_size`` of its
    files in validation even when hardly two files share a label combination."""
    rng = np.random.default_rng(seed)
    labels = table_label_matrix(table)
    wanted = np.array([1.0 - validation_size, validation_size])
    per_side = wanted * len(table)
    per_class = np.outer(wanted, labels.sum(axis=0))
    side = np.full(len(table), -1)
    while (remaining := (side < 0) & labels.any(axis=1)).any():
        counts = labels[remaining].sum(axis=0)
        counts[counts == 0] = len(table) + 1
        rarest = rng.choice(np.flatnonzero(counts == counts.min()))
        for row in rng.permutation(np.flatnonzero(remaining & labels[:, rarest])):
            best = np.flatnonzero(per_class[:, rarest] == per_class[:, rarest].max())
            best = best[per_side[best] == per_side[best].max()]
            chosen = int(rng.choice(best))
            side[row] = chosen
            per_class[chosen] -= labels[row]
            per_side[chosen] -= 1
    for row in rng.permutation(np.flatnonzero(side < 0)):  # files with none of the classes
        side[row] = int(np.argmax(per_side))
        per_side[side[row]] -= 1
    return side == 1


def table_label_matrix(table: pd.DataFrame) -> np.ndarray:
    """(rows, classes) 0/1 of every row's classes (:func:`.schema.row_labels`)."""
    rows = row_labels(table)
    return multi_hot(rows, list(dict.fromkeys(label for labels in rows for label in labels)),
                     int)


def _group_validation_mask(table: pd.DataFrame, n_splits: int, validation_fold: Optional[int],
                           seed: int, what: str = "the table",
                           option: str = "validation_fold") -> np.ndarray:
    """Validation rows of fold ``validation_fold`` (1-based, None: 1) of a stratified group
    k-fold over ``table``."""
    fold = 1 if validation_fold is None else validation_fold
    if isinstance(fold, bool) or int(fold) != fold or not 1 <= fold <= n_splits:
        raise SplitError(f"{option} must be between 1 and {n_splits} (the number of "
                         f"folds of the group split), got {validation_fold!r}")
    if not _has_all(table, "group"):
        missing = int(table["group"].isna().sum()) if "group" in table else len(table)
        raise SplitError(f"a group split needs a group on every row; {missing} of {len(table)} "
                         f"rows of {what} have none. Use 'random' for a table without groups")
    groups = table["group"].to_numpy(dtype=object)
    n_groups = len(set(groups))
    if n_groups < n_splits:
        raise SplitError(f"a group split into {n_splits} folds needs at least {n_splits} "
                         f"groups; {what} has {n_groups}")
    from sklearn.model_selection import StratifiedGroupKFold  # slow import: only when used

    labels = stratification_keys(table)
    positions = np.arange(len(table))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for index, (_, validation_positions) in enumerate(splitter.split(positions, labels, groups),
                                                      start=1):
        if index == fold:
            break
    validation_mask = np.zeros(len(table), bool)
    validation_mask[validation_positions] = True
    return validation_mask


@dataclass
class SplitParts:
    """The three parts of a table: ``test`` is empty (with the table's columns) when there is
    none; ``note`` says how a part was made where the method alone does not (e.g. validation
    carved out of the training rows)."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    note: str = ""


def split_parts(table: pd.DataFrame, method: str = "auto", validation_fold: Optional[int] = 1,
                validation_size: float = 0.2, seed: int = 42, n_folds: Optional[int] = None,
                test_fold: Optional[int] = None) -> SplitParts:
    """Split a table into train, validation and a held-out test part.

    The test part:

    * "split": the rows whose ``split`` is "test". Rows "validation" are the validation part;
      when there are none, validation is carved out of the "train" rows (``validation_size``
      of them, by group when every training row has one, else stratified by label, from
      ``seed``), and ``note`` says so. Every row needs one of train, validation, test.
    * "fold" and "group" with ``test_fold``: the rows of that fold (of the ``fold`` column,
      or of the same stratified group k-fold whose fold ``validation_fold`` is validation).
    * otherwise none: ``test_fold`` is refused for the other methods.

    The other arguments and the train/validation parts are as :func:`split_table` says.
    """
    method = _checked_method(table, method, validation_fold)
    if method == "split":
        return _split_column_parts(table, validation_size, seed, test_fold)
    if test_fold is None:
        return SplitParts(*_two_parts(table, method, validation_fold, validation_size, seed,
                                      n_folds), table.iloc[:0].reset_index(drop=True))
    if method == "fold":
        return _fold_parts(table, validation_fold, test_fold)
    if method == "group":
        return _group_parts(table, _group_folds(n_folds, validation_size), validation_fold,
                            test_fold, seed)
    raise SplitError(f"test_fold applies to the 'fold' and 'group' splits, not {method!r}; "
                     f"for a held-out test part give the table a split column (train/"
                     f"validation/test) and use split 'split'")


def _checked_method(table: pd.DataFrame, method: str, validation_fold: Optional[int]) -> str:
    """``method``, with "auto" resolved; ValueError for an unknown one or an empty table."""
    if method not in SPLIT_METHODS:
        close = difflib.get_close_matches(str(method), SPLIT_METHODS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SplitError(f"unknown split method {method!r}; expected one of "
                         f"{', '.join(SPLIT_METHODS)}{hint}")
    if len(table) == 0:
        raise SplitError("cannot split an empty table")
    return _choose_method(table, validation_fold) if method == "auto" else method


def split_table(table: pd.DataFrame, method: str = "auto", validation_fold: Optional[int] = 1,
                validation_size: float = 0.2, seed: int = 42, n_folds: Optional[int] = None
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a table into (train, validation); a test part (:func:`split_parts`) is in neither.

    Methods:
        "fold": validation = rows whose ``fold`` equals ``validation_fold``; train = the rest.
        "group": stratified by label, and no ``group`` (e.g. patient) on both sides: fold
            ``validation_fold`` (1-based; None: 1) of ``StratifiedGroupKFold(n_splits,
            shuffle=True, random_state=seed)`` with ``n_splits = n_folds`` or, when that is
            None, ``round(1 / validation_size)``. The folds for 1..n_splits partition the
            groups (k-fold cross-validation); fold 1 is the split this method always gave.
        "official": the dataset's own split as published: rows with a ``split`` value keep
            it ("train" -> train, "test" or "validation" -> validation), even when that puts a
            group (patient) on both sides, as the ICBHI 2017 file does. Rows without one whose
            group has officially split rows follow that group (a group on both sides: the side
            holding most of its rows, ties to train); the others are split among themselves
            like "group" (same ``n_folds``, ``validation_fold``, ``validation_size``, ``seed``).
        "official_patients": "official" made patient-disjoint: every row of a group on both
            sides goes to the side holding most of its officially split rows (ties to train).
        "random": ``train_test_split`` stratified by label, ``test_size=validation_size``;
            a multi-label table by iterative stratification (every class in proportion).
        "split": the ``split`` column: train = rows "train"; validation = rows "validation",
            or, when there are none, a part of the "train" rows (see :func:`split_parts`);
            rows "test" are held out (in neither part).
        "auto": "split" if every row has a split and some say "validation" or "test"; else
            "fold" if every row has a fold (and ``validation_fold`` is set); else "group" if
            every row has a group; else "random". It never picks "official".

    The result depends only on the table and the arguments (``seed`` included). Both parts
    keep the table's row order and get a fresh 0..n-1 index. For "official" and
    "official_patients" both parts carry ``attrs["split_notes"]`` (:func:`split_notes_of`):
    what a job must report about the published split.

    Raises:
        ValueError: unknown method; the column the method needs is missing or incomplete; an
            empty part; too few rows or groups for the requested split; ``validation_fold``
            outside 1..n_splits ("group"/"official"); a group on both sides ("group",
            "official_patients").
    """
    parts = split_parts(table, method, validation_fold, validation_size, seed, n_folds)
    return parts.train, parts.validation


def _two_parts(table: pd.DataFrame, method: str, validation_fold: Optional[int],
               validation_size: float, seed: int, n_folds: Optional[int]
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, validation) of every method but "split", for a table without a test part."""
    if method == "fold":
        return _fold_split(table, validation_fold)
    if method in OFFICIAL_METHODS:
        return _official_split(table, method, validation_fold, validation_size, seed, n_folds)
    if method == "group":
        if not _has_all(table, "group"):
            raise SplitError("split method 'group' needs a group on every row; use 'random' "
                             "for a table without groups")
        n_splits = _group_folds(n_folds, validation_size)
        validation_mask = _group_validation_mask(table, n_splits, validation_fold, seed)
        train, validation = _parts(table, validation_mask)
        check_no_group_leak(train, validation)
        return train, validation
    return _random_split(table, validation_size, seed)


def _fold_split(table: pd.DataFrame, validation_fold: Optional[int]
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Method "fold" of :func:`split_table`."""
    if validation_fold is None:
        raise SplitError("split method 'fold' needs validation_fold")
    if not _has_all(table, "fold"):
        missing = int(table["fold"].isna().sum()) if "fold" in table else len(table)
        raise SplitError(f"split method 'fold' needs a fold on every row; {missing} of "
                         f"{len(table)} rows have none. Use 'group' or 'random' instead.")
    folds = table["fold"].to_numpy(dtype=np.int64)
    validation_mask = folds == int(validation_fold)
    if not validation_mask.any():
        raise SplitError(f"validation fold {validation_fold} has no rows; the table's folds "
                         f"are {sorted(set(folds.tolist()))}")
    if validation_mask.all():
        raise SplitError(f"every row is in validation fold {validation_fold}: nothing left "
                         "to train on")
    return _parts(table, validation_mask)


def _split_column_parts(table: pd.DataFrame, validation_size: float, seed: int,
                        test_fold: Optional[int]) -> SplitParts:
    """Method "split" of :func:`split_parts`."""
    if test_fold is not None:
        raise SplitError("test_fold applies to the 'fold' and 'group' splits; split 'split' "
                         "takes its test part from the rows whose split is 'test'")
    if "split" not in table or table["split"].isna().all():
        raise SplitError("split method 'split' needs a 'split' column (train/validation/test)")
    splits = table["split"]
    counts = splits.value_counts(dropna=False).to_dict()
    known = splits.isin(("train", "validation", "test")).to_numpy(dtype=bool)
    if not known.all():
        first = table.iloc[int(np.flatnonzero(~known)[0])]
        value = "no split" if pd.isna(first["split"]) else repr(first["split"])
        raise SplitError(f"split method 'split': {int((~known).sum())} row(s) have no split or "
                         f"one that is not train, validation or test (first: {first['path']}: "
                         f"{value}); the table has {counts}")
    masks = {name: (splits == name).to_numpy(dtype=bool) for name in ("train", "validation",
                                                                      "test")}
    if not masks["train"].any() or not (masks["validation"].any() or masks["test"].any()):
        raise SplitError("split method 'split' needs rows with split 'train' and rows with "
                         f"'validation' or 'test'; the table has {counts}")
    test = table[masks["test"]].reset_index(drop=True)
    if masks["validation"].any():
        train, validation = _parts(table, masks["validation"], masks["train"])
        return SplitParts(train, validation, test)
    training_rows = table[masks["train"]].reset_index(drop=True)
    by_group = _has_all(training_rows, "group")
    if by_group:
        what = f"the {len(training_rows)} training rows validation is carved from"
        train, validation = _parts(training_rows, _group_validation_mask(
            training_rows, _group_folds(None, validation_size), 1, seed, what))
    else:
        train, validation = _random_split(training_rows, validation_size, seed)
    how = ("by group, no group on both sides" if by_group else "stratified by label")
    note = (f"the table has train and test rows only: validation is {len(validation)} of its "
            f"{len(training_rows)} training rows ({validation_size:g}, {how}, seed {seed}); "
            f"the {len(test)} test rows are held out")
    return SplitParts(train, validation, test, note)


def _fold_parts(table: pd.DataFrame, validation_fold: Optional[int], test_fold: int
                ) -> SplitParts:
    """Method "fold" with a test fold."""
    if validation_fold is not None and int(test_fold) == int(validation_fold):
        raise SplitError(f"test_fold and validation_fold are both {test_fold}: the test part "
                         "must be another fold")
    if not _has_all(table, "fold"):
        raise SplitError("test_fold needs a fold on every row")
    test_mask = table["fold"].to_numpy(dtype=np.int64) == int(test_fold)
    if not test_mask.any():
        folds = sorted(set(table["fold"].astype(int).tolist()))
        raise SplitError(f"test fold {test_fold} has no rows; the table's folds are {folds}")
    rest = table[~test_mask].reset_index(drop=True)
    train, validation = _fold_split(rest, validation_fold)
    return SplitParts(train, validation, table[test_mask].reset_index(drop=True))


def _group_parts(table: pd.DataFrame, n_splits: int, validation_fold: Optional[int],
                 test_fold: int, seed: int) -> SplitParts:
    """Method "group" with a test fold: two folds of one stratified group k-fold."""
    if int(test_fold) == int(validation_fold or 1):
        raise SplitError(f"test_fold and validation_fold are both {test_fold}: the test part "
                         "must be another fold")
    test_mask = _group_validation_mask(table, n_splits, test_fold, seed, option="test_fold")
    validation_mask = _group_validation_mask(table, n_splits, validation_fold, seed)
    train, validation = _parts(table, validation_mask, ~(validation_mask | test_mask))
    check_no_group_leak(train, validation)
    test = table[test_mask].reset_index(drop=True)
    check_no_group_leak(train, test, ("train", "test"))
    return SplitParts(train, validation, test)


def _random_split(table: pd.DataFrame, validation_size: float, seed: int
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Method "random" of :func:`split_table`."""
    if not 0.0 < validation_size < 1.0:
        raise SplitError(f"validation_size must be between 0 and 1, got {validation_size}")
    from sklearn.model_selection import train_test_split  # slow import: only when used

    if is_multi_label(table):
        return _parts(table, iterative_validation_mask(table, validation_size, seed))
    labels = stratification_keys(table)
    positions = np.arange(len(table))
    try:
        _, validation_positions = train_test_split(
            positions, test_size=validation_size, stratify=labels, random_state=seed)
    except ValueError as error:
        raise SplitError(f"stratified random split failed: {error} (every class needs at least "
                         "2 rows, and the validation part at least one row per class)") from None
    validation_mask = np.zeros(len(table), bool)
    validation_mask[validation_positions] = True
    return _parts(table, validation_mask)


def _name_notes_for(table: pd.DataFrame) -> dict[str, list]:
    """What a loader found matching a published split file's names to ``table``'s recordings
    (``attrs["split_name_notes"]``: matched by their fields, or matched to nothing)."""
    notes = table.attrs.get(SPLIT_NAME_NOTES, {})
    paths = {str(path) for path in table["path"].dropna()}
    return {"matched_by_fields": [dict(m) for m in notes.get("matched_by_fields", [])
                                  if m["path"] in paths],
            "unmatched": [dict(u) for u in notes.get("unmatched", [])]}


def _official_values(table: pd.DataFrame, method: str) -> pd.Series:
    """The table's official split values (NA where none); ValueError when no row has one or a
    value is not train/validation/test."""
    splits = (table["split"] if "split" in table
              else pd.Series([np.nan] * len(table), index=table.index, dtype=object))
    has_split = splits.notna().to_numpy(dtype=bool)
    if not has_split.any():
        raise SplitError(f"split method {method!r} needs a dataset split ('split' column: "
                         "train/validation/test) on at least some rows, and no row has one; "
                         "use 'group' to split by patient instead")
    unknown = sorted(set(splits[has_split]) - {"train", "validation", "test"})
    if unknown:
        raise SplitError(f"split method {method!r}: unknown split value(s) "
                         f"{', '.join(map(repr, unknown))}; expected train, validation or test")
    return splits


def _group_sides(table: pd.DataFrame, splits: pd.Series) -> tuple[dict, list]:
    """(group -> True for validation, groups on both sides) from the officially split rows: a
    group on both sides gets the side holding most of its rows, ties to train."""
    if "group" not in table:
        return {}, []
    listed = splits.notna().to_numpy(dtype=bool)
    counts: dict = {}
    for group, value in zip(table["group"][listed], splits[listed]):
        if pd.notna(group):
            counts.setdefault(group, [0, 0])[int(value != "train")] += 1
    sides = {group: n_validation > n_train for group, (n_train, n_validation) in counts.items()}
    crossing = sorted((group for group, (n_train, n_validation) in counts.items()
                       if n_train and n_validation), key=str)
    return sides, crossing


def _official_split(table: pd.DataFrame, method: str, validation_fold: Optional[int],
                    validation_size: float, seed: int, n_folds: Optional[int]
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Methods "official" and "official_patients" of :func:`split_table`."""
    splits = _official_values(table, method)
    has_split = splits.notna().to_numpy(dtype=bool)
    validation_mask = splits.isin(("validation", "test")).to_numpy(dtype=bool, copy=True)
    train_mask = (splits == "train").to_numpy(dtype=bool, copy=True)
    sides, crossing = _group_sides(table, splits)
    rest = ~has_split
    follow = rest.copy()  # rows that take their group's side
    if method == "official_patients" and crossing:
        follow |= table["group"].isin(crossing).to_numpy(dtype=bool)
    groups = table["group"] if "group" in table else None
    for position in np.flatnonzero(follow) if groups is not None else ():
        group = groups.iloc[position]
        if pd.notna(group) and group in sides:
            validation_mask[position], train_mask[position] = sides[group], not sides[group]
            rest[position] = False
    if rest.any():
        others = table[rest].reset_index(drop=True)
        what = f"the {int(rest.sum())} row(s) without an official split"
        n_splits = _group_folds(n_folds, validation_size)
        rest_validation = _group_validation_mask(others, n_splits, validation_fold, seed, what)
        positions = np.flatnonzero(rest)
        validation_mask[positions] = rest_validation
        train_mask[positions] = ~rest_validation

    train, validation = _parts(table, validation_mask, train_mask)
    if train.empty or validation.empty:
        counts = splits.value_counts(dropna=False).to_dict()
        empty = "train" if train.empty else "validation"
        raise SplitError(f"split method {method!r} left the {empty} part empty; the table's "
                         f"splits are {counts}")
    if method == "official_patients":
        check_no_group_leak(train, validation)
    notes = _official_notes(table, method, splits, crossing, sides)
    train.attrs["split_notes"] = notes
    validation.attrs["split_notes"] = copy.deepcopy(notes)
    return train, validation


def _official_notes(table: pd.DataFrame, method: str, splits: pd.Series, crossing: list,
                    sides: dict) -> dict:
    """What a job reports about an official split (see :func:`split_notes_of`)."""
    names = [Path(str(path)).stem for path in table["path"]]
    crossing_notes = []
    for group in crossing:
        rows = (table["group"] == group).fillna(False).to_numpy(dtype=bool) & splits.notna(
        ).to_numpy(dtype=bool)
        recordings: dict[str, list[str]] = {}
        for position in np.flatnonzero(rows):
            recordings.setdefault(str(splits.iloc[position]), []).append(names[position])
        entry = {"group": str(group), "recordings": recordings}
        if method == "official_patients":
            entry["moved_to"] = "validation" if sides[group] else "train"
        crossing_notes.append(entry)
    unlisted = splits.isna().to_numpy(dtype=bool)
    return {"method": method, "crossing_groups": crossing_notes, **_name_notes_for(table),
            "unlisted": [names[position] for position in np.flatnonzero(unlisted)]}


def split_notes_of(part: pd.DataFrame) -> Optional[dict]:
    """The notes an official split attached to its parts (None for other methods), JSON-ready:

    * ``method``: "official" or "official_patients";
    * ``crossing_groups``: each group (patient) the published split puts on both sides:
      ``{"group", "recordings": {split value: [recording names]}}``, plus ``"moved_to"``
      ("train"/"validation") for "official_patients";
    * ``matched_by_fields``: listed names matched to a recording of another name (e.g. another
      device suffix), ``{"listed", "recording", "path", "split", "reason"}``;
    * ``unmatched``: listed names with no recording, ``{"listed", "split", "reason"}``;
    * ``unlisted``: names of the recordings the split does not list (they follow their
      group's side, or are split by group among themselves).
    """
    notes = part.attrs.get("split_notes")
    return copy.deepcopy(notes) if notes else None


def _shown(names: list[str], limit: int = 10) -> str:
    return ", ".join(names[:limit]) + (f" ... ({len(names)} in all)" if len(names) > limit else "")


def describe_split_notes(notes: Optional[dict]) -> Optional[str]:
    """One report line from :func:`split_notes_of`'s notes; None for no notes."""
    if not notes:
        return None
    crossing, moved = notes["crossing_groups"], notes["method"] == "official_patients"
    groups = []
    for entry in crossing:
        sides = "; ".join(f"{side}: {', '.join(names)}"
                          for side, names in entry["recordings"].items())
        groups.append(f"{entry['group']} ({sides}"
                      + (f"; all to {entry['moved_to']})" if moved else ")"))
    parts = ["no patient on both sides of the published split"]
    if crossing:
        parts = [f"{len(crossing)} patient(s) on both sides of the published split, "
                 + ("each moved to the side holding most of its recordings (ties to train)"
                    if moved else "kept as published") + ": " + ", ".join(groups)]
    matched, unmatched = notes["matched_by_fields"], notes["unmatched"]
    if matched:
        parts.append(f"{len(matched)} listed name(s) matched to a recording of another name: "
                     + ", ".join(f"{m['listed']} -> {m['recording']} ({m['split']}; "
                                 f"{m['reason']})" for m in matched))
    if unmatched:
        parts.append(f"{len(unmatched)} listed name(s) with no recording: "
                     + ", ".join(f"{u['listed']} ({u['split']}; {u['reason']})"
                                 for u in unmatched))
    if notes["unlisted"]:
        parts.append(f"{len(notes['unlisted'])} recording(s) not in the published split, "
                     f"placed by patient: {_shown(notes['unlisted'])}")
    return "; ".join(parts)


def testing_subset(table: pd.DataFrame, per_class: int, seed: int = 42) -> pd.DataFrame:
    """At most ``per_class`` rows of each label, picked at random (from ``seed``), in table order.

    Used for quick test runs; the pick does not depend on how the labels are ordered.
    """
    if per_class < 1:
        raise SplitError(f"per_class must be at least 1, got {per_class}")
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


def check_no_group_leak(train: pd.DataFrame, validation: pd.DataFrame,
                        names: tuple[str, str] = ("train", "validation")) -> None:
    """Raise ValueError if a group has rows on both sides (rows without a group are ignored);
    ``names``: what the two parts are called in the message."""
    if "group" not in train or "group" not in validation:
        return
    leaked = sorted(set(train["group"].dropna()) & set(validation["group"].dropna()), key=str)
    if leaked:
        shown = ", ".join(map(str, leaked[:10])) + (" ..." if len(leaked) > 10 else "")
        raise SplitError(f"{len(leaked)} group(s) have rows in both {names[0]} and {names[1]}: "
                         f"{shown}")
