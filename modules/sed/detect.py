"""Sound event detection over whole recordings, in bounded memory.

A trained framewise detector sees fixed-length windows; recordings are hours long. This module
slides overlapping windows over a file while it is being decoded, combines the detector's
framewise probabilities into one activity track per class, and turns that track into events
(file, onset, offset, label, score) as it goes, so memory depends on the window, block and batch
sizes, never on the length of the file.

* :func:`stream_windows`: mono windows of a file, resampled on the fly (soxr streaming).
* :func:`detect_file`: the events of one file, as a DataFrame.
* :func:`detect`: many files (or folders of them) into ``events.csv`` and a Raven selection
  table ``events.selections.txt``; unreadable files are reported and skipped.

Conventions, shared by every function here:

* Window ``k`` starts at sample ``k * hop`` (at ``sr``); windows are emitted until one reaches
  the end of the file, and the last one is zero padded. ``hop_seconds`` must be a whole number
  of samples, and of detector frames.
* Detector frame ``j`` of window ``k`` is global frame ``k * hop_frames + j`` and starts at
  ``(k * hop_frames + j) * frame_hop_seconds``. Where windows overlap, a frame's activity is the
  mean of every window's output for it (overlap-add with counts). Frames starting at or after
  the end of the audio (the padding) are dropped.
* A frame is active for a class when its activity is *strictly above* the class threshold. The
  optional median filter smooths these binary decisions (a majority vote over ``2h+1`` frames,
  the edges extended with the first/last decision, like ``scipy.ndimage.median_filter`` with
  ``mode="nearest"``). Events closer than ``min_gap`` seconds are merged, then events shorter
  than ``min_duration`` seconds are dropped.
* ``onset`` is the start of the first active frame, ``offset`` the end of the last one (at most
  the end of the file); ``score`` is the *maximum* activity over the event's frames (gaps merged
  into the event included).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Optional, Union

import numpy as np
import pandas as pd
import soundfile
import soxr
from tqdm import tqdm

# The checks read_audio runs, without decoding the whole file up front: the skip reasons stay
# the same as everywhere else in the suite.
from modules.data.audio import (
    BadAudioError,
    audio_info,
    check_frames_decoded,
    check_without_decoding,
    open_sound_file,
    sound_file_message,
)
from modules.data.schema import AUDIO_EXTENSIONS
from modules.jobs import publish_new_file
from modules.sed.annotations import write_raven_table

PathLike = Union[str, os.PathLike]
PredictFn = Callable[[np.ndarray], np.ndarray]

EVENT_COLUMNS = ("file", "onset", "offset", "label", "score")
EVENTS_CSV = "events.csv"
RAVEN_TABLE = "events.selections.txt"

# Tolerance for "is this a whole number" and for comparing seconds computed from frame counts
# (3 * 0.1 is 0.30000000000000004).
_EPS = 1e-9
_READ_ERRORS = (soundfile.LibsndfileError, RuntimeError, OSError, ValueError, MemoryError)


class Window(NamedTuple):
    """One analysis window: ``for start, audio, valid in stream_windows(...)``."""

    start: float  # seconds from the start of the file
    audio: np.ndarray  # float32 (window_samples,), mono at the requested rate
    valid: int  # samples of ``audio`` that are real; the rest is zero padding (last window)


# ---------------------------------------------------------------------------------------------
# Windows


def _whole(value: float, what: str) -> int:
    rounded = int(round(value))
    if abs(value - rounded) > 1e-6 * max(1.0, abs(value)):
        raise ValueError(f"{what} must be a whole number, got {value:.6g}")
    return rounded


def _window_samples(sr: int, window_seconds: float, hop_seconds: float) -> tuple[int, int]:
    if not (isinstance(sr, (int, np.integer)) and sr > 0):
        raise ValueError(f"sr must be a positive integer (Hz), got {sr!r}")
    if not window_seconds > 0:
        raise ValueError(f"window_seconds must be positive, got {window_seconds}")
    if not 0 < hop_seconds <= window_seconds:
        raise ValueError(f"hop_seconds must be in (0, window_seconds={window_seconds}], got "
                         f"{hop_seconds}: a hop longer than the window would leave audio unseen")
    window = int(round(window_seconds * sr))
    # The hop must be exact so that window k starts at exactly k * hop_seconds.
    hop = _whole(hop_seconds * sr, f"hop_seconds * sr ({hop_seconds} s at {sr} Hz)")
    if window < 1 or hop < 1:
        raise ValueError(f"window {window_seconds} s / hop {hop_seconds} s at {sr} Hz is less "
                         "than one sample")
    return window, hop


def stream_windows(path: PathLike, sr: int, window_seconds: float, hop_seconds: float,
                   block_seconds: float = 60.0) -> Iterator[Window]:
    """Overlapping mono windows of an audio file of any length, decoded as they are needed.

    The file is read ``block_seconds`` at a time (at its own rate), mixed down to mono (mean of
    the channels) and resampled to ``sr`` with a streaming soxr resampler (quality "HQ"; the
    result equals ``soxr.resample`` of the whole file), so memory is bounded by the block and
    window sizes whatever the file's length.

    Window ``k`` holds samples ``[k*hop, k*hop + window)``. Windows are produced until one
    reaches the end of the audio; that last one (or the only one, for a file shorter than a
    window) is zero padded, and its ``valid`` field says how many samples are real.

    Args:
        path: an audio file libsndfile reads (WAV, FLAC, OGG, MP3, AIFF...).
        sr: the rate of the windows, Hz.
        window_seconds: window length; rounded to whole samples.
        hop_seconds: seconds between window starts, ``0 < hop <= window``; must be a whole
            number of samples at ``sr``.
        block_seconds: how much of the file to decode at a time.

    Yields:
        :class:`Window` ``(start seconds, float32 (window_samples,), valid samples)``; each
        window's array is its own (not a view of a shared buffer).

    Raises:
        ValueError: bad arguments (at the call, before anything is read).
        BadAudioError: (while iterating) the file is missing, empty, not audio, truncated or
            corrupt, or holds no frames; ``.path`` and ``.reason`` say which file and why.
    """
    window, hop = _window_samples(sr, window_seconds, hop_seconds)
    if not block_seconds > 0:
        raise ValueError(f"block_seconds must be positive, got {block_seconds}")
    # A separate generator so that argument errors raise here, not at the first next().
    return _stream_windows(os.fsdecode(os.fspath(path)), int(sr), window, hop, block_seconds)


def _stream_windows(path: str, sr: int, window: int, hop: int,
                    block_seconds: float) -> Iterator[Window]:
    handle = open_sound_file(path)
    with handle:
        file_sr, channels = handle.samplerate, handle.channels
        # libsndfile quietly shrinks the frame count of a WAV/AIFF cut short, and an Ogg file
        # cut short may decode to fewer frames: checking the header before decoding saves an
        # hour of detection on a file that will be refused anyway.
        expected = check_without_decoding(path, handle.format, handle.subtype, handle.frames)
        block_frames = max(1, int(round(block_seconds * file_sr)))
        resampler = (soxr.ResampleStream(file_sr, sr, 1, dtype="float32", quality="HQ")
                     if file_sr != sr else None)
        # buf holds the resampled samples [buf_start, buf_start + len(buf)) that a window not
        # yet emitted may still need: at most one window plus one decoded block.
        buf = np.zeros(0, np.float32)
        buf_start = next_start = emitted = frames_read = 0
        while True:
            try:
                block = handle.read(block_frames, dtype="float32", always_2d=True)
            except _READ_ERRORS as error:
                raise BadAudioError(
                    path, f"truncated or corrupt: {sound_file_message(error)}") from None
            last = len(block) < block_frames  # a short read is the end of the file
            frames_read += len(block)
            if not np.isfinite(block).all():
                raise BadAudioError(path, "corrupt: contains NaN or infinite samples")
            mono = block[:, 0] if channels == 1 else block.mean(axis=1, dtype=np.float32)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)  # last=True flushes its delay
            buf = np.concatenate([buf, mono]) if len(buf) else mono
            while next_start + window <= buf_start + len(buf):
                offset = next_start - buf_start
                yield Window(next_start / sr, buf[offset:offset + window].copy(), window)
                next_start += hop
                emitted += 1
            drop = min(next_start - buf_start, len(buf))  # nothing before next_start is needed
            buf, buf_start = buf[drop:], buf_start + drop
            if last:
                break
        check_frames_decoded(path, handle.format, expected, frames_read)

    n_samples = buf_start + len(buf)
    if n_samples == 0:
        raise BadAudioError(path, "no audio frames")
    # One zero-padded window for the tail, unless the last full window already reached the end.
    if emitted == 0 or next_start - hop + window < n_samples:
        valid = n_samples - next_start
        audio = np.zeros(window, np.float32)
        audio[:valid] = buf[next_start - buf_start:]
        yield Window(next_start / sr, audio, valid)


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class _Config:
    sr: int
    window: int  # samples
    hop: int  # samples
    window_seconds: float
    hop_seconds: float
    frame_hop: float  # seconds
    hop_frames: int  # detector frames per window hop
    classes: tuple
    thresholds: np.ndarray  # (n_classes,)
    halfwidths: np.ndarray  # (n_classes,) median filter half-widths, 0 = no filter
    min_duration: float
    min_gap: float
    batch_size: int
    block_seconds: float


def _per_class(value, classes: tuple, what: str) -> list:
    """A scalar, a sequence (one per class, in order) or a {label: value} mapping."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, Mapping):
        unknown = sorted(set(map(str, value)) - set(classes))
        missing = [c for c in classes if c not in value]
        if unknown or missing:
            raise ValueError(f"{what}: labels {unknown} are not in classes, and {missing} have "
                             f"no value; classes are {list(classes)}")
        return [value[c] for c in classes]
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{what} must be a number, a sequence or a mapping, got {value!r}")
    if isinstance(value, Sequence) or isinstance(value, np.ndarray):
        values = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else list(value)
        if len(values) != len(classes):
            raise ValueError(f"{what}: {len(values)} values for {len(classes)} classes")
        return values
    return [value] * len(classes)


