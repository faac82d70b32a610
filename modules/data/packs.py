"""HDF5 waveform packs: a whole dataset in one file, read without decoding. spectrain writes
them; packs written by PANNs' own ``pack_waveforms_to_hdf5`` (qiuqiangkong/audioset_tagging_cnn,
``utils/dataset.py``) are read too.

A pack holds, for n clips of equal length at one sample rate:

==========  ======================  ========================================================
audio_name  (n,) bytes              file name of each clip (PANNs: fixed-width ``S20``; a row
                                    whose file was missing is left empty, b"")
waveform    (n, samples) int16      the clip, mono, zero-padded or cut to the clip length
                                    (older PANNs versions: float32)
target      (n, classes) bool       the clip's classes: one-hot (spectrain), multi-label (PANNs'
                                    AudioSet targets)
fold        (n,) int32              (spectrain) cross-validation fold, 0 when the dataset has none;
                                    absent in PANNs' packs
group       (n,) bytes              (spectrain) source recording, for leak-free splits
==========  ======================  ========================================================

and attributes ``sample_rate`` (both writers), and from spectrain ``clip_length`` (seconds),
``class_names`` (JSON list) and ``source``. A pack without ``class_names`` (PANNs') takes its class
names from PANNs' ``class_labels_indices.csv`` (columns index, mid, display_name) when one is in
the pack's folder, or in ``metadata/`` of it or of its two parent folders; otherwise classes are
named by their target column number ("0", "1", ...), and loading says so.

:func:`read_pack` reads every row with its *list* of labels (multi-label included), for
inspection (:func:`describe_pack`). The training pipeline reads a pack as a dataset
(:func:`load_pack`): each row becomes a table row whose path is ``<pack>::<row>``, which
:func:`modules.data.audio.read_audio` understands. A pack with a multi-label row gives a
multi-label table (every row's classes in the ``labels`` column) for the "multilabel" task;
rows with no file name or no class (PANNs' rows for missing files) are left out and reported.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .audio import (PACK_SEPARATOR, PACK_SUFFIXES, BadAudioError, pack_reference, read_audio,
                    read_pack_row)
from .layouts import register_layout
from .schema import CLASS_ORDER, label_combination, make_table

# pack_reference and read_pack_row live in .audio, which reads a pack row as it reads a file;
# they are named here too, where the pack format is described.
__all__ = ["PACK_SEPARATOR", "PACK_SUFFIXES", "PackContents", "describe_pack", "is_pack",
           "load_pack", "pack_reference", "read_pack", "read_pack_row", "write_pack"]


def write_pack(table: pd.DataFrame, output, sample_rate: int, clip_length: float,
               class_names=None, root=None, progress: bool = True,
               overwrite: bool = False) -> dict:
    """Decode every file of ``table`` (columns path, label, fold) into a pack at ``output``.

    Unreadable files are reported and left out. Returns {"written": n, "skipped": [(path,
    reason)]}. An existing pack is not replaced unless ``overwrite``.
    """
    import h5py
    from tqdm.auto import tqdm

    output = Path(output)
    if output.suffix.lower() not in PACK_SUFFIXES:
        raise ValueError(f"a waveform pack is an .h5 file, got {output}")
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; pass overwrite=True (--overwrite) to replace it")
    class_names = list(class_names or pd.unique(table["label"]))
    index = {name: i for i, name in enumerate(class_names)}
    samples = int(round(clip_length * sample_rate))
    folds = table["fold"] if "fold" in table else pd.Series([pd.NA] * len(table))
    groups = table["group"] if "group" in table else pd.Series([pd.NA] * len(table))
    names, waveforms, targets, fold_values, group_values, skipped = [], [], [], [], [], []
    for path, label, fold, group in tqdm(zip(table["path"], table["label"], folds, groups),
                                         total=len(table),
                                  desc=f"packing {output.name}", unit="file",
                                  disable=not progress):
        try:
            audio = read_audio(path, sample_rate)
        except BadAudioError as error:
            tqdm.write(f"skipped {path}: {error.reason}")
            skipped.append((str(path), error.reason))
            continue
        clip = np.zeros(samples, np.float32)
        clip[:min(samples, len(audio))] = audio[:samples]
        waveforms.append(np.clip(np.round(clip * 32767.0), -32768, 32767).astype(np.int16))
        target = np.zeros(len(class_names), bool)
        target[index[label]] = True
        targets.append(target)
        fold_values.append(0 if pd.isna(fold) else int(fold))
        names.append(os.path.relpath(path, root) if root else Path(path).name)
        group_values.append("" if pd.isna(group) else str(group))
    if not waveforms:
        raise ValueError(f"none of the {len(table)} files could be read; nothing packed")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with h5py.File(partial, "w") as handle:
        handle.create_dataset("audio_name", data=np.array([n.encode() for n in names], dtype="S"))
        handle.create_dataset("waveform", data=np.stack(waveforms), chunks=(1, samples))
        handle.create_dataset("target", data=np.stack(targets))
        handle.create_dataset("fold", data=np.array(fold_values, np.int32))
        # Not in PANNs' packs: which clips share a source recording, so splits stay leak-free.
        handle.create_dataset("group", data=np.array([g.encode() for g in group_values], dtype="S"))
        handle.attrs.update(sample_rate=sample_rate, clip_length=clip_length,
                            class_names=json.dumps(class_names), source=str(root or ""))
    partial.replace(output)
    return {"written": len(waveforms), "skipped": skipped}


CLASS_INDEX_FILE = "class_labels_indices.csv"  # PANNs' metadata: index, mid, display_name
REQUIRED = ("audio_name", "waveform", "target")
NUMBERED = "target column numbers"


@dataclass
class PackContents:
    """What :func:`read_pack` found: ``rows`` has one row per usable clip (columns row,
    audio_name, labels (tuple of class names), fold (Int64, NA when none), group); ``skipped``
    lists (row, reason) for the rows left out; ``class_source`` says where the class names came
    from."""

    path: Path
    rows: pd.DataFrame
    class_names: list
    class_source: str
    sample_rate: int
    clip_samples: int
    waveform_dtype: str
    skipped: list = field(default_factory=list)

    @property
    def multi_label(self) -> pd.DataFrame:
        """The rows with more than one label."""
        return self.rows[self.rows["labels"].map(len) > 1]


def _pack_arrays(handle, path: Path) -> dict:
    """The pack's datasets, checked for presence, shape and dtype (one-line ValueErrors)."""
    missing = [key for key in REQUIRED if key not in handle]
    if missing:
        raise ValueError(f"{path}: not a waveform pack: missing {', '.join(missing)} (expected "
                         f"datasets {', '.join(REQUIRED)} and attribute sample_rate)")
    if "sample_rate" not in handle.attrs:
        raise ValueError(f"{path}: not a waveform pack: missing attribute sample_rate")
    waveform, target = handle["waveform"], handle["target"]
    n = len(handle["audio_name"])
    if waveform.ndim != 2 or waveform.dtype.kind not in "if" or len(waveform) != n:
        raise ValueError(f"{path}: dataset waveform is {waveform.dtype} {waveform.shape}: expected "
                         f"(audio_name rows = {n}, samples) int16 or float32")
    if target.ndim != 2 or target.dtype.kind not in "biu" or len(target) != n:
        raise ValueError(f"{path}: dataset target is {target.dtype} {target.shape}: expected "
                         f"(audio_name rows = {n}, classes) bool")
    targets = target[:]
    if targets.dtype.kind != "b":
        if not np.isin(targets, (0, 1)).all():
            raise ValueError(f"{path}: dataset target holds values other than 0 / 1")
        targets = targets.astype(bool)
    arrays = {"audio_name": handle["audio_name"][:], "target": targets,
              "samples": int(waveform.shape[1]), "dtype": str(waveform.dtype)}
    for key in ("fold", "group"):
        if key in handle:
            if handle[key].shape != (n,):
                raise ValueError(f"{path}: dataset {key} has shape {handle[key].shape}: expected "
                                 f"({n},), one value per audio_name")
            arrays[key] = handle[key][:]
    if "fold" in arrays and (arrays["fold"].dtype.kind not in "iu" or (arrays["fold"] < 0).any()):
        raise ValueError(f"{path}: dataset fold is {arrays['fold'].dtype} {arrays['fold'].min()}.."
                         f"{arrays['fold'].max()}: expected integers >= 0 (0: no fold)")
    return arrays


