"""A VGG-style CNN sized for CPU training from scratch on small datasets (ESC-10's 320 clips).

Blocks of 3x3 conv -> batch norm -> ReLU (``convs_per_block`` of them; the first block has one,
at full resolution, where a second would cost as much as the rest of the network), each block
ended by 2x2 average pooling. The head is PANNs' (Kong et al. 2020): the mean over frequency,
then max plus mean over time, so a short event (a dog bark in a mostly silent clip) is not
averaged away as global average pooling would. Dropout, then ``logits`` and ``probabilities``
layers as in the baseline (Grad-CAM and calibration work on the logits).
"""

from __future__ import annotations

import keras
from keras import layers

from modules.models.baseline.cnn import check_image_classifier
from modules.models.panns.layers import AxisMean, ClipPooling


def compact_vgg(input_shape, n_classes: int, filters=(32, 64, 128, 256), convs_per_block: int = 2,
                dropout: float = 0.3, l2: float = 1e-4, bn_momentum: float = 0.9,
                multi_label: bool = False) -> keras.Model:
    """Build the network. ``input_shape`` is (bins, frames, channels); ``bn_momentum`` 0.9 for
    the reason given in :func:`modules.models.baseline.baseline_cnn`."""
    check_image_classifier("compact_vgg", input_shape, n_classes)
    if convs_per_block < 1:
        raise ValueError(f"convs_per_block must be at least 1, got {convs_per_block}")
    regulariser = keras.regularizers.L2(l2) if l2 else None
    inputs = keras.Input(shape=tuple(input_shape), name="spectrogram")
    x = layers.BatchNormalization(axis=1, momentum=bn_momentum, name="input_norm")(inputs)
    for block, n_filters in enumerate(filters, start=1):
        for conv in range(1, (1 if block == 1 else convs_per_block) + 1):
            name = f"block{block}_conv{conv}"
            x = layers.Conv2D(n_filters, 3, padding="same", use_bias=False,
                              kernel_regularizer=regulariser, name=name)(x)
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
            x = layers.Activation("relu", name=f"{name}_relu")(x)
        x = layers.AveragePooling2D(2, padding="same", name=f"block{block}_pool")(x)
    x = AxisMean(axis=1, name="frequency_mean")(x)  # (batch, frames, filters)
    x = ClipPooling(name="time_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    logits = layers.Dense(n_classes, kernel_regularizer=regulariser, name="logits")(x)
    outputs = layers.Activation("sigmoid" if multi_label else "softmax",
                                name="probabilities")(logits)
    return keras.Model(inputs, outputs, name="compact_vgg")
