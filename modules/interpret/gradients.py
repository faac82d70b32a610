"""Gradient attributions over spectrogram models, and the deletion metric that compares them.

* ``saliency``: the gradient of a class score w.r.t. the input (Simonyan et al., 2014).
* ``smoothgrad``: the saliency averaged over noisy copies of the input (Smilkov et al., 2017).
* ``integrated_gradients``: the path integral of the gradient from a baseline to the input
  (Sundararajan et al., 2017), with its completeness gap.
* ``attribution_map``: (batch, bins, frames) maps in [0, 1] from any of them, for plots and
  for ranking cells, like ``grad_cam``'s maps.
* ``deletion_curve``: the deletion metric (Petsiuk et al., 2018): how fast the class
  probability falls as the cells a map ranks highest are removed; ``random_maps`` gives the
  random-order baseline.

Gradients are taken of the pre-activation class score (``gradcam.score_output``): softmax and
sigmoid saturate, and their gradients then vanish for confident predictions. The deletion
metric reads the model's own output, the probability, as in RISE.

Every model call is batched (``batch_size`` rows at a time) so that memory stays bounded however
many noisy copies, path steps or deletion steps are asked for. The examples of a batch must not
interact in inference mode (true of the project's models: BatchNorm uses its moving statistics).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

import keras
import numpy as np
import tensorflow as tf

from modules.interpret.gradcam import score_model


# --- argument checks ------------------------------------------------------------------------

def _as_batch(inputs, name: str = "inputs", min_ndim: int = 2) -> np.ndarray:
    """``inputs`` as a float32 array with a batch axis first."""
    array = np.asarray(inputs, dtype=np.float32)
    if array.ndim < min_ndim:
        raise ValueError(f"{name} must be a batch of at least {min_ndim} dimensions "
                         f"(batch, ...), got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _single_input(model: keras.Model) -> None:
    if len(model.inputs) != 1:
        raise ValueError(f"model {model.name!r} has {len(model.inputs)} inputs; attributions "
                         "need a model with a single input")


def _broadcast(value, shape: tuple, name: str) -> np.ndarray:
    """``value`` broadcast to the batch ``shape``: a scalar, one example, or the whole batch."""
    array = np.asarray(value, dtype=np.float32)
    try:
        array = np.broadcast_to(array, shape)
    except ValueError:
        raise ValueError(f"{name} of shape {array.shape} does not broadcast to one example "
                         f"{shape[1:]} or to the batch {shape}") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _resolve_classes(class_index, scores: np.ndarray) -> np.ndarray:
    """One class per example: the argmax of ``scores`` (None), an int for all, or one each."""
    batch, n_classes = scores.shape
    if class_index is None:
        return np.argmax(scores, axis=-1).astype(np.int64)
    if isinstance(class_index, Integral) and not isinstance(class_index, bool):
        classes = np.full(batch, int(class_index), np.int64)
    else:
        if isinstance(class_index, (str, bytes)) or not isinstance(
                class_index, (Sequence, np.ndarray, tf.Tensor)):
            raise ValueError("class_index must be None, an int, or a sequence of one int per "
                             f"example, got {class_index!r}")
        classes = np.asarray(class_index)
        if classes.ndim != 1 or len(classes) != batch:
            raise ValueError(f"class_index has shape {classes.shape}: give one class per "
                             f"example, {batch} in this batch")
        if classes.dtype.kind not in "iu":
            raise ValueError(f"class_index must hold integers, got dtype {classes.dtype}")
        classes = classes.astype(np.int64)
    bad = classes[(classes < 0) | (classes >= n_classes)]
    if bad.size:
        raise ValueError(f"class_index {bad.tolist()} out of range: the model scores "
                         f"{n_classes} classes (0 to {n_classes - 1})")
    return classes


# --- model calls ----------------------------------------------------------------------------

def _predict(model: keras.Model, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """``model(inputs)`` in batches, as a float32 (batch, n_classes) array."""
    outputs = [np.asarray(tf.cast(model(tf.constant(inputs[start:start + batch_size]),
                                        training=False), tf.float32))
               for start in range(0, len(inputs), batch_size)]
    outputs = np.concatenate(outputs)
    if outputs.ndim != 2:
        raise ValueError(f"model {model.name!r} gives outputs of shape {outputs.shape[1:]} per "
                         "example; attributions need one score per class, (batch, n_classes)")
    return outputs


def _probability_model(model: keras.Model) -> keras.Model:
    """The model itself, or for a dict of outputs (the PANNs and HTS-AT ports) a model that
    gives only its "clipwise_output" probabilities."""
    _single_input(model)
    output = model.output
    if isinstance(output, dict):
        if "clipwise_output" not in output:
            raise ValueError(f"model {model.name!r} has several outputs ({sorted(output)}) and "
                             "no clipwise_output: cannot tell which gives class probabilities")
        return keras.Model(model.inputs, output["clipwise_output"],
                           name=f"{model.name}_probabilities")
    return model


def _scorer(model: keras.Model) -> keras.Model:
    _single_input(model)
    scorer = score_model(model)
    if len(scorer.output.shape) != 2:
        raise ValueError(f"model {model.name!r} scores classes with shape "
                         f"{tuple(scorer.output.shape)}; attributions need (batch, n_classes)")
    return scorer


def _gradient_chunk(scorer: keras.Model, inputs: np.ndarray, classes: np.ndarray):
    """Gradients of each row's chosen score w.r.t. that row, and the scores themselves."""
    inputs = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        scores = tf.cast(scorer(inputs, training=False), tf.float32)
        chosen = tf.gather(scores, tf.constant(classes), axis=1, batch_dims=1)
    # The rows do not interact, so the gradient of the sum is each row's own gradient.
    gradients = tape.gradient(chosen, inputs)
    if gradients is None:
        raise ValueError(f"the class scores of model {scorer.name!r} do not depend "
                         "differentiably on its input")
    return gradients.numpy(), chosen.numpy()


