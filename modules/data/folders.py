"""The plainest layout: a folder with one sub-folder of audio files per class.

Importing this module registers the layout "class_folders", the fallback for any folder with
sub-folders that no more specific layout claims.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .layouts import register_layout, supported_layouts
from .schema import (AUDIO_EXTENSIONS, PathArg, is_audio_file, make_table, require_dir,
                     visible_subfolders)


def load_class_folders(root: PathArg) -> pd.DataFrame:
    """One sub-folder per class (its name is the label), audio files anywhere inside it.

    Audio extensions: .wav .flac .ogg .mp3 .aiff .aif, in any letter case. Classes are ordered
    by folder name, files by their path inside the class folder. Hidden files and folders are
    ignored. No fold or group.
    """
    root = require_dir(root, "dataset folder")
    rows = []
    for folder in visible_subfolders(root):
        files = sorted(
            (file for file in folder.rglob("*")
             if file.is_file() and is_audio_file(file)
             and not any(part.startswith(".") for part in file.relative_to(folder).parts)),
            key=lambda file: file.relative_to(folder).as_posix())
        rows.extend({"path": str(file), "label": folder.name} for file in files)
    if not rows:
        raise ValueError(f"{root}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in any class "
                         f"sub-folder. Supported layouts: {supported_layouts()}")
    return make_table(rows, dataset=root.name)


def has_subfolders(path: Path) -> bool:
    """Whether ``path`` is a folder with at least one visible sub-folder."""
    return path.is_dir() and bool(visible_subfolders(path))


register_layout("class_folders", has_subfolders, load_class_folders,
                "a folder with one sub-folder of audio files per class", fallback=True)
