"""Inspecting raw datasets: the detected layout and how it was decided, durations, formats,
sample rates, labels, folds / splits / groups, unreadable files, and what could not be placed
(audio files no row names, metadata rows skipped)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from tqdm import tqdm

from .audio import BadAudioError, audio_info, check_audio
from .layouts import DATASET_LAYOUTS, Decision, decide_layout
from .rows import skipped_of
from .schema import AUDIO_EXTENSIONS, PathArg

_LISTED = 20  # unplaced files listed one by one; the rest are counted

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
        them, and split when it has one. For a bad file the numbers come from its header
        when that is readable.
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
    for column in ("fold", "split", "group", "labels"):
        if column in table and table[column].notna().any():
            files[column] = table[column].to_numpy()
    return files


def _multi_label_counts(files_df: pd.DataFrame, bad: pd.DataFrame) -> list[str]:
    """Files per class of a multi-label table: a file counts once for each of its classes."""
    from .schema import multi_label_classes, row_labels

    lists = row_labels(files_df)
    bad_rows = set(bad.index)
    classes = multi_label_classes(files_df)
    width = max((len(name) for name in classes), default=0)
    lines = [f"Files per class ({len(classes)} classes; multi-label: a file counts for each of "
             f"its classes; {sum(len(labels) > 1 for labels in lists)} files have several, "
             f"{sum(not labels for labels in lists)} none):"]
    for name in classes:
        rows = [i for i, labels in enumerate(lists) if name in labels]
        unreadable = sum(files_df.index[i] in bad_rows for i in rows)
        note = f"  ({unreadable} unreadable)" if unreadable else ""
        lines.append(f"  {name:<{width}}  {len(rows)}{note}")
    return lines


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
        lines.append(f"Folds: {_counts(files_df['fold'].dropna())}"
                     + _without(files_df["fold"], "fold"))
    if "split" in files_df:
        lines.append(f"Splits: {_counts(files_df['split'].dropna())}"
                     + _without(files_df["split"], "split"))
    if "group" in files_df:
        sizes = files_df["group"].dropna().value_counts()
        lines.append(f"Groups: {len(sizes)} distinct, {sizes.max() if len(sizes) else 0} files "
                     f"in the largest" + _without(files_df["group"], "group"))

    if "labels" in files_df:
        lines += _multi_label_counts(files_df, bad)
        per_class = files_df.groupby("label", sort=False).size()
        lines.append(f"Label combinations ({len(per_class)}):")
    else:
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


def _without(values: pd.Series, what: str) -> str:
    missing = int(values.isna().sum())
    return f" ({missing} file(s) without a {what})" if missing else ""


def _audio_below(root: Path) -> list[Path]:
    """Every visible audio file below ``root`` (hidden files and folders left out), sorted."""
    found = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
        found.extend(Path(folder) / name for name in filenames
                     if Path(name).suffix.lower() in AUDIO_EXTENSIONS and not name.startswith("."))
    return sorted(found)


def placement_report(root: Path, table: pd.DataFrame) -> list[str]:
    """Lines on what the loader could not place: audio files below a dataset folder that no
    row names, and the metadata rows it skipped (file, line, reason)."""
    lines = []
    if root.is_dir():
        placed = {os.path.realpath(path) for path in table["path"]}
        unplaced = [file for file in _audio_below(root)
                    if os.path.realpath(file) not in placed]
        if unplaced:
            lines.append(f"Audio files not placed ({len(unplaced)}): below the folder, named by "
                         f"no row of the dataset, left out")
            lines.extend(f"  {file.relative_to(root).as_posix()}" for file in unplaced[:_LISTED])
            if len(unplaced) > _LISTED:
                lines.append(f"  ... and {len(unplaced) - _LISTED} more")
        else:
            lines.append("Audio files not placed: none")
    skipped = skipped_of(table)
    if skipped:
        lines.append(f"Rows skipped ({len(skipped)}):")
        lines.extend(f"  {row}" for row in skipped)
    else:
        lines.append("Rows skipped: none")
    return lines


def inspect_raw(basedir: PathArg, progress: bool = True,
                layout: Optional[str] = None) -> tuple[pd.DataFrame, str]:
    """Load a dataset folder or manifest (layout detected as in ``load_auto``, or ``layout``,
    a key of :data:`modules.data.layouts.DATASET_LAYOUTS`) and inspect it.

    Returns:
        (files_df, text): the :func:`inspect_files` table and a report: the dataset path, its
        layout and how it was decided, then :func:`summarise` (files, durations, rates, folds,
        splits, groups, files per label, unreadable files), then :func:`placement_report`.

    Raises:
        ValueError: an unknown ``layout``; detection's errors (e.g. a folder whose sub-folders
            are not sure to be classes: the message names the candidate layouts).
    """
    path = Path(basedir).expanduser()
    if layout is None:
        decision = decide_layout(path)
    elif layout in DATASET_LAYOUTS:
        decision = Decision(layout, f"{DATASET_LAYOUTS[layout].description}: named, not "
                                    f"detected")
    else:
        raise ValueError(f"unknown layout {layout!r}; expected one of "
                         f"{', '.join(DATASET_LAYOUTS)}")
    table = DATASET_LAYOUTS[decision.name].load(path)
    files = inspect_files(table, progress=progress)
    lines = [f"Dataset: {path.resolve()}", f"Layout: {decision.name}",
             f"How it was decided: {decision.how}", summarise(files),
             *placement_report(path.resolve(), table)]
    return files, "\n".join(lines)