def _gradients(scorer: keras.Model, inputs: np.ndarray, classes: np.ndarray,
               batch_size: int) -> np.ndarray:
    return np.concatenate([_gradient_chunk(scorer, inputs[start:start + batch_size],
                                           classes[start:start + batch_size])[0]
                           for start in range(0, len(inputs), batch_size)])


def _accumulate(totals: np.ndarray, examples: np.ndarray, values: np.ndarray) -> None:
    """totals[e] += the rows of values that belong to example e. A chunk spans a few examples,
    so a loop over them beats np.add.at, which is unbuffered and slow on large arrays."""
    for example in np.unique(examples):
        totals[example] += values[examples == example].sum(axis=0)


# --- attributions ---------------------------------------------------------------------------

def saliency(model: keras.Model, inputs, class_index=None, batch_size: int = 32) -> np.ndarray:
    """Vanilla saliency (Simonyan et al., 2014): d score / d input, same shape as ``inputs``.

    ``class_index``: None for each example's predicted class (argmax of the scores), an int
    for the same class everywhere, or a sequence of one int per example. The score is the
    pre-activation one (``gradcam.score_output``). Signed: take ``attribution_map`` of it for
    a map to plot or rank.
    """
    batch_size = _positive_int(batch_size, "batch_size")
    scorer = _scorer(model)
    inputs = _as_batch(inputs)
    classes = _resolve_classes(class_index, _predict(scorer, inputs, batch_size))
    return _gradients(scorer, inputs, classes, batch_size)


def smoothgrad(model: keras.Model, inputs, class_index=None, n_samples: int = 25,
               noise_level: float = 0.15, seed: int = 0, batch_size: int = 32) -> np.ndarray:
    """SmoothGrad (Smilkov et al., 2017): the saliency averaged over ``n_samples`` noisy copies.

    The noise is Gaussian with std ``noise_level * (max - min)`` of each example, so it is as
    strong for a dB spectrogram as for a [0, 1] one. The class is chosen on the clean input, so
    every copy explains the same decision. Deterministic for a given ``seed`` (a private numpy
    Generator: the global RNGs are neither used nor advanced) and independent of ``batch_size``
    up to float rounding.
    """
    n_samples = _positive_int(n_samples, "n_samples")
    batch_size = _positive_int(batch_size, "batch_size")
    if isinstance(noise_level, bool) or not isinstance(noise_level, Real) \
            or not np.isfinite(noise_level) or noise_level < 0:
        raise ValueError(f"noise_level must be a finite number >= 0, got {noise_level!r}")
    scorer = _scorer(model)
    inputs = _as_batch(inputs)
    classes = _resolve_classes(class_index, _predict(scorer, inputs, batch_size))
    batch = len(inputs)
    axes = tuple(range(1, inputs.ndim))
    sigma = noise_level * (inputs.max(axis=axes) - inputs.min(axis=axes)).astype(np.float64)
    rng = np.random.default_rng(seed)
    totals = np.zeros(inputs.shape, np.float64)
    # Rows are (example, sample) pairs, example-major; noise is drawn chunk by chunk in that
    # order, so the draws do not depend on batch_size and memory holds one chunk of copies.
    rows = batch * n_samples
    for start in range(0, rows, batch_size):
        examples = np.arange(start, min(start + batch_size, rows)) // n_samples
        noise = rng.standard_normal((len(examples),) + inputs.shape[1:])
        noise *= sigma[examples].reshape((-1,) + (1,) * len(axes))
        noisy = (inputs[examples] + noise).astype(np.float32)
        gradients, _ = _gradient_chunk(scorer, noisy, classes[examples])
        _accumulate(totals, examples, gradients)
    return (totals / n_samples).astype(np.float32)


