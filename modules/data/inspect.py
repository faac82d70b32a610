"""Inspecting raw datasets: durations, formats, sample rates and unreadable files."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from tqdm import tqdm

from .audio import BadAudioError, audio_info, check_audio
from .layouts import DATASET_LAYOUTS, detect_layout
from .schema import PathArg

FILE_COLUMNS = ("path", "label", "duration_s", "sample_rate", "channels", "format", "subtype",
                "frames", "error")


def _inspect_one(path: str, silence_threshold_db: Optional[float]) -> dict:
    """Facts about one file; for a bad file, what its header says (if readable) and why."""
    error = ""
    try:
        info = check_audio(path, silence_threshold_db)
    except BadAudioError as bad:
        error = bad.reason
        try:
            info = audio_info(path)  # e.g. a truncated file still has a readable header
        except BadAudioError:
            info = {}
    return {
        "duration_s": info.get("duration_s", np.nan),
        "sample_rate": info.get("sample_rate", pd.NA),
        "channels": info.get("channels", pd.NA),
        "format": info.get("format", ""),
        "subtype": info.get("subtype", ""),
        "frames": info.get("frames", pd.NA),
        "error": error,
    }


def inspect_files(table: pd.DataFrame, progress: bool = True, workers: Optional[int] = None,
                  silence_threshold_db: Optional[float] = -90.0) -> pd.DataFrame:
    """Decode every file of a table and report on it.

    Each file is fully decoded (a header alone does not reveal truncation or silence).

    Args:
        table: a dataset table (at least ``path`` and ``label``).
        progress: show a tqdm progress bar.
        workers: decoding threads; None for 2-4 depending on the CPU count (libsndfile releases
            the GIL while decoding).
        silence_threshold_db: as in :func:`modules.data.audio.read_audio`.

    Returns:
        one row per file, in table order: path, label, duration_s, sample_rate, channels,
        format, subtype, frames, error ("" when fine), plus fold and group when the table has
        them. For a bad file the numbers come from its header when that is readable.
    """
    paths = [str(path) for path in table["path"]]
    if workers is None:
        workers = min(4, max(2, os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(tqdm(pool.map(lambda path: _inspect_one(path, silence_threshold_db),
                                     paths),
                            total=len(paths), desc="Inspecting", unit="file",
                            disable=not progress))
    files = pd.DataFrame(results, columns=list(FILE_COLUMNS[2:]), index=range(len(paths)))
    files.insert(0, "path", paths)
    files.insert(1, "label", table["label"].to_numpy())
    for column in ("sample_rate", "channels", "frames"):
        files[column] = files[column].astype("Int64")
    files["duration_s"] = files["duration_s"].astype(float)
    for column in ("fold", "group"):
        if column in table and table[column].notna().any():
            files[column] = table[column].to_numpy()
    return files


def _format_duration(seconds: float) -> str:
    seconds = float(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{int(hours)} h {int(minutes)} min {secs:.0f} s"
    if minutes:
        return f"{int(minutes)} min {secs:.1f} s"
    return f"{secs:.2f} s"


def _counts(series: pd.Series, suffix: str = "") -> str:
    counts = series.value_counts(sort=False).sort_index()
    return ", ".join(f"{value}{suffix}: {count}" for value, count in counts.items())


def summarise(files_df: pd.DataFrame) -> str:
    """A readable report on the output of :func:`inspect_files`."""
    total = len(files_df)
    bad = files_df[files_df["error"] != ""]
    good = files_df[files_df["error"] == ""]
    lines = [f"Files: {total} ({len(good)} readable, {len(bad)} unreadable)"]

    if len(good):
        durations = good["duration_s"].astype(float)
        lines.append(f"Total duration: {_format_duration(durations.sum())} "
                     f"({durations.sum():.1f} s, readable files)")
        # Compare at millisecond resolution: codecs add a few samples here and there.
        rounded = durations.round(3)
        common = rounded.mode().iloc[0]
        n_common = int((rounded == common).sum())
        lines.append(f"Duration (s): min {durations.min():.3f}, median {durations.median():.3f}, "
                     f"max {durations.max():.3f}; {len(good) - n_common} file(s) differ from "
                     f"the most common duration ({common:.3f} s, {n_common} files)")
        lines.append(f"Sample rates: {_counts(good['sample_rate'], ' Hz')}")
        lines.append(f"Channels: {_counts(good['channels'])}")
        formats = good["format"].astype(str) + "/" + good["subtype"].astype(str)
        lines.append(f"Formats: {_counts(formats)}")
    if "fold" in files_df:
        lines.append(f"Folds: {_counts(files_df['fold'].dropna())}")
    if "group" in files_df:
        lines.append(f"Groups: {files_df['group'].nunique()} distinct")

    per_class = files_df.groupby("label", sort=False).size()
    lines.append(f"Files per class ({len(per_class)} classes):")
    width = max(len(str(label)) for label in per_class.index) if len(per_class) else 0
    for label, count in per_class.items():
        unreadable = int((bad["label"] == label).sum())
        note = f"  ({unreadable} unreadable)" if unreadable else ""
        lines.append(f"  {str(label):<{width}}  {count}{note}")

    if len(bad):
        lines.append(f"Unreadable files ({len(bad)}):")
        lines.extend(f"  {path}: {error}" for path, error in zip(bad["path"], bad["error"]))
    else:
        lines.append("Unreadable files: none")
    return "\n".join(lines)


def inspect_raw(basedir: PathArg, progress: bool = True) -> tuple[pd.DataFrame, str]:
    """Load a dataset folder or manifest (layout detected as in ``load_auto``) and inspect it.

    Returns:
        (files_df, text): the :func:`inspect_files` table and a report that starts with the
        dataset path and its detected layout.
    """
    layout = detect_layout(basedir)
    table = DATASET_LAYOUTS[layout].load(basedir)
    files = inspect_files(table, progress=progress)
    text = f"Dataset: {Path(basedir).expanduser().resolve()}\nLayout: {layout}\n" + summarise(files)
    return files, text
