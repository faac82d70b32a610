"""Spectrogram front end: waveform -> (log-)mel / MFCC / linear spectrogram "images".

Everything here reproduces librosa's numbers (``librosa.stft`` / ``feature.melspectrogram`` /
``power_to_db`` / ``feature.mfcc``) with TensorFlow ops, so features computed inside a
``tf.data`` pipeline or a model match what librosa-based notebooks and plots show.

Public API
----------
``mel_filterbank``           Slaney/HTK mel matrix in NumPy, equal to ``librosa.filters.mel``.
``power_to_db``              ``librosa.power_to_db`` on tensors, per example in a batch.
``LogMelSpectrogram``        Keras layer (serializable) computing the features.
``frontend_from_parameters`` builds the layer from a parameters object.

librosa is deliberately not imported: it is slow to import and only serves as the test reference.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional, Sequence, Union

import keras
import numpy as np
import tensorflow as tf

from modules.serialization import serializable

__all__ = [
    "OUTPUTS",
    "PAD_MODES",
    "LogMelSpectrogram",
    "frontend_from_parameters",
    "mel_filterbank",
    "power_to_db",
]

#: Allowed values of ``LogMelSpectrogram(output=...)``.
OUTPUTS = ("logmel", "mel", "mfcc", "stft")
#: Allowed values of ``LogMelSpectrogram(pad_mode=...)`` (numpy.pad names) -> tf.pad modes.
PAD_MODES = {"reflect": "REFLECT", "constant": "CONSTANT", "symmetric": "SYMMETRIC"}


# ----------------------------------------------------------------------------------------------
# Mel filterbank (NumPy, bit-for-bit the librosa algorithm)
# ----------------------------------------------------------------------------------------------
# Slaney's Auditory Toolbox mel scale: linear below 1 kHz, logarithmic above.
_SLANEY_F_SP = 200.0 / 3  # Hz per mel in the linear region
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = np.log(6.4) / 27.0


def _hz_to_mel(frequencies: np.ndarray, htk: bool) -> np.ndarray:
    frequencies = np.atleast_1d(np.asarray(frequencies, dtype=np.float64))
    if htk:
        return 2595.0 * np.log10(1.0 + frequencies / 700.0)
    mels = frequencies / _SLANEY_F_SP
    log_region = frequencies >= _SLANEY_MIN_LOG_HZ
    mels[log_region] = (
        _SLANEY_MIN_LOG_MEL
        + np.log(frequencies[log_region] / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
    )
    return mels


def _mel_to_hz(mels: np.ndarray, htk: bool) -> np.ndarray:
    mels = np.atleast_1d(np.asarray(mels, dtype=np.float64))
    if htk:
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    frequencies = _SLANEY_F_SP * mels
    log_region = mels >= _SLANEY_MIN_LOG_MEL
    frequencies[log_region] = _SLANEY_MIN_LOG_HZ * np.exp(
        _SLANEY_LOGSTEP * (mels[log_region] - _SLANEY_MIN_LOG_MEL)
    )
    return frequencies


def mel_filterbank(
    sr: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: Optional[float] = None,
    htk: bool = False,
    norm: Union[str, float, None] = "slaney",
) -> np.ndarray:
    """Mel filterbank matrix, numerically equal to ``librosa.filters.mel``.

    Args:
        sr: sampling rate in Hz.
        n_fft: FFT length; the matrix has ``1 + n_fft // 2`` columns (rfft bins).
        n_mels: number of mel bands (rows).
        fmin, fmax: frequency range in Hz; ``fmax=None`` means ``sr / 2``.
        htk: use the HTK mel formula instead of Slaney's (librosa's default).
        norm: ``"slaney"`` divides each triangle by its bandwidth (constant energy per band);
            a number p normalises each row to unit l_p norm (``np.inf`` allowed); ``None``
            leaves triangles with peak 1.

    Returns:
        float32 array of shape ``(n_mels, 1 + n_fft // 2)``; ``mel_power = M @ power_spec``.
    """
    if sr <= 0:
        raise ValueError(f"sr must be positive, got {sr}")
    if n_fft <= 0:
        raise ValueError(f"n_fft must be positive, got {n_fft}")
    if n_mels <= 0:
        raise ValueError(f"n_mels must be positive, got {n_mels}")
    if fmax is None:
        fmax = float(sr) / 2
    if fmin < 0:
        raise ValueError(f"fmin must be >= 0, got {fmin}")
    if fmax <= fmin:
        raise ValueError(f"fmax ({fmax}) must be greater than fmin ({fmin})")

    n_mels = int(n_mels)
    fft_freqs = np.fft.rfftfreq(n=int(n_fft), d=1.0 / sr)
    # n_mels + 2 edges: band i rises from edge i to peak i+1 and falls to edge i+2.
    mel_min, mel_max = _hz_to_mel([fmin, fmax], htk)
    mel_edges_hz = _mel_to_hz(np.linspace(mel_min, mel_max, n_mels + 2), htk)
    band_widths = np.diff(mel_edges_hz)
    ramps = np.subtract.outer(mel_edges_hz, fft_freqs)
    lower = -ramps[:-2] / band_widths[:-1, np.newaxis]
    upper = ramps[2:] / band_widths[1:, np.newaxis]
    # Same operation order and float32 rounding point as librosa, so results agree to the bit.
    weights = np.maximum(0, np.minimum(lower, upper)).astype(np.float32)

    if isinstance(norm, str):
        if norm != "slaney":
            raise ValueError(f"norm must be 'slaney', a number or None, got {norm!r}")
        area_norm = 2.0 / (mel_edges_hz[2 : n_mels + 2] - mel_edges_hz[:n_mels])
        weights *= area_norm[:, np.newaxis]  # computed in float64, stored as float32
    elif norm is not None:
        weights = _normalize_rows(weights, float(norm))

    if not np.all((mel_edges_hz[:-2] == 0) | (weights.max(axis=1) > 0)):
        warnings.warn(
            "Empty filters detected in mel frequency basis: some mel bands get no FFT bin. "
            "Increase n_fft or fmax, or reduce n_mels.",
            stacklevel=2,
        )
    return weights


def _normalize_rows(weights: np.ndarray, p: float) -> np.ndarray:
    """Rows to unit l_p norm, leaving (near-)zero rows alone, as ``librosa.util.normalize``."""
    magnitude = np.abs(weights)
    if p == np.inf:
        length = magnitude.max(axis=-1, keepdims=True)
    elif p == -np.inf:
        length = magnitude.min(axis=-1, keepdims=True)
    elif p > 0:
        length = np.sum(magnitude**p, axis=-1, keepdims=True) ** (1.0 / p)
    else:
        raise ValueError(f"norm must be positive (or +-inf) when numeric, got {p}")
    length = np.where(length < np.finfo(weights.dtype).tiny, 1.0, length).astype(weights.dtype)
    return weights / length


def _dct_ii_ortho_matrix(n_inputs: int, n_outputs: int) -> np.ndarray:
    """(n_inputs, n_outputs) matrix x @ D = the first n_outputs of scipy's dct(x, 2, 'ortho')."""
    n = np.arange(n_inputs)[:, np.newaxis]
    k = np.arange(n_outputs)[np.newaxis, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_inputs)) * np.sqrt(2.0 / n_inputs)
    basis[:, 0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def _padded_periodic_hann(win_length: int, n_fft: int) -> np.ndarray:
    """Periodic ("DFT-even") Hann window, zero-padded centred to n_fft like librosa."""
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(win_length) / win_length)
    left = (n_fft - win_length) // 2
    return np.pad(window, (left, n_fft - win_length - left)).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Decibels
