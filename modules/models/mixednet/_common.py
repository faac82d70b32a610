"""Argument checks and the classifier head shared by the builders of this package."""

from __future__ import annotations

import keras
from keras import layers

from modules.models.mixednet.layers import is_int


def check_input_shape(builder: str, input_shape) -> tuple:
    """(bins, frames, channels) with known bins and channels; frames may be None."""
    shape = tuple(input_shape) if hasattr(input_shape, "__len__") else (input_shape,)
    if len(shape) != 3:
        raise ValueError(
            f"{builder} takes spectrogram images (bins, frames, channels), got {shape}; "
            "use spec_parser as the job's parse function")
    bins, frames, channels = shape
    if not (is_int(bins) and bins >= 1 and is_int(channels) and channels >= 1
            and (frames is None or (is_int(frames) and frames >= 1))):
        raise ValueError(
            f"{builder}: spectrogram image dimensions must be positive ints (frames may be None), "
            f"got {shape}")
    return shape


def check_n_classes(builder: str, n_classes) -> int:
    if not is_int(n_classes) or n_classes < 1:
        raise ValueError(f"{builder} needs at least 1 class (n_classes >= 1), got {n_classes!r}")
    return int(n_classes)


def check_positive_ints(builder: str, name: str, values) -> tuple[int, ...]:
    if (isinstance(values, str) or not hasattr(values, "__len__") or len(values) == 0
            or not all(is_int(v) and v >= 1 for v in values)):
        raise ValueError(f"{builder}: {name} must be a non-empty sequence of positive ints, "
                         f"got {values!r}")
    return tuple(int(v) for v in values)


def classifier_head(x, n_classes: int, multi_label: bool, dropout: float, regulariser):
    """Dropout -> Dense ``logits`` -> ``probabilities`` (sigmoid for multi-label or one class).

    The logits are their own layer so Grad-CAM and calibration can use pre-activation scores.
    """
    x = layers.Dropout(dropout, name="dropout")(x)
    logits = layers.Dense(n_classes, kernel_regularizer=regulariser, name="logits")(x)
    activation = "sigmoid" if multi_label or n_classes == 1 else "softmax"
    return layers.Activation(activation, name="probabilities")(logits)


def regulariser_for(l2):
    return keras.regularizers.L2(l2) if l2 else None