def integrated_gradients(model: keras.Model, inputs, class_index=None, baseline=None,
                         steps: int = 64, batch_size: int = 32):
    """Integrated Gradients (Sundararajan et al., 2017) from ``baseline`` to ``inputs``.

    ``baseline``: None for zeros, or an array that broadcasts to one example or to the batch,
    e.g. the model input computed from a silent waveform, or a reference clip. Zeros are rarely
    "no signal" for a dB spectrogram: pass the silence input there.

    The path integral is a trapezoidal Riemann sum over ``steps`` intervals (``steps + 1``
    gradient evaluations, both ends included, so the scores at the baseline and at the input
    come with the same model calls).

    Returns ``(attributions, delta)``: attributions of the shape of ``inputs``, and ``delta``
    (batch,) = sum(attributions) - (score(input) - score(baseline)) per example, the
    completeness gap. It shrinks with more steps on smooth models; a large one means too few
    steps (ReLU kinks, saturation) or an attribution that does not add up.
    """
    steps = _positive_int(steps, "steps")
    batch_size = _positive_int(batch_size, "batch_size")
    scorer = _scorer(model)
    inputs = _as_batch(inputs)
    baseline = np.zeros_like(inputs) if baseline is None else _broadcast(
        baseline, inputs.shape, "baseline")
    classes = _resolve_classes(class_index, _predict(scorer, inputs, batch_size))
    batch = len(inputs)
    alphas = np.linspace(0.0, 1.0, steps + 1)
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] /= 2  # the trapezoid rule's half-weight ends
    difference = inputs.astype(np.float64) - baseline
    axes = tuple(range(1, inputs.ndim))
    path_sums = np.zeros(inputs.shape, np.float64)
    end_scores = np.zeros((batch, 2), np.float64)  # score at alpha 0 and at alpha 1
    rows = batch * (steps + 1)
    for start in range(0, rows, batch_size):
        row = np.arange(start, min(start + batch_size, rows))
        examples, step = row // (steps + 1), row % (steps + 1)
        points = baseline[examples] + alphas[step].reshape((-1,) + (1,) * len(axes)) \
            * difference[examples]
        gradients, scores = _gradient_chunk(scorer, points.astype(np.float32), classes[examples])
        _accumulate(path_sums, examples,
                    weights[step].reshape((-1,) + (1,) * len(axes)) * gradients)
        for end, alpha_step in enumerate((0, steps)):
            at_end = step == alpha_step
            end_scores[examples[at_end], end] = scores[at_end]
    attributions = difference * path_sums
    delta = attributions.sum(axis=axes) - (end_scores[:, 1] - end_scores[:, 0])
    return attributions.astype(np.float32), delta.astype(np.float32)


def attribution_map(attributions) -> np.ndarray:
    """(batch, bins, frames) maps in [0, 1]: |attributions| summed over channels, per example
    divided by its peak.

    Dividing by the peak (not min-max scaling) keeps a cell with no attribution at 0; an
    all-zero example stays all zero. The maps rank cells for ``deletion_curve`` and plot like
    ``grad_cam``'s.
    """
    attributions = np.asarray(attributions, dtype=np.float32)
    if attributions.ndim != 4:
        raise ValueError("attribution_map takes attributions of spectrogram images, "
                         f"(batch, bins, frames, channels), got shape {attributions.shape}")
    if not np.all(np.isfinite(attributions)):
        raise ValueError("attributions contain NaN or infinite values")
    maps = np.abs(attributions).sum(axis=-1)
    peak = maps.max(axis=(1, 2), keepdims=True)
    return np.where(peak > 0, maps / np.where(peak > 0, peak, 1.0), 0.0).astype(np.float32)


# --- the deletion metric --------------------------------------------------------------------

