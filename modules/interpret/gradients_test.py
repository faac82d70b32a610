"""Gradient attributions and the deletion metric, checked on small models whose answer is known.

Measured on the seeded models below (keras 3.15, TF 2.21, CPU), for the thresholds:
* band model, Grad-CAM on "conv": mean heat in rows 4-7 / mean heat in the other rows 13.3-15.0
* band model, deletion area: saliency order 0.56-0.57 vs random order 0.69-0.79
* smooth model, IG with 128 steps: max |delta| / |score(x) - score(baseline)|
  8.6e-4 (zero baseline), 3.7e-6 (silence baseline)
"""

import keras
import numpy as np
import pytest
from keras import layers

from modules.interpret.gradcam import grad_cam
from modules.interpret.gradients import (attribution_map, deletion_curve, integrated_gradients,
                                         random_maps, saliency, smoothgrad)

BINS, FRAMES = 16, 24
BAND = slice(4, 8)  # the only frequency rows the band model sees


def band_model():
    """Sees rows 4-7 only: a fixed mask, then conv (no bias) -> ReLU -> GAP -> logits.

    Class 0 reads every conv channel with a positive weight and class 1 with a negative one, so
    on non-negative inputs class 0 wins and its evidence is exactly the (non-negative) conv
    maps of the band: Grad-CAM has something to find, and deleting the band removes it.
    """
    inputs = keras.Input((BINS, FRAMES, 1))
    mask = np.zeros((1, BINS, FRAMES, 1), np.float32)
    mask[:, BAND] = 1.0
    banded = layers.Lambda(lambda t: t * mask, name="band")(inputs)
    conv = layers.Conv2D(6, 3, padding="same", use_bias=False, activation="relu", name="conv",
                         kernel_initializer=keras.initializers.RandomUniform(-0.2, 1.0, seed=1)
                         )(banded)
    pooled = layers.GlobalAveragePooling2D(name="pool")(conv)
    logits = layers.Dense(2, name="logits")(pooled)
    model = keras.Model(inputs, layers.Activation("softmax", name="probabilities")(logits))
    weights = np.random.default_rng(2).uniform(0.5, 1.5, size=(6, 1)).astype(np.float32)
    model.get_layer("logits").set_weights([np.hstack([0.5 * weights, -0.5 * weights]),
                                           np.zeros(2, np.float32)])
    return model


def smooth_model(n_classes=3):
    """tanh and softplus throughout, so the IG path integral has no kinks; weights large
    enough that the path is far from straight (a coarse Riemann sum misses completeness)."""
    inputs = keras.Input((BINS, FRAMES, 1))
    x = layers.Conv2D(4, 3, activation="tanh", name="conv",
                      kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=3),
                      bias_initializer=keras.initializers.RandomNormal(stddev=0.1, seed=4))(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(8, activation="softplus",
                     kernel_initializer=keras.initializers.RandomNormal(stddev=2.0, seed=5))(x)
    logits = layers.Dense(n_classes, name="logits",
                          kernel_initializer=keras.initializers.RandomNormal(stddev=2.0, seed=6))(x)
    return keras.Model(inputs, layers.Activation("softmax", name="probabilities")(logits))


def spectrograms(n=2, seed=0):
    """Non-negative images (batch, bins, frames, 1)."""
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, BINS, FRAMES, 1)).astype(np.float32)


def outside_band(array):
    return np.concatenate([array[:, :BAND.start], array[:, BAND.stop:]], axis=1)


def linear_model(n_classes=3):
    """Scores = W . flatten(x): the gradient of class c is W[:, c] everywhere."""
    inputs = keras.Input((BINS, FRAMES, 1))
    logits = layers.Dense(n_classes, name="logits", use_bias=False,
                          kernel_initializer=keras.initializers.RandomNormal(seed=7))(
        layers.Flatten()(inputs))
    return keras.Model(inputs, layers.Activation("softmax", name="probabilities")(logits))


