"""LIME over spectrogram patches and generic components, against models whose answer is known."""

import numpy as np
import pytest

from modules.interpret.lime_explainer import (LimeExplanation, lime_components,
                                              lime_spectrogram, masked_spectrogram,
                                              patch_segments, plot_lime)

BINS, FRAMES = 32, 48          # 8x16 patches: 4 rows x 3 columns = 12 patches
REGION = (slice(8, 16), slice(16, 32))  # exactly patch 4 (row 1, column 1)
REGION_PATCH = 4
N_SAMPLES = 250


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def make_image(seed=0, loud=REGION):
    """Background around -40 dB, the explained region around 0 dB, so silencing it (the
    minimum, about -50 dB) moves the model."""
    rng = np.random.default_rng(seed)
    image = rng.normal(-40.0, 3.0, size=(BINS, FRAMES))
    image[loud] = rng.normal(0.0, 3.0, size=image[loud].shape)
    return image


def region_model(x):
    """Two classes; p(class 1) = sigmoid of the mean level of REGION. Nothing else matters."""
    x = np.asarray(x)
    assert x.shape[1:] == (BINS, FRAMES, 1)
    p = sigmoid((x[:, REGION[0], REGION[1], 0].mean(axis=(1, 2)) + 40.0) / 5.0)
    return np.stack([1.0 - p, p], axis=1)


@pytest.fixture(scope="module")
def explanation():
    return lime_spectrogram(region_model, make_image()[..., None],
                            patch_segments(BINS, FRAMES), n_samples=N_SAMPLES, seed=0)


# ------------------------------------------------------------------------------ spectrograms
def test_top_segment_is_the_region_the_model_reads(explanation):
    assert explanation.class_index == 1  # None -> the predicted class
    assert explanation.original_probability > 0.99
    component, weight = explanation.top[0]
    assert component == REGION_PATCH
    assert weight > 0.5
    others = np.delete(explanation.weights, REGION_PATCH)
    assert np.all(np.abs(others) < 0.1 * weight)
    assert explanation.score > 0.9  # the model is linear in that one switch
    assert explanation.weights.shape == (12,)
    assert [w for _, w in explanation.top] == sorted((w for _, w in explanation.top),
                                                     reverse=True)


def test_other_class_gets_the_opposite_sign(explanation):
    other = lime_spectrogram(region_model, make_image(), patch_segments(BINS, FRAMES),
                             class_index=0, n_samples=N_SAMPLES, seed=0)
    assert other.class_index == 0
    assert other.top[-1][0] == REGION_PATCH and other.top[-1][1] < -0.5
    np.testing.assert_allclose(other.weights, -explanation.weights, atol=1e-9)


def test_same_seed_same_explanation_other_seed_other_weights(explanation):
    again = lime_spectrogram(region_model, make_image()[..., None],
                             patch_segments(BINS, FRAMES), n_samples=N_SAMPLES, seed=0)
    np.testing.assert_array_equal(again.weights, explanation.weights)
    assert again.top == explanation.top
    assert again.score == explanation.score and again.intercept == explanation.intercept
    other = lime_spectrogram(region_model, make_image()[..., None],
                             patch_segments(BINS, FRAMES), n_samples=N_SAMPLES, seed=1)
    assert not np.array_equal(other.weights, explanation.weights)
    assert other.top[0][0] == REGION_PATCH  # ... but the same answer


def test_keras_model_and_a_region_across_two_patches():
    """A fixed Keras model (tensor output) reading bins 4-11: patches 1 and 4 overlap it."""
    import keras

    rows, columns = slice(4, 12), slice(16, 32)
    mask = np.zeros((BINS, FRAMES), dtype=np.float32)
    mask[rows, columns] = 1.0 / mask[rows, columns].size
    kernel = np.zeros((BINS * FRAMES, 2), dtype=np.float32)
    kernel[:, 1] = mask.ravel() / 5.0  # logit 1 - logit 0 = (region mean + 40) / 5
    inputs = keras.Input((BINS, FRAMES, 1))
    dense = keras.layers.Dense(2, activation="softmax", trainable=False)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([kernel, np.array([0.0, 8.0], dtype=np.float32)])

    image = make_image(loud=(rows, columns))
    result = lime_spectrogram(lambda x: model(x, training=False), image,
                              patch_segments(BINS, FRAMES), n_samples=N_SAMPLES, seed=0)
    assert result.class_index == 1
    assert {c for c, _ in result.top[:2]} == {1, 4}
    assert all(w > 0 for _, w in result.top[:2])


