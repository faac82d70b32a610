"""Dataset parsers for the auDeep workflow: list a dataset's audio files with their metadata.

Every parser returns a :class:`ParsedDataset`: one :class:`Instance` per audio file and the
label map. The layouts are those auDeep knows (its ``--parser`` option); :func:`detect_parser`
picks one like auDeep's meta parser does, so ``parse(basedir)`` needs no parser name:

===============  ========================================================  ===================
name             layout                                                    folds / partitions
===============  ========================================================  ===================
esc              ``NNN - Class name/<fold>-<id>-<take>.ogg`` (ESC-10/50)   5 folds
esc50            ``meta/esc50.csv`` + ``audio/`` (the ESC-50 release)      5 folds
urbansound8k     ``metadata/UrbanSound8K.csv`` + ``audio/fold<N>/``        10 folds
dcase            ``evaluation_setup/fold<N>_train.csv|txt`` (+ meta)       one per train list
partitioned      ``train|devel|test/<label>/<files>``                      partitions 0/1/2
cross_validated  ``fold_1 .. fold_N/<label>/<files>`` (N >= 2)             N folds
no_metadata      audio files anywhere below the folder                     none, unlabelled
===============  ========================================================  ===================

Detection: the six structured layouts are tried; exactly one must fit (two fitting is an
error, as in auDeep: name the parser then). When none fits, a folder holding audio files
anywhere below it is read with ``no_metadata`` (auDeep only uses that parser when asked). The
layouts register in a :class:`modules.data.layouts.LayoutRegistry`, the detection the job
loaders use too; ``esc`` reads names with the one ESC naming rule
(:mod:`modules.data.esc_names`), and ``esc50``, ``urbansound8k`` and ``dcase`` read their
metadata with the job loaders' readers (:func:`modules.data.esc.read_esc50`,
:func:`modules.data.urbansound.read_urbansound8k`, :func:`modules.data.dcase.read_dcase_setup`):
a metadata row that cannot be used is printed (file, line, reason), kept in
``ParsedDataset.skipped`` and left out, never costing the rest. A class folder of
``partitioned`` / ``cross_validated`` named like a part of a layout (``audio``, ``fold3``, ...;
:func:`modules.data.folders.not_a_class_name`) is not taken for a class.

Conventions (shared by all parsers):

* ``filename`` is the file's path relative to ``basedir`` with ``/`` separators (auDeep stores
  only the base name for ESC, UrbanSound8K and DCASE; the relative path is unique).
* ``cv_folds`` has one entry per fold: ``VALID`` (1) in the file's own fold, ``TRAIN`` (0) in
  every other fold; empty when the layout has no folds. DCASE follows auDeep: ``TRAIN`` in fold
  k when the file is listed in ``fold<k>_train``, ``VALID`` otherwise; its instances are the
  files of the evaluation setup's lists (in meta's order when there is a meta file): a 2019+
  set's files in neither fold1 list are not instances.
* ``label_numeric`` comes from the label map (-1 when unlabelled); ``partition`` is
  TRAIN/DEVEL/TEST = 0/1/2, or -1.
* Audio files are those with the extensions of :data:`modules.data.schema.AUDIO_EXTENSIONS`
  (any letter case); hidden files and folders are ignored. Order is deterministic: the sorted
  folder order, or the order of the metadata file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

from ..data.dcase import dcase_setup_problem, read_dcase_setup
from ..data.esc import ESC50_FOLDS, esc50_problem, read_esc50
from ..data.esc_names import (ESC_FILE_PATTERN, esc_class_folder, esc_folder_problem,
                              parse_esc_file_name)
from ..data.folders import not_a_class_name
from ..data.layouts import LayoutError, LayoutRegistry
from ..data.rows import report_skipped
from ..data.schema import AUDIO_EXTENSIONS, is_audio_file
from ..data.urbansound import URBANSOUND8K_FOLDS, read_urbansound8k, urbansound8k_problem
from .dataset import PARTITIONS, TRAIN, VALID

PathArg = Union[str, os.PathLike]

ESC_FOLDS = ESC50_FOLDS
# auDeep's DCASE 2017 label map (the scene names in alphabetical order); used when every label
# of a DCASE dataset is one of these, so numeric labels match auDeep's files.
DCASE2017_LABEL_MAP = {name: i for i, name in enumerate((
    "beach", "bus", "cafe/restaurant", "car", "city_center", "forest_path", "grocery_store",
    "home", "library", "metro_station", "office", "park", "residential_area", "train", "tram"))}

_FOLD_DIR = re.compile(r"^fold_(.*)$")


@dataclass(frozen=True)
class Instance:
    """One audio file of a dataset, with its metadata (see the module docstring)."""
    filename: str
    path: str
    label_nominal: Optional[str]
    label_numeric: int
    cv_folds: tuple
    partition: int


@dataclass
class ParsedDataset:
    """What a parser found: the instances in order, the label map and the fold count."""
    parser: str
    basedir: Path
    instances: list = field(default_factory=list)
    label_map: Optional[dict] = None
    num_folds: int = 0
    skipped: list = field(default_factory=list)  # metadata rows left out (SkippedRow)

    def __len__(self) -> int:
        return len(self.instances)

    def __iter__(self) -> Iterator[Instance]:
        return iter(self.instances)

    def __getitem__(self, index) -> Instance:
        return self.instances[index]


# --- helpers -------------------------------------------------------------------------------

def _is_audio(path: Path) -> bool:
    return is_audio_file(path) and path.is_file()


def _subdirs(folder: Path) -> list[Path]:
    return sorted((child for child in folder.iterdir()
                   if child.is_dir() and not child.name.startswith(".")),
                  key=lambda child: child.name)


def _audio_files(folder: Path) -> list[Path]:
    """Audio files directly inside ``folder``, sorted by name."""
    return sorted((child for child in folder.iterdir() if _is_audio(child)),
                  key=lambda child: child.name)


def _relative(path: Path, basedir: Path) -> str:
    return path.relative_to(basedir).as_posix()


def _folds(fold: int, n_folds: int) -> tuple:
    """``VALID`` at (1-based) ``fold``, ``TRAIN`` elsewhere."""
    return tuple(VALID if k == fold else TRAIN for k in range(1, n_folds + 1))


def _sorted_label_map(labels) -> dict:
    return {name: i for i, name in enumerate(sorted(set(labels)))}


def _instance(basedir: Path, path: Path, label: Optional[str], label_map: Optional[dict],
              cv_folds=(), partition: int = -1, filename: Optional[str] = None) -> Instance:
    return Instance(filename=filename if filename is not None else _relative(path, basedir),
                    path=str(path), label_nominal=label,
                    label_numeric=-1 if label is None else int(label_map[label]),
                    cv_folds=tuple(int(v) for v in cv_folds), partition=int(partition))


# --- ESC -----------------------------------------------------------------------------------

def _esc_fold(name: str) -> Optional[int]:
    """The fold of an ESC file name (1-5), None when the name breaks the ESC rule."""
    parsed = parse_esc_file_name(name)
    return parsed.fold if parsed and 1 <= parsed.fold <= ESC_FOLDS else None


def _check_esc(basedir: Path) -> Optional[str]:
    problem = esc_folder_problem(basedir)  # the detection the job loaders use
    if problem:
        return problem
    n_files = 0
    for class_dir in _subdirs(basedir):
        for file in _audio_files(class_dir):
            if _esc_fold(file.name) is None:
                return (f"{class_dir.name}/{file.name}: the name is not {ESC_FILE_PATTERN} "
                        f"with a fold number 1-{ESC_FOLDS}")
            n_files += 1
    return None if n_files else "the class folders hold no audio files"


def parse_esc(basedir: Path) -> ParsedDataset:
    """ESC-10 / ESC-50 folders: label = folder name without ``NNN - ``, numbered in folder
    order from 0; fold = the number before the first ``-`` of the file name (1-5)."""
    class_dirs = _subdirs(basedir)
    labels = [esc_class_folder(d.name).label for d in class_dirs]
    label_map = {label: i for i, label in enumerate(labels)}
    instances = [
        _instance(basedir, file, label, label_map, _folds(_esc_fold(file.name), ESC_FOLDS))
        for class_dir, label in zip(class_dirs, labels) for file in _audio_files(class_dir)]
    return ParsedDataset("esc", basedir, instances, label_map, ESC_FOLDS)


# --- ESC-50 release ------------------------------------------------------------------------

def parse_esc50(basedir: Path) -> ParsedDataset:
    """The ESC-50 release: rows of ``meta/esc50.csv`` in file order, file ``audio/<filename>``,
    fold from ``fold`` (1-5); label map ``category -> target`` (ESC-50's class numbers)."""
    clips, skipped = read_esc50(basedir)
    label_map = dict(sorted({clip.category: clip.target for clip in clips}.items(),
                            key=lambda item: (item[1], item[0])))
    instances = [_instance(basedir, clip.path, clip.category, label_map,
                           _folds(clip.fold, ESC50_FOLDS)) for clip in clips]
    return ParsedDataset("esc50", basedir, instances, label_map, ESC50_FOLDS, skipped)


# --- UrbanSound8K --------------------------------------------------------------------------

def _check_urbansound8k(basedir: Path) -> Optional[str]:
    problem = urbansound8k_problem(basedir)
    if problem:
        return problem
    return None if (basedir / "audio").is_dir() else "no audio/ folder"


def parse_urbansound8k(basedir: Path) -> ParsedDataset:
    """UrbanSound8K: rows of ``metadata/UrbanSound8K.csv`` in file order; file
    ``audio/fold<fold>/<slice_file_name>``; label map ``class -> classID`` from the CSV."""
    clips, skipped = read_urbansound8k(basedir)
    label_map = dict(sorted({clip.label: clip.class_id for clip in clips}.items(),
                            key=lambda item: (item[1], item[0])))
    instances = [_instance(basedir, clip.path, clip.label, label_map,
                           _folds(clip.fold, URBANSOUND8K_FOLDS)) for clip in clips]
    return ParsedDataset("urbansound8k", basedir, instances, label_map, URBANSOUND8K_FOLDS,
                         skipped)


# --- DCASE ---------------------------------------------------------------------------------

def parse_dcase(basedir: Path) -> ParsedDataset:
    """A DCASE development set (:func:`modules.data.dcase.read_dcase_setup`: 2016-2018 ``.txt``
    lists or 2019+ ``.csv`` lists with a header, optional ``meta.txt`` / ``meta.csv``): the
    listed files in meta's order; one fold per ``evaluation_setup/fold<k>_train`` list:
    ``TRAIN`` in fold k when the file is listed there, ``VALID`` otherwise (as auDeep). Label
    map: auDeep's fixed DCASE 2017 map when every scene is one of its 15, else the scenes in
    sorted order."""
    setup = read_dcase_setup(basedir)
    labels = [setup.labels[name] for name in setup.names]
    label_map = (dict(DCASE2017_LABEL_MAP) if set(labels) <= set(DCASE2017_LABEL_MAP)
                 else _sorted_label_map(labels))
    instances = [
        _instance(basedir, basedir / name, setup.labels[name], label_map,
                  [TRAIN if name in train else VALID for train, _ in setup.folds], filename=name)
        for name in setup.names]
    return ParsedDataset("dcase", basedir, instances, label_map, len(setup.folds),
                         setup.skipped)


# --- partitioned / cross-validated ---------------------------------------------------------

def _check_class_tree(roots: list[Path]) -> Optional[str]:
    """Each root holds class folders, each with at least one audio file."""
    n_files = 0
    for root in roots:
        for class_dir in _subdirs(root):
            if not_a_class_name(class_dir.name):
                return (f"{root.name}/{class_dir.name}: {class_dir.name!r} names a part of a "
                        f"layout, not a class")
            files = _audio_files(class_dir)
            if not files:
                return f"{root.name}/{class_dir.name} holds no audio files"
            n_files += len(files)
    return None if n_files else "no audio files in any class folder"


def _partition_dirs(basedir: Path) -> list[tuple[int, Path]]:
    return [(number, basedir / name) for name, number in PARTITIONS.items()
            if (basedir / name).is_dir()]


def _check_partitioned(basedir: Path) -> Optional[str]:
    dirs = _partition_dirs(basedir)
    if not dirs:
        return "no train/, devel/ or test/ folder"
    return _check_class_tree([path for _, path in dirs])


def parse_partitioned(basedir: Path) -> ParsedDataset:
    """``train|devel|test/<label>/<files>``: partitions in that order, labels and files sorted;
    labels numbered in sorted order over all partitions; no folds."""
    dirs = _partition_dirs(basedir)
    tree = [(number, class_dir, file) for number, root in dirs
            for class_dir in _subdirs(root) for file in _audio_files(class_dir)]
    label_map = _sorted_label_map(class_dir.name for _, class_dir, _ in tree)
    instances = [_instance(basedir, file, class_dir.name, label_map, (), number)
                 for number, class_dir, file in tree]
    return ParsedDataset("partitioned", basedir, instances, label_map, 0)


def _fold_dirs(basedir: Path) -> list[Path]:
    return [child for child in _subdirs(basedir) if _FOLD_DIR.match(child.name)]


def _check_cross_validated(basedir: Path) -> Optional[str]:
    dirs = _fold_dirs(basedir)
    if len(dirs) < 2:
        return "fewer than two fold_N folders"
    suffixes = [_FOLD_DIR.match(d.name).group(1) for d in dirs]
    if not all(s.isdigit() for s in suffixes):
        return f"fold folders must be named fold_<number>, got {', '.join(d.name for d in dirs)}"
    numbers = sorted(int(s) for s in suffixes)
    if numbers != list(range(1, len(dirs) + 1)):
        return f"fold numbers must be 1-{len(dirs)}, got {numbers}"
    return _check_class_tree(dirs)


def parse_cross_validated(basedir: Path) -> ParsedDataset:
    """``fold_1 .. fold_N/<label>/<files>``: folds in number order, labels and files sorted;
    labels numbered in sorted order over all folds; ``VALID`` in the file's fold."""
    dirs = sorted(_fold_dirs(basedir), key=lambda d: int(_FOLD_DIR.match(d.name).group(1)))
    n_folds = len(dirs)
    tree = [(fold, class_dir, file) for fold, root in enumerate(dirs, start=1)
            for class_dir in _subdirs(root) for file in _audio_files(class_dir)]
    label_map = _sorted_label_map(class_dir.name for _, class_dir, _ in tree)
    instances = [_instance(basedir, file, class_dir.name, label_map, _folds(fold, n_folds))
                 for fold, class_dir, file in tree]
    return ParsedDataset("cross_validated", basedir, instances, label_map, n_folds)


# --- no metadata ---------------------------------------------------------------------------

def _all_audio(basedir: Path) -> list[Path]:
    files = []
    for folder, dirnames, filenames in os.walk(basedir):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        files.extend(Path(folder) / name for name in filenames
                     if Path(name).suffix.lower() in AUDIO_EXTENSIONS
                     and not name.startswith("."))
    return sorted(files, key=lambda file: _relative(file, basedir))


def _check_no_metadata(basedir: Path) -> Optional[str]:
    return None if _all_audio(basedir) else "no audio files anywhere below the folder"


def parse_no_metadata(basedir: Path) -> ParsedDataset:
    """Every audio file below ``basedir`` (sorted by relative path): unlabelled, no folds."""
    instances = [_instance(basedir, file, None, None) for file in _all_audio(basedir)]
    return ParsedDataset("no_metadata", basedir, instances, None, 0)


# --- registry and detection ----------------------------------------------------------------

#: The auDeep layouts, in the order detection asks them; ``no_metadata`` is the fallback.
PARSERS = LayoutRegistry()


def _register(name: str, check: Callable[[Path], Optional[str]],
              parse_layout: Callable[[Path], ParsedDataset], description: str,
              fallback: bool = False) -> None:
    PARSERS.register(name, lambda path: check(path) is None, parse_layout, description,
                     fallback=fallback, problem=check)


_register("esc", _check_esc, parse_esc, "ESC ('NNN - Class name' folders of '<fold>-...' files)")
_register("esc50", esc50_problem, parse_esc50, "ESC-50 release (meta/esc50.csv + audio/)")
_register("urbansound8k", _check_urbansound8k, parse_urbansound8k,
          "UrbanSound8K (metadata/UrbanSound8K.csv + audio/foldN/)")
_register("dcase", dcase_setup_problem, parse_dcase,
          "DCASE (evaluation_setup/foldN_train.csv or .txt, optional meta.csv / meta.txt)")
_register("partitioned", _check_partitioned, parse_partitioned,
          "partitioned (train|devel|test/<label>/files)")
_register("cross_validated", _check_cross_validated, parse_cross_validated,
          "cross-validated (fold_1..fold_N/<label>/files)")
_register("no_metadata", _check_no_metadata, parse_no_metadata,
          "no metadata (audio files anywhere below the folder)", fallback=True)

# auDeep's parser class names (also accepted as dotted paths, e.g.
# "audeep.backend.parsers.esc.ESCParser"); MetaParser means "detect".
_AUDEEP_NAMES = {
    "escparser": "esc", "urbansound8kparser": "urbansound8k", "dcaseparser": "dcase",
    "esc_50": "esc50",
    "partitionedparser": "partitioned", "crossvalidatedparser": "cross_validated",
    "nometadataparser": "no_metadata", "metaparser": None,
    "urban_sound_8k": "urbansound8k", "crossvalidated": "cross_validated",
    "nometadata": "no_metadata", "meta": None, "auto": None,
}


def layouts_looked_for() -> str:
    return "; ".join(PARSERS[name].description for name in PARSERS)


def parser_name(parser: Optional[str]) -> Optional[str]:
    """The canonical parser name for ``parser`` (None, "auto" and auDeep's MetaParser: None).

    Raises:
        ValueError: an unknown name.
    """
    if parser is None:
        return None
    key = str(parser).strip().rsplit(".", 1)[-1].lower().replace("-", "_")
    if key in PARSERS:
        return key
    if key in _AUDEEP_NAMES:
        return _AUDEEP_NAMES[key]
    raise ValueError(f"unknown parser {parser!r}; expected one of {', '.join(PARSERS)} "
                     f"(or auDeep's parser class names), or None to detect the layout")


def _basedir(basedir: PathArg) -> Path:
    path = Path(basedir).expanduser()
    if not path.is_dir():
        what = "not a folder" if path.exists() else "no such folder"
        raise LayoutError(f"{path}: {what}; expected a dataset folder in one of these layouts: "
                          f"{layouts_looked_for()}")
    return path.resolve()


def detect_parser(basedir: PathArg) -> str:
    """The name (a key of :data:`PARSERS`) of the layout of ``basedir``.

    Raises:
        LayoutError (a ValueError): no such folder, no layout fits (nor any audio file for
            ``no_metadata``), or several structured layouts fit.
    """
    path = _basedir(basedir)
    name = PARSERS.detect(path, "parser=")
    if name is not None:
        return name
    raise LayoutError(f"{path}: no known dataset layout and no audio files "
                      f"({', '.join(AUDIO_EXTENSIONS)}); looked for: {layouts_looked_for()}")


def parse(basedir: PathArg, parser: Optional[str] = None) -> ParsedDataset:
    """List the audio files of ``basedir`` with their metadata.

    Args:
        basedir: the dataset folder.
        parser: a name of :data:`PARSERS` (or an auDeep parser class name); None detects it.

    Raises:
        LayoutError (a ValueError): no such folder, an unknown layout, or a folder that does not
            fit the requested parser (the message says why); ValueError: an unknown parser name.
    """
    name = parser_name(parser)
    path = _basedir(basedir)
    if name is None:
        name = detect_parser(path)
    else:
        problem = PARSERS[name].problem(path)
        if problem:
            raise LayoutError(f"{path}: not a {PARSERS[name].description} dataset: {problem}")
    dataset = PARSERS[name].load(path)
    report_skipped(dataset.skipped, f"{path} ({dataset.parser})")
    return dataset
