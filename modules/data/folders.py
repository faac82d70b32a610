"""The plainest layout: a folder with one sub-folder of audio files per class.

Importing this module registers the layout "class_folders", the fallback for any folder with
sub-folders that no more specific layout claims. Detection never takes a folder name that is
not a class for a label: when a sub-folder holding audio is named like a part of a dataset's
layout (:func:`not_a_class_name`: ``audio``, ``wav``, ``data``, ``train``, ``test``, ``fold3``,
...), the fallback has a doubt and detection refuses, naming the candidate layouts
(:meth:`modules.data.layouts.LayoutRegistry.decide`). Asking for the layout by name
(``register_dataset(name, path, layout="class_folders")``) reads such folders as classes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

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


# Folder names that are parts of a dataset's layout, not classes (compared in lower case).
LAYOUT_FOLDER_NAMES = frozenset((
    "audio", "audios", "wav", "wavs", "flac", "ogg", "mp3", "sound", "sounds", "data",
    "dataset", "datasets", "files", "clips", "recordings", "samples", "raw", "meta", "metadata",
    "annotations", "labels", "evaluation_setup", "train", "training", "test", "testing", "val",
    "valid", "validation", "dev", "devel", "development", "eval", "evaluate", "evaluation",
    "all", "unlabeled", "unlabelled"))
_NUMBERED_PART = re.compile(r"^(fold|split|part|partition|cv|set|subset|session|batch)"
                            r"[ _-]?\d+$", re.IGNORECASE)


def not_a_class_name(name: str) -> bool:
    """Whether a folder name is a part of a dataset's layout (``audio``, ``train``,
    ``fold3``, ``fold_3``, ``split-2``, ...), never a class."""
    return name.strip().lower() in LAYOUT_FOLDER_NAMES or bool(_NUMBERED_PART.match(name.strip()))


def _holds_audio(folder: Path) -> bool:
    return any(file.is_file() and is_audio_file(file) for file in folder.rglob("*"))


def class_folders_doubt(root: Path) -> Optional[str]:
    """Why the sub-folders of ``root`` may not be classes (None when they may): some that hold
    audio are named like parts of a layout (:func:`not_a_class_name`)."""
    names = [folder.name for folder in visible_subfolders(root)
             if not_a_class_name(folder.name) and _holds_audio(folder)]
    if not names:
        return None
    shown = ", ".join(map(repr, names[:5])) + (f" and {len(names) - 5} more" if len(names) > 5
                                                 else "")
    return (f"sub-folder(s) {shown} hold audio but are named like parts of a dataset layout, "
            f"not classes, so their names are not taken as labels")


def has_subfolders(path: Path) -> bool:
    """Whether ``path`` is a folder with at least one visible sub-folder."""
    return path.is_dir() and bool(visible_subfolders(path))


register_layout("class_folders", has_subfolders, load_class_folders,
                "a folder with one sub-folder of audio files per class", fallback=True,
                doubt=class_folders_doubt)