# ----------------------------------------------------------------------------------------------
def power_to_db(
    x,
    amin: float = 1e-10,
    ref: Union[float, str] = 1.0,
    top_db: Optional[float] = 80.0,
    clip_below: Optional[float] = None,
    axis: Optional[Sequence[int]] = (-2, -1),
) -> tf.Tensor:
    """``librosa.power_to_db`` on tensors, applied per example.

    ``10 * log10(max(amin, x)) - 10 * log10(max(amin, ref))``, then floored at
    ``max - top_db`` and finally at the absolute level ``clip_below``.

    The axes in ``axis`` (default: the last two, i.e. ``(bins, frames)``) form one example; any
    leading axes are batch axes, so ``ref="max"`` and ``top_db`` use each example's own maximum,
    exactly as librosa does for a single clip. ``axis=None`` treats the whole tensor as one
    example; so does a 1-D input.

    Args:
        x: power values (>= 0), any float dtype; computed in float32 unless float64.
        amin: lower clamp for ``x`` and ``ref`` (avoids log(0)); must be > 0.
        ref: a float (its absolute value is used, as in librosa), or ``"max"`` for the
            example's maximum, which then sits at 0 dB.
        top_db: dynamic range kept below each example's maximum; ``None`` disables.
        clip_below: absolute dB floor applied after ``top_db``; ``None`` disables.
        axis: the axes that make up one example.

    Returns:
        A tensor of the same shape, in dB.
    """
    if amin <= 0:
        raise ValueError(f"amin must be strictly positive, got {amin}")
    if top_db is not None and top_db < 0:
        raise ValueError(f"top_db must be non-negative or None, got {top_db}")
    if isinstance(ref, str):
        if ref != "max":
            raise ValueError(f"ref must be a number or 'max', got {ref!r}")
    elif not np.isfinite(ref):
        raise ValueError(f"ref must be finite, got {ref}")

    x = tf.convert_to_tensor(x)
    if x.dtype != tf.float64:
        x = tf.cast(x, tf.float32)
    if axis is not None and x.shape.rank == 1:
        axis = None

    log_spec = (10.0 / math.log(10.0)) * tf.math.log(tf.maximum(x, tf.cast(amin, x.dtype)))
    if ref == "max":
        # log is monotonic, so subtracting the max of the clamped log equals using
        # ref = max(x) clamped at amin, without a second log pass.
        log_spec = log_spec - tf.reduce_max(log_spec, axis=axis, keepdims=True)
    else:
        offset = 10.0 * math.log10(max(amin, abs(float(ref))))
        if offset != 0.0:
            log_spec = log_spec - offset
    if top_db is not None:
        peak = tf.reduce_max(log_spec, axis=axis, keepdims=True)
        log_spec = tf.maximum(log_spec, peak - top_db)
    if clip_below is not None:
        log_spec = tf.maximum(log_spec, tf.cast(clip_below, log_spec.dtype))
    return log_spec