def score_gap(model, inputs, baseline, classes):
    from modules.interpret.gradcam import score_model
    scores = score_model(model)
    rows = np.arange(len(inputs))
    return (np.asarray(scores(inputs))[rows, classes]
            - np.asarray(scores(np.broadcast_to(baseline, inputs.shape)))[rows, classes])


def test_saliency_of_a_model_that_sees_one_band_is_zero_outside_it():
    model = band_model()
    x = spectrograms(3)
    gradients = saliency(model, x)
    assert gradients.shape == x.shape and gradients.dtype == np.float32
    assert np.all(outside_band(gradients) == 0.0)  # exactly: the mask zeroes those paths
    assert np.all(gradients[:, BAND] != 0.0)  # every band cell moves the score (observed: all)
    maps = attribution_map(gradients)
    assert maps.shape == (3, BINS, FRAMES)
    np.testing.assert_allclose(maps.max(axis=(1, 2)), 1.0)
    assert maps.min() == 0.0 and np.all(outside_band(maps) == 0.0)


def test_gradcam_of_the_band_model_highlights_the_band():
    model = band_model()
    x = spectrograms(3)
    assert np.all(np.argmax(model(x), axis=-1) == 0)  # class 0: positive evidence from the band
    heat = grad_cam(model, x, layer_name="conv", output_size=(BINS, FRAMES))
    assert heat.shape == (3, BINS, FRAMES)
    # Rows 3 and 8 get some heat through the 3x3 conv's reach; the rest of the outside none.
    # Observed ratios 13.3 to 15.0; 5x leaves margin and still fails for a map that ignores
    # the band (ratio ~1).
    for example in heat:
        ratio = example[BAND].mean() / outside_band(example[np.newaxis]).mean()
        assert ratio > 5.0, ratio