def _config(sr, window_seconds, hop_seconds, frame_hop_seconds, classes, thresholds,
            median_filter, min_duration, min_gap, batch_size, block_seconds) -> _Config:
    window, hop = _window_samples(sr, window_seconds, hop_seconds)
    if not frame_hop_seconds > 0:
        raise ValueError(f"frame_hop_seconds must be positive, got {frame_hop_seconds}")
    # Windows must start on the global frame grid, or their frames could not be averaged.
    hop_frames = _whole(hop_seconds / frame_hop_seconds,
                        f"hop_seconds / frame_hop_seconds ({hop_seconds} / {frame_hop_seconds})")
    if isinstance(classes, (str, bytes)) or len(classes) == 0:
        raise ValueError(f"classes must be a non-empty list of labels, got {classes!r}")
    classes = tuple(str(c) for c in classes)
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct, got {list(classes)}")

    values = _per_class(thresholds, classes, "thresholds")
    try:
        thresholds = np.asarray(values, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"thresholds must be numbers, got {values}") from None
    if not np.isfinite(thresholds).all():
        raise ValueError(f"thresholds must be finite, got {list(thresholds)}")

    sizes = _per_class(1 if median_filter is None else median_filter, classes, "median_filter")
    for size in sizes:
        if (not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1
                or size % 2 == 0):
            raise ValueError(f"median_filter sizes must be odd whole numbers of frames >= 1 "
                             f"(1 = no filter), got {sizes}")
    halfwidths = np.asarray(sizes, np.int64) // 2

    for name, value in (("min_duration", min_duration), ("min_gap", min_gap)):
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be >= 0 seconds, got {value}")
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not block_seconds > 0:
        raise ValueError(f"block_seconds must be positive, got {block_seconds}")
    return _Config(int(sr), window, hop, float(window_seconds), float(hop_seconds),
                   float(frame_hop_seconds), hop_frames, classes, thresholds, halfwidths,
                   float(min_duration), float(min_gap), int(batch_size), float(block_seconds))


