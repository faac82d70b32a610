"""Front-end presets of the published models, and the check that pretrained weights fit a model.

A pretrained network only means something on the features it was trained on: PANNs and HTS-AT
checkpoints expect 32 kHz audio, a 1024-sample window, a 320-sample hop and 64 Slaney mel bins
from 50 Hz to 14 kHz. A preset carries those settings so that

* a job block that uses such a model gets its audio decoded (and resampled) at the model's rate;
* loading weights into a model whose front end differs fails, naming both settings, instead of
  silently producing features the weights were never trained on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import keras

from modules.frontend import LogMelSpectrogram

# The settings of LogMelSpectrogram that change what a pretrained model sees.
FRONTEND_SETTINGS = ("sr", "n_fft", "win_length", "hop_length", "n_mels", "fmin", "fmax",
                     "power", "amin", "ref", "top_db", "clip_below", "output", "center", "pad_mode")


@dataclass(frozen=True)
class FrontEndPreset:
    """Log-mel settings of a published model (torchlibrosa conventions: periodic Hann window,
    centred STFT with reflect padding, power 2, Slaney mel, 10*log10 with ``amin`` and no top_db)."""

    name: str
    sr: int
    window_size: int
    hop_size: int
    mel_bins: int
    fmin: float
    fmax: float
    amin: float = 1e-10
    top_db: Optional[float] = None

    def logmel_layer(self, name: str = "logmel_extractor") -> LogMelSpectrogram:
        """The project's front-end layer configured like the reference model."""
        return LogMelSpectrogram(
            sr=self.sr, n_fft=self.window_size, win_length=self.window_size,
            hop_length=self.hop_size, n_mels=self.mel_bins, fmin=self.fmin, fmax=self.fmax,
            power=2.0, amin=self.amin, ref=1.0, top_db=self.top_db, clip_below=None,
            output="logmel", center=True, pad_mode="reflect", name=name)

    def n_frames(self, n_samples: int) -> int:
        """Frames the centred STFT gives for ``n_samples`` samples."""
        return 1 + n_samples // self.hop_size

    def parameters(self) -> dict:
        """The matching values of the job parameters (so reports and parsers agree)."""
        return {"sr": self.sr, "n_fft": self.window_size, "hop_length": self.hop_size,
                "n_mels": self.mel_bins, "fmin": float(self.fmin), "fmax": float(self.fmax)}

    def replace(self, **changes) -> "FrontEndPreset":
        return dataclasses.replace(self, **changes)


PANNS_32K = FrontEndPreset("panns_32k", sr=32000, window_size=1024, hop_size=320, mel_bins=64,
                           fmin=50.0, fmax=14000.0)
# The 16 kHz and 8 kHz PANNs checkpoints (Cnn14_16k, Cnn14_8k) scale window and hop with the rate.
PANNS_16K = FrontEndPreset("panns_16k", sr=16000, window_size=512, hop_size=160, mel_bins=64,
                           fmin=50.0, fmax=8000.0)
PANNS_8K = FrontEndPreset("panns_8k", sr=8000, window_size=256, hop_size=80, mel_bins=64,
                          fmin=50.0, fmax=4000.0)
HTSAT_32K = PANNS_32K.replace(name="htsat_32k")

PRESETS = {preset.name: preset for preset in (PANNS_32K, PANNS_16K, PANNS_8K, HTSAT_32K)}


def get_preset(name: str) -> FrontEndPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown front-end preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None


def frontend_settings(model: keras.Model) -> Optional[dict]:
    """The settings of the model's waveform front end (its first LogMelSpectrogram), or None
    for a model that takes spectrograms as input."""
    for layer in _all_layers(model):
        if isinstance(layer, LogMelSpectrogram):
            config = layer.get_config()
            # win_length None means the full window; compare the effective value.
            config["win_length"] = config["win_length"] or config["n_fft"]
            return {key: config[key] for key in FRONTEND_SETTINGS}
    return None


def check_frontend_match(source: Optional[dict], target: Optional[dict],
                         source_name: str = "pretrained model", target_name: str = "this model") -> None:
    """Raise ValueError naming every front-end setting that differs, with both values."""
    if source is None and target is None:
        return
    if source is None or target is None:
        which = source_name if source is None else target_name
        raise ValueError(f"{which} has no waveform front end (LogMelSpectrogram) while the other "
                         "has one; their weights expect different inputs")
    differences = [f"{key}: {source_name} has {source.get(key)!r}, {target_name} has {target.get(key)!r}"
                   for key in FRONTEND_SETTINGS if not _same(source.get(key), target.get(key))]
    if differences:
        raise ValueError("front-end settings differ, so the pretrained weights would see features "
                         "they were not trained on:\n  " + "\n  ".join(differences))


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def _all_layers(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
