"""DCASE development sets with an ``evaluation_setup/`` folder (acoustic scene classification).

The layout, as the TUT / TAU datasets publish it (e.g. TUT Acoustic Scenes 2016/2017, TAU Urban
Acoustic Scenes 2019 and later)::

    <root>/audio/...                      the recordings
    <root>/meta.csv or meta.txt           optional: every file, its scene and its identifier
    <root>/evaluation_setup/fold<N>_train.csv|txt     files of fold N's training side + labels
    <root>/evaluation_setup/fold<N>_evaluate.csv|txt  fold N's test side + labels
    <root>/evaluation_setup/fold<N>_test.csv|txt      fold N's test side, file names only

The 2019+ ``.csv`` lists are tab-separated with a header (``filename<TAB>scene_label``;
``fold1_test.csv``: ``filename``; ``meta.csv``: ``filename<TAB>scene_label<TAB>identifier
<TAB>source_label``); the older ``.txt`` lists (2016-2018) are headerless, tab-separated
``audio/file.wav<TAB>label`` (``meta.txt``: ``file<TAB>scene<TAB>identifier``). File names are
relative to ``<root>``. Folds are N = 1, 2, ... while ``fold<N>_train`` exists (2019+ sets have
one).

Labels come from the lists (and ``meta``, which must agree); the identifier (the recording
location) becomes the group. A row is skipped and reported (file, line, reason) when its file
name is empty, a labelled list gives no label, its file is missing, or it gives a file another
label than an earlier row (the file is then left out: nothing is relabelled); a file on both
sides of one fold, or only in a test list without a label anywhere, is left out and reported too.
Importing this module registers the layout "dcase_setup"; :func:`read_dcase_setup` also serves
the auDeep-style parser of ``spectrain preprocess``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pandas as pd

from .layouts import register_layout
from .rows import SkippedRow, attach_skipped, cell, read_delimited, report_skipped
from .schema import PathArg, make_table, require_dir

SETUP_FOLDER = "evaluation_setup"
_FILE_COLUMNS = ("filename", "filename_audio", "file", "path")  # header names, by preference
_LABEL_COLUMNS = ("scene_label", "label", "class")


@dataclass
class DcaseSetup:
    """What :func:`read_dcase_setup` found."""
    root: Path
    names: list = field(default_factory=list)  # placed files (relative, "/"), meta order first
    labels: dict = field(default_factory=dict)  # name -> label
    groups: dict = field(default_factory=dict)  # name -> identifier (from meta)
    folds: list = field(default_factory=list)  # per fold: (train names, test names)
    lists: list = field(default_factory=list)  # the list files read, relative to root
    skipped: list = field(default_factory=list)  # SkippedRow


@dataclass(frozen=True)
class _Row:
    source: Path
    line: int
    name: str
    label: str
    identifier: str = ""


def _setup_file(root: Path, stem: str) -> Optional[Path]:
    """``stem``.csv (2019+) or else ``stem``.txt, None when neither exists."""
    for suffix in (".csv", ".txt"):
        if (root / f"{stem}{suffix}").is_file():
            return root / f"{stem}{suffix}"
    return None


def _columns(header: list[str]) -> Optional[tuple[int, Optional[int], Optional[int]]]:
    """(file, label, identifier) positions when ``header`` is a header row, else None."""
    lower = [name.lower() for name in header]
    file_column = next((lower.index(name) for name in _FILE_COLUMNS if name in lower), None)
    if file_column is None:
        return None
    label = next((lower.index(name) for name in _LABEL_COLUMNS if name in lower), None)
    identifier = lower.index("identifier") if "identifier" in lower else None
    return file_column, label, identifier


def _read_list(path: Path, skipped: list) -> list[_Row]:
    """The rows of one list (or meta) file, header or not; event rows are skipped."""
    rows = read_delimited(path, "\t")
    columns = _columns(rows[0][1]) if rows else None
    if columns is None:
        columns = (0, 1, 2)  # headerless: file, label[, identifier]
    else:
        rows = rows[1:]
    file_column, label_column, id_column = columns
    result = []
    for line, cells in rows:
        name = cell(cells, file_column).replace("\\", "/")
        if not name:
            skipped.append(SkippedRow(str(path), line, "empty file name"))
        elif len(cells) >= 3 and all(_is_float(text) for text in cells[1:3]):
            skipped.append(SkippedRow(str(path), line, "an event row (file, onset, offset, ...), "
                                                       "not a file and its label"))
        else:
            result.append(_Row(path, line, name, cell(cells, label_column),
                               cell(cells, id_column)))
    return result


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _label_rows(setup: DcaseSetup, rows: list[_Row], first: dict, refused: set) -> None:
    """Take the labels of ``rows``; ``first`` (name -> row) keeps where each label came from,
    ``refused`` collects the files left out (each reported once: missing, or two labels)."""
    for row in rows:
        if row.name in refused:
            continue
        if not (setup.root / row.name).is_file():
            setup.skipped.append(SkippedRow(str(row.source), row.line,
                                            f"audio file not found: {row.name}"))
            refused.add(row.name)
        elif row.label and row.name in first and first[row.name].label != row.label:
            earlier = first[row.name]
            setup.skipped.append(SkippedRow(
                str(row.source), row.line,
                f"{row.name} is labelled {row.label!r} here and {earlier.label!r} in "
                f"{earlier.source.name}, line {earlier.line}; the file is left out"))
            refused.add(row.name)
        elif row.label:
            first.setdefault(row.name, row)
        if row.identifier and row.name not in setup.groups:
            setup.groups[row.name] = row.identifier


def _read_folds(setup: DcaseSetup, setup_dir: Path) -> list[tuple[list, list]]:
    """Per fold: (train rows, test rows: evaluate then test list)."""
    folds, k = [], 1
    while _setup_file(setup_dir, f"fold{k}_train") is not None:
        parts = []
        for kind in ("train", "evaluate", "test"):
            path = _setup_file(setup_dir, f"fold{k}_{kind}")
            if path is not None:
                parts.append(_read_list(path, setup.skipped))
                setup.lists.append(path.relative_to(setup.root).as_posix())
        folds.append((parts[0], [row for part in parts[1:] for row in part]))
        k += 1
    return folds


def read_dcase_setup(root: PathArg) -> DcaseSetup:
    """The evaluation setup of a DCASE development set (see the module docstring).

    Raises:
        FileNotFoundError: no ``evaluation_setup/fold1_train.csv`` (or ``.txt``).
    """
    root = require_dir(root, "DCASE dataset folder")
    setup_dir = root / SETUP_FOLDER
    if _setup_file(setup_dir, "fold1_train") is None:
        raise FileNotFoundError(f"{setup_dir / 'fold1_train.csv'}: DCASE evaluation setup not "
                                f"found (nor fold1_train.txt)")
    setup = DcaseSetup(root)
    meta_path = _setup_file(root, "meta")
    meta = _read_list(meta_path, setup.skipped) if meta_path else []
    folds = _read_folds(setup, setup_dir)
    first, refused = {}, set()
    _label_rows(setup, meta, first, refused)
    for train_rows, test_rows in folds:
        _label_rows(setup, train_rows + test_rows, first, refused)
    setup.labels = {name: row.label for name, row in first.items() if name not in refused}
    _place(setup, meta, folds, refused)
    return setup


def _place(setup: DcaseSetup, meta: list, folds: list, refused: set) -> None:
    """Fill ``setup.folds`` and ``setup.names``: files listed somewhere, with a label."""
    listed, reported = [], set()
    for k, (train_rows, test_rows) in enumerate(folds, start=1):
        train = {row.name for row in train_rows} - refused
        test = {row.name for row in test_rows} - refused
        both = train & test
        for row in train_rows + test_rows:
            if row.name in both and row.name not in reported:
                reason = f"{row.name} is on both sides of fold {k} (train and test); left out"
            elif row.name not in refused | setup.labels.keys() | reported:
                reason = f"{row.name} has no label (in no labelled list, nor in meta)"
            else:
                continue
            reported.add(row.name)
            setup.skipped.append(SkippedRow(str(row.source), row.line, reason))
        setup.folds.append(({name for name in train - both if name in setup.labels},
                            {name for name in test - both if name in setup.labels}))
        listed += [row.name for row in train_rows + test_rows]
    placed = set().union(*(train | test for train, test in setup.folds))
    order = [row.name for row in meta] + listed
    setup.names = [name for name in dict.fromkeys(order) if name in placed]


def load_dcase_setup(root: PathArg, fold: int = 1) -> pd.DataFrame:
    """A DCASE development set as a dataset table, split as fold ``fold`` of its evaluation
    setup says: split "train" for the files of ``fold<fold>_train``, "test" for those of
    ``fold<fold>_evaluate`` / ``fold<fold>_test``; files in neither are left out. label: the
    scene label; group: the identifier from meta (the recording location), when there is a
    meta file; fold: with two folds or more, the fold whose test side holds the file.

    Rows follow meta's order (else the lists'). Skipped rows are printed and kept in
    ``attrs["skipped_rows"]``.

    Raises:
        FileNotFoundError: no evaluation setup. ValueError: no such fold, or no usable row.
    """
    setup = read_dcase_setup(root)
    if not 1 <= int(fold) <= len(setup.folds):
        raise ValueError(f"{setup.root / SETUP_FOLDER}: no fold {fold}; the setup has "
                         f"fold(s) 1-{len(setup.folds)}")
    train, test = setup.folds[int(fold) - 1]
    tested = {}
    for k, (_, fold_test) in enumerate(setup.folds, start=1):
        for name in fold_test:
            tested[name] = k if name not in tested else None
    rows = [{"path": str(setup.root / name), "label": setup.labels[name],
             "split": "train" if name in train else "test", "group": setup.groups.get(name),
             "fold": tested.get(name) if len(setup.folds) > 1 else None}
            for name in setup.names if name in train or name in test]
    report_skipped(setup.skipped, str(setup.root / SETUP_FOLDER))
    if not rows:
        first = f" (first skipped: {setup.skipped[0]})" if setup.skipped else ""
        raise ValueError(f"{setup.root / SETUP_FOLDER}: fold {fold} lists no usable file{first}")
    return attach_skipped(make_table(rows, dataset=setup.root.name), setup.skipped)


def dcase_setup_problem(path: Path) -> Optional[str]:
    """Why ``path`` is not a DCASE development set (None when it has
    ``evaluation_setup/fold1_train.csv`` or ``.txt``)."""
    if not path.is_dir():
        return "not a folder"
    if _setup_file(path / SETUP_FOLDER, "fold1_train") is None:
        return f"no {SETUP_FOLDER}/fold1_train.csv or .txt"
    return None


def is_dcase_setup(path: Path) -> bool:
    """Whether ``path`` is a folder with ``evaluation_setup/fold1_train.csv`` (or ``.txt``)."""
    return dcase_setup_problem(path) is None


register_layout("dcase_setup", is_dcase_setup, load_dcase_setup,
                "a DCASE development set (evaluation_setup/foldN_train|evaluate|test .csv or "
                ".txt lists)", problem=dcase_setup_problem)
