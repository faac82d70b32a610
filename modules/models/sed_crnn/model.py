"""A light CRNN for sound event detection (SED) on spectrogram images.

``sed_crnn`` returns a model with two outputs, named as the decision-level PANNs variants:

* ``framewise_output`` (batch, event_bins, n_classes): per-frame sigmoid probabilities, resampled
  from the network's frame rate to ``event_bins`` fixed time bins by ``FramesToBins``;
* ``clipwise_output`` (batch, n_classes): the frame probabilities (before binning) pooled over
  time, by max or by softmax attention.

Architecture: input batch norm over frequency bins (as ``baseline_cnn``) -> conv blocks
(conv 3x3 -> batch norm -> ReLU -> max pool 2 over frequency and ``time_pool[i]`` over time) ->
frequency x channels flattened per frame -> bidirectional GRU -> dropout -> Dense sigmoid per
frame (``frame_probabilities``).

Custom layers are registered Keras serializables (package "spectrain").
"""

from __future__ import annotations

from numbers import Integral

import keras
from keras import layers, ops

from modules.serialization import serializable

__all__ = ["FramesToBins", "TemporalAttentionPooling", "sed_crnn"]

_MODES = ("max", "mean", "linear")


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


@serializable()
class FramesToBins(layers.Layer):
    """(batch, frames, classes) -> (batch, event_bins, classes).

    * ``mode="max"`` / ``"mean"`` with ``frames >= event_bins``: adaptive pooling; bin ``i``
      covers frames ``[floor(i*F/B), ceil((i+1)*F/B))`` (bins may overlap by one frame when
      ``B`` does not divide ``F``; every frame is in some bin, so the max over bins equals the
      max over frames).
    * ``frames < event_bins``, or ``mode="linear"``: linear interpolation at the bin centres
      (half-pixel convention, as ``tf.image.resize`` bilinear without antialiasing): bin ``i``
      samples input position ``(i + 0.5) * F / B - 0.5``, clamped to ``[0, F - 1]``.
      E.g. 4 frames [0, 1, 2, 3] -> 8 bins [0, .25, .75, 1.25, 1.75, 2.25, 2.75, 3].

    ``F == B`` is the identity in every mode. The frame count may be unknown when the model is
    built; the choice between pooling and interpolation is then made at run time.
    """

    def __init__(self, event_bins: int = 10, mode: str = "max", **kwargs):
        super().__init__(**kwargs)
        if not _is_int(event_bins) or event_bins < 1:
            raise ValueError(f"event_bins must be a positive int, got {event_bins!r}")
        if mode not in _MODES:
            raise ValueError(f"FramesToBins mode must be one of {_MODES}, got {mode!r}")
        self.event_bins = int(event_bins)
        self.mode = mode

    def call(self, inputs):
        n_bins = self.event_bins
        static_frames = inputs.shape[1]
        if self.mode == "linear":
            return self._interpolate(inputs)
        if static_frames is not None:
            if static_frames >= n_bins:
                return self._pool(inputs)
            return self._interpolate(inputs)
        frames = ops.shape(inputs)[1]
        return ops.where(frames >= n_bins, self._pool(inputs), self._interpolate(inputs))

    def _pool(self, inputs):
        frames = ops.shape(inputs)[1]
        n_bins = self.event_bins
        index = ops.arange(n_bins, dtype="int32")
        frames = ops.cast(frames, "int32")
        start = (index * frames) // n_bins
        stop = ((index + 1) * frames + n_bins - 1) // n_bins
        count = stop - start  # >= 1 for every bin
        width = ops.max(count)
        offsets = ops.arange(width, dtype="int32")
        valid = offsets[None, :] < count[:, None]  # (bins, width)
        # Out-of-bin slots repeat the bin's last frame (harmless for max, masked for mean).
        gather = ops.minimum(start[:, None] + offsets[None, :], stop[:, None] - 1)
        windows = ops.take(inputs, gather, axis=1)  # (batch, bins, width, classes)
        if self.mode == "max":
            return ops.max(windows, axis=2)
        weights = ops.cast(valid, inputs.dtype)[None, :, :, None]
        total = ops.sum(windows * weights, axis=2)
        return total / ops.cast(count, inputs.dtype)[None, :, None]

    def _interpolate(self, inputs):
        frames = ops.shape(inputs)[1]
        n_bins = self.event_bins
        frames_f = ops.cast(frames, "float32")
        centres = (ops.arange(n_bins, dtype="float32") + 0.5) * frames_f / n_bins - 0.5
        position = ops.clip(centres, 0.0, frames_f - 1.0)
        low = ops.floor(position)
        weight_high = ops.cast(position - low, inputs.dtype)[None, :, None]
        low = ops.cast(low, "int32")
        high = ops.minimum(low + 1, ops.cast(frames, "int32") - 1)
        below = ops.take(inputs, low, axis=1)
        above = ops.take(inputs, high, axis=1)
        return below * (1.0 - weight_high) + above * weight_high

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.event_bins, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "event_bins": self.event_bins, "mode": self.mode}


@serializable()
class TemporalAttentionPooling(layers.Layer):
    """Inputs ``[probabilities, attention_logits]``, both (batch, frames, classes) ->
    (batch, classes): per class, ``sum_t softmax_t(attention_logits) * probabilities``.

    The result is a convex combination of the frame probabilities, so it stays in [0, 1] and
    never exceeds their max over frames.
    """

    def call(self, inputs):
        probabilities, attention_logits = inputs
        weights = ops.softmax(attention_logits, axis=1)
        return ops.sum(weights * probabilities, axis=1)

    def compute_output_shape(self, input_shape):
        shape = input_shape[0]
        return (shape[0], shape[2])


