"""The PANNs building blocks as registered, serializable Keras layers.

Layer and sub-layer names mirror the PyTorch module names of the reference code
(``conv_block3.conv2``, ``att_block.cla`` ...), so a torch state_dict key maps to a Keras weight
path by replacing ``.`` with ``/`` and renaming the parameter (see ``convert.py``).

Tensors are channels last and time major: ``(batch, time, mel, channels)`` for images and
``(batch, time, features)`` after the mel axis is averaged away, so the PyTorch layout
``(batch, channels, time, mel)`` maps to Keras by moving the channel axis only.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers, ops

from modules.serialization import serializable

PACKAGE = "spectrain"

#: torch.nn.BatchNorm defaults (Keras' are epsilon 1e-3, momentum 0.99). Keras ``momentum`` is
#: the weight of the old moving statistics, torch's the weight of the new batch: 0.9 == 0.1.
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def batch_norm(name: str, axis: int = -1, momentum: float = BN_MOMENTUM,
               epsilon: float = BN_EPSILON) -> layers.BatchNormalization:
    """torch-default batch norm (see ``FusedBatchNormalization``)."""
    return FusedBatchNormalization(axis=axis, momentum=momentum, epsilon=epsilon, name=name)


@serializable(package=PACKAGE)
class FusedBatchNormalization(layers.BatchNormalization):
    """``BatchNormalization`` whose training step is TensorFlow's fused kernel.

    Training on 4-D inputs uses ``FusedBatchNormV3`` (one op forward, one backward, instead of
    the dozen element-wise ops of the generic path) when normalising over the last axis, or over
    axis 2 of a (b, t, f, 1) tensor (``bn0``: the same memory as (b, t, 1, f)); other cases
    take the generic path. As in torch, the running variance is updated with the unbiased batch
    variance (the normalisation itself uses the biased one, as both frameworks do). Inference,
    masks and non-TensorFlow backends use the Keras implementation unchanged.

    Measured on 2 CPU cores, a CNN14 training step (batch 8 x 5 s) took about 10 % less time
    than with the generic path, with the same outputs to float32 rounding.
    """

    def call(self, inputs, training=None, mask=None):
        import tensorflow as tf

        channels = self._fused_channels(inputs)
        if (not (training and self.trainable) or mask is not None or channels is None
                or keras.backend.backend() != "tensorflow"):
            return super().call(inputs, training=training, mask=mask)
        shape = tf.shape(inputs)
        last_axis = self.axis % len(inputs.shape) == len(inputs.shape) - 1
        x = tf.cast(inputs, "float32") if inputs.dtype != tf.float32 else inputs
        if not last_axis:
            x = tf.reshape(x, [shape[0], shape[1], 1, channels])
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, self.gamma, self.beta, epsilon=self.epsilon, data_format="NHWC", is_training=True)
        # fused_batch_norm returns the unbiased variance (n / (n - 1) times the biased one).
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum
                                    + variance * (1.0 - self.momentum))
        if not last_axis:
            y = tf.reshape(y, shape)
        return tf.cast(y, self.compute_dtype)

    def _fused_channels(self, inputs):
        rank = len(inputs.shape)
        if rank != 4 or self.renorm or not (self.center and self.scale) or self.synchronized:
            return None
        axis = self.axis % rank
        if axis == rank - 1:
            return inputs.shape[-1]
        # Normalising over an inner axis: only when nothing varies faster than it.
        if axis == 2 and inputs.shape[3] == 1 and inputs.shape[2] is not None:
            return inputs.shape[2]
        return None


@serializable(package=PACKAGE)
class ConvBlock(layers.Layer):
    """``convs`` x (conv k x k "same", no bias -> batch norm -> ReLU), then average pooling.

    ``convs=2, kernel_size=3`` is PANNs' ``ConvBlock`` (Cnn10, Cnn14); ``convs=1,
    kernel_size=5`` its ``ConvBlock5x5`` (Cnn6). ``pool_size`` (1, 1) skips the pooling (the
    last block of Cnn14). Pooling is "valid": an odd last row/column is dropped, as
    ``F.avg_pool2d`` does. Sub-layers are ``conv1, bn1[, conv2, bn2]``.

    ``implementation`` says how the convolutions are computed, always with the ``Conv2D``
    sub-layers' kernels: ``"conv"`` calls them; ``"matmul"`` gathers the k x k patches (im2col)
    and does one matrix product; ``"auto"`` (default) picks ``"matmul"`` when the input has at
    most ``MATMUL_MAX_WIDTH`` frequency bins. On such narrow, deep maps (Cnn14's sixth block:
    2 mel bins x 2048 channels) the direct convolution is inefficient: on 2 CPU cores the
    matmul form took half the time, forward and backward. Same products, summed in another
    order: the two agree to float32 rounding (~1e-6 relative).
    """

    gradcam_conv_maps = True  # its output is the block's (time, mel) conv maps

    #: ``implementation="auto"`` uses the matmul form up to this many frequency bins.
    MATMUL_MAX_WIDTH = 2

    def __init__(self, filters: int, kernel_size: int = 3, convs: int = 2,
                 pool_size: Sequence[int] = (2, 2), bn_momentum: float = BN_MOMENTUM,
                 bn_epsilon: float = BN_EPSILON, kernel_initializer="glorot_uniform",
                 implementation: str = "auto", **kwargs):
        super().__init__(**kwargs)
        if convs < 1:
            raise ValueError(f"ConvBlock needs at least one convolution, got convs={convs}")
        if int(kernel_size) % 2 != 1:
            raise ValueError(f"ConvBlock kernel_size must be odd ('same' padding), got {kernel_size}")
        if implementation not in ("auto", "conv", "matmul"):
            raise ValueError(f"ConvBlock implementation must be auto, conv or matmul, "
                             f"got {implementation!r}")
        self.implementation = implementation
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.convs = int(convs)
        self.pool_size = tuple(int(p) for p in pool_size)
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.conv_layers = []
        self.bn_layers = []
        for i in range(1, self.convs + 1):
            conv = layers.Conv2D(self.filters, self.kernel_size, padding="same", use_bias=False,
                                 kernel_initializer=self.kernel_initializer, name=f"conv{i}")
            bn = batch_norm(f"bn{i}", momentum=self.bn_momentum, epsilon=self.bn_epsilon)
            setattr(self, f"conv{i}", conv)
            setattr(self, f"bn{i}", bn)
            self.conv_layers.append(conv)
            self.bn_layers.append(bn)
        self.pool = (None if self.pool_size == (1, 1)
                     else layers.AveragePooling2D(self.pool_size, padding="valid", name="pool"))

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv, bn in zip(self.conv_layers, self.bn_layers):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            bn.build(shape)
        self.built = True

    def _use_matmul(self, inputs) -> bool:
        if self.implementation != "auto":
            return self.implementation == "matmul"
        width = inputs.shape[2]
        return width is not None and width <= self.MATMUL_MAX_WIDTH

    def call(self, inputs, training=None):
        x = inputs
        matmul = self._use_matmul(inputs)
        for conv, bn in zip(self.conv_layers, self.bn_layers):
            x = self._matmul_conv(x, conv) if matmul else conv(x)
            x = ops.relu(bn(x, training=training))
        return x if self.pool is None else self.pool(x)

    def _matmul_conv(self, x, conv):
        """``conv(x)`` ("same" padding, stride 1, no bias) as im2col + one matrix product."""
        k = self.kernel_size
        pad = k // 2
        kernel = ops.cast(conv.kernel, x.dtype)  # (k, k, in, out)
        channels = kernel.shape[2]
        shape = ops.shape(x)
        time, width = shape[1], shape[2]
        padded = ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        # Patch features ordered (kh, kw, in), as the kernel flattens.
        patches = ops.concatenate([padded[:, i:i + time, j:j + width, :]
                                   for i in range(k) for j in range(k)], axis=-1)
        flat = ops.matmul(ops.reshape(patches, (-1, k * k * channels)),
                          ops.reshape(kernel, (k * k * channels, self.filters)))
        return ops.reshape(flat, (shape[0], time, width, self.filters))

    def compute_output_shape(self, input_shape):
        batch, time, freq, _ = input_shape
        if self.pool is not None:
            time = None if time is None else time // self.pool_size[0]
            freq = None if freq is None else freq // self.pool_size[1]
        return (batch, time, freq, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, convs=self.convs,
                      pool_size=list(self.pool_size), bn_momentum=self.bn_momentum,
                      bn_epsilon=self.bn_epsilon,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
                      implementation=self.implementation)
        return config


@serializable(package=PACKAGE)
class AxisMean(layers.Layer):
    """Mean over one axis (PANNs' ``torch.mean(x, dim=3)`` over the mel axis)."""

    def __init__(self, axis: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        return ops.mean(inputs, axis=self.axis)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        del shape[self.axis]
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@serializable(package=PACKAGE)
class ClipPooling(layers.Layer):
    """(batch, time, features) -> (batch, features): max over time plus mean over time."""

    def call(self, inputs):
        return ops.max(inputs, axis=1) + ops.mean(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@serializable(package=PACKAGE)
class SegmentPooling(layers.Layer):
    """Smoothing over time of the decision-level models: ``max_pool1d + avg_pool1d`` with
    kernel 3, stride 1, padding 1, in torch's semantics.

    torch pads max pooling with -inf (the edge frame's max is over the 2 real frames) but
    counts the zero padding in the average (``count_include_pad=True``: the edge frame's mean is
    the sum of 2 real frames divided by 3). Keras' "same" average pooling divides by 2 there,
    so the average is written out here.
    """

    def call(self, inputs):
        padded = ops.pad(inputs, [[0, 0], [1, 1], [0, 0]])  # zeros, counted in the mean
        average = (padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]) / 3.0
        # Max with -inf padding: each frame against its real neighbours only (an edge frame
        # is its own stand-in for the missing neighbour).
        left = ops.concatenate([inputs[:, :1], inputs[:, :-1]], axis=1)
        right = ops.concatenate([inputs[:, 1:], inputs[:, -1:]], axis=1)
        maximum = ops.maximum(ops.maximum(left, inputs), right)
        return maximum + average

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class _PooledActivation:
    """``activation``: the activation already applied to the values a layer pools (not applied
    again). Code that asks a model's output layer for its activation (to pick the loss) then
    sees ``sigmoid`` / ``softmax`` for the decision-level heads too."""

    def _set_activation(self, activation):
        if activation not in (None, "sigmoid", "softmax", "linear"):
            raise ValueError(f"activation must be None, sigmoid, softmax or linear, "
                             f"got {activation!r}")
        self.activation_name = activation

    @property
    def activation(self):
        return None if self.activation_name is None else keras.activations.get(self.activation_name)


@serializable(package=PACKAGE)
class TimeReduce(_PooledActivation, layers.Layer):
    """(batch, time, features) -> (batch, features) by ``"max"`` or ``"mean"`` over time.

    ``activation`` only records what produced the inputs (see ``_PooledActivation``).
    """

    def __init__(self, mode: str = "max", activation=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "mean"):
            raise ValueError(f"TimeReduce mode must be 'max' or 'mean', got {mode!r}")
        self.mode = mode
        self._set_activation(activation)

    def call(self, inputs):
        return ops.max(inputs, axis=1) if self.mode == "max" else ops.mean(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "activation": self.activation_name}


@serializable(package=PACKAGE)
class FramewiseUpsample(layers.Layer):
    """Segment-level outputs back to one row per input frame.

    Inputs ``[segmentwise (batch, segments, classes), frames (batch, n_frames, ...)]``; the
    second tensor only gives the frame count. Each segment is repeated ``ratio`` times (the
    time downsampling of the conv stack) and the last segment repeated again up to
    ``n_frames`` rows: PANNs' ``interpolate`` then ``pad_framewise_output``, written as one
    gather of segment ``min(frame // ratio, segments - 1)``.
    """

    def __init__(self, ratio: int = 32, **kwargs):
        super().__init__(**kwargs)
        if int(ratio) < 1:
            raise ValueError(f"FramewiseUpsample ratio must be >= 1, got {ratio}")
        self.ratio = int(ratio)

    def call(self, inputs):
        segmentwise, frames = inputs
        n_frames = ops.shape(frames)[1]
        n_segments = ops.shape(segmentwise)[1]
        index = ops.minimum(ops.arange(n_frames) // self.ratio, n_segments - 1)
        return ops.take(segmentwise, index, axis=1)

    def compute_output_shape(self, input_shape):
        segmentwise_shape, frames_shape = input_shape
        return (segmentwise_shape[0], frames_shape[1], segmentwise_shape[2])

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio}


@serializable(package=PACKAGE)
class AttBlock(layers.Layer):
    """PANNs' attention block over time, input (batch, time, features).

    ``att`` and ``cla`` are 1x1 ``Conv1D`` layers (torch ``nn.Conv1d(kernel_size=1)``).
    Returns ``(norm_att, cla)``: ``softmax_over_time(clip(att(x), -10, 10))`` and
    ``activation(cla(x))``, both (batch, time, n_out). The clip-level output is
    ``sum_t norm_att * cla`` (``AttentionPooling``). The reference's ``bn_att`` is never used
    in its forward pass, so it has no counterpart here.
    """

    def __init__(self, units: int, activation: str = "sigmoid", kernel_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        if activation not in ("sigmoid", "softmax", "linear"):
            raise ValueError(f"AttBlock activation must be sigmoid, softmax or linear, "
                             f"got {activation!r}")
        self.units = int(units)
        self.activation = activation
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.att = layers.Conv1D(self.units, 1, use_bias=True,
                                 kernel_initializer=self.kernel_initializer, name="att")
        self.cla = layers.Conv1D(self.units, 1, use_bias=True,
                                 kernel_initializer=self.kernel_initializer, name="cla")

    def build(self, input_shape):
        self.att.build(tuple(input_shape))
        self.cla.build(tuple(input_shape))
        self.built = True

    def call(self, inputs):
        norm_att = ops.softmax(ops.clip(self.att(inputs), -10.0, 10.0), axis=1)
        cla = self.cla(inputs)
        if self.activation == "sigmoid":
            cla = ops.sigmoid(cla)
        elif self.activation == "softmax":
            cla = ops.softmax(cla, axis=-1)
        return norm_att, cla

    def compute_output_shape(self, input_shape):
        shape = (input_shape[0], input_shape[1], self.units)
        return shape, shape

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


@serializable(package=PACKAGE)
class AttentionPooling(_PooledActivation, layers.Layer):
    """``[norm_att, cla]`` (batch, time, classes) each -> ``sum_t norm_att * cla``.

    ``activation`` only records what produced ``cla`` (see ``_PooledActivation``).
    """

    def __init__(self, activation=None, **kwargs):
        super().__init__(**kwargs)
        self._set_activation(activation)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation_name}

    def call(self, inputs):
        norm_att, cla = inputs
        return ops.sum(norm_att * cla, axis=1)

    def compute_output_shape(self, input_shape):
        shape = input_shape[0]
        return (shape[0], shape[2])


def custom_objects() -> dict:
    """The layers of this module by registered name (for ``keras.models.load_model``)."""
    return {f"{PACKAGE}>{cls.__name__}": cls
            for cls in (FusedBatchNormalization, ConvBlock, AxisMean, ClipPooling, SegmentPooling,
                        TimeReduce, FramewiseUpsample, AttBlock, AttentionPooling)}


__all__ = ["AttBlock", "AttentionPooling", "AxisMean", "ClipPooling", "ConvBlock",
           "FramewiseUpsample", "FusedBatchNormalization", "SegmentPooling", "TimeReduce",
           "batch_norm", "custom_objects"]
