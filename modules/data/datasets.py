"""Registered datasets: names a job block flags (``{"Esc10": 1}``), each with where the dataset
is and how to read it.

``register_dataset(name, source, loader)``: ``loader`` is a layout name of
:data:`modules.data.layouts.DATASET_LAYOUTS`, a loader function, or None to detect the layout
when the dataset is loaded; ``register_dataset(name, source, layout="class_folders")`` names the
layout (what to do when detection is not sure and says so). The modules that know a dataset
register it (:mod:`.esc`: Esc10 and Esc50; :mod:`.urbansound`: UrbanSound8K;
:mod:`.respiratory`: Icbhi, Jordan and Bd); trainers register their own.
"""

from __future__ import annotations

import difflib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Union

import pandas as pd

from ..errors import UserError
from .fetch import project_root
from .layouts import DATASET_LAYOUTS, load_auto
from .schema import (STRING_DTYPE, TASK_CLASSES, PathArg, is_multi_label, make_table,
                     multi_label_classes)

Source = Union[PathArg, Callable[..., PathArg]]
Loader = Union[None, str, Callable[[PathArg], pd.DataFrame]]


def _parameter_names(function: Callable) -> tuple[str, ...]:
    try:
        return tuple(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # builtins without a signature
        return ()


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: where it is (``source``) and how to read it (``loader``)."""
    name: str
    source: Source
    loader: Optional[Callable[[PathArg], pd.DataFrame]]  # None: detect the layout

    def locate(self, data_root: PathArg = "data") -> Path:
        """The dataset's path. A callable source is called now (so fetching happens only for
        datasets in use), with ``data_root=`` if it takes that argument. A relative path is
        relative to the project root, like every path in the parameters, so a trainer's
        ``register_dataset("Digits", "data/digits.csv")`` means the same from any folder."""
        source = self.source
        if callable(source):
            takes_data_root = "data_root" in _parameter_names(source)
            source = source(data_root=data_root) if takes_data_root else source()
        path = Path(source).expanduser()
        if not path.is_absolute():
            path = project_root() / path
        return path

    def load(self, data_root: PathArg = "data", task: Optional[str] = None) -> pd.DataFrame:
        """The dataset's table, with the dataset column set to the registered name.

        A loader with a ``task`` parameter gets ``task=`` (e.g. the respiratory loaders:
        "pneumonia" or "cw"); one with a ``name`` parameter gets ``name=`` the registered name
        (which the respiratory loaders use to prefix their patient groups).

        Raises:
            ValueError: a task (non-empty) for a loader that takes none.
        """
        options = self.loader_options(task)  # a task error before locating anything
        loaded = (self.loader or load_auto)(self.locate(data_root), **options)
        table = make_table(loaded)
        table.attrs.update(getattr(loaded, "attrs", {}))  # e.g. the rows a loader skipped
        table["dataset"] = pd.array([self.name] * len(table), dtype=STRING_DTYPE)
        return table

    def loader_options(self, task: Optional[str] = None) -> dict:
        """The keyword arguments :meth:`load` gives the loader (see there).

        Raises:
            ValueError: a task (non-empty) for a loader that takes none.
        """
        loader = self.loader or load_auto
        parameters = _parameter_names(loader)
        options = {}
        if "task" in parameters:
            options["task"] = task or None
        elif task:
            raise ValueError(
                f"dataset {self.name!r} has no task {task!r}: its loader "
                f"({getattr(loader, '__name__', loader)}) gives the dataset's own labels. Use "
                f"datasets that support the task (e.g. Icbhi, Jordan, Bd) or set "
                f"parameters.task = \"\"")
        if "name" in parameters:
            options["name"] = self.name
        return options


_REGISTRY: dict[str, DatasetSpec] = {}


def _resolve_loader(loader: Loader) -> Optional[Callable[[PathArg], pd.DataFrame]]:
    if loader is None or callable(loader):
        return loader
    if isinstance(loader, str):
        if loader not in DATASET_LAYOUTS:
            raise ValueError(f"unknown loader {loader!r}; expected one of "
                             f"{', '.join(DATASET_LAYOUTS)} (or None to detect the layout)")
        return DATASET_LAYOUTS[loader].load
    raise TypeError(f"loader must be None, a loader name or a function, got {loader!r}")


def register_dataset(name: str, source: Source, loader: Loader = None,
                     layout: Optional[str] = None) -> None:
    """Register (or replace) a dataset that ``load_datasets`` can switch on by name.

    Args:
        name: the flag name, e.g. "Esc10".
        source: a path (absolute, or relative to the project root), or a callable returning one;
            a callable is called lazily, only when the dataset is loaded, with
            ``data_root=...`` if it accepts that argument, else with none.
        loader: None (detect the layout), a loader function, or the name of a registered
            layout: "manifest", "esc50_csv", "esc_folders", "urbansound8k", "dcase_setup",
            "class_folders", "waveform_pack", "feature_set", "sed_clips", "weak_labels". A
            loader function may take ``task`` (it then gets ``parameters.task``, or None) and
            ``name`` (it then gets the registered name) keyword arguments; see
            :meth:`DatasetSpec.load`.
        layout: the name of a registered layout, instead of ``loader`` (the two are one choice:
            give one). E.g. ``layout="class_folders"`` for a folder of class folders whose
            names detection does not take for classes (``train``, ``fold3``, ...).

    Raises:
        ValueError: an empty name, an unknown layout name, or both ``loader`` and ``layout``.
        TypeError: a source that is neither a path nor a callable; a bad loader.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"dataset name must be a non-empty string, got {name!r}")
    if not (callable(source) or isinstance(source, (str, os.PathLike))):
        raise TypeError(f"dataset {name!r}: source must be a path or a callable returning one, "
                        f"got {source!r}")
    if layout is not None:
        if loader is not None:
            raise ValueError(f"dataset {name!r}: give loader= or layout=, not both")
        if not isinstance(layout, str) or layout not in DATASET_LAYOUTS:
            raise ValueError(f"dataset {name!r}: unknown layout {layout!r}; expected one of "
                             f"{', '.join(DATASET_LAYOUTS)}")
        loader = layout
    _REGISTRY[name] = DatasetSpec(name, source, _resolve_loader(loader))


