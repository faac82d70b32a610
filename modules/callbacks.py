"""The job's own Keras callbacks: the epoch clock, the best-model checkpoint and the per-epoch
resume state."""

from __future__ import annotations

import os
from pathlib import Path

import keras

from modules.resume import RESUME_FILE, EpochClock, ResumeState, save_resume_state


class SetEpochClock(keras.callbacks.Callback):
    """The job's first callback: tells the training sets which epoch Keras starts."""

    def __init__(self, clock: EpochClock):
        super().__init__()
        self.clock = clock

    def on_epoch_begin(self, epoch, logs=None):
        self.clock.epoch = int(epoch)


class EpochCSVLogger(keras.callbacks.CSVLogger):
    """``history.csv`` with epochs counted from 1, as the report, metrics.json and MLflow count
    them (Keras counts from 0)."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the model whenever ``monitor`` improves (strictly), through a temporary file and an
    atomic rename: a job killed while saving keeps its previous best model whole."""

    def __init__(self, path: Path, monitor: str, direction: str):
        super().__init__()
        self.path, self.monitor, self.direction = Path(path), monitor, direction
        self.best = None
        self.best_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            return
        current = float(current)
        if self.best is not None and not (current < self.best if self.direction == "min"
                                          else current > self.best):
            return
        self.best, self.best_epoch = current, epoch
        temporary = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp.keras")
        self.model.save(temporary)
        os.replace(temporary, self.path)


class SaveResumeState(keras.callbacks.Callback):
    """The job's last callback: saves the resume state (:mod:`modules.resume`) after every
    epoch, and on a resumed job sets ``others`` (the callbacks before it) back to their saved
    state once their own ``on_train_begin`` has reset them."""

    def __init__(self, job_dir: Path, others: list, resumed: ResumeState | None = None):
        super().__init__()
        self.path = Path(job_dir) / RESUME_FILE
        self.others, self.resumed = list(others), resumed

    def on_train_begin(self, logs=None):
        if self.resumed is not None:
            self.resumed.restore_callbacks(self.others)

    def on_epoch_end(self, epoch, logs=None):
        save_resume_state(self.path, self.model, epoch + 1, bool(self.model.stop_training),
                          self.others)
