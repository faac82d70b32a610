"""Waveform (time-domain) augmentations with explicit seeds, safe to call from many threads.

These run inside tf.data worker threads (through ``tf.numpy_function``), several at once, so
no transform here ever uses or reseeds the global ``random`` / ``np.random`` state:

* ``draw(rng, samples, sample_rate)`` takes every random decision from the
  ``numpy.random.Generator`` it is given and returns them as a plain, JSON-serialisable dict
  (always with ``"should_apply"``);
* ``apply(samples, sample_rate, parameters)`` is pure: the same inputs give the same output.
  It never mutates the input, and always returns a new float32, 1-D array of the input's length;
* ``__call__(samples, sample_rate, rng)`` is ``draw`` then ``apply``; ``rng`` may be an int seed.

The DSP comes from audiomentations 0.43.1 where its ``apply`` is deterministic given its
``parameters`` dict (PitchShift, TimeStretch, Gain, Shift): each call works on a ``copy.copy``
of a transform built once in the constructor, sets ``.parameters`` on that copy only, and calls
its ``.apply``; audiomentations' own ``randomize_parameters`` / ``__call__`` (which use the
global ``random`` module) are never called. AddGaussianSNR's ``apply`` draws from the global
``np.random``, so ``AddGaussianNoise`` makes its noise here from a seed drawn by ``draw``;
``AddBackgroundNoise`` is implemented here too (soundfile + soxr).
"""

from __future__ import annotations

import copy
import difflib
import inspect
import math
import numbers
import os
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import soxr
from audiomentations import Gain, PitchShift, Shift, TimeStretch
from audiomentations.core.utils import calculate_desired_noise_rms

__all__ = [
    "AddBackgroundNoise",
    "AddGaussianNoise",
    "ChangeGain",
    "NOISE_FILE_EXTENSIONS",
    "ShiftPitch",
    "ShiftTime",
    "StretchTime",
    "WAVEFORM_TRANSFORMS",
    "WaveformTransform",
    "add_gaussian_noise",
    "change_gain",
    "resolve_transform",
    "shift_pitch",
    "shift_time",
    "stretch_time",
    "transform_from_config",
]

NOISE_FILE_EXTENSIONS = (".flac", ".ogg", ".wav")

# Extra source frames read around a noise segment that gets resampled, so the resampler's
# output covers the whole clip.
_RESAMPLE_MARGIN_FRAMES = 64


# --- validation helpers -----------------------------------------------------------------------

