"""Recurrent sequence-to-sequence autoencoders (auDeep's t-, f- and ft-RAE) on TF2 / Keras 3.

An autoencoder learns a fixed-size representation of a spectrogram without labels: an encoder RNN
reads the spectrogram, a dense layer with tanh turns its final state into the *representation*, and
a decoder RNN started from that representation has to reconstruct the spectrogram (reversed), so
the representation must summarise the whole input. ``generate`` then turns every instance of a
feature set into its representation, a feature set with the single feature dimension
``generated`` that classifiers can use.

Three kinds, as in auDeep (``audeep/backend/models/``):

``t``   time RAE (``time_autoencoder.py``): the RNNs step over the frames; target = the input
        reversed in time.
``f``   frequency RAE (``frequency_autoencoder.py``): every frame on its own, the RNNs step over
        frequency windows of ``freq_window_width`` bins (``freq_window_overlap`` shared between
        neighbours); target = every frame reversed in frequency. One representation per frame;
        the instance representation is the frames' representations concatenated in time order
        (auDeep keeps them as a (time, units) matrix; the feature sets here have one dimension).
``ft``  frequency-time RAE (``frequency_time_autoencoder.py``): a frequency encoder turns every
        frame into its final state, a time RAE runs over that sequence of frame codes, and a
        frequency decoder started from the time decoder's outputs rebuilds each frame; target =
        the input reversed in time and frequency.

Semantics taken from auDeep (file references are to the auDeep repository, GPL; nothing copied):

* Encoder (``rnn_base.py`` ``StandardRNN``): ``num_layers`` stacked GRU/LSTM layers; a
  bidirectional encoder is two *independent* stacks, the backward one reading the reversed input
  (``bidirectional_dynamic_rnn`` over two ``MultiRNNCell``), so layer 2 backward sees only
  layer 1 backward. Every cell has dropout ``1 - keep_prob`` on its input and on its output
  (``DropoutWrapper``, a new mask every step), the state itself is not dropped.
  ``encoder_noise`` replaces whole input steps (frames, or windows in the frequency encoder)
  by zeros with that probability, no rescaling. Noise, dropout and feed-previous only act in
  training (auDeep feeds keep_prob 1 and zero noise when generating, ``training/*.py``).
* Final state: per layer, forward then backward, LSTM states as (c, h), all concatenated
  (``rnn_base.py`` ``rnn_output_and_state``); the decoder's initial state vector is split in the
  same order (``initial_states_tuple``).
* Representation (``time_autoencoder.py`` ``representation``): ``tanh(dense(final state))`` whose
  size is the *decoder's* state size; the decoder is initialised with the representation itself
  (split per layer / direction / (c, h)): this dense layer is the linear projection to the
  decoder's initial states, there is no second one.
* Decoder (``rnn_base.py`` ``FeedPreviousRNN``): stacked cells with the same dropout, then a
  per-direction output projection ``tanh(dense(...))`` back to the input size; its input at step
  t is the previous target step (teacher forcing; zeros at t = 0), or, with probability
  ``feed_previous_prob`` per step and sequence in training, its own previous projected output.
  A bidirectional decoder has a second stack, with its own projection, that reads the teacher
  sequence reversed; auDeep concatenates the two output sequences step by step *without*
  re-reversing the backward one, and so do we.
* Reconstruction: ``tanh(dense(decoder output))`` to the number of bins (auDeep adds it so uni- and
  bidirectional decoders give the same shape); the frequency kinds flatten the window outputs of
  a frame first. Loss: RMSE over the whole batch, ``sqrt(mean((target - reconstruction)^2))``.
  Adam with every gradient clipped to [-2, 2] (``optimizer`` in the model files).
* Initialisation: auDeep's dense layers (``ops.py`` ``linear`` and the decoder projections) use
  TF1's default initialiser for weights *and* biases, Glorot uniform; so do ours.
* Training batches are shuffled and always full (auDeep's ``SpectrogramQueue`` reads an endless
  ``shuffle_batch`` queue, ``ceil(n / batch_size)`` batches an epoch); here they are cut from a
  stream of permutations drawn from (seed, k), so a resumed run sees the same batches.

Deliberate differences:

* (Not a difference, but easy to miss.) Teacher-forcing lag: auDeep's docstrings say the decoder
  gets the *previous* target step, but its ``raw_rnn`` loop reads ``inputs[time - 1]`` from a
  sequence that is already shifted by one, so the TF1 code feeds the target from two steps back
  (zeros at steps 0 and 1), while feed-previous feeds the output from one step back. We do what
  the code does (``FeedPreviousDecoder(shift_inputs=True)``): the published results come from it.
* ``frequency_autoencoder.py`` feeds its decoder the encoder's windows in reversed window order
  (the bins inside a window not reversed); ``frequency_time_autoencoder.py`` feeds the windows
  of the frequency-reversed target. Both kept as they are.
* One architecture for both halves of the ft-RAE: auDeep has separate ``--num-f-layers``,
  ``--num-t-units`` ... options; here ``num_layers`` / ``num_units`` / ``cell`` / bidirectionality
  apply to the frequency and the time RNNs alike, and ``encoder_noise`` / ``feed_previous_prob``
  to both encoders / decoders.
* GRUs are Keras GRUs (``reset_after=True``, the cuDNN-compatible variant; TF1's ``GRUCell``
  applies the reset gate before the recurrent matmul), initialised like TF1's (Glorot kernels,
  gate biases 1: :class:`GruGateBias`); LSTMs are
  Keras LSTMs (forget bias initialised to 1, as TF1's ``forget_bias=1``).

Run directory written by ``train``::

    run_dir/settings.json          RaeSettings + input shape (checked by continue_training)
    run_dir/model-epochNNNN.keras  the latest checkpoint only (model + optimizer state)
    run_dir/history.csv            epoch, loss, seconds
    run_dir/logs/                  TensorBoard (keras.callbacks.TensorBoard; without the
                                   tensorboard package the same epoch_loss scalars are
                                   written with TensorFlow's core summary op)
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import json
import math
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import keras
import numpy as np
from keras import ops

from ..errors import UserError
from ..serialization import serializable
from .dataset import FeatureSet

__all__ = ["RaeSettings", "RecurrentAutoencoder", "RnnEncoder", "FeedPreviousDecoder",
           "RunDirectoryError", "train", "generate", "build_model", "load_model",
           "latest_checkpoint", "spectrogram_array", "reconstruction_targets", "rnn_state_size",
           "KINDS", "CELLS"]

KINDS = ("t", "f", "ft")
CELLS = ("GRU", "LSTM")
SETTINGS_FILE = "settings.json"
HISTORY_FILE = "history.csv"
LOG_DIR = "logs"
_CHECKPOINT = re.compile(r"^model-epoch(\d+)\.keras$")
_GRADIENT_CLIP = 2.0  # auDeep clips every gradient value to [-2, 2]
# auDeep's linear layers take TF1's default initialiser for their bias too: Glorot uniform on a
# vector of size n is uniform in +/- sqrt(3 / n) (Keras' GlorotUniform gives the same).
_TF1_BIAS = "glorot_uniform"
# Settings that may change when a run is continued: num_epochs is the total to reach.
_RESUMABLE_CHANGES = ("num_epochs",)


class RunDirectoryError(UserError, ValueError):
    """A run directory that cannot be used as asked (existing run, nothing to continue, ...)."""


# -- settings ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RaeSettings:
    """Architecture and training settings of a recurrent autoencoder (auDeep's CLI options).

    ``keep_prob`` is the probability to keep an activation (dropout ``1 - keep_prob`` on the
    inputs and outputs of every RNN cell); ``encoder_noise`` the probability to zero a whole
    encoder input step; ``feed_previous_prob`` the probability per decoder step to feed the
    decoder's own previous output instead of the previous target step. ``freq_window_*`` are
    only used by the ``f`` and ``ft`` kinds.
    """

    kind: str
    num_layers: int = 2
    num_units: int = 256
    cell: str = "GRU"
    bidirectional_encoder: bool = False
    bidirectional_decoder: bool = False
    keep_prob: float = 0.8
    encoder_noise: float = 0.0
    feed_previous_prob: float = 0.0
    freq_window_width: int = 32
    freq_window_overlap: int = 24
    learning_rate: float = 0.001
    batch_size: int = 64
    num_epochs: int = 64
    seed: int = 42

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        cell = str(self.cell).upper()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        object.__setattr__(self, "cell", cell)
        for name in ("num_layers", "num_units", "freq_window_width", "batch_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("num_epochs", "freq_window_overlap", "seed"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        if self.freq_window_overlap >= self.freq_window_width:
            raise ValueError(f"freq_window_overlap ({self.freq_window_overlap}) must be smaller "
                             f"than freq_window_width ({self.freq_window_width})")
        if not 0.0 < self.keep_prob <= 1.0:
            raise ValueError(f"keep_prob must be in (0, 1], got {self.keep_prob!r}")
        for name in ("encoder_noise", "feed_previous_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        for name in ("bidirectional_encoder", "bidirectional_decoder"):
            object.__setattr__(self, name, bool(getattr(self, name)))
        for name in ("keep_prob", "encoder_noise", "feed_previous_prob", "learning_rate"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("num_layers", "num_units", "freq_window_width", "freq_window_overlap",
                     "batch_size", "num_epochs", "seed"):
            object.__setattr__(self, name, int(getattr(self, name)))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RaeSettings":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown autoencoder setting(s): {', '.join(unknown)}")
        return cls(**values)

    def model_config(self, time_steps: int, freq_bins: int) -> dict:
        """The ``RecurrentAutoencoder`` arguments for inputs of (time_steps, freq_bins)."""
        return dict(kind=self.kind, time_steps=int(time_steps), freq_bins=int(freq_bins),
                    num_layers=self.num_layers, num_units=self.num_units, cell=self.cell,
                    bidirectional_encoder=self.bidirectional_encoder,
                    bidirectional_decoder=self.bidirectional_decoder,
                    keep_prob=self.keep_prob, encoder_noise=self.encoder_noise,
                    feed_previous_prob=self.feed_previous_prob,
                    freq_window_width=self.freq_window_width,
                    freq_window_overlap=self.freq_window_overlap, seed=self.seed)


def rnn_state_size(num_layers: int, num_units: int, cell: str, bidirectional: bool) -> int:
    """Size of the concatenated state vector of an RNN (auDeep's ``RNNArchitecture.state_size``)."""
    return (num_layers * num_units * (2 if cell.upper() == "LSTM" else 1)
            * (2 if bidirectional else 1))


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _window_count(freq_bins: int, width: int, overlap: int) -> int:
    """Number of frequency windows (auDeep's ``window_features``: trailing bins are dropped)."""
    if width > freq_bins:
        raise ValueError(f"freq_window_width ({width}) is larger than the number of frequency "
                         f"bins ({freq_bins}); use a smaller window")
    step = width - overlap
    return (freq_bins - width) // step + 1


# -- layers -----------------------------------------------------------------------------------
class _StackedRnn(keras.layers.Layer):
    """Shared parts of encoder and decoder: per direction a stack of GRU/LSTM layers.

    Sub-layers are kept in one flat list named ``fw_0``, ``fw_1``, ..., ``bw_0``, ... (stable
    weight paths in saved models). Dropout masks come from the layer's own seed generator, whose
    state is saved with the weights so a continued run draws the same masks as an uninterrupted
    one.
    """

    def __init__(self, cell: str = "GRU", num_layers: int = 2, num_units: int = 256,
                 bidirectional: bool = False, dropout: float = 0.0, seed: Optional[int] = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.cell = str(cell).upper()
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
        self.num_layers = int(num_layers)
        self.num_units = int(num_units)
        self.bidirectional = bool(bidirectional)
        self.dropout = float(dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.directions = ("fw", "bw") if self.bidirectional else ("fw",)
        rnn_class = keras.layers.GRU if self.cell == "GRU" else keras.layers.LSTM
        # TF1's GRUCell (auDeep) starts with Glorot kernels and gate biases of 1 (gates open);
        # Keras' defaults (orthogonal recurrent kernel, zero biases) learned worse features.
        options = ({"recurrent_initializer": "glorot_uniform", "bias_initializer": GruGateBias()}
                   if self.cell == "GRU" else {})
        self.rnn_layers = [rnn_class(self.num_units, return_sequences=True, return_state=True,
                                     name=f"{direction}_{layer}", **options)
                           for direction in self.directions for layer in range(self.num_layers)]

    @property
    def state_size(self) -> int:
        return rnn_state_size(self.num_layers, self.num_units, self.cell, self.bidirectional)

    def _rnn(self, direction: int, layer: int):
        return self.rnn_layers[direction * self.num_layers + layer]

    def _build_stacks(self, feature_size: int) -> None:
        for direction in range(len(self.directions)):
            size = feature_size
            for layer in range(self.num_layers):
                self._rnn(direction, layer).build((None, None, size))
                size = self.num_units

    def _dropout(self, x, training):
        if training and self.dropout > 0.0:
            return keras.random.dropout(x, self.dropout, seed=self.seed_generator)
        return x

    def _tf1_state(self, keras_states) -> list:
        """Keras states of one layer ([h] or [h, c]) -> auDeep's order ([h] or [c, h])."""
        return [keras_states[1], keras_states[0]] if self.cell == "LSTM" else [keras_states[0]]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(cell=self.cell, num_layers=self.num_layers, num_units=self.num_units,
                      bidirectional=self.bidirectional, dropout=self.dropout, seed=self.seed)
        return config

    # The seed generator's state is a variable Keras does not save with the weights.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["seed_generator_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        keys = list(store.keys())
        if "seed_generator_state" in keys:
            self.seed_generator.state.assign(np.asarray(store["seed_generator_state"]))
        super().load_own_variables({key: store[key] for key in keys
                                    if key != "seed_generator_state"})


@serializable(load_with="modules.representation.autoencoders")
class RnnEncoder(_StackedRnn):
    """auDeep's ``StandardRNN`` as an encoder: (batch, steps, features) -> final state vector.

    The output is the final states of all layers, per layer forward then backward, LSTM states
    as (c, h): shape (batch, ``state_size``). ``input_noise``: in training, every input step
    is replaced by zeros with this probability (auDeep's ``encoder_noise``).
    """

    def __init__(self, input_noise: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.input_noise = float(input_noise)

    def build(self, input_shape):
        self._build_stacks(int(input_shape[-1]))

    def call(self, inputs, training=None):
        x = inputs
        if training and self.input_noise > 0.0:
            shape = ops.shape(x)
            draws = keras.random.uniform((shape[0], shape[1], 1), seed=self.seed_generator)
            x = ops.where(draws > self.input_noise, x, ops.zeros_like(x))
        finals = []  # [direction][layer] -> states in auDeep order
        for direction in range(len(self.directions)):
            sequence = x if direction == 0 else ops.flip(x, axis=1)
            per_layer = []
            for layer in range(self.num_layers):
                sequence = self._dropout(sequence, training)
                outputs = self._rnn(direction, layer)(sequence, training=training)
                sequence = self._dropout(outputs[0], training)
                per_layer.append(self._tf1_state(outputs[1:]))
            finals.append(per_layer)
        parts = [state for layer in range(self.num_layers)
                 for direction in range(len(self.directions))
                 for state in finals[direction][layer]]
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.state_size)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(input_noise=self.input_noise)
        return config


@serializable(load_with="modules.representation.autoencoders")
class GruGateBias(keras.initializers.Initializer):
    """Bias of a Keras GRU (``reset_after``: shape (2, 3 * units), gates z, r, then h) with the
    update and reset gates' input bias at 1 and everything else 0, like TF1's ``GRUCell``."""

    def __call__(self, shape, dtype=None):
        units = shape[-1] // 3
        bias = np.zeros(shape, np.float32)
        if len(shape) == 2:
            bias[0, : 2 * units] = 1.0
        else:
            bias[: 2 * units] = 1.0
        return ops.convert_to_tensor(bias, dtype=dtype or "float32")

    def get_config(self) -> dict:
        return {}


@serializable(load_with="modules.representation.autoencoders")
class FeedPreviousDecoder(_StackedRnn):
    """auDeep's ``FeedPreviousRNN``: [teacher (batch, steps, size), initial state] -> outputs.

    ``teacher`` holds at step t the previous target step (zeros at t=0). With ``shift_inputs``
    (auDeep's ``raw_rnn`` loop, which reads ``inputs[time - 1]``) each direction shifts its
    sequence by one more step, so step t gets the target from two steps back.
    Every direction ends in its own ``tanh(dense(size))`` projection; the output has ``size``
    features, ``2 * size`` if bidirectional (forward and backward concatenated step by step, the
    backward sequence not re-reversed, as in auDeep). In training, with probability
    ``feed_previous_prob`` per step and sequence, a direction gets its own previous projected
    output instead of the teacher step (then the steps run one by one in a scan; otherwise the
    Keras RNN layers run over whole sequences).
    """

    def __init__(self, output_size: int = 1, feed_previous_prob: float = 0.0,
                 shift_inputs: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.output_size = int(output_size)
        self.feed_previous_prob = float(feed_previous_prob)
        self.shift_inputs = bool(shift_inputs)
        self.projections = [keras.layers.Dense(self.output_size, activation="tanh",
                                               bias_initializer=_TF1_BIAS,
                                               name=f"{direction}_projection")
                            for direction in self.directions]

    def build(self, input_shape):
        teacher_shape = input_shape[0]
        if int(teacher_shape[-1]) != self.output_size:
            raise ValueError(f"{self.name}: teacher inputs have {teacher_shape[-1]} features, "
                             f"expected output_size={self.output_size}")
        self._build_stacks(self.output_size)
        for projection in self.projections:
            projection.build((None, None, self.num_units))

    def _initial_states(self, initial_state) -> list:
        """Split the state vector like auDeep: layers, then directions, then LSTM (c, h)."""
        per_layer = ops.split(initial_state, self.num_layers, axis=-1)
        states = [[None] * self.num_layers for _ in self.directions]
        for layer, chunk in enumerate(per_layer):
            per_direction = (ops.split(chunk, 2, axis=-1) if self.bidirectional else [chunk])
            for direction, part in enumerate(per_direction):
                if self.cell == "LSTM":
                    c, h = ops.split(part, 2, axis=-1)
                    states[direction][layer] = [h, c]  # Keras order
                else:
                    states[direction][layer] = [part]
        return states

    def call(self, inputs, training=None):
        teacher, initial_state = inputs
        initial = self._initial_states(initial_state)
        feed_previous = bool(training) and self.feed_previous_prob > 0.0
        outputs = []
        for direction in range(len(self.directions)):
            sequence = teacher if direction == 0 else ops.flip(teacher, axis=1)
            if self.shift_inputs:
                sequence = _shift_right(sequence)
            if feed_previous:
                outputs.append(self._feed_previous(direction, sequence, initial[direction],
                                                   training))
                continue
            for layer in range(self.num_layers):
                sequence = self._dropout(sequence, training)
                result = self._rnn(direction, layer)(sequence,
                                                     initial_state=initial[direction][layer],
                                                     training=training)
                sequence = self._dropout(result[0], training)
            outputs.append(self.projections[direction](sequence))
        return outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=-1)

    def _feed_previous(self, direction, sequence, initial, training):
        """One direction, step by step: input = own previous output with feed_previous_prob."""
        steps = ops.transpose(sequence, (1, 0, 2))  # time-major
        shape = ops.shape(steps)
        n_steps, batch = shape[0], shape[1]
        feed = keras.random.uniform((n_steps, batch, 1),
                                    seed=self.seed_generator) < self.feed_previous_prob
        masks = []
        if training and self.dropout > 0.0:
            size = self.output_size
            for _ in range(self.num_layers):
                masks.append(keras.random.dropout(ops.ones((n_steps, batch, size)),
                                                  self.dropout, seed=self.seed_generator))
                masks.append(keras.random.dropout(ops.ones((n_steps, batch, self.num_units)),
                                                  self.dropout, seed=self.seed_generator))
                size = self.num_units
        cells = [self._rnn(direction, layer).cell for layer in range(self.num_layers)]
        projection = self.projections[direction]
        # Step 0's teacher input is zeros, so the zero "previous output" gives the same input.
        previous = ops.zeros_like(steps[0])

        def step(carry, xs):
            states, prev = carry
            teacher_t, feed_t = xs[0], xs[1]
            x = ops.where(feed_t, prev, teacher_t)
            new_states = []
            for layer, cell in enumerate(cells):
                if masks:
                    x = x * xs[2 + 2 * layer]
                x, state = cell(x, states[layer], training=training)
                new_states.append(list(state))
                if masks:
                    x = x * xs[3 + 2 * layer]
            carry = (new_states, projection(x))
            # The per-step output repeats the carry: Keras' TensorFlow scan wants both to have
            # the same structure (jax.lax.scan does not); only the projections are used.
            return carry, carry

        _, (_, ys) = ops.scan(step, ([list(s) for s in initial], previous),
                              [steps, feed] + masks)
        return ops.transpose(ys, (1, 0, 2))

    def compute_output_shape(self, input_shape):
        teacher_shape = input_shape[0]
        return (*teacher_shape[:2], self.output_size * len(self.directions))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(output_size=self.output_size, feed_previous_prob=self.feed_previous_prob,
                      shift_inputs=self.shift_inputs)
        return config


# -- model ------------------------------------------------------------------------------------
def _shift_right(x):
    """Teacher sequence of (batch, steps, size): one step later, zeros first, last step dropped."""
    return ops.pad(x[:, :-1], [[0, 0], [1, 0], [0, 0]])


def reconstruction_targets(x, kind: str):
    """The sequence a ``kind`` autoencoder reconstructs from (batch, time, freq) inputs ``x``.

    Works on numpy arrays and tensors: reversed in time (t), frequency (f) or both (ft).
    """
    if isinstance(x, np.ndarray):
        return {"t": x[:, ::-1], "f": x[:, :, ::-1], "ft": x[:, ::-1, ::-1]}[kind]
    if kind == "t":
        return ops.flip(x, axis=1)
    if kind == "f":
        return ops.flip(x, axis=2)
    return ops.flip(ops.flip(x, axis=1), axis=2)


@serializable(load_with="modules.representation.autoencoders")
class RecurrentAutoencoder(keras.Model):
    """A t-, f- or ft-RAE on spectrograms of (time_steps, freq_bins), values in [-1, 1].

    ``call(x)`` -> reconstruction of ``reconstruction_targets(x, kind)``, (batch, time, freq);
    ``encode(x)`` -> representation (batch, ``representation_size``), in [-1, 1] (tanh).
    The loss (``compute_loss``) is the RMSE between reconstruction and target over the batch, so
    ``fit`` / ``evaluate`` take the spectrograms alone.

    Layers (attribute = layer name): t: ``encoder``, ``representation``, ``decoder``,
    ``reconstruction``; f: the same over frequency windows; ft: ``f_encoder``, ``t_encoder``,
    ``representation``, ``t_decoder``, ``f_decoder_init``, ``f_decoder``, ``reconstruction``.
    """

    def __init__(self, kind: str, time_steps: int, freq_bins: int, num_layers: int = 2,
                 num_units: int = 256, cell: str = "GRU", bidirectional_encoder: bool = False,
                 bidirectional_decoder: bool = False, keep_prob: float = 0.8,
                 encoder_noise: float = 0.0, feed_previous_prob: float = 0.0,
                 freq_window_width: int = 32, freq_window_overlap: int = 24, seed: int = 42,
                 **kwargs):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        self.kind = kind
        self.time_steps = int(time_steps)
        self.freq_bins = int(freq_bins)
        self.num_layers = int(num_layers)
        self.num_units = int(num_units)
        self.cell = str(cell).upper()
        self.bidirectional_encoder = bool(bidirectional_encoder)
        self.bidirectional_decoder = bool(bidirectional_decoder)
        self.keep_prob = float(keep_prob)
        self.encoder_noise = float(encoder_noise)
        self.feed_previous_prob = float(feed_previous_prob)
        self.freq_window_width = int(freq_window_width)
        self.freq_window_overlap = int(freq_window_overlap)
        self.seed = int(seed)
        if self.time_steps < 1 or self.freq_bins < 1:
            raise ValueError(f"time_steps and freq_bins must be >= 1, got "
                             f"({time_steps}, {freq_bins})")

        self.encoder_state_size = rnn_state_size(self.num_layers, self.num_units, self.cell,
                                                 self.bidirectional_encoder)
        self.decoder_state_size = rnn_state_size(self.num_layers, self.num_units, self.cell,
                                                 self.bidirectional_decoder)
        if kind in ("f", "ft"):
            self._set_freq_windows()
        self._create_layers()

    def _set_freq_windows(self) -> None:
        """``window_step`` and ``n_windows`` of an f or ft model; warn if bins are left out."""
        self.window_step = self.freq_window_width - self.freq_window_overlap
        if self.window_step < 1:
            raise ValueError("freq_window_overlap must be smaller than freq_window_width")
        self.n_windows = _window_count(self.freq_bins, self.freq_window_width,
                                       self.freq_window_overlap)
        covered = self.freq_window_width + (self.n_windows - 1) * self.window_step
        if covered != self.freq_bins:  # auDeep logs the same warning
            warnings.warn(f"frequency windows of width {self.freq_window_width} and overlap "
                          f"{self.freq_window_overlap} leave out the last "
                          f"{self.freq_bins - covered} of {self.freq_bins} bins (they are "
                          "still reconstructed)", stacklevel=3)

    def _create_layers(self) -> None:
        """The layers of this kind, as attributes named like the layers (see the class doc)."""
        common = dict(cell=self.cell, num_layers=self.num_layers, num_units=self.num_units,
                      dropout=1.0 - self.keep_prob)
        enc_state, dec_state = self.encoder_state_size, self.decoder_state_size
        seeds = iter(range(self.seed * 16, self.seed * 16 + 16))  # one stream per RNN
        encoder_args = dict(common, bidirectional=self.bidirectional_encoder,
                            input_noise=self.encoder_noise)
        decoder_args = dict(common, bidirectional=self.bidirectional_decoder,
                            feed_previous_prob=self.feed_previous_prob)
        if self.kind == "t":
            self.encoder = RnnEncoder(seed=next(seeds), name="encoder", **encoder_args)
            self.representation = keras.layers.Dense(dec_state, activation="tanh",
                                                     bias_initializer=_TF1_BIAS,
                                                     name="representation")
            self.decoder = FeedPreviousDecoder(output_size=self.freq_bins, seed=next(seeds),
                                               name="decoder", **decoder_args)
        elif self.kind == "f":
            self.encoder = RnnEncoder(seed=next(seeds), name="encoder", **encoder_args)
            self.representation = keras.layers.Dense(dec_state, activation="tanh",
                                                     bias_initializer=_TF1_BIAS,
                                                     name="representation")
            self.decoder = FeedPreviousDecoder(output_size=self.freq_window_width,
                                               seed=next(seeds), name="decoder", **decoder_args)
        else:
            self.f_encoder = RnnEncoder(seed=next(seeds), name="f_encoder", **encoder_args)
            self.t_encoder = RnnEncoder(seed=next(seeds), name="t_encoder", **encoder_args)
            self.representation = keras.layers.Dense(dec_state, activation="tanh",
                                                     bias_initializer=_TF1_BIAS,
                                                     name="representation")
            self.t_decoder = FeedPreviousDecoder(output_size=enc_state, seed=next(seeds),
                                                 name="t_decoder", **decoder_args)
            self.f_decoder_init = keras.layers.Dense(dec_state, activation="tanh",
                                                     bias_initializer=_TF1_BIAS,
                                                     name="f_decoder_init")
            self.f_decoder = FeedPreviousDecoder(output_size=self.freq_window_width,
                                                 seed=next(seeds), name="f_decoder",
                                                 **decoder_args)
        self.reconstruction = keras.layers.Dense(self.freq_bins, activation="tanh",
                                                 bias_initializer=_TF1_BIAS,
                                                 name="reconstruction")

    # -- sizes ----------------------------------------------------------------------------------
    @property
    def representation_size(self) -> int:
        if self.kind == "f":
            return self.time_steps * self.decoder_state_size
        return self.decoder_state_size

    def build(self, input_shape=None):
        if self.built:
            return
        n_dirs = 2 if self.bidirectional_decoder else 1
        enc, dec = self.encoder_state_size, self.decoder_state_size
        if self.kind == "t":
            self.encoder.build((None, self.time_steps, self.freq_bins))
            self.representation.build((None, enc))
            self.decoder.build([(None, self.time_steps, self.freq_bins), (None, dec)])
            self.reconstruction.build((None, self.time_steps, self.freq_bins * n_dirs))
        elif self.kind == "f":
            self.encoder.build((None, self.n_windows, self.freq_window_width))
            self.representation.build((None, enc))
            self.decoder.build([(None, self.n_windows, self.freq_window_width), (None, dec)])
            self.reconstruction.build(
                (None, self.n_windows * self.freq_window_width * n_dirs))
        else:
            self.f_encoder.build((None, self.n_windows, self.freq_window_width))
            self.t_encoder.build((None, self.time_steps, enc))
            self.representation.build((None, enc))
            self.t_decoder.build([(None, self.time_steps, enc), (None, dec)])
            self.f_decoder_init.build((None, self.time_steps, enc * n_dirs))
            self.f_decoder.build([(None, self.n_windows, self.freq_window_width),
                                  (None, dec)])
            self.reconstruction.build(
                (None, self.n_windows * self.freq_window_width * n_dirs))
        self.built = True

    # -- pieces -----------------------------------------------------------------------------------
    def _windows(self, frames):
        """(frames, freq) -> (frames, n_windows, width), auDeep's ``window_features``."""
        starts = [i * self.window_step for i in range(self.n_windows)]
        return ops.stack([frames[:, s:s + self.freq_window_width] for s in starts], axis=1)

    def _frames(self, x):
        return ops.reshape(x, (-1, self.freq_bins))  # (batch * time, freq)

    def _encode_parts(self, x, training=None):
        """Representation plus what the decoder needs."""
        if self.kind == "t":
            return self.representation(self.encoder(x, training=training)), None
        if self.kind == "f":
            windows = self._windows(self._frames(x))
            return self.representation(self.encoder(windows, training=training)), windows
        codes = self.f_encoder(self._windows(self._frames(x)), training=training)
        codes = ops.reshape(codes, (-1, self.time_steps, self.encoder_state_size))
        return self.representation(self.t_encoder(codes, training=training)), codes

    def encode(self, x, training=None):
        """Representation of spectrograms x (batch, time, freq): (batch, representation_size)."""
        rep, _ = self._encode_parts(x, training=training)
        if self.kind == "f":  # one representation per frame, concatenated in time order
            rep = ops.reshape(rep, (-1, self.representation_size))
        return rep

    def call(self, inputs, training=None):
        x = inputs
        rep, extra = self._encode_parts(x, training=training)
        n_dirs = 2 if self.bidirectional_decoder else 1
        if self.kind == "t":
            teacher = _shift_right(reconstruction_targets(x, "t"))
            decoded = self.decoder([teacher, rep], training=training)
            return self.reconstruction(decoded)
        if self.kind == "f":
            # auDeep: the encoder's windows in reversed window order, shifted by one window.
            teacher = _shift_right(ops.flip(extra, axis=1))
            decoded = self.decoder([teacher, rep], training=training)
            flat = ops.reshape(decoded, (-1, self.n_windows * self.freq_window_width * n_dirs))
            return ops.reshape(self.reconstruction(flat), (-1, self.time_steps, self.freq_bins))
        # ft: the time decoder rebuilds the frame codes reversed in time ...
        teacher = _shift_right(ops.flip(extra, axis=1))
        decoded = self.t_decoder([teacher, rep], training=training)
        init = ops.reshape(self.f_decoder_init(decoded), (-1, self.decoder_state_size))
        # ... and the frequency decoder each target frame from its windows, shifted by one.
        targets = reconstruction_targets(x, "ft")
        f_teacher = _shift_right(self._windows(self._frames(targets)))
        frames = self.f_decoder([f_teacher, init], training=training)
        flat = ops.reshape(frames, (-1, self.n_windows * self.freq_window_width * n_dirs))
        return ops.reshape(self.reconstruction(flat), (-1, self.time_steps, self.freq_bins))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """RMSE of the reconstruction over the whole batch (auDeep's loss); ``y`` is ignored."""
        target = reconstruction_targets(x, self.kind)
        return ops.sqrt(ops.mean(ops.square(target - y_pred)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return dict(name=self.name, kind=self.kind, time_steps=self.time_steps,
                    freq_bins=self.freq_bins, num_layers=self.num_layers,
                    num_units=self.num_units, cell=self.cell,
                    bidirectional_encoder=self.bidirectional_encoder,
                    bidirectional_decoder=self.bidirectional_decoder, keep_prob=self.keep_prob,
                    encoder_noise=self.encoder_noise, feed_previous_prob=self.feed_previous_prob,
                    freq_window_width=self.freq_window_width,
                    freq_window_overlap=self.freq_window_overlap, seed=self.seed)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def representations(self, x: np.ndarray, batch_size: int = 64,
                        verbose: int = 0) -> np.ndarray:
        """``encode`` over a whole array in batches (inference mode): (n, representation_size)."""
        # A functional view of encode (not stored on the model: it would be tracked and saved).
        inputs = keras.Input((self.time_steps, self.freq_bins), name="spectrogram")
        encoder = keras.Model(inputs, self.encode(inputs), name=f"{self.name}_encoder")
        return np.asarray(encoder.predict(np.asarray(x, dtype=np.float32),
                                          batch_size=batch_size, verbose=verbose))


def build_model(settings: RaeSettings, time_steps: int, freq_bins: int) -> RecurrentAutoencoder:
    """A new, built and compiled autoencoder (Adam, gradients clipped to [-2, 2])."""
    model = RecurrentAutoencoder(name=f"{settings.kind}_rae",
                                 **settings.model_config(time_steps, freq_bins))
    model.build((None, time_steps, freq_bins))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate,
                                                  clipvalue=_GRADIENT_CLIP),
                  jit_compile=False)
    return model


def load_model(path) -> RecurrentAutoencoder:
    """Load a ``.keras`` checkpoint (with its optimizer state)."""
    return keras.saving.load_model(Path(path))


# -- data -------------------------------------------------------------------------------------
def spectrogram_array(features: FeatureSet) -> np.ndarray:
    """(n, time, freq) float32 array of a spectrogram feature set (any storage order)."""
    dims = list(features.feature_dims)
    if sorted(dims) != ["freq", "time"]:
        raise ValueError(f"autoencoders need spectrograms with feature dims ('time', 'freq'), "
                         f"got {tuple(dims)}")
    x = features.features
    if dims == ["freq", "time"]:
        x = np.transpose(x, (0, 2, 1))
    if len(x) == 0:
        raise ValueError("the feature set has no instances")
    if np.abs(x).max() > 1.0 + 1e-5:
        warnings.warn("spectrogram values outside [-1, 1]: the tanh reconstruction cannot reach "
                      "them (auDeep normalises spectrograms to [-1, 1])", stacklevel=3)
    return np.ascontiguousarray(x, dtype=np.float32)


class _EpochBatches(keras.utils.PyDataset):
    """``ceil(n / batch_size)`` batches an epoch, every one full, cut from an endless stream of
    permutations of the instances, permutation ``k`` drawn from (seed, k): reproducible, also
    when a run is continued at a later epoch. auDeep reads an endless shuffled queue the same
    way (``SpectrogramQueue``: ``num_epochs=None``, so no batch is ever short); a batch that
    spans two permutations may hold an instance twice, as there."""

    def __init__(self, x: np.ndarray, batch_size: int, seed: int, epoch: int):
        super().__init__()
        self.x, self.batch_size, self.seed = x, batch_size, seed
        self.epoch = epoch
        self._permutations: dict = {}

    def _permutation(self, k: int) -> np.ndarray:
        permutation = self._permutations.get(k)
        if permutation is None:
            permutation = np.random.default_rng([self.seed, k]).permutation(len(self.x))
            if len(self._permutations) > 4:  # only the current one or two are ever needed
                self._permutations = {}
            self._permutations[k] = permutation
        return permutation

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        n = len(self.x)
        start = (self.epoch * len(self) + index) * self.batch_size
        positions = np.arange(start, start + min(self.batch_size, n))
        rows = np.array([self._permutation(int(p // n))[p % n] for p in positions])
        return self.x[rows]

    def on_epoch_end(self):
        self.epoch += 1


# -- run directory ----------------------------------------------------------------------------
def latest_checkpoint(run_dir) -> Optional[Path]:
    """The ``model-epochNNNN.keras`` file with the highest epoch in ``run_dir``, or None."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return None
    found = [(int(m.group(1)), path) for path in run_dir.iterdir()
             if (m := _CHECKPOINT.match(path.name))]
    return max(found)[1] if found else None


def _checkpoint_epoch(path: Path) -> int:
    return int(_CHECKPOINT.match(path.name).group(1))


def _read_run_settings(run_dir: Path) -> tuple[RaeSettings, list]:
    path = run_dir / SETTINGS_FILE
    if not path.is_file():
        raise RunDirectoryError(f"{run_dir}: no {SETTINGS_FILE}; not an autoencoder run "
                                "directory")
    saved = json.loads(path.read_text())
    return RaeSettings.from_dict(saved["settings"]), list(saved["input_shape"])


def _write_run_settings(run_dir: Path, settings: RaeSettings, input_shape) -> None:
    partial = run_dir / (SETTINGS_FILE + ".partial")
    partial.write_text(json.dumps({"settings": settings.to_dict(),
                                   "input_shape": [int(v) for v in input_shape]}, indent=2)
                       + "\n")
    partial.replace(run_dir / SETTINGS_FILE)


class _RunRecorder(keras.callbacks.Callback):
    """After every epoch: save the checkpoint (atomically), delete older ones, add a CSV row."""

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = run_dir
        self.started = None

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        number = epoch + 1
        seconds = time.perf_counter() - self.started
        target = self.run_dir / f"model-epoch{number:04d}.keras"
        partial = self.run_dir / f".partial-model-epoch{number:04d}.keras"
        self.model.save(partial)
        os.replace(partial, target)
        for path in self.run_dir.iterdir():
            if _CHECKPOINT.match(path.name) and path != target:
                path.unlink()
        history = self.run_dir / HISTORY_FILE
        new = not history.exists()
        with history.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["epoch", "loss", "seconds"])
            writer.writerow([number, f"{float(logs['loss']):.6f}", f"{seconds:.3f}"])


class _ScalarEvents(keras.callbacks.Callback):
    """Per-epoch ``epoch_<metric>`` scalars in ``log_dir/train``, the layout and tags of
    ``keras.callbacks.TensorBoard``, written with TensorFlow's core summary op: used when the
    ``tensorboard`` package (which implements ``tf.summary.scalar``) is not installed."""

    def __init__(self, log_dir: Path):
        super().__init__()
        self.log_dir = log_dir
        self.writer = None

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(str(self.log_dir / "train"))

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        metadata = summary_pb2.SummaryMetadata()
        metadata.plugin_data.plugin_name = "scalars"  # what TensorBoard's scalar plugin reads
        with self.writer.as_default():
            for name, value in (logs or {}).items():
                tf.summary.write(f"epoch_{name}", tf.constant(float(value), tf.float32),
                                 step=epoch, metadata=metadata)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()


def _tensorboard_callback(log_dir: Path) -> keras.callbacks.Callback:
    # keras.callbacks.TensorBoard needs the tensorboard package for its scalars; tensorflow-cpu
    # 2.21 does not install it.
    if importlib.util.find_spec("tensorboard") is None:
        return _ScalarEvents(log_dir)
    return keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False)


def _truncate_history(run_dir: Path, last_epoch: int) -> None:
    """Drop CSV rows after the checkpoint a continued run starts from."""
    history = run_dir / HISTORY_FILE
    if not history.exists():
        return
    with history.open(newline="") as handle:
        rows = list(csv.reader(handle))
    kept = rows[:1] + [row for row in rows[1:] if row and int(row[0]) <= last_epoch]
    if len(kept) != len(rows):
        with history.open("w", newline="") as handle:
            csv.writer(handle).writerows(kept)


def _settings_differences(saved: RaeSettings, given: RaeSettings) -> list[str]:
    return [f"{name}: saved {getattr(saved, name)!r}, given {getattr(given, name)!r}"
            for name in saved.to_dict()
            if name not in _RESUMABLE_CHANGES and getattr(saved, name) != getattr(given, name)]


# -- public entry points ------------------------------------------------------------------------
def train(features: FeatureSet, settings: RaeSettings, run_dir, continue_training: bool = False,
          progress: bool = True) -> RecurrentAutoencoder:
    """Train an autoencoder on the spectrograms of ``features``; returns the trained model.

    Writes ``run_dir`` (see the module docstring): a checkpoint after every epoch (only the
    latest is kept), ``history.csv`` and TensorBoard logs. A fresh run is deterministic given
    ``settings.seed`` (weights, batch order, dropout/noise draws).

    ``continue_training=False`` refuses a ``run_dir`` that already holds a checkpoint (a run is
    never overwritten). ``continue_training=True`` resumes from the latest checkpoint at the next
    epoch and trains until ``settings.num_epochs`` in total; every other setting, and the input
    shape, must equal the saved ones. Raises ``RunDirectoryError`` otherwise.
    """
    if not isinstance(settings, RaeSettings):
        raise TypeError(f"settings must be a RaeSettings, got {type(settings).__name__}")
    x = spectrogram_array(features)
    run_dir = Path(run_dir)
    latest = latest_checkpoint(run_dir)
    if continue_training:
        if latest is None:
            raise RunDirectoryError(f"{run_dir}: nothing to continue: no checkpoint "
                                    "(model-epochNNNN.keras); train without continue_training "
                                    "(--continue) to start a run")
        saved, input_shape = _read_run_settings(run_dir)
        differences = _settings_differences(saved, settings)
        if differences:
            raise RunDirectoryError(
                f"{run_dir}: cannot continue with different settings ("
                + "; ".join(differences) + "); only num_epochs may change. Use the saved "
                "settings or start a new run directory")
        if list(x.shape[1:]) != input_shape:
            raise RunDirectoryError(f"{run_dir}: the run was trained on spectrograms of "
                                    f"(time, freq) = {tuple(input_shape)}, these are "
                                    f"{tuple(x.shape[1:])}")
        initial_epoch = _checkpoint_epoch(latest)
        keras.utils.set_random_seed(settings.seed + initial_epoch)
        model = load_model(latest)
        _truncate_history(run_dir, initial_epoch)
    else:
        if latest is not None:
            raise RunDirectoryError(
                f"{run_dir} already holds a training run (checkpoint {latest.name}); continue "
                "it with continue_training=True (--continue) or choose a new run directory")
        keras.utils.set_random_seed(settings.seed)
        model = build_model(settings, *x.shape[1:])
        initial_epoch = 0
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / HISTORY_FILE).unlink(missing_ok=True)  # left by a run that saved no epoch
    _write_run_settings(run_dir, settings, x.shape[1:])
    if initial_epoch >= settings.num_epochs:
        if progress:
            print(f"{run_dir}: already trained {initial_epoch} epoch(s) "
                  f"(num_epochs={settings.num_epochs}); nothing to do")
        return model
    callbacks = [_tensorboard_callback(run_dir / LOG_DIR), _RunRecorder(run_dir)]
    model.fit(_EpochBatches(x, settings.batch_size, settings.seed, initial_epoch),
              epochs=settings.num_epochs, initial_epoch=initial_epoch, shuffle=False,
              callbacks=callbacks, verbose=_verbosity(progress))
    return model


def _verbosity(progress: bool) -> int:
    """Keras' progress bar on a terminal; one line per epoch in logs and pipes."""
    import os
    import sys

    if not progress:
        return 0
    return 1 if sys.stdout.isatty() or os.environ.get("SPECTRAIN_INTERACTIVE") == "1" else 2


def generate(model_dir, features: FeatureSet, batch_size: int = 64) -> FeatureSet:
    """The representation of every instance of ``features`` by the latest model in ``model_dir``.

    Returns a feature set with feature dims ("generated",) of shape (n, representation_size),
    the same filename / chunk_nr / labels / cv_folds / partition / label_map, and the input's
    metadata plus ``autoencoder`` (model dir, checkpoint, epoch, settings).
    """
    model_dir = Path(model_dir)
    latest = latest_checkpoint(model_dir)
    if latest is None:
        raise RunDirectoryError(f"{model_dir}: no trained model (model-epochNNNN.keras)")
    settings, input_shape = _read_run_settings(model_dir)
    x = spectrogram_array(features)
    if list(x.shape[1:]) != input_shape:
        raise ValueError(f"{model_dir}: the model takes spectrograms of (time, freq) = "
                         f"{tuple(input_shape)}, these are {tuple(x.shape[1:])}")
    model = load_model(latest)
    representation = model.representations(x, batch_size=batch_size)
    metadata = dict(features.metadata)
    metadata["autoencoder"] = {"model_dir": str(model_dir.resolve()), "checkpoint": latest.name,
                               "epoch": _checkpoint_epoch(latest),
                               "settings": settings.to_dict(),
                               "input_shape": list(input_shape)}
    return FeatureSet(filename=features.filename.copy(), chunk_nr=features.chunk_nr.copy(),
                      label_nominal=features.label_nominal.copy(),
                      label_numeric=features.label_numeric.copy(),
                      cv_folds=features.cv_folds.copy(), partition=features.partition.copy(),
                      features=representation.astype(np.float32), feature_dims=["generated"],
                      label_map=None if features.label_map is None else dict(features.label_map),
                      metadata=metadata)
