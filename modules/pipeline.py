"""tf.data pipelines: decode -> chunk -> cache -> (shuffle) -> batch -> parse -> prefetch.

Decoding runs in Python (soundfile + soxr through ``tf.numpy_function``), in parallel, once: the
decoded chunks are cached, so later epochs only shuffle, batch and compute spectrograms.
Random augmentation belongs after the cache, or every epoch would see the same draw.

Each decoded element is a dict:
``audio`` (samples,), ``label`` (n_classes,), ``file_index``, ``chunk_index``, ``padded``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from modules.data.audio import decode_to_chunks
from modules.resume import EpochClock, epoch_source
from modules.data.feature_sets import read_feature_rows


@dataclass(frozen=True)
class AudioConfig:
    """How files become fixed-length examples.

    ``feature_width``: set when the job's "files" are rows of a feature set
    (:mod:`modules.data.feature_sets`): every example is then a feature vector of that many
    values, and the audio settings do not apply."""

    sr: int
    audio_length: float
    step_size: float
    chunking: str = "chunk"
    silence_threshold_db: float = -90.0
    feature_width: int | None = None
    decoded_cache: str | None = None  # folder of the decoded-audio cache (None: decode always)
    trim_silence_db: float | None = None  # see modules.data.audio.trim_silence

    @property
    def samples(self) -> int:
        """Values per example: audio samples, or the feature vector's width."""
        if self.feature_width is not None:
            return self.feature_width
        return int(round(self.audio_length * self.sr))

    @property
    def features(self) -> bool:
        return self.feature_width is not None

    @classmethod
    def from_parameters(cls, params, paths: Sequence[str] = ()) -> "AudioConfig":
        """The job's settings; ``paths`` (the job's files) tell audio from feature vectors.

        Raises:
            ValueError: feature-set rows mixed with audio files, or sets of different widths.
        """
        from modules.data.feature_sets import feature_reference, feature_width

        sets = {reference[0] for reference in map(feature_reference, paths) if reference}
        width = None
        if sets:
            if any(feature_reference(path) is None for path in paths):
                raise ValueError("a job reads either audio files or feature sets, not both: "
                                 "flag only feature-set datasets, or only audio datasets")
            widths = {path: feature_width(path) for path in sorted(sets)}
            if len(set(widths.values())) > 1:
                raise ValueError("the job's feature sets have different widths: " + ", ".join(
                    f"{path} {width}" for path, width in widths.items()))
            width = next(iter(widths.values()))
        return cls(params.sr, params.audio_length, params.step_size, params.chunking,
                   params.silence_threshold_db, width, decoded_cache_dir(params),
                   params.trim_silence_db)


def decoded_cache_dir(params) -> str | None:
    """``<cache_root>/decoded`` when ``params.decoded_cache`` is on, else None."""
    from modules.data.decoded_cache import FOLDER
    from modules.data.fetch import project_root

    if not params.decoded_cache:
        return None
    root = Path(params.cache_root).expanduser()
    return str((root if root.is_absolute() else project_root() / root) / FOLDER)


def job_reader(audio: AudioConfig):
    """How a job reads a file whole, as a ``decode_to_chunks`` reader ``(path, sr,
    silence_threshold_db) -> mono float32``: through the decoded-audio cache when it has one,
    then with the leading and trailing silence trimmed when it asks for that."""
    from modules.data.audio import trim_silence
    from modules.data.decoded_cache import read_audio_cached

    folder = Path(audio.decoded_cache) if audio.decoded_cache else None

    def read(path, sr, threshold):
        return trim_silence(read_audio_cached(path, sr, folder, threshold), audio.trim_silence_db)

    return read


