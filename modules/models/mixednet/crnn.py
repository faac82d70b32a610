"""A CRNN over time slices: one small CNN per slice, then bidirectional LSTMs across slices.

The spectrogram is cut into ``n_sequences`` consecutive slices (``TimeSlices``); the same CNN
(shared weights, ``keras.layers.TimeDistributed``) turns each slice into a feature vector, and two
bidirectional LSTMs read the sequence of slice vectors, so the model sees both local
time-frequency patterns and how they evolve over the clip.
"""

from __future__ import annotations

import keras
from keras import layers

from modules.models.mixednet._common import (
    check_input_shape, check_n_classes, check_positive_ints, classifier_head, regulariser_for)
from modules.models.mixednet.layers import TimeSlices, is_int

__all__ = ["time_distributed_crnn"]


def time_distributed_crnn(input_shape, n_classes: int, n_sequences: int = 4,
                          filters=(16, 32, 64), lstm_units: int = 128, multi_label: bool = False,
                          dropout: float = 0.3, bn_momentum: float = 0.9,
                          l2: float = 1e-4) -> keras.Model:
    """Build the CRNN. ``input_shape`` is (bins, frames, channels), as from spec_parser.

    Layout (layer names in brackets)::

        BN per frequency bin                                             [input_norm]
        TimeSlices: (bins, frames, ch) -> (n_sequences, bins, frames // n_sequences, ch)
                                                                         [time_slices]
        per slice, one block per ``filters`` entry, each a TimeDistributed wrapper:
            Conv2D 3x3 -> BN -> ReLU -> MaxPooling2D 2x2 ("same")
                      [slice_block{i}_conv, slice_block{i}_bn, slice_block{i}_relu,
                       slice_block{i}_pool]
        per slice global average pooling                                 [slice_global_pool]
        Bidirectional LSTM (returns sequences) -> Bidirectional LSTM     [bilstm1, bilstm2]
        dropout, logits, probabilities

    Frames beyond the last whole slice are dropped (see ``TimeSlices``). The wrapped layers
    carry the names without the ``slice_`` prefix (``block1_conv`` inside ``slice_block1_conv``).

    Note: ``TimeDistributed`` runs its layer once per slice, so each batch norm inside computes
    batch statistics per slice position and updates its moving averages ``n_sequences`` times a
    step (momentum effectively ``bn_momentum ** n_sequences`` a step).
    """
    builder = "time_distributed_crnn"
    input_shape = check_input_shape(builder, input_shape)
    n_classes = check_n_classes(builder, n_classes)
    filters = check_positive_ints(builder, "filters", filters)
    if not is_int(n_sequences) or n_sequences < 1:
        raise ValueError(f"{builder}: n_sequences must be a positive int, got {n_sequences!r}")
    if not is_int(lstm_units) or lstm_units < 1:
        raise ValueError(f"{builder}: lstm_units must be a positive int, got {lstm_units!r}")
    frames = input_shape[1]
    if frames is not None and frames < n_sequences:
        raise ValueError(f"{builder}: cannot cut {frames} frames into {n_sequences} slices; "
                         "use fewer n_sequences or longer clips")
    regulariser = regulariser_for(l2)

    def per_slice(layer):
        return layers.TimeDistributed(layer, name=f"slice_{layer.name}")

    inputs = keras.Input(shape=input_shape, name="spectrogram")
    # Normalise each frequency bin over the batch (dB values sit near -40, not 0).
    x = layers.BatchNormalization(axis=1, momentum=bn_momentum, name="input_norm")(inputs)
    x = TimeSlices(n_sequences, name="time_slices")(x)
    for block, n_filters in enumerate(filters, start=1):
        x = per_slice(layers.Conv2D(n_filters, 3, padding="same", use_bias=False,
                                    kernel_regularizer=regulariser, name=f"block{block}_conv"))(x)
        x = per_slice(layers.BatchNormalization(momentum=bn_momentum, name=f"block{block}_bn"))(x)
        x = per_slice(layers.Activation("relu", name=f"block{block}_relu"))(x)
        x = per_slice(layers.MaxPooling2D(2, padding="same", name=f"block{block}_pool"))(x)
    x = per_slice(layers.GlobalAveragePooling2D(name="global_pool"))(x)
    x = layers.Bidirectional(layers.LSTM(lstm_units, return_sequences=True), name="bilstm1")(x)
    x = layers.Bidirectional(layers.LSTM(lstm_units), name="bilstm2")(x)
    outputs = classifier_head(x, n_classes, multi_label, dropout, regulariser)
    return keras.Model(inputs, outputs, name=builder)
