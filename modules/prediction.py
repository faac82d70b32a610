"""A classifier over new recordings of any length, in bounded memory: window probabilities,
one line per file, and a Raven table of the windows where a class is heard.

Each file is streamed (:func:`modules.sed.detect.stream_windows`: decoded a block at a time,
mixed to mono, resampled to the job's rate) into windows of ``window_seconds`` every
``hop_seconds``, as the job cut its files: a last, zero-padded window is added when more than
half a window of audio is left after the full ones (a file shorter than a window gives one
padded window). Batches of windows go through ``predict_fn``
(``(n, samples) float32 -> (n, classes)`` probabilities: the job's front end and model). Memory
depends on the window, block and batch sizes, never on the length of a file.

Written into ``output_dir`` (an existing file is never replaced):

* ``windows.csv``: file, start, end (seconds; the end of the last window is the end of the
  audio), one ``p_<class>`` column per class;
* ``files.csv``: per file its duration, windows, the class probabilities aggregated over its
  windows (``aggregate``: "mean" or "max"), and ``predicted``: the top class (single-label
  jobs; ``top_k`` lists the best ``k`` with their probabilities) or every class at or above its
  threshold (multi-label jobs, ``"; "``-separated, empty for none);
* ``windows.selections.txt``: a Raven selection table, one selection per run of consecutive
  windows in which a class reaches its threshold (score: its highest probability), so the
  results open in Raven or Audacity beside the recording;
* ``skipped.tsv``: file and reason of every file that could not be read (missing, empty,
  corrupt, truncated, all silent); the other files go on.
"""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from modules.data.audio import BadAudioError, audio_info
from modules.jobs import publish_new_file

WINDOWS_CSV = "windows.csv"
FILES_CSV = "files.csv"
RAVEN_TABLE = "windows.selections.txt"
SKIPPED_TSV = "skipped.tsv"
EMBEDDINGS_NC = "embeddings.nc"
OUTPUTS = (WINDOWS_CSV, FILES_CSV, RAVEN_TABLE, SKIPPED_TSV, EMBEDDINGS_NC)
AGGREGATES = ("mean", "max")

PredictFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class PredictionSettings:
    """How windows are cut and read: the job's rate and window, the hop, its classes."""

    sr: int
    window_seconds: float
    hop_seconds: float
    classes: tuple
    thresholds: tuple          # one per class
    multi_label: bool = False
    aggregate: str = "mean"
    top_k: int = 3
    batch_size: int = 32
    silence_threshold_db: float | None = -90.0
    trim_silence_db: float | None = None  # the job's parameters.trim_silence_db

    def __post_init__(self):
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {', '.join(AGGREGATES)}, got "
                             f"{self.aggregate!r}")
        if len(self.thresholds) != len(self.classes):
            raise ValueError(f"{len(self.thresholds)} thresholds for {len(self.classes)} classes")
        if not 1 <= self.top_k:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")


def embedding_model(model):
    """``model`` with two outputs: its embedding (the input of its classification head, the
    last Dense layer: e.g. PANNs' ``fc1`` features, the pooled features of ``baseline_cnn``)
    and its class probabilities.

    Raises:
        ValueError: a model without a Dense head (say which model)."""
    import keras

    heads = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not heads:
        raise ValueError(f"model {model.name!r} has no Dense classification head whose input "
                         f"could be its embedding")
    return keras.Model(model.inputs, [heads[-1].input, model.output], name=model.name)


def model_window_predictor(model, parse, n_classes: int, embeddings: bool = False) -> PredictFn:
    """``parse`` (a job's parse function) and ``model`` over a batch of waveform windows, as a
    job's evaluation runs them; one traced function serves every batch size. With
    ``embeddings`` it returns (probabilities, embeddings) (see :func:`embedding_model`)."""
    import tensorflow as tf

    network = embedding_model(model) if embeddings else model
    infer = tf.function(lambda x: network(x, training=False), reduce_retracing=True)

    def predict(windows):
        windows = tf.constant(np.asarray(windows, np.float32))
        inputs, _ = parse(windows, tf.zeros([windows.shape[0], n_classes]))
        if not embeddings:
            return infer(inputs).numpy()
        vectors, probabilities = infer(inputs)
        return probabilities.numpy(), tf.reshape(vectors, [len(windows), -1]).numpy()

    return predict