def _check_input_shape(input_shape):
    shape = tuple(input_shape)
    if (len(shape) != 3 or shape[2] != 1 or not _is_int(shape[0]) or shape[0] < 1
            or not (shape[1] is None or (_is_int(shape[1]) and shape[1] >= 1))):
        raise ValueError(
            f"sed_crnn takes single-channel spectrogram images (bins, frames, 1) with a known "
            f"bin count (frames may be None), got {shape}; use spec_parser as the job's parse "
            "function")
    return shape


def sed_crnn(input_shape, n_classes: int, event_bins: int = 10, filters=(32, 64, 64),
             time_pool=(1, 2, 2), rnn_units: int = 64, dropout: float = 0.2,
             clip_pooling: str = "max", bin_mode: str = "max",
             bn_momentum: float = 0.9) -> keras.Model:
    """Build the SED CRNN. ``input_shape`` is (bins, frames, 1); ``frames`` may be None.

    Args:
        n_classes: event classes (>= 1; independent sigmoids).
        event_bins: time bins of ``framewise_output`` (>= 1).
        filters: conv filters per block; each block halves the frequency axis.
        time_pool: time pooling per block (same length as ``filters``); the network's frame
            rate is the input's divided by ``prod(time_pool)``.
        rnn_units: GRU units per direction.
        dropout: dropout after the conv stack and after the GRU.
        clip_pooling: ``"max"`` or ``"attention"`` (softmax attention over frames, per class).
        bin_mode: ``FramesToBins`` mode of ``framewise_output`` (``"max"``, ``"mean"``,
            ``"linear"``).
        bn_momentum: batch norm momentum (0.9: see ``baseline_cnn``).

    Returns a ``keras.Model`` named ``"sed_crnn"`` with dict outputs ``framewise_output`` and
    ``clipwise_output``; the pre-binning frame probabilities are layer ``frame_probabilities``.
    """
    shape = _check_input_shape(input_shape)
    if not _is_int(n_classes) or n_classes < 1:
        raise ValueError(f"sed_crnn needs n_classes >= 1, got {n_classes!r}")
    if not _is_int(event_bins) or event_bins < 1:
        raise ValueError(f"sed_crnn needs event_bins >= 1 (time bins of framewise_output), "
                         f"got {event_bins!r}")
    filters, time_pool = tuple(filters), tuple(time_pool)
    if not filters or not all(_is_int(f) and f >= 1 for f in filters):
        raise ValueError(f"filters must be a non-empty sequence of positive ints, got {filters}")
    if len(time_pool) != len(filters) or not all(_is_int(p) and p >= 1 for p in time_pool):
        raise ValueError(f"time_pool must give one positive int per conv block "
                         f"({len(filters)}), got {time_pool}")
    if not _is_int(rnn_units) or rnn_units < 1:
        raise ValueError(f"rnn_units must be a positive int, got {rnn_units!r}")
    if clip_pooling not in ("max", "attention"):
        raise ValueError(f"clip_pooling must be 'max' or 'attention', got {clip_pooling!r}")
    if bin_mode not in _MODES:
        raise ValueError(f"bin_mode must be one of {_MODES}, got {bin_mode!r}")

    inputs = keras.Input(shape=shape, name="spectrogram")
    # Normalise each frequency bin over the batch (dB values are far from zero mean).
    x = layers.BatchNormalization(axis=1, momentum=bn_momentum, name="input_norm")(inputs)
    bins = shape[0]
    for block, (n_filters, pool) in enumerate(zip(filters, time_pool), start=1):
        x = layers.Conv2D(n_filters, 3, padding="same", use_bias=False,
                          name=f"block{block}_conv")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"block{block}_bn")(x)
        x = layers.Activation("relu", name=f"block{block}_relu")(x)
        x = layers.MaxPooling2D((2, pool), padding="same", name=f"block{block}_pool")(x)
        bins = (bins + 1) // 2
    # (batch, bins', frames', ch) -> (batch, frames', bins' * ch)
    x = layers.Permute((2, 1, 3), name="time_first")(x)
    x = layers.Reshape((-1, bins * filters[-1]), name="collapse_frequency")(x)
    x = layers.Dropout(dropout, name="conv_dropout")(x)
    x = layers.Bidirectional(layers.GRU(rnn_units, return_sequences=True, name="gru"),
                             name="bigru")(x)
    x = layers.Dropout(dropout, name="rnn_dropout")(x)
    frame_probabilities = layers.Dense(n_classes, activation="sigmoid",
                                       name="frame_probabilities")(x)
    outputs = {
        "framewise_output": FramesToBins(event_bins, mode=bin_mode,
                                         name="framewise_output")(frame_probabilities),
    }
    if clip_pooling == "max":
        outputs["clipwise_output"] = layers.GlobalMaxPooling1D(
            name="clipwise_output")(frame_probabilities)
    else:
        attention = layers.Dense(n_classes, name="attention_logits")(x)
        outputs["clipwise_output"] = TemporalAttentionPooling(
            name="clipwise_output")([frame_probabilities, attention])
    return keras.Model(inputs, outputs, name="sed_crnn")
