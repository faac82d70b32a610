import keras
import numpy as np
import pytest
from keras import layers

from modules.interpret import default_gradcam_layer, grad_cam


def band_model(low=20, high=28, height=32, width=40):
    """A fixed-weight conv model whose score only sees frequency rows [low, high)."""
    inputs = keras.Input((height, width, 1))
    mask = np.zeros((1, height, width, 1), np.float32)
    mask[:, low:high] = 1.0
    banded = layers.Lambda(lambda t: t * mask, name="band")(inputs)
    conv = layers.Conv2D(4, 3, padding="same", name="conv", kernel_initializer="ones",
                         bias_initializer="zeros", activation="relu")(banded)
    pooled = layers.GlobalAveragePooling2D()(conv)
    logits = layers.Dense(2, name="logits", kernel_initializer="ones")(pooled)
    return keras.Model(inputs, layers.Activation("softmax")(logits))


def test_gradcam_of_a_model_that_only_looks_at_one_band_highlights_that_band():
    model = band_model()
    x = np.abs(np.random.default_rng(0).normal(size=(2, 32, 40, 1))).astype("float32")
    assert default_gradcam_layer(model) == "conv"
    heat = grad_cam(model, x, class_index=0, layer_name="conv")
    assert heat.shape == (2, 32, 40)
    inside, outside = heat[:, 20:28].mean(), np.concatenate([heat[:, :18], heat[:, 30:]], 1).mean()
    assert inside > 0.5 and outside < 0.05, (inside, outside)
    assert heat.max() <= 1.0 + 1e-6 and heat.min() >= 0.0


def test_gradcam_of_a_time_major_waveform_model_comes_back_as_bins_by_frames():
    """The zoo's waveform models convolve (time, mel) images; the map must be (mel, time)."""
    from modules.models.layers import log_mel_frames
    from modules.models.presets import PANNS_32K

    inputs = keras.Input((32000,))
    frames = log_mel_frames(inputs, PANNS_32K)  # (batch, 101, 64, 1)
    mask = np.zeros((1, 101, 64, 1), np.float32)
    mask[:, :, 40:48] = 1.0  # only mel bins 40-47 reach the score
    banded = layers.Lambda(lambda t: (t + 100.0) * mask, name="band")(frames)
    conv = layers.Conv2D(2, 3, padding="same", name="conv", kernel_initializer="ones",
                         activation="relu")(banded)
    logits = layers.Dense(2, name="logits", kernel_initializer="ones")(
        layers.GlobalAveragePooling2D()(conv))
    model = keras.Model(inputs, layers.Activation("softmax")(logits))
    x = np.random.default_rng(0).normal(size=(1, 32000)).astype("float32")
    heat = grad_cam(model, x, class_index=0, layer_name="conv", output_size=(64, 101))
    assert heat.shape == (1, 64, 101)
    assert heat[0, 41:47].mean() > 0.5 and heat[0, :38].max() < 0.05


def test_models_without_time_frequency_maps_have_no_default_gradcam_layer():
    from modules.models import time_distributed_crnn

    model = time_distributed_crnn((16, 32, 1), 3, n_sequences=2)
    with pytest.raises(ValueError, match="time slice"):
        default_gradcam_layer(model)