def _number(name: str, value: Any, low: float, high: float) -> float:
    """``value`` as a float in [low, high], or a ValueError naming ``name`` and the range."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or not low <= value <= high):
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def _ordered(min_name: str, min_value: float, max_name: str, max_value: float) -> None:
    if min_value > max_value:
        raise ValueError(f"{min_name} ({min_value}) must not be greater than "
                         f"{max_name} ({max_value})")


def _as_generator(rng: Any) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng seed must be a non-negative integer, got {rng!r}")
        return np.random.default_rng(int(rng))
    raise TypeError("rng must be a numpy.random.Generator or a non-negative int seed, "
                    f"got {type(rng).__name__}")


def _as_waveform(samples: Any) -> np.ndarray:
    """A float32, C-contiguous, 1-D view or copy of ``samples`` (never modified in place)."""
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"samples must be a 1-D (mono) array, got shape {samples.shape}")
    return samples


def _check_sample_rate(sample_rate: Any) -> int:
    if (isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral)
            or sample_rate <= 0):
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    return int(sample_rate)


def _required(parameters: dict, *keys: str) -> list:
    missing = [key for key in keys if key not in parameters]
    if missing:
        raise ValueError(f"parameters lack {', '.join(map(repr, missing))}; "
                         f"got keys {sorted(parameters)}")
    return [parameters[key] for key in keys]


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0


# --- base class -------------------------------------------------------------------------------

class WaveformTransform:
    """One random waveform augmentation. Subclasses implement ``_draw`` and ``_apply``."""

    name: str = ""

    def __init__(self, p: float = 1.0):
        self.p = _number("p", p, 0.0, 1.0)

    # Subclass hooks -------------------------------------------------------------------------
    def _draw(self, rng: np.random.Generator, samples: np.ndarray, sample_rate: int) -> dict:
        return {}

    def _apply(self, samples: np.ndarray, sample_rate: int, parameters: dict) -> np.ndarray:
        raise NotImplementedError

    # Public interface -----------------------------------------------------------------------
    def draw(self, rng: np.random.Generator, samples: np.ndarray, sample_rate: int) -> dict:
        """Random parameters for one call; the rest are drawn only when ``should_apply``."""
        rng = _as_generator(rng)
        samples = _as_waveform(samples)
        sample_rate = _check_sample_rate(sample_rate)
        parameters = {"should_apply": bool(rng.random() < self.p)}
        if parameters["should_apply"]:
            parameters.update(self._draw(rng, samples, sample_rate))
        return parameters

    def apply(self, samples: np.ndarray, sample_rate: int, parameters: dict) -> np.ndarray:
        """Pure: a new float32 1-D array of the input's length. A missing ``should_apply``
        counts as True; with ``should_apply`` False the result is a copy of the input."""
        samples = _as_waveform(samples)
        sample_rate = _check_sample_rate(sample_rate)
        if not isinstance(parameters, dict):
            raise TypeError(f"parameters must be a dict, got {type(parameters).__name__}")
        if not parameters.get("should_apply", True) or samples.size == 0:
            return samples.copy()
        out = np.asarray(self._apply(samples, sample_rate, parameters), dtype=np.float32)
        out = out.reshape(-1)
        if out.shape[0] != samples.shape[0]:  # safety net: pad with zeros or crop
            fixed = np.zeros_like(samples)
            fixed[: min(out.shape[0], samples.shape[0])] = out[: samples.shape[0]]
            out = fixed
        if np.may_share_memory(out, samples):
            out = out.copy()
        return out

    def __call__(self, samples: np.ndarray, sample_rate: int, rng: Any) -> np.ndarray:
        rng = _as_generator(rng)
        samples = _as_waveform(samples)
        return self.apply(samples, sample_rate, self.draw(rng, samples, sample_rate))

    def get_config(self) -> dict:
        """The constructor arguments (JSON-serialisable); ``type(t)(**t.get_config())`` is t."""
        signature = inspect.signature(type(self).__init__)
        return {key: getattr(self, key) for key in signature.parameters if key != "self"}

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self)))

    @staticmethod
    def _run_audiomentations(transform, samples: np.ndarray, sample_rate: int,
                             **parameters) -> np.ndarray:
        """Apply an audiomentations transform with exactly these parameters, thread-safely:
        the shared instance is never mutated, only a shallow per-call copy."""
        local = copy.copy(transform)
        local.parameters = {"should_apply": True, **parameters}
        return local.apply(samples, sample_rate)


# --- transforms -------------------------------------------------------------------------------

class ShiftPitch(WaveformTransform):
    """Shift the pitch by a uniform number of semitones without changing the tempo
    (audiomentations PitchShift, signalsmith-stretch method; parameter ``num_semitones``)."""

    name = "shift_pitch"

    def __init__(self, min_semitones: float = -4.0, max_semitones: float = 4.0, p: float = 1.0):
        super().__init__(p)
        self.min_semitones = _number("min_semitones", min_semitones, -24.0, 24.0)
        self.max_semitones = _number("max_semitones", max_semitones, -24.0, 24.0)
        _ordered("min_semitones", self.min_semitones, "max_semitones", self.max_semitones)
        self._transform = PitchShift(min_semitones=self.min_semitones,
                                     max_semitones=self.max_semitones,
                                     method="signalsmith_stretch", p=1.0)

    def _draw(self, rng, samples, sample_rate):
        return {"num_semitones": float(rng.uniform(self.min_semitones, self.max_semitones))}

    def _apply(self, samples, sample_rate, parameters):
        (num_semitones,) = _required(parameters, "num_semitones")
        return self._run_audiomentations(self._transform, samples, sample_rate,
                                         num_semitones=float(num_semitones))


class StretchTime(WaveformTransform):
    """Speed up (rate > 1) or slow down (rate < 1) without changing the pitch; the output is
    cropped or zero-padded at the end to the input's length (audiomentations TimeStretch,
    leave_length_unchanged=True, signalsmith-stretch method; parameter ``rate``)."""

    name = "stretch_time"

    def __init__(self, min_rate: float = 0.8, max_rate: float = 1.25, p: float = 1.0):
        super().__init__(p)
        self.min_rate = _number("min_rate", min_rate, 0.1, 10.0)
        self.max_rate = _number("max_rate", max_rate, 0.1, 10.0)
        _ordered("min_rate", self.min_rate, "max_rate", self.max_rate)
        self._transform = TimeStretch(min_rate=self.min_rate, max_rate=self.max_rate,
                                      leave_length_unchanged=True,
                                      method="signalsmith_stretch", p=1.0)

    def _draw(self, rng, samples, sample_rate):
        return {"rate": float(rng.uniform(self.min_rate, self.max_rate))}

    def _apply(self, samples, sample_rate, parameters):
        (rate,) = _required(parameters, "rate")
        rate = _number("rate", rate, 0.1, 10.0)
        return self._run_audiomentations(self._transform, samples, sample_rate, rate=rate)


class AddGaussianNoise(WaveformTransform):
    """Add white Gaussian noise at a uniform SNR (dB) relative to the clip's RMS.

    Parameters: ``snr_db`` and ``noise_seed`` (the noise is generated from its own
    ``np.random.default_rng(noise_seed)``, then scaled to exactly the RMS that gives ``snr_db``,
    so the realised SNR equals the drawn one). A silent clip (RMS 0) stays silent: the noise RMS
    is relative to the clip's, so no noise is added to it.
    """

    name = "add_gaussian_noise"

    def __init__(self, min_snr_db: float = 10.0, max_snr_db: float = 40.0, p: float = 1.0):
        super().__init__(p)
        self.min_snr_db = _number("min_snr_db", min_snr_db, -60.0, 120.0)
        self.max_snr_db = _number("max_snr_db", max_snr_db, -60.0, 120.0)
        _ordered("min_snr_db", self.min_snr_db, "max_snr_db", self.max_snr_db)

    def _draw(self, rng, samples, sample_rate):
        return {"snr_db": float(rng.uniform(self.min_snr_db, self.max_snr_db)),
                "noise_seed": int(rng.integers(0, 2**32))}

    def _apply(self, samples, sample_rate, parameters):
        snr_db, noise_seed = _required(parameters, "snr_db", "noise_seed")
        clean_rms = _rms(samples)
        if clean_rms == 0.0:
            return samples.copy()  # silent clip: relative noise level 0, stays silent
        noise = np.random.default_rng(int(noise_seed)).standard_normal(samples.shape[0])
        noise_rms = _rms(noise)
        if noise_rms == 0.0:
            return samples.copy()
        scale = calculate_desired_noise_rms(clean_rms=clean_rms, snr=float(snr_db)) / noise_rms
        return (samples + scale * noise).astype(np.float32)


class ChangeGain(WaveformTransform):
    """Multiply by a gain drawn uniformly in dB (audiomentations Gain; parameters ``gain_db``
    and ``amplitude_ratio`` = 10 ** (gain_db / 20)). May leave [-1, 1]; nothing is clipped."""

    name = "change_gain"

    def __init__(self, min_gain_db: float = -12.0, max_gain_db: float = 12.0, p: float = 1.0):
        super().__init__(p)
        self.min_gain_db = _number("min_gain_db", min_gain_db, -100.0, 100.0)
        self.max_gain_db = _number("max_gain_db", max_gain_db, -100.0, 100.0)
        _ordered("min_gain_db", self.min_gain_db, "max_gain_db", self.max_gain_db)
        self._transform = Gain(min_gain_db=self.min_gain_db, max_gain_db=self.max_gain_db, p=1.0)

    def _draw(self, rng, samples, sample_rate):
        gain_db = float(rng.uniform(self.min_gain_db, self.max_gain_db))
        return {"gain_db": gain_db, "amplitude_ratio": float(10.0 ** (gain_db / 20.0))}

    def _apply(self, samples, sample_rate, parameters):
        if "amplitude_ratio" in parameters:
            ratio = float(parameters["amplitude_ratio"])
        else:
            (gain_db,) = _required(parameters, "gain_db")
            ratio = 10.0 ** (float(gain_db) / 20.0)
        return self._run_audiomentations(self._transform, samples, sample_rate,
                                         amplitude_ratio=ratio)


class ShiftTime(WaveformTransform):
    """Shift the clip by a uniform fraction of its length (positive: later). With rollover the
    samples pushed out re-enter at the other end (exactly ``np.roll``); without, the gap is
    zeros. No fades (audiomentations Shift with shift_unit="samples", fade_duration=0;
    parameters ``fraction`` and ``num_samples`` = round(fraction * length))."""

    name = "shift_time"

    def __init__(self, min_fraction: float = -0.5, max_fraction: float = 0.5,
                 rollover: bool = True, p: float = 1.0):
        super().__init__(p)
        self.min_fraction = _number("min_fraction", min_fraction, -1.0, 1.0)
        self.max_fraction = _number("max_fraction", max_fraction, -1.0, 1.0)
        _ordered("min_fraction", self.min_fraction, "max_fraction", self.max_fraction)
        if not isinstance(rollover, (bool, np.bool_)):
            raise ValueError(f"rollover must be True or False, got {rollover!r}")
        self.rollover = bool(rollover)
        # min_shift/max_shift are only used by audiomentations' own randomisation, never here.
        self._transform = Shift(min_shift=-1, max_shift=1, shift_unit="samples",
                                rollover=self.rollover, fade_duration=0.0, p=1.0)

    def _draw(self, rng, samples, sample_rate):
        fraction = float(rng.uniform(self.min_fraction, self.max_fraction))
        return {"fraction": fraction, "num_samples": int(round(fraction * samples.shape[0]))}

    def _apply(self, samples, sample_rate, parameters):
        (num_samples,) = _required(parameters, "num_samples")
        return self._run_audiomentations(self._transform, samples, sample_rate,
                                         shift_amount=int(num_samples))


class AddBackgroundNoise(WaveformTransform):
    """Mix in a noise file from ``folder`` at a uniform SNR (dB) relative to the clip's RMS.

    The folder is searched once, at construction, for .wav/.flac/.ogg files at any depth (sorted
    paths). Each call draws a file and a start frame (``noise_path``, ``noise_offset`` in the
    file's own frames, ``snr_db``); the segment is read with soundfile (channels averaged),
    resampled with soxr when its rate differs, repeated cyclically when shorter than the clip, and
    scaled so that clip RMS / noise RMS is ``snr_db``. A silent clip stays silent (no noise is
    added, as the level is relative), and so does any clip mixed with a silent noise file.
    A noise file that cannot be read raises ValueError naming the file and the reason.
    """

    name = "add_background_noise"

    def __init__(self, folder: str | os.PathLike, min_snr_db: float = 3.0,
                 max_snr_db: float = 30.0, p: float = 1.0):
        super().__init__(p)
        self.min_snr_db = _number("min_snr_db", min_snr_db, -60.0, 120.0)
        self.max_snr_db = _number("max_snr_db", max_snr_db, -60.0, 120.0)
        _ordered("min_snr_db", self.min_snr_db, "max_snr_db", self.max_snr_db)
        if not isinstance(folder, (str, os.PathLike)):
            raise ValueError(f"folder must be a path to a folder of noise files, got {folder!r}")
        self.folder = os.fspath(folder)
        root = Path(self.folder)
        if not root.exists():
            raise ValueError(f"folder {self.folder!r} (background noise) does not exist")
        if not root.is_dir():
            raise ValueError(f"folder {self.folder!r} (background noise) is not a folder")
        self.files = tuple(sorted(
            str(path) for path in root.rglob("*")
            if path.suffix.lower() in NOISE_FILE_EXTENSIONS and path.is_file()))
        if not self.files:
            raise ValueError(f"folder {self.folder!r} (background noise) has no "
                             f"{'/'.join(NOISE_FILE_EXTENSIONS)} files, at any depth")

    @staticmethod
    def _frames_needed(num_samples: int, sample_rate: int, noise_rate: int) -> int:
        if noise_rate == sample_rate:
            return num_samples
        return math.ceil(num_samples * noise_rate / sample_rate) + _RESAMPLE_MARGIN_FRAMES

    @staticmethod
    def _unreadable(path: str, reason: Any) -> ValueError:
        return ValueError(f"cannot read background noise file {path!r}: {reason}")

    def _draw(self, rng, samples, sample_rate):
        path = self.files[int(rng.integers(len(self.files)))]
        try:
            info = soundfile.info(path)
        except Exception as exc:  # soundfile raises several types for bad files
            raise self._unreadable(path, exc) from exc
        if info.frames <= 0:
            raise self._unreadable(path, "it has no audio frames")
        needed = self._frames_needed(samples.shape[0], sample_rate, info.samplerate)
        if info.frames >= needed:
            offset = int(rng.integers(0, info.frames - needed + 1))
        else:  # shorter than the clip: repeated cyclically, from a random start
            offset = int(rng.integers(0, info.frames))
        return {"noise_path": path, "noise_offset": offset,
                "snr_db": float(rng.uniform(self.min_snr_db, self.max_snr_db))}

    def _read_noise(self, path: str, offset: int, num_samples: int, sample_rate: int):
        try:
            with soundfile.SoundFile(path) as file:
                noise_rate, frames = file.samplerate, file.frames
                needed = self._frames_needed(num_samples, sample_rate, noise_rate)
                data = None
                if frames >= needed:
                    file.seek(min(max(offset, 0), frames - needed))
                    data = file.read(needed, dtype="float32", always_2d=True)
                if data is None or data.shape[0] < needed:  # short (or truncated) file
                    file.seek(0)
                    data = file.read(dtype="float32", always_2d=True)
                    if data.shape[0] > 0:
                        data = data[(offset + np.arange(needed)) % data.shape[0]]
        except Exception as exc:  # soundfile raises several types for bad files
            raise self._unreadable(path, exc) from exc
        if data.shape[0] == 0:
            raise self._unreadable(path, "it has no audio frames")
        noise = np.ascontiguousarray(data.mean(axis=1), dtype=np.float32)
        if noise_rate != sample_rate:
            noise = soxr.resample(noise, noise_rate, sample_rate)
        # Crop, or repeat cyclically if the resampler came up a few samples short.
        return np.resize(noise, num_samples).astype(np.float32, copy=False)

    def _apply(self, samples, sample_rate, parameters):
        path, offset, snr_db = _required(parameters, "noise_path", "noise_offset", "snr_db")
        clean_rms = _rms(samples)
        noise = self._read_noise(str(path), int(offset), samples.shape[0], sample_rate)
        noise_rms = _rms(noise)
        if clean_rms == 0.0 or noise_rms == 0.0:
            return samples.copy()  # relative level: a silent clip (or noise) adds nothing
        scale = calculate_desired_noise_rms(clean_rms=clean_rms, snr=float(snr_db)) / noise_rms
        return (samples + scale * noise.astype(np.float64)).astype(np.float32)


# --- registry ---------------------------------------------------------------------------------

WAVEFORM_TRANSFORMS: dict[str, type] = {
    cls.name: cls
    for cls in (ShiftPitch, StretchTime, AddGaussianNoise, ChangeGain, ShiftTime,
                AddBackgroundNoise)
}

shift_pitch = ShiftPitch()
stretch_time = StretchTime()
add_gaussian_noise = AddGaussianNoise()
change_gain = ChangeGain()
shift_time = ShiftTime()


def _transform_class(name: Any) -> type:
    if not isinstance(name, str):
        raise TypeError(f"a waveform transform name must be a str, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    by_class_name = {cls.__name__.lower(): cls for cls in WAVEFORM_TRANSFORMS.values()}
    if key in WAVEFORM_TRANSFORMS:
        return WAVEFORM_TRANSFORMS[key]
    if key in by_class_name:
        return by_class_name[key]
    valid = sorted(WAVEFORM_TRANSFORMS)
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"unknown waveform transform {name!r}{hint} "
                     f"Valid names: {', '.join(valid)}")


def _instantiate_default(cls: type) -> WaveformTransform:
    required = [parameter.name
                for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]
                if parameter.default is inspect.Parameter.empty
                and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)]
    if required:
        raise ValueError(f"waveform transform {cls.name!r} ({cls.__name__}) has no default for "
                         f"{', '.join(required)}: pass an instance, e.g. "
                         f"{cls.__name__}({required[0]}=...), or use transform_from_config")
    return cls()


def resolve_transform(item: Any) -> WaveformTransform:
    """An instance (returned as is), a WaveformTransform subclass or a name such as
    "shift_pitch" (both instantiated with default arguments)."""
    if isinstance(item, WaveformTransform):
        return item
    if isinstance(item, type) and issubclass(item, WaveformTransform):
        if item is WaveformTransform or not item.name:
            raise TypeError(f"{item.__name__} is not a concrete waveform transform")
        return _instantiate_default(item)
    if isinstance(item, str):
        return _instantiate_default(_transform_class(item))
    raise TypeError("expected a WaveformTransform instance, a WaveformTransform subclass or a "
                    f"transform name, got {type(item).__name__}: {item!r}")


def transform_from_config(name: str, config: dict) -> WaveformTransform:
    """Rebuild a transform from its ``name`` and ``get_config()``."""
    cls = _transform_class(name)
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    accepted = [key for key in inspect.signature(cls.__init__).parameters if key != "self"]
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        raise ValueError(f"unknown config keys for {cls.name!r}: {', '.join(unknown)}; "
                         f"valid keys: {', '.join(accepted)}")
    return cls(**config)
