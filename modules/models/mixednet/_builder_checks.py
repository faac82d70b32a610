"""Checks every builder of this package must pass; shared by mixednet_test.py and crnn_test.py."""

from __future__ import annotations

import keras
import numpy as np

INPUT_SHAPE = (32, 64, 1)


def spectrograms(batch: int = 2, shape=INPUT_SHAPE, seed: int = 0) -> np.ndarray:
    """Random dB-like images (around -40 dB), as spec_parser produces."""
    return np.random.default_rng(seed).normal(-40.0, 10.0, size=(batch, *shape)).astype("float32")


def check_forward(builder, name: str, expected_layers: set[str]):
    model = builder(INPUT_SHAPE, n_classes=5)
    assert model.name == name
    assert model.output_shape == (None, 5)
    assert expected_layers | {"input_norm", "logits", "probabilities"} <= {
        layer.name for layer in model.layers}
    assert model.get_layer("probabilities").get_config()["activation"] == "softmax"
    probabilities = keras.ops.convert_to_numpy(model(spectrograms(), training=False))
    assert probabilities.shape == (2, 5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def check_sigmoid_outputs(builder):
    for model in (builder(INPUT_SHAPE, n_classes=4, multi_label=True),
                  builder(INPUT_SHAPE, n_classes=1)):
        assert model.get_layer("probabilities").get_config()["activation"] == "sigmoid"
        probabilities = keras.ops.convert_to_numpy(model(spectrograms(), training=False))
        assert probabilities.shape == (2, model.output_shape[-1])
        assert np.all((probabilities > 0) & (probabilities < 1))


def check_training_step(builder, **options):
    keras.utils.set_random_seed(0)
    model = builder(INPUT_SHAPE, n_classes=3, **options)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.CategoricalCrossentropy())
    # Creating Adam's slots up front saves tf.function a second trace (half this test's time).
    model.optimizer.build(model.trainable_variables)
    before = [np.array(v) for v in model.trainable_variables]
    y = keras.utils.to_categorical([0, 2], 3)
    loss = model.train_on_batch(spectrograms(), y)
    assert np.isfinite(loss)
    unchanged = [v.path for v, old in zip(model.trainable_variables, before)
                 if np.array_equal(np.array(v), old)]
    assert not unchanged, f"no gradient reached {unchanged}"


def check_save_and_load(builder, tmp_path, **options):
    model = builder(INPUT_SHAPE, n_classes=4, **options)
    x = spectrograms(seed=3)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert loaded.name == model.name
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
