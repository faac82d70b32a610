import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile

from modules.representation.dataset import VALID, FeatureSet
from modules.representation.parsers import parse
from modules.representation.preprocess import (
    SpectrogramSettings,
    file_spectrograms,
    fit_length,
    mel_filterbank,
    power_spectrogram,
    preprocess,
    pretend,
)

ESC10 = Path("/work/shared/datasets/ESC-10")
SR = 8000


def signal(seconds=1.0, sr=SR, seed=0, gap=True):
    """Two tones and a little noise; with ``gap`` a stretch of digital silence (so the
    spectrogram spans far more than 60 dB)."""
    t = np.arange(int(round(seconds * sr))) / sr
    x = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1500 * t)
    x += np.random.default_rng(seed).normal(0, 0.01, len(t))
    if gap:
        x[len(x) // 3:len(x) // 3 + int(0.25 * sr)] = 0.0
    return x.astype(np.float32)


def wav(path: Path, data, sr=SR, subtype="FLOAT") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, data, sr, subtype=subtype)
    return path


def cv_dataset(root: Path, lengths=(1.0, 1.0, 1.0, 1.0)) -> Path:
    """A cross-validated dataset: fold_1/a, fold_1/b, fold_2/a, fold_2/b."""
    places = ["fold_1/a/x.wav", "fold_1/b/y.wav", "fold_2/a/z.wav", "fold_2/b/w.wav"]
    for i, (place, seconds) in enumerate(zip(places, lengths)):
        wav(root / place, signal(seconds, seed=i))
    return root


TUTORIAL = dict(window_width=0.08, window_overlap=0.04, mel_bands=128, fixed_length=5,
                clip_below=-60)


# --- signal processing ---------------------------------------------------------------------

