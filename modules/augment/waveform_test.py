import json
import random
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile

from modules.augment.waveform import (
    WAVEFORM_TRANSFORMS,
    AddBackgroundNoise,
    AddGaussianNoise,
    ChangeGain,
    ShiftPitch,
    ShiftTime,
    StretchTime,
    WaveformTransform,
    add_gaussian_noise,
    change_gain,
    resolve_transform,
    shift_pitch,
    shift_time,
    stretch_time,
    transform_from_config,
)

SR = 16000


def sine(frequency=440.0, seconds=1.0, sr=SR, amplitude=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def clip(seconds=1.0, seed=0):
    """A sine plus a little noise, so every transform changes it visibly."""
    noise = np.random.default_rng(seed).normal(0.0, 0.05, int(seconds * SR))
    return (sine(seconds=seconds) + noise).astype(np.float32)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def peak_frequency(x, sr=SR):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spectrum)])


@pytest.fixture
def noise_folder(tmp_path):
    """Two noise files: a 3 s mono one at 16 kHz and, one level down, a 0.3 s stereo 1 kHz tone at
    8 kHz (shorter than the clips, at another rate)."""
    folder = tmp_path / "noise"
    (folder / "sub").mkdir(parents=True)
    soundfile.write(folder / "long.wav",
                    np.random.default_rng(1).uniform(-0.5, 0.5, 3 * SR).astype(np.float32), SR)
    tone = sine(1000.0, seconds=0.3, sr=8000)
    soundfile.write(folder / "sub" / "short.wav", np.stack([tone, tone], axis=1), 8000)
    (folder / "readme.txt").write_text("not a noise file")
    return folder


@pytest.fixture
def transforms(noise_folder):
    return [ShiftPitch(), StretchTime(), AddGaussianNoise(), ChangeGain(), ShiftTime(),
            AddBackgroundNoise(noise_folder)]


def test_module_level_instances_and_registry():
    assert isinstance(shift_pitch, ShiftPitch) and isinstance(stretch_time, StretchTime)
    assert isinstance(add_gaussian_noise, AddGaussianNoise) and isinstance(change_gain, ChangeGain)
    assert isinstance(shift_time, ShiftTime)
    assert WAVEFORM_TRANSFORMS == {
        "shift_pitch": ShiftPitch, "stretch_time": StretchTime,
        "add_gaussian_noise": AddGaussianNoise, "change_gain": ChangeGain,
        "shift_time": ShiftTime, "add_background_noise": AddBackgroundNoise}
    assert all(cls.name == name for name, cls in WAVEFORM_TRANSFORMS.items())
    assert repr(shift_pitch) == "ShiftPitch(min_semitones=-4.0, max_semitones=4.0, p=1.0)"
    assert repr(shift_time) == ("ShiftTime(min_fraction=-0.5, max_fraction=0.5, rollover=True, "
                                "p=1.0)")


def test_same_seed_same_output_different_seed_different_output(transforms):
    x = clip()
    for transform in transforms:
        a, b = transform(x, SR, 7), transform(x, SR, np.random.default_rng(7))
        np.testing.assert_array_equal(a, b, err_msg=transform.name)
        assert not np.array_equal(a, transform(x, SR, 8)), transform.name
        assert a.dtype == np.float32 and a.shape == x.shape, transform.name
        params = transform.draw(np.random.default_rng(7), x, SR)
        assert params["should_apply"] is True
        json.dumps(params)  # plain values
        np.testing.assert_array_equal(transform.apply(x, SR, params), a, err_msg=transform.name)
        np.testing.assert_array_equal(transform.apply(x, SR, params), a, err_msg=transform.name)


def test_p_zero_returns_a_float32_copy_and_output_shapes(transforms, noise_folder):
    x = clip(seconds=0.7)
    for transform in transforms:
        config = transform.get_config() | {"p": 0.0}
        off = type(transform)(**config)
        params = off.draw(np.random.default_rng(0), x, SR)
        assert params == {"should_apply": False}
        y = off(x, SR, 0)
        assert y.dtype == np.float32 and y is not x and not np.shares_memory(x, y)
        np.testing.assert_array_equal(y, x)
        for seed in range(3):
            y = transform(x, SR, seed)
            assert y.dtype == np.float32 and y.ndim == 1 and len(y) == len(x), transform.name
            assert np.all(np.isfinite(y)), transform.name
        # float64 input, and the input is never modified in place
        x64 = x.astype(np.float64)
        before = x64.copy()
        assert transform(x64, SR, 1).dtype == np.float32
        np.testing.assert_array_equal(x64, before)


def test_threads_give_the_serial_results_and_leave_global_random_state_alone(transforms):
    np_state, py_state = np.random.get_state(), random.getstate()
    x = clip(seconds=0.5)
    jobs = [(transform, seed) for transform in transforms for seed in range(8)]
    serial = [transform(x, SR, seed) for transform, seed in jobs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda job: job[0](x, SR, job[1]), jobs * 2))
    for (transform, seed), expected, a, b in zip(jobs, serial, parallel, parallel[len(jobs):]):
        np.testing.assert_array_equal(a, expected, err_msg=f"{transform.name} seed {seed}")
        np.testing.assert_array_equal(b, expected, err_msg=f"{transform.name} seed {seed}")
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    assert after[2:] == np_state[2:]
    assert random.getstate() == py_state


