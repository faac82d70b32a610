"""Random training windows cut from the clips of ``spectrain clips`` (:mod:`modules.sed.clips`).

A clips folder holds clips of e.g. 20 s; a sound event detector trains on shorter windows (e.g.
5 s) with framewise targets. This module

* reads the folder's ``metadata.tsv`` into one row per clip (:func:`load_clip_table`, from
  :mod:`modules.data.clip_folders`);
* computes a window's targets, shape ``(classes, event_bins)``, with the overlap rule of
  :func:`modules.sed.metrics.frame_labels` (:func:`window_frame_labels`);
* serves windows: a new random window out of every clip each epoch (training), or one fixed
  window per clip (validation) (:class:`RandomWindows`);
* splits clips into train / validation by source recording (:func:`split_clips`).

Windows
-------
A window is ``window_samples = round(window_seconds * sr)`` samples starting at a whole sample
``start``. Its targets use the same samples: bin ``j`` covers ``[start / sr + j * hop,
start / sr + (j + 1) * hop)`` with ``hop = window_samples / sr / event_bins``, so audio and
labels agree to the sample. Training draws ``start`` uniformly among the whole samples of
``[0, clip_samples - window_samples]``, from a generator seeded by ``(seed, epoch, clip)`` only
(``clip`` is the clip's row in the table given to :class:`RandomWindows`), so the draw does not
depend on the order in which tf.data threads ask for clips, nor on earlier draws. Validation
(``validation=True``) always uses one window per clip: the one centred on the clip's first event
(earliest onset; the middle of ``[onset, offset]``), or on the clip's centre for a background
clip, moved to stay inside the clip. A clip shorter than the window gives the whole clip,
zero-padded at the end (start 0).

Epochs in tf.data
-----------------
:meth:`RandomWindows.dataset` counts its passes: every time the dataset is iterated (a new
iterator, as Keras ``fit`` makes at each epoch when ``steps_per_epoch`` is None, or each
repetition of ``.repeat()``), it takes the next epoch number from a Python counter (starting at
:attr:`RandomWindows.next_epoch`, 0 unless set) and draws that epoch's windows. So ``fit(ds,
epochs=3)`` trains on epochs 0, 1, 2 and validating on a ``validation=True`` set gives the same
windows every time. Do not pass ``steps_per_epoch`` (Keras would then keep one iterator across
epochs and the count would not advance); set ``next_epoch`` to resume a run at a given epoch.
"""

from __future__ import annotations

import math
import sys
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from modules.data.audio import BadAudioError, read_audio
# Reading a clips folder is the data layer's (a layout of its own); named here for importers.
from modules.data.clip_folders import (BACKGROUND_LABEL, CLIP_COLUMNS, clips_dataset_table,
                                       load_clip_table)
from modules.data.splits import check_no_group_leak

from .metrics import frame_labels

__all__ = ["BACKGROUND_LABEL", "CLIP_COLUMNS", "RandomWindows", "clips_dataset_table",
           "load_clip_table", "split_clips", "window_frame_labels"]


# ----------------------------------------------------------------------------------- targets
def window_frame_labels(events: Sequence[tuple], window_start: float, window_seconds: float,
                        classes: Sequence[str], event_bins: int) -> np.ndarray:
    """Targets of one window, shape ``(len(classes), event_bins)``, float32.

    ``events`` are ``(onset, offset, label)`` in clip seconds; the window is ``[window_start,
    window_start + window_seconds)``, cut into ``event_bins`` bins of ``window_seconds /
    event_bins``. A bin is 1 for a class when an event of that class overlaps it by a positive
    amount (:func:`~modules.sed.metrics.frame_labels`: an event ending exactly on a bin edge
    does not mark the next bin). No events (a background clip): all zeros. A label not in
    ``classes`` is a ValueError.
    """
    if int(event_bins) != event_bins or event_bins < 1:
        raise ValueError(f"event_bins must be a positive whole number, got {event_bins!r}")
    if not (math.isfinite(window_seconds) and window_seconds > 0):
        raise ValueError(f"window_seconds must be positive, got {window_seconds!r}")
    shifted = []
    for onset, offset, label in events:
        onset, offset = float(onset) - window_start, float(offset) - window_start
        if offset <= 0.0 or onset >= window_seconds:
            continue  # outside the window (touching an edge is no overlap)
        shifted.append((max(onset, 0.0), offset, label))
    table = pd.DataFrame(shifted, columns=["onset", "offset", "label"])
    unknown = sorted({str(label) for _, _, label in events} - set(classes))
    if unknown:
        raise ValueError(f"label(s) {unknown} are not in classes {list(classes)}")
    targets = frame_labels(table, int(event_bins), window_seconds / int(event_bins), classes)
    return np.ascontiguousarray(targets.T, dtype=np.float32)


