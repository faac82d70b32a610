"""Training clips cut from long annotated recordings, with a metadata table.

:func:`make_clips` turns an events table (see :mod:`modules.sed.annotations`) into

    OUTPUT/0000/000000_dog_bark.wav     one clip per event, named by that event's label
    OUTPUT/0000/000001_background.wav   background clips: no annotated event inside
    ...                                 at most ``max_files_per_folder`` files per sub-folder
    OUTPUT/metadata.tsv                 one row per (clip, event inside it)
    OUTPUT/skipped.tsv                  recordings (or events) that could not be used, and why

``metadata.tsv`` (tab-separated) has the columns

==============  =================================================================================
clip            the WAV, relative to the output folder (``0000/000000_dog_bark.wav``)
source          the recording it was cut from (absolute path)
clip_start      where the clip starts in the recording (s)
clip_length     the clip's length (s)
onset, offset   an event inside the clip, relative to the clip start and clipped to
                [0, clip_length] (s); empty for a background clip
label           that event's label; empty for a background clip
truncated       True when the event extends beyond the clip (so onset/offset were clipped)
group           the source recording: keep clips of one recording on one side of a split
==============  =================================================================================

Every annotated event overlapping a clip gets a row (of any label, including events left out by
``dev``), sorted by onset, so that overlapping events are not lost. A background clip has one
row with an empty label. The event a clip was cut for is the one named in its file name.

Clips are mono, 16-bit PCM, at ``target_sr`` (resampled with soxr, as
:func:`modules.data.audio.read_audio` does) or at the recording's own rate. Seekable files
(WAV, FLAC, AIFF, ...) are read segment by segment, never whole; other formats (Ogg, MP3) are
decoded once per recording with :func:`modules.data.audio.read_audio`, and all their clips are
cut from that one decode.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np
import pandas as pd
import soundfile
import soxr

from modules.data.audio import (BadAudioError, audio_info, check_peak, check_without_decoding,
                                read_audio)
# The folder's format is read by the data layer (a dataset layout) and written here;
# read_metadata is named here too for the importers of this module.
from modules.data.clip_folders import METADATA_COLUMNS, METADATA_FILE, read_metadata  # noqa: F401
from modules.data.splits import testing_subset

from .annotations import check_events, sort_events

PathArg = Union[str, os.PathLike]

SKIPPED_COLUMNS = ("source", "events", "reason")
SKIPPED_FILE = "skipped.tsv"
BACKGROUND = "background"  # the file-name tag of background clips (their label is empty)
DEV_EVENTS_PER_LABEL = 20

# libsndfile formats read segment by segment (sample-accurate seeking); others are decoded whole.
SEEKABLE_FORMATS = ("WAV", "WAVEX", "RF64", "W64", "AIFF", "CAF", "AU", "FLAC")
# Extra input read on each side of a segment before resampling it, so that the resampling
# filter sees the same neighbourhood as when the whole file is resampled.
_RESAMPLE_MARGIN_S = 0.1
_READ_ERRORS = (soundfile.LibsndfileError, RuntimeError, OSError, ValueError, MemoryError)


# --------------------------------------------------------------------------------------------
# Reading recordings


@dataclass
class _Recording:
    path: str
    sr_in: int
    sr_out: int
    frames_in: int
    frames_out: int
    seekable: bool
    events: pd.DataFrame  # all of its annotated events
    _arrays: Optional[tuple] = field(default=None, repr=False)

    @property
    def duration(self) -> float:
        return self.frames_in / self.sr_in

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(onsets, offsets, labels) of its events as numpy arrays (cached)."""
        if self._arrays is None:
            self._arrays = (self.events["onset"].to_numpy(float),
                            self.events["offset"].to_numpy(float),
                            self.events["label"].to_numpy(object))
        return self._arrays


