"""Fine-tuning: strict weight transfer by layer name, new head, frozen base, front-end checks."""

import functools

import keras
import numpy as np
import pytest

from modules.models.baseline import baseline_cnn
from modules.models.finetune import (build_network, builder_preset, classification_model,
                                     load_pretrained, output_activation)
from modules.models.layers import log_mel_frames
from modules.models.presets import PANNS_16K, PANNS_32K


def tiny_waveform_model(n_classes, input_shape=(8000,), preset=PANNS_32K, hidden=8):
    """A small model with a PANNs-style front end and dict outputs, like the zoo's."""
    inputs = keras.Input(shape=input_shape, name="waveform")
    x = log_mel_frames(inputs, preset)
    x = keras.layers.BatchNormalization(axis=2, name="bn0")(x)
    x = keras.layers.Conv2D(hidden, 3, padding="same", name="conv")(x)
    embedding = keras.layers.GlobalAveragePooling2D(name="embedding")(x)
    logits = keras.layers.Dense(n_classes, name="fc_audioset")(embedding)
    clipwise = keras.layers.Activation("sigmoid", name="clipwise_output")(logits)
    return keras.Model(inputs, {"clipwise_output": clipwise, "embedding": embedding}, name="tiny")


tiny_waveform_model.default_preset = PANNS_32K


def test_fine_tuning_loads_the_base_and_replaces_the_head(tmp_path):
    source = tiny_waveform_model(527)
    path = tmp_path / "pretrained.keras"
    source.save(path)
    network, report = build_network(tiny_waveform_model, (8000,), 10, pretrained_path=path,
                                     freeze_base=True)
    assert network.output_shape == (None, 10)  # one classification output
    assert report.new_head == ["fc_audioset"]
    assert set(report.copied) == {"bn0", "conv"} and set(report.frozen) == {"bn0", "conv"}
    np.testing.assert_array_equal(network.get_layer("conv").get_weights()[0],
                                  source.get_layer("conv").get_weights()[0])
    assert not network.get_layer("conv").trainable and network.get_layer("fc_audioset").trainable
    assert output_activation(network) == "sigmoid"
    # One step trains the head and leaves the frozen base alone.
    before_conv = network.get_layer("conv").get_weights()[0].copy()
    before_head = network.get_layer("fc_audioset").get_weights()[0].copy()
    network.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
    x = np.random.default_rng(0).normal(size=(4, 8000)).astype("float32")
    network.train_on_batch(x, np.eye(10, dtype="float32")[[0, 1, 2, 3]])
    np.testing.assert_array_equal(network.get_layer("conv").get_weights()[0], before_conv)
    assert not np.allclose(network.get_layer("fc_audioset").get_weights()[0], before_head)


def test_same_class_count_loads_everything_and_predicts_the_same(tmp_path):
    source = tiny_waveform_model(5)
    source.save(tmp_path / "p.keras")
    network, report = build_network(tiny_waveform_model, (8000,), 5, tmp_path / "p.keras")
    assert report.new_head == []
    x = np.random.default_rng(1).normal(size=(2, 8000)).astype("float32")
    np.testing.assert_allclose(network.predict(x, verbose=0),
                               source.predict(x, verbose=0)["clipwise_output"], rtol=1e-6)
    with pytest.raises(ValueError, match="nothing would train"):
        build_network(tiny_waveform_model, (8000,), 5, tmp_path / "p.keras", freeze_base=True)


def test_front_end_mismatch_names_both_settings(tmp_path):
    tiny_waveform_model(527).save(tmp_path / "p.keras")
    other = functools.partial(tiny_waveform_model, preset=PANNS_16K)
    with pytest.raises(ValueError, match=r"sr: pretrained model p.keras has 32000, job model tiny has 16000"):
        build_network(other, (8000,), 10, tmp_path / "p.keras")
    assert builder_preset(other) is PANNS_16K and builder_preset(tiny_waveform_model) is PANNS_32K
    assert builder_preset(baseline_cnn) is None


def test_strict_transfer_rejects_other_architectures(tmp_path):
    tiny_waveform_model(527).save(tmp_path / "p.keras")
    wider = functools.partial(tiny_waveform_model, hidden=16)
    with pytest.raises(ValueError, match=r"layer 'conv': pretrained weight shapes"):
        build_network(wider, (8000,), 10, tmp_path / "p.keras")
    baseline_cnn((16, 16, 1), 3).save(tmp_path / "cnn.keras")
    with pytest.raises(ValueError, match="different layers: only in the pretrained model"):
        load_pretrained(baseline_cnn((16, 16, 1), 3, filters=(8, 8)), tmp_path / "cnn.keras")
    with pytest.raises(FileNotFoundError, match="pretrained_path"):
        load_pretrained(baseline_cnn((16, 16, 1), 3), tmp_path / "missing.keras")
    with pytest.raises(ValueError, match="no waveform front end"):
        load_pretrained(tiny_waveform_model(3), tmp_path / "cnn.keras")


def test_classification_model_picks_the_clip_output():
    model = tiny_waveform_model(4)
    assert classification_model(model).output_shape == (None, 4)
    plain = baseline_cnn((16, 16, 1), 3)
    assert classification_model(plain) is plain and output_activation(plain) == "softmax"
