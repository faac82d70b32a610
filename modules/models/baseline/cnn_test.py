import keras
import numpy as np
import pytest

from modules.models.baseline import baseline_cnn


def test_output_shape_and_stable_layer_names():
    model = baseline_cnn((32, 40, 1), n_classes=5)
    assert model.output_shape == (None, 5)
    names = {layer.name for layer in model.layers}
    assert {"input_norm", "block4_conv", "logits", "probabilities"} <= names
    probabilities = model.predict(np.random.default_rng(0).normal(size=(3, 32, 40, 1)), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_one_training_step_lowers_the_loss_on_a_repeated_batch():
    keras.utils.set_random_seed(0)
    model = baseline_cnn((16, 24, 1), n_classes=3, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    x = np.random.default_rng(1).normal(size=(6, 16, 24, 1)).astype("float32")
    y = keras.utils.to_categorical([0, 1, 2, 0, 1, 2], 3)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before


def test_save_and_load_give_identical_outputs(tmp_path):
    model = baseline_cnn((16, 24, 1), n_classes=4)
    x = np.random.default_rng(2).normal(size=(2, 16, 24, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="spectrogram images"):
        baseline_cnn((22050,), n_classes=3)
    with pytest.raises(ValueError, match="at least 2 classes"):
        baseline_cnn((16, 24, 1), n_classes=1)


def test_multi_label_head_gives_independent_probabilities():
    model = baseline_cnn((16, 24, 1), n_classes=3, multi_label=True)
    assert model.get_layer("probabilities").get_config()["activation"] == "sigmoid"
    probabilities = model.predict(np.random.default_rng(3).normal(size=(4, 16, 24, 1)), verbose=0)
    assert ((probabilities > 0) & (probabilities < 1)).all()
    assert not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)
