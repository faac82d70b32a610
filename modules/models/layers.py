"""Layers shared by the waveform models of the zoo (PANNs, HTS-AT).

``log_mel_frames`` turns a waveform into the (batch, time, mel, 1) log-mel image these models
use (time first, as in the reference code, so converted conv kernels keep their orientation);
``SpecAugmentation`` drops random time and frequency stripes while training, with torchlibrosa's
stripe semantics and an explicit seed.
"""

from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

from modules.models.presets import FrontEndPreset
from modules.serialization import serializable


def log_mel_frames(waveform, preset: FrontEndPreset, name: str = "logmel_extractor"):
    """(batch, samples) -> (batch, frames, mel_bins, 1) dB log-mel, time on axis 1."""
    image = preset.logmel_layer(name=name)(waveform)  # (batch, mel, frames, 1)
    return keras.layers.Permute((2, 1, 3), name="time_major")(image)


@serializable()
class SpecAugmentation(keras.layers.Layer):
    """Zero ``stripes`` random time stripes and frequency stripes of each example, training only.

    Input (batch, time, freq, channels). For each stripe a width is drawn uniformly from
    ``[0, drop_width)`` and a start from ``[0, size - width)``, as torchlibrosa's DropStripes does
    (PANNs: time width 64 x 2, frequency width 8 x 2). Inference passes the input through.
    """

    def __init__(self, time_drop_width: int = 64, time_stripes_num: int = 2,
                 freq_drop_width: int = 8, freq_stripes_num: int = 2, seed: Optional[int] = None,
                 **kwargs):
        super().__init__(**kwargs)
        for name, value in (("time_drop_width", time_drop_width), ("time_stripes_num", time_stripes_num),
                            ("freq_drop_width", freq_drop_width), ("freq_stripes_num", freq_stripes_num)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"SpecAugmentation: {name} must be a non-negative integer, got {value!r}")
        self.time_drop_width = time_drop_width
        self.time_stripes_num = time_stripes_num
        self.freq_drop_width = freq_drop_width
        self.freq_stripes_num = freq_stripes_num
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        keep_time = self._keep_mask(tf.shape(inputs)[0], tf.shape(inputs)[1],
                                    self.time_drop_width, self.time_stripes_num)
        keep_freq = self._keep_mask(tf.shape(inputs)[0], tf.shape(inputs)[2],
                                    self.freq_drop_width, self.freq_stripes_num)
        mask = keep_time[:, :, tf.newaxis, tf.newaxis] * keep_freq[:, tf.newaxis, :, tf.newaxis]
        return inputs * tf.cast(mask, inputs.dtype)

    def _keep_mask(self, batch, size, drop_width, stripes):
        """(batch, size) float mask: 0 inside any of the stripes, 1 elsewhere."""
        keep = tf.ones([batch, size], tf.float32)
        if drop_width <= 0 or stripes <= 0:
            return keep
        positions = tf.range(size)[tf.newaxis, :]
        for _ in range(stripes):
            width = keras.random.randint([batch, 1], 0, drop_width, seed=self.seed_generator)
            width = tf.minimum(tf.cast(width, tf.int32), size - 1)
            # start uniform in [0, size - width), as torch.randint(0, size - width)
            start = tf.cast(tf.floor(keras.random.uniform([batch, 1], seed=self.seed_generator)
                                     * tf.cast(size - width, tf.float32)), tf.int32)
            inside = (positions >= start) & (positions < start + width)
            keep = keep * (1.0 - tf.cast(inside, tf.float32))
        return keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(time_drop_width=self.time_drop_width, time_stripes_num=self.time_stripes_num,
                      freq_drop_width=self.freq_drop_width, freq_stripes_num=self.freq_stripes_num,
                      seed=self.seed)
        return config
