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
counts only when no specific one does. A fallback that labels files with folder names has a
*doubt* function: when it doubts a folder (a sub-folder named ``audio``, ``fold3``, ``train``...,
or a sub-folder that is itself a dataset), detection refuses in one line naming the candidate
layouts (with why each specific one does not fit) and how to choose one
(:data:`CHOOSE_LAYOUT`), rather than label files with a name that is not a class.
:meth:`LayoutRegistry.decide` also says how a layout was decided (``spectrain inspect raw``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pandas as pd

from ..errors import UserError
from .schema import PathArg


class LayoutError(UserError, ValueError):
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
    # a fallback's doubt: why a path it fits may well be something else (None when it has no
    # doubt); detection then refuses rather than guess (e.g. folder names that are not classes)
    doubt: Optional[Callable[[Path], Optional[str]]] = None


@dataclass(frozen=True)
class Decision:
    """What :meth:`LayoutRegistry.decide` found: the layout's name (None when none fits) and
    how it was decided, in words."""
    name: Optional[str]
    how: str


class LayoutRegistry:
    """Layouts by name, in registration order, and the detection that picks one for a path."""

    def __init__(self) -> None:
        self._layouts: dict[str, Layout] = {}

    def register(self, name: str, detect: Callable[[Path], bool], load: Callable[..., Any],
                 description: str, fallback: bool = False,
                 problem: Optional[Callable[[Path], Optional[str]]] = None,
                 doubt: Optional[Callable[[Path], Optional[str]]] = None) -> Layout:
        """Register (or replace) a layout; returns it."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"layout name must be a non-empty string, got {name!r}")
        layout = Layout(name, detect, load, description, fallback, problem, doubt)
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
        """The name of the one layout that fits ``path``, or None when none does (see
        :meth:`decide`)."""
        return self.decide(path, choose_with).name

    def decide(self, path: Path, choose_with: str) -> Decision:
        """The one layout that fits ``path`` and how that was decided.

        Specific layouts are asked in registration order; when none fits, the first fallback
        that fits is the answer, unless it has a doubt about ``path`` or a sub-folder of
        ``path`` is itself a dataset of a specific layout: detection then refuses.

        Raises:
            LayoutError: several specific layouts fit, or the fallback is not sure; the one-line
                message names the candidate layouts and says how to name one (``choose_with``,
                e.g. "parser=").
        """
        layouts = list(self._layouts.values())
        specific = [layout for layout in layouts if not layout.fallback]
        fitting = [layout.name for layout in specific if layout.detect(path)]
        asked = ", ".join(layout.name for layout in specific) or "none"
        if len(fitting) > 1:
            raise LayoutError(f"{path}: fits several dataset layouts ({', '.join(fitting)}); "
                              f"choose one with {choose_with}")
        if fitting:
            return Decision(fitting[0], f"{self[fitting[0]].description}: the only specific "
                                        f"layout that fits (asked: {asked})")
        for layout in layouts:
            if layout.fallback and layout.detect(path):
                # only a fallback that labels files from folder names has doubts
                doubt = (layout.doubt(path) or self._nested(path)) if layout.doubt else None
                if doubt:
                    raise LayoutError(self._refusal(path, layout, doubt, choose_with))
                return Decision(layout.name, f"no specific layout fits (asked: {asked}); the "
                                             f"fallback: {layout.description}")
        return Decision(None, f"no layout fits (asked: {', '.join(self._layouts)})")

    def _nested(self, path: Path) -> Optional[str]:
        """A doubt when a sub-folder of ``path`` is itself a dataset of a specific layout."""
        if not path.is_dir():
            return None
        for child in sorted(path.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                for layout in self._layouts.values():
                    if not layout.fallback and layout.detect(child):
                        return (f"sub-folder {child.name!r} is itself a dataset ({layout.name}); "
                                f"give that folder instead")
        return None

    def _refusal(self, path: Path, fallback: Layout, doubt: str, choose_with: str) -> str:
        """The one-line message of a refused detection: the doubt, the candidates, the choice."""
        candidates = [f"{fallback.name} ({fallback.description}, if that is what it is)"]
        for layout in self._layouts.values():
            problem = layout.problem(path) if layout.problem and not layout.fallback else None
            if problem and path.is_dir():
                candidates.append(f"{layout.name} ({problem})")
        return (f"{path}: layout not detected, not sure: {doubt}. Candidate layouts: "
                f"{'; '.join(candidates)}. Choose one with {choose_with}")


# --- the layouts of dataset tables (job blocks) ------------------------------------------------

#: The layouts :func:`load_auto` and :func:`modules.data.register_dataset` read; every loader
#: module registers its own (manifest, esc, folders, packs, feature_sets, clip_folders).
DATASET_LAYOUTS = LayoutRegistry()


def register_layout(name: str, detect: Callable[[Path], bool],
                    loader: Callable[[PathArg], pd.DataFrame], description: str,
                    fallback: bool = False,
                    problem: Optional[Callable[[Path], Optional[str]]] = None,
                    doubt: Optional[Callable[[Path], Optional[str]]] = None) -> Layout:
    """Register a layout of dataset tables: ``detect(path) -> bool`` says whether a path holds
    it, ``loader(path)`` reads it into a table (:mod:`.schema`). ``problem(path)`` says why a
    folder does not fit (named among the candidates when detection refuses a folder);
    ``doubt(path)``, for a fallback, why a folder it fits may be something else (detection
    then refuses)."""
    return DATASET_LAYOUTS.register(name, detect, loader, description, fallback, problem, doubt)


def supported_layouts() -> str:
    """What the registered layouts are, in words, for error messages."""
    return DATASET_LAYOUTS.describe()


#: How a job's dataset names its layout when detection cannot (the ``choose_with`` of messages).
CHOOSE_LAYOUT = ('register_dataset(name, path, layout="<layout name>"), or list the files with '
                 'their labels in a manifest .csv (columns path,label)')


def decide_layout(path: PathArg) -> Decision:
    """The layout (a key of :data:`DATASET_LAYOUTS`) that fits ``path``, and how that was
    decided (see :func:`detect_layout`)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path}: dataset not found")
    decision = DATASET_LAYOUTS.decide(path, CHOOSE_LAYOUT)
    if decision.name is not None:
        return decision
    if path.is_file():
        raise ValueError(f"{path}: not a dataset: a file that is not a .csv manifest, an .h5 "
                         f"waveform pack or an .nc feature set. "
                         f"Supported layouts: {supported_layouts()}")
    raise ValueError(f"{path}: not a dataset: the folder has no sub-folders. "
                     f"Supported layouts: {supported_layouts()}")


def detect_layout(path: PathArg) -> str:
    """The name of the layout (a key of :data:`DATASET_LAYOUTS`) that fits ``path``.

    A .csv file: "manifest"; .h5: "waveform_pack"; .nc: "feature_set"; a folder with
    meta/esc50.csv: "esc50_csv"; with metadata/UrbanSound8K.csv: "urbansound8k"; with
    evaluation_setup/fold1_train.csv (or .txt): "dcase_setup"; with metadata.tsv: "sed_clips";
    a folder whose sub-folders all match ``NNN - ``: "esc_folders"; any other folder with
    sub-folders: "class_folders", unless a sub-folder holding audio is named like a part of a
    layout rather than a class (audio, fold3, train, ...) or is itself a dataset: detection then
    refuses rather than label files with that name.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: no supported layout fits (LayoutError, a ValueError: several fit, or the
            folder may not be what the fallback would read; the message names the candidate
            layouts and how to choose one, :data:`CHOOSE_LAYOUT`).
    """
    return decide_layout(path).name


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
