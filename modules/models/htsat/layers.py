"""Layers of HTS-AT (hierarchical token-semantic audio transformer, Chen et al., ICASSP 2022).

Each layer mirrors one module of the PyTorch reference (``HTSAT_Swin_Transformer`` as shipped in
laion-clap and in RetroCirce/HTS-Audio-Transformer), with sub-layers named like the reference's
sub-modules (``norm1``, ``attn.qkv``, ``mlp.fc1``, ``downsample.reduction`` ...), so the checkpoint
converter is a plain name map. Tokens travel between layers as (batch, tokens, channels), the
reference's layout, with tokens in row-major order of the (rows, columns) patch grid.

Constants of the reference (relative position index, shifted-window attention mask, the
bicubic interpolation taps) are rebuilt from each layer's config rather than stored as weights.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from modules.serialization import serializable

# torch's bicubic kernel coefficient (upsample_bicubic2d uses A = -0.75, as OpenCV).
CUBIC_A = -0.75
# Value the reference puts on attention logits between tokens of different shifted sub-windows.
MASK_VALUE = -100.0


# ----------------------------------------------------------------------------------------------
# Bicubic interpolation with torch's align_corners=True semantics
# ----------------------------------------------------------------------------------------------
def _cubic_near(x, a):
    """Kernel value at distance x in [0, 1] (NumPy float32 or tensor)."""
    return ((a + 2) * x - (a + 3)) * x * x + 1


def _cubic_far(x, a):
    """Kernel value at distance x in [1, 2]."""
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


def align_corners_cubic_taps(in_size, out_size: int):
    """Source indices and weights of torch's ``interpolate(mode="bicubic", align_corners=True)``.

    Output sample ``i`` sits at source position ``x = scale * i`` with ``scale = (in_size - 1) /
    (out_size - 1)``, both rounded to float32 as torch computes them. With ``j = floor(x)`` and
    ``t = x - j``, it is the weighted sum of the samples at ``j - 1 .. j + 2`` (indices clamped
    to the signal, i.e. border replication) with the Keys cubic kernel weights
    ``W(t + 1), W(t), W(1 - t), W((1 - t) + 1)``, A = -0.75. torch's compiled kernel may
    contract multiply-adds into FMAs, so its weights can differ from these in the last bits
    (measured: up to 5e-7).

    Args:
        in_size: input length: a Python int (the taps are computed in NumPy, as constants) or a
            scalar int tensor (dynamic length; computed with TensorFlow ops).
        out_size: output length (static).

    Returns:
        ``(indices, weights)``: int32 (out_size, 4) and float32 (out_size, 4), NumPy arrays for
        an int ``in_size``, tensors otherwise.
    """
    if isinstance(in_size, (int, np.integer)):
        return _cubic_taps_numpy(int(in_size), out_size)
    in_size = tf.cast(in_size, tf.int32)
    if out_size > 1:
        # The division in float64, then rounded to float32: grappler may rewrite a float32
        # "(n / c) * range" into "n * (range / c)", which rounds differently from torch and
        # can put positions that should be whole numbers just below them.
        scale = tf.cast(tf.cast(in_size - 1, tf.float64) / float(out_size - 1), tf.float32)
    else:
        scale = tf.constant(0.0, tf.float32)
    position = scale * tf.range(out_size, dtype=tf.float32)
    floor = tf.minimum(tf.cast(tf.floor(position), tf.int32), in_size - 1)
    t = tf.clip_by_value(position - tf.cast(floor, tf.float32), 0.0, 1.0)
    mirrored = 1.0 - t
    weights = tf.stack([_cubic_far(t + 1.0, CUBIC_A), _cubic_near(t, CUBIC_A),
                        _cubic_near(mirrored, CUBIC_A), _cubic_far(mirrored + 1.0, CUBIC_A)], axis=-1)
    indices = tf.clip_by_value(floor[:, tf.newaxis] + tf.constant([-1, 0, 1, 2], tf.int32), 0, in_size - 1)
    return indices, weights


def _cubic_taps_numpy(in_size: int, out_size: int):
    """``align_corners_cubic_taps`` for a static length, in float32 NumPy arithmetic."""
    if in_size < 1:
        raise ValueError(f"bicubic resize needs at least one input sample, got {in_size}")
    scale = np.float32(in_size - 1) / np.float32(out_size - 1) if out_size > 1 else np.float32(0)
    position = scale * np.arange(out_size, dtype=np.float32)
    floor = np.minimum(np.floor(position).astype(np.int32), in_size - 1)
    t = np.clip(position - floor.astype(np.float32), np.float32(0), np.float32(1))
    a, one = np.float32(CUBIC_A), np.float32(1)
    mirrored = one - t  # torch rounds 1 - t first, then adds 1 for the last tap
    weights = np.stack([_cubic_far(t + one, a), _cubic_near(t, a), _cubic_near(mirrored, a),
                        _cubic_far(mirrored + one, a)], axis=-1).astype(np.float32)
    indices = np.clip(floor[:, None] + np.arange(-1, 3, dtype=np.int32), 0, in_size - 1)
    return indices.astype(np.int32), weights


@serializable()
class AlignCornersBicubicResize(keras.layers.Layer):
    """Stretch one axis to ``size`` samples as torch's bicubic ``align_corners=True`` does.

    HTS-AT stretches its log-mel (about 1001 frames for 10 s) to 1024 frames this way before
    folding it into a square image. ``tf.image.resize(method="bicubic")`` uses half-pixel
    centres and A = -0.5, so it gives different numbers; this layer gathers the four neighbours
    of each output sample and weights them with torch's formula (``align_corners_cubic_taps``).
    When the input already has ``size`` samples the weights are (0, 1, 0, 0): an exact identity.

    The input length may be dynamic; a longer input than ``size`` is refused, as the reference
    refuses it (``assert T <= target_T``).
    """

    def __init__(self, size: int, axis: int = 1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"AlignCornersBicubicResize: size must be a positive integer, got {size!r}")
        if axis == 0:
            raise ValueError("AlignCornersBicubicResize: axis 0 is the batch axis")
        self.size = size
        self.axis = axis

    def _axis(self, rank: int) -> int:
        axis = self.axis if self.axis >= 0 else rank + self.axis
        if not 0 < axis < rank:
            raise ValueError(f"AlignCornersBicubicResize: axis {self.axis} is out of range for rank {rank}")
        return axis

    def build(self, input_shape):
        length = input_shape[self._axis(len(input_shape))]
        if length is not None and length > self.size:
            raise ValueError(
                f"{self.name}: input has {length} samples on axis {self.axis}, more than the "
                f"{self.size} the model stretches to; use shorter clips (HTS-AT refuses longer input)")
        super().build(input_shape)

    def call(self, inputs):
        axis = self._axis(len(inputs.shape))
        length = inputs.shape[axis]
        if length is None:  # dynamic: taps computed in the graph, length checked at run time
            length = tf.shape(inputs)[axis]
            checks = [tf.debugging.assert_less_equal(
                length, self.size,
                message=f"{self.name}: input longer than the {self.size} samples the model stretches to")]
            with tf.control_dependencies(checks):
                indices, weights = align_corners_cubic_taps(length, self.size)
        elif length == self.size:
            return inputs  # the weights would be (0, 1, 0, 0): skip the work, as the reference does
        else:
            indices, weights = align_corners_cubic_taps(length, self.size)
        weights = tf.cast(weights, inputs.dtype)
        broadcast = [1] * len(inputs.shape)
        broadcast[axis] = self.size
        output = None
        for tap in range(4):
            term = tf.gather(inputs, indices[:, tap], axis=axis) * tf.reshape(weights[:, tap], broadcast)
            output = term if output is None else output + term
        return output

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self._axis(len(shape))] = self.size
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, axis=self.axis)
        return config


# ----------------------------------------------------------------------------------------------
# Spectrogram <-> square image
# ----------------------------------------------------------------------------------------------
@serializable()
class FoldSpectrogram(keras.layers.Layer):
    """(batch, time, freq, 1) -> (batch, freq_ratio * freq, time / freq_ratio, 1).

    The reference's ``reshape_wav2img``: the time axis is cut into ``freq_ratio`` consecutive
    chunks which are stacked along the frequency axis, chunk 0 at the top rows. Output row
    ``r * freq + f``, column ``j`` holds frame ``r * time / freq_ratio + j``, mel bin ``f``
    (the reference's (H, W) image, here channels last).
    """

    def __init__(self, freq_ratio: int, **kwargs):
        super().__init__(**kwargs)
        if isinstance(freq_ratio, bool) or not isinstance(freq_ratio, int) or freq_ratio < 1:
            raise ValueError(f"FoldSpectrogram: freq_ratio must be a positive integer, got {freq_ratio!r}")
        self.freq_ratio = freq_ratio

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] != 1:
            raise ValueError(f"{self.name}: expects (batch, time, freq, 1), got {tuple(input_shape)}")
        if input_shape[1] is None or input_shape[2] is None or input_shape[1] % self.freq_ratio:
            raise ValueError(f"{self.name}: time axis ({input_shape[1]}) must be static and divisible "
                             f"by freq_ratio {self.freq_ratio}")
        super().build(input_shape)

    def call(self, inputs):
        _, time, freq, _ = inputs.shape
        chunk = time // self.freq_ratio
        x = tf.reshape(inputs, [-1, self.freq_ratio, chunk, freq])
        x = tf.transpose(x, [0, 1, 3, 2])  # (batch, chunk index, freq, frame in chunk)
        return tf.reshape(x, [-1, self.freq_ratio * freq, chunk, 1])

    def compute_output_shape(self, input_shape):
        batch, time, freq, _ = input_shape
        return (batch, self.freq_ratio * freq, time // self.freq_ratio, 1)

    def get_config(self):
        config = super().get_config()
        config.update(freq_ratio=self.freq_ratio)
        return config


@serializable()
class TokenSemanticRegroup(keras.layers.Layer):
    """Final tokens (batch, rows * cols, C) -> (batch, rows / freq_ratio, freq_ratio * cols, C).

    The inverse of the fold at token resolution (the reference's "group 2D CNN" step before
    ``tscam_conv``): the ``freq_ratio`` stacked time chunks are put back side by side along time,
    so the last axis before channels runs over the whole clip in order.
    """

    def __init__(self, grid: Sequence[int], freq_ratio: int, **kwargs):
        super().__init__(**kwargs)
        self.grid = tuple(int(g) for g in grid)
        self.freq_ratio = int(freq_ratio)
        rows = self.grid[0]
        if len(self.grid) != 2 or rows % self.freq_ratio or rows < self.freq_ratio:
            raise ValueError(f"TokenSemanticRegroup: grid rows {self.grid} must be a positive multiple "
                             f"of freq_ratio {self.freq_ratio}")

    def call(self, inputs):
        rows, cols = self.grid
        channels = inputs.shape[-1]
        bins = rows // self.freq_ratio
        x = tf.reshape(inputs, [-1, self.freq_ratio, bins, cols, channels])
        x = tf.transpose(x, [0, 2, 1, 3, 4])
        return tf.reshape(x, [-1, bins, self.freq_ratio * cols, channels])

    def compute_output_shape(self, input_shape):
        rows, cols = self.grid
        return (input_shape[0], rows // self.freq_ratio, self.freq_ratio * cols, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(grid=list(self.grid), freq_ratio=self.freq_ratio)
        return config


# ----------------------------------------------------------------------------------------------
# Swin transformer pieces
# ----------------------------------------------------------------------------------------------
def window_partition(x, window_size: int):
    """(batch, H, W, C) -> (batch * nW, window_size, window_size, C), windows in row-major order."""
    _, height, width, channels = x.shape
    x = tf.reshape(x, [-1, height // window_size, window_size, width // window_size, window_size, channels])
    x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
    return tf.reshape(x, [-1, window_size, window_size, channels])


def window_reverse(windows, window_size: int, height: int, width: int):
    """Inverse of ``window_partition``: (batch * nW, ws, ws, C) -> (batch, H, W, C)."""
    channels = windows.shape[-1]
    x = tf.reshape(windows, [-1, height // window_size, width // window_size, window_size, window_size,
                             channels])
    x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
    return tf.reshape(x, [-1, height, width, channels])


def relative_position_index(window_size: int) -> np.ndarray:
    """(ws*ws, ws*ws) int64: row of the bias table for each (query, key) pair of a window.

    The table has (2 ws - 1)^2 rows, one per relative offset (dy, dx); offset (dy, dx) with both
    in [-(ws-1), ws-1] lands on row (dy + ws - 1) * (2 ws - 1) + (dx + ws - 1).
    """
    rows, cols = np.meshgrid(np.arange(window_size), np.arange(window_size), indexing="ij")
    rows, cols = rows.reshape(-1), cols.reshape(-1)
    d_row = rows[:, None] - rows[None, :] + window_size - 1
    d_col = cols[:, None] - cols[None, :] + window_size - 1
    return (d_row * (2 * window_size - 1) + d_col).astype(np.int64)


def shifted_window_mask(resolution: Tuple[int, int], window_size: int, shift_size: int) -> np.ndarray:
    """(nW, ws*ws, ws*ws) float32 additive mask for shifted-window attention.

    After the cyclic shift, windows on the bottom / right border hold tokens from up to three
    bands of the original image (sizes H - ws, ws - shift, shift along each axis); tokens may only
    attend to tokens of the same band pair: 0 there, -100 elsewhere.
    """
    height, width = resolution

    def bands(size):
        labels = np.zeros(size, np.int64)
        labels[size - window_size:size - shift_size] = 1
        labels[size - shift_size:] = 2
        return labels

    region = bands(height)[:, None] * 3 + bands(width)[None, :]  # (H, W) labels 0..8
    region = region.reshape(height // window_size, window_size, width // window_size, window_size)
    region = region.transpose(0, 2, 1, 3).reshape(-1, window_size * window_size)
    different = region[:, None, :] != region[:, :, None]
    return np.where(different, MASK_VALUE, 0.0).astype(np.float32)


@serializable()
class WindowAttention(keras.layers.Layer):
    """Multi-head self-attention inside (ws x ws) windows, with a learned relative position bias.

    Input (windows, ws*ws, dim); optional additive ``attn_mask`` (nW, ws*ws, ws*ws), where the windows
    of one example are consecutive. Weights: ``qkv`` (Dense 3 dim), ``proj`` (Dense dim) and
    ``relative_position_bias_table`` ((2 ws - 1)^2, heads).
    """

    def __init__(self, dim: int, window_size: int, num_heads: int, qkv_bias: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        if dim % num_heads:
            raise ValueError(f"WindowAttention: dim {dim} is not divisible by num_heads {num_heads}")
        self.dim = int(dim)
        self.window_size = int(window_size)
        self.num_heads = int(num_heads)
        self.qkv_bias = bool(qkv_bias)
        self.head_dim = self.dim // self.num_heads
        self.scale = self.head_dim ** -0.5
        self.relative_position_index = relative_position_index(self.window_size)
        dense = dict(kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                     bias_initializer="zeros")
        self.qkv = keras.layers.Dense(3 * self.dim, use_bias=self.qkv_bias, name="qkv", **dense)
        self.proj = keras.layers.Dense(self.dim, name="proj", **dense)

    def build(self, input_shape):
        self.relative_position_bias_table = self.add_weight(
            name="relative_position_bias_table",
            shape=((2 * self.window_size - 1) ** 2, self.num_heads),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02))
        self.qkv.build(input_shape)
        self.proj.build(tuple(input_shape[:-1]) + (self.dim,))
        super().build(input_shape)

    def call(self, inputs, attn_mask=None):
        tokens = self.window_size * self.window_size
        qkv = tf.reshape(self.qkv(inputs), [-1, tokens, 3, self.num_heads, self.head_dim])
        qkv = tf.transpose(qkv, [2, 0, 3, 1, 4])  # (3, windows, heads, tokens, head_dim)
        query, key, value = qkv[0] * tf.cast(self.scale, inputs.dtype), qkv[1], qkv[2]
        logits = tf.matmul(query, key, transpose_b=True)  # (windows, heads, tokens, tokens)

        bias = tf.gather(self.relative_position_bias_table, self.relative_position_index.reshape(-1))
        bias = tf.transpose(tf.reshape(bias, [tokens, tokens, self.num_heads]), [2, 0, 1])
        logits = logits + tf.cast(bias, logits.dtype)[tf.newaxis]
        if attn_mask is not None:
            n_windows = attn_mask.shape[0]
            logits = tf.reshape(logits, [-1, n_windows, self.num_heads, tokens, tokens])
            logits = logits + tf.cast(attn_mask, logits.dtype)[tf.newaxis, :, tf.newaxis]
            logits = tf.reshape(logits, [-1, self.num_heads, tokens, tokens])
        weights = tf.nn.softmax(logits, axis=-1)

        x = tf.matmul(weights, value)  # (windows, heads, tokens, head_dim)
        x = tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [-1, tokens, self.dim])
        return self.proj(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.dim,)

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, window_size=self.window_size, num_heads=self.num_heads,
                      qkv_bias=self.qkv_bias)
        return config


@serializable()
class Mlp(keras.layers.Layer):
    """``fc1`` -> exact (erf) GELU -> ``fc2``, as the reference's nn.GELU MLP."""

    def __init__(self, dim: int, hidden_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.hidden_dim = int(hidden_dim)
        dense = dict(kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                     bias_initializer="zeros")
        self.fc1 = keras.layers.Dense(self.hidden_dim, name="fc1", **dense)
        self.fc2 = keras.layers.Dense(self.dim, name="fc2", **dense)

    def build(self, input_shape):
        self.fc1.build(input_shape)
        self.fc2.build(tuple(input_shape[:-1]) + (self.hidden_dim,))
        super().build(input_shape)

    def call(self, inputs):
        return self.fc2(keras.activations.gelu(self.fc1(inputs), approximate=False))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.dim,)

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, hidden_dim=self.hidden_dim)
        return config


