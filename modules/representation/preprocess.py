"""Spectrogram extraction for the auDeep workflow (``audeep preprocess``): audio dataset ->
netCDF feature set of normalised (mel) spectrograms.

Per file, in auDeep's order (see :func:`file_spectrograms`):

1. Decode with :func:`modules.data.audio.read_audio` (bad files are reported and skipped),
   resampled to ``target_sample_rate`` when set.
2. ``fixed_length``: cut to, or zero-pad to, ``int(fixed_length * sr)`` samples; at the end, or
   evenly at both ends with ``center_fixed``.
3. Channels: MEAN (average of the channels), LEFT (first), RIGHT (second), DIFF (first minus
   second); mono files are used as they are.
4. Pre-emphasis ``y[0] = x[0], y[n] = x[n] - 0.95 x[n-1]`` (auDeep always applies it).
5. Power spectrogram: frames of ``W = int(sr * window_width)`` samples every
   ``S = W - O`` samples (``O = int(sr * window_overlap)``), no padding; each frame has its mean
   removed, is multiplied by a periodic Hann window and gets a W-point FFT; power
   ``|X|^2 / (sr * sum(w^2) * W)`` (scipy's ``spectrogram(mode="magnitude")`` squared over W,
   as auDeep). Frequency bins: ``W // 2 + 1``.
6. ``mel_bands``: auDeep's triangular mel filter bank (HTK mel scale, 0 Hz to sr/2, peak 1,
   filter edges at FFT bins ``floor((W + 1) * hz / sr)``); ``mel_bands`` frequency rows.
7. dB relative to the file's maximum (the maximum is 0 dB); zeros are first raised to the
   smallest positive power; then clipped below at ``clip_below`` and above at ``clip_above``.
8. ``chunk_length`` / ``chunk_count``: the frames are cut into consecutive chunks of
   ``int(sr * chunk_length) // S`` frames; the first ``chunk_count`` are kept (``chunk_nr`` 0..);
   a file with fewer full chunks is reported and skipped.
9. Each chunk is scaled linearly to [-1, 1]: its maximum becomes 1, its minimum -1 (auDeep's
   mean normalisation; with ``clip_below`` the clipped floor is the minimum whenever the clip
   reaches it, so ``clip_below`` dB maps to -1). A constant chunk becomes all 0.

Shape: ``time = floor((N - O) / S)`` frames for N samples (a file shorter than one window is
zero-padded to one frame). With ``fixed_length``, as in auDeep, O is moved by one sample when
rounding would otherwise give a frame count other than
``int((fixed_length - window_overlap) / (window_width - window_overlap))``. ``freq`` is
``mel_bands``, or ``W // 2 + 1``. Example: 5 s at 44.1 kHz, window 0.08 s, overlap 0.04 s,
128 mel bands: (124, 128).

Features are stored as (instance, time, freq) float32 in a :class:`FeatureSet`; its metadata
records the settings (``spectrogram_settings``), the parser, the sample rates and the skipped
files.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

try:  # scipy (a librosa dependency) has the faster FFT for window lengths like 3528
    from scipy.fft import rfft as _rfft
except ImportError:  # pragma: no cover
    from numpy.fft import rfft as _rfft

from ..data.audio import BadAudioError, audio_info, read_audio
from .dataset import FeatureSet
from .parsers import Instance, parse
from modules.plot_text import save_figure

PathArg = Union[str, os.PathLike]

CHANNELS = ("MEAN", "LEFT", "RIGHT", "DIFF")
PRE_EMPHASIS = 0.95
FEATURE_DIMS = ["time", "freq"]
_FLAT_RANGE = 1e-4  # auDeep: a chunk whose dB range is at most this is not scaled
_FFT_BLOCK_VALUES = 1 << 22  # frames x window samples per FFT block (bounds memory)


@dataclass(frozen=True)
class SpectrogramSettings:
    """How spectrograms are made (auDeep's ``preprocess`` options; defaults as auDeep's).

    Attributes:
        window_width: FFT window length in seconds (``--window-width``, default 0.04).
        window_overlap: overlap of consecutive windows in seconds (``--window-overlap``, 0.02);
            the hop is ``window_width - window_overlap``.
        mel_bands: number of mel filters (``--mel-spectrum``); None: linear frequency bins.
        fixed_length: cut or zero-pad every file to this many seconds (``--fixed-length``).
        center_fixed: cut/pad evenly at both ends instead of at the end (``--center-fixed``).
        clip_below: clip levels below this many dB (relative to the file's maximum, 0 dB).
        clip_above: clip levels above this many dB.
        chunk_length: cut each file into chunks of this many seconds (needs ``chunk_count``).
        chunk_count: keep this many chunks per file (needs ``chunk_length``).
        channels: "MEAN", "LEFT", "RIGHT" or "DIFF" (``--channels``; any letter case).
        target_sample_rate: resample to this rate in Hz; None keeps each file's own rate.
        pre_emphasis: apply the 0.95 pre-emphasis filter (auDeep always does).
    """
    window_width: float = 0.04
    window_overlap: float = 0.02
    mel_bands: Optional[int] = None
    fixed_length: Optional[float] = None
    center_fixed: bool = False
    clip_below: Optional[float] = None
    clip_above: Optional[float] = None
    chunk_length: Optional[float] = None
    chunk_count: Optional[int] = None
    channels: str = "MEAN"
    target_sample_rate: Optional[int] = None
    pre_emphasis: bool = True

    def __post_init__(self) -> None:
        def positive(name):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0
                                          and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number, got {value!r}")

        for name in ("window_width", "fixed_length", "chunk_length"):
            positive(name)
        if self.window_width is None:
            raise ValueError("window_width must be a positive number, got None")
        if not (isinstance(self.window_overlap, (int, float))
                and 0 <= self.window_overlap < self.window_width):
            raise ValueError(f"window_overlap must be >= 0 and less than window_width "
                             f"({self.window_width}), got {self.window_overlap!r}")
        for name in ("mel_bands", "chunk_count", "target_sample_rate"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) != value
                                      or value < 1):
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
            if value is not None:
                object.__setattr__(self, name, int(value))
        if (self.chunk_length is None) != (self.chunk_count is None):
            raise ValueError("chunk_length and chunk_count go together: set both or neither")
        if (self.clip_below is not None and self.clip_above is not None
                and self.clip_below >= self.clip_above):
            raise ValueError(f"clip_below ({self.clip_below} dB) must be less than clip_above "
                             f"({self.clip_above} dB)")
        channels = str(self.channels).upper()
        if channels not in CHANNELS:
            raise ValueError(f"channels must be one of {', '.join(CHANNELS)}, "
                             f"got {self.channels!r}")
        object.__setattr__(self, "channels", channels)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FileSpectrograms:
    """The spectrogram chunks of one file."""
    chunks: list            # float32 (time, freq) arrays, chunk_nr order
    sample_rate: int
    frame_step: float       # seconds between frames
    frequencies: np.ndarray  # Hz of each freq row (mel: filter centres)
    window_samples: int = 0
    step_samples: int = 0


# --- signal processing ---------------------------------------------------------------------

def fit_length(samples: np.ndarray, length: int, center: bool = False) -> np.ndarray:
    """Cut or zero-pad (samples, ...) along axis 0 to ``length`` samples: at the end, or
    evenly at both ends (the extra sample at the end) when ``center``."""
    n = samples.shape[0]
    if n > length:
        start = (n - length) // 2 if center else 0
        return samples[start:start + length]
    before = (length - n) // 2 if center else 0
    pad = [(before, length - n - before)] + [(0, 0)] * (samples.ndim - 1)
    return np.pad(samples, pad)


def fuse_channels(samples: np.ndarray, channels: str = "MEAN") -> np.ndarray:
    """(samples, channels) -> (samples,). Mono input is returned as it is; MEAN averages all
    channels; LEFT/RIGHT take the first/second; DIFF is first minus second."""
    samples = np.asarray(samples)
    if samples.ndim == 1:
        return samples
    if samples.shape[1] == 1:
        return samples[:, 0]
    channels = channels.upper()
    if channels == "MEAN":
        return samples.mean(axis=1)
    if channels == "LEFT":
        return samples[:, 0]
    if channels == "RIGHT":
        return samples[:, 1]
    if channels == "DIFF":
        return samples[:, 0] - samples[:, 1]
    raise ValueError(f"channels must be one of {', '.join(CHANNELS)}, got {channels!r}")


def pre_emphasis(signal: np.ndarray, alpha: float = PRE_EMPHASIS) -> np.ndarray:
    out = np.empty_like(signal)
    out[:1] = signal[:1]
    out[1:] = signal[1:] - alpha * signal[:-1]
    return out


def frame_samples(sr: int, settings: SpectrogramSettings,
                  n_samples: Optional[int] = None) -> tuple[int, int]:
    """(window, overlap) in samples, with auDeep's one-sample overlap correction for
    ``fixed_length`` (see the module docstring)."""
    width = int(sr * settings.window_width)
    overlap = int(sr * settings.window_overlap)
    if width < 1:
        raise ValueError(f"window_width {settings.window_width} s is less than one sample at "
                         f"{sr} Hz")
    if settings.fixed_length is not None and n_samples is not None and width - overlap >= 1:
        expected = int((settings.fixed_length - settings.window_overlap)
                       / (settings.window_width - settings.window_overlap))
        actual = (max(n_samples, width) - overlap) // (width - overlap)
        if actual > expected and overlap > 0:
            overlap -= 1
        elif actual < expected and overlap + 1 < width:
            overlap += 1
    if width - overlap < 1:
        raise ValueError(f"window_width - window_overlap is less than one sample at {sr} Hz")
    return width, overlap


@functools.lru_cache(maxsize=8)
def _hann(width: int) -> np.ndarray:
    """Periodic Hann window (``scipy.signal.windows.hann(width, sym=False)``)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(width) / width)


