"""Custom layers of the MixNet family: mixed depthwise convolution and time slicing.

Both are registered Keras serializables (package "spectrain"), so models using them save to and
load from ``.keras`` files without ``custom_objects``, as long as this module has been imported
(``import modules.models`` does it).

``MixedDepthwiseConv2D``  MixConv (Tan & Le, 2019): depthwise convolution with a different kernel
                          size per channel group, so one layer sees several receptive fields.
``TimeSlices``            (batch, bins, frames, ch) -> (batch, n, bins, frames // n, ch), the
                          input of a ``TimeDistributed`` CNN in a CRNN.
"""

from __future__ import annotations

import math
from numbers import Integral

import keras
from keras import ops

from modules.serialization import serializable

__all__ = ["MixedDepthwiseConv2D", "TimeSlices", "is_int", "kernel_size_pairs", "split_channels"]


def split_channels(channels: int, n_groups: int) -> list[int]:
    """Channel counts of ``n_groups`` groups: equal parts, the remainder added to the first group.

    The split of the MixNet reference code (``_split_channels``), e.g. 18 channels, 5 groups ->
    [6, 3, 3, 3, 3]. Every group must get at least one channel, so ``channels >= n_groups``.
    """
    if not is_int(n_groups) or n_groups < 1:
        raise ValueError(f"n_groups must be a positive int, got {n_groups!r}")
    if not is_int(channels) or channels < n_groups:
        raise ValueError(
            f"cannot split {channels} channels into {n_groups} kernel groups: every kernel size "
            "needs at least one channel; use fewer kernel_sizes or more channels")
    sizes = [channels // n_groups] * n_groups
    sizes[0] += channels - sum(sizes)
    return sizes


@serializable()
class MixedDepthwiseConv2D(keras.layers.Layer):
    """Mixed depthwise convolution (MixConv): one kernel size per channel group.

    The input channels are split into ``len(kernel_sizes)`` groups with ``split_channels`` (equal
    parts, remainder to the first group); group ``i`` goes through a depthwise convolution with
    kernel ``kernel_sizes[i]`` and ``"same"`` padding, and the group outputs are concatenated in
    order. Output channels: ``channels * depth_multiplier``, grouped the same way.

    Why: small kernels resolve fine spectral detail, large ones see longer time/frequency context;
    mixing them in one layer costs about as much as a single mid-sized depthwise conv.

    Fewer input channels than kernel sizes raises ``ValueError`` at build time rather than silently
    dropping kernels: a model whose layer differs from its configuration would be a surprise.

    Even kernel sizes are allowed; with ``"same"`` padding they pad one more row/column after
    than before (TensorFlow's convention), exactly as ``keras.layers.DepthwiseConv2D`` does.
    Only ``channels_last`` data and ``"same"`` padding are supported (``"valid"`` would give the
    groups different spatial sizes).

    Args:
        kernel_sizes: non-empty sequence of kernel sizes, each a positive int or an
            (height, width) pair.
        strides: int or (height, width) pair, shared by all groups.
        depth_multiplier: output channels per input channel.
        use_bias: add a bias per output channel. Off by default: the layer is normally
            followed by batch normalisation, which makes a bias redundant.
        depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer:
            as in ``keras.layers.DepthwiseConv2D``.
    """

    def __init__(self, kernel_sizes=(3, 4, 5, 6, 7), strides=1, depth_multiplier: int = 1,
                 use_bias: bool = False, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.kernel_sizes = kernel_size_pairs(kernel_sizes)
        self.strides = _pair(strides, "strides")
        if not is_int(depth_multiplier) or depth_multiplier < 1:
            raise ValueError(f"depth_multiplier must be a positive int, got {depth_multiplier!r}")
        self.depth_multiplier = int(depth_multiplier)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = keras.initializers.get(depthwise_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.depthwise_regularizer = keras.regularizers.get(depthwise_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.input_spec = keras.layers.InputSpec(ndim=4)
        self.channel_splits = None

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel axis (last) of the input must be known, "
                             f"got input shape {tuple(input_shape)}")
        self.channel_splits = split_channels(int(channels), len(self.kernel_sizes))
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})
        # One kernel per group, named by group index so saved weights keep a stable order.
        self.depthwise_kernels = [
            self.add_weight(name=f"depthwise_kernel_{group}",
                            shape=(*kernel_size, group_channels, self.depth_multiplier),
                            initializer=self.depthwise_initializer,
                            regularizer=self.depthwise_regularizer)
            for group, (kernel_size, group_channels)
            in enumerate(zip(self.kernel_sizes, self.channel_splits))
        ]
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(channels * self.depth_multiplier,),
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer)

    def call(self, inputs):
        outputs, start = [], 0
        for kernel, group_channels in zip(self.depthwise_kernels, self.channel_splits):
            group = inputs[..., start:start + group_channels]
            outputs.append(ops.depthwise_conv(group, kernel, strides=self.strides,
                                              padding="same", data_format="channels_last"))
            start += group_channels
        x = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=-1)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        return x

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch,
                None if height is None else math.ceil(height / self.strides[0]),
                None if width is None else math.ceil(width / self.strides[1]),
                None if channels is None else channels * self.depth_multiplier)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            kernel_sizes=[list(size) for size in self.kernel_sizes],
            strides=list(self.strides),
            depth_multiplier=self.depth_multiplier,
            use_bias=self.use_bias,
            depthwise_initializer=keras.initializers.serialize(self.depthwise_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            depthwise_regularizer=keras.regularizers.serialize(self.depthwise_regularizer),
            bias_regularizer=keras.regularizers.serialize(self.bias_regularizer),
        )
        return config