# ----------------------------------------------------------------------------------- windows
def _epoch_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(epoch), int(index)])


class RandomWindows:
    """Windows of ``window_seconds`` out of clips, with their targets (module docstring).

    Args:
        clips: a table of :func:`load_clip_table` (or a part of it, :func:`split_clips`):
            needs ``path`` and ``events``.
        classes: the class names, in target order.
        sr: the sample rate (Hz) clips are decoded at (:func:`~modules.data.audio.read_audio`,
            resampled when needed; the all-silence check is off: a silent background is valid).
        window_seconds: the window length (s).
        event_bins: target bins per window.
        seed: seeds the training draws (with the epoch and the clip's row).
        validation: one fixed window per clip instead of random ones.
        verbose: report skipped clips on stderr.

    Every clip is decoded once, here, and kept in memory. A clip that cannot be decoded
    (:class:`~modules.data.audio.BadAudioError`) is reported (path and reason, on stderr) and
    skipped; :attr:`skipped` lists ``(path, reason)`` and :attr:`clips` the clips kept.

    Raises:
        ValueError: bad arguments; an event label not in ``classes``; no clip could be decoded.
    """

    def __init__(self, clips: pd.DataFrame, classes: Sequence[str], sr: int,
                 window_seconds: float, event_bins: int, seed: int = 0,
                 validation: bool = False, verbose: bool = True):
        if not (isinstance(sr, (int, np.integer)) and sr > 0):
            raise ValueError(f"sr must be a positive whole number of Hz, got {sr!r}")
        if not (math.isfinite(window_seconds) and window_seconds > 0):
            raise ValueError(f"window_seconds must be positive, got {window_seconds!r}")
        if int(event_bins) != event_bins or event_bins < 1:
            raise ValueError(f"event_bins must be a positive whole number, got {event_bins!r}")
        self.classes = list(classes)
        if not self.classes:
            raise ValueError("classes is empty")
        self.sr = int(sr)
        self.window_samples = int(round(window_seconds * sr))
        if self.window_samples < 1:
            raise ValueError(f"window_seconds={window_seconds} is less than one sample at {sr} Hz")
        self.window_seconds = self.window_samples / self.sr  # exactly the samples served
        self.event_bins = int(event_bins)
        self.seed = int(seed)
        self.validation = bool(validation)
        #: the epoch the next pass over :meth:`dataset` draws.
        self.next_epoch = 0
        #: a modules.resume.EpochClock: when set, a pass draws its epoch, not next_epoch.
        self.clock = None
        unknown = sorted({label for events in clips["events"] for _, _, label in events}
                         - set(self.classes))
        if unknown:
            raise ValueError(f"the clips have label(s) {unknown} that are not in classes "
                             f"{self.classes}")

        self.skipped: list[tuple[str, str]] = []
        keep, audio = [], []
        for position, path in enumerate(clips["path"]):
            try:
                samples = read_audio(path, self.sr, mono=True, silence_threshold_db=None)
            except BadAudioError as error:
                self.skipped.append((error.path, error.reason))
                if verbose:
                    print(f"skipped clip {error.path}: {error.reason}", file=sys.stderr)
                continue
            keep.append(position)
            audio.append(samples)
        if not keep:
            raise ValueError(f"none of the {len(clips)} clips could be decoded")
        #: the clips kept (``row``: their row in the table given, which keys the draws).
        self.clips = clips.iloc[keep].reset_index(drop=True)
        self.rows = np.asarray(keep, dtype=np.int64)
        self.audio = audio
        self._events = list(self.clips["events"])
        self._fixed = np.array([self._fixed_start(i) for i in range(len(keep))], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.audio)

    # -- where the windows start
    def _max_start(self, index: int) -> int:
        return max(len(self.audio[index]) - self.window_samples, 0)

    def _fixed_start(self, index: int) -> int:
        events = self._events[index]
        if events:
            centre = (events[0][0] + events[0][1]) / 2.0 * self.sr
        else:
            centre = len(self.audio[index]) / 2.0
        start = int(round(centre - self.window_samples / 2.0))
        return min(max(start, 0), self._max_start(index))

    def start(self, index: int, epoch: int) -> int:
        """The first sample of clip ``index``'s window in ``epoch`` (fixed when validation)."""
        if self.validation:
            return int(self._fixed[index])
        rng = _epoch_rng(self.seed, epoch, self.rows[index])
        return int(rng.integers(0, self._max_start(index) + 1))

    def starts(self, epoch: int) -> np.ndarray:
        """The first samples of every clip's window in ``epoch``."""
        return np.array([self.start(i, epoch) for i in range(len(self))], dtype=np.int64)

    # -- one window
    def item(self, index: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(audio (window_samples,), targets (classes, event_bins))`` of clip ``index``."""
        start = self.start(index, epoch)
        window = self.audio[index][start:start + self.window_samples]
        if len(window) < self.window_samples:
            window = np.concatenate([window, np.zeros(self.window_samples - len(window),
                                                      np.float32)])
        labels = window_frame_labels(self._events[index], start / self.sr, self.window_seconds,
                                     self.classes, self.event_bins)
        return np.ascontiguousarray(window, dtype=np.float32), labels

    def numpy_epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """All windows of ``epoch`` in clip order: audio ``(clips, window_samples)`` and
        targets ``(clips, classes, event_bins)``."""
        items = [self.item(i, epoch) for i in range(len(self))]
        return (np.stack([audio for audio, _ in items]),
                np.stack([labels for _, labels in items]))

    def order(self, epoch: int) -> np.ndarray:
        """The clip order of ``epoch`` when shuffled (seeded by ``(seed, epoch)``)."""
        return np.random.default_rng([self.seed, int(epoch), 1 << 40]).permutation(len(self))

    # -- tf.data
    def _begin_pass(self, shuffle: bool, epoch_aware: bool):
        if self.clock is not None:  # the epoch Keras is at (modules.resume.EpochClock)
            epoch = self.clock.epoch
        else:
            epoch = self.next_epoch
            if epoch_aware:
                self.next_epoch += 1
        order = self.order(epoch) if shuffle else np.arange(len(self))
        return np.int64(epoch), order.astype(np.int64)

    def dataset(self, batch_size: int, epoch_aware: bool = True,
                shuffle: Optional[bool] = None):
        """A ``tf.data.Dataset`` of batches ``(audio (b, window_samples), targets (b, classes,
        event_bins))``, float32; the last batch may be smaller.

        ``epoch_aware``: each pass (new iterator) draws the next epoch's windows (module
        docstring); False: every pass uses epoch :attr:`next_epoch` (not advanced).
        ``shuffle``: the clip order, per epoch from ``(seed, epoch)``; default: True for
        training, False for validation. Windows do not depend on the order.
        """
        import tensorflow as tf

        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive whole number, got {batch_size!r}")
        shuffle = (not self.validation) if shuffle is None else bool(shuffle)
        n_samples, n_classes, n_bins = self.window_samples, len(self.classes), self.event_bins

        def begin(_):
            epoch, order = tf.py_function(lambda: self._begin_pass(shuffle, epoch_aware), [],
                                          [tf.int64, tf.int64])
            return epoch, order

        def load(index, epoch):
            audio, labels = tf.py_function(lambda i, e: self.item(int(i), int(e)),
                                           [index, epoch], [tf.float32, tf.float32])
            audio.set_shape((n_samples,))
            labels.set_shape((n_classes, n_bins))
            return audio, labels

        dataset = (tf.data.Dataset.from_tensors(tf.constant(0, tf.int64))
                   .map(begin)
                   .flat_map(lambda epoch, order: tf.data.Dataset.from_tensor_slices(order)
                             .map(lambda index: (index, epoch)))
                   .apply(tf.data.experimental.assert_cardinality(len(self)))
                   .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                   .batch(int(batch_size))
                   .prefetch(tf.data.AUTOTUNE))
        return dataset


# ------------------------------------------------------------------------------------- split
def split_clips(clips: pd.DataFrame, validation_fraction: float = 0.2, seed: int = 0
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split clips into (train, validation) by ``group`` (source recording): no group on both
    sides.

    The groups are shuffled (``seed``) and taken into validation until it holds at least
    ``round(validation_fraction * clips)`` clips (at least one group, and never all of them).
    Not stratified by label. Both parts keep the table's order and get a fresh index.

    Raises:
        ValueError: ``validation_fraction`` outside (0, 1); a missing group; fewer than 2
            groups.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be between 0 and 1, got "
                         f"{validation_fraction!r}")
    if "group" not in clips or clips["group"].isna().any():
        raise ValueError("split_clips needs a group on every clip")
    groups = clips["group"].astype(str).to_numpy()
    names, counts = np.unique(groups, return_counts=True)  # sorted: independent of row order
    if len(names) < 2:
        raise ValueError(f"a group split needs at least 2 groups; the clips have {len(names)}")
    wanted = max(1, int(round(validation_fraction * len(clips))))
    chosen, total = [], 0
    for position in np.random.default_rng(seed).permutation(len(names)):
        if total >= wanted or len(chosen) == len(names) - 1:
            break
        chosen.append(names[position])
        total += counts[position]
    mask = np.isin(groups, chosen)
    train = clips[~mask].reset_index(drop=True)
    validation = clips[mask].reset_index(drop=True)
    check_no_group_leak(train, validation)
    assert not set(train["group"]) & set(validation["group"]), "group leak"
    return train, validation
