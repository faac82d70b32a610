"""Dataset layouts: each layout registers itself with a name, a detect function and a loader.

A *layout* is a way a dataset lies on disk (a manifest .csv, an ESC folder, a waveform pack...).
The module that reads a layout registers it, next to its loader::

    register_layout("manifest", is_manifest, load_manifest, "a manifest .csv file ...")

and :func:`detect_layout` asks every registered layout whether it fits a path, so adding a
layout is a change in one place: its own module, imported by ``modules/data/__init__.py``.

:class:`LayoutRegistry` is the detection both the job loaders (:data:`DATASET_LAYOUTS`, which
give dataset tables) and the auDeep-style parsers (:data:`modules.representation.parsers.
PARSERS`, which give parsed datasets) use: *specific* layouts are asked first and exactly one
of them may fit; a *fallback* layout (a folder of class folders, any folder of audio files)
counts only when no specific one does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pandas as pd

from .schema import PathArg


class LayoutError(ValueError):
    """A path that is not a dataset of the requested layout, or that fits several layouts."""


@dataclass(frozen=True)
class Layout:
    """One registered layout (see the module docstring)."""
    name: str
    detect: Callable[[Path], bool]  # does this path hold a dataset in this layout?
    load: Callable[..., Any]  # path -> what the registry's users read (a table, a dataset)
    description: str  # for messages: "an .h5 waveform pack"
    fallback: bool = False  # asked only when no specific layout fits
    # why a path does not fit (None when it does), for "not a ... dataset: <why>" messages
    problem: Optional[Callable[[Path], Optional[str]]] = None


class LayoutRegistry:
    """Layouts by name, in registration order, and the detection that picks one for a path."""

    def __init__(self) -> None:
        self._layouts: dict[str, Layout] = {}

    def register(self, name: str, detect: Callable[[Path], bool], load: Callable[..., Any],
                 description: str, fallback: bool = False,
                 problem: Optional[Callable[[Path], Optional[str]]] = None) -> Layout:
        """Register (or replace) a layout; returns it."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"layout name must be a non-empty string, got {name!r}")
        layout = Layout(name, detect, load, description, fallback, problem)
        self._layouts[name] = layout
        return layout

    def __getitem__(self, name: str) -> Layout:
        return self._layouts[name]

    def __contains__(self, name: object) -> bool:
        return name in self._layouts

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._layouts))

    def __len__(self) -> int:
        return len(self._layouts)

    def describe(self) -> str:
        """The descriptions of every layout, "a; b; or c"."""
        descriptions = [layout.description for layout in self._layouts.values()]
        if len(descriptions) < 2:
            return "".join(descriptions)
        return "; ".join(descriptions[:-1]) + "; or " + descriptions[-1]

    def detect(self, path: Path, choose_with: str) -> Optional[str]:
        """The name of the one layout that fits ``path``, or None when none does.

        Specific layouts are asked in registration order; when none fits, the first fallback
        that fits is the answer.

        Raises:
            LayoutError: several specific layouts fit; the message lists them and says how to
                name one (``choose_with``, e.g. "parser=").
        """
        layouts = list(self._layouts.values())
        fitting = [layout.name for layout in layouts if not layout.fallback and layout.detect(path)]
        if len(fitting) > 1:
            raise LayoutError(f"{path}: fits several dataset layouts ({', '.join(fitting)}); "
                              f"choose one with {choose_with}")
        if fitting:
            return fitting[0]
        return next((layout.name for layout in layouts
                     if layout.fallback and layout.detect(path)), None)


# --- the layouts of dataset tables (job blocks) ------------------------------------------------

#: The layouts :func:`load_auto` and :func:`modules.data.register_dataset` read; every loader
#: module registers its own (manifest, esc, folders, packs, feature_sets, clip_folders).
DATASET_LAYOUTS = LayoutRegistry()


def register_layout(name: str, detect: Callable[[Path], bool],
                    loader: Callable[[PathArg], pd.DataFrame], description: str,
                    fallback: bool = False) -> Layout:
    """Register a layout of dataset tables: ``detect(path) -> bool`` says whether a path holds
    it, ``loader(path)`` reads it into a table (:mod:`.schema`)."""
    return DATASET_LAYOUTS.register(name, detect, loader, description, fallback)


def supported_layouts() -> str:
    """What the registered layouts are, in words, for error messages."""
    return DATASET_LAYOUTS.describe()


def detect_layout(path: PathArg) -> str:
    """The name of the layout (a key of :data:`DATASET_LAYOUTS`) that fits ``path``.

    A .csv file: "manifest"; .h5: "waveform_pack"; .nc: "feature_set"; a folder with
    meta/esc50.csv: "esc50_csv"; with metadata.tsv: "sed_clips"; a folder whose sub-folders
    all match ``NNN - ``: "esc_folders"; any other folder with sub-folders: "class_folders".

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: no supported layout fits (LayoutError, a ValueError: several fit).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path}: dataset not found")
    name = DATASET_LAYOUTS.detect(path, "register_dataset(name, path, loader=<layout name>)")
    if name is not None:
        return name
    if path.is_file():
        raise ValueError(f"{path}: not a dataset: a file that is not a .csv manifest, an .h5 "
                         f"waveform pack or an .nc feature set. "
                         f"Supported layouts: {supported_layouts()}")
    raise ValueError(f"{path}: not a dataset: the folder has no sub-folders. "
                     f"Supported layouts: {supported_layouts()}")


def load_auto(path: PathArg) -> pd.DataFrame:
    """Load ``path`` with the loader :func:`detect_layout` picks."""
    return DATASET_LAYOUTS[detect_layout(path)].load(path)


class LoaderFunctions(Mapping):
    """Layout name -> loader function, read live from :data:`DATASET_LAYOUTS` (the older
    ``LOADERS`` dictionary)."""

    def __getitem__(self, name: str) -> Callable[[PathArg], pd.DataFrame]:
        return DATASET_LAYOUTS[name].load

    def __iter__(self) -> Iterator[str]:
        return iter(DATASET_LAYOUTS)

    def __len__(self) -> int:
        return len(DATASET_LAYOUTS)


LOADERS = LoaderFunctions()