class FileResult:
    """What one file gave: its aggregated probabilities, and the runs of windows above
    threshold (as events: onset, offset, label, score), gathered as the windows go by."""

    def __init__(self, path: str, settings: PredictionSettings):
        self.path, self.settings = path, settings
        n = len(settings.classes)
        self.total, self.peak_probability = np.zeros(n), np.zeros(n)
        self.windows, self.duration, self.peak = 0, 0.0, 0.0
        self.open: dict[int, list] = {}     # class -> [onset, offset, score] of a running run
        self.events: list[tuple] = []
        self.embeddings: list[np.ndarray] = []  # (windows, dim) batches, with --embeddings

    def add(self, starts, ends, probabilities, peak: float) -> None:
        self.total += probabilities.sum(axis=0)
        self.peak_probability = np.maximum(self.peak_probability, probabilities.max(axis=0))
        self.windows += len(starts)
        self.peak = max(self.peak, peak)
        above = probabilities >= np.asarray(self.settings.thresholds)
        for start, end, row, hits in zip(starts, ends, probabilities, above):
            for c in range(len(row)):
                run = self.open.get(c)
                if run is not None and (not hits[c] or start > run[1]):
                    self._close(c)
                    run = None
                if hits[c]:
                    if run is None:
                        self.open[c] = [start, end, row[c]]
                    else:
                        run[1], run[2] = end, max(run[2], row[c])

    def _close(self, c: int) -> None:
        onset, offset, score = self.open.pop(c)
        self.events.append((onset, offset, self.settings.classes[c], float(score)))

    def finish(self) -> None:
        for c in list(self.open):
            self._close(c)
        self.events.sort(key=lambda event: (event[0], event[2]))

    def row(self) -> dict:
        """The file's line of files.csv."""
        settings = self.settings
        aggregated = (self.total / max(self.windows, 1) if settings.aggregate == "mean"
                      else self.peak_probability)
        if settings.multi_label:
            predicted = "; ".join(name for name, p, t in zip(settings.classes, aggregated,
                                                             settings.thresholds) if p >= t)
        else:
            order = np.argsort(-aggregated, kind="stable")
            predicted = settings.classes[order[0]]
        row = {"file": self.path, "duration_s": round(self.duration, 6),
               "windows": self.windows, "predicted": predicted}
        if not settings.multi_label:
            row["top_k"] = "; ".join(f"{settings.classes[i]} ({aggregated[i]:.3f})"
                                     for i in order[:settings.top_k])
        row.update({f"p_{name}": float(p) for name, p in zip(settings.classes, aggregated)})
        return row


def _batches(path: str, settings: PredictionSettings, heard: dict):
    """(starts, ends, windows, peak) batches of one file's windows; ``heard["end"]``: where
    its audio ends (seconds), once the file is read."""
    from modules.sed.detect import stream_windows

    starts, ends, audio = [], [], []
    covered = None  # seconds up to which earlier windows reach
    windows = (stream_windows(path, settings.sr, settings.window_seconds, settings.hop_seconds)
               if settings.trim_silence_db is None else trimmed_windows(path, settings))
    for window in windows:
        end = window.start + window.valid / settings.sr
        heard["end"] = end
        # As the job cut its files (modules.data.audio.chunk_audio): a padded last window
        # only when more than half a window of audio is left after the full ones.
        padded = window.valid < len(window.audio)
        if padded and covered is not None and end - covered <= settings.window_seconds / 2 + 1e-9:
            continue  # the stream's last window: it ends the file
        covered = end
        starts.append(window.start)
        ends.append(end)
        audio.append(window.audio)
        if len(audio) == settings.batch_size:
            batch = np.stack(audio)
            yield np.array(starts), np.array(ends), batch, float(np.abs(batch).max())
            starts, ends, audio = [], [], []
    if audio:
        batch = np.stack(audio)
        yield np.array(starts), np.array(ends), batch, float(np.abs(batch).max())


def trimmed_windows(path: str, settings: PredictionSettings):
    """For a job that trims silence: the file decoded whole and trimmed as the job read its
    files, then cut as :func:`~modules.sed.detect.stream_windows` cuts; the start times stay
    the file's. The trim depends on the whole file's peak, so this one is not streamed."""
    from modules.data.audio import loud_span, read_audio
    from modules.sed.detect import Window

    whole = read_audio(path, settings.sr, mono=True, silence_threshold_db=None)
    first, stop = loud_span(whole, settings.trim_silence_db)
    trimmed = whole[first:stop]
    length = int(round(settings.window_seconds * settings.sr))
    hop = int(round(settings.hop_seconds * settings.sr))
    for start in range(0, max(len(trimmed) - length, 0) + hop, hop):
        piece = trimmed[start:start + length]
        window = np.zeros(length, np.float32)
        window[:len(piece)] = piece
        yield Window((first + start) / settings.sr, window, len(piece))
        if start + length >= len(trimmed):
            return


def _expected_windows(path: str, settings: PredictionSettings) -> int | None:
    try:
        seconds = audio_info(path)["duration_s"]
    except BadAudioError:
        return None
    extra = max(0.0, seconds - settings.window_seconds)
    return int(np.ceil(extra / settings.hop_seconds - 1e-9)) + 1