def test_saliency_picks_the_class_per_example_and_ig_is_exact_on_a_linear_model():
    model = linear_model()
    weights = model.get_layer("logits").get_weights()[0]  # (bins * frames, classes)
    x = spectrograms(2, seed=1)
    gradients = saliency(model, x, class_index=[2, 0])
    np.testing.assert_allclose(gradients[0].ravel(), weights[:, 2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gradients[1].ravel(), weights[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(saliency(model, x, class_index=1).reshape(2, -1),
                               np.stack([weights[:, 1]] * 2), rtol=1e-5, atol=1e-6)
    predicted = np.argmax(np.asarray(model(x)), axis=-1)
    np.testing.assert_allclose(saliency(model, x).reshape(2, -1), weights[:, predicted].T,
                               rtol=1e-5, atol=1e-6)
    # A straight score: any Riemann sum is exact, attributions are (x - baseline) * w.
    baseline = np.full((BINS, FRAMES, 1), 0.25, np.float32)
    attributions, delta = integrated_gradients(model, x, class_index=[2, 0], baseline=baseline,
                                               steps=3)
    np.testing.assert_allclose(attributions.reshape(2, -1),
                               (x - baseline).reshape(2, -1) * weights[:, [2, 0]].T,
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(delta, 0.0, atol=1e-4)


def test_integrated_gradients_add_up_to_the_score_gap_on_a_smooth_model():
    model = smooth_model()
    x = (1 + np.random.default_rng(1).normal(size=(2, BINS, FRAMES, 1))).astype(np.float32)
    classes = np.argmax(np.asarray(model(x)), axis=-1)
    silence = np.full((BINS, FRAMES, 1), -1.0, np.float32)  # one example's worth
    for baseline in (None, silence):
        attributions, delta = integrated_gradients(model, x, baseline=baseline, steps=128)
        assert attributions.shape == x.shape and delta.shape == (2,)
        gap = score_gap(model, x, 0.0 if baseline is None else baseline, classes)
        assert np.all(np.abs(gap) > 0.5), gap  # observed 2.0 (zeros), -3.0 (silence)
        relative = np.abs(delta) / np.abs(gap)
        # Tolerance 1e-2 relative with 128 trapezoid steps; observed max 8.6e-4 (zero baseline)
        # and 3.7e-6 (silence).
        assert np.all(relative < 1e-2), relative
        np.testing.assert_allclose(attributions.sum(axis=(1, 2, 3)), gap, rtol=1e-2)
        # The path is curved: 2 steps miss completeness by far (observed 0.64 to 1.3).
        _, coarse = integrated_gradients(model, x, baseline=baseline, steps=2)
        assert np.all(np.abs(coarse) / np.abs(gap) > 0.1)
    # The baseline counts, and one example's baseline means the same as the batch's.
    zero_based, _ = integrated_gradients(model, x, steps=16)
    silence_based, _ = integrated_gradients(model, x, baseline=silence, steps=16)
    batch_based, batch_delta = integrated_gradients(
        model, x, baseline=np.stack([silence, silence]), steps=16, batch_size=5)
    assert not np.allclose(zero_based, silence_based, atol=1e-3)
    np.testing.assert_allclose(batch_based, silence_based, rtol=1e-4, atol=1e-6)


def test_smoothgrad_is_deterministic_for_a_seed():
    model = smooth_model()
    x = spectrograms(2, seed=3)
    state = np.random.get_state()[1].copy()
    first = smoothgrad(model, x, n_samples=6, seed=1)
    assert first.shape == x.shape
    np.testing.assert_array_equal(smoothgrad(model, x, n_samples=6, seed=1), first)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # global RNG untouched
    other = smoothgrad(model, x, n_samples=6, seed=2)
    assert np.abs(other - first).max() > 1e-3 * np.abs(first).max()
    # The noise stream does not depend on how the copies are batched.
    np.testing.assert_allclose(smoothgrad(model, x, n_samples=6, seed=1, batch_size=5), first,
                               rtol=1e-4, atol=1e-7)
    # No noise: the plain saliency.
    np.testing.assert_allclose(smoothgrad(model, x, n_samples=2, noise_level=0.0),
                               saliency(model, x), rtol=1e-5, atol=1e-7)


def test_deletion_by_saliency_beats_random_order_on_the_band_model():
    model = band_model()
    x = spectrograms(3)
    predictions = np.asarray(model(x))
    by_saliency = deletion_curve(model, x, attribution_map(saliency(model, x)), batch_size=16)
    at_random = deletion_curve(model, x, random_maps((3, BINS, FRAMES), seed=0), batch_size=16)
    for curve in (by_saliency, at_random):
        assert curve["fractions"].shape == (21,)
        assert curve["fractions"][0] == 0.0 and curve["fractions"][-1] == 1.0
        assert curve["probabilities"].shape == (3, 21) and curve["area"].shape == (3,)
        np.testing.assert_array_equal(curve["class_index"], np.argmax(predictions, axis=-1))
        np.testing.assert_allclose(curve["probabilities"][:, 0],
                                   predictions[np.arange(3), curve["class_index"]], rtol=1e-6)
    # The band is a quarter of the cells: saliency removes it first and the probability is at
    # its floor (0.5: no evidence either way) from fraction 0.25 on. Observed areas 0.56-0.57
    # by saliency, 0.69-0.79 at random (seeds 0-2).
    assert np.all(by_saliency["area"] < at_random["area"] - 0.05), (by_saliency["area"],
                                                                   at_random["area"])
    np.testing.assert_allclose(by_saliency["probabilities"][:, 5:], 0.5, atol=0.01)
    # Everything deleted: the image is all fill, each example's minimum.
    blank = np.broadcast_to(x.min(axis=(1, 2, 3), keepdims=True), x.shape)
    np.testing.assert_allclose(by_saliency["probabilities"][:, -1],
                               np.asarray(model(blank))[:, 0], rtol=1e-5)


def test_deletion_ties_and_fills():
    model = band_model()
    x = spectrograms(2)
    clean = np.asarray(model(x))[:, 0]
    # Equal map values go row-major: rows 0-3 (a quarter, unseen by the model) go first, so
    # nothing changes up to fraction 0.25; by 0.5 rows 4-7 are gone too.
    flat = deletion_curve(model, x, np.zeros((2, BINS, FRAMES)), steps=4)
    np.testing.assert_allclose(flat["probabilities"][:, :2], np.stack([clean] * 2, 1), rtol=1e-6)
    assert np.all(flat["probabilities"][:, 2] < clean - 0.2)
    # Filling each example with itself deletes nothing; a scalar fill works too.
    same = deletion_curve(model, x, random_maps((2, BINS, FRAMES), 1), steps=4, fill=x)
    np.testing.assert_allclose(same["probabilities"], np.stack([clean] * 5, 1), rtol=1e-5)
    zero = deletion_curve(model, x, random_maps((2, BINS, FRAMES), 1), steps=4, fill=0.0,
                          class_index=1)
    np.testing.assert_allclose(zero["probabilities"][:, -1],
                               np.asarray(model(np.zeros_like(x)))[:, 1], rtol=1e-5)


@pytest.mark.parametrize("call, message", [
    (lambda m, x: integrated_gradients(m, x, steps=0), "steps must be a positive integer"),
    (lambda m, x: deletion_curve(m, x, np.zeros((2, BINS, FRAMES)), steps=0), "steps"),
    (lambda m, x: saliency(m, x, class_index=[0]), "one class per example, 2 in this batch"),
    (lambda m, x: saliency(m, x, class_index=2), r"class_index \[2, 2\] out of range"),
    (lambda m, x: saliency(m, x, class_index=[0.5, 1]), "must hold integers"),
    (lambda m, x: deletion_curve(m, x, np.zeros((2, FRAMES, BINS))), "maps must be"),
    (lambda m, x: deletion_curve(m, x, np.zeros((2, BINS, FRAMES)), fill=np.zeros(3)), "fill"),
    (lambda m, x: integrated_gradients(m, x, baseline=np.zeros((BINS, 3, 1))),
     "baseline of shape"),
    (lambda m, x: smoothgrad(m, x, n_samples=0), "n_samples"),
    (lambda m, x: smoothgrad(m, x, noise_level=-0.1), "noise_level"),
    (lambda m, x: saliency(m, x, batch_size=0), "batch_size"),
    (lambda m, x: attribution_map(x[..., 0]), r"\(batch, bins, frames, channels\)"),
    (lambda m, x: random_maps((2, BINS)), "shape must be"),
])
def test_bad_arguments_raise_clear_errors(call, message):
    model, x = band_model(), spectrograms(2)
    with pytest.raises(ValueError, match=message):
        call(model, x)


def test_a_multi_label_model_is_explained_per_label_through_its_logits():
    """Sigmoid head (several labels can be on): attributions are taken before the sigmoid, one
    label at a time, and the deletion curve tracks that label's own probability."""
    inputs = keras.Input((BINS, FRAMES, 1))
    flat = layers.Flatten()(inputs)
    logits = layers.Dense(3, name="logits", use_bias=False)(flat)
    model = keras.Model(inputs, layers.Activation("sigmoid", name="probabilities")(logits))
    kernel = np.random.default_rng(7).normal(size=(BINS * FRAMES, 3)).astype(np.float32)
    model.get_layer("logits").set_weights([kernel])
    x = np.random.default_rng(8).uniform(0, 1, (2, BINS, FRAMES, 1)).astype(np.float32)
    for label in range(3):
        np.testing.assert_allclose(saliency(model, x, label)[0].ravel(), kernel[:, label],
                                   rtol=1e-5)
    curve = deletion_curve(model, x, attribution_map(saliency(model, x, 2)), 2, steps=4, fill=0.0)
    probabilities = np.asarray(model(x))[:, 2]
    np.testing.assert_allclose(curve["probabilities"][:, 0], probabilities, rtol=1e-5)
    np.testing.assert_allclose(curve["probabilities"][:, -1], 0.5, atol=1e-6)  # all cells 0