def _texts(values, path: Path, key: str) -> list:
    try:
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: dataset {key}: not UTF-8 text ({error.reason})") from None


def _class_index_csv(path: Path, n_classes: int) -> Optional[tuple[list, str]]:
    """Class names from PANNs' class_labels_indices.csv near the pack, or None."""
    import csv

    folders = [path.parent, *list(path.parent.parents)[:2]]
    candidates = [folders[0] / CLASS_INDEX_FILE] + [f / "metadata" / CLASS_INDEX_FILE
                                                    for f in folders]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        return None
    with open(found, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"index", "display_name"} <= set(rows[0]):
        raise ValueError(f"{found}: expected PANNs' columns index, mid, display_name")
    try:
        by_index = {int(row["index"]): row["display_name"] for row in rows}
    except ValueError:
        raise ValueError(f"{found}: column index holds a value that is not a number") from None
    if sorted(by_index) != list(range(n_classes)):
        raise ValueError(f"{found}: {len(by_index)} classes (index {min(by_index)}.."
                         f"{max(by_index)}), but the pack's target has {n_classes} columns")
    return [by_index[i] for i in range(n_classes)], str(found)


def _class_names(handle, path: Path, n_classes: int, given) -> tuple[list, str]:
    if given is not None:
        names, source = [str(name) for name in given], "given"
    elif "class_names" in handle.attrs:
        try:
            names = json.loads(handle.attrs["class_names"])
        except (TypeError, ValueError):
            raise ValueError(f"{path}: attribute class_names is not a JSON list") from None
        source = "class_names attribute"
    else:
        found = _class_index_csv(path, n_classes)
        names, source = found if found else ([str(i) for i in range(n_classes)],
                                             f"{NUMBERED} (no class_names attribute and no "
                                             f"{CLASS_INDEX_FILE} found)")
    if not isinstance(names, list) or len(names) != n_classes:
        raise ValueError(f"{path}: {len(names) if isinstance(names, list) else 'no'} class names "
                         f"({source}) for the {n_classes} columns of dataset target")
    return names, source


