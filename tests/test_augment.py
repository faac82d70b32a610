"""Training-set augmentation: counts, label mixing, seeds, masks, argument checking."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from modules.augment import (AugmentationError, AugmentedTrainingSet, ExamplePool,
                             build_augmentations, change_gain, combine, shift_time)

BINS, FRAMES = 4, 5
SAMPLES = BINS * FRAMES


def image_parse(audio, labels):
    """A linear stand-in for a front end: the first BINS*FRAMES samples as a (BINS, FRAMES, 1)
    image, so every mix of inputs can be checked against the same mix of waveforms."""
    return tf.reshape(audio[:, :SAMPLES], [-1, BINS, FRAMES, 1]), labels


def constant_pool(labels, padded=None, input_shape=(BINS, FRAMES, 1)):
    """Example i is the constant waveform i + 1, so a mixed input reveals its sources."""
    labels = np.asarray(labels)
    n_classes = labels.max() + 1
    audio = np.repeat(np.arange(1, len(labels) + 1, dtype=np.float32)[:, None], SAMPLES, axis=1)
    one_hot = np.eye(n_classes, dtype=np.float32)[labels]
    padded = np.zeros(len(labels), bool) if padded is None else np.asarray(padded)
    return ExamplePool(audio, one_hot, padded, 16000, input_shape)


def one_epoch(training_set, batch_size=7):
    inputs, labels = [], []
    for x, y in training_set.dataset(image_parse, batch_size):
        inputs.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(inputs), np.concatenate(labels)


def bound(spec=(), audio=(), classes=("a", "b", "c")):
    augmentations = build_augmentations(spec, audio)
    for augmentation in augmentations:
        augmentation.bind(list(classes))
    return augmentations


# ------------------------------------------------------------------------------- mixup
def test_mixup_adds_the_stated_number_of_examples_with_labels_mixed_like_inputs():
    labels = [0] * 10 + [1] * 6 + [2] * 4  # 20 examples
    pool = constant_pool(labels)
    mixup = bound([["mixup", {"quantity": 0.2, "no_pad": False, "label_one": 0, "label_two": 1,
                              "minval": 0.3, "maxval": 0.7}]])
    training_set = AugmentedTrainingSet(pool, mixup, seed=3)
    assert len(training_set) == 24 and training_set.extra_counts == [4]  # round(0.2 * 20)

    inputs, targets = one_epoch(training_set)
    assert len(inputs) == 24
    mixed = [i for i in range(24) if targets[i].max() < 1.0]
    assert len(mixed) == 4
    originals = sorted(inputs[i].mean() for i in range(24) if i not in mixed)
    assert originals == list(range(1, 21))  # every original exactly once, unchanged
    for i in mixed:
        lam = targets[i, 0]
        assert 0.3 <= lam <= 0.7 and targets[i, 1] == pytest.approx(1 - lam, abs=1e-6)
        assert targets[i, 2] == 0
        # input = lam * (source value) + (1 - lam) * (partner value), source of class 0
        # (values 1..10) and partner of class 1 (values 11..16): find the pair.
        value = inputs[i].mean()
        pairs = [(a, b) for a in range(1, 11) for b in range(11, 17)
                 if abs(lam * a + (1 - lam) * b - value) < 1e-4]
        assert pairs, f"input {value} is no lam-mix of a class-0 and a class-1 example"
        np.testing.assert_allclose(inputs[i], value, atol=1e-5)  # the whole image mixed alike


def test_waveform_mixup_in_audio_list_mixes_the_waveforms():
    pool = constant_pool([0, 0, 1, 1])
    [mixup] = bound(audio=[["mixup", {"quantity": 1.0, "label_one": 0, "label_two": 1}]])
    recipe = mixup.make(pool, 0, np.random.default_rng(0))
    lam = recipe.drawn["lambda"]
    assert recipe.waveforms.shape == (1, SAMPLES)
    partner = recipe.drawn["partner"]
    np.testing.assert_allclose(recipe.waveforms[0], lam * 1 + (1 - lam) * (partner + 1), rtol=1e-6)


# ------------------------------------------------------------------------------ augmix
def test_augmix_adds_examples_keeping_labels_and_mixing_weights_sum_to_one():
    labels = [0, 1, 2, 0, 1, 2, 0, 1]
    pool = constant_pool(labels)
    rng_audio = np.random.default_rng(0).standard_normal((8, SAMPLES)).astype(np.float32)
    pool.audio = rng_audio
    augmix = bound(audio=[["augmix", {"quantity": 0.25, "label": -1, "no_pad": False,
                                      "minval": 0.3, "maxval": 0.7,
                                      "aug_functions": [change_gain, shift_time]}]])
    training_set = AugmentedTrainingSet(pool, augmix, seed=5)
    assert len(training_set) == 10  # 8 + round(0.25 * 8)
    kinds, sources = training_set.plan(0)
    positions = np.flatnonzero(kinds == 0)
    assert len(positions) == 2
    for position in positions:
        recipe = training_set.recipe(0, int(position))
        source = int(sources[position])
        np.testing.assert_array_equal(recipe.label, pool.labels[source])  # labels unchanged
        weights = recipe.weights[:, 0, 0, 0]
        assert len(weights) == 1 + 3 and weights.sum() == pytest.approx(1.0, abs=1e-6)
        assert 0.3 <= weights[0] <= 0.7  # the clean input's share
        np.testing.assert_array_equal(recipe.waveforms[0], pool.audio[source])
        parsed, _ = image_parse(recipe.waveforms, None)
        expected = np.tensordot(weights, parsed.numpy(), axes=1)
        np.testing.assert_allclose(combine(parsed, recipe.weights, recipe.mask).numpy(),
                                   expected, rtol=1e-5, atol=1e-6)


def test_label_minus_one_draws_from_every_class_and_a_class_label_from_that_class_only():
    pool = constant_pool([0, 1, 2] * 10)
    [anyone] = bound(audio=[["augmix", {"quantity": 1.0, "label": -1,
                                        "aug_functions": [change_gain]}]])
    [only_c] = bound(audio=[["augmix", {"quantity": 1.0, "label": "c",
                                        "aug_functions": [change_gain]}]])
    assert len(anyone.sources(pool)) == 30
    assert set(pool.label_index[only_c.sources(pool)]) == {2}


# ------------------------------------------------------------------------- determinism
def test_same_seed_same_augmented_batch_and_another_seed_another():
    spec = [["mixup", {"quantity": 0.5}], ["specaugment", {"quantity": 0.5}]]
    audio = [["augmix", {"quantity": 0.5, "aug_functions": ["change_gain", "shift_time"]}]]
    pool = constant_pool([0, 1, 2] * 6)
    pool.audio = np.random.default_rng(1).standard_normal(pool.audio.shape).astype(np.float32)

    def first_batch(seed):
        training_set = AugmentedTrainingSet(pool, bound(spec, audio), seed=seed)
        x, y = next(iter(training_set.dataset(image_parse, 16)))
        return x.numpy(), y.numpy()

    x1, y1 = first_batch(7)
    x2, y2 = first_batch(7)
    x3, _ = first_batch(8)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)


def test_every_epoch_draws_afresh_but_keeps_its_size():
    pool = constant_pool([0, 1] * 10)
    training_set = AugmentedTrainingSet(pool, bound([["mixup", {"quantity": 0.5}]]), seed=1)
    ds = training_set.dataset(image_parse, 8)
    epoch_0 = np.concatenate([x.numpy() for x, _ in ds])
    epoch_1 = np.concatenate([x.numpy() for x, _ in ds])
    assert len(epoch_0) == len(epoch_1) == 30
    assert not np.array_equal(epoch_0, epoch_1)


# ------------------------------------------------------------------ masks and padding
def test_specaugment_replaces_masked_bands_with_the_mean_and_keeps_the_label():
    pool = constant_pool([0, 1])
    pool.audio = np.random.default_rng(2).standard_normal(pool.audio.shape).astype(np.float32)
    [specaugment] = bound([["specaugment", {"quantity": 1.0, "time_masks": 1, "time_width": 0.4,
                                            "freq_masks": 1, "freq_width": 0.5}]])
    for seed in range(5):
        recipe = specaugment.make(pool, 1, np.random.default_rng(seed))
        parsed, _ = image_parse(recipe.waveforms, None)
        out = combine(parsed, recipe.weights, recipe.mask).numpy()
        masked = recipe.mask > 0
        np.testing.assert_allclose(out[masked], parsed.numpy()[0].mean(), rtol=1e-5)
        np.testing.assert_array_equal(out[~masked], parsed.numpy()[0][~masked])
        # at most int(0.4 * 5) = 2 whole frames and int(0.5 * 4) = 2 whole bins masked
        assert masked[:, :, 0].all(axis=0).sum() <= 2 and masked[:, :, 0].all(axis=1).sum() <= 2
        np.testing.assert_array_equal(recipe.label, pool.labels[1])


def test_cutmix_label_share_is_the_area_taken_from_the_partner():
    pool = constant_pool([0, 0, 1, 1])
    [cutmix] = bound([["cutmix", {"quantity": 1.0, "label_one": 0, "label_two": 1,
                                  "minval": 0.2, "maxval": 0.6}]])
    recipe = cutmix.make(pool, 0, np.random.default_rng(4))
    area = recipe.weights[1].mean()
    assert recipe.label[1] == pytest.approx(area) and recipe.label[0] == pytest.approx(1 - area)
    assert 0 < area < 1


def test_no_pad_never_starts_from_or_mixes_in_a_padded_chunk():
    pool = constant_pool([0, 1] * 5, padded=[False, False, True, False] * 2 + [True, True])
    [mixup] = bound([["mixup", {"quantity": 3.0, "no_pad": True}]])
    training_set = AugmentedTrainingSet(pool, [mixup], seed=0)
    kinds, sources = training_set.plan(0)
    assert not pool.padded[sources[kinds == 0]].any()
    for position in np.flatnonzero(kinds == 0):
        assert not pool.padded[training_set.recipe(0, int(position)).drawn["partner"]]


def test_oversampling_balances_the_classes_each_epoch():
    pool = constant_pool([0] * 9 + [1] * 3 + [2] * 5)
    training_set = AugmentedTrainingSet(pool, [], seed=0, oversample=True)
    assert len(training_set) == 27
    _, targets = one_epoch(training_set)
    assert np.bincount(targets.argmax(1)).tolist() == [9, 9, 9]


# --------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("spec, audio, message", [
    ([["mixpu", {"quantity": 0.2}]], [], "did you mean 'mixup'"),
    ([["mixup", {"quantity": 0.2, "minvall": 0.1}]], [], "did you mean 'minval'"),
    ([["mixup", {"quantity": 0.2, "minval": 0.8, "maxval": 0.2}]], [], "larger than maxval"),
    ([["mixup", {"label_one": 0}]], [], "quantity is required"),
    ([], [["specaugment", {"quantity": 0.2}]], "belongs in spec_aug_params"),
    ([["spec_augment", {"quantity": 0.2}]], [], "did you mean 'specaugment'"),
    ([], [["augmix", {"quantity": 0.2, "aug_functions": ["shift_pich"]}]], "shift_pitch"),
    ([["mixup", 0.2]], [], "each entry is [name, {arguments}]"),
])
def test_a_misspelt_or_bad_augmentation_fails_at_once_naming_valid_ones(spec, audio, message):
    with pytest.raises(AugmentationError) as caught:
        build_augmentations(spec, audio)
    assert message in str(caught.value)


def test_a_label_that_is_not_a_class_fails_naming_the_classes():
    [mixup] = build_augmentations([["mixup", {"quantity": 0.2, "label_one": "crackel"}]])
    with pytest.raises(AugmentationError, match="did you mean 'crackle'"):
        mixup.bind(["none", "crackle", "wheeze", "both"])
    with pytest.raises(AugmentationError, match="has 4 classes"):
        build_augmentations([["mixup", {"quantity": 0.2, "label_two": 7}]])[0].bind(
            ["none", "crackle", "wheeze", "both"])


def test_masks_refuse_waveform_inputs():
    pool = constant_pool([0, 1], input_shape=(SAMPLES,))
    with pytest.raises(AugmentationError, match="needs spectrogram inputs"):
        AugmentedTrainingSet(pool, bound([["specaugment", {"quantity": 0.5}]]), seed=0)


def test_with_the_real_front_end_batches_have_the_model_input_shape():
    from modules.parameters import Parameters
    from modules.parsers import spec_parser

    params = Parameters(sr=8000, audio_length=0.5, n_fft=256, hop_length=128, n_mels=16)
    parse = spec_parser(params.freeze())
    audio = np.random.default_rng(0).standard_normal((6, 4000)).astype(np.float32) * 0.1
    shape = tuple(parse(tf.zeros([1, 4000]), tf.zeros([1, 2]))[0].shape[1:])
    pool = ExamplePool(audio, np.eye(2, dtype=np.float32)[[0, 1] * 3], np.zeros(6, bool), 8000,
                       shape)
    augmentations = bound([["mixup", {"quantity": 0.5}], ["specaugment", {"quantity": 0.5}]],
                          [["augmix", {"quantity": 0.5, "aug_functions": ["shift_pitch"]}]])
    training_set = AugmentedTrainingSet(pool, augmentations, seed=0)
    batches = list(training_set.dataset(parse, 4, class_weights=np.array([1.0, 2.0])))
    assert sum(len(b[0]) for b in batches) == len(training_set) == 6 + 3 + 3 + 3
    assert batches[0][0].shape[1:] == shape and len(batches[0]) == 3  # with sample weights
    plain = parse(audio[:1], None)[0].numpy()
    assert np.isfinite(np.concatenate([b[0].numpy() for b in batches])).all()
    assert plain.shape[1:] == shape
