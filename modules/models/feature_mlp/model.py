"""An MLP classifier on feature vectors: auDeep's evaluation MLP as a job-block model.

Learned representations (``spectrain t-rae generate``) are vectors of tanh activations whose
scale differs per dimension, so the first layer, ``standardize``, is a Keras ``Normalization``
layer that :func:`adapt_standardization` sets to the mean and variance of the job's *training*
examples before training (auDeep standardises on each training split; the validation data never
leaks into the statistics). The statistics are weights of the model, so a saved model carries
them and a replay reproduces its inputs exactly.

Layers: ``features`` (input) -> ``standardize`` -> ``num_layers`` x (``dense_i`` ReLU ->
``dropout_i``) -> ``logits`` -> ``probabilities`` (softmax). Defaults follow auDeep's tutorial
MLP: 2 layers of 150 units, dropout 0.4.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers


def feature_mlp(input_shape, n_classes: int, num_layers: int = 2, num_units: int = 150,
                dropout: float = 0.4, standardize: bool = True, l2: float = 0.0) -> keras.Model:
    """Build the MLP. ``input_shape`` is (features,): use ``feature_parser`` and a feature-set
    dataset (see :mod:`modules.data.feature_sets`)."""
    if len(input_shape) != 1:
        raise ValueError(
            f"feature_mlp takes feature vectors (features,), got {tuple(input_shape)}; use a "
            "feature-set dataset (.nc) with feature_parser as the job's parse function")
    if n_classes < 2:
        raise ValueError(f"feature_mlp needs at least 2 classes, got {n_classes}")
    if num_layers < 0 or num_units < 1 or not 0.0 <= dropout < 1.0:
        raise ValueError(f"feature_mlp needs num_layers >= 0, num_units >= 1 and dropout in "
                         f"[0, 1); got {num_layers}, {num_units}, {dropout}")
    regulariser = keras.regularizers.L2(l2) if l2 else None
    inputs = keras.Input(shape=tuple(input_shape), name="features")
    x = layers.Normalization(axis=-1, name="standardize")(inputs) if standardize else inputs
    for i in range(1, num_layers + 1):
        x = layers.Dense(num_units, activation="relu", kernel_regularizer=regulariser,
                         name=f"dense_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    logits = layers.Dense(n_classes, kernel_regularizer=regulariser, name="logits")(x)
    outputs = layers.Activation("softmax", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name="feature_mlp")


def _input_normalizations(model: keras.Model) -> list:
    """``Normalization`` layers without preset statistics that read the model's input itself
    (a layer deeper inside would need the activations before it, not the examples)."""
    found = []
    for layer in model.layers:
        if not isinstance(layer, layers.Normalization) or layer.input_mean is not None:
            continue
        if any(layer.input is tensor for tensor in model.inputs):
            found.append(layer)
        else:
            raise ValueError(f"layer {layer.name!r}: a Normalization layer to adapt must read "
                             f"the model's input; give it mean and variance instead")
    return found


def adapt_standardization(model: keras.Model, batches) -> list[str]:
    """Set every input ``Normalization`` layer of ``model`` to the mean and variance of the
    examples in ``batches`` (an iterable of input arrays, e.g. the training set without
    augmentation, or a function returning one, called only when there is a layer to set).
    Returns the names of the layers set; no layer, nothing read."""
    targets = _input_normalizations(model)
    if not targets:
        return []
    if callable(batches):
        batches = batches()
    total, count, squares = None, 0, None
    for batch in batches:  # one pass, float64 sums
        values = np.asarray(batch, np.float64).reshape(-1, np.shape(batch)[-1])
        total = values.sum(axis=0) if total is None else total + values.sum(axis=0)
        squares = (values ** 2).sum(axis=0) if squares is None else squares + (values ** 2).sum(0)
        count += len(values)
    if not count:
        raise ValueError("no training examples to compute the standardisation from")
    mean = total / count
    variance = np.maximum(squares / count - mean ** 2, 0.0)
    for layer in targets:
        layer.adapt_mean.assign(mean.astype(np.float32))
        layer.adapt_variance.assign(variance.astype(np.float32))
        layer.count.assign(count)
        layer.finalize_state()
    return [layer.name for layer in targets]
