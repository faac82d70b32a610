"""The ESC naming rule, in one place: ``NNN - Class name/<fold>-<clip id>-<take>.<ext>``.

ESC-10 and ESC-50 (K. J. Piczak) name their class folders ``001 - Dog bark`` and their files
``<fold>-<freesound id>-<take>.ogg``, e.g. ``1-100032-A.ogg`` (ESC-50's release adds the class
number: ``1-100032-A-0.wav``). The job loaders (:mod:`.esc`), the dataset fetcher
(:mod:`.fetch`) and the auDeep-style parsers (:mod:`modules.representation.parsers`) all read
names with these functions.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple, Optional

_CLASS_FOLDER = re.compile(r"^(\d{3}) - (.+)$")
# No end anchor: ESC-50's "1-100032-A-0.wav" carries the class number after the take.
_FILE_NAME = re.compile(r"^(\d+)-([^-]+)-([^-.]+)")

ESC_FILE_PATTERN = "'<fold>-<freesound id>-<take>.<ext>' (e.g. '1-100032-A.ogg')"


class EscClassFolder(NamedTuple):
    number: int  # orders the classes
    label: str


class EscFileName(NamedTuple):
    fold: int
    clip_id: str  # the freesound id: clips cut from one source recording share it
    take: str


def esc_class_folder(name: str) -> Optional[EscClassFolder]:
    """``"001 - Dog bark"`` -> (1, "Dog bark"); None for a name that is not ``NNN - Class``."""
    match = _CLASS_FOLDER.match(name)
    return EscClassFolder(int(match.group(1)), match.group(2).strip()) if match else None


def parse_esc_file_name(name: str) -> Optional[EscFileName]:
    """``"1-100032-A.ogg"`` -> (1, "100032", "A"); None for a name that breaks the rule."""
    match = _FILE_NAME.match(name)
    return EscFileName(int(match.group(1)), match.group(2), match.group(3)) if match else None


def esc_folder_problem(root: Path) -> Optional[str]:
    """Why ``root`` (a folder) is not an ESC folder, or None when it is: it has visible
    sub-folders and every one is named ``NNN - Class name`` (files beside them are ignored)."""
    folders = sorted(child for child in root.iterdir()
                     if child.is_dir() and not child.name.startswith("."))
    if not folders:
        return "no class folders"
    for folder in folders:
        if esc_class_folder(folder.name) is None:
            return f"folder {folder.name!r} is not named 'NNN - Class name'"
    return None


def is_esc_folder(path: Path) -> bool:
    """Whether ``path`` is a folder of ``NNN - Class name`` sub-folders (see
    :func:`esc_folder_problem`); the detect function of the ESC layouts."""
    return path.is_dir() and esc_folder_problem(path) is None