# ---------------------------------------------------------------------------------------------
# Streaming stages: overlap-add -> threshold -> median filter -> events


class _OverlapAdd:
    """Averages the framewise outputs of overlapping windows on the global frame grid.

    Holds only the frames the next window can still change: one window's worth of frames
    (``frames_per_window x n_classes`` sums and counts). Frames before the start of the window
    being added are final and are handed back.
    """

    def __init__(self) -> None:
        self.sums: Optional[np.ndarray] = None  # float64 (frames_per_window, n_classes)
        self.counts: Optional[np.ndarray] = None  # int64 (frames_per_window,)
        self.start = 0  # global frame of row 0

    def add(self, start_frame: int, frames: np.ndarray) -> np.ndarray:
        """Add one window's (frames_per_window, n_classes) output; return the frames now final."""
        if self.sums is None:
            self.sums = np.zeros(frames.shape, np.float64)
            self.counts = np.zeros(len(frames), np.int64)
        done = self._take(start_frame - self.start)
        self.sums += frames  # float64 += float32 casts exactly
        self.counts += 1
        return done

    def finish(self, n_frames: int) -> np.ndarray:
        """The remaining frames up to global frame ``n_frames`` (exclusive)."""
        wanted = max(n_frames - self.start, 0)
        done = self._take(min(wanted, len(self.sums)))
        if wanted > len(done):  # the detector's frames did not reach the end: nothing seen there
            done = np.concatenate([done, np.zeros((wanted - len(done), done.shape[1]))])
        return done

    def _take(self, m: int) -> np.ndarray:
        sums, counts = self.sums[:m], self.counts[:m]
        done = np.zeros_like(sums)
        np.divide(sums, counts[:, None], out=done, where=counts[:, None] > 0)
        self.sums[:len(self.sums) - m] = self.sums[m:].copy()
        self.sums[len(self.sums) - m:] = 0.0
        self.counts[:len(self.counts) - m] = self.counts[m:].copy()
        self.counts[len(self.counts) - m:] = 0
        self.start += m
        return done


