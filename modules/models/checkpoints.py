"""What the checkpoint converters share: reading a PyTorch checkpoint file safely, and checking
the torchlibrosa front-end constants it carries against the preset the Keras model is built with.

PANNs and HTS-AT checkpoints both hold torchlibrosa's frozen STFT kernels
(``spectrogram_extractor.stft.conv_real/imag.weight``) and mel matrix (``logmel_extractor.melW``).
The Keras models rebuild those from the preset, so the converters do not load them; they check
them instead, which is how a checkpoint trained on other front-end settings is caught.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Mapping

import numpy as np

from modules.errors import UserError
from modules.models.presets import PRESETS, FrontEndPreset

STFT_REAL = "spectrogram_extractor.stft.conv_real.weight"
STFT_IMAG = "spectrogram_extractor.stft.conv_imag.weight"
MEL_MATRIX = "logmel_extractor.melW"
# Wrappers a state dict is found in: PANNs releases {"model": ...}, lightning {"state_dict": ...}.
STATE_DICT_WRAPPERS = ("model", "state_dict", "model_state_dict")


class UnsafeCheckpointError(UserError, ValueError):
    """A checkpoint that pickles more than tensors, refused without ``--trust-checkpoint``."""


def to_numpy(value) -> np.ndarray:
    """A checkpoint value as a NumPy array (torch tensors without importing torch)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()  # float16 / bfloat16 checkpoints (NumPy has no bfloat16)
        value = value.numpy()
    return np.asarray(value)


def read_torch_checkpoint(path, allow_pickle: bool = False) -> dict:
    """The state dict (name -> array) in a PyTorch checkpoint file, unwrapped from a training
    checkpoint's dict when it is one.

    Read with ``weights_only=True``: no code from the pickle runs. A file that pickles other
    Python objects too is refused, unless ``allow_pickle`` (``--trust-checkpoint``) says the
    file is trusted; it is then unpickled in full, with a warning.
    """
    try:
        import torch
    except ImportError as error:
        raise ImportError("reading PyTorch checkpoints needs torch; install the reference extra: "
                          "pip install -e .[reference]") from error
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError / RuntimeError variants
        if not allow_pickle:
            raise UnsafeCheckpointError(
                f"{path} holds more than tensors and cannot be read safely "
                f"({type(error).__name__}: {str(error).splitlines()[0]}); if you trust the file, "
                "pass --trust-checkpoint (allow_pickle=True) to unpickle it in full") from error
        warnings.warn(f"{path}: cannot be read with weights_only=True ({type(error).__name__}); "
                      "unpickling it in full, which runs code from the file", stacklevel=2)
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=False)
    if isinstance(checkpoint, Mapping):
        for wrapper in STATE_DICT_WRAPPERS:
            if isinstance(checkpoint.get(wrapper), Mapping):
                checkpoint = checkpoint[wrapper]
                break
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"{path} does not hold a state dict (got {type(checkpoint).__name__})")
    return {key: to_numpy(value) for key, value in checkpoint.items()}


def describe_preset(preset: FrontEndPreset) -> str:
    return (f"sr={preset.sr}, window={preset.window_size}, hop={preset.hop_size}, "
            f"mel_bins={preset.mel_bins}, fmin={preset.fmin}, fmax={preset.fmax}")


