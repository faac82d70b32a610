"""feature_mlp: stable layer names, standardisation from the data it is given, save/load."""

import keras
import numpy as np
import pytest

from modules.models.feature_mlp import adapt_standardization, feature_mlp


def test_feature_mlp_standardises_on_what_it_is_given_and_round_trips(tmp_path):
    model = feature_mlp((5,), 3, num_layers=1, num_units=8)
    assert [layer.name for layer in model.layers] == [
        "features", "standardize", "dense_1", "dropout_1", "logits", "probabilities"]
    x = np.random.default_rng(1).normal(10.0, 3.0, size=(64, 5)).astype(np.float32)
    assert adapt_standardization(model, [x[:40], x[40:]]) == ["standardize"]
    standardised = np.asarray(model.get_layer("standardize")(x))
    np.testing.assert_allclose(standardised.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(standardised.std(axis=0), 1.0, atol=1e-4)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert adapt_standardization(feature_mlp((5,), 3, standardize=False), [x]) == []
    with pytest.raises(ValueError, match="feature vectors"):
        feature_mlp((64, 100, 1), 3)


def test_a_normalization_layer_deeper_in_the_model_is_not_adapted_on_raw_inputs():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3)(inputs)
    outputs = keras.layers.Normalization(name="late")(hidden)
    with pytest.raises(ValueError, match="late.*must read the model's input"):
        adapt_standardization(keras.Model(inputs, outputs), [np.ones((2, 4))])
