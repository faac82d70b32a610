"""The ESC-10 / ESC-50 layouts: class folders of ESC-named files, and the ESC-50 release.

Importing this module registers the layouts "esc50_csv" and "esc_folders" and the datasets
Esc10 and Esc50 (found, or fetched, by :mod:`.fetch`). :func:`read_esc50` reads the ESC-50
release's ``meta/esc50.csv`` for the job loader and for the auDeep-style parser of
``spectrain preprocess`` alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from .datasets import register_dataset
from .esc_names import (ESC_FILE_PATTERN, esc_class_folder, esc_folder_problem, is_esc_folder,
                        parse_esc_file_name)
from .fetch import locate_esc10, locate_esc50
from .layouts import register_layout
from .rows import (SkippedRow, attach_skipped, cell, column_index, numbering_problem,
                   read_delimited, report_skipped, whole_number)
from .schema import AUDIO_EXTENSIONS, PathArg, is_audio_file, make_table, require_dir

ESC50_FOLDS = 5
_ESC50_COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")


def load_esc_folders(root: PathArg) -> pd.DataFrame:
    """ESC-10/ESC-50 folder layout: ``root/NNN - Class name/<fold>-<freesound id>-<take>.ogg``.

    label: the folder name without the ``NNN - `` prefix; classes are ordered by that number.
    fold: the number before the first dash of the file name.
    group: the freesound id (clips cut from the same source recording share it).
    """
    root = require_dir(root, "ESC dataset folder")
    folders = []
    for folder in root.iterdir():
        name = esc_class_folder(folder.name)
        if folder.is_dir() and name:
            folders.append((name.number, name.label, folder))
    if not folders:
        raise ValueError(f"{root}: no 'NNN - Class name' class folders found")
    rows = []
    for _, label, folder in sorted(folders, key=lambda item: (item[0], item[2].name)):
        for file in sorted(folder.iterdir()):
            if not (file.is_file() and is_audio_file(file)):
                continue
            name = parse_esc_file_name(file.name)
            if not name:
                raise ValueError(f"{file}: file name does not follow the ESC pattern "
                                 f"{ESC_FILE_PATTERN}")
            rows.append({"path": str(file), "label": label, "fold": name.fold,
                         "group": name.clip_id})
    if not rows:
        raise ValueError(f"{root}: the class folders hold no audio files "
                         f"({', '.join(AUDIO_EXTENSIONS)})")
    return make_table(rows, dataset=root.name)


@dataclass(frozen=True)
class Esc50Clip:
    """One usable row of ESC-50's ``meta/esc50.csv``."""
    path: Path  # audio/<filename> under the dataset folder
    filename: str
    fold: int  # 1-5
    target: int  # the class number
    category: str  # the class name
    esc10: bool  # in the ESC-10 subset
    src_file: str  # the freesound recording the clip was cut from
    line: int


def _esc50_problem(filename: str, fold: Optional[int], target: Optional[int], category: str,
                   numbering: dict, line: int) -> Optional[str]:
    """Why a row of esc50.csv cannot be used (its file aside); ``numbering`` keeps categories
    and targets one-to-one (:func:`modules.data.rows.numbering_problem`)."""
    if not filename:
        return "empty filename"
    if fold is None or not 1 <= fold <= ESC50_FOLDS:
        return f"fold must be 1-{ESC50_FOLDS}"
    if target is None:
        return "target is not a whole number"
    if not category:
        return "empty category"
    return numbering_problem(numbering, category, target, line, ("category", "target"))