class _MedianFilter:
    """Streaming per-class median filter of binary decisions (a majority vote).

    Output frame ``g`` of a class with half-width ``h`` needs decisions ``g-h .. g+h``, so
    outputs lag the input by ``hmax`` (the largest half-width) frames; kept: the last
    ``2*hmax`` decisions and the ``hmax`` activity rows not yet output. At the start and the
    end the first/last decision is repeated (``mode="nearest"``).
    """

    def __init__(self, halfwidths: np.ndarray) -> None:
        self.halfwidths = halfwidths
        self.hmax = int(halfwidths.max())
        self.decisions: Optional[np.ndarray] = None  # padded index i = global frame i - hmax
        self.activity: Optional[np.ndarray] = None  # rows for frames [next_out, received)
        self.pad_start = 0  # padded index of decisions[0]
        self.next_out = 0  # global frame of the next output

    def push(self, decisions: np.ndarray, activity: np.ndarray, final: bool = False
             ) -> tuple[np.ndarray, np.ndarray]:
        """Feed the next frames; return (decisions, activity) of the frames now filtered."""
        if self.hmax == 0:
            return decisions, activity
        if self.decisions is None:
            if len(decisions) == 0:
                return decisions, activity
            self.decisions = np.repeat(decisions[:1], self.hmax, axis=0)  # left edge
            self.activity = activity[:0]
        self.decisions = np.concatenate([self.decisions, decisions])
        self.activity = np.concatenate([self.activity, activity])
        if final:
            self.decisions = np.concatenate(
                [self.decisions, np.repeat(self.decisions[-1:], self.hmax, axis=0)])
        # Frame g is ready once padded index g + 2*hmax has arrived.
        end = self.pad_start + len(self.decisions) - 2 * self.hmax
        count = max(end - self.next_out, 0)
        out = np.zeros((count, len(self.halfwidths)), bool)
        if count:
            counts = np.cumsum(self.decisions, axis=0, dtype=np.int64)
            counts = np.concatenate([np.zeros((1, counts.shape[1]), np.int64), counts])
            centre = self.next_out + self.hmax - self.pad_start + np.arange(count)
            for c, h in enumerate(self.halfwidths):
                ones = counts[centre + h + 1, c] - counts[centre - h, c]
                out[:, c] = ones > h  # majority of 2h+1 binary values = their median
        filtered_activity = self.activity[:count]
        self.activity = self.activity[count:]
        self.next_out += count
        drop = self.next_out - self.pad_start  # padded indices below next_out are not needed
        self.decisions = self.decisions[drop:]
        self.pad_start += drop
        return out, filtered_activity


