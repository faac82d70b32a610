"""The sound of an example in the job report: the very window the model was evaluated on, cut
from the source recording with the job's own reading (decoded-audio cache, resampling, silence
trimming) and windowing (:func:`modules.data.audio.decode_to_chunks`), written as Ogg Vorbis
under ``report_files/audio/``.

Example files are matched to their validation row through ``predictions.csv``: tp/fp/fn PNGs
are ``<class>__<recording>_chunk<k>.png`` and Grad-CAM PNGs ``<recording>_chunk<k>.png``
(:func:`modules.reports.example_name`); ``spectrain explain`` files start with the row's
position (:func:`modules.interpret.outputs.example_name`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from modules.data.audio import BadAudioError, decode_to_chunks, pack_reference
from modules.reports import example_name

EXPLAINED = re.compile(r"^(?P<position>\d{4,})-")


class WindowUnavailable(Exception):
    """Why an example's window cannot be played (its recording is gone, unreadable...)."""


def source_exists(path: str) -> bool:
    """Whether a validation path can still be read: a file, or a waveform pack's row."""
    reference = pack_reference(path)
    return Path(reference[0] if reference else path).is_file()


class SourceRecord:
    """``validation_files.csv``: the size and fingerprint of each validation file when the
    job ran, so that a recording changed since is not played as the one the model heard."""

    def __init__(self, job_dir: Path):
        import csv

        from modules.data.fingerprints import RECORD_NAME

        self.rows: dict[str, tuple[int, str]] = {}
        path = Path(job_dir) / RECORD_NAME
        if path.is_file():  # older jobs have no record: nothing to compare
            with open(path, newline="", encoding="utf-8") as handle:
                self.rows = {row["path"]: (int(row["size"]), row["fingerprint"])
                             for row in csv.DictReader(handle)}

    def change(self, path: str) -> str | None:
        """How ``path``'s file differs from the recorded one, or None (same, or not recorded)."""
        from modules.data.fingerprints import fingerprint

        reference = pack_reference(path)
        file = reference[0] if reference else path
        size, recorded = self.rows.get(file, (-1, ""))
        if size < 0:
            return None
        now = os.path.getsize(file)
        if now != size:
            return f"its size was {size} bytes, now {now}"
        if fingerprint(file, ends=recorded.startswith("blake2b-ends:")) != recorded:
            return "same size, different content"
        return None


def evaluated_window(params, path: str, chunk_index: int) -> np.ndarray:
    """Chunk ``chunk_index`` of ``path`` exactly as the job's pipeline gives it (float32,
    ``audio_length * sr`` samples). Raises :class:`WindowUnavailable`."""
    return window_of(evaluated_windows(params, path), path, chunk_index)


def window_of(chunks: np.ndarray, path: str, chunk_index: int) -> np.ndarray:
    if not 0 <= chunk_index < len(chunks):
        raise WindowUnavailable(f"{path} has {len(chunks)} windows now, no window "
                                f"{chunk_index}: it changed since the job ran")
    return chunks[chunk_index]


def evaluated_windows(params, path: str) -> np.ndarray:
    """Every window of ``path`` as the job's pipeline cuts it: (windows, samples) float32.
    Raises :class:`WindowUnavailable`."""
    from modules.data.feature_sets import feature_reference
    from modules.pipeline import AudioConfig, job_reader

    if feature_reference(path):
        raise WindowUnavailable("a feature vector, not audio")
    if not source_exists(path):
        raise WindowUnavailable(f"source audio {path} is gone")
    audio = AudioConfig.from_parameters(params, [path])
    chunks, _, error = decode_to_chunks(path, audio.sr, audio.audio_length, audio.step_size,
                                        audio.chunking, audio.silence_threshold_db,
                                        job_reader(audio))
    if error:
        raise WindowUnavailable(f"source audio {path} cannot be read: {error}")
    return chunks