def test_power_spectrogram_matches_scipy():
    from scipy.signal import spectrogram
    from scipy.signal.windows import hann

    x = signal(0.7).astype(np.float64)
    width, overlap = 320, 120
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, magnitude = spectrogram(x, fs=SR, window=hann(width, sym=False),
                                      noverlap=overlap, mode="magnitude")
    expected = (magnitude ** 2 / width).T  # auDeep's power spectrum, (time, freq)
    ours = power_spectrogram(x, SR, width, overlap)
    assert ours.shape == expected.shape == ((len(x) - overlap) // (width - overlap), 161)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12 * expected.max())


def test_mel_filterbank_is_audeeps():
    sr, width, n = 16000, 400, 40
    bank, centres = mel_filterbank(sr, width, n)
    # auDeep's definition, edge by edge: HTK mel points from 0 Hz to sr/2, edges at FFT bins
    # floor((width + 1) * hz / sr), rising then falling triangles of peak 1.
    mel = np.linspace(0, 2595 * np.log10(1 + sr / 2 / 700), n + 2)
    hz = 700 * (10 ** (mel / 2595) - 1)
    edge = np.floor((width + 1) * hz / sr)
    expected = np.zeros((n, width // 2 + 1))
    for m in range(1, n + 1):
        for k in range(int(edge[m - 1]), int(edge[m])):
            expected[m - 1, k] = (k - edge[m - 1]) / (edge[m] - edge[m - 1])
        for k in range(int(edge[m]), int(edge[m + 1])):
            expected[m - 1, k] = (edge[m + 1] - k) / (edge[m + 1] - edge[m])
    np.testing.assert_array_equal(bank, expected)
    np.testing.assert_allclose(centres, hz[1:n + 1])


def test_fit_length():
    x = np.arange(10.0)
    np.testing.assert_array_equal(fit_length(x, 4), [0, 1, 2, 3])
    np.testing.assert_array_equal(fit_length(x, 4, center=True), [3, 4, 5, 6])
    np.testing.assert_array_equal(fit_length(x[:3], 6), [0, 1, 2, 0, 0, 0])
    np.testing.assert_array_equal(fit_length(x[:3], 6, center=True), [0, 0, 1, 2, 0, 0])
    assert fit_length(np.ones((5, 2)), 8).shape == (8, 2)


@pytest.mark.parametrize("settings, seconds, shape", [
    # time = floor((N - O) / (W - O)), W = int(sr * window_width), O = int(sr * window_overlap);
    # freq = mel_bands or W // 2 + 1.
    (dict(window_width=0.04, window_overlap=0.02), 1.0, ((8000 - 160) // 160, 161)),
    (dict(window_width=0.04, window_overlap=0.02), 0.875, ((7000 - 160) // 160, 161)),
    (dict(window_width=0.05, window_overlap=0.0, mel_bands=32), 1.0, (8000 // 400, 32)),
    # fixed_length: N = int(sr * fixed_length), and time = int((L - overlap) / step) = 59.
    (dict(window_width=0.03, window_overlap=0.015, mel_bands=20, fixed_length=0.9), 0.6,
     (59, 20)),
    (dict(window_width=0.03, window_overlap=0.015, fixed_length=0.9, center_fixed=True), 1.7,
     (59, 121)),
    # resampled to 16 kHz first: W = 640, O = 320
    (dict(window_width=0.04, window_overlap=0.02, target_sample_rate=16000), 1.0,
     ((16000 - 320) // 320, 321)),
])
def test_shape_from_settings(tmp_path, settings, seconds, shape):
    path = wav(tmp_path / "a.wav", signal(seconds))
    result = file_spectrograms(path, SpectrogramSettings(**settings))
    assert [chunk.shape for chunk in result.chunks] == [shape]
    assert result.chunks[0].dtype == np.float32


def test_values_scaled_max_is_zero_db_and_clip_below_is_minus_one(tmp_path):
    path = wav(tmp_path / "a.wav", signal(1.0))
    settings = SpectrogramSettings(window_width=0.04, window_overlap=0.02, mel_bands=40,
                                   clip_below=-60)
    db = file_spectrograms(path, settings, normalise=False).chunks[0]
    scaled = file_spectrograms(path, settings).chunks[0]
    assert db.max() == 0.0 and db.min() == -60.0  # relative to the maximum, clipped
    assert scaled.max() == 1.0 and scaled.min() == -1.0
    assert np.all(scaled[db == -60.0] == -1.0) and np.all(scaled[db == 0.0] == 1.0)
    assert np.all(scaled[db > -60.0] > -1.0)
    np.testing.assert_allclose(scaled, (db + 60.0) / 30.0 - 1.0, atol=1e-5)  # linear


def test_clip_above(tmp_path):
    path = wav(tmp_path / "a.wav", signal(1.0))
    settings = SpectrogramSettings(mel_bands=40, clip_below=-50, clip_above=-10)
    db = file_spectrograms(path, settings, normalise=False).chunks[0]
    scaled = file_spectrograms(path, settings).chunks[0]
    assert db.max() == -10.0 and db.min() == -50.0
    assert np.all(scaled[db == -10.0] == 1.0) and np.all(scaled[db == -50.0] == -1.0)


def test_channels(tmp_path):
    left = signal(1.0, seed=1, gap=False)
    t = np.arange(len(left)) / SR
    right = (left + 0.3 * np.sin(2 * np.pi * 2500 * t)).astype(np.float32)
    stereo = wav(tmp_path / "stereo.wav", np.stack([left, right], axis=1))
    expected_signal = {"MEAN": (left + right) / 2, "LEFT": left, "RIGHT": right,
                       "DIFF": left - right}
    base = dict(window_width=0.04, window_overlap=0.02, clip_below=-60)
    results = {}
    for mode, mono in expected_signal.items():
        got = file_spectrograms(stereo, SpectrogramSettings(channels=mode.lower(), **base))
        want = file_spectrograms(wav(tmp_path / f"{mode}.wav", mono),
                                 SpectrogramSettings(**base))
        np.testing.assert_allclose(got.chunks[0], want.chunks[0], atol=1e-4)
        results[mode] = got.chunks[0]
    bin_440 = round(440 / (SR / 320))
    # DIFF (= -0.3 sin 2500 Hz) cancels the shared 440 Hz tone; LEFT has no 2500 Hz tone.
    assert results["DIFF"][:, bin_440].mean() < results["LEFT"][:, bin_440].mean() - 0.5
    bin_2500 = round(2500 / (SR / 320))
    assert results["LEFT"][:, bin_2500].mean() < results["RIGHT"][:, bin_2500].mean() - 0.5


# --- datasets ------------------------------------------------------------------------------

def test_preprocess_dataset(tmp_path):
    root = cv_dataset(tmp_path / "data")
    settings = SpectrogramSettings(window_width=0.04, window_overlap=0.02, mel_bands=24,
                                   fixed_length=1.0, clip_below=-60)
    output = tmp_path / "out" / "spectrograms.nc"
    features = preprocess(root, settings, output, progress=False)
    assert output.is_file()
    assert features.feature_dims == ["time", "freq"]
    assert features.features.shape == (4, 49, 24) and features.features.dtype == np.float32
    assert list(features.filename) == ["fold_1/a/x.wav", "fold_1/b/y.wav", "fold_2/a/z.wav",
                                       "fold_2/b/w.wav"]
    assert list(features.label_nominal) == ["a", "b", "a", "b"]
    assert list(features.label_numeric) == [0, 1, 0, 1]
    assert features.label_map == {"a": 0, "b": 1}
    assert features.cv_folds.tolist() == [[VALID, 0], [VALID, 0], [0, VALID], [0, VALID]]
    assert list(features.partition) == [-1] * 4 and list(features.chunk_nr) == [0] * 4
    flat = features.features.reshape(4, -1)
    assert np.all(flat.max(axis=1) == 1.0) and np.all(flat.min(axis=1) == -1.0)
    assert features.metadata["spectrogram_settings"] == settings.to_dict()
    assert features.metadata["parser"] == "cross_validated"
    assert features.metadata["skipped_files"] == []

    loaded = FeatureSet.load(output)
    np.testing.assert_array_equal(loaded.features, features.features)
    assert list(loaded.filename) == list(features.filename)
    assert loaded.cv_folds.tolist() == features.cv_folds.tolist()
    assert loaded.metadata == features.metadata


def test_preprocess_unlabelled(tmp_path):
    wav(tmp_path / "data" / "a.wav", signal(0.5))
    wav(tmp_path / "data" / "b.wav", signal(0.5, seed=3))
    features = preprocess(tmp_path / "data", SpectrogramSettings(), tmp_path / "x.nc",
                          progress=False)
    assert features.n_folds == 0 and features.label_map is None
    assert list(features.label_nominal) == [None, None]
    loaded = FeatureSet.load(tmp_path / "x.nc")
    assert loaded.n_folds == 0 and list(loaded.label_numeric) == [-1, -1]


def test_chunking(tmp_path):
    root = tmp_path / "data"
    for i, seconds in enumerate((2.0, 1.6, 0.6)):  # the last is too short for 3 chunks
        wav(root / f"{i}.wav", signal(seconds, seed=i))
    settings = SpectrogramSettings(window_width=0.04, window_overlap=0.02, mel_bands=16,
                                   chunk_length=0.5, chunk_count=3)
    features = preprocess(root, settings, tmp_path / "c.nc", progress=False)
    # chunk = int(sr * chunk_length) // step frames = 4000 // 160 = 25
    assert features.features.shape == (6, 25, 16)
    assert list(features.filename) == ["0.wav"] * 3 + ["1.wav"] * 3
    assert list(features.chunk_nr) == [0, 1, 2, 0, 1, 2]
    flat = features.features.reshape(6, -1)
    assert np.all(flat.max(axis=1) == 1.0)
    [skipped] = features.metadata["skipped_files"]
    assert skipped["filename"] == "2.wav" and "too short for 3 chunk" in skipped["reason"]


def test_bad_files_reported_and_skipped(tmp_path, capsys):
    root = cv_dataset(tmp_path / "data")
    (root / "fold_1/a/empty.wav").write_bytes(b"")
    (root / "fold_2/b/garbage.wav").write_bytes(b"this is not a wav file" * 20)
    good = (root / "fold_1/a/x.wav").read_bytes()
    (root / "fold_2/a/cut.wav").write_bytes(good[:len(good) // 2])
    features = preprocess(root, SpectrogramSettings(fixed_length=1.0), tmp_path / "o.nc",
                          progress=False)
    assert len(features) == 4
    skipped = {item["filename"]: item["reason"] for item in features.metadata["skipped_files"]}
    assert set(skipped) == {"fold_1/a/empty.wav", "fold_2/b/garbage.wav", "fold_2/a/cut.wav"}
    assert "empty" in skipped["fold_1/a/empty.wav"]
    assert "truncated" in skipped["fold_2/a/cut.wav"]
    err = capsys.readouterr().err
    for name, reason in skipped.items():
        assert f"skipped {name}: {reason}" in err
    assert "skipped 3 of 7" in err


def test_all_files_bad(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="none of the 1 audio file"):
        preprocess(tmp_path / "d", SpectrogramSettings(), tmp_path / "o.nc", progress=False)


def test_different_lengths_need_fixed_length(tmp_path):
    root = cv_dataset(tmp_path / "data", lengths=(1.0, 1.0, 0.5, 1.0))
    with pytest.raises(ValueError, match="differ in shape.*fixed_length"):
        preprocess(root, SpectrogramSettings(), tmp_path / "o.nc", progress=False)
    assert not (tmp_path / "o.nc").exists()


def test_settings_validation():
    with pytest.raises(ValueError, match="chunk_length and chunk_count"):
        SpectrogramSettings(chunk_length=1.0)
    with pytest.raises(ValueError, match="channels"):
        SpectrogramSettings(channels="SIDE")
    with pytest.raises(ValueError, match="window_overlap"):
        SpectrogramSettings(window_width=0.04, window_overlap=0.04)
    with pytest.raises(ValueError, match="clip_below"):
        SpectrogramSettings(clip_below=-10, clip_above=-20)
    assert SpectrogramSettings(channels="left").channels == "LEFT"


def test_pretend(tmp_path):
    root = cv_dataset(tmp_path / "data")
    settings = SpectrogramSettings(mel_bands=32, clip_below=-60, chunk_length=0.4,
                                   chunk_count=2)
    png = pretend(root, 2, settings, tmp_path / "p" / "clip.png")
    assert png == tmp_path / "p" / "clip.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    with pytest.raises(ValueError, match="out of range.*4 file"):
        pretend(root, 4, settings, tmp_path / "q.png")


@pytest.mark.skipif(not ESC10.is_dir(), reason="ESC-10 not available")
def test_real_esc10_subset(tmp_path):
    root = tmp_path / "ESC-10"
    full = parse(ESC10)
    for class_dir in sorted(p for p in ESC10.iterdir() if p.is_dir()):
        (root / class_dir.name).mkdir(parents=True)
        for file in sorted(class_dir.glob("*.ogg"))[:2]:
            shutil.copy(file, root / class_dir.name / file.name)
    features = preprocess(root, SpectrogramSettings(**TUTORIAL), tmp_path / "esc.nc",
                          progress=False)
    # 5 s at 44.1 kHz: W = 3528, O = 1764, time = (220500 - 1764) // 1764 = 124 (about 5/0.04)
    assert features.features.shape == (20, 124, 128)
    assert features.label_map == full.label_map
    assert features.metadata["sample_rates"] == [44100]
    for filename, label, number, folds in zip(features.filename, features.label_nominal,
                                              features.label_numeric, features.cv_folds):
        folder, name = filename.split("/")
        assert label == folder[6:] and number == full.label_map[label]
        assert folds.tolist() == [VALID if k == int(name[0]) else 0 for k in range(1, 6)]
    flat = features.features.reshape(20, -1)
    assert np.all(flat.max(axis=1) == 1.0) and np.all(flat.min(axis=1) == -1.0)