def unregister_dataset(name: str) -> None:
    """Remove a registered dataset (no error if it is not registered)."""
    _REGISTRY.pop(name, None)


def registered_datasets() -> list[str]:
    """Names of the registered datasets, in registration order."""
    return list(_REGISTRY)


class UnknownDatasetError(UserError, KeyError):
    """A dataset name that is not registered (a KeyError too, as it always was)."""


def dataset_spec(name: str) -> DatasetSpec:
    """The registration of ``name``; KeyError naming the closest registered names if unknown."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    names = registered_datasets()
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    close += [other for other in names if other.lower() == str(name).lower()
              and other not in close]
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise UnknownDatasetError(f"unknown dataset {name!r}{hint or '.'} Registered datasets: "
                              f"{', '.join(names) or 'none'}")


def _chosen_datasets(flags: Mapping[str, int], task: Optional[str]) -> list[str]:
    """The names flagged 1, after checking every flag and the task (before loading anything)."""
    for name, flag in flags.items():
        dataset_spec(name)  # fail on any unknown name before loading anything
        if flag not in (0, 1):
            raise ValueError(f"dataset flag {name}={flag!r}: expected 0 or 1")
    chosen = [name for name, flag in flags.items() if flag == 1]
    if not chosen:
        raise ValueError(f"no dataset selected: flag at least one of "
                         f"{', '.join(registered_datasets())} with 1 (got {dict(flags)})")
    for name in chosen:
        dataset_spec(name).loader_options(task)  # fail on a task mismatch before loading
    return chosen


def merged_attrs(tables: list[pd.DataFrame]) -> dict:
    """The ``attrs`` of several tables as one: lists (skipped rows) are joined, dicts of lists
    (a loader's split-name notes) joined key by key; pandas' concat keeps attrs only when every
    table has the same."""
    merged: dict = {}
    for table in tables:
        for key, value in table.attrs.items():
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            elif isinstance(value, dict):
                into = merged.setdefault(key, {})
                for name, items in value.items():
                    into.setdefault(name, []).extend(items)
            else:
                merged.setdefault(key, value)
    return merged


def load_datasets(flags: Mapping[str, int], data_root: PathArg = "data",
                  task: Optional[str] = None) -> tuple[pd.DataFrame, list[str]]:
    """Load and concatenate every dataset flagged 1.

    Args:
        flags: dataset names to 0/1 (or False/True), e.g. ``{"Esc10": 1, "Esc50": 0}``.
        data_root: where datasets live; relative to the project root when relative.
        task: None or "" for the datasets' own labels; otherwise handed to every loader (see
            :meth:`DatasetSpec.load`), e.g. "pneumonia" or "cw" for the respiratory datasets.

    Returns:
        (table, class_names): the rows of the flagged datasets in the order given, with the
        ``dataset`` column set to each registered name; and the class names: for a task of
        :data:`modules.data.schema.TASK_CLASSES` exactly its classes, in their fixed order
        (even those absent from the data); for a table with multi-label rows (``labels``, see
        :mod:`.schema`) the classes of every row in the order in which they first appear; else
        the labels in the order in which they first appear in the table.

    Raises:
        KeyError: an unknown name (the message names the closest registered ones).
        ValueError: a flag that is not 0/1, no dataset flagged 1, a task for a dataset whose
            loader takes none, or a label outside the task's classes.
    """
    chosen = _chosen_datasets(flags, task)
    tables = [dataset_spec(name).load(data_root, task=task) for name in chosen]
    table = pd.concat(tables, ignore_index=True)
    table.attrs = merged_attrs(tables)
    if task in TASK_CLASSES:
        class_names = list(TASK_CLASSES[task])
        unknown = sorted(set(table["label"].dropna()) - set(class_names))
        if unknown:
            raise ValueError(f"task {task!r}: label(s) {', '.join(map(repr, unknown))} are not "
                             f"among its classes {', '.join(class_names)}")
    elif is_multi_label(table):
        class_names = multi_label_classes(table)
    else:
        class_names = [str(label) for label in pd.unique(table["label"])]
    return table, class_names