def test_switched_off_patches_become_the_fill():
    image = make_image()
    fill = np.full((BINS, FRAMES), -90.0) + np.arange(FRAMES)  # not constant: placed per cell
    segments = patch_segments(BINS, FRAMES)
    seen = []

    def recording_model(x):
        seen.append(np.array(x))
        return region_model(x)

    lime_spectrogram(recording_model, image, segments, fill=fill, n_samples=40, seed=3)
    inputs = np.concatenate(seen)
    assert inputs.shape == (40, BINS, FRAMES, 1) and inputs.dtype == np.float32
    np.testing.assert_allclose(inputs[0, ..., 0], image, rtol=1e-6)  # the original first
    n_off = 0
    for x in inputs[..., 0]:
        for label in range(segments.max() + 1):
            cells = segments == label
            kept = np.allclose(x[cells], image[cells], rtol=1e-6)
            off = np.allclose(x[cells], fill[cells], rtol=1e-6)
            assert kept != off  # each patch wholly the image or wholly the fill
            n_off += off
    assert n_off > 0


# ------------------------------------------------------------------------------ generic core
CONTRIBUTIONS = np.array([0.30, -0.20, 0.05, 0.15, -0.08, 0.25, 0.0, 0.10])


def additive_model(z):
    """The "inputs" are the on/off vectors themselves; the output adds what is kept."""
    return (0.2 + np.asarray(z) @ CONTRIBUTIONS)[:, None]


def test_components_recover_the_ranking_of_contributions():
    result = lime_components(additive_model, len(CONTRIBUTIONS), lambda z: z.astype(float),
                             n_samples=N_SAMPLES, n_features=len(CONTRIBUTIONS), seed=0)
    assert result.class_index == 0
    np.testing.assert_array_equal(np.argsort(result.weights), np.argsort(CONTRIBUTIONS))
    np.testing.assert_allclose(result.weights, CONTRIBUTIONS, atol=0.03)
    assert [c for c, _ in result.top] == list(np.argsort(-CONTRIBUTIONS))
    assert result.original_probability == pytest.approx(0.2 + CONTRIBUTIONS.sum())


def test_n_features_limits_the_non_zero_weights():
    result = lime_components(additive_model, len(CONTRIBUTIONS), lambda z: z.astype(float),
                             n_samples=N_SAMPLES, n_features=3, seed=0)
    assert np.count_nonzero(result.weights) == 3
    assert [c for c, _ in result.top] == [0, 5, 1]  # the three largest |contributions|
    assert result.top[-1][1] < 0


def test_predictions_come_in_batches_with_the_original_first():
    sizes, first = [], []

    def make_inputs(z):
        sizes.append(len(z))
        first.append(z[0].copy())
        return z.astype(float)

    lime_components(additive_model, len(CONTRIBUTIONS), make_inputs, n_samples=130,
                    batch_size=64, seed=0, progress=True)
    assert sizes == [64, 64, 2]
    assert np.all(first[0] == 1)


# ----------------------------------------------------------------------------------- patches
@pytest.mark.parametrize("shape, patch, n_expected", [((32, 48), (8, 16), 12),
                                                      ((30, 50), (8, 16), 16),
                                                      ((5, 7), (8, 16), 1)])
