"""Tests of modules/frontend.py against librosa (the reference implementation).

References are computed in float64 by librosa; the layer runs in float32. Tolerances below are
in dB and come from float32 FFT rounding (about 1e-7 of a frame's peak amplitude), which only
shows on bins far below the peak.
"""

from __future__ import annotations

import types
from pathlib import Path

import keras
import librosa
import numpy as np
import pytest
import tensorflow as tf

from modules.frontend import (
    LogMelSpectrogram,
    frontend_from_parameters,
    mel_filterbank,
    power_to_db,
)

SR = 22050
ESC10 = Path(__file__).resolve().parents[1].parent / "shared/datasets/ESC-10"
DOG_BARK = ESC10 / "001 - Dog bark" / "1-100032-A.ogg"

# Max abs difference to librosa (dB) for log-mel / MFCC, everywhere including the top_db floor.
LOGMEL_ATOL_DB = 1e-3
MFCC_ATOL = 2e-3
# Linear STFT bins are not averaged by mel bands: bins within 40 dB of the clip's peak must be
# within 1e-3 dB, deep bins (down to the 80 dB floor) within 1e-2 dB.
STFT_NEAR_PEAK_ATOL_DB = 1e-3
STFT_ATOL_DB = 1e-2


def make_signal(seconds: float = 1.0, f0: float = 100.0, f1: float = 8000.0,
                gain: float = 0.5, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    """Linear chirp f0 -> f1 plus white noise, float32, deterministic."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    return (gain * np.sin(phase) + noise * rng.standard_normal(t.size)).astype(np.float32)


def librosa_features(y, sr=SR, n_fft=1024, hop_length=256, win_length=None, n_mels=64,
                     fmin=0.0, fmax=None, power=2.0, amin=1e-10, ref=1.0, top_db=80.0,
                     output="logmel", n_mfcc=20, pad_mode="reflect"):
    """The same features with librosa, in float64, shaped (bins, frames)."""
    spec = np.abs(librosa.stft(np.asarray(y, np.float64), n_fft=n_fft, hop_length=hop_length,
                               win_length=win_length, center=True, pad_mode=pad_mode)) ** power
    ref = np.max if ref == "max" else ref
    if output == "stft":
        return librosa.power_to_db(spec, amin=amin, ref=ref, top_db=top_db)
    mel = librosa.feature.melspectrogram(S=spec, sr=sr, n_fft=n_fft, n_mels=n_mels,
                                         fmin=fmin, fmax=fmax)
    if output == "mel":
        return mel
    log_mel = librosa.power_to_db(mel, amin=amin, ref=ref, top_db=top_db)
    if output == "logmel":
        return log_mel
    return librosa.feature.mfcc(S=log_mel, n_mfcc=n_mfcc, dct_type=2, norm="ortho")


def run_layer(y, **kwargs) -> np.ndarray:
    """Layer output for one clip as (bins, frames)."""
    layer = LogMelSpectrogram(**kwargs)
    return layer(np.asarray(y)[np.newaxis]).numpy()[0, ..., 0]


# ----------------------------------------------------------------------------------------------
# mel_filterbank
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(sr=22050, n_fft=2048),
        dict(sr=22050, n_fft=1024, n_mels=64),
        dict(sr=16000, n_fft=512, n_mels=40, fmin=50.0, fmax=7000.0),
        dict(sr=44100, n_fft=2048, n_mels=96, fmin=20.0, fmax=16000.0),
        dict(sr=22050, n_fft=1024, n_mels=64, htk=True),
        dict(sr=16000, n_fft=400, n_mels=80, fmin=125.0, fmax=7600.0, htk=True),
        dict(sr=22050, n_fft=1024, n_mels=64, norm=None),
        dict(sr=8000, n_fft=256, n_mels=20, norm=2.0),
    ],
)
def test_mel_filterbank_matches_librosa(kwargs):
    ours = mel_filterbank(**kwargs)
    reference = librosa.filters.mel(**kwargs)
    assert ours.dtype == np.float32
    assert ours.shape == reference.shape == (kwargs.get("n_mels", 128), kwargs["n_fft"] // 2 + 1)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6 * np.abs(reference).max())


def test_mel_filterbank_differs_from_tf_htk_matrix():
    # Guards against "simplifying" to tf.signal.linear_to_mel_weight_matrix (HTK, no area norm).
    ours = mel_filterbank(22050, 1024, 64)
    tf_matrix = tf.signal.linear_to_mel_weight_matrix(64, 513, 22050, 0.0, 11025.0).numpy().T
    assert not np.allclose(ours, tf_matrix, atol=1e-3)


# ----------------------------------------------------------------------------------------------
# Layer vs librosa
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(n_fft=2048, hop_length=512, n_mels=128, fmin=20.0, fmax=10000.0),
        dict(n_fft=1024, win_length=600, hop_length=300),
        dict(ref="max", top_db=60.0),
        dict(power=1.0, amin=1e-5),
    ],
)
def test_logmel_matches_librosa(kwargs):
    y = make_signal(seed=1)
    settings = {**dict(n_fft=1024, hop_length=256, n_mels=64), **kwargs}
    ours = run_layer(y, sr=SR, output="logmel", **settings)
    reference = librosa_features(y, output="logmel", **settings)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=0, atol=LOGMEL_ATOL_DB)


def test_mel_power_matches_librosa():
    y = make_signal(seed=2)
    ours = run_layer(y, sr=SR, n_fft=1024, hop_length=256, n_mels=64, output="mel")
    reference = librosa_features(y, output="mel")
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-6 * reference.max())


def test_mfcc_matches_librosa():
    y = make_signal(seed=3)
    ours = run_layer(y, sr=SR, n_fft=1024, hop_length=256, n_mels=64, output="mfcc", n_mfcc=20)
    reference = librosa_features(y, output="mfcc", n_mfcc=20)
    assert ours.shape == (20, reference.shape[1])
    np.testing.assert_allclose(ours, reference, rtol=0, atol=MFCC_ATOL)


def test_stft_matches_librosa():
    y = make_signal(seed=4)
    ours = run_layer(y, sr=SR, n_fft=1024, hop_length=256, output="stft")
    reference = librosa_features(y, output="stft")
    assert ours.shape == (513, reference.shape[1])
    np.testing.assert_allclose(ours, reference, rtol=0, atol=STFT_ATOL_DB)
    near_peak = reference > reference.max() - 40.0
    np.testing.assert_allclose(ours[near_peak], reference[near_peak], rtol=0,
                               atol=STFT_NEAR_PEAK_ATOL_DB)
    # Power dB of |S|^2 is amplitude dB of |S| (amin and ref in amplitude units).
    amplitude_db = librosa.amplitude_to_db(
        np.abs(librosa.stft(y.astype(np.float64), n_fft=1024, hop_length=256, pad_mode="reflect")),
        amin=1e-5, top_db=80.0,
    )
    np.testing.assert_allclose(ours, amplitude_db, rtol=0, atol=STFT_ATOL_DB)


def test_constant_pad_mode_matches_librosa_default():
    # librosa >= 0.10 defaults to pad_mode="constant"; ours defaults to "reflect".
    y = make_signal(seed=5)
    ours = run_layer(y, sr=SR, n_fft=1024, hop_length=256, n_mels=64, pad_mode="constant")
    reference = librosa.power_to_db(librosa.feature.melspectrogram(
        y=y.astype(np.float64), sr=SR, n_fft=1024, hop_length=256, n_mels=64))
    np.testing.assert_allclose(ours, reference, rtol=0, atol=LOGMEL_ATOL_DB)
    reflected = run_layer(y, sr=SR, n_fft=1024, hop_length=256, n_mels=64)
    assert np.abs(reflected[:, 0] - ours[:, 0]).max() > 0.1  # edge frames really differ


@pytest.mark.skipif(not DOG_BARK.exists(), reason=f"ESC-10 clip not found at {DOG_BARK}")
def test_logmel_matches_librosa_on_real_clip():
    soundfile = pytest.importorskip("soundfile")
    y, sr = soundfile.read(DOG_BARK, dtype="float32")
    if y.ndim == 2:
        y = y.mean(axis=1)
    settings = dict(n_fft=2048, hop_length=512, n_mels=128)
    ours = run_layer(y, sr=sr, **settings)
    reference = librosa_features(y, sr=sr, **settings)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=LOGMEL_ATOL_DB)


# ----------------------------------------------------------------------------------------------
# dB semantics, batching
# ----------------------------------------------------------------------------------------------
def three_clips() -> np.ndarray:
    """Very different loudness; the quiet one has a silent second half."""
    loud = make_signal(gain=0.9, noise=0.05, seed=10)
    quiet = make_signal(f0=300.0, f1=3000.0, gain=1e-3, noise=1e-5, seed=11)
    quiet[quiet.size // 2:] = 0.0
    noise = 0.1 * np.random.default_rng(12).standard_normal(loud.size).astype(np.float32)
    return np.stack([loud, quiet, noise])


def test_ref_max_gives_each_example_0_db_peak():
    layer = LogMelSpectrogram(sr=SR, n_fft=1024, hop_length=256, n_mels=64, ref="max",
                              top_db=50.0)
    images = layer(three_clips()).numpy()
    np.testing.assert_allclose(images.max(axis=(1, 2, 3)), 0.0, atol=1e-6)
    # top_db floors each example at its own peak - 50; the quiet clip's silent half reaches it.
    assert images.min() >= -50.0 - 1e-4
    np.testing.assert_allclose(images[1].min(), -50.0, atol=1e-4)


def test_top_db_and_clip_below_per_example():
    clips = three_clips()
    base = dict(sr=SR, n_fft=1024, hop_length=256, n_mels=64)
    unclipped = LogMelSpectrogram(**base, top_db=None)(clips).numpy()
    peaks = unclipped.max(axis=(1, 2, 3))
    assert peaks[0] - peaks[1] > 40.0  # the examples really differ in level

    floored = LogMelSpectrogram(**base, top_db=30.0)(clips).numpy()
    np.testing.assert_allclose(floored, np.maximum(unclipped, peaks[:, None, None, None] - 30.0),
                               atol=1e-5)

    # clip_below is absolute and applied after top_db.
    clipped = LogMelSpectrogram(**base, top_db=30.0, clip_below=-20.0)(clips).numpy()
    np.testing.assert_allclose(clipped, np.maximum(floored, -20.0), atol=1e-5)


def test_power_to_db_matches_librosa_per_example():
    rng = np.random.default_rng(0)
    batch = rng.random((3, 16, 20)) ** 8 * np.array([1.0, 1e-6, 0.0])[:, None, None]
    for ref in (1.0, 0.5, "max"):
        ours = power_to_db(tf.constant(batch, tf.float32), ref=ref, top_db=40.0).numpy()
        for example, result in zip(batch, ours):
            reference = librosa.power_to_db(example, ref=np.max if ref == "max" else ref,
                                            top_db=40.0)
            np.testing.assert_allclose(result, reference, rtol=0, atol=1e-4)
    # Rank 2 is one example; axis=None makes the whole tensor one example, as librosa.
    np.testing.assert_allclose(power_to_db(batch[0]).numpy(), librosa.power_to_db(batch[0]),
                               atol=1e-4)
    np.testing.assert_allclose(power_to_db(batch, axis=None).numpy(), librosa.power_to_db(batch),
                               atol=1e-4)
    assert power_to_db(np.array([1.0, 1e-20]), clip_below=-50.0).numpy().tolist() == [0.0, -50.0]
    with pytest.raises(ValueError, match="amin"):
        power_to_db(batch, amin=0.0)
    with pytest.raises(ValueError, match="ref"):
        power_to_db(batch, ref="median")


@pytest.mark.parametrize("output", ["logmel", "mfcc", "stft"])
def test_batch_equals_separate_calls(output):
    clips = three_clips()
    layer = LogMelSpectrogram(sr=SR, n_fft=1024, hop_length=256, n_mels=64, ref="max",
                              output=output, n_mfcc=20)
    batched = layer(clips).numpy()
    for clip, image in zip(clips, batched):
        np.testing.assert_allclose(layer(clip[np.newaxis]).numpy()[0], image, rtol=0, atol=1e-4)
    # Unbatched input: (samples,) -> (bins, frames, 1).
    np.testing.assert_allclose(layer(clips[1]).numpy(), batched[1], rtol=0, atol=1e-4)


# ----------------------------------------------------------------------------------------------
# Shapes, serialization, arguments
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, n_samples",
    [
        (dict(), 22050),
        (dict(output="mfcc", n_mfcc=13, hop_length=300), 10000),
        (dict(output="stft", n_fft=512, hop_length=128), 5000),
        (dict(n_fft=511, win_length=400, hop_length=100), 4321),
        (dict(center=False, n_fft=1024, hop_length=256), 8000),
    ],
)
def test_output_shape_and_n_frames(kwargs, n_samples):
    layer = LogMelSpectrogram(sr=SR, n_mels=32, **kwargs)
    images = layer(np.zeros((2, n_samples), np.float32))
    assert images.dtype == tf.float32
    assert tuple(images.shape) == layer.compute_output_shape((2, n_samples))
    assert images.shape[2] == layer.n_frames(n_samples)
    if layer.center and layer.n_fft % 2 == 0:
        assert layer.n_frames(n_samples) == 1 + n_samples // layer.hop_length
    assert layer.compute_output_shape((None, None)) == (None, layer.n_bins, None, 1)
    assert layer.compute_output_shape((n_samples,)) == tuple(layer(np.zeros(n_samples)).shape)


def test_save_load_round_trip(tmp_path):
    n_samples = 8000
    inputs = keras.Input((n_samples,))
    features = LogMelSpectrogram(sr=16000, n_fft=512, hop_length=160, n_mels=40, top_db=70.0,
                                 ref="max", clip_below=-60.0, name="frontend")(inputs)
    hidden = keras.layers.Conv2D(4, 3, activation="relu")(features)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(hidden))
    model = keras.Model(inputs, outputs)
    assert features.shape == (None, 40, 1 + n_samples // 160, 1)

    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    clips = make_signal(seconds=n_samples / SR, seed=20)[np.newaxis].repeat(2, axis=0)
    clips[1] *= 0.01
    np.testing.assert_allclose(loaded.predict(clips, verbose=0), model.predict(clips, verbose=0),
                               rtol=0, atol=1e-6)
    assert isinstance(loaded.get_layer("frontend"), LogMelSpectrogram)
    assert loaded.get_layer("frontend").get_config() == model.get_layer("frontend").get_config()
    assert not loaded.get_layer("frontend").weights  # matrices are rebuilt, not stored


def test_config_round_trip():
    layer = LogMelSpectrogram(sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=40,
                              fmin=20.0, fmax=7600.0, power=1.0, amin=1e-5, ref="max",
                              top_db=None, clip_below=-70.0, output="mfcc", n_mfcc=13,
                              center=True, pad_mode="constant", name="fe")
    config = layer.get_config()
    assert config["output"] == "mfcc" and config["win_length"] == 400 and config["ref"] == "max"
    clone = LogMelSpectrogram.from_config(config)
    assert clone.get_config() == config
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(clone, LogMelSpectrogram) and clone.get_config() == config
    clip = make_signal(seconds=0.3, seed=21)
    np.testing.assert_array_equal(clone(clip).numpy(), layer(clip).numpy())


def test_float32_under_mixed_precision_policy():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = LogMelSpectrogram(sr=SR, n_fft=512, hop_length=256, n_mels=32)
        assert layer(np.zeros((1, 4096), np.float32)).dtype == tf.float32
    finally:
        keras.config.set_dtype_policy(previous)


def test_runs_inside_tf_data_map():
    layer = LogMelSpectrogram(sr=SR, n_fft=512, hop_length=256, n_mels=32)
    clips = three_clips()
    dataset = tf.data.Dataset.from_tensor_slices(clips).batch(3).map(layer)
    (images,) = list(dataset)
    np.testing.assert_allclose(images.numpy(), layer(clips).numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(output="spectrum"), "output"),
        (dict(hop_length=0), "hop_length"),
        (dict(hop_length=-5), "hop_length"),
        (dict(n_fft=0), "n_fft"),
        (dict(sr=0), "sr"),
        (dict(n_mels=0), "n_mels"),
        (dict(win_length=4096), "win_length"),
        (dict(fmax=20000.0), "fmax"),
        (dict(fmin=3000.0, fmax=2000.0), "fmax"),
        (dict(fmin=-1.0), "fmin"),
        (dict(power=0.0), "power"),
        (dict(amin=0.0), "amin"),
        (dict(ref="median"), "ref"),
        (dict(ref=0.0), "ref"),
        (dict(top_db=-1.0), "top_db"),
        (dict(output="mfcc", n_mels=20, n_mfcc=40), "n_mfcc"),
        (dict(pad_mode="wrap"), "pad_mode"),
    ],
)
def test_bad_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LogMelSpectrogram(**kwargs)


def test_too_short_input_raises():
    layer = LogMelSpectrogram(n_fft=2048)
    with pytest.raises(ValueError, match="n_fft"):
        layer(np.zeros((1, 1000), np.float32))
    with pytest.raises(ValueError, match="samples"):
        layer(np.zeros((1, 2, 3000), np.float32))


def test_frontend_from_parameters():
    params = types.SimpleNamespace(
        sr=16000, n_fft=512, window=400, hop_length=160, n_mels=40, fmin=20.0, fmax=None,
        power=2.0, amin=1e-10, top_db=80.0, clip_below=-90.0, spectrogram="mfcc", n_mfcc=13,
    )
    layer = frontend_from_parameters(params)
    config = layer.get_config()
    assert (config["win_length"], config["output"], config["n_mfcc"]) == (400, "mfcc", 13)
    assert config["sr"] == 16000 and config["clip_below"] == -90.0
    assert layer.n_bins == 13


def test_frontend_from_project_parameters():
    parameters_module = pytest.importorskip("modules.parameters")
    params = parameters_module.Parameters()
    layer = frontend_from_parameters(params.freeze() if hasattr(params, "freeze") else params)
    assert layer.get_config()["output"] == params.spectrogram
    assert layer.n_frames(params.sr * 5) == 1 + params.sr * 5 // params.hop_length


@pytest.mark.parametrize("output, n_fft, win_length", [("logmel", 1024, None),
                                                        ("logmel", 400, 300),  # not 2^k
                                                        ("mfcc", 512, None), ("stft", 400, None)])
def test_the_portable_stft_matches_librosa_and_survives_a_save(output, n_fft, win_length,
                                                               tmp_path):
    # portable=True computes the STFT as a DFT-matrix product (for LiteRT / ONNX exports)
    y = make_signal(seed=3)
    settings = dict(n_fft=n_fft, hop_length=160, win_length=win_length, n_mels=40,
                    **({"n_mfcc": 20} if output == "mfcc" else {}))
    ours = run_layer(y, sr=SR, output=output, portable=True, **settings)
    reference = librosa_features(y, output=output, **settings)
    tolerance = {"logmel": LOGMEL_ATOL_DB, "mfcc": MFCC_ATOL, "stft": STFT_ATOL_DB}[output]
    np.testing.assert_allclose(ours, reference, rtol=0, atol=tolerance)
    layer = LogMelSpectrogram(sr=SR, output=output, portable=True, **settings)
    model = keras.Sequential([keras.Input((len(y),)), layer])
    model.save(tmp_path / "front.keras")
    loaded = keras.models.load_model(tmp_path / "front.keras")
    assert loaded.layers[0].portable
    np.testing.assert_array_equal(loaded(y[None].astype(np.float32)), model(y[None]))
