"""Grad-CAM (Selvaraju et al., 2017) over spectrogram models.

The class score is taken before the softmax when the model has a ``logits`` layer: softmax
probabilities saturate, and their gradients then vanish for confident predictions.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


LOGIT_LAYERS = ("logits", "fc_audioset")
TIME_MAJOR_LAYER = "time_major"  # the Permute that modules.models.layers.log_mel_frames adds


# Models whose last 4-D maps are not time-frequency maps of the input, so a Grad-CAM overlay on
# the spectrogram would mislead: a marker layer name -> why.
NOT_TIME_FREQUENCY = {
    "reshape_wav2img": "HTS-AT folds the spectrogram into a 256x256 image before its first "
                       "layer, so its feature maps do not line up with time and frequency; its "
                       "framewise_output gives the per-frame evidence instead",
    "time_slices": "the time-distributed CRNN convolves each time slice separately and pools it "
                   "before the recurrent layers, so no single map covers the spectrogram",
}


def default_gradcam_layer(model: keras.Model) -> str:
    """The last layer with a 4-D (batch, height, width, channels) output: the last conv maps."""
    names = {layer.name for layer in model.layers}
    for marker, reason in NOT_TIME_FREQUENCY.items():
        if marker in names:
            raise ValueError(f"no default Grad-CAM layer for model {model.name!r}: {reason}; "
                             "name a layer with layer_name= to force one")
    for layer in reversed(model.layers):
        shape = getattr(layer, "output", None)
        shape = getattr(shape, "shape", None)
        if shape is not None and len(shape) == 4 and (isinstance(layer, (
                keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D,
                keras.layers.Activation, keras.layers.BatchNormalization))
                or getattr(layer, "gradcam_conv_maps", False)):  # composite conv blocks
            return layer.name
    raise ValueError(f"model {model.name!r} has no convolutional layer for Grad-CAM; "
                     "name one with layer_name=")


def score_output(model: keras.Model):
    """The model's symbolic (batch, n_classes) class scores, taken before the output activation.

    Pre-activation scores: "logits" in the project's models, "fc_audioset" in the PANNs ports
    (only a clip-level one: a decision-level head's fc_audioset scores every segment). Without
    one, the model's own output: its only output, or "clipwise_output" of a dict of outputs.
    """
    names = {layer.name for layer in model.layers}
    score_layer = next((name for name in LOGIT_LAYERS if name in names
                        and len(model.get_layer(name).output.shape) == 2), None)
    if score_layer:
        return model.get_layer(score_layer).output
    output = model.output
    if isinstance(output, dict):
        if "clipwise_output" not in output:
            raise ValueError(f"model {model.name!r} has several outputs ({sorted(output)}) and no "
                             f"{' or '.join(LOGIT_LAYERS)} layer: cannot tell which scores classes")
        return output["clipwise_output"]
    if isinstance(output, (list, tuple)):
        if len(output) != 1:
            raise ValueError(f"model {model.name!r} has {len(output)} outputs and no "
                             f"{' or '.join(LOGIT_LAYERS)} layer: cannot tell which scores classes")
        return output[0]
    return output


def score_model(model: keras.Model) -> keras.Model:
    """A model from ``model``'s input to its pre-activation class scores (see ``score_output``)."""
    # A single input as a tensor, not a list of one, so that calling it with a tensor matches.
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, score_output(model), name=f"{model.name}_scores")


def grad_cam(model: keras.Model, inputs, class_index=None, layer_name: str | None = None,
             output_size=None) -> np.ndarray:
    """Heat maps in [0, 1], shape (batch, height, width).

    ``class_index``: int, per-example sequence, or None for the predicted class. ``output_size``
    (height, width) resizes the maps, e.g. to the spectrogram's size; default: the input's own
    (height, width) when the input is an image.
    """
    layer_name = layer_name or default_gradcam_layer(model)
    names = {layer.name for layer in model.layers}
    probe = keras.Model(model.inputs, [model.get_layer(layer_name).output, score_output(model)])
    inputs = tf.convert_to_tensor(inputs)
    with tf.GradientTape() as tape:
        feature_maps, scores = probe(inputs, training=False)
        if class_index is None:
            chosen = tf.argmax(scores, axis=-1)
        else:
            chosen = tf.broadcast_to(tf.cast(class_index, tf.int64), tf.shape(scores)[:1])
        score = tf.gather(scores, chosen, axis=1, batch_dims=1)
    gradients = tape.gradient(score, feature_maps)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)  # global-average-pooled grads
    cams = tf.nn.relu(tf.reduce_sum(weights * feature_maps, axis=-1))
    if TIME_MAJOR_LAYER in names:
        # Waveform models of the zoo convolve (time, mel) images; reports show (mel, time).
        cams = tf.transpose(cams, [0, 2, 1])
    if output_size is None and len(inputs.shape) == 4:
        output_size = inputs.shape[1:3]
    if output_size is not None:
        cams = tf.image.resize(cams[..., tf.newaxis], output_size, method="bilinear")[..., 0]
    peak = tf.reduce_max(cams, axis=(1, 2), keepdims=True)
    return (cams / tf.maximum(peak, 1e-12)).numpy()
