"""MixNet-style CNNs on spectrogram images: mixed-kernel depthwise convolutions (MixConv).

``mixednet``                    five plain blocks, conv 3x3 -> MixConv -> 2x2 average pool.
``mixednet_inverted_residual``  MobileNetV2/MixNet inverted-residual blocks with MixConv.

Both normalise the input per frequency bin (``input_norm``), end with global average pooling,
dropout, a linear ``logits`` layer and a ``probabilities`` activation (softmax, or sigmoid when
``multi_label`` or a single class), and use batch-norm momentum 0.9 for the reason given in
``baseline_cnn``: small audio datasets give few steps an epoch, and 0.99 lags too far behind.
"""

from __future__ import annotations

import keras
from keras import layers

from modules.models.mixednet._common import (
    check_input_shape, check_n_classes, check_positive_ints, classifier_head, regulariser_for)
from modules.models.mixednet.layers import MixedDepthwiseConv2D, is_int, kernel_size_pairs

__all__ = ["mixednet", "mixednet_inverted_residual"]


def mixednet(input_shape, n_classes: int, filters=(8, 16, 32, 64, 128),
             kernel_sizes=(3, 4, 5, 6, 7), multi_label: bool = False, dropout: float = 0.3,
             bn_momentum: float = 0.9, l2: float = 1e-4) -> keras.Model:
    """Plain MixNet-style CNN. ``input_shape`` is (bins, frames, channels), as from spec_parser.

    One block per ``filters`` entry (layer names ``block{i}_...``)::

        Conv2D 3x3 (block{i}_conv) -> BN (block{i}_conv_bn) -> ReLU (block{i}_relu)
        -> MixedDepthwiseConv2D (block{i}_mixconv) -> AveragePooling2D 2x2 (block{i}_pool)
        -> BN (block{i}_bn)

    The conv gets its own batch norm before the ReLU (not a bare ReLU): with dB inputs and small
    datasets it keeps the activations centred and trains faster. The MixConv is linear; the next
    block's conv + ReLU supplies the non-linearity, as in a separable convolution. Pooling uses
    ``"same"`` padding so that short or narrow inputs never shrink to zero size.

    L2 applies to the 3x3 convs and the logits, not to the depthwise kernels (they have few
    weights each, and decaying them mostly shrinks the large kernels).
    """
    builder = "mixednet"
    input_shape = check_input_shape(builder, input_shape)
    n_classes = check_n_classes(builder, n_classes)
    filters = check_positive_ints(builder, "filters", filters)
    kernel_sizes = kernel_size_pairs(kernel_sizes)
    if min(filters) < len(kernel_sizes):
        raise ValueError(
            f"{builder}: every filters value must be >= len(kernel_sizes) ({len(kernel_sizes)}) "
            f"so that each kernel size gets a channel; got filters={filters}")
    regulariser = regulariser_for(l2)

    inputs = keras.Input(shape=input_shape, name="spectrogram")
    # Normalise each frequency bin over the batch (dB values sit near -40, not 0).
    x = layers.BatchNormalization(axis=1, momentum=bn_momentum, name="input_norm")(inputs)
    for block, n_filters in enumerate(filters, start=1):
        x = layers.Conv2D(n_filters, 3, padding="same", use_bias=False,
                          kernel_regularizer=regulariser, name=f"block{block}_conv")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"block{block}_conv_bn")(x)
        x = layers.Activation("relu", name=f"block{block}_relu")(x)
        x = MixedDepthwiseConv2D(kernel_sizes, name=f"block{block}_mixconv")(x)
        x = layers.AveragePooling2D(2, padding="same", name=f"block{block}_pool")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"block{block}_bn")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    outputs = classifier_head(x, n_classes, multi_label, dropout, regulariser)
    return keras.Model(inputs, outputs, name=builder)


