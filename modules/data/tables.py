"""Dataset tables: one row per audio file, loaded from the common dataset layouts.

A *table* is a pandas DataFrame with the columns of :data:`TABLE_COLUMNS`:

==========  =============  ============================================================
path        str            absolute path of the audio file
label       str            class name
fold        Int64 or NA    cross-validation fold, when the dataset defines folds
split       str or NA      "train", "validation" or "test", when the dataset defines it
group       str or NA      rows that must stay on one side of a split (same patient, same
                           source recording...)
annotation  str or NA      the file's annotation file (e.g. the respiratory-cycle .txt of an
                           ICBHI recording), for loaders whose labels vary along a recording
dataset     str            the registered dataset name (the folder or manifest name when a
                           loader is used directly)
==========  =============  ============================================================

String columns use pandas' default string dtype (``str`` in pandas 3: missing values are NaN,
comparisons give plain bool masks; object dtype on older pandas). Test for missing values with
``isna()``. Folder loaders return rows in a sorted order that does not depend on the order in
which the file system lists files; a manifest keeps its own row order.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Union

import numpy as np
import pandas as pd

from .fetch import ESC_CLASS_FOLDER, locate_esc10, locate_esc50, project_root

PathArg = Union[str, os.PathLike]

TABLE_COLUMNS = ("path", "label", "fold", "split", "group", "annotation", "dataset")
SPLIT_VALUES = ("train", "validation", "test")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")

try:  # pandas >= 2.3: the string dtype that pandas 3 infers for text, NaN for missing values
    STRING_DTYPE = pd.StringDtype(na_value=np.nan)
except TypeError:
    STRING_DTYPE = np.dtype(object)

_ESC_FOLDER = re.compile(r"^(\d{3}) - (.+)$")
# "<fold>-<freesound id>-<take>[-<target>]", e.g. "1-100032-A.ogg" or "1-100032-A-0.wav".
_ESC_FILE = re.compile(r"^(\d+)-([^-]+)-([^-.]+)")
_ESC50_COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")

SUPPORTED_LAYOUTS = (
    "a manifest .csv file with columns path,label (optional fold, split, group, annotation); "
    "an ESC-50 folder (meta/esc50.csv and audio/); "
    "an ESC-10/ESC-50 style folder of 'NNN - Class name' sub-folders; "
    "a folder with one sub-folder of audio files per class; "
    "an .h5 waveform pack; an .nc feature set of learned representations; or a folder of "
    "`spectrain clips` output (metadata.tsv)"
)


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS and not path.name.startswith(".")


def _visible_subfolders(root: Path) -> list[Path]:
    return sorted(child for child in root.iterdir()
                  if child.is_dir() and not child.name.startswith("."))


def _require_dir(root: PathArg, what: str) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{root}: {what} not found")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: expected a folder ({what})")
    return root.resolve()


def make_table(rows: Union[pd.DataFrame, list[dict], None] = None,
               dataset: Optional[str] = None) -> pd.DataFrame:
    """A table with exactly :data:`TABLE_COLUMNS` and their dtypes.

    Missing columns become NA; other columns are dropped. ``dataset`` fills the dataset column
    where it is missing.
    """
    frame = pd.DataFrame(rows if rows is not None else [])
    table = pd.DataFrame(index=range(len(frame)))
    for column in TABLE_COLUMNS:
        if column == "fold":
            values = frame[column].to_numpy() if column in frame else [pd.NA] * len(frame)
            table[column] = pd.array(values, dtype="Int64")
        else:
            values = frame[column] if column in frame else pd.Series([np.nan] * len(frame))
            # str() each present value, so that e.g. numeric group ids become text too.
            table[column] = pd.array([np.nan if pd.isna(value) else str(value)
                                      for value in values], dtype=STRING_DTYPE)
    if dataset is not None:
        table["dataset"] = table["dataset"].fillna(dataset)
    return table


def load_esc_folders(root: PathArg) -> pd.DataFrame:
    """ESC-10/ESC-50 folder layout: ``root/NNN - Class name/<fold>-<freesound id>-<take>.ogg``.

    label: the folder name without the ``NNN - `` prefix; classes are ordered by that number.
    fold: the number before the first dash of the file name.
    group: the freesound id (clips cut from the same source recording share it).
    """
    root = _require_dir(root, "ESC dataset folder")
    folders = []
    for folder in root.iterdir():
        match = _ESC_FOLDER.match(folder.name)
        if folder.is_dir() and match:
            folders.append((int(match.group(1)), match.group(2).strip(), folder))
    if not folders:
        raise ValueError(f"{root}: no 'NNN - Class name' class folders found")
    rows = []
    for _, label, folder in sorted(folders, key=lambda item: (item[0], item[2].name)):
        for file in sorted(folder.iterdir()):
            if not (file.is_file() and _is_audio(file)):
                continue
            match = _ESC_FILE.match(file.name)
            if not match:
                raise ValueError(
                    f"{file}: file name does not follow the ESC pattern "
                    f"'<fold>-<freesound id>-<take>.<ext>' (e.g. '1-100032-A.ogg')")
            rows.append({"path": str(file), "label": label, "fold": int(match.group(1)),
                         "group": match.group(2)})
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
    root = _require_dir(root, "ESC-50 dataset folder")
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


def load_class_folders(root: PathArg) -> pd.DataFrame:
    """One sub-folder per class (its name is the label), audio files anywhere inside it.

    Audio extensions: .wav .flac .ogg .mp3 .aiff .aif, in any letter case. Classes are ordered
    by folder name, files by their path inside the class folder. Hidden files and folders are
    ignored. No fold or group.
    """
    root = _require_dir(root, "dataset folder")
    rows = []
    for folder in _visible_subfolders(root):
        files = sorted(
            (file for file in folder.rglob("*")
             if file.is_file() and _is_audio(file)
             and not any(part.startswith(".") for part in file.relative_to(folder).parts)),
            key=lambda file: file.relative_to(folder).as_posix())
        rows.extend({"path": str(file), "label": folder.name} for file in files)
    if not rows:
        raise ValueError(f"{root}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in any class "
                         f"sub-folder. Supported layouts: {SUPPORTED_LAYOUTS}")
    return make_table(rows, dataset=root.name)


def load_manifest(csv_path: PathArg) -> pd.DataFrame:
    """A CSV manifest with columns ``path,label`` and optionally ``fold``, ``split``, ``group``,
    ``annotation``.

    Relative paths (``path``, ``annotation``) are relative to the CSV file's folder. Rows keep
    the manifest's order.
    ``split`` values must be "train", "validation" or "test" (or empty). Other columns are
    ignored.
    """
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: manifest file not found")
    csv_path = csv_path.resolve()
    manifest = pd.read_csv(csv_path, dtype={"path": str, "label": str, "split": str,
                                            "group": str, "annotation": str})
    manifest.columns = [str(column).strip() for column in manifest.columns]
    missing = [column for column in ("path", "label") if column not in manifest.columns]
    if missing:
        raise ValueError(f"{csv_path}: manifest is missing required column(s) "
                         f"{', '.join(missing)}; found {', '.join(manifest.columns) or 'none'}")
    for column in ("path", "label"):
        empty = manifest[column].isna() | (manifest[column].str.strip() == "")
        if empty.any():
            lines = ", ".join(str(i + 2) for i in manifest.index[empty][:10])
            raise ValueError(f"{csv_path}: empty '{column}' on line(s) {lines}")
    # normpath folds "../" away without resolving symbolic links the user may rely on.
    manifest["path"] = [os.path.normpath(csv_path.parent / Path(path).expanduser())
                        for path in manifest["path"].str.strip()]
    if "annotation" in manifest:
        manifest["annotation"] = [
            np.nan if pd.isna(path) or not str(path).strip()
            else os.path.normpath(csv_path.parent / Path(str(path).strip()).expanduser())
            for path in manifest["annotation"]]
    if "fold" in manifest:
        folds = pd.to_numeric(manifest["fold"], errors="coerce")
        bad = (folds.notna() & (folds != folds.round())) | (folds.isna() & manifest["fold"].notna())
        if bad.any():
            values = ", ".join(map(repr, manifest.loc[bad, "fold"].unique()[:5]))
            raise ValueError(f"{csv_path}: 'fold' must hold whole numbers, got {values}")
        manifest["fold"] = folds.astype("Int64")
    if "split" in manifest:
        manifest["split"] = manifest["split"].str.strip().str.lower()
        bad = manifest["split"].notna() & ~manifest["split"].isin(SPLIT_VALUES)
        if bad.any():
            values = ", ".join(map(repr, manifest.loc[bad, "split"].unique()[:5]))
            raise ValueError(f"{csv_path}: 'split' must be one of {', '.join(SPLIT_VALUES)} "
                             f"or empty, got {values}")
    if manifest.empty:
        raise ValueError(f"{csv_path}: manifest has no rows")
    return make_table(manifest, dataset=csv_path.stem)


def load_waveform_pack(path: PathArg) -> pd.DataFrame:
    """A PANNs-style HDF5 waveform pack (see :mod:`modules.data.packs`)."""
    from .packs import load_pack  # packs imports this module

    return load_pack(path)


def load_feature_set(path: PathArg) -> pd.DataFrame:
    """A netCDF feature set of learned representations (see :mod:`modules.data.feature_sets`)."""
    from .feature_sets import load_feature_set as load  # feature_sets imports this module

    return load(path)


def load_sed_clips(path: PathArg) -> pd.DataFrame:
    """A folder of `spectrain clips` output (:func:`modules.sed.windows.clips_dataset_table`)."""
    from modules.sed.windows import clips_dataset_table  # modules.sed imports this module

    return clips_dataset_table(path)


LOADERS: dict[str, Callable[[PathArg], pd.DataFrame]] = {
    "esc_folders": load_esc_folders,
    "esc50_csv": load_esc50_csv,
    "class_folders": load_class_folders,
    "manifest": load_manifest,
    "waveform_pack": load_waveform_pack,
    "feature_set": load_feature_set,
    "sed_clips": load_sed_clips,
}


def detect_layout(path: PathArg) -> str:
    """The name of the loader (a key of :data:`LOADERS`) that fits ``path``.

    A .csv file: "manifest"; a folder with meta/esc50.csv: "esc50_csv"; a folder whose
    sub-folders all match ``NNN - ``: "esc_folders"; any other folder with sub-folders:
    "class_folders".

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: no supported layout fits.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path}: dataset not found")
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return "manifest"
        if path.suffix.lower() in (".h5", ".hdf5"):
            return "waveform_pack"
        if path.suffix.lower() == ".nc":
            return "feature_set"
        raise ValueError(f"{path}: not a dataset: a file that is not a .csv manifest, an .h5 "
                         f"waveform pack or an .nc feature set. "
                         f"Supported layouts: {SUPPORTED_LAYOUTS}")
    if (path / "meta" / "esc50.csv").is_file():
        return "esc50_csv"
    if (path / "metadata.tsv").is_file():
        return "sed_clips"
    subfolders = _visible_subfolders(path)
    if not subfolders:
        raise ValueError(f"{path}: not a dataset: the folder has no sub-folders. "
                         f"Supported layouts: {SUPPORTED_LAYOUTS}")
    if all(ESC_CLASS_FOLDER.match(folder.name) for folder in subfolders):
        return "esc_folders"
    return "class_folders"