def check_frontend_constants(state_dict: Mapping[str, np.ndarray], preset: FrontEndPreset) -> None:
    """Raise ValueError, naming both settings, when the checkpoint's STFT window, mel filterbank
    or bn0 width is not the preset's."""
    layer = preset.logmel_layer()
    ours = f"the Keras front end ({preset.name}: {describe_preset(preset)})"
    if STFT_REAL in state_dict:
        real = state_dict[STFT_REAL]
        if real.ndim != 3 or real.shape[-1] != layer.n_fft or real.shape[0] != layer.n_fft // 2 + 1:
            raise ValueError(f"{STFT_REAL} has shape {real.shape}, i.e. a window of "
                             f"{real.shape[-1]} samples; {ours} uses n_fft={layer.n_fft} "
                             f"(shape {(layer.n_fft // 2 + 1, 1, layer.n_fft)})")
        # Frequency row 0 of the real DFT kernel is the analysis window itself.
        error = float(np.max(np.abs(real[0, 0] - layer._window)))
        if error > 1e-5:
            raise ValueError(f"{STFT_REAL}: the checkpoint's STFT window differs from the periodic "
                             f"Hann window of {ours} (max difference {error:.3g})")
    if MEL_MATRIX in state_dict:
        theirs = state_dict[MEL_MATRIX]
        expected = layer._mel_matrix_t
        if theirs.shape != expected.shape:
            raise ValueError(
                f"{MEL_MATRIX} has shape {theirs.shape} (n_fft={2 * (theirs.shape[0] - 1)}, "
                f"mel_bins={theirs.shape[-1]}) but {ours} has {expected.shape} "
                f"(n_fft={layer.n_fft}, mel_bins={layer.n_mels}){_matching_presets(theirs)}")
        if not _same_matrix(expected, theirs):
            error = float(np.max(np.abs(theirs - expected)))
            raise ValueError(
                f"{MEL_MATRIX} differs from the mel filterbank of {ours} (max difference "
                f"{error:.3g}): the checkpoint's filters span about {_span_hz(theirs, preset)} "
                f"while ours span {_span_hz(expected, preset)}{_matching_presets(theirs)}")
    bn0 = state_dict.get("bn0.weight")
    if bn0 is not None and bn0.shape[0] != preset.mel_bins:
        raise ValueError(f"the checkpoint's bn0 normalises {bn0.shape[0]} mel bins; {ours} has "
                         f"{preset.mel_bins}")


def frontend_constants(layer) -> dict:
    """torchlibrosa's frozen front-end tensors for a LogMelSpectrogram layer: the windowed DFT
    basis as conv kernels (n_fft // 2 + 1, 1, n_fft) and the (bins, mels) mel matrix."""
    n = layer.n_fft
    angle = 2 * np.pi * np.outer(np.arange(n // 2 + 1), np.arange(n)) / n
    return {STFT_REAL: (np.cos(angle) * layer._window)[:, None, :].astype(np.float32),
            STFT_IMAG: (-np.sin(angle) * layer._window)[:, None, :].astype(np.float32),
            MEL_MATRIX: np.array(layer._mel_matrix_t, np.float32)}


def _same_matrix(ours: np.ndarray, theirs: np.ndarray) -> bool:
    """Equal up to float32 rounding (torchlibrosa and this project both follow librosa)."""
    return float(np.max(np.abs(ours - theirs))) <= 1e-6 * max(1.0, float(np.abs(ours).max()))


def _span_hz(mel_t: np.ndarray, preset: FrontEndPreset) -> str:
    """Frequency range with non-zero filter weight, assuming the preset's rate and n_fft."""
    bins = np.flatnonzero(mel_t.max(axis=1) > 0)
    if bins.size == 0:
        return "nothing (all-zero matrix)"
    hz_per_bin = preset.sr / (2 * (mel_t.shape[0] - 1))
    return f"{bins[0] * hz_per_bin:.0f}-{bins[-1] * hz_per_bin:.0f} Hz at sr={preset.sr}"


def _matching_presets(mel_t: np.ndarray) -> str:
    names = [f"{name} ({describe_preset(candidate)})" for name, candidate in PRESETS.items()
             if _mel_matches(mel_t, candidate)]
    if not names:
        return "; the filterbank matches no known preset"
    return "; the checkpoint matches preset " + " / ".join(names)


def _mel_matches(mel_t: np.ndarray, preset: FrontEndPreset) -> bool:
    matrix = preset.logmel_layer()._mel_matrix_t
    return matrix.shape == mel_t.shape and _same_matrix(matrix, mel_t)