# ----------------------------------------------------------------------------------------------
# Keras layer
# ----------------------------------------------------------------------------------------------
@serializable()
class LogMelSpectrogram(keras.layers.Layer):
    """Waveform -> spectrogram image, matching librosa.

    Input: float waveform ``(batch, samples)``, or ``(samples,)`` for one clip.
    Output: float32 ``(batch, n_bins, n_frames, 1)`` (or ``(n_bins, n_frames, 1)``): channels
    last, frequency on axis 1 increasing with the index, time on axis 2 — librosa's orientation.

    Pipeline: centred STFT (periodic Hann window of ``win_length`` zero-padded to ``n_fft``,
    ``n_fft // 2`` samples of ``pad_mode`` padding each side) -> ``|STFT| ** power`` -> one of

    * ``"logmel"``: Slaney mel projection, then ``power_to_db``;
    * ``"mel"``: mel projection, no dB;
    * ``"mfcc"``: ``power_to_db`` of the mel spectrogram, then orthonormal DCT-II over the mel
      axis, first ``n_mfcc`` coefficients (``librosa.feature.mfcc`` with dct_type=2, norm="ortho");
    * ``"stft"``: the linear-frequency spectrogram (``n_fft // 2 + 1`` bins) through
      ``power_to_db``.

    dB conversion is always ``10 * log10`` of what precedes it (as ``librosa.power_to_db``),
    with ``amin``, ``ref``, ``top_db`` and ``clip_below`` applied per example.

    Note: librosa >= 0.10 defaults to ``pad_mode="constant"``; this layer defaults to
    ``"reflect"`` (older librosa's default). Pass ``pad_mode`` explicitly when comparing.

    The mel / DCT matrices are constants rebuilt from the config, not weights.
    """

    def __init__(
        self,
        sr: int = 22050,
        n_fft: int = 2048,
        win_length: Optional[int] = None,
        hop_length: int = 512,
        n_mels: int = 128,
        fmin: float = 0.0,
        fmax: Optional[float] = None,
        power: float = 2.0,
        amin: float = 1e-10,
        ref: Union[float, str] = 1.0,
        top_db: Optional[float] = 80.0,
        clip_below: Optional[float] = None,
        output: str = "logmel",
        n_mfcc: int = 40,
        center: bool = True,
        pad_mode: str = "reflect",
        portable: bool = False,
        **kwargs,
    ):
        # FFTs and logs in half precision are useless: stay float32 under a mixed policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        _validate_arguments(
            sr=sr, n_fft=n_fft, win_length=win_length, hop_length=hop_length, n_mels=n_mels,
            fmin=fmin, fmax=fmax, power=power, amin=amin, ref=ref, top_db=top_db,
            clip_below=clip_below, output=output, n_mfcc=n_mfcc, center=center,
            pad_mode=pad_mode,
        )
        self.sr = int(sr)
        self.n_fft = int(n_fft)
        self.win_length = None if win_length is None else int(win_length)
        self.hop_length = int(hop_length)
        self.n_mels = int(n_mels)
        self.fmin = float(fmin)
        self.fmax = None if fmax is None else float(fmax)
        self.power = float(power)
        self.amin = float(amin)
        self.ref = ref if isinstance(ref, str) else float(ref)
        self.top_db = None if top_db is None else float(top_db)
        self.clip_below = None if clip_below is None else float(clip_below)
        # Not `self.output`: keras.layers.Layer already has an `output` property.
        self.output_mode = output
        self.n_mfcc = int(n_mfcc)
        self.center = bool(center)
        self.pad_mode = pad_mode
        # portable: the STFT as a product with a DFT matrix, so the graph holds no complex
        # tensors and no FFT (LiteRT's builtin RFFT takes powers of two only, and ONNX
        # converters take an FFT only before a magnitude); the same numbers to float rounding.
        self.portable = bool(portable)

        # Constants as NumPy: cheap to embed in any graph (tf.data map, tf.function, model).
        self._window = _padded_periodic_hann(self.win_length or self.n_fft, self.n_fft)
        self._mel_matrix_t = None  # (n_fft // 2 + 1, n_mels), for spec @ M.T
        self._dct_matrix = None  # (n_mels, n_mfcc)
        self._dft_basis = None  # (n_fft, 2 * bins): windowed [cos | -sin], portable only
        if self.portable:
            bins = self.n_fft // 2 + 1
            phase = 2 * np.pi * np.outer(np.arange(self.n_fft), np.arange(bins)) / self.n_fft
            self._dft_basis = (np.concatenate([np.cos(phase), -np.sin(phase)], axis=1)
                               * self._window[:, None]).astype(np.float32)
        if output != "stft":
            self._mel_matrix_t = np.ascontiguousarray(
                mel_filterbank(self.sr, self.n_fft, self.n_mels, self.fmin, self.fmax).T
            )
        if output == "mfcc":
            self._dct_matrix = _dct_ii_ortho_matrix(self.n_mels, self.n_mfcc)

    # -- shapes ---------------------------------------------------------------------------------
    @property
    def n_bins(self) -> int:
        """Rows of the output image (axis 1)."""
        if self.output_mode == "stft":
            return self.n_fft // 2 + 1
        return self.n_mfcc if self.output_mode == "mfcc" else self.n_mels

    def n_frames(self, n_samples: Optional[int]) -> Optional[int]:
        """Columns of the output image (axis 2) for a clip of ``n_samples`` samples.

        With ``center=True`` this is ``1 + n_samples // hop_length`` for even ``n_fft``.
        """
        if n_samples is None:
            return None
        padded = n_samples + 2 * (self.n_fft // 2) if self.center else n_samples
        return max(0, 1 + (padded - self.n_fft) // self.hop_length)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) not in (1, 2):
            raise ValueError(
                f"LogMelSpectrogram expects (batch, samples) or (samples,), got {input_shape}"
            )
        image_shape = (self.n_bins, self.n_frames(input_shape[-1]), 1)
        return image_shape if len(input_shape) == 1 else (input_shape[0],) + image_shape

    # -- computation ----------------------------------------------------------------------------
    def call(self, inputs):
        waveform = tf.convert_to_tensor(inputs)
        if waveform.dtype != tf.float32:
            waveform = tf.cast(waveform, tf.float32)
        unbatched = waveform.shape.rank == 1
        if unbatched:
            waveform = tf.expand_dims(waveform, 0)
        elif waveform.shape.rank != 2:
            raise ValueError(
                "LogMelSpectrogram expects (batch, samples) or (samples,), "
                f"got shape {waveform.shape}"
            )
        self._check_length(waveform.shape[-1])

        features = self._power_spectrogram(waveform)  # (batch, frames, n_fft // 2 + 1)
        if self.output_mode != "stft":
            features = _matmul_last_axis(features, self._mel_matrix_t)  # (batch, frames, mels)
        if self.output_mode != "mel":
            features = power_to_db(
                features, amin=self.amin, ref=self.ref, top_db=self.top_db,
                clip_below=self.clip_below,
            )
        if self.output_mode == "mfcc":
            features = _matmul_last_axis(features, self._dct_matrix)  # (batch, frames, n_mfcc)

        # (batch, frames, bins) -> (batch, bins, frames, 1): librosa rows/columns, channels last.
        image = tf.expand_dims(tf.transpose(features, [0, 2, 1]), -1)
        return image[0] if unbatched else image

    def _check_length(self, n_samples: Optional[int]) -> None:
        if n_samples is None:
            return
        if self.center and self.pad_mode != "constant" and n_samples <= self.n_fft // 2:
            raise ValueError(
                f"{self.pad_mode!r} padding needs more than n_fft // 2 = {self.n_fft // 2} "
                f"samples, got {n_samples}"
            )
        if self.n_frames(n_samples) < 1:
            raise ValueError(f"{n_samples} samples is shorter than one frame (n_fft={self.n_fft})")

    def _dft_power(self, waveform: tf.Tensor) -> tf.Tensor:
        """|STFT|**2 of padded ``waveform`` as windowed frames times a [cos | -sin] DFT
        matrix (the ``portable`` path)."""
        bins = self.n_fft // 2 + 1
        frames = tf.signal.frame(waveform, self.n_fft, self.hop_length, pad_end=False)
        spectrum = _matmul_last_axis(frames, self._dft_basis)
        return tf.math.square(spectrum[..., :bins]) + tf.math.square(spectrum[..., bins:])

    def _power_spectrogram(self, waveform: tf.Tensor) -> tf.Tensor:
        """|STFT|**power, shape (batch, frames, n_fft // 2 + 1)."""
        if self.center:
            pad = self.n_fft // 2
            waveform = tf.pad(waveform, [[0, 0], [pad, pad]], mode=PAD_MODES[self.pad_mode])
        if self.portable:
            power = self._dft_power(waveform)
            return power if self.power == 2.0 else tf.math.pow(tf.math.sqrt(power),
                                                               self.power)
        window = self._window
        stft = tf.signal.stft(
            waveform,
            frame_length=self.n_fft,
            frame_step=self.hop_length,
            fft_length=self.n_fft,
            window_fn=lambda length, dtype: tf.constant(window, dtype=dtype),
            pad_end=False,
        )
        if self.power == 2.0:
            # re^2 + im^2 skips the sqrt/square round trip of abs()**2 (faster, more exact).
            return tf.math.square(tf.math.real(stft)) + tf.math.square(tf.math.imag(stft))
        magnitude = tf.math.abs(stft)
        return magnitude if self.power == 1.0 else tf.math.pow(magnitude, self.power)

    # -- serialization --------------------------------------------------------------------------
    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            sr=self.sr, n_fft=self.n_fft, win_length=self.win_length,
            hop_length=self.hop_length, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax,
            power=self.power, amin=self.amin, ref=self.ref, top_db=self.top_db,
            clip_below=self.clip_below, output=self.output_mode, n_mfcc=self.n_mfcc,
            center=self.center, pad_mode=self.pad_mode, portable=self.portable,
        )
        return config


def _matmul_last_axis(x: tf.Tensor, matrix: np.ndarray) -> tf.Tensor:
    """x[..., i] @ matrix[i, j] as one 2-D GEMM over all leading positions (batch x frames)."""
    leading_shape = tf.shape(x)[:-1]
    flat = tf.reshape(x, [-1, matrix.shape[0]])
    product = tf.linalg.matmul(flat, tf.constant(matrix, dtype=x.dtype))
    result = tf.reshape(product, tf.concat([leading_shape, [matrix.shape[1]]], axis=0))
    # Reshape loses static shape information; restore it for downstream layers (set_shape adds
    # no op, so exported graphs hold only ops every runtime has).
    result.set_shape(x.shape[:-1].concatenate([matrix.shape[1]]))
    return result


def _validate_arguments(
    *, sr, n_fft, win_length, hop_length, n_mels, fmin, fmax, power, amin, ref, top_db,
    clip_below, output, n_mfcc, center, pad_mode,
) -> None:
    """Raise ValueError naming the first bad argument of LogMelSpectrogram."""

    def positive_int(name, value):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")

    is_number = isinstance(sr, (int, float, np.number)) and not isinstance(sr, bool)
    if not is_number or sr <= 0 or sr != int(sr):
        raise ValueError(f"sr must be a positive whole number of Hz, got {sr!r}")
    positive_int("n_fft", n_fft)
    positive_int("hop_length", hop_length)
    positive_int("n_mels", n_mels)
    positive_int("n_mfcc", n_mfcc)
    if win_length is not None:
        positive_int("win_length", win_length)
        if win_length > n_fft:
            raise ValueError(f"win_length ({win_length}) must be <= n_fft ({n_fft})")
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {tuple(PAD_MODES)}, got {pad_mode!r}")
    if not isinstance(center, (bool, np.bool_)):
        raise ValueError(f"center must be a bool, got {center!r}")
    nyquist = sr / 2
    if fmin < 0 or fmin >= nyquist:
        raise ValueError(f"fmin must be in [0, sr / 2 = {nyquist}), got {fmin}")
    if fmax is not None and not fmin < fmax <= nyquist:
        raise ValueError(f"fmax must be in (fmin = {fmin}, sr / 2 = {nyquist}], got {fmax}")
    if not power > 0:
        raise ValueError(f"power must be positive, got {power}")
    if not amin > 0:
        raise ValueError(f"amin must be strictly positive, got {amin}")
    if isinstance(ref, str):
        if ref != "max":
            raise ValueError(f"ref must be a positive number or 'max', got {ref!r}")
    elif not (np.isfinite(ref) and ref > 0):
        raise ValueError(f"ref must be a positive number or 'max', got {ref!r}")
    if top_db is not None and not top_db >= 0:
        raise ValueError(f"top_db must be non-negative or None, got {top_db}")
    if clip_below is not None and not np.isfinite(clip_below):
        raise ValueError(f"clip_below must be a finite dB value or None, got {clip_below}")
    if output == "mfcc" and n_mfcc > n_mels:
        raise ValueError(f"n_mfcc ({n_mfcc}) must be <= n_mels ({n_mels})")


def frontend_from_parameters(params) -> LogMelSpectrogram:
    """Build the front end layer from a parameters object (only reads its attributes).

    Reads ``sr, n_fft, window, hop_length, n_mels, fmin, fmax, power, amin, top_db,
    clip_below, spectrogram, n_mfcc``; ``window`` is the window length (None: n_fft) and
    ``spectrogram`` the output kind ("logmel", "mfcc" or "stft").
    """
    return LogMelSpectrogram(
        sr=params.sr,
        n_fft=params.n_fft,
        win_length=params.window,
        hop_length=params.hop_length,
        n_mels=params.n_mels,
        fmin=params.fmin,
        fmax=params.fmax,
        power=params.power,
        amin=params.amin,
        top_db=params.top_db,
        clip_below=params.clip_below,
        output=params.spectrogram,
        n_mfcc=params.n_mfcc,
    )