class SkippedFiles:
    """Files the decoder could not use, with the reason; filled from tf.data worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reasons: dict[str, str] = {}

    def add(self, path: str, reason: str) -> None:
        with self._lock:
            first_time = path not in self._reasons
            self._reasons[path] = reason
        if first_time:
            tqdm.write(f"skipped {path}: {reason}")

    def items(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._reasons.items())

    def __len__(self) -> int:
        return len(self._reasons)


def one_hot_labels(labels: Sequence[str], class_names: Sequence[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(class_names)}
    out = np.zeros((len(labels), len(class_names)), np.float32)
    for row, label in enumerate(labels):
        out[row, index[label]] = 1.0
    return out


def multi_hot_labels(label_lists: Sequence[Sequence[str]],
                     class_names: Sequence[str]) -> np.ndarray:
    """(files, classes) float32 0/1: a 1 for each class of each file (a row of zeros: none)."""
    from modules.data.schema import multi_hot

    return multi_hot(label_lists, class_names, np.float32)


def decoded_dataset(paths: Sequence[str], labels: np.ndarray, audio: AudioConfig,
                    skipped: SkippedFiles, cache: str | None = "memory",
                    chunk_labels: Callable[[int, int], np.ndarray] | None = None
                    ) -> tf.data.Dataset:
    """One element per chunk of every readable file, in file order, cached after decoding.

    ``cache``: "memory", None/"none" (decode every epoch), or a file path prefix for a disk cache.
    ``chunk_labels``: ``f(file_index, n_chunks) -> (n_chunks, n_classes)`` for labels that vary
    along a recording (annotated respiratory cycles); None: every chunk has its file's label.
    """
    paths = [str(p) for p in paths]
    labels = np.asarray(labels, np.float32)
    samples = audio.samples
    reader = job_reader(audio)

    def decode(file_index):
        file_index = int(file_index)
        if audio.features:
            chunks, padded, error = read_feature_rows(paths[file_index], audio.samples)
        else:
            chunks, padded, error = decode_to_chunks(
                paths[file_index], audio.sr, audio.audio_length, audio.step_size, audio.chunking,
                audio.silence_threshold_db, reader)
        if error:
            skipped.add(paths[file_index], error)
        if chunk_labels is None:
            rows = np.repeat(labels[file_index][None], len(chunks), axis=0)
        else:
            rows = np.asarray(chunk_labels(file_index, len(chunks)), np.float32)
        return (chunks.astype(np.float32, copy=False), padded.astype(bool, copy=False),
                rows.astype(np.float32, copy=False))

    def decode_op(file_index):
        chunks, padded, chunk_label_rows = tf.numpy_function(
            decode, [file_index], [tf.float32, tf.bool, tf.float32], stateful=False)
        chunks.set_shape([None, samples])
        padded.set_shape([None])
        chunk_label_rows.set_shape([None, labels.shape[1]])
        n = tf.shape(chunks)[0]
        return {
            "audio": chunks,
            "label": chunk_label_rows,
            "file_index": tf.fill([n], tf.cast(file_index, tf.int32)),
            "chunk_index": tf.range(n, dtype=tf.int32),
            "padded": padded,
        }

    ds = tf.data.Dataset.range(len(paths))
    ds = ds.map(decode_op, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.unbatch()  # a file with no usable chunk simply contributes nothing
    if cache == "memory":
        ds = ds.cache()
    elif cache and cache != "none":
        ds = ds.cache(str(cache))
    return ds


def fill_cache(ds: tf.data.Dataset, n_files: int, description: str,
               progress: bool = True, keep_audio: bool = False) -> dict[str, np.ndarray]:
    """Run through a decoded dataset once (filling its cache), with a progress bar over files.

    Returns the per-chunk metadata in dataset order: file_index, chunk_index, padded, label;
    and with ``keep_audio`` the chunks themselves, ``audio`` (n, samples): augmentation pairs
    examples at random, which a stream cannot do, so it keeps them in memory (decode such a
    dataset with ``cache="none"``, or the audio is held twice).
    """
    meta = {"file_index": [], "chunk_index": [], "padded": [], "label": []}
    if keep_audio:
        meta["audio"] = []
    seen = -1
    light = ds.map(lambda e: {k: e[k] for k in meta}).batch(32)
    with tqdm(total=n_files, desc=description, unit="file", disable=not progress) as bar:
        for batch in light:
            for key in meta:
                meta[key].append(batch[key].numpy())
            last = int(batch["file_index"][-1])
            bar.update(last - seen)
            seen = last
        bar.update(n_files - 1 - seen)  # trailing unreadable files yield no element
    if not meta["label"]:
        raise ValueError(f"{description}: none of the {n_files} files gave a usable example")
    return {key: np.concatenate(values) for key, values in meta.items()}


def _batched(ds: tf.data.Dataset, batch_size: int, n_examples: int | None) -> tf.data.Dataset:
    ds = ds.batch(batch_size)
    if n_examples:
        # Decoding hides the length from tf.data; stating it lets Keras show epoch progress
        # and know where an epoch ends.
        ds = ds.apply(tf.data.experimental.assert_cardinality(-(-n_examples // batch_size)))
    return ds


ParseFn = Callable[[tf.Tensor, tf.Tensor], tuple]


def training_dataset(decoded: tf.data.Dataset, parse: ParseFn, batch_size: int, seed: int,
                     n_examples: int, class_weights: np.ndarray | None = None,
                     clock: EpochClock | None = None) -> tf.data.Dataset:
    """Shuffled (full buffer), batched, parsed, prefetched. Each pass shuffles from (seed,
    epoch) alone (the epoch: ``clock``'s, or passes counted), so a job resumed at epoch k sees
    the order an uninterrupted run sees at epoch k."""
    current_epoch = epoch_source(clock)

    def next_epoch():
        yield current_epoch()

    epoch_numbers = tf.data.Dataset.from_generator(
        next_epoch, output_signature=tf.TensorSpec([], tf.int64))
    # The cached ``decoded`` is captured, not rebuilt: each epoch reads the same cache.
    ds = epoch_numbers.flat_map(
        lambda epoch: decoded.shuffle(max(n_examples, 1), seed=seed * 1_000_003 + epoch))
    ds = _batched(ds, batch_size, n_examples)
    weights = None if class_weights is None else tf.constant(class_weights, tf.float32)

    def to_model_inputs(element):
        inputs, labels = parse(element["audio"], element["label"])
        if weights is None:
            return inputs, labels
        return inputs, labels, tf.gather(weights, tf.argmax(labels, axis=-1))

    ds = ds.map(to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(decoded: tf.data.Dataset, parse: ParseFn, batch_size: int,
                       n_examples: int | None = None) -> tf.data.Dataset:
    """In file order, (inputs, labels) batches."""
    ds = _batched(decoded, batch_size, n_examples)
    ds = ds.map(lambda e: parse(e["audio"], e["label"]), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def balanced_class_weights(labels: np.ndarray) -> np.ndarray:
    """n_examples / (n_classes * count_c), as sklearn's "balanced"; 0 weight for absent classes."""
    counts = labels.sum(axis=0)
    weights = np.zeros_like(counts, dtype=np.float32)
    present = counts > 0
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


class RandomCrops:
    """Training examples as random windows: each epoch, every file gives one window of
    ``length`` samples at an offset drawn from (seed, epoch, file), in an order drawn from
    (seed, epoch), so a rerun sees the same windows. A file shorter than a window lies at a
    random offset in it, zero-padded around. ``waveforms``: each file's whole mono signal;
    ``labels``: one row per file."""

    def __init__(self, waveforms: Sequence[np.ndarray], labels: np.ndarray, length: int,
                 seed: int, clock: EpochClock | None = None):
        self.waveforms = [np.asarray(w, np.float32) for w in waveforms]
        self.labels = np.asarray(labels, np.float32)
        self.length, self.seed = int(length), int(seed)
        self.current_epoch = epoch_source(clock)  # the epoch a pass over the data draws

    def __len__(self) -> int:
        return len(self.waveforms)

    @property
    def padded(self) -> np.ndarray:
        """Which files are shorter than a window (their windows hold zero padding)."""
        return np.array([len(w) < self.length for w in self.waveforms], bool)

    def crop(self, epoch: int, index: int) -> np.ndarray:
        """File ``index``'s window of ``epoch``."""
        audio = self.waveforms[index]
        spare = len(audio) - self.length
        offset = int(np.random.default_rng([self.seed, epoch, index]).integers(0, abs(spare) + 1))
        if spare >= 0:
            return audio[offset:offset + self.length]
        # A short file lies whole at a random place in the window, so the model does not
        # learn that events start at the window's start.
        window = np.zeros(self.length, np.float32)
        window[offset:offset + len(audio)] = audio
        return window

    def _examples(self):
        epoch = self.current_epoch()
        for index in np.random.default_rng([self.seed, epoch]).permutation(len(self)):
            yield self.crop(epoch, int(index)), self.labels[index]

    def dataset(self, parse: ParseFn, batch_size: int,
                class_weights: np.ndarray | None = None) -> tf.data.Dataset:
        """Batches of (inputs, labels[, weights]), a new draw every epoch."""
        signature = (tf.TensorSpec([self.length], tf.float32),
                     tf.TensorSpec([self.labels.shape[1]], tf.float32))
        ds = tf.data.Dataset.from_generator(self._examples, output_signature=signature)
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(self)))
        ds = ds.batch(batch_size)
        weights = None if class_weights is None else tf.constant(class_weights, tf.float32)

        def to_model_inputs(audio, labels):
            inputs, labels = parse(audio, labels)
            if weights is None:
                return inputs, labels
            return inputs, labels, tf.gather(weights, tf.argmax(labels, axis=-1))

        return ds.map(to_model_inputs).prefetch(tf.data.AUTOTUNE)
