"""SpecAugmentation semantics and the front-end preset checks."""

import keras
import numpy as np
import pytest

from modules.models.layers import SpecAugmentation, log_mel_frames
from modules.models.presets import (PANNS_16K, PANNS_32K, check_frontend_match, frontend_settings,
                                    get_preset)


def test_spec_augmentation_drops_stripes_only_in_training():
    layer = SpecAugmentation(time_drop_width=16, time_stripes_num=2, freq_drop_width=4,
                             freq_stripes_num=2, seed=3)
    x = np.ones((8, 100, 32, 1), np.float32)
    np.testing.assert_array_equal(layer(x, training=False), x)
    out = np.asarray(layer(x, training=True))
    assert set(np.unique(out)) <= {0.0, 1.0}
    for example in out[..., 0]:
        dropped_frames = np.all(example == 0, axis=1).sum()
        dropped_bins = np.all(example == 0, axis=0).sum()
        assert dropped_frames <= 2 * 15 and dropped_bins <= 2 * 3
    # Some stripe was dropped somewhere in the batch, and examples differ from each other.
    assert out.min() == 0.0
    assert not all(np.array_equal(out[0], o) for o in out[1:])


def test_spec_augmentation_is_reproducible_with_a_seed_and_round_trips():
    x = np.random.default_rng(0).normal(size=(4, 64, 16, 1)).astype(np.float32)
    a = SpecAugmentation(seed=7)(x, training=True)
    b = SpecAugmentation(seed=7)(x, training=True)
    np.testing.assert_array_equal(a, b)
    restored = SpecAugmentation.from_config(SpecAugmentation(seed=7, time_drop_width=5).get_config())
    assert restored.time_drop_width == 5 and restored.seed == 7
    with pytest.raises(ValueError, match="time_drop_width"):
        SpecAugmentation(time_drop_width=-1)


def test_log_mel_frames_is_time_major_and_presets_compare():
    inputs = keras.Input(shape=(32000,))
    model = keras.Model(inputs, log_mel_frames(inputs, PANNS_32K))
    assert model.output_shape == (None, PANNS_32K.n_frames(32000), 64, 1)
    settings = frontend_settings(model)
    assert settings["sr"] == 32000 and settings["win_length"] == 1024
    check_frontend_match(settings, dict(settings))
    other_inputs = keras.Input(shape=(16000,))
    other = keras.Model(other_inputs, log_mel_frames(other_inputs, PANNS_16K))
    with pytest.raises(ValueError, match=r"sr: pretrained model has 32000, this model has 16000"):
        check_frontend_match(settings, frontend_settings(other))
    with pytest.raises(ValueError, match="unknown front-end preset"):
        get_preset("panns_44k")