def power_spectrogram(signal: np.ndarray, sr: int, width: int, overlap: int) -> np.ndarray:
    """(time, W // 2 + 1) power spectrogram; see step 5 of the module docstring."""
    signal = np.asarray(signal, dtype=np.float64)
    if len(signal) < width:
        signal = np.pad(signal, (0, width - len(signal)))
    step = width - overlap
    frames = np.lib.stride_tricks.sliding_window_view(signal, width)[::step]
    window = _hann(width)
    scale = 1.0 / (sr * float(np.sum(window ** 2)) * width)
    out = np.empty((len(frames), width // 2 + 1))
    block = max(1, _FFT_BLOCK_VALUES // width)
    for start in range(0, len(frames), block):
        segment = frames[start:start + block]
        segment = (segment - segment.mean(axis=1, keepdims=True)) * window
        spectrum = _rfft(segment, axis=1)
        out[start:start + block] = (spectrum.real ** 2 + spectrum.imag ** 2) * scale
    return out


@functools.lru_cache(maxsize=16)
def mel_filterbank(sr: int, width: int, n_mels: int) -> tuple[np.ndarray, np.ndarray]:
    """auDeep's triangular mel filters: ((n_mels, width // 2 + 1) weights, centre Hz)."""
    top = 2595.0 * np.log10(1.0 + (sr / 2.0) / 700.0)
    hz = 700.0 * (10.0 ** (np.linspace(0.0, top, n_mels + 2) / 2595.0) - 1.0)
    edges = np.floor((width + 1) * hz / sr)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    k = np.arange(width // 2 + 1)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        rising = np.where((k >= left) & (k < centre), (k - left) / (centre - left), 0.0)
        falling = np.where((k >= centre) & (k < right), (right - k) / (right - centre), 0.0)
    bank = np.ascontiguousarray(rising + falling)
    bank.setflags(write=False)
    centres = hz[1:n_mels + 1]
    centres.setflags(write=False)
    return bank, centres


@functools.lru_cache(maxsize=16)
def _mel_matrix(sr: int, width: int, n_mels: int) -> np.ndarray:
    """The filter bank transposed, (width // 2 + 1, n_mels), for ``power @ matrix``."""
    return np.ascontiguousarray(mel_filterbank(sr, width, n_mels)[0].T)


class _NoEnergy(Exception):
    pass


class _TooShort(Exception):
    pass


def power_to_db(power: np.ndarray, clip_below: Optional[float] = None,
                clip_above: Optional[float] = None) -> np.ndarray:
    """dB relative to the maximum (0 dB); zeros raised to the smallest positive value first;
    then clipped."""
    positive = power[power > 0]
    if positive.size == 0:
        raise _NoEnergy()
    power = np.maximum(power, positive.min())
    db = 10.0 * np.log10(power / power.max())
    if clip_below is not None:
        db = np.maximum(db, clip_below)
    if clip_above is not None:
        db = np.minimum(db, clip_above)
    return db


def scale_to_unit(chunk: np.ndarray) -> np.ndarray:
    """Linearly to [-1, 1] (maximum 1, minimum -1); a (near) constant chunk becomes 0."""
    low, high = float(chunk.min()), float(chunk.max())
    if high - low > _FLAT_RANGE:
        return 2.0 * (chunk - low) / (high - low) - 1.0
    return chunk - low


def signal_spectrograms(samples: np.ndarray, sr: int, settings: SpectrogramSettings,
                        normalise: bool = True) -> FileSpectrograms:
    """Steps 2-9 of the module docstring for decoded audio ((samples,) or (samples, channels)).

    With ``normalise=False`` the chunks stay in dB (what ``--pretend`` shows).

    Raises:
        ValueError: settings that do not work at ``sr`` (window under one sample...).
        _NoEnergy: a spectrogram without any energy; _TooShort: fewer chunks than asked.
    """
    samples = np.asarray(samples, dtype=np.float64)
    if settings.fixed_length is not None:
        samples = fit_length(samples, int(settings.fixed_length * sr), settings.center_fixed)
    signal = fuse_channels(samples, settings.channels)
    if settings.pre_emphasis and len(signal):
        signal = pre_emphasis(signal)
    width, overlap = frame_samples(sr, settings, len(signal))
    step = width - overlap
    power = power_spectrogram(signal, sr, width, overlap)
    if settings.mel_bands is not None:
        frequencies = mel_filterbank(sr, width, settings.mel_bands)[1]
        power = power @ _mel_matrix(sr, width, settings.mel_bands)
    else:
        frequencies = np.arange(width // 2 + 1) * (sr / width)
    db = power_to_db(power, settings.clip_below, settings.clip_above)
    if settings.chunk_length is not None:
        chunk_frames = int(sr * settings.chunk_length) // step
        if chunk_frames < 1:
            raise ValueError(f"chunk_length {settings.chunk_length} s is shorter than one frame "
                             f"step ({step / sr:g} s)")
        full = len(db) // chunk_frames
        if full < settings.chunk_count:
            raise _TooShort(f"too short for {settings.chunk_count} chunk(s) of "
                            f"{settings.chunk_length:g} s: {len(db)} frames give {full} full "
                            f"chunk(s) of {chunk_frames} frames")
        chunks = [db[i * chunk_frames:(i + 1) * chunk_frames]
                  for i in range(settings.chunk_count)]
    else:
        chunks = [db]
    if normalise:
        chunks = [scale_to_unit(chunk) for chunk in chunks]
    return FileSpectrograms([chunk.astype(np.float32) for chunk in chunks], sr, step / sr,
                            np.asarray(frequencies, dtype=np.float64), width, step)


def file_spectrograms(path: PathArg, settings: SpectrogramSettings,
                      normalise: bool = True) -> FileSpectrograms:
    """Decode ``path`` and make its spectrogram chunks (see the module docstring).

    Raises:
        BadAudioError: the file cannot be used: missing, empty, corrupt, truncated, silent, no
            energy left after pre-emphasis, or too short for ``chunk_count`` chunks.
        ValueError: settings that do not work at the file's sample rate.
    """
    sr = settings.target_sample_rate or audio_info(path)["sample_rate"]
    samples = read_audio(path, settings.target_sample_rate, mono=False)
    try:
        return signal_spectrograms(samples, sr, settings, normalise)
    except _NoEnergy:
        raise BadAudioError(path, "no signal energy to make a spectrogram from") from None
    except _TooShort as error:
        raise BadAudioError(path, str(error)) from None


# --- datasets ------------------------------------------------------------------------------

def _report(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def _process(instance: Instance, settings: SpectrogramSettings):
    try:
        return file_spectrograms(instance.path, settings)
    except BadAudioError as error:
        return error


def _single_threaded_blas():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _check_shapes(results: list) -> None:
    shapes: dict = {}
    for instance, result in results:
        for chunk in result.chunks:
            shapes.setdefault(chunk.shape, []).append(instance.filename)
    if len(shapes) > 1:
        listing = "; ".join(f"{len(names)} with (time, freq) {shape}, e.g. {names[0]}"
                            for shape, names in sorted(shapes.items(),
                                                       key=lambda item: -len(item[1]))[:4])
        raise ValueError(f"spectrograms differ in shape ({listing}); set fixed_length (or "
                         f"chunk_length and chunk_count) so that all files give the same shape")


def preprocess(basedir: PathArg, settings: SpectrogramSettings, output_path: PathArg,
               parser: Optional[str] = None, progress: bool = True,
               workers: Optional[int] = None) -> FeatureSet:
    """Spectrograms of every audio file of a dataset, written to ``output_path`` (netCDF).

    Args:
        basedir: the dataset folder (see :func:`modules.representation.parsers.parse`).
        settings: how to make the spectrograms.
        output_path: the netCDF file to write (folders are created; replaced atomically).
        parser: a parser name, or None to detect the layout.
        progress: show a tqdm progress bar over the files.
        workers: threads decoding and transforming files (default: CPU count, at most 8).

    Returns:
        The feature set as written: one instance per chunk, features (instance, time, freq).

    Bad files (see :func:`file_spectrograms`) are reported on stderr as
    ``skipped <filename>: <reason>`` and left out; the list is kept in the metadata
    (``skipped_files``).

    Raises:
        ValueError: an unknown layout or parser, no usable file, settings that do not work at a
            file's sample rate, or files whose spectrograms differ in shape.
    """
    from tqdm import tqdm

    dataset = parse(basedir, parser)
    if not len(dataset):
        raise ValueError(f"{dataset.basedir}: the {dataset.parser} parser found no audio files")
    workers = workers or min(os.cpu_count() or 1, 8)
    results, skipped = [], []
    # The files run in parallel threads; BLAS threads on top of them (the mel matrix product)
    # oversubscribe the cores and make that product ~20x slower.
    with _single_threaded_blas(), ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = pool.map(functools.partial(_process, settings=settings), dataset.instances)
        try:
            for instance, outcome in tqdm(zip(dataset.instances, outcomes), total=len(dataset),
                                          desc="preprocess", unit="file",
                                          disable=not progress, file=sys.stderr):
                if isinstance(outcome, BadAudioError):
                    skipped.append({"filename": instance.filename, "reason": outcome.reason})
                    _report(f"skipped {instance.filename}: {outcome.reason}")
                else:
                    results.append((instance, outcome))
        except BaseException:  # a settings error or Ctrl-C: do not wait for the other files
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    if skipped:
        _report(f"preprocess: skipped {len(skipped)} of {len(dataset)} file(s)")
    if not results:
        raise ValueError(f"{dataset.basedir}: none of the {len(dataset)} audio file(s) could "
                         f"be used (first: {skipped[0]['filename']}: {skipped[0]['reason']})")
    _check_shapes(results)
    _warn_empty_mel_bands(results, settings)

    rows = [(instance, nr, chunk) for instance, result in results
            for nr, chunk in enumerate(result.chunks)]
    n_folds = dataset.num_folds
    features = FeatureSet(
        filename=np.array([i.filename for i, _, _ in rows], dtype=object),
        chunk_nr=np.array([nr for _, nr, _ in rows], dtype=np.int64),
        label_nominal=np.array([i.label_nominal for i, _, _ in rows], dtype=object),
        label_numeric=np.array([i.label_numeric for i, _, _ in rows], dtype=np.int64),
        cv_folds=np.array([i.cv_folds for i, _, _ in rows], dtype=np.int64).reshape(
            len(rows), n_folds),
        partition=np.array([i.partition for i, _, _ in rows], dtype=np.int64),
        features=np.stack([chunk for _, _, chunk in rows]).astype(np.float32, copy=False),
        feature_dims=list(FEATURE_DIMS),
        label_map=None if dataset.label_map is None else dict(dataset.label_map),
        metadata={
            "spectrogram_settings": settings.to_dict(),
            "parser": dataset.parser,
            "basedir": str(dataset.basedir),
            "sample_rates": sorted({int(result.sample_rate) for _, result in results}),
            "frame_step_s": sorted({float(result.frame_step) for _, result in results}),
            "skipped_files": skipped,
        },
    )
    features.save(output_path)
    return features


def _warn_empty_mel_bands(results: list, settings: SpectrogramSettings) -> None:
    if settings.mel_bands is None:
        return
    for sr, width in sorted({(r.sample_rate, r.window_samples) for _, r in results}):
        bank, _ = mel_filterbank(sr, width, settings.mel_bands)
        empty = int(np.sum(bank.sum(axis=1) == 0))
        if empty:
            _report(f"preprocess: at {sr} Hz a {width}-sample window is too short for "
                    f"{settings.mel_bands} mel bands: {empty} band(s) are always empty")


# --- --pretend -----------------------------------------------------------------------------

def pretend(basedir: PathArg, index: int, settings: SpectrogramSettings, output_png: PathArg,
            parser: Optional[str] = None) -> Path:
    """``--pretend N``: the spectrogram (in dB, before scaling to [-1, 1], as auDeep shows it)
    of the dataset's file number ``index`` (0-based, parser order), with a histogram of its
    levels beside it, written as a PNG.

    Returns:
        ``output_png`` as a Path.

    Raises:
        ValueError: an unknown layout, or ``index`` out of range.
        BadAudioError: the file cannot be used.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dataset = parse(basedir, parser)
    if not 0 <= index < len(dataset):
        raise ValueError(f"pretend index {index} is out of range: the dataset has "
                         f"{len(dataset)} file(s) (0-{len(dataset) - 1})")
    instance = dataset[index]
    result = file_spectrograms(instance.path, settings, normalise=False)
    db = np.concatenate(result.chunks, axis=0)
    n_frames, n_freq = db.shape

    figure = Figure(figsize=(13, 4.8), dpi=100)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(1, 2, width_ratios=(3, 1))
    image_axes = figure.add_subplot(grid[0, 0])
    image = image_axes.imshow(db.T, origin="lower", aspect="auto", cmap="magma",
                              interpolation="nearest",
                              extent=(0.0, n_frames * result.frame_step, 0, n_freq))
    ticks = np.linspace(0, n_freq - 1, min(n_freq, 6)).round().astype(int)
    image_axes.set_yticks(ticks + 0.5)
    image_axes.set_yticklabels([f"{result.frequencies[t]:.0f}" for t in ticks])
    image_axes.set_xlabel("Time (s)")
    image_axes.set_ylabel("Frequency (Hz)" + (" (mel bands)" if settings.mel_bands else ""))
    for boundary in range(1, len(result.chunks)):
        image_axes.axvline(boundary * len(result.chunks[0]) * result.frame_step, color="white",
                           linewidth=0.8, linestyle="--")
    colorbar = figure.colorbar(image, ax=image_axes, pad=0.01)
    colorbar.set_label("dB (0 = maximum)")
    label = (f"{instance.label_nominal} ({instance.label_numeric})"
             if instance.label_nominal is not None else "unlabelled")
    details = [label]
    if instance.cv_folds:
        details.append("folds " + ",".join("VALID" if v else "TRAIN" for v in instance.cv_folds))
    if instance.partition >= 0:
        details.append(f"partition {('train', 'devel', 'test')[instance.partition]}")
    details.append(f"{len(result.chunks)} chunk(s) of (time, freq) {result.chunks[0].shape}")
    image_axes.set_title(f"[{index}] {instance.filename}\n" + "; ".join(details), fontsize=9)

    histogram_axes = figure.add_subplot(grid[0, 1])
    low = settings.clip_below + 0.01 if settings.clip_below is not None else float(db.min())
    high = settings.clip_above - 0.01 if settings.clip_above is not None else 0.0
    histogram_axes.hist(db.ravel(), bins=100, range=(low, high) if low < high else None,
                        density=True, histtype="stepfilled")
    histogram_axes.set_title("Amplitude histogram", fontsize=9)
    histogram_axes.set_xlabel("Level (dB)")
    histogram_axes.set_ylabel("Probability density")
    figure.tight_layout()

    output_png = Path(output_png)
    output_png.parent.mkdir(parents=True, exist_ok=True)
    save_figure(figure, output_png, format="png")
    return output_png