def _layer_norm(name: str, epsilon: float):
    return keras.layers.LayerNormalization(epsilon=epsilon, name=name)


@serializable()
class SwinTransformerBlock(keras.layers.Layer):
    """One Swin block on (batch, H*W, dim) tokens of an (H, W) grid.

    ``x + attn(norm1(x))`` with (shifted) window attention, then ``x + mlp(norm2(x))``; each
    residual branch is dropped per example with probability ``drop_path`` while training
    (stochastic depth). When the grid is no larger than the window (``min(H, W) <= window``) the
    window shrinks to the grid and the shift is dropped, as in the reference.
    """

    def __init__(self, dim: int, input_resolution: Sequence[int], num_heads: int, window_size: int = 8,
                 shift_size: int = 0, mlp_ratio: float = 4.0, drop_path: float = 0.0,
                 layer_norm_epsilon: float = 1e-5, seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.input_resolution = tuple(int(r) for r in input_resolution)
        self.num_heads = int(num_heads)
        self.window_size = int(window_size)
        self.shift_size = int(shift_size)
        if min(self.input_resolution) <= self.window_size:
            self.shift_size = 0
            self.window_size = min(self.input_resolution)
        if not 0 <= self.shift_size < self.window_size:
            raise ValueError(f"SwinTransformerBlock: shift_size {self.shift_size} must be in "
                             f"[0, window_size {self.window_size})")
        height, width = self.input_resolution
        if height % self.window_size or width % self.window_size:
            raise ValueError(f"SwinTransformerBlock: grid {self.input_resolution} is not divisible "
                             f"by window_size {self.window_size}")
        self.mlp_ratio = float(mlp_ratio)
        self.drop_path = float(drop_path)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if self.drop_path > 0 else None
        self.attn_mask = (shifted_window_mask(self.input_resolution, self.window_size, self.shift_size)
                          if self.shift_size > 0 else None)

        self.norm1 = _layer_norm("norm1", self.layer_norm_epsilon)
        self.attn = WindowAttention(self.dim, self.window_size, self.num_heads, name="attn")
        self.norm2 = _layer_norm("norm2", self.layer_norm_epsilon)
        self.mlp = Mlp(self.dim, int(self.dim * self.mlp_ratio), name="mlp")

    def build(self, input_shape):
        self.norm1.build(input_shape)
        self.attn.build((None, self.window_size * self.window_size, self.dim))
        self.norm2.build(input_shape)
        self.mlp.build(input_shape)
        super().build(input_shape)

    def _drop_path(self, x, training):
        if not training or self.drop_path <= 0:
            return x
        keep = 1.0 - self.drop_path
        noise = keras.random.uniform([tf.shape(x)[0], 1, 1], seed=self.seed_generator, dtype=x.dtype)
        return x / keep * tf.floor(keep + noise)

    def call(self, inputs, training=None):
        height, width = self.input_resolution
        window, shift = self.window_size, self.shift_size
        x = tf.reshape(self.norm1(inputs), [-1, height, width, self.dim])
        if shift:
            x = tf.roll(x, shift=[-shift, -shift], axis=[1, 2])
        windows = tf.reshape(window_partition(x, window), [-1, window * window, self.dim])
        windows = self.attn(windows, attn_mask=self.attn_mask)
        x = window_reverse(tf.reshape(windows, [-1, window, window, self.dim]), window, height, width)
        if shift:
            x = tf.roll(x, shift=[shift, shift], axis=[1, 2])
        x = inputs + self._drop_path(tf.reshape(x, [-1, height * width, self.dim]), training)
        return x + self._drop_path(self.mlp(self.norm2(x)), training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, input_resolution=list(self.input_resolution),
                      num_heads=self.num_heads, window_size=self.window_size,
                      shift_size=self.shift_size, mlp_ratio=self.mlp_ratio, drop_path=self.drop_path,
                      layer_norm_epsilon=self.layer_norm_epsilon, seed=self.seed)
        return config


@serializable()
class PatchMerging(keras.layers.Layer):
    """(batch, H*W, C) -> (batch, H/2 * W/2, 2C): concatenate each 2x2 neighbourhood in the
    reference's order (top-left, bottom-left, top-right, bottom-right), ``norm``, then
    ``reduction`` (a bias-free Dense 4C -> 2C)."""

    def __init__(self, input_resolution: Sequence[int], dim: int, layer_norm_epsilon: float = 1e-5,
                 **kwargs):
        super().__init__(**kwargs)
        self.input_resolution = tuple(int(r) for r in input_resolution)
        self.dim = int(dim)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        height, width = self.input_resolution
        if height % 2 or width % 2:
            raise ValueError(f"PatchMerging: grid {self.input_resolution} must have even sides")
        self.norm = _layer_norm("norm", self.layer_norm_epsilon)
        self.reduction = keras.layers.Dense(
            2 * self.dim, use_bias=False, name="reduction",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def build(self, input_shape):
        self.norm.build((None, None, 4 * self.dim))
        self.reduction.build((None, None, 4 * self.dim))
        super().build(input_shape)

    def call(self, inputs):
        height, width = self.input_resolution
        x = tf.reshape(inputs, [-1, height, width, self.dim])
        x = tf.concat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], axis=-1)
        x = tf.reshape(x, [-1, (height // 2) * (width // 2), 4 * self.dim])
        return self.reduction(self.norm(x))

    def compute_output_shape(self, input_shape):
        height, width = self.input_resolution
        return (input_shape[0], (height // 2) * (width // 2), 2 * self.dim)

    def get_config(self):
        config = super().get_config()
        config.update(input_resolution=list(self.input_resolution), dim=self.dim,
                      layer_norm_epsilon=self.layer_norm_epsilon)
        return config