class _EventTracker:
    """Turns per-frame decisions into events per class, as the frames arrive.

    Per class it keeps one candidate event ``[onset frame, offset frame, score]``: open (still
    active at the last frame seen) or closed but still within ``min_gap`` of what comes next,
    plus the maximum activity in the gap after it (for the score, should the gap be merged).
    """

    def __init__(self, n_classes: int, frame_hop: float, min_gap: float) -> None:
        self.frame_hop, self.min_gap = frame_hop, min_gap
        self.candidates: list = [None] * n_classes
        self.open = [False] * n_classes
        self.gap_max = [-np.inf] * n_classes
        self.position = 0  # global frame of the next frame to arrive

    def _mergeable(self, gap_frames: int) -> bool:
        return gap_frames * self.frame_hop < self.min_gap - _EPS

    def push(self, decisions: np.ndarray, activity: np.ndarray) -> list:
        """Feed the next frames; return finished events ``(class index, onset, offset, score)``."""
        finished = []
        a, m = self.position, len(decisions)
        for c in range(decisions.shape[1]):
            d, x = decisions[:, c], activity[:, c]
            edges = np.flatnonzero(np.diff(np.concatenate([[False], d, [False]]).astype(np.int8)))
            was_open, self.open[c] = self.open[c], False
            for s, e in zip(edges[0::2], edges[1::2]):  # runs [s, e) in chunk coordinates
                peak = float(x[s:e].max())
                candidate = self.candidates[c]
                if candidate is not None and was_open and s == 0:  # continues across chunks
                    candidate[1], candidate[2] = a + e, max(candidate[2], peak)
                elif candidate is not None and self._mergeable(a + s - candidate[1]):
                    gap = x[max(candidate[1] - a, 0):s]
                    gap_peak = max(self.gap_max[c], float(gap.max()) if len(gap) else -np.inf)
                    candidate[1], candidate[2] = a + e, max(candidate[2], gap_peak, peak)
                else:
                    if candidate is not None:
                        finished.append((c, *candidate))
                    self.candidates[c] = [a + s, a + e, peak]
                self.gap_max[c] = -np.inf
                self.open[c] = e == m
            candidate = self.candidates[c]
            if candidate is not None and not self.open[c]:
                gap = x[max(candidate[1] - a, 0):]
                if len(gap):
                    self.gap_max[c] = max(self.gap_max[c], float(gap.max()))
                # No later onset can be within min_gap: the event is finished.
                if not self._mergeable(a + m - candidate[1]):
                    finished.append((c, *candidate))
                    self.candidates[c], self.gap_max[c] = None, -np.inf
        self.position = a + m
        return finished

    def finish(self) -> list:
        finished = [(c, *cand) for c, cand in enumerate(self.candidates) if cand is not None]
        self.candidates = [None] * len(self.candidates)
        return finished