def predict_file(path: str, predict_fn: PredictFn, settings: PredictionSettings,
                 window_rows: csv.writer, progress: bool = True) -> FileResult:
    """Stream one file through ``predict_fn``, writing its windows to ``window_rows``.

    Raises:
        BadAudioError: the file cannot be read, or is all silent.
    """
    result = FileResult(path, settings)
    with tqdm(total=_expected_windows(path, settings), desc=os.path.basename(path),
              unit="window", disable=not progress, leave=False) as bar:
        heard = {"end": 0.0}
        for starts, ends, batch, peak in _batches(path, settings, heard):
            probabilities = predict_fn(batch)
            if isinstance(probabilities, tuple):  # (probabilities, embeddings)
                probabilities, vectors = probabilities
                result.embeddings.append(np.asarray(vectors, np.float32))
            probabilities = np.asarray(probabilities, np.float64)
            if probabilities.shape != (len(batch), len(settings.classes)):
                raise ValueError(f"the model gave {probabilities.shape} for a batch of "
                                 f"{len(batch)} windows and {len(settings.classes)} classes")
            result.add(starts, ends, probabilities, peak)
            for start, end, row in zip(starts, ends, probabilities):
                window_rows.writerow([path, f"{start:.6f}", f"{end:.6f}",
                                      *(f"{p:.9g}" for p in row)])
            bar.update(len(batch))
        result.duration = heard["end"]
    threshold = settings.silence_threshold_db
    if threshold is not None and 20 * np.log10(max(result.peak, 1e-12)) < threshold:
        raise BadAudioError(path, f"all silent (peak below {threshold:g} dBFS)")
    result.finish()
    return result


def refuse_existing(output_dir: Path, names) -> None:
    """FileExistsError naming the outputs that already exist (before anything is read)."""
    existing = [str(output_dir / name) for name in names if (output_dir / name).exists()]
    if existing:
        raise FileExistsError(f"refusing to overwrite {', '.join(existing)}: choose another "
                              f"--output or move them away")