def random_maps(shape, seed: int = 0) -> np.ndarray:
    """Maps of i.i.d. uniform values, shape (batch, bins, frames): a random deletion order,
    the baseline that a faithful map must beat in ``deletion_curve``."""
    shape = tuple(shape)
    if len(shape) != 3 or any(isinstance(n, bool) or not isinstance(n, Integral) or n < 1
                              for n in shape):
        raise ValueError(f"shape must be (batch, bins, frames) of positive ints, got {shape}")
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def _trapezoid(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    return ((values[..., 1:] + values[..., :-1]) / 2 * np.diff(x)).sum(axis=-1)


def deletion_curve(model: keras.Model, inputs, maps, class_index=None, steps: int = 20,
                   fill=None, batch_size: int = 32) -> dict:
    """The deletion metric (Petsiuk et al., 2018): delete the cells a map ranks highest and
    watch the class probability fall.

    ``inputs``: spectrogram images (batch, bins, frames, channels); ``maps``: (batch, bins,
    frames), higher = more salient (``attribution_map``, ``grad_cam``, ``random_maps``). For
    each fraction f in linspace(0, 1, steps + 1) the top ``round(f * bins * frames)`` cells of
    each example (all channels of a cell) are replaced with ``fill``, and the model's output
    (the probability, not the score) is read for the class chosen on the clean input
    (``class_index`` as in ``saliency``; None = the predicted class). Equal map values are
    ranked by cell position, row-major (lower bin first, then earlier frame), so the curve is
    deterministic.

    ``fill``: None for each example's minimum value (the quietest level of a dB spectrogram,
    i.e. "silence"), or a scalar or array that broadcasts to one example or to the batch,
    e.g. the silence input.

    Returns {"fractions": (steps + 1,), "probabilities": (batch, steps + 1), "area": (batch,)
    trapezoidal area under each curve (lower = a more faithful map), "class_index": (batch,)}.
    """
    steps = _positive_int(steps, "steps")
    batch_size = _positive_int(batch_size, "batch_size")
    _single_input(model)
    inputs = _as_batch(inputs, min_ndim=4)
    if inputs.ndim != 4:
        raise ValueError("deletion_curve takes spectrogram images (batch, bins, frames, "
                         f"channels), got shape {inputs.shape}")
    maps = np.asarray(maps, dtype=np.float32)
    if maps.shape != inputs.shape[:3]:
        raise ValueError(f"maps must be (batch, bins, frames) = {inputs.shape[:3]} to match the "
                         f"inputs, got {maps.shape} (attribution_map turns attributions into "
                         "maps; grad_cam needs output_size=(bins, frames))")
    if np.isnan(maps).any():
        raise ValueError("maps contain NaN values: they cannot rank cells")
    if fill is None:
        fill = inputs.min(axis=(1, 2, 3), keepdims=True)
    fill = _broadcast(fill, inputs.shape, "fill")

    batch, bins, frames, channels = inputs.shape
    cells = bins * frames
    # Most salient first; a stable sort of the negated map breaks ties by cell index.
    order = np.argsort(-maps.reshape(batch, cells), axis=1, kind="stable")
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.rint(fractions * cells).astype(np.int64)
    # rank[i, c]: the position of cell c in example i's deletion order.
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(cells)[np.newaxis].repeat(batch, 0), axis=1)

    model = _probability_model(model)
    clean = _predict(model, inputs, batch_size)
    classes = _resolve_classes(class_index, clean)
    probabilities = np.zeros((batch, steps + 1), np.float32)
    probabilities[:, 0] = clean[np.arange(batch), classes]  # fraction 0: nothing deleted
    flat_inputs = inputs.reshape(batch, cells, channels)
    flat_fill = fill.reshape(batch, cells, channels)
    # Rows are (example, step) pairs for steps 1..steps; each chunk of images is built only
    # when it is scored, so memory holds batch_size images whatever the number of steps.
    rows = batch * steps
    for start in range(0, rows, batch_size):
        row = np.arange(start, min(start + batch_size, rows))
        examples, step = row // steps, row % steps + 1
        deleted = (rank[examples] < counts[step][:, np.newaxis])[..., np.newaxis]
        images = np.where(deleted, flat_fill[examples], flat_inputs[examples])
        outputs = _predict(model, images.reshape(-1, bins, frames, channels), batch_size)
        probabilities[examples, step] = outputs[np.arange(len(row)), classes[examples]]
    return {"fractions": fractions, "probabilities": probabilities,
            "area": _trapezoid(probabilities.astype(np.float64), fractions).astype(np.float32),
            "class_index": classes}