def test_patch_segments_tile_the_image(shape, patch, n_expected):
    segments = patch_segments(*shape, *patch)
    assert segments.shape == shape and np.issubdtype(segments.dtype, np.integer)
    np.testing.assert_array_equal(np.unique(segments), np.arange(n_expected))
    per_row = -(-shape[1] // patch[1])
    for label in range(n_expected):
        rows, columns = np.nonzero(segments == label)
        top, left = (label // per_row) * patch[0], (label % per_row) * patch[1]
        height = min(patch[0], shape[0] - top)  # the last row / column of patches is smaller
        width = min(patch[1], shape[1] - left)
        assert (rows.min(), columns.min()) == (top, left)
        assert (rows.max(), columns.max()) == (top + height - 1, left + width - 1)
        assert len(rows) == height * width  # a full rectangle
    counts = np.bincount(segments.ravel())
    assert counts.sum() == shape[0] * shape[1]


def test_masked_spectrogram_keeps_only_the_chosen_patches():
    image = make_image()[..., None].astype(np.float32)
    segments = patch_segments(BINS, FRAMES)
    kept = np.isin(segments, [0, 5])
    out = masked_spectrogram(image, segments, [0, 5])
    assert out.shape == image.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[kept], image[kept])
    np.testing.assert_array_equal(out[~kept, 0], image.min())

    fill = np.linspace(-100, -90, BINS * FRAMES).reshape(BINS, FRAMES)
    out = masked_spectrogram(image[..., 0], segments, {7}, fill=fill)
    only = segments == 7
    np.testing.assert_allclose(out[only], image[..., 0][only])
    np.testing.assert_allclose(out[~only], fill[~only], rtol=1e-6)
    np.testing.assert_array_equal(masked_spectrogram(image, segments, [], fill=-80.0), -80.0)


def test_plot_lime_writes_a_png(explanation, tmp_path):
    path = tmp_path / "lime.png"
    plot_lime(make_image(), patch_segments(BINS, FRAMES), explanation, path, "toy", n_top=3)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


# -------------------------------------------------------------------------------- bad input
def _bad_calls():
    image, segments = make_image(), patch_segments(BINS, FRAMES)
    core = dict(predict_fn=additive_model, n_components=8, make_inputs=lambda z: z)
    return {
        "n_samples 1": lambda: lime_components(**core, n_samples=1),
        "n_features 0": lambda: lime_components(**core, n_features=0),
        "kernel_width 0": lambda: lime_components(**core, kernel_width=0),
        "batch_size 0": lambda: lime_components(**core, batch_size=0),
        "n_components 0": lambda: lime_components(additive_model, 0, lambda z: z),
        "class out of range": lambda: lime_components(**core, class_index=1, n_samples=10),
        "1-D predictions": lambda: lime_components(
            lambda z: np.zeros(len(z)), 8, lambda z: z, n_samples=10),
        "too few predictions": lambda: lime_components(
            lambda z: np.zeros((1, 2)), 8, lambda z: z, n_samples=10),
        "nan predictions": lambda: lime_components(
            lambda z: np.full((len(z), 2), np.nan), 8, lambda z: z, n_samples=10),
        "image 3 channels": lambda: lime_spectrogram(region_model, np.zeros((BINS, FRAMES, 3)),
                                                     segments),
        "image -inf": lambda: lime_spectrogram(region_model, np.full((BINS, FRAMES), -np.inf),
                                               segments),
        "segments shape": lambda: lime_spectrogram(region_model, image, segments[:, :-1]),
        "segments float": lambda: lime_spectrogram(region_model, image, segments * 1.0),
        "segments gap": lambda: lime_spectrogram(region_model, image, segments * 2),
        "fill shape": lambda: lime_spectrogram(region_model, image, segments,
                                               fill=np.zeros((BINS, 3))),
        "fill nan": lambda: lime_spectrogram(region_model, image, segments, fill=np.nan),
        "patch 0": lambda: patch_segments(BINS, FRAMES, 0, 16),
        "keep out of range": lambda: masked_spectrogram(image, segments, [12]),
        "keep negative": lambda: masked_spectrogram(image, segments, [-1]),
        "plot weights": lambda: plot_lime(image, segments, LimeExplanation(1, np.zeros(5)),
                                          "unused.png", "x"),
        "plot n_top 0": lambda: plot_lime(image, segments, LimeExplanation(1, np.zeros(12)),
                                          "unused.png", "x", n_top=0),
    }


@pytest.mark.parametrize("name", list(_bad_calls()))
def test_bad_arguments_raise_value_error(name):
    with pytest.raises(ValueError):
        _bad_calls()[name]()