def sed_window(params, path: str, start_s: float) -> np.ndarray:
    """A sound event detection job's validation window of ``path`` starting at ``start_s``,
    read as :class:`modules.sed.windows.RandomWindows` reads it (no silence check, zero-padded
    at the end)."""
    from modules.data.audio import read_audio

    if not source_exists(path):
        raise WindowUnavailable(f"source audio {path} is gone")
    try:
        audio = read_audio(path, params.sr, mono=True, silence_threshold_db=None)
    except BadAudioError as error:
        raise WindowUnavailable(f"source audio {path} cannot be read: {error.reason}") from None
    length = int(round(params.audio_length * params.sr))
    start = int(round(start_s * params.sr))
    window = np.zeros(length, np.float32)
    piece = audio[start:start + length]
    window[:len(piece)] = piece
    return window


def write_ogg(audio: np.ndarray, sr: int, path: Path) -> None:
    """``audio`` as Ogg Vorbis (a few kB a second), written under a temporary name first."""
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp.ogg")
    # Vorbis takes [-1, 1]; a window louder than that (resampling overshoot) is clipped only here
    soundfile.write(str(temporary), np.clip(audio, -1.0, 1.0), int(sr), format="OGG",
                    subtype="VORBIS")
    os.replace(temporary, path)


class ExampleIndex:
    """The job's ``predictions.csv`` rows, found by the names of the files drawn from them."""

    def __init__(self, predictions: pd.DataFrame | None):
        self.table = predictions
        self.by_name: dict[str, list[int]] = {}
        if predictions is not None:
            for position, row in enumerate(predictions.itertuples(index=False)):
                self.by_name.setdefault(example_name(row), []).append(position)

    @classmethod
    def of_job(cls, job_dir: Path) -> "ExampleIndex":
        path = Path(job_dir) / "predictions.csv"
        if not path.is_file():
            return cls(None)
        from modules.tasks.common import read_table

        return cls(read_table(path))

    def row(self, position: int):
        if self.table is None or not 0 <= position < len(self.table):
            return None
        return self.table.iloc[position]

    def outcome_example(self, kind: str, image: Path):
        """The row of a tp/fp/fn PNG (``kind``), or None."""
        label, _, name = image.stem.partition("__")
        candidates = [self.table.iloc[p] for p in self.by_name.get(name, [])]
        right = [row for row in candidates if _fits(row, kind, label)]
        return (right or candidates or [None])[0]

    def expected_outcomes(self, class_names, per_class: int) -> dict[str, list[tuple]]:
        """``{kind: [(file name, row), ...]}``: the tp/fp/fn images the job drew, chosen as
        :func:`modules.reports.select_examples` chose them."""
        from modules.reports import outcome_sets, select_examples

        if self.table is None or "true_index" not in self.table:
            return {}
        table = self.table.astype({"true_index": int, "predicted_index": int})
        chosen = select_examples(outcome_sets(table, class_names), per_class)
        return {kind: [(f"{file_label(name)}__{example_name(self.table.iloc[position])}.png",
                        self.table.iloc[position]) for position, name in items]
                for kind, items in chosen.items()}

    def gradcam_example(self, image: Path):
        candidates = self.by_name.get(image.stem, [])
        return self.table.iloc[candidates[0]] if candidates else None

    def explained_example(self, file: Path):
        """The row of a ``spectrain explain`` output (its name starts with the position)."""
        match = EXPLAINED.match(file.name)
        return self.row(int(match["position"])) if match else None


def _fits(row, kind: str, label: str) -> bool:
    """Whether ``row`` is a ``kind`` example of the class written as ``label``."""
    correct = row["true"] == row["predicted"]
    if kind == "tp":
        return correct and file_label(row["true"]) == label
    if kind == "fp":
        return not correct and file_label(row["predicted"]) == label
    return not correct and file_label(row["true"]) == label


def file_label(name: str) -> str:
    """A class name as :func:`modules.reports.write_example_plots` writes it in a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_")[:80]