def predict_files(inputs: Sequence, predict_fn: PredictFn, settings: PredictionSettings,
                  output_dir, progress: bool = True,
                  embedding_labels: dict | None = None) -> pd.DataFrame:
    """Predict every file of ``inputs`` (files and folders, as ``spectrain detect`` takes them)
    and write the files of the module docstring. When ``predict_fn`` gives (probabilities,
    embeddings), the embeddings go to ``embeddings.nc`` (:func:`embedding_feature_set`, with
    ``embedding_labels``).

    Returns:
        files.csv as a DataFrame; ``attrs["skipped"]``: (file, reason) of unreadable files.

    Raises:
        FileExistsError: an output file already exists (before anything is read).
        ValueError: no audio files, or ``predict_fn`` giving the wrong shape.
    """
    from modules.sed.detect import audio_files

    files = audio_files(list(inputs))
    if not files:
        raise ValueError(f"no audio files in {', '.join(map(str, inputs))}")
    output_dir = Path(output_dir)
    refuse_existing(output_dir, OUTPUTS)
    output_dir.mkdir(parents=True, exist_ok=True)
    part = output_dir / f".{WINDOWS_CSV}.{os.getpid()}.part"
    one = output_dir / f".{WINDOWS_CSV}.{os.getpid()}.file"
    rows, events, skipped, vectors = [], [], [], []
    try:
        with open(part, "w", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerow(
                ["file", "start", "end", *(f"p_{c}" for c in settings.classes)])
            for path in tqdm(files, desc="predicting", unit="file", disable=not progress):
                result = _one_file(path, predict_fn, settings, one, progress, skipped)
                if result is not None:  # a file that failed half-way leaves no rows
                    rows.append(result.row())
                    events += [(path, *event) for event in result.events]
                    if result.embeddings:
                        vectors.append((path, np.concatenate(result.embeddings)))
                    with open(one) as done:
                        shutil.copyfileobj(done, handle)
        publish_new_file(lambda target: os.replace(part, target), output_dir / WINDOWS_CSV)
    finally:
        part.unlink(missing_ok=True)
        one.unlink(missing_ok=True)
    if vectors:
        features = embedding_feature_set(vectors, embedding_labels, settings)
        publish_new_file(lambda target: features.save(target), output_dir / EMBEDDINGS_NC)
    return _write_summaries(output_dir, rows, events, skipped, settings)


def embedding_feature_set(vectors: list, labels: dict | None, settings: PredictionSettings):
    """The windows' embeddings as a feature set in auDeep's layout (one instance per window:
    filename, chunk_nr = window number, features along ``generated``). ``labels``: file ->
    (label, fold or None) of labelled files; the others are unlabelled. Folds become auDeep's
    cv_folds (fold k: the files of fold k validate), so ``mlp`` / ``svm evaluate`` can run."""
    from modules.representation.dataset import TRAIN, VALID, FeatureSet, make_label_map

    labels = labels or {}
    files = [path for path, block in vectors for _ in range(len(block))]
    known = [labels.get(path, (None, None)) for path in files]
    label_map = make_label_map(sorted({label for label, _ in known if label is not None})) \
        if any(label is not None for label, _ in known) else None
    folds = sorted({fold for _, fold in known if fold is not None})
    cv_folds = np.array([[-1 if fold is None else (VALID if fold == k else TRAIN)
                          for k in folds] for _, fold in known], np.int64).reshape(len(files),
                                                                                  len(folds))
    return FeatureSet(
        filename=np.array(files, dtype=object),
        chunk_nr=np.concatenate([np.arange(len(block)) for _, block in vectors]),
        label_nominal=np.array([label for label, _ in known], dtype=object),
        label_numeric=np.array([-1 if label is None else label_map[label]
                                for label, _ in known], np.int64),
        cv_folds=cv_folds, partition=np.full(len(files), -1, np.int64),
        features=np.concatenate([block for _, block in vectors]), feature_dims=["generated"],
        label_map=label_map,
        metadata={"embeddings": {"window_seconds": settings.window_seconds,
                                 "hop_seconds": settings.hop_seconds, "sr": settings.sr}})


def _one_file(path, predict_fn, settings, rows_path: Path, progress, skipped):
    """One file's windows into ``rows_path``; None, and the reason in ``skipped``, when it
    cannot be read."""
    try:
        with open(rows_path, "w", newline="") as handle:
            return predict_file(path, predict_fn, settings,
                                csv.writer(handle, lineterminator="\n"), progress)
    except BadAudioError as error:
        skipped.append((path, error.reason))
        tqdm.write(f"skipped {path}: {error.reason}")
        return None


def _write_summaries(output_dir: Path, rows, events, skipped, settings) -> pd.DataFrame:
    from modules.sed.annotations import write_raven_table

    files = pd.DataFrame(rows, columns=["file", "duration_s", "windows", "predicted",
                                        *([] if settings.multi_label else ["top_k"]),
                                        *(f"p_{c}" for c in settings.classes)])
    publish_new_file(lambda p: files.to_csv(p, index=False, float_format="%.6f",
                                            lineterminator="\n"), output_dir / FILES_CSV)
    selections = pd.DataFrame(events, columns=["file", "onset", "offset", "label", "score"])
    publish_new_file(lambda p: write_raven_table(selections, p, sr=settings.sr,
                                                 audio_root=output_dir),
                     output_dir / RAVEN_TABLE)
    publish_new_file(lambda p: p.write_text("file\treason\n" + "".join(
        f"{path}\t{reason}\n" for path, reason in skipped)), output_dir / SKIPPED_TSV)
    if skipped:
        tqdm.write(f"{len(skipped)} of {len(rows) + len(skipped)} files skipped (unreadable)")
    files.attrs["skipped"] = skipped
    return files


def predict_feature_sets(paths: Sequence, predict_fn: PredictFn, settings: PredictionSettings,
                         output_dir) -> pd.DataFrame:
    """A feature-vector job over new feature sets (``.nc``, auDeep's layout, e.g. from
    ``t-rae generate`` or ``predict --embeddings``): ``windows.csv`` has one row per instance
    (file, chunk, ``p_<class>``), ``files.csv`` one per file name, aggregated as for audio.

    Raises:
        FileExistsError: an output exists; FeatureSetError (a ValueError): a set that cannot be
            read, or whose vectors do not have the job's width.
    """
    from modules.representation.dataset import FeatureSet

    output_dir = Path(output_dir)
    refuse_existing(output_dir, (WINDOWS_CSV, FILES_CSV))
    windows, rows = [], []
    for path in paths:
        features = FeatureSet.load(path).flattened()
        for name in dict.fromkeys(features.filename):
            chosen = np.flatnonzero(features.filename == name)
            probabilities = np.asarray(predict_fn(features.features[chosen]), np.float64)
            result = FileResult(str(name), settings)
            result.add(features.chunk_nr[chosen], features.chunk_nr[chosen] + 1, probabilities,
                       1.0)
            windows += [[str(name), int(chunk), *row] for chunk, row in
                        zip(features.chunk_nr[chosen], probabilities)]
            rows.append({key: value for key, value in result.row().items()
                         if key != "duration_s"})
    output_dir.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(windows, columns=["file", "chunk", *(f"p_{c}" for c in
                                                             settings.classes)])
    publish_new_file(lambda p: table.to_csv(p, index=False, float_format="%.9g",
                                            lineterminator="\n"), output_dir / WINDOWS_CSV)
    files = pd.DataFrame(rows)
    publish_new_file(lambda p: files.to_csv(p, index=False, float_format="%.6f",
                                            lineterminator="\n"), output_dir / FILES_CSV)
    return files