@serializable()
class TimeSlices(keras.layers.Layer):
    """Cut a spectrogram into ``n_sequences`` consecutive, equal-length slices along time.

    (batch, bins, frames, channels) -> (batch, n_sequences, bins, frames // n_sequences, channels);
    slice ``i`` holds frames ``[i * L, (i + 1) * L)`` with ``L = frames // n_sequences``.

    When ``frames`` is not a multiple of ``n_sequences`` the last ``frames % n_sequences`` frames
    are dropped (at most n_sequences - 1 frames, a few tens of ms at usual hop sizes): raising
    would make every clip length a configuration error, padding would invent silence.
    Fewer frames than slices raises ``ValueError`` (a slice would be empty).
    """

    def __init__(self, n_sequences: int = 4, **kwargs):
        super().__init__(**kwargs)
        if not is_int(n_sequences) or n_sequences < 1:
            raise ValueError(f"n_sequences must be a positive int, got {n_sequences!r}")
        self.n_sequences = int(n_sequences)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        frames = input_shape[2]
        if frames is not None and frames < self.n_sequences:
            raise ValueError(
                f"{self.name}: cannot cut {frames} frames into {self.n_sequences} slices; "
                "use fewer n_sequences or longer clips")

    def call(self, inputs):
        shape = ops.shape(inputs)
        bins, frames, channels = shape[1], shape[2], shape[3]
        slice_length = frames // self.n_sequences
        x = inputs[:, :, :slice_length * self.n_sequences, :]
        x = ops.reshape(x, (-1, bins, self.n_sequences, slice_length, channels))
        return ops.transpose(x, (0, 2, 1, 3, 4))

    def compute_output_shape(self, input_shape):
        batch, bins, frames, channels = input_shape
        slice_length = None if frames is None else frames // self.n_sequences
        return (batch, self.n_sequences, bins, slice_length, channels)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(n_sequences=self.n_sequences)
        return config


def is_int(value) -> bool:
    """True for an integer that is not a bool (``True`` would otherwise pass as 1)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _pair(value, name: str) -> tuple[int, int]:
    """An int or an (int, int) pair, each >= 1, as a pair."""
    pair = (value, value) if is_int(value) else value
    if (isinstance(pair, str) or not hasattr(pair, "__len__") or len(pair) != 2
            or not all(is_int(v) and v >= 1 for v in pair)):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def kernel_size_pairs(kernel_sizes) -> tuple[tuple[int, int], ...]:
    """A non-empty sequence of kernel sizes (ints or pairs) as (height, width) pairs."""
    if (isinstance(kernel_sizes, str) or not hasattr(kernel_sizes, "__len__")
            or len(kernel_sizes) == 0):
        raise ValueError("kernel_sizes must be a non-empty sequence of positive ints or "
                         f"(height, width) pairs, e.g. (3, 5, 7); got {kernel_sizes!r}")
    return tuple(_pair(size, "each of kernel_sizes") for size in kernel_sizes)