def read_esc50(root: PathArg) -> tuple[list[Esc50Clip], list[SkippedRow]]:
    """The usable rows of ESC-50's ``meta/esc50.csv`` (header ``filename,fold,target,category,
    esc10,src_file,take``, audio in ``audio/``) in file order, and the rows skipped, each with
    file, line and reason: a fold that is not 1-5, a target that is not a whole number, an empty
    filename or category, a category numbered differently on an earlier row, a missing file.

    Raises:
        FileNotFoundError: no metadata file or no ``audio/`` folder.
        ValueError: a required column is missing.
    """
    root = require_dir(root, "ESC-50 dataset folder")
    csv_path = root / "meta" / "esc50.csv"
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: ESC-50 metadata file not found")
    audio_dir = root / "audio"
    rows = read_delimited(csv_path, ",")
    index = column_index(rows[0][1] if rows else [], csv_path, _ESC50_COLUMNS[:6],
                         _ESC50_COLUMNS)
    if not audio_dir.is_dir():
        raise FileNotFoundError(f"{audio_dir}: ESC-50 audio folder not found")
    clips, skipped, numbering = [], [], {}
    for line, cells in rows[1:]:
        filename, category, src_file, esc10 = (
            cell(cells, index[name]) for name in ("filename", "category", "src_file", "esc10"))
        fold = whole_number(cell(cells, index["fold"]))
        target = whole_number(cell(cells, index["target"]))
        problem = _esc50_problem(filename, fold, target, category, numbering, line)
        if problem is None and not (audio_dir / filename).is_file():
            problem = f"audio file not found: audio/{filename}"
        if problem:
            skipped.append(SkippedRow(str(csv_path), line, problem))
            continue
        clips.append(Esc50Clip(audio_dir / filename, filename, fold, target, category,
                               esc10.lower() in ("true", "1", "yes"), src_file, line))
    return clips, skipped


def load_esc50_csv(root: PathArg, esc10_only: bool = False) -> pd.DataFrame:
    """ESC-50 release layout: ``root/meta/esc50.csv`` and ``root/audio/<filename>``.

    label: ``category``; fold: ``fold``; group: ``src_file`` (the freesound recording). Rows
    are ordered by ``target`` (the class number), then file name. Rows that cannot be used are
    printed and kept in ``attrs["skipped_rows"]`` (see :func:`read_esc50`).

    Args:
        esc10_only: keep only the ESC-10 subset (column ``esc10``).
    """
    clips, skipped = read_esc50(root)
    root = Path(root).expanduser().resolve()
    csv_path = root / "meta" / "esc50.csv"
    report_skipped(skipped, str(csv_path))
    if esc10_only:
        clips = [clip for clip in clips if clip.esc10]
    clips = sorted(clips, key=lambda clip: (clip.target, clip.filename))
    table = make_table([{"path": str(clip.path), "label": clip.category, "fold": clip.fold,
                         "group": clip.src_file or None} for clip in clips], dataset=root.name)
    if table.empty:
        raise ValueError(f"{csv_path}: no usable rows" + (" with esc10 == True" if esc10_only
                                                          else "")
                         + (f" (first skipped: {skipped[0]})" if skipped else ""))
    return attach_skipped(table, skipped)


def esc50_problem(path: Path) -> Optional[str]:
    """Why ``path`` is not an ESC-50 release folder (None when it has ``meta/esc50.csv``)."""
    if not path.is_dir():
        return "not a folder"
    return None if (path / "meta" / "esc50.csv").is_file() else "no meta/esc50.csv"


def is_esc50_release(path: Path) -> bool:
    """Whether ``path`` is a folder with ``meta/esc50.csv`` (the ESC-50 release layout)."""
    return path.is_dir() and (path / "meta" / "esc50.csv").is_file()


register_layout("esc50_csv", is_esc50_release, load_esc50_csv,
                "an ESC-50 folder (meta/esc50.csv and audio/)", problem=esc50_problem)
register_layout("esc_folders", is_esc_folder, load_esc_folders,
                "an ESC-10/ESC-50 style folder of 'NNN - Class name' sub-folders",
                problem=lambda path: esc_folder_problem(path) if path.is_dir() else "not a folder")
register_dataset("Esc10", locate_esc10, load_esc_folders)
register_dataset("Esc50", locate_esc50, load_esc50_csv)
