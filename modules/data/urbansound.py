"""UrbanSound8K (J. Salamon, C. Jacoby, J. P. Bello) as released.

The release: ``metadata/UrbanSound8K.csv`` with the header
``slice_file_name,fsID,start,end,salience,fold,classID,class`` (one row per clip) and the clips in
``audio/fold1`` .. ``audio/fold10``; a clip is named ``[fsID]-[classID]-[occurrenceID]-[sliceID]
.wav`` (e.g. ``100032-3-0-0.wav``). Importing this module registers the layout "urbansound8k"
and the dataset UrbanSound8K (found in the shared datasets folder or ``<data_root>``, never
fetched). The auDeep-style parser of ``spectrain preprocess``
(:mod:`modules.representation.parsers`) reads the release with :func:`read_urbansound8k` too.

A row is skipped and reported (file, line, reason), never guessed at, when its fold is not
1-10, its classID is not a whole number, its class or file name is empty, the class has another
classID on an earlier row, the file name's fsID or classID disagrees with its columns, or its
file is not in ``audio/fold<fold>/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from .datasets import register_dataset
from .fetch import resolve_data_root, shared_datasets_dir
from .layouts import register_layout
from .rows import (SkippedRow, attach_skipped, cell, column_index, numbering_problem,
                   read_delimited, report_skipped, whole_number)
from .schema import PathArg, make_table, require_dir

URBANSOUND8K_FOLDS = 10
URBANSOUND8K_CSV = Path("metadata") / "UrbanSound8K.csv"
URBANSOUND8K_COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID",
                        "class")
_REQUIRED = ("slice_file_name", "fsID", "fold", "classID", "class")
_NAME = re.compile(r"^(\d+)-(\d+)-\d+-\d+\.\w+$")  # [fsID]-[classID]-[occurrence]-[slice].wav
URBANSOUND8K_URL = "https://urbansounddataset.weebly.com/urbansound8k.html"


@dataclass(frozen=True)
class UrbanSoundClip:
    """One usable row of UrbanSound8K.csv."""
    path: Path  # audio/fold<fold>/<slice_file_name> under the dataset folder
    name: str  # slice_file_name
    fold: int
    class_id: int
    label: str  # the class column
    fs_id: str  # the Freesound recording the clip was cut from
    line: int


def _row_problem(name: str, fs_id: str, fold: Optional[int], class_id: Optional[int],
                 label: str) -> Optional[str]:
    """Why a row cannot be used (before its file and its class's number are checked)."""
    if not name:
        return "empty slice_file_name"
    if fold is None or not 1 <= fold <= URBANSOUND8K_FOLDS:
        return f"fold must be 1-{URBANSOUND8K_FOLDS}"
    if class_id is None:
        return "classID is not a whole number"
    if not label:
        return "empty class"
    if not fs_id:
        return "empty fsID"
    parts = _NAME.match(name)
    if parts and (parts.group(1) != fs_id or int(parts.group(2)) != class_id):
        return (f"{name} names fsID {parts.group(1)} and classID {int(parts.group(2))}, the "
                f"row says fsID {fs_id} and classID {class_id}")
    return None


def read_urbansound8k(root: PathArg) -> tuple[list[UrbanSoundClip], list[SkippedRow]]:
    """The usable rows of ``root/metadata/UrbanSound8K.csv`` in file order, and the rows skipped
    (see the module docstring).

    Raises:
        FileNotFoundError: no metadata file or no ``audio/`` folder.
        ValueError: a required column is missing (slice_file_name, fsID, fold, classID, class).
    """
    root = require_dir(root, "UrbanSound8K folder")
    csv_path = root / URBANSOUND8K_CSV
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: UrbanSound8K metadata file not found")
    if not (root / "audio").is_dir():
        raise FileNotFoundError(f"{root / 'audio'}: UrbanSound8K audio folder not found")
    rows = read_delimited(csv_path, ",")
    if not rows:
        raise ValueError(f"{csv_path}: empty file; expected {','.join(URBANSOUND8K_COLUMNS)}")
    index = column_index(rows[0][1], csv_path, _REQUIRED, URBANSOUND8K_COLUMNS)
    clips, skipped, numbering = [], [], {}
    for line, cells in rows[1:]:
        name, fs_id, label = (cell(cells, index[c]) for c in ("slice_file_name", "fsID", "class"))
        fold = whole_number(cell(cells, index["fold"]))
        class_id = whole_number(cell(cells, index["classID"]))
        problem = _row_problem(name, fs_id, fold, class_id, label) or numbering_problem(
            numbering, label, class_id, line, ("class", "classID"))
        path = root / "audio" / f"fold{fold}" / name
        if problem is None and not path.is_file():
            problem = f"audio file not found: audio/fold{fold}/{name}"
        if problem:
            skipped.append(SkippedRow(str(csv_path), line, problem))
        else:
            clips.append(UrbanSoundClip(path, name, fold, class_id, label, fs_id, line))
    return clips, skipped


def load_urbansound8k(root: PathArg) -> pd.DataFrame:
    """UrbanSound8K as a dataset table: label = ``class``, fold = ``fold`` (1-10), group =
    ``fsID`` (clips cut from one Freesound recording share it). Rows are ordered by classID,
    then fold, then file name, so the class order is UrbanSound8K's classID order. Skipped rows
    are printed and kept in ``attrs["skipped_rows"]``.

    Raises:
        FileNotFoundError, ValueError: as :func:`read_urbansound8k`; ValueError also when no
            row is usable.
    """
    clips, skipped = read_urbansound8k(root)
    root = Path(root).expanduser().resolve()
    if not clips:
        first = f" (first: {skipped[0]})" if skipped else ""
        raise ValueError(f"{root / URBANSOUND8K_CSV}: no usable row{first}")
    report_skipped(skipped, str(root / URBANSOUND8K_CSV))
    clips = sorted(clips, key=lambda clip: (clip.class_id, clip.fold, clip.name))
    table = make_table([{"path": str(clip.path), "label": clip.label, "fold": clip.fold,
                         "group": clip.fs_id} for clip in clips], dataset=root.name)
    return attach_skipped(table, skipped)


def urbansound8k_problem(path: Path) -> Optional[str]:
    """Why ``path`` is not an UrbanSound8K folder, None when it is (it has the metadata file)."""
    if not path.is_dir():
        return "not a folder"
    return None if (path / URBANSOUND8K_CSV).is_file() else f"no {URBANSOUND8K_CSV.as_posix()}"


def is_urbansound8k(path: Path) -> bool:
    """Whether ``path`` is a folder with ``metadata/UrbanSound8K.csv``."""
    return urbansound8k_problem(path) is None


def locate_urbansound8k(data_root: PathArg = "data",
                        project_root: Optional[PathArg] = None) -> Path:
    """Find UrbanSound8K (``metadata/UrbanSound8K.csv`` plus ``audio/``); it is never fetched.

    Looks in ``<project root>/../shared/datasets/UrbanSound8K`` then
    ``<data_root>/UrbanSound8K``.

    Raises:
        FileNotFoundError: neither holds it; the message says where to put it.
    """
    shared = shared_datasets_dir(project_root) / "UrbanSound8K"
    target = resolve_data_root(data_root, project_root) / "UrbanSound8K"
    for candidate in (shared, target):
        if is_urbansound8k(candidate):
            return candidate
    raise FileNotFoundError(
        f"UrbanSound8K not found (looked for {URBANSOUND8K_CSV.as_posix()} in {shared} and "
        f"{target}); it is not fetched automatically. Download it ({URBANSOUND8K_URL}) and "
        f"unpack it so that {target / URBANSOUND8K_CSV} and {target / 'audio' / 'fold1'} exist.")


register_layout("urbansound8k", is_urbansound8k, load_urbansound8k,
                "an UrbanSound8K folder (metadata/UrbanSound8K.csv and audio/fold1..fold10/)",
                problem=urbansound8k_problem)
register_dataset("UrbanSound8K", locate_urbansound8k, load_urbansound8k)
