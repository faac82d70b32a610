"""The global parameters object that trainers configure before each ``launch_job``.

Only trainers and ``launch_job`` touch the module-level ``parameters``; ``launch_job`` hands a
frozen copy (``parameters.freeze()``) down to library code, which reads it but never changes it.
A misspelt name or a value of the wrong type fails at the line that sets it.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Optional

from modules.errors import UserError


class ParameterError(UserError, AttributeError):
    """An unknown parameter name, or a value of the wrong type."""


# The values of ``split``: modules.data.splits.SPLIT_METHODS (a test keeps them equal; this
# module imports nothing of the library but modules.errors).
SPLIT_CHOICES = ("auto", "fold", "group", "official", "official_patients", "random", "split")
LR_SCHEDULE_CHOICES = ("plateau", "cosine")
# "multi_worker" is a known value so that asking for it gets the reason it is refused
# (modules.distribute), not "did you mean mirrored?"
DISTRIBUTE_CHOICES = ("none", "mirrored", "multi_worker")
CHOICES = {"split": SPLIT_CHOICES, "lr_schedule": LR_SCHEDULE_CHOICES,
           "distribute": DISTRIBUTE_CHOICES}


@dataclass
class Parameters:
    # --- what and where ---------------------------------------------------------------------
    mode: str = ""  # task family; names cache/<mode>/. Empty: the trainer's folder name.
    description: str = ""
    cache_root: str = "cache"
    data_root: str = "data"  # where datasets are fetched when ../shared has none
    tracking_uri: Optional[str] = None  # None: sqlite store under cache_root
    # "": classes are the datasets' labels; "pneumonia" (binary, from the diagnosis) or "cw"
    # (none/crackle/wheeze/both, from annotated respiratory cycles) for respiratory datasets;
    # "sed": sound event detection on `spectrain clips` folders (framewise targets);
    # "multilabel": every class of a clip (weak-label lists, multi-label packs), sigmoid heads
    task: str = ""
    job_id: Optional[int] = None  # set by launch_job; in replays, the job to replay
    # --- audio ------------------------------------------------------------------------------
    sr: int = 22050
    audio_length: float = 5.0  # seconds per example (chunk)
    step_size: float = 5.0  # seconds between chunk starts
    chunking: str = "chunk"  # "chunk": windows of audio_length every step_size; "fixed": pad/trim
    # training examples: one random window of audio_length per file and epoch (seeded by seed,
    # epoch and file) instead of the fixed chunks; validation keeps the chunks
    random_crops: bool = False
    silence_threshold_db: float = -90.0  # peak below this (dBFS) counts as an all-silent file
    # leading and trailing samples this many dB below a file's peak (e.g. -60) are cut before
    # windows and crops are cut: ESC-50 pads short events with silence to 5 s, and a window of
    # padding would carry the event's label. None: files are used whole
    trim_silence_db: Optional[float] = None
    # task "cw": an annotated cycle labels a chunk when it overlaps the chunk by at least
    # overlap_threshold * audio_length seconds
    overlap_threshold: float = 0.2
    # task "sed": a window of audio_length seconds has event_bins frame targets per class; an
    # activity above sed_threshold is an event
    event_bins: int = 10
    sed_threshold: float = 0.5
    sed_clip_weight: float = 0.0  # weight of a clip-level term (max over the bins) in the loss
    # task "multilabel": a class is predicted present when its probability reaches this
    multilabel_threshold: float = 0.5
    # --- front end --------------------------------------------------------------------------
    spectrogram: str = "logmel"  # "logmel", "mfcc" or "stft"
    n_fft: int = 2048
    window: Optional[int] = None  # window length in samples; None: n_fft
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: Optional[float] = None  # None: sr / 2
    n_mfcc: int = 40
    power: float = 2.0
    amin: float = 1e-10
    top_db: Optional[float] = 80.0
    clip_below: Optional[float] = None  # absolute dB floor, applied after top_db
    shape: Optional[tuple] = None  # model input shape; None: derived from the parse function
    # --- data split -------------------------------------------------------------------------
    # "auto", "fold", "group" (patients/recordings never on both sides), "random", "split" (a
    # split column), "official" (the dataset's own split as published, e.g. ICBHI's, even with
    # patients on both sides; the rest split by group) or "official_patients" (the same, each
    # patient on both sides moved to the side holding most of its recordings, ties to train)
    split: str = "auto"
    validation_fold: Optional[int] = 1  # "fold": this fold; "group": this of the n_folds folds
    # "fold"/"group": this fold is a held-out test part, evaluated once with the best model after
    # training (split "split" takes the rows whose split is "test"); None: no test fold
    test_fold: Optional[int] = None
    validation_size: float = 0.2
    n_folds: Optional[int] = None  # "group": k-fold over groups; None: round(1 / validation_size)
    # one launch_job runs every fold (split "fold": the dataset's folds; "group": n_folds) as its
    # own job, then a summary folder cv<N> beside them (modules.cross_validation)
    cross_validate: bool = False
    n_classes: Optional[int] = None  # None: derived from the data
    data_cache: str = "memory"  # decoded-audio cache: "memory", "disk" or "none"
    # decoded, resampled waveforms kept under <cache_root>/decoded/ for every later job, fold
    # and replay (modules.data.decoded_cache); delete that folder to clear it
    decoded_cache: bool = True
    # --- training ---------------------------------------------------------------------------
    n_epochs: int = 50
    lr: float = 1e-3
    batch_size: int = 32
    # what early stopping, LR reduction and best model follow; classification jobs may follow
    # a file-level number too: "val_file_accuracy" or "val_file_balanced_accuracy" (the
    # validation windows' probabilities averaged over each file)
    target_metric: str = "val_loss"
    es_patience: int = 10
    min_delta: float = 1e-4
    factor: float = 0.5
    lr_patience: int = 4
    min_lr: float = 1e-6
    # "plateau": lr times factor after lr_patience epochs without progress; "cosine": a linear
    # warm-up over warmup_epochs, then a cosine decay from lr to min_lr at the last epoch
    lr_schedule: str = "plateau"
    warmup_epochs: int = 0
    class_weights: bool = False
    oversample: bool = False  # repeat minority-class training examples up to the largest class
    # fine-tuning: a .keras model (converted checkpoint or a job's best_model.keras) whose weights
    # initialise the job's model; the head is re-initialised when n_classes differs
    pretrained_path: Optional[str] = None
    freeze_base: bool = False  # train only the new head
    seed: int = 42
    deterministic: bool = True  # tf op determinism: replays and reruns give identical numbers
    # --- scaling out (README: "Scaling out and resuming") ----------------------------------
    # "none": one device; "mirrored": tf.distribute.MirroredStrategy over every visible GPU, with
    # batch_size the global batch (split across them); "multi_worker" is refused (Keras 3 fit
    # under MultiWorkerMirroredStrategy is broken upstream, keras-team/keras#20585)
    distribute: str = "none"
    ray_cpus: float = 1.0  # CPUs a job asks of Ray under `--parallel` / `--ray-address`
    ray_gpus: float = 0.0  # GPUs a job asks of Ray (fractions share a GPU)
    # --- testing mode -----------------------------------------------------------------------
    testing: bool = False  # 2 epochs on a small subset; job folder suffix "_testing"
    testing_epochs: int = 2
    testing_files_per_class: int = 4  # per class and per split
    # --- reports ----------------------------------------------------------------------------
    n_example_plots: int = 5  # spectrogram PNGs per class in each of tp/, fp/, fn/
    n_gradcam: int = 8  # validation clips with Grad-CAM overlays

    # ------------------------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        if getattr(self, "_frozen", False):
            raise ParameterError(
                f"these parameters are a frozen snapshot; set '{name}' on the global "
                "`parameters` in the trainer, before launch_job"
            )
        hints = _type_hints()
        if name not in hints:
            raise ParameterError(_unknown_name_message(name, hints))
        value = _check_type(name, value, hints[name])
        if name in CHOICES and value not in CHOICES[name]:
            raise ParameterError(_unknown_choice_message(name, value, CHOICES[name]))
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: a misspelt read gets the same help as a write.
        if name.startswith("_"):
            raise AttributeError(name)
        raise ParameterError(_unknown_name_message(name, _type_hints()))

    # ------------------------------------------------------------------------------------------
    @property
    def samples_per_example(self) -> int:
        return int(round(self.audio_length * self.sr))

    @property
    def window_length(self) -> int:
        return self.window or self.n_fft

    def update(self, **values: Any) -> "Parameters":
        for name, value in values.items():
            setattr(self, name, value)
        return self

    def reset(self) -> None:
        """Back to the defaults (a trainer may call it between job blocks)."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, _default(f))

    def snapshot(self) -> dict:
        """A plain, JSON-ready dict of every field."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else copy.deepcopy(value)
        return out

    def freeze(self) -> "Parameters":
        """A read-only copy to hand to library code."""
        frozen = Parameters.from_snapshot(self.snapshot())
        object.__setattr__(frozen, "_frozen", True)
        return frozen

    @classmethod
    def from_snapshot(cls, snapshot: dict, strict: bool = True) -> "Parameters":
        """Rebuild from ``snapshot()`` (e.g. a job's params.json).

        With ``strict=False`` names this version does not know are ignored, so an old job folder
        still loads after a field was retired.
        """
        params = cls()
        hints = _type_hints()
        for name, value in snapshot.items():
            if name not in hints and not strict:
                continue
            setattr(params, name, value)
        return params

    @classmethod
    def load(cls, path, strict: bool = False) -> "Parameters":
        with open(path) as handle:
            return cls.from_snapshot(json.load(handle), strict=strict)

    def save(self, path) -> None:
        with open(path, "w") as handle:
            json.dump(self.snapshot(), handle, indent=2, sort_keys=True)
            handle.write("\n")

    def __repr__(self) -> str:
        changed = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != _default(f)
        }
        return f"Parameters({', '.join(f'{k}={v!r}' for k, v in changed.items())})"


# ----------------------------------------------------------------------------------------------
_HINTS: dict = {}


def _type_hints() -> dict:
    if not _HINTS:
        _HINTS.update(typing.get_type_hints(Parameters))
    return _HINTS


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def _unknown_name_message(name: str, hints: dict) -> str:
    close = difflib.get_close_matches(name, list(hints), n=3, cutoff=0.6)
    if close:
        return f"unknown parameter '{name}': did you mean {' or '.join(close)}?"
    return f"unknown parameter '{name}'; valid names: {', '.join(sorted(hints))}"


def _unknown_choice_message(name: str, value: Any, choices: tuple) -> str:
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"parameter '{name}' is one of {', '.join(choices)}, got {value!r}{hint}"


def _check_type(name: str, value: Any, hint: Any) -> Any:
    allowed = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if value is None:
        if type(None) in allowed:
            return None
        raise ParameterError(f"parameter '{name}' cannot be None")
    for kind in allowed:
        if kind is type(None):
            continue
        if kind is bool:
            if isinstance(value, bool):
                return value
        elif kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif kind is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        elif kind is tuple:
            if isinstance(value, (tuple, list)) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            ):
                return tuple(value)
        elif isinstance(value, kind):
            return value
    names = " or ".join(getattr(k, "__name__", str(k)) for k in allowed if k is not type(None))
    raise ParameterError(
        f"parameter '{name}' takes {names}, got {type(value).__name__} {value!r}"
    )


parameters = Parameters()