def _probe(path: str, clip_length: float, target_sr: Optional[int]) -> _Recording:
    """Header checks of one recording; BadAudioError when it cannot give a clip."""
    info = audio_info(path)  # missing, empty, not audio
    if info["frames"] <= 0:
        raise BadAudioError(path, "no audio frames")
    seekable = info["format"] in SEEKABLE_FORMATS
    if seekable:  # read in pieces: refuse a WAV/AIFF cut short now (others decode whole)
        check_without_decoding(path, info["format"], info["subtype"], info["frames"])
    sr_in = int(info["sample_rate"])
    sr_out = int(target_sr) if target_sr else sr_in
    recording = _Recording(path, sr_in, sr_out, int(info["frames"]),
                           int(info["frames"]) * sr_out // sr_in, seekable, pd.DataFrame())
    if recording.duration < clip_length or recording.frames_out < round(clip_length * sr_out):
        raise BadAudioError(path, f"shorter than the clip ({recording.duration:.3f} s < "
                                  f"{clip_length:g} s)")
    return recording


def _mono(block: np.ndarray) -> np.ndarray:
    return block[:, 0] if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)


class _SegmentReader:
    """Cuts clips (in output samples) from one recording: by seeking, or from one decode."""

    def __init__(self, recording: _Recording, length: int):
        self.recording = recording
        self.length = length
        self.handle = None
        self.whole = None

    def __enter__(self):
        rec = self.recording
        if rec.seekable:
            try:
                self.handle = soundfile.SoundFile(rec.path)
            except _READ_ERRORS as error:
                raise BadAudioError(rec.path, f"cannot open: {error}") from None
        else:
            self.whole = read_audio(rec.path, rec.sr_out, mono=True, silence_threshold_db=None)
            rec.frames_out = min(rec.frames_out, len(self.whole))  # headers may overestimate
            if rec.frames_out < self.length:
                raise BadAudioError(rec.path, f"shorter than the clip ({len(self.whole)} samples "
                                              f"< {self.length})")
        return self

    def __exit__(self, *exc):
        if self.handle is not None:
            self.handle.close()
        self.whole = None

    def _read_in(self, start: int, stop: int) -> np.ndarray:
        """Input frames [start, stop) as float32 mono."""
        rec = self.recording
        try:
            self.handle.seek(start)
            block = self.handle.read(stop - start, dtype="float32", always_2d=True)
        except _READ_ERRORS as error:
            raise BadAudioError(rec.path, f"truncated or corrupt: {error}") from None
        if len(block) < stop - start:
            raise BadAudioError(rec.path, f"truncated: could read only {start + len(block)} of "
                                          f"{rec.frames_in} frames")
        return _mono(block)

    def cut(self, start: int, length: int) -> np.ndarray:
        """Output samples [start, start + length), zero-padded past the end of the recording."""
        rec = self.recording
        if self.whole is not None:
            clip = self.whole[start:start + length]
        elif rec.sr_out == rec.sr_in:
            clip = self._read_in(start, min(start + length, rec.frames_in))
        else:
            # Read whole blocks of the rates' common period, so that the resampled block starts
            # exactly on an output sample; with a margin for the filter on both sides.
            period = math.gcd(rec.sr_in, rec.sr_out)
            step_in, step_out = rec.sr_in // period, rec.sr_out // period
            margin = int(math.ceil(_RESAMPLE_MARGIN_S * rec.sr_out))
            first = max(0, start - margin) // step_out
            last = -(-(start + length + margin) // step_out)
            stop_in = min(last * step_in, rec.frames_in)
            block = self._read_in(first * step_in, stop_in)
            resampled = soxr.resample(block, rec.sr_in, rec.sr_out, quality="HQ")
            offset = start - first * step_out
            clip = resampled[offset:offset + length]
        clip = np.asarray(clip, dtype=np.float32)
        check_peak(rec.path, clip, None)  # NaN or infinite samples
        if len(clip) < length:
            clip = np.concatenate([clip, np.zeros(length - len(clip), np.float32)])
        return clip


def _write_wav(path: Path, clip: np.ndarray, sr: int) -> None:
    pcm = np.clip(np.round(clip.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    with open(path, "xb") as fh:  # never overwrite
        soundfile.write(fh, pcm, sr, subtype="PCM_16", format="WAV")


# --------------------------------------------------------------------------------------------
# Planning


@dataclass
class _Clip:
    start: int  # output samples
    label: Optional[str]  # the event's label, None for a background clip


@dataclass
class _Plan:
    recording: _Recording
    clips: list = field(default_factory=list)


def _parse_event_offset(event_offset, clip_length: float):
    if event_offset is None:
        return None
    if isinstance(event_offset, str):
        if event_offset.strip().lower() == "random":
            return "random"
        try:
            event_offset = float(event_offset)
        except ValueError:
            raise ValueError(f"event_offset must be a number of seconds, 'random' or None, got "
                             f"{event_offset!r}") from None
    value = float(event_offset)
    if not (math.isfinite(value) and 0.0 <= value < clip_length):
        raise ValueError(f"event_offset must be in [0, clip_length={clip_length:g}) s, got "
                         f"{event_offset!r}")
    return value


def _event_start(onset: float, offset: float, clip_length: float, event_offset,
                 rng: np.random.Generator) -> float:
    """Where (s) the clip for one event starts, before keeping it inside the recording."""
    duration = offset - onset
    if event_offset is None:  # centred when it fits, else starting at the event's onset
        return onset - (clip_length - duration) / 2.0 if duration <= clip_length else onset
    if event_offset == "random":
        room = clip_length - duration
        return onset - rng.uniform(0.0, room) if room > 0 else onset
    return onset - event_offset


def _gaps(recording: _Recording) -> list[tuple[int, int]]:
    """Stretches [start, stop) of output samples with no annotated event."""
    sr = recording.sr_out
    gaps, cursor = [], 0
    intervals = sorted(zip(recording.events["onset"], recording.events["offset"]))
    for onset, offset in intervals:
        stop = min(int(math.floor(onset * sr)), recording.frames_out)
        if stop > cursor:
            gaps.append((cursor, stop))
        cursor = max(cursor, int(math.ceil(offset * sr)))
    if recording.frames_out > cursor:
        gaps.append((cursor, recording.frames_out))
    return gaps


def _plan_backgrounds(recordings: list[_Recording], n_background: int, clip_length: float,
                      rng: np.random.Generator) -> tuple[dict, int]:
    """{recording path: [start sample, ...]} of non-overlapping background clips; and how many
    could fit in all."""
    slots = []  # one entry per clip that fits: (recording index, gap start, gap stop, length)
    for index, recording in enumerate(recordings):
        length = int(round(clip_length * recording.sr_out))
        for start, stop in _gaps(recording):
            slots.extend([(index, start, stop, length)] * ((stop - start) // length))
    n = min(n_background, len(slots))
    chosen = np.sort(rng.choice(len(slots), size=n, replace=False)) if n else []
    per_gap: dict = {}
    for slot in chosen:
        index, start, stop, length = slots[slot]
        per_gap[(index, start, stop, length)] = per_gap.get((index, start, stop, length), 0) + 1
    starts: dict = {}
    for (index, start, stop, length), count in sorted(per_gap.items()):
        slack = (stop - start) - count * length  # spread the clips at random in the gap
        offsets = np.sort(rng.integers(0, slack + 1, size=count))
        positions = start + offsets + np.arange(count) * length
        starts.setdefault(recordings[index].path, []).extend(int(p) for p in positions)
    return starts, len(slots)


# --------------------------------------------------------------------------------------------
# Writing


def _slug(label: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_").lower()
    return slug[:40] or "event"


def _clip_rows(relative: str, recording: _Recording, start: int, length: int) -> list[dict]:
    sr = recording.sr_out
    clip_start, clip_length = start / sr, length / sr
    clip_end = clip_start + clip_length
    tolerance = 0.5 / sr + 1e-9
    onsets, offsets, labels = recording.arrays
    inside = np.flatnonzero((onsets < clip_end) & (offsets > clip_start))
    base = {"clip": relative, "source": recording.path, "clip_start": round(clip_start, 6),
            "clip_length": round(clip_length, 6)}
    rows = []
    for onset, offset, label in zip(onsets[inside], offsets[inside], labels[inside]):
        rows.append({**base,
                     "onset": round(max(onset - clip_start, 0.0), 6),
                     "offset": round(min(offset - clip_start, clip_length), 6),
                     "label": label,
                     "truncated": bool(onset < clip_start - tolerance
                                       or offset > clip_end + tolerance)})
    if not rows:
        rows.append({**base, "onset": np.nan, "offset": np.nan, "label": "", "truncated": False})
    rows.sort(key=lambda row: (row["onset"], row["offset"], row["label"]))
    for row in rows:
        row["group"] = recording.path
    return rows


def _check_output(output_dir: Path) -> None:
    if (output_dir / METADATA_FILE).exists():
        raise FileExistsError(f"{output_dir} already has a {METADATA_FILE} (clips from an earlier "
                              "run); choose a new output folder, or remove it")
    if output_dir.is_dir():
        leftovers = sorted(p.name for p in output_dir.iterdir()
                           if p.is_dir() and re.fullmatch(r"\d{4,}", p.name) and any(p.iterdir()))
        if leftovers:
            raise FileExistsError(f"{output_dir} holds clip folders ({', '.join(leftovers[:3])}"
                                  f"{' ...' if len(leftovers) > 3 else ''}) but no "
                                  f"{METADATA_FILE}, probably from an interrupted run; choose a "
                                  "new output folder, or remove them")
    elif output_dir.exists():
        raise FileExistsError(f"{output_dir} exists and is not a folder")


def _report(message: str, progress_bar) -> None:
    if progress_bar is not None and not progress_bar.disable:
        progress_bar.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr)


def make_clips(events: pd.DataFrame, output_dir: PathArg, clip_length: float = 20.0,
               event_offset: Union[None, float, str] = None, target_sr: Optional[int] = None,
               n_background: Optional[int] = None, seed: int = 0, dev: bool = False,
               max_files_per_folder: int = 1000, progress: bool = True) -> pd.DataFrame:
    """Cut one clip per event, and background clips, from long recordings (module docstring).

    Args:
        events: columns file, onset, offset, label (:func:`~modules.sed.annotations.
            read_annotations`).
        output_dir: where the clips, metadata.tsv and skipped.tsv go; refused when it already
            holds a metadata.tsv (or clip folders of an interrupted run).
        clip_length: seconds.
        event_offset: where the event starts in its clip: seconds into the clip; ``"random"``
            (uniformly, so that the event fits in the clip); or None (default): centred. An
            event longer than the clip (or than what is left after ``event_offset``) is cut at
            the clip's end (``truncated``). A clip is shifted to stay inside its recording, which
            moves the event within it.
        target_sr: resample to this rate (Hz); None keeps each recording's rate.
        n_background: how many background clips (default: as many as event clips), drawn at
            random, without overlapping each other, from stretches of at least ``clip_length``
            with no annotated event. When fewer fit, as many as fit are made, with a warning.
        seed: seeds every random choice (dev subset, random offsets, backgrounds).
        dev: a small development subset: at most 20 events of each label (random) and at most
            as many background clips as events.
        max_files_per_folder: clips per sub-folder (0000/, 0001/, ...).
        progress: show a progress bar.

    Returns:
        The metadata (as written to metadata.tsv; background rows have NaN onset/offset and an
        empty label). ``attrs`` holds ``skipped`` (list of {source, events, reason}),
        ``clips_per_label`` ({label: event clips}), ``backgrounds`` and ``output_dir``.

    Raises:
        ValueError: bad arguments or a bad events table.
        FileExistsError: the output folder holds an earlier run.
    """
    clip_length, event_offset = _check_arguments(clip_length, event_offset, target_sr,
                                                 n_background, max_files_per_folder)
    events = sort_events(check_events(events).assign(
        file=lambda t: [os.path.abspath(f) for f in t["file"]]))
    if events.empty:
        raise ValueError("no events to cut clips from")
    output_dir = Path(output_dir)
    _check_output(output_dir)

    recordings, skipped = _probe_recordings(events, clip_length, target_sr)
    targets = _event_targets(recordings, events, skipped, dev, seed)
    n_wanted = len(targets) if n_background is None else int(n_background)
    if dev:
        n_wanted = min(n_wanted, len(targets))
    plans = _plan_clips(recordings, targets, n_wanted, clip_length, event_offset, seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows, clips_per_label, n_backgrounds = _cut_and_write(
        plans, output_dir, clip_length, max_files_per_folder, skipped, progress)
    metadata = _write_tables(rows, skipped, output_dir)
    metadata.attrs.update({"skipped": skipped, "clips_per_label": dict(sorted(
        clips_per_label.items())), "backgrounds": n_backgrounds, "output_dir": str(output_dir)})
    return metadata


def _check_arguments(clip_length, event_offset, target_sr, n_background,
                     max_files_per_folder) -> tuple[float, Union[None, float, str]]:
    """ValueError for a bad argument of :func:`make_clips`; the clip length and event offset
    as numbers (or "random"/None)."""
    if not (isinstance(clip_length, numbers.Real) and not isinstance(clip_length, bool)
            and math.isfinite(clip_length) and clip_length > 0):
        raise ValueError(f"clip_length must be a positive number of seconds, got {clip_length!r}")
    clip_length = float(clip_length)
    event_offset = _parse_event_offset(event_offset, clip_length)
    if target_sr is not None and (int(target_sr) != target_sr or target_sr <= 0):
        raise ValueError(f"target_sr must be a positive whole number of Hz, got {target_sr!r}")
    if n_background is not None and (int(n_background) != n_background or n_background < 0):
        raise ValueError(f"n_background must be a whole number >= 0, got {n_background!r}")
    if int(max_files_per_folder) != max_files_per_folder or max_files_per_folder < 1:
        raise ValueError(f"max_files_per_folder must be at least 1, got {max_files_per_folder!r}")
    return clip_length, event_offset


def _probe_recordings(events: pd.DataFrame, clip_length: float, target_sr: Optional[int]
                      ) -> tuple[list[_Recording], list[dict]]:
    """Step 1: check every recording's header (cheap); those that cannot give a clip go to the
    skipped list (reported now)."""
    skipped: list[dict] = []
    recordings: list[_Recording] = []
    for path, its_events in events.groupby("file", sort=True):
        try:
            recording = _probe(path, clip_length, target_sr)
        except BadAudioError as error:
            skipped.append({"source": path, "events": len(its_events), "reason": error.reason})
            continue
        recording.events = its_events.reset_index(drop=True)
        recordings.append(recording)
    for entry in skipped:
        _report(f"skipped {entry['source']}: {entry['reason']} ({entry['events']} events)", None)
    return recordings, skipped


def _event_targets(recordings: list[_Recording], events: pd.DataFrame, skipped: list[dict],
                   dev: bool, seed: int) -> pd.DataFrame:
    """Step 2: the events to cut clips for, those starting inside their recording (dev: a
    subset), with the index of their recording in ``_recording``; events starting after the
    end are added to ``skipped``."""
    targets = []
    for recording in recordings:
        late = recording.events["onset"] >= recording.duration
        if late.any():
            entry = {"source": recording.path, "events": int(late.sum()),
                     "reason": f"event(s) start after the end of the recording "
                               f"({recording.duration:.3f} s)"}
            skipped.append(entry)
            _report(f"skipped {int(late.sum())} events of {recording.path}: {entry['reason']}",
                    None)
        targets.append(recording.events[~late].assign(_recording=len(targets)))
    targets = (pd.concat(targets, ignore_index=True) if targets
               else events.iloc[:0].assign(_recording=0))
    if dev:
        targets = testing_subset(targets, DEV_EVENTS_PER_LABEL, seed=seed)
    return targets


def _plan_clips(recordings: list[_Recording], targets: pd.DataFrame, n_wanted: int,
                clip_length: float, event_offset, seed: int) -> list[_Plan]:
    """Step 3: every recording's clips, event clips then backgrounds (all seeded)."""
    plans = [_Plan(recording) for recording in recordings]
    offset_rng = np.random.default_rng([seed, 1])
    for onset, offset, label, index in zip(targets["onset"], targets["offset"],
                                           targets["label"], targets["_recording"]):
        recording = recordings[index]
        length = int(round(clip_length * recording.sr_out))
        start = _event_start(onset, offset, clip_length, event_offset, offset_rng)
        start = int(round(start * recording.sr_out))
        start = max(min(start, recording.frames_out - length), 0)
        plans[index].clips.append(_Clip(start, label))
    background_starts, capacity = _plan_backgrounds(recordings, n_wanted, clip_length,
                                                    np.random.default_rng([seed, 2]))
    if n_wanted > capacity:
        warnings.warn(f"only {capacity} background clip(s) of {clip_length:g} s fit in the "
                      f"stretches without events ({n_wanted} wanted); making {capacity}",
                      stacklevel=3)  # the caller of make_clips
    for plan in plans:
        for start in background_starts.get(plan.recording.path, []):
            plan.clips.append(_Clip(start, None))
        plan.clips.sort(key=lambda clip: (clip.start, clip.label is None, clip.label or ""))
    return plans


def _cut_and_write(plans: list[_Plan], output_dir: Path, clip_length: float,
                   max_files_per_folder: int, skipped: list[dict], progress: bool
                   ) -> tuple[list[dict], dict, int]:
    """Step 4: cut and write the clips, one recording at a time. A recording that fails while
    being read is undone (its clips removed) and added to ``skipped``. Returns the metadata
    rows, the event clips per label and the number of background clips."""
    from tqdm import tqdm

    rows: list[dict] = []
    clips_per_label: dict = {}
    n_backgrounds = 0
    index = 0  # of the next clip, over all recordings: names the file and its folder
    total = sum(len(plan.clips) for plan in plans)
    with tqdm(total=total, desc="clips", unit="clip", disable=not progress,
              file=sys.stderr) as bar:
        for plan in plans:
            if not plan.clips:
                continue
            recording = plan.recording
            written: list[Path] = []
            try:
                plan_rows = _write_recording_clips(plan, output_dir, clip_length,
                                                   max_files_per_folder, index, written, bar)
            except BadAudioError as error:  # found while reading: undo this recording's clips
                for path in written:
                    path.unlink()
                n_events = sum(clip.label is not None for clip in plan.clips)
                skipped.append({"source": recording.path, "events": n_events,
                                "reason": error.reason})
                _report(f"skipped {recording.path}: {error.reason} ({n_events} events)", bar)
                bar.update(len(plan.clips) - len(written))
                continue
            rows.extend(plan_rows)
            index += len(plan.clips)
            for clip in plan.clips:
                if clip.label is None:
                    n_backgrounds += 1
                else:
                    clips_per_label[clip.label] = clips_per_label.get(clip.label, 0) + 1
    return rows, clips_per_label, n_backgrounds


def _write_recording_clips(plan: _Plan, output_dir: Path, clip_length: float,
                           max_files_per_folder: int, first_index: int, written: list[Path],
                           bar) -> list[dict]:
    """The clips of one recording, written as WAVs numbered from ``first_index`` (each path is
    appended to ``written`` as soon as it exists); returns their metadata rows."""
    recording = plan.recording
    rows: list[dict] = []
    length = int(round(clip_length * recording.sr_out))
    with _SegmentReader(recording, length) as reader:
        for index, clip in enumerate(plan.clips, start=first_index):
            start = min(clip.start, recording.frames_out - length)
            audio = reader.cut(start, length)
            folder = output_dir / f"{index // max_files_per_folder:04d}"
            folder.mkdir(exist_ok=True)
            name = f"{index:06d}_{_slug(clip.label) if clip.label else BACKGROUND}.wav"
            _write_wav(folder / name, audio, recording.sr_out)
            written.append(folder / name)
            rows.extend(_clip_rows(f"{folder.name}/{name}", recording, start, length))
            bar.update(1)
    return rows


def _write_tables(rows: list[dict], skipped: list[dict], output_dir: Path) -> pd.DataFrame:
    """skipped.tsv, then metadata.tsv (last: it marks a finished run); warns about what was
    skipped. Returns the metadata."""
    metadata = pd.DataFrame(rows, columns=list(METADATA_COLUMNS))
    metadata["truncated"] = metadata["truncated"].astype(bool)
    skipped_table = pd.DataFrame(skipped, columns=list(SKIPPED_COLUMNS))
    skipped_table.to_csv(output_dir / SKIPPED_FILE, sep="\t", index=False, lineterminator="\n")
    temporary = output_dir / (METADATA_FILE + ".partial")
    metadata.to_csv(temporary, sep="\t", index=False, lineterminator="\n")
    os.replace(temporary, output_dir / METADATA_FILE)
    if skipped:
        listed = "; ".join(f"{e['source']}: {e['reason']}" for e in skipped[:10])
        more = f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        warnings.warn(f"skipped {sum(e['events'] for e in skipped)} event(s) of "
                      f"{len({e['source'] for e in skipped})} recording(s) (see "
                      f"{output_dir / SKIPPED_FILE}): {listed}{more}",
                      stacklevel=3)  # the caller of make_clips
    return metadata