def read_pack(path, class_names=None) -> PackContents:
    """Every clip of a pack with its list of labels (see the module docstring); rows with an
    empty audio_name, and in a single-label pack rows with no class, are left out and listed
    in ``skipped`` (a multi-label pack keeps a named clip with no class: a negative clip)."""
    import h5py

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: waveform pack not found")
    try:
        with h5py.File(path, "r") as handle:
            arrays = _pack_arrays(handle, path)
            names, source = _class_names(handle, path, arrays["target"].shape[1], class_names)
            sample_rate = int(np.asarray(handle.attrs["sample_rate"]).reshape(-1)[0])
    except OSError as error:
        raise ValueError(f"{path}: not an HDF5 file ({error})") from None
    if sample_rate <= 0:
        raise ValueError(f"{path}: attribute sample_rate is {sample_rate}: expected a rate in Hz")
    audio_names = _texts(arrays["audio_name"], path, "audio_name")
    groups = _texts(arrays["group"], path, "group") if "group" in arrays else audio_names
    folds = arrays.get("fold", np.zeros(len(audio_names), np.int64))
    # A clip without a class is a negative clip in a multi-label pack, but has no label in a
    # single-label one (left out there).
    multi = bool((arrays["target"].sum(axis=1) > 1).any())
    records, skipped = [], []
    for row, (name, target) in enumerate(zip(audio_names, arrays["target"])):
        labels = tuple(names[i] for i in np.flatnonzero(target))
        if not name:
            skipped.append((row, "empty audio_name (PANNs leaves the row of a missing file "
                                 "empty)"))
        elif not labels and not multi:
            skipped.append((row, f"{name}: target has no class"))
        else:
            records.append({"row": row, "audio_name": name, "labels": labels,
                            "fold": int(folds[row]) if folds[row] > 0 else pd.NA,
                            "group": groups[row] or name})
    rows = pd.DataFrame(records, columns=["row", "audio_name", "labels", "fold", "group"])
    rows["fold"] = pd.array(rows["fold"].tolist(), dtype="Int64")
    return PackContents(path, rows, names, source, sample_rate, arrays["samples"],
                        arrays["dtype"], skipped)


