"""A finished job seen by the explanation methods: its best model, its front end, its examples.

Everything comes from the job folder, opened as a :class:`modules.job_folder.Job`, and is
decoded through the same pipeline and parse function as training and replay
(:func:`modules.tasks.classification.decode_part`), so an explanation is about exactly the
inputs the model was evaluated on.
Example ``i`` is row ``i`` of the job's ``predictions.csv`` (validation examples in file order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from modules.errors import UserError


class ExplainError(UserError, ValueError):
    """A job or request the explanation methods cannot work with; the message says why."""


@dataclass
class JobExamples:
    """Decoded examples of one part of a job, in dataset order."""

    audio: np.ndarray          # (n, samples) waveform chunks at the job's sample rate
    inputs: np.ndarray         # (n, ...) model inputs (the parse function's output)
    labels: np.ndarray         # (n, classes) targets
    paths: list                # (n,) source file of each example
    chunk_index: np.ndarray    # (n,) chunk of the file
    positions: np.ndarray      # (n,) example number in the part (row of predictions.csv)

    def __len__(self) -> int:
        return len(self.inputs)


class ExplainableJob:
    """Load a job folder for explanation (see the module docstring)."""

    def __init__(self, job_dir, progress: bool = True):
        from modules.job_folder import Job, JobFolderError
        from modules.models.finetune import output_activation

        try:
            self.job = Job(job_dir)
        except JobFolderError as error:
            raise ExplainError(str(error)) from None
        self.path, self.params, self.info = self.job.path, self.job.params, self.job.info
        self.class_names = self.job.class_names
        if self.job.feature_vectors:
            raise ExplainError(f"{self.path} trains on feature vectors (learned "
                               f"representations): there is no spectrogram or sound to explain")
        if not self.job.task.explains:
            raise ExplainError(f"{self.path} is a {self.job.task.name!r} job; explanations are "
                               f"for classification jobs")
        self.parse = self.job.parse
        self.model = self.job.model
        self.multi_label = output_activation(self.model) == "sigmoid"
        self.progress = progress
        self._scores_and_probabilities = None
        self._predictions = None

    # -- the model -------------------------------------------------------------------------------
    @property
    def takes_images(self) -> bool:
        """True when the model reads spectrogram images (bins, frames, channels)."""
        return len(self.model.input_shape) == 4

    def require_images(self, method: str) -> None:
        if not self.takes_images:
            raise ExplainError(
                f"{method} explains spectrogram inputs, and {self.model.name} reads waveforms "
                f"{tuple(self.model.input_shape[1:])} through its own front end; use "
                f"--method gradcam for it")

    def model_inputs(self, audio: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """The job's parse function on waveform chunks (n, samples), batched."""
        import tensorflow as tf

        audio = np.asarray(audio, np.float32)
        parts = []
        for start in range(0, len(audio), batch_size):
            batch = tf.constant(audio[start:start + batch_size])
            labels = tf.zeros([batch.shape[0], len(self.class_names)])  # unused by parsing
            parts.append(np.asarray(self.parse(batch, labels)[0]))
        if not parts:
            return np.zeros((0, *self.params.shape), np.float32)
        return np.concatenate(parts)

    def silence_input(self) -> np.ndarray:
        """The model input of a silent chunk: the natural "nothing there" baseline."""
        samples = int(round(self.params.audio_length * self.params.sr))
        return self.model_inputs(np.zeros((1, samples), np.float32))[0]

    def scores_and_probabilities(self, inputs, batch_size: int = 32):
        """(pre-activation class scores, model outputs) for model inputs, batched."""
        import keras

        from modules.interpret.gradcam import score_output

        if self._scores_and_probabilities is None:
            self._scores_and_probabilities = keras.Model(
                self.model.input, [score_output(self.model), self.model.output])
        scores, probabilities = [], []
        for start in range(0, len(inputs), batch_size):
            s, p = self._scores_and_probabilities(np.asarray(inputs[start:start + batch_size]),
                                                  training=False)
            scores.append(np.asarray(s))
            probabilities.append(np.asarray(p))
        if not scores:
            n = len(self.class_names)
            return np.zeros((0, n), np.float32), np.zeros((0, n), np.float32)
        return np.concatenate(scores), np.concatenate(probabilities)

    def classify_audio(self, audio, batch_size: int = 32):
        """(scores, probabilities) of waveform chunks (n, samples), through the job's front end."""
        return self.scores_and_probabilities(self.model_inputs(audio, batch_size), batch_size)

    # -- the data --------------------------------------------------------------------------------
    def table(self, part: str) -> pd.DataFrame:
        from modules.job_folder import JobFolderError

        try:
            return self.job.table(part)
        except JobFolderError as error:
            raise ExplainError(str(error)) from None

    def examples(self, part: str = "validation", positions: Optional[Sequence[int]] = None,
                 description: Optional[str] = None) -> JobExamples:
        """Decode the examples at ``positions`` of ``part`` (None: all of them).

        Only the files that hold the wanted examples are decoded; positions are example numbers
        in the part's dataset order (for validation: rows of ``predictions.csv``)."""
        from modules.pipeline import AudioConfig, SkippedFiles, fill_cache
        from modules.tasks.classification import decode_part

        table = self.table(part)
        params = self.params
        audio_config = AudioConfig.from_parameters(params, table["path"])
        wanted_files = None
        if positions is not None:
            positions = np.asarray(positions, dtype=int)
            index = self._example_index(part, table)
            bad = positions[(positions < 0) | (positions >= len(index))]
            if len(bad):
                raise ExplainError(f"example {int(bad[0])} does not exist: the {part} part has "
                                   f"{len(index)} examples (0..{len(index) - 1})")
            wanted_files = sorted(set(index["file_index"].to_numpy()[positions].tolist()))
        files = table if wanted_files is None else table.iloc[wanted_files].reset_index(drop=True)
        decoded = decode_part(files, params, self.class_names, SkippedFiles(), "none",
                              audio_config)
        meta = fill_cache(decoded, len(files), description or f"decoding {part} audio",
                          self.progress, keep_audio=True)
        # example number of every decoded chunk in the whole part
        if wanted_files is None:
            numbers = np.arange(len(meta["label"]))
        else:
            index = self._example_index(part, table)
            lookup = {(int(f), int(c)): i for i, (f, c) in enumerate(
                zip(index["file_index"], index["chunk_index"]))}
            numbers = np.array([lookup.get((wanted_files[int(f)], int(c)), -1)
                                for f, c in zip(meta["file_index"], meta["chunk_index"])])
        keep = np.arange(len(numbers)) if positions is None else np.array(
            [int(np.flatnonzero(numbers == p)[0]) for p in positions])
        audio = meta["audio"][keep]
        return JobExamples(audio=audio, inputs=self.model_inputs(audio),
                           labels=meta["label"][keep],
                           paths=[str(files["path"].iloc[int(meta["file_index"][k])])
                                  for k in keep],
                           chunk_index=meta["chunk_index"][keep],
                           positions=numbers[keep] if positions is None else positions)

    def _example_index(self, part: str, table: pd.DataFrame) -> pd.DataFrame:
        """(file_index, chunk_index) of every example of the part: from predictions.csv for
        validation; otherwise by decoding (slow, but only needed to pick training examples)."""
        if part == "validation" and (self.path / "predictions.csv").is_file():
            return self.predictions()[["file_index", "chunk_index"]]
        raise ExplainError(f"choosing single examples needs {self.path / 'predictions.csv'}; "
                           f"explain the whole {part} part instead")

    def default_positions(self, per_class: int = 1) -> list[int]:
        """A spread of validation examples: the first ``per_class`` of each true class."""
        chosen = []
        for _, rows in self.predictions().groupby("true_index", sort=True):
            chosen.extend(rows.index[:per_class].tolist())
        return sorted(chosen)

    def predictions(self) -> pd.DataFrame:
        """The job's ``predictions.csv`` (read once)."""
        if self._predictions is None:
            self._predictions = pd.read_csv(self.path / "predictions.csv")
        return self._predictions