def _check_predictions(outputs: np.ndarray, batch_size: int, shape: list, config: _Config,
                       path: str) -> None:
    """ValueError when ``predict_fn``'s outputs for one batch are not (batch, frames, classes)
    probabilities whose frames cover the windows; ``shape`` holds the frames per window of the
    first batch (empty before it)."""
    n_classes = len(config.classes)
    if outputs.ndim != 3 or outputs.shape[0] != batch_size or outputs.shape[2] != n_classes:
        raise ValueError(f"predict_fn must return (batch={batch_size}, frames, "
                         f"n_classes={n_classes}) probabilities, got shape {outputs.shape}")
    frames = outputs.shape[1]
    if not shape:
        if frames < config.hop_frames:
            raise ValueError(
                f"predict_fn returns {frames} frames per window, fewer than the "
                f"{config.hop_frames} frames of one hop ({config.hop_seconds} s / "
                f"{config.frame_hop} s): the windows' frames would leave gaps")
        if (frames - 1) * config.frame_hop > config.window_seconds + _EPS:
            raise ValueError(
                f"predict_fn returns {frames} frames per window; at frame_hop_seconds="
                f"{config.frame_hop} they run past the {config.window_seconds} s window: "
                "is frame_hop_seconds right?")
    elif frames != shape[0]:
        raise ValueError(f"predict_fn returned {frames} frames per window, "
                         f"then {shape[0]}: it must not vary")
    if not np.isfinite(outputs).all():
        raise ValueError(f"predict_fn returned NaN or infinite values for {path}")


def _file_events(path: str, predict_fn: PredictFn, config: _Config, progress: bool
                 ) -> Iterator[tuple]:
    """Events ``(file, onset, offset, label, score)`` of one file, as they are finished."""
    windows = stream_windows(path, config.sr, config.window_seconds, config.hop_seconds,
                             config.block_seconds)
    n_classes = len(config.classes)
    overlap_add = _OverlapAdd()
    median = _MedianFilter(config.halfwidths)
    tracker = _EventTracker(n_classes, config.frame_hop, config.min_gap)
    shape: list = []  # frames per window, fixed by the first batch

    def to_rows(events: list, duration: Optional[float]) -> list:
        rows = []
        for c, onset, offset, score in events:
            onset_s, offset_s = onset * config.frame_hop, offset * config.frame_hop
            if duration is not None:  # the last frame may run past the end of the audio
                offset_s = min(offset_s, duration)
            if offset_s - onset_s >= config.min_duration - _EPS:
                rows.append((path, onset_s, offset_s, config.classes[c], score))
        return rows

    def run_batch(batch: list, first_index: int) -> list:
        outputs = np.asarray(predict_fn(np.stack([w.audio for w in batch])))
        _check_predictions(outputs, len(batch), shape, config, path)
        if not shape:
            shape.append(outputs.shape[1])
        return [overlap_add.add((first_index + i) * config.hop_frames, out)
                for i, out in enumerate(outputs)]

    def advance(activity: np.ndarray, final: bool = False) -> list:
        decisions, activity = median.push(activity > config.thresholds, activity, final)
        return tracker.push(decisions, activity)

    total = None
    if progress:
        info = audio_info(path)
        total = round(info["duration_s"], 1)
    bar = tqdm(total=total, unit="s", desc=Path(path).name, disable=not progress,
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]")
    try:
        batch: list = []
        index = 0  # of the first window in batch
        last: Optional[Window] = None
        for window in windows:
            batch.append(window)
            last = window
            if len(batch) == config.batch_size:
                yield from to_rows(advance(np.concatenate(run_batch(batch, index))), None)
                index += len(batch)
                bar.update(min(len(batch) * config.hop_seconds, (total or np.inf) - bar.n))
                batch = []
        if batch:
            yield from to_rows(advance(np.concatenate(run_batch(batch, index))), None)
            index += len(batch)
        # The last window tells how long the audio is; frames starting after it are padding.
        n_samples = round(last.start * config.sr) + last.valid
        duration = n_samples / config.sr
        n_frames = math.ceil(n_samples / (config.frame_hop * config.sr) - _EPS)
        events = advance(overlap_add.finish(n_frames), final=True) + tracker.finish()
        yield from to_rows(events, duration)
        if total is not None:
            bar.update(total - bar.n)
    finally:
        bar.close()