def test_shift_pitch_up_an_octave_doubles_the_frequency():
    x = sine(440.0)
    up = shift_pitch.apply(x, SR, {"should_apply": True, "num_semitones": 12.0})
    assert abs(peak_frequency(up) - 880.0) <= 5.0  # 1 Hz FFT bins; 5 Hz tolerance
    down = shift_pitch.apply(x, SR, {"should_apply": True, "num_semitones": -12.0})
    assert abs(peak_frequency(down) - 220.0) <= 5.0


def test_stretch_time_keeps_pitch_and_length():
    x = sine(440.0)
    fast = stretch_time.apply(x, SR, {"should_apply": True, "rate": 2.0})
    assert len(fast) == len(x)
    assert abs(peak_frequency(fast[: SR // 2]) - 440.0) <= 5.0
    assert rms(fast[int(0.6 * SR):]) == 0.0  # half as long, zero-padded at the end


def test_change_gain_matches_the_drawn_gain():
    x = clip()
    for seed in range(5):
        params = change_gain.draw(np.random.default_rng(seed), x, SR)
        y = change_gain.apply(x, SR, params)
        assert -12.0 <= params["gain_db"] <= 12.0
        assert abs(20 * np.log10(rms(y) / rms(x)) - params["gain_db"]) < 1e-3


def test_add_gaussian_noise_snr_and_silence():
    x = clip(seconds=5.0)
    for seed in range(5):
        params = add_gaussian_noise.draw(np.random.default_rng(seed), x, SR)
        y = add_gaussian_noise.apply(x, SR, params)
        measured = 20 * np.log10(rms(x) / rms(y.astype(np.float64) - x))
        assert abs(measured - params["snr_db"]) < 1.0
    silent = np.zeros(SR, np.float32)
    np.testing.assert_array_equal(add_gaussian_noise(silent, SR, 0), silent)


def test_shift_time_is_np_roll_by_the_drawn_samples():
    x = clip()
    for seed in range(6):
        params = shift_time.draw(np.random.default_rng(seed), x, SR)
        assert params["num_samples"] == round(params["fraction"] * len(x))
        np.testing.assert_array_equal(shift_time(x, SR, seed), np.roll(x, params["num_samples"]))
    no_roll = ShiftTime(rollover=False)
    y = no_roll.apply(x, SR, {"should_apply": True, "num_samples": 100})
    np.testing.assert_array_equal(y[:100], 0.0)
    np.testing.assert_array_equal(y[100:], x[:-100])
    y = no_roll.apply(x, SR, {"should_apply": True, "num_samples": -100})
    np.testing.assert_array_equal(y[-100:], 0.0)
    np.testing.assert_array_equal(y[:-100], x[100:])


def test_add_background_noise(noise_folder, tmp_path):
    transform = AddBackgroundNoise(noise_folder, min_snr_db=5.0, max_snr_db=20.0)
    assert transform.files == (str(noise_folder / "long.wav"),
                                str(noise_folder / "sub" / "short.wav"))
    x = clip(seconds=2.0)
    picked = set()
    for seed in range(12):
        params = transform.draw(np.random.default_rng(seed), x, SR)
        picked.add(params["noise_path"])
        y = transform.apply(x, SR, params)
        measured = 20 * np.log10(rms(x) / rms(y.astype(np.float64) - x))
        assert abs(measured - params["snr_db"]) < 0.01
        assert 5.0 <= params["snr_db"] <= 20.0
    assert picked == set(transform.files)

    # The 0.3 s, 8 kHz stereo tone: resampled to 16 kHz and repeated over the whole 2 s clip.
    short = {"should_apply": True, "noise_path": transform.files[1], "noise_offset": 1000,
             "snr_db": 0.0}
    added = transform.apply(x, SR, short).astype(np.float64) - x
    assert abs(peak_frequency(added) - 1000.0) <= 5.0
    assert rms(added[-SR // 4:]) > 0.5 * rms(added)

    # A silent clip stays silent.
    silent = np.zeros(SR, np.float32)
    np.testing.assert_array_equal(transform(silent, SR, 0), silent)

    # Empty, missing and not-a-folder folders.
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="no .* files"):
        AddBackgroundNoise(empty)
    with pytest.raises(ValueError, match="does not exist"):
        AddBackgroundNoise(tmp_path / "missing")
    with pytest.raises(ValueError, match="not a folder"):
        AddBackgroundNoise(empty / "notes.txt")


def test_unreadable_noise_file_names_the_file(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    bad = folder / "broken.wav"
    bad.write_text("this is a text file with an audio extension\n" * 20)
    transform = AddBackgroundNoise(folder)
    x = clip()
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        transform(x, SR, 0)
    with pytest.raises(ValueError, match="broken.wav"):
        transform.apply(x, SR, {"should_apply": True, "noise_path": str(bad),
                                "noise_offset": 0, "snr_db": 10.0})


@pytest.mark.parametrize("make, argument", [
    (lambda: ShiftPitch(min_semitones=5.0, max_semitones=4.0), "min_semitones"),
    (lambda: ShiftPitch(min_semitones=-30.0), "min_semitones"),
    (lambda: ShiftPitch(max_semitones=25.0), "max_semitones"),
    (lambda: ShiftPitch(p=1.5), "p"),
    (lambda: ShiftPitch(p=-0.1), "p"),
    (lambda: ShiftPitch(p="often"), "p"),
    (lambda: StretchTime(min_rate=-1.0), "min_rate"),
    (lambda: StretchTime(min_rate=0.0), "min_rate"),
    (lambda: StretchTime(max_rate=11.0), "max_rate"),
    (lambda: StretchTime(min_rate=1.2, max_rate=1.1), "min_rate"),
    (lambda: StretchTime(p=2), "p"),
    (lambda: AddGaussianNoise(min_snr_db=50.0, max_snr_db=40.0), "min_snr_db"),
    (lambda: AddGaussianNoise(max_snr_db=float("nan")), "max_snr_db"),
    (lambda: AddGaussianNoise(p=None), "p"),
    (lambda: ChangeGain(min_gain_db=3.0, max_gain_db=1.0), "min_gain_db"),
    (lambda: ChangeGain(max_gain_db=float("inf")), "max_gain_db"),
    (lambda: ChangeGain(p=1.01), "p"),
    (lambda: ShiftTime(min_fraction=-1.5), "min_fraction"),
    (lambda: ShiftTime(max_fraction=2.0), "max_fraction"),
    (lambda: ShiftTime(min_fraction=0.5, max_fraction=0.1), "min_fraction"),
    (lambda: ShiftTime(rollover="yes"), "rollover"),
    (lambda: ShiftTime(p=-1), "p"),
])
def test_constructor_validation_names_the_argument(make, argument):
    with pytest.raises(ValueError, match=rf"^{argument}\b") as info:
        make()
    message = str(info.value)
    assert "[" in message or "greater than" in message or "True or False" in message


def test_background_noise_validation(noise_folder):
    for kwargs, argument in [({"min_snr_db": 10.0, "max_snr_db": 5.0}, "min_snr_db"),
                             ({"max_snr_db": 500.0}, "max_snr_db"), ({"p": 2.0}, "p")]:
        with pytest.raises(ValueError, match=rf"^{argument}\b"):
            AddBackgroundNoise(noise_folder, **kwargs)
    with pytest.raises(ValueError, match="^folder"):
        AddBackgroundNoise(123)


def test_call_and_apply_input_checks():
    x = clip()
    with pytest.raises(TypeError, match="rng"):
        shift_time(x, SR, "seed")
    with pytest.raises(ValueError, match="1-D"):
        shift_time(np.stack([x, x]), SR, 0)
    with pytest.raises(ValueError, match="sample_rate"):
        shift_time(x, 0, 0)
    with pytest.raises(ValueError, match="num_semitones"):
        shift_pitch.apply(x, SR, {"should_apply": True})
    assert len(shift_pitch(np.zeros(0, np.float32), SR, 0)) == 0


def test_resolve_transform(noise_folder):
    background = AddBackgroundNoise(noise_folder)
    assert resolve_transform(background) is background
    assert resolve_transform(shift_pitch) is shift_pitch
    assert resolve_transform(ShiftPitch) == ShiftPitch()
    assert isinstance(resolve_transform(ShiftPitch), ShiftPitch)
    for name, cls in WAVEFORM_TRANSFORMS.items():
        if cls is not AddBackgroundNoise:
            assert type(resolve_transform(name)) is cls
    assert isinstance(resolve_transform("StretchTime"), StretchTime)
    with pytest.raises(ValueError, match="shift_pitch") as info:
        resolve_transform("shift_pich")
    for name in WAVEFORM_TRANSFORMS:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="folder"):
        resolve_transform(AddBackgroundNoise)
    with pytest.raises(ValueError, match="folder"):
        resolve_transform("add_background_noise")
    for bad in (3, None, np.zeros(3), WaveformTransform, dict):
        with pytest.raises(TypeError):
            resolve_transform(bad)


def test_config_round_trip(transforms):
    x = clip(seconds=0.5)
    customised = [ShiftPitch(-2.0, 3.0, p=0.5), StretchTime(0.9, 1.1, p=0.25),
                  ShiftTime(-0.1, 0.2, rollover=False, p=0.75)]
    for transform in transforms + customised:
        config = transform.get_config()
        config = json.loads(json.dumps(config))
        rebuilt = transform_from_config(transform.name, config)
        assert type(rebuilt) is type(transform)
        assert rebuilt.get_config() == transform.get_config()
        assert repr(rebuilt) == repr(transform)
        np.testing.assert_array_equal(rebuilt(x, SR, 3), transform(x, SR, 3))
    with pytest.raises(ValueError, match="stretch_time"):
        transform_from_config("strech_time", {})
    with pytest.raises(ValueError, match="max_semitone"):
        transform_from_config("shift_pitch", {"max_semitone": 3.0})
