import keras
import numpy as np
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