def _events_frame(rows: list) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    table = table.astype({"file": str, "onset": float, "offset": float, "label": str,
                          "score": float})
    return table.sort_values(["file", "onset", "offset", "label"], kind="stable",
                             ignore_index=True)


def detect_file(path: PathLike, predict_fn: PredictFn, sr: int, window_seconds: float,
                hop_seconds: float, frame_hop_seconds: float, classes: Sequence[str],
                thresholds: Union[float, Sequence[float], Mapping[str, float]] = 0.5,
                median_filter: Union[None, int, Sequence[int], Mapping[str, int]] = None,
                min_duration: float = 0.0, min_gap: float = 0.0, batch_size: int = 8,
                block_seconds: float = 60.0, progress: bool = False) -> pd.DataFrame:
    """Detect events in one audio file of any length, in bounded memory.

    Windows of ``window_seconds`` every ``hop_seconds`` (see :func:`stream_windows`) go through
    ``predict_fn`` ``batch_size`` at a time; their framewise outputs are averaged where the
    windows overlap, thresholded per class, optionally median filtered, and cut into events
    (see the module docstring for the exact rules). Only the frames later windows can still
    change, the median filter's ``2*h`` frames, and one candidate event per class are kept.

    Args:
        path: the audio file.
        predict_fn: ``f(float32 (b, window_samples)) -> (b, frames_per_window, n_classes)``
            framewise probabilities; the caller wraps the model and its front end. Frame ``j``
            of a window starts ``j * frame_hop_seconds`` after the window.
        sr: the rate the detector expects; the file is resampled to it.
        window_seconds: the detector's input length.
        hop_seconds: seconds between windows, ``<= window_seconds``; a whole number of samples
            and of frames. Less than the window: overlapping windows, averaged.
        frame_hop_seconds: seconds between the detector's output frames.
        classes: the label of each output class, in order.
        thresholds: one for all classes, one per class (a sequence in class order, or a
            ``{label: threshold}`` mapping); a frame is active when its activity is above it.
        median_filter: None, or the filter length in frames (odd; 1 = none), one for all
            classes or one per class (sequence or mapping). Applied to the binary decisions.
        min_duration: events shorter than this (seconds, after merging) are dropped.
        min_gap: events of one class closer than this (seconds) are merged into one.
        batch_size: windows per ``predict_fn`` call.
        block_seconds: how much audio is decoded at a time.
        progress: show a tqdm bar over the file's duration.

    Returns:
        DataFrame with columns file (the absolute path), onset, offset (seconds), label,
        score (the maximum activity in the event), sorted by onset.

    Raises:
        ValueError: bad arguments, or ``predict_fn`` output of the wrong shape or not finite.
        BadAudioError: the file cannot be read; ``.reason`` says why.
    """
    config = _config(sr, window_seconds, hop_seconds, frame_hop_seconds, classes, thresholds,
                     median_filter, min_duration, min_gap, batch_size, block_seconds)
    path = os.path.abspath(os.fsdecode(os.fspath(path)))
    return _events_frame(list(_file_events(path, predict_fn, config, progress)))


# ---------------------------------------------------------------------------------------------
# Many files