def load_pack(path) -> pd.DataFrame:
    """A dataset table of a pack: path ``<pack>::<row>``, label, fold (NA when 0 or absent),
    group; reports the rows left out. A pack with a multi-label row (PANNs' AudioSet targets)
    gives a multi-label table: every row's classes in ``labels`` (see :mod:`.schema`), for the
    "multilabel" task (a classification job refuses it rather than pick one of the labels)."""
    contents = read_pack(path)
    path = contents.path
    if not len(contents.rows):
        raise ValueError(f"{path}: none of the {len(contents.skipped)} rows has a file name and "
                         f"a class (first: row {contents.skipped[0][0]}: "
                         f"{contents.skipped[0][1]})" if contents.skipped else
                         f"{path}: the pack holds no clips")
    if contents.skipped:
        row, reason = contents.skipped[0]
        print(f"{path}: {len(contents.skipped)} row(s) left out, e.g. row {row}: {reason}")
    if contents.class_source.startswith(NUMBERED):
        print(f"{path}: classes named by {contents.class_source}")
    labels = contents.rows["labels"]
    multi = len(contents.multi_label) > 0
    table = make_table({
        "path": [f"{path}{PACK_SEPARATOR}{row}" for row in contents.rows["row"]],
        "label": [label_combination(clip) if multi else clip[0] for clip in labels],
        "labels": [list(clip) for clip in labels] if multi else None,
        "fold": contents.rows["fold"].tolist(),
        "group": contents.rows["group"].tolist(),
    }, dataset=path.stem)
    if multi:
        table.attrs[CLASS_ORDER] = list(contents.class_names)  # the target columns' order
    return table


def describe_pack(path, class_names=None) -> str:
    """A summary of a pack: clips, rate and length, where the class names come from, clips per
    class, multi-label rows, folds, and the rows left out with their reasons."""
    contents = read_pack(path, class_names)
    rows = contents.rows
    counts = pd.Series([label for labels in rows["labels"] for label in labels],
                       dtype=object).value_counts()
    folds = ", ".join(map(str, sorted(rows["fold"].dropna().unique())))
    lines = [f"waveform pack {contents.path}",
             f"  clips      {len(rows)} of {len(rows) + len(contents.skipped)} rows, "
             f"{contents.clip_samples} samples ({contents.waveform_dtype}) at "
             f"{contents.sample_rate} Hz",
             f"  classes    {len(contents.class_names)} ({contents.class_source})",
             f"  labels     {len(contents.multi_label)} multi-label row(s), "
             f"{rows['labels'].map(len).sum()} labels in all",
             f"  folds      {folds or 'none'}"]
    width = max((len(str(name)) for name in counts.index), default=0)
    lines += [f"    {str(name).ljust(width)}  {count}" for name, count in counts.items()]
    lines += [f"  left out row {row}: {reason}" for row, reason in contents.skipped]
    return "\n".join(lines)


def is_pack(path: Path) -> bool:
    """Whether ``path`` is an .h5 / .hdf5 file."""
    return path.is_file() and path.suffix.lower() in PACK_SUFFIXES


register_layout("waveform_pack", is_pack, load_pack, "an .h5 waveform pack")
