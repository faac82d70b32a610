import keras
import numpy as np
import pytest

from modules.models.compact_vgg import compact_vgg


def test_output_shape_and_stable_layer_names():
    model = compact_vgg((32, 40, 1), n_classes=5, filters=(8, 16, 16))
    assert model.output_shape == (None, 5)
    names = {layer.name for layer in model.layers}
    assert {"input_norm", "block1_conv1", "block3_conv2", "frequency_mean", "time_pool",
            "logits", "probabilities"} <= names
    assert "block1_conv2" not in names  # one conv at full resolution
    probabilities = model.predict(np.random.default_rng(0).normal(size=(3, 32, 40, 1)), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_time_pooling_keeps_a_short_event_that_a_mean_would_dilute():
    # max + mean over time: one loud frame among silent ones moves the pooled value by more
    # than its 1/frames share of a plain mean.
    pooled = keras.Model(*(lambda m: (m.input, m.get_layer("time_pool").output))(
        compact_vgg((16, 64, 1), n_classes=2, filters=(4, 4), l2=0.0)))
    quiet = np.full((1, 16, 64, 1), -80.0, np.float32)
    event = quiet.copy()
    event[:, :, 30:32] = 0.0
    assert not np.allclose(pooled.predict(quiet, verbose=0), pooled.predict(event, verbose=0))


def test_save_and_load_give_identical_outputs(tmp_path):
    model = compact_vgg((16, 24, 1), n_classes=4, filters=(8, 16))
    x = np.random.default_rng(2).normal(size=(2, 16, 24, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="spectrogram images"):
        compact_vgg((22050,), n_classes=3)
    with pytest.raises(ValueError, match="at least 2 classes"):
        compact_vgg((16, 24, 1), n_classes=1)
    with pytest.raises(ValueError, match="convs_per_block"):
        compact_vgg((16, 24, 1), n_classes=3, convs_per_block=0)


def test_multi_label_head_gives_independent_probabilities():
    model = compact_vgg((16, 24, 1), n_classes=3, filters=(8,), multi_label=True)
    assert model.get_layer("probabilities").get_config()["activation"] == "sigmoid"
