"""The ESC-10 / ESC-50 layouts: class folders of ESC-named files, and the ESC-50 release.

Importing this module registers the layouts "esc50_csv" and "esc_folders" and the datasets
Esc10 and Esc50 (found, or fetched, by :mod:`.fetch`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .datasets import register_dataset
from .esc_names import ESC_FILE_PATTERN, esc_class_folder, is_esc_folder, parse_esc_file_name
from .fetch import locate_esc10, locate_esc50
from .layouts import register_layout
from .schema import AUDIO_EXTENSIONS, PathArg, is_audio_file, make_table, require_dir

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


def _as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def load_esc50_csv(root: PathArg, esc10_only: bool = False) -> pd.DataFrame:
    """ESC-50 release layout: ``root/meta/esc50.csv`` and ``root/audio/<filename>``.

    label: ``category``; fold: ``fold``; group: ``src_file`` (the freesound recording). Rows
    are ordered by ``target`` (the class number), then file name.

    Args:
        esc10_only: keep only the ESC-10 subset (column ``esc10``).
    """
    root = require_dir(root, "ESC-50 dataset folder")
    csv_path = root / "meta" / "esc50.csv"
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: ESC-50 metadata file not found")
    meta = pd.read_csv(csv_path, dtype={"src_file": str, "filename": str, "category": str})
    missing = [column for column in _ESC50_COLUMNS if column not in meta.columns]
    if missing:
        raise ValueError(f"{csv_path}: missing column(s) {', '.join(missing)}; "
                         f"expected {', '.join(_ESC50_COLUMNS)}")
    audio_dir = root / "audio"
    if not audio_dir.is_dir():
        raise FileNotFoundError(f"{audio_dir}: ESC-50 audio folder not found")
    if esc10_only:
        meta = meta[meta["esc10"].map(_as_bool)]
    meta = meta.sort_values(["target", "filename"], kind="stable")
    table = make_table({
        "path": [str(audio_dir / name) for name in meta["filename"]],
        "label": meta["category"].to_numpy(),
        "fold": meta["fold"].to_numpy(),
        "group": meta["src_file"].to_numpy(),
    }, dataset=root.name)
    if table.empty:
        raise ValueError(f"{csv_path}: no rows" + (" with esc10 == True" if esc10_only else ""))
    return table


def is_esc50_release(path: Path) -> bool:
    """Whether ``path`` is a folder with ``meta/esc50.csv`` (the ESC-50 release layout)."""
    return path.is_dir() and (path / "meta" / "esc50.csv").is_file()


register_layout("esc50_csv", is_esc50_release, load_esc50_csv,
                "an ESC-50 folder (meta/esc50.csv and audio/)")
register_layout("esc_folders", is_esc_folder, load_esc_folders,
                "an ESC-10/ESC-50 style folder of 'NNN - Class name' sub-folders")
register_dataset("Esc10", locate_esc10, load_esc_folders)
register_dataset("Esc50", locate_esc50, load_esc50_csv)