def load_auto(path: PathArg) -> pd.DataFrame:
    """Load ``path`` with the loader :func:`detect_layout` picks."""
    return LOADERS[detect_layout(path)](path)


# --- registry -------------------------------------------------------------------------------

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
            try:
                takes_data_root = "data_root" in inspect.signature(source).parameters
            except (TypeError, ValueError):  # builtins without a signature
                takes_data_root = False
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
        table = make_table((self.loader or load_auto)(self.locate(data_root), **options))
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
        if loader not in LOADERS:
            raise ValueError(f"unknown loader {loader!r}; expected one of "
                             f"{', '.join(LOADERS)} (or None to detect the layout)")
        return LOADERS[loader]
    raise TypeError(f"loader must be None, a loader name or a function, got {loader!r}")


def register_dataset(name: str, source: Source, loader: Loader = None) -> None:
    """Register (or replace) a dataset that ``load_datasets`` can switch on by name.

    Args:
        name: the flag name, e.g. "Esc10".
        source: a path (absolute, or relative to the project root), or a callable returning one;
            a callable is called lazily, only when the dataset is loaded, with
            ``data_root=...`` if it accepts that argument, else with none.
        loader: None (detect the layout), a loader function, or one of the names
            "esc_folders", "esc50_csv", "class_folders", "manifest", "waveform_pack",
            "feature_set", "sed_clips". A loader function may
            take ``task`` (it then gets ``parameters.task``, or None) and ``name`` (it then
            gets the registered name) keyword arguments; see :meth:`DatasetSpec.load`.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"dataset name must be a non-empty string, got {name!r}")
    if not (callable(source) or isinstance(source, (str, os.PathLike))):
        raise TypeError(f"dataset {name!r}: source must be a path or a callable returning one, "
                        f"got {source!r}")
    _REGISTRY[name] = DatasetSpec(name, source, _resolve_loader(loader))


def unregister_dataset(name: str) -> None:
    """Remove a registered dataset (no error if it is not registered)."""
    _REGISTRY.pop(name, None)


def registered_datasets() -> list[str]:
    """Names of the registered datasets, in registration order."""
    return list(_REGISTRY)


def dataset_spec(name: str) -> DatasetSpec:
    """The registration of ``name``; KeyError naming the closest registered names if unknown."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    names = registered_datasets()
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    close += [other for other in names if other.lower() == str(name).lower()
              and other not in close]
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise KeyError(f"unknown dataset {name!r}{hint} Registered datasets: "
                   f"{', '.join(names) or 'none'}")


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
        :data:`modules.data.respiratory.TASK_CLASSES` exactly its classes, in their fixed order
        (even those absent from the data), else the labels in the order in which they first
        appear in the table.

    Raises:
        KeyError: an unknown name (the message names the closest registered ones).
        ValueError: a flag that is not 0/1, no dataset flagged 1, a task for a dataset whose
            loader takes none, or a label outside the task's classes.
    """
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
    from .respiratory import TASK_CLASSES  # here: respiratory.py imports this module

    tables = [dataset_spec(name).load(data_root, task=task) for name in chosen]
    table = pd.concat(tables, ignore_index=True)
    if task in TASK_CLASSES:
        class_names = list(TASK_CLASSES[task])
        unknown = sorted(set(table["label"].dropna()) - set(class_names))
        if unknown:
            raise ValueError(f"task {task!r}: label(s) {', '.join(map(repr, unknown))} are not "
                             f"among its classes {', '.join(class_names)}")
    else:
        class_names = [str(label) for label in pd.unique(table["label"])]
    return table, class_names


register_dataset("Esc10", locate_esc10, "esc_folders")
register_dataset("Esc50", locate_esc50, "esc50_csv")
