"""Tests of the SED CRNN: FramesToBins, output shapes and ranges, learning to localise,
serialisation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from modules.models.sed_crnn import FramesToBins, TemporalAttentionPooling, sed_crnn

# 7 frames, 2 classes (class 1 is the negated class 0, so max and mean differ per class).
SEVEN = np.array([5, 1, 0, 9, 2, 3, 4], dtype="float32")
SEVEN_2C = np.stack([SEVEN, -SEVEN], axis=-1)[None]  # (1, 7, 2)
# 7 -> 3 bins: bin 0 = frames [0, 3) {5, 1, 0}, bin 1 = [2, 5) {0, 9, 2}, bin 2 = [4, 7) {2, 3, 4}.
SEVEN_MAX = np.array([[5, 9, 4], [-0, -0, -2]], dtype="float32").T
SEVEN_MEAN = np.array([[2, 11 / 3, 3], [-2, -11 / 3, -3]], dtype="float32").T
# 4 -> 8 by interpolation at bin centres (i + .5) * 4 / 8 - .5, clamped to [0, 3]:
# positions [0, .25, .75, 1.25, 1.75, 2.25, 2.75, 3] of frames [0, 10, 20, 40].
FOUR = np.array([0, 10, 20, 40], dtype="float32")
FOUR_TO_EIGHT = np.array([0, 2.5, 7.5, 12.5, 17.5, 25, 35, 40], dtype="float32")


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("mode, expected", [("max", SEVEN_MAX), ("mean", SEVEN_MEAN)])
def test_frames_to_bins_pools_adaptive_windows(mode, expected):
    out = _numpy(FramesToBins(3, mode=mode)(SEVEN_2C))
    assert out.shape == (1, 3, 2)
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)


@pytest.mark.parametrize("mode", ["max", "mean", "linear"])
def test_frames_to_bins_same_count_is_identity(mode):
    x = np.random.default_rng(0).normal(size=(2, 10, 3)).astype("float32")
    np.testing.assert_allclose(_numpy(FramesToBins(10, mode=mode)(x)), x, rtol=1e-6)


@pytest.mark.parametrize("mode", ["max", "mean", "linear"])
def test_frames_to_bins_interpolates_when_fewer_frames(mode):
    x = np.stack([FOUR, -FOUR], axis=-1)[None]
    out = _numpy(FramesToBins(8, mode=mode)(x))
    np.testing.assert_allclose(out[0, :, 0], FOUR_TO_EIGHT, rtol=1e-6)
    np.testing.assert_allclose(out[0, :, 1], -FOUR_TO_EIGHT, rtol=1e-6)


def test_frames_to_bins_linear_mode_downsamples_by_interpolation():
    # 7 -> 3: positions (i + .5) * 7 / 3 - .5 = [2/3, 3, 16/3 -> 5 1/3].
    out = _numpy(FramesToBins(3, mode="linear")(SEVEN_2C))[0, :, 0]
    expected = [5 + (1 - 5) * 2 / 3, 9, 3 + (4 - 3) / 3]
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_frames_to_bins_unknown_frame_count():
    inputs = keras.Input(shape=(None, 2))
    max_model = keras.Model(inputs, FramesToBins(3)(inputs))
    mean_model = keras.Model(inputs, FramesToBins(3, mode="mean")(inputs))
    up_model = keras.Model(inputs, FramesToBins(8)(inputs))
    assert max_model.output.shape == (None, 3, 2)
    # A graph traced once for any frame count exercises the run-time pooling/interpolation
    # choice (eager calls would see a static frame count).
    spec = tf.TensorSpec([None, None, 2], tf.float32)
    run_max = tf.function(lambda x: max_model(x), input_signature=[spec])
    run_mean = tf.function(lambda x: mean_model(x), input_signature=[spec])
    run_up = tf.function(lambda x: up_model(x), input_signature=[spec])
    np.testing.assert_allclose(run_max(SEVEN_2C).numpy()[0], SEVEN_MAX, rtol=1e-6)
    np.testing.assert_allclose(run_mean(SEVEN_2C).numpy()[0], SEVEN_MEAN, rtol=1e-6)
    four = np.stack([FOUR, -FOUR], axis=-1)[None]
    np.testing.assert_allclose(run_up(four).numpy()[0, :, 0], FOUR_TO_EIGHT, rtol=1e-6)
    # Fewer frames than bins with a pooling mode: interpolation at run time too.
    three = SEVEN_2C[:, :2]  # 2 frames -> 3 bins: positions [0, .5, 1] of [5, 1]
    np.testing.assert_allclose(run_max(three).numpy()[0, :, 0], [5, 3, 1], rtol=1e-6)


def test_frames_to_bins_config_round_trip_and_validation():
    layer = FramesToBins(7, mode="mean", name="bins")
    config = layer.get_config()
    assert config["event_bins"] == 7 and config["mode"] == "mean"
    clone = FramesToBins.from_config(config)
    assert (clone.event_bins, clone.mode, clone.name) == (7, "mean", "bins")
    np.testing.assert_allclose(_numpy(clone(SEVEN_2C)), _numpy(layer(SEVEN_2C)))
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, FramesToBins) and restored.get_config() == config
    with pytest.raises(ValueError, match="event_bins"):
        FramesToBins(0)
    with pytest.raises(ValueError, match="mode"):
        FramesToBins(3, mode="median")


@pytest.fixture(scope="module")
def models_64x216():
    return {bins: sed_crnn((64, 216, 1), 2, event_bins=bins) for bins in (10, 1024)}


@pytest.mark.parametrize("event_bins", [10, 1024])
def test_output_shapes_and_ranges(models_64x216, event_bins):
    model = models_64x216[event_bins]
    assert model.name == "sed_crnn"
    x = np.random.default_rng(1).normal(-40, 10, size=(3, 64, 216, 1)).astype("float32")
    out = model(x, training=False)
    assert set(out) == {"framewise_output", "clipwise_output"}
    framewise, clipwise = _numpy(out["framewise_output"]), _numpy(out["clipwise_output"])
    assert framewise.shape == (3, event_bins, 2) and clipwise.shape == (3, 2)
    assert framewise.min() >= 0.0 and framewise.max() <= 1.0
    # Clipwise max is the max over frames of the frame probabilities before binning
    # (54 frames after time pooling 1 * 2 * 2), read from the layer "frame_probabilities".
    frames_model = keras.Model(model.input, model.get_layer("frame_probabilities").output)
    frames = _numpy(frames_model(x, training=False))
    assert frames.shape == (3, 54, 2)
    np.testing.assert_allclose(clipwise, frames.max(axis=1), rtol=1e-6)
    if event_bins == 10:  # max pooling bins cover every frame: same max over bins
        np.testing.assert_allclose(framewise.max(axis=1), clipwise, rtol=1e-6)


def test_attention_clip_pooling_is_a_weighted_mean_of_frames():
    model = sed_crnn((32, 64, 1), 3, filters=(8, 8), time_pool=(2, 2), rnn_units=8,
                     clip_pooling="attention")
    assert isinstance(model.get_layer("clipwise_output"), TemporalAttentionPooling)
    x = np.random.default_rng(2).normal(-40, 10, size=(2, 32, 64, 1)).astype("float32")
    clipwise = _numpy(model(x)["clipwise_output"])
    probe = keras.Model(model.input, [model.get_layer("frame_probabilities").output,
                                      model.get_layer("attention_logits").output])
    frames, logits = (_numpy(t) for t in probe(x))
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clipwise, (weights * frames).sum(axis=1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(input_shape=(64, 216)), r"\(bins, frames, 1\)"),
    (dict(input_shape=(64, 216, 3)), r"\(bins, frames, 1\)"),
    (dict(input_shape=(None, 216, 1)), r"\(bins, frames, 1\)"),
    (dict(event_bins=0), "event_bins"),
    (dict(time_pool=(1, 2)), "time_pool"),
    (dict(clip_pooling="mean"), "clip_pooling"),
])
def test_builder_rejects_bad_arguments(kwargs, match):
    arguments = {"input_shape": (64, 216, 1), "n_classes": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        sed_crnn(**arguments)


def _stripe_set(rng, n, bins=32, frames=64, event_bins=8):
    """Log-mel-like images: noise at -60 dB; class 0 a bright band at rows 4-9, class 1 at
    rows 20-27, each present with probability .7 over 2-3 whole event bins at a random time.
    Labels (n, event_bins, 2): 1 where the class's stripe covers the bin."""
    x = rng.normal(-60.0, 3.0, size=(n, bins, frames, 1)).astype("float32")
    y = np.zeros((n, event_bins, 2), dtype="float32")
    per_bin = frames // event_bins
    for i in range(n):
        for cls, rows in ((0, slice(4, 10)), (1, slice(20, 28))):
            if rng.random() < 0.3:
                continue
            length = int(rng.integers(2, 4))
            start = int(rng.integers(0, event_bins - length + 1))
            x[i, rows, start * per_bin:(start + length) * per_bin, 0] += 45.0
            y[i, start:start + length, cls] = 1.0
    return x, y


