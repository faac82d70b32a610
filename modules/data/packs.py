"""PANNs-style HDF5 waveform packs: a whole dataset in one file, read without decoding.

A pack holds, for n clips of equal length at one sample rate:

==========  ======================  ========================================================
audio_name  (n,) bytes              file name of each clip (relative to the dataset folder)
waveform    (n, samples) int16      the clip, mono, zero-padded or cut to the clip length
target      (n, classes) bool       one-hot class
fold        (n,) int32              cross-validation fold, 0 when the dataset has none
group       (n,) bytes              (spectrain's addition) source recording, for leak-free splits
==========  ======================  ========================================================

and attributes ``sample_rate``, ``clip_length`` (seconds), ``class_names`` (JSON list) and
``source``. The training pipeline reads a pack as a dataset: each row becomes a table row whose
path is ``<pack>::<row>``, which :func:`modules.data.audio.read_audio` understands.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .audio import (PACK_SEPARATOR, PACK_SUFFIXES, BadAudioError, pack_reference, read_audio,
                    read_pack_row)
from .layouts import register_layout
from .schema import make_table

# pack_reference and read_pack_row live in .audio, which reads a pack row as it reads a file;
# they are named here too, where the pack format is described.
__all__ = ["PACK_SEPARATOR", "PACK_SUFFIXES", "is_pack", "load_pack", "pack_reference",
           "read_pack_row", "write_pack"]


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


def load_pack(path) -> pd.DataFrame:
    """A dataset table of a pack: path ``<pack>::<row>``, label, fold (NA when 0), group."""
    import h5py

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: waveform pack not found")
    try:
        with h5py.File(path, "r") as handle:
            missing = [key for key in ("audio_name", "waveform", "target", "fold")
                       if key not in handle]
            if missing or "class_names" not in handle.attrs:
                raise ValueError(f"{path}: not a waveform pack: missing "
                                 f"{', '.join(missing or ['class_names attribute'])}")
            class_names = json.loads(handle.attrs["class_names"])
            names = [n.decode() for n in handle["audio_name"][:]]
            labels = [class_names[i] for i in handle["target"][:].argmax(axis=1)]
            folds = handle["fold"][:]
            groups = ([g.decode() or n for g, n in zip(handle["group"][:], names)]
                      if "group" in handle else names)
    except OSError as error:
        raise ValueError(f"{path}: not an HDF5 file ({error})") from None
    return make_table({
        "path": [f"{path}{PACK_SEPARATOR}{row}" for row in range(len(names))],
        "label": labels,
        "fold": [int(f) if f > 0 else pd.NA for f in folds],
        "group": groups,
    }, dataset=path.stem)


def is_pack(path: Path) -> bool:
    """Whether ``path`` is an .h5 / .hdf5 file."""
    return path.is_file() and path.suffix.lower() in PACK_SUFFIXES


register_layout("waveform_pack", is_pack, load_pack, "an .h5 waveform pack")