def audio_files(paths: Sequence[PathLike]) -> list[str]:
    """Files as given; folders expanded to the audio files anywhere under them, sorted."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise ValueError("paths must be a list of files or folders, not a single path")
    files = []
    for item in paths:
        item = Path(os.path.abspath(os.fsdecode(os.fspath(item))))
        if item.is_dir():
            files.extend(str(p) for p in sorted(item.rglob("*"))
                         if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
                         and not any(part.startswith(".") for part in p.relative_to(item).parts))
        else:
            files.append(str(item))  # a bad or missing file is reported when it is read
    return list(dict.fromkeys(files))  # a file named twice is detected once


def _write_events_csv(events: pd.DataFrame, path: Path) -> None:
    # Not annotations.write_events_csv: that one keeps file, onset, offset, label only, and the
    # scores are wanted (e.g. to pick thresholds later). Readable by annotations.read_annotations.
    events.to_csv(path, index=False, columns=list(EVENT_COLUMNS), float_format="%.6f",
                  lineterminator="\n")


def detect(paths: Sequence[PathLike], predict_fn: PredictFn, sr: int, window_seconds: float,
           hop_seconds: float, frame_hop_seconds: float, classes: Sequence[str],
           output_dir: PathLike,
           thresholds: Union[float, Sequence[float], Mapping[str, float]] = 0.5,
           median_filter: Union[None, int, Sequence[int], Mapping[str, int]] = None,
           min_duration: float = 0.0, min_gap: float = 0.0, batch_size: int = 8,
           block_seconds: float = 60.0, progress: bool = False) -> pd.DataFrame:
    """Detect events in many files and write ``events.csv`` and ``events.selections.txt``.

    Args:
        paths: audio files and/or folders (made absolute: the ``file`` column holds absolute
            paths); a folder stands for every audio file under it
            (extensions as ``modules.data.schema.AUDIO_EXTENSIONS``, hidden ones skipped,
            sorted).
        output_dir: created if needed. ``events.csv`` (columns file, onset, offset, label,
            score) and the Raven selection table ``events.selections.txt``
            (:func:`modules.sed.annotations.write_raven_table`: tab-separated, Begin/End Time
            in seconds within the Begin File, Low/High Freq 0 and sr/2) are written there once
            every file is done; both read back with ``annotations.read_annotations``. Existing
            ones are never overwritten.
        Other arguments: as :func:`detect_file`, applied to every file.

    Returns:
        the events of every readable file (as :func:`detect_file`, in file order);
        ``.attrs["skipped"]`` lists ``(file, reason)`` for each unreadable file, each of which
        is also printed as it is met.

    Raises:
        FileExistsError: an output file already exists (checked before any detection).
        ValueError: bad arguments, no files, or ``predict_fn`` misbehaving (these stop the run:
            they would fail for every file).
    """
    config = _config(sr, window_seconds, hop_seconds, frame_hop_seconds, classes, thresholds,
                     median_filter, min_duration, min_gap, batch_size, block_seconds)
    files = audio_files(paths)
    if not files:
        raise ValueError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) in {list(paths)}")
    output_dir = Path(output_dir)
    outputs = [output_dir / EVENTS_CSV, output_dir / RAVEN_TABLE]
    existing = [str(p) for p in outputs if os.path.lexists(p)]
    if existing:
        raise FileExistsError(f"refusing to overwrite {', '.join(existing)}: choose another "
                              "output_dir or move them away")
    output_dir.mkdir(parents=True, exist_ok=True)

    tables, skipped = [], []
    for path in files:
        try:
            rows = list(_file_events(path, predict_fn, config, progress))
        except BadAudioError as error:  # this file only; the others go on
            skipped.append((path, error.reason))
            tqdm.write(f"skipped {path}: {error.reason}")
            continue
        tables.append(_events_frame(rows))
    events = (pd.concat(tables, ignore_index=True) if tables else _events_frame([]))
    if skipped:
        tqdm.write(f"{len(skipped)} of {len(files)} files skipped (unreadable)")

    publish_new_file(lambda p: _write_events_csv(events, p), outputs[0])
    # Begin File: relative to output_dir when the recording lies under it, else absolute.
    publish_new_file(lambda p: write_raven_table(events, p, sr=config.sr, audio_root=output_dir),
             outputs[1])
    events.attrs["skipped"] = skipped
    return events