EPOCHS = 6


def test_learns_to_localise_events():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = _stripe_set(rng, 128)
    x_test, y_test = _stripe_set(rng, 32)
    model = sed_crnn((32, 64, 1), 2, event_bins=8, filters=(8, 16), time_pool=(2, 2),
                     rnn_units=16, dropout=0.1)
    framewise = keras.Model(model.input, model.output["framewise_output"])
    framewise.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    framewise.fit(x, y, batch_size=16, epochs=EPOCHS, verbose=0)
    p = _numpy(framewise(x_test, training=False))
    positive, negative = p[y_test == 1], p[y_test == 0]
    accuracy = ((p > 0.5) == (y_test == 1)).mean()
    print(f"positive mean {positive.mean():.3f} min {positive.min():.3f}; "
          f"negative mean {negative.mean():.3f} max {negative.max():.3f}; acc {accuracy:.3f}")
    # Observed (seed 0, 6 epochs): positive mean ~0.97, negative mean ~0.01, accuracy 1.0.
    assert positive.mean() > 0.8
    assert negative.mean() < 0.1
    assert accuracy > 0.95



def test_save_load_round_trip(tmp_path):
    model = sed_crnn((32, None, 1), 2, event_bins=5, filters=(8, 8), time_pool=(1, 2),
                     rnn_units=8, clip_pooling="attention", bin_mode="mean")
    x = np.random.default_rng(3).normal(-40, 10, size=(2, 32, 48, 1)).astype("float32")
    # Move the batch norm statistics off their initial values so the round trip covers them.
    moving_mean = model.get_layer("input_norm").moving_mean
    model(x, training=True)
    assert not np.allclose(_numpy(moving_mean), 0.0)
    path = tmp_path / "sed_crnn.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.name == "sed_crnn"
    assert loaded.get_layer("framewise_output").get_config()["mode"] == "mean"
    before, after = model(x, training=False), loaded(x, training=False)
    for key in ("framewise_output", "clipwise_output"):
        np.testing.assert_array_equal(_numpy(before[key]), _numpy(after[key]))