def mixednet_inverted_residual(input_shape, n_classes: int, filters=(8, 16, 32, 64, 128),
                               kernel_sizes=(3, 4, 5, 6, 7), expand_ratio: int = 4,
                               blocks_per_stage: int = 2, activation: str = "swish",
                               head_filters: int | None = 256, multi_label: bool = False,
                               dropout: float = 0.3, bn_momentum: float = 0.9,
                               l2: float = 1e-4) -> keras.Model:
    """MixNet with inverted-residual blocks. ``input_shape`` is (bins, frames, channels).

    Layout (layer names in brackets)::

        input_norm -> Conv2D 3x3 filters[0] + BN + act      [stem_conv, stem_bn, stem_act]
        stage s = 1..len(filters): (s > 1: AveragePooling2D 2x2)           [stage{s}_pool]
            blocks_per_stage inverted-residual blocks with filters[s-1] outputs
                                                           [stage{s}_block{b}_...]
        Conv2D 1x1 head_filters + BN + act                  [head_conv, head_bn, head_act]
        global average pooling, dropout, logits, probabilities

    A block: 1x1 expansion to ``in_channels * expand_ratio`` + BN + act (skipped when
    ``expand_ratio == 1``) -> MixedDepthwiseConv2D + BN + act -> 1x1 linear projection + BN,
    plus the block input (``..._add``) when input and output channels match. All blocks have
    stride 1 (downsampling is the average pooling between stages), so the first block of each
    stage changes the channel count and the others are residual. Swish is the default
    activation, as in MixNet's larger stages; ``activation`` takes any Keras activation name.

    The 1x1 head conv (skip it with ``head_filters=None``) widens the linear bottleneck before
    pooling, as in MobileNetV2/MixNet, and gives Grad-CAM a rectified last conv map
    (``head_act``). Squeeze-and-excitation is left out to keep the model small.
    """
    builder = "mixednet_inverted_residual"
    input_shape = check_input_shape(builder, input_shape)
    n_classes = check_n_classes(builder, n_classes)
    filters = check_positive_ints(builder, "filters", filters)
    kernel_sizes = kernel_size_pairs(kernel_sizes)
    _check_inverted_residual_options(builder, filters, kernel_sizes, expand_ratio,
                                     blocks_per_stage, activation, head_filters)
    regulariser = regulariser_for(l2)
    conv_bn = _ConvBN(activation, bn_momentum, regulariser)

    inputs = keras.Input(shape=input_shape, name="spectrogram")
    x = layers.BatchNormalization(axis=1, momentum=bn_momentum, name="input_norm")(inputs)
    x = conv_bn(x, filters[0], 3, "stem")
    channels = filters[0]
    for stage, n_filters in enumerate(filters, start=1):
        if stage > 1:
            x = layers.AveragePooling2D(2, padding="same", name=f"stage{stage}_pool")(x)
        for block in range(1, blocks_per_stage + 1):
            x = _inverted_residual_block(x, conv_bn, channels, n_filters, kernel_sizes,
                                         expand_ratio, f"stage{stage}_block{block}")
            channels = n_filters
    if head_filters is not None:
        x = conv_bn(x, head_filters, 1, "head")
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    outputs = classifier_head(x, n_classes, multi_label, dropout, regulariser)
    return keras.Model(inputs, outputs, name=builder)


def _check_inverted_residual_options(builder: str, filters, kernel_sizes, expand_ratio,
                                     blocks_per_stage, activation, head_filters) -> None:
    """The checks of ``mixednet_inverted_residual`` beyond shape, classes and filters."""
    for name, value in (("expand_ratio", expand_ratio), ("blocks_per_stage", blocks_per_stage)):
        if not is_int(value) or value < 1:
            raise ValueError(f"{builder}: {name} must be a positive int, got {value!r}")
    if head_filters is not None and (not is_int(head_filters) or head_filters < 1):
        raise ValueError(f"{builder}: head_filters must be a positive int or None, "
                         f"got {head_filters!r}")
    # Channels entering each block: the stem's, the previous stage's, then (if repeated) its own.
    block_inputs = (filters[0],) + filters[:-1] + (filters if blocks_per_stage > 1 else ())
    if min(block_inputs) * expand_ratio < len(kernel_sizes):
        raise ValueError(
            f"{builder}: the expanded channels (block input channels x expand_ratio) must be "
            f">= len(kernel_sizes) ({len(kernel_sizes)}) so that each kernel size gets a channel; "
            f"got filters={filters}, expand_ratio={expand_ratio}")
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{builder}: unknown activation {activation!r}") from error


class _ConvBN:
    """Conv2D (no bias) -> BN -> activation (``act=False``: no activation), named ``{name}_...``."""

    def __init__(self, activation: str, bn_momentum: float, regulariser):
        self.activation, self.bn_momentum, self.regulariser = activation, bn_momentum, regulariser

    def __call__(self, x, n_filters, kernel_size, name, act=True):
        x = layers.Conv2D(n_filters, kernel_size, padding="same", use_bias=False,
                          kernel_regularizer=self.regulariser, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(momentum=self.bn_momentum, name=f"{name}_bn")(x)
        return layers.Activation(self.activation, name=f"{name}_act")(x) if act else x


def _inverted_residual_block(x, conv_bn: _ConvBN, channels: int, n_filters: int, kernel_sizes,
                             expand_ratio: int, name: str):
    """Expansion -> MixConv + BN + act -> linear projection, plus the input if shapes match."""
    shortcut = x
    if expand_ratio != 1:
        x = conv_bn(x, channels * expand_ratio, 1, f"{name}_expand")
    x = MixedDepthwiseConv2D(kernel_sizes, name=f"{name}_mixconv")(x)
    x = layers.BatchNormalization(momentum=conv_bn.bn_momentum, name=f"{name}_mixconv_bn")(x)
    x = layers.Activation(conv_bn.activation, name=f"{name}_mixconv_act")(x)
    # Linear projection: a ReLU on the narrow bottleneck would destroy information.
    x = conv_bn(x, n_filters, 1, f"{name}_project", act=False)
    if channels == n_filters:
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    return x
