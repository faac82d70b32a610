"""Listen to Interpret on a toy task: three classes of 1 s, 8 kHz clips, each a tone in its own
frequency band (low / mid / high) over white noise, classified by a tiny CNN on log1p|STFT|.

The numbers quoted next to each threshold are the values observed on this machine (CPU,
TensorFlow 2.21, scikit-learn 1.9); the thresholds leave room for numerical drift only.
"""

import keras
import numpy as np
import pytest
import soundfile

from modules.interpret.nmf import (
    Interpreter,
    StftSettings,
    activations,
    build_interpreter,
    component_relevance,
    faithfulness,
    fidelity,
    istft,
    learn_dictionary,
    log_magnitude,
    relevant_components,
    resynthesize,
    soft_mask,
    train_interpreter,
    write_explanation,
)

SR = 8000
SETTINGS = StftSettings(n_fft=256, hop_length=128, sr=SR)  # 129 bins x 63 frames a second
# One tone per class, each at an STFT bin centre (k * 8000 / 256 Hz) and with no frequency jitter,
# so that NMF gives each tone its own few components. (With tones drawn from +-10 Hz bands, the
# tones spread over more components, and on 1 seed of 5 the relevant set missed some of them.)
TONES = (406.25, 1406.25, 3000.0)  # Hz
N_COMPONENTS = 12
LAYER = "block_conv"


def toy_clips(n_per_class, seed, multi_label=False):
    """(clips (n, SR) float32, labels): one tone per clip over white noise, random phase (1 to 3
    tones when multi-label, labels then multi-hot)."""
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    clips, labels = [], []
    for i in range(n_per_class * len(TONES)):
        if multi_label:
            present = rng.random(len(TONES)) < 0.5
            present[rng.integers(len(TONES))] = True
        else:
            present = np.arange(len(TONES)) == i % len(TONES)
        clip = 0.05 * rng.normal(size=SR)
        for tone in np.flatnonzero(present):
            clip += 0.5 * np.sin(2 * np.pi * TONES[tone] * t + rng.uniform(0, 2 * np.pi))
        clips.append(clip.astype(np.float32))
        labels.append(present.astype(np.float32) if multi_label else i % len(TONES))
    return np.stack(clips), np.asarray(labels)


def images(clips):
    return np.stack([log_magnitude(clip, SETTINGS)[0] for clip in clips])[..., None]


def toy_classifier(activation):
    """Tiny CNN on (129, 63, 1) log1p|STFT| images; ``block_conv`` maps are (32, 15, 8)."""
    init = keras.initializers.GlorotUniform
    inputs = keras.Input((SETTINGS.n_bins, SETTINGS.n_frames(SR), 1), name="spectrogram")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=init(1),
                            name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(4, name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=init(2),
                            name=LAYER)(x)
    # Pool over time only: the class is *where* in frequency the tone sits.
    x = keras.layers.AveragePooling2D((1, x.shape[2]), name="time_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    logits = keras.layers.Dense(len(TONES), kernel_initializer=init(3), name="logits")(x)
    outputs = keras.layers.Activation(activation, name="probabilities")(logits)
    return keras.Model(inputs, outputs, name=f"toy_{activation}")


def trained_classifier(clips, labels, activation):
    keras.utils.set_random_seed(0)  # fit's shuffling
    model = toy_classifier(activation)
    loss = "binary_crossentropy" if activation == "sigmoid" else "sparse_categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=loss)
    model.fit(images(clips), labels, epochs=15, batch_size=16, verbose=0)
    return model


def classify_with(model):
    probe = keras.Model(model.input, [model.get_layer("logits").output, model.output])

    def classify(audio_batch):
        logits, probabilities = probe(images(audio_batch), training=False)
        return np.asarray(logits), np.asarray(probabilities)

    return classify


@pytest.fixture(scope="module")
def toy():
    train_clips, train_labels = toy_clips(16, seed=0)
    test_clips, test_labels = toy_clips(8, seed=1)
    classifier = trained_classifier(train_clips, train_labels, "softmax")
    train_specs = np.stack([log_magnitude(c, SETTINGS)[0] for c in train_clips])
    W = learn_dictionary(list(train_specs), n_components=N_COMPONENTS, seed=0, max_iter=100)
    interpreter = train_interpreter(classifier, LAYER, images(train_clips), train_specs, W,
                                    epochs=60, batch_size=16, learning_rate=3e-3,
                                    stft_settings=SETTINGS, seed=0)
    return dict(train_clips=train_clips, test_clips=test_clips, test_labels=test_labels,
                classifier=classifier, W=W, interpreter=interpreter, train_specs=train_specs)


def snr_db(reference, estimate):
    return 10 * np.log10(np.sum(reference ** 2) / np.sum((reference - estimate) ** 2))


# ----------------------------------------------------------------------------------------------
def test_stft_round_trip_and_frame_count():
    from modules.frontend import LogMelSpectrogram

    clip = toy_clips(1, seed=3)[0][0]
    X, phase = log_magnitude(clip, SETTINGS)
    # Same frame count as the project's front end for the same n_fft / hop.
    frontend = LogMelSpectrogram(sr=SR, n_fft=256, hop_length=128, n_mels=32)
    assert X.shape == phase.shape == (129, frontend.n_frames(SR)) == (129, 63)
    assert X.dtype == np.float32 and X.min() >= 0
    audio = istft(np.expm1(X), phase, SETTINGS, length=clip.size)
    assert audio.shape == clip.shape
    assert snr_db(clip, audio) > 60  # observed 139.6 dB (float32 round trip)
    assert snr_db(clip, istft(np.expm1(X), np.angle(phase), SETTINGS, clip.size)) > 60


def test_dictionary_and_activations_reconstruct_spectrograms(toy):
    W = toy["W"]
    assert W.shape == (129, N_COMPONENTS) and W.dtype == np.float32 and W.min() >= 0
    np.testing.assert_allclose(np.linalg.norm(W, axis=0), 1.0, rtol=1e-5)
    errors = []
    for clip in toy["test_clips"]:  # clips the dictionary never saw
        X = log_magnitude(clip, SETTINGS)[0]
        H = activations(W, X)
        assert H.shape == (N_COMPONENTS, X.shape[1]) and H.min() >= 0
        errors.append(np.linalg.norm(X - W @ H) / np.linalg.norm(X))
    # Relative error ||X - WH|| / ||X||: observed mean 0.235, max 0.240. The floor is the white
    # noise's random fluctuations (~0.25 expected), which no 12-component model can fit; a random
    # non-negative W of the same size gives 0.71, so the bound 0.3 needs a learnt dictionary.
    assert np.mean(errors) < 0.3 and np.max(errors) < 0.35, errors
    # Deterministic given the seed; a different seed gives a different dictionary.
    again = learn_dictionary(list(toy["train_specs"][:6]), n_components=4, seed=0, max_iter=30)
    np.testing.assert_array_equal(
        again, learn_dictionary(list(toy["train_specs"][:6]), n_components=4, seed=0, max_iter=30))


def test_resynthesis_with_all_components_is_the_input_and_with_none_silence(toy):
    clip = toy["test_clips"][1]
    H = activations(toy["W"], log_magnitude(clip, SETTINGS)[0])
    everything = resynthesize(clip, toy["W"], H, np.arange(N_COMPONENTS), SETTINGS)
    assert everything.shape == clip.shape
    assert snr_db(clip, everything) > 30  # tolerance 30 dB; observed 150.9 dB (the mask is 1)
    nothing = resynthesize(clip, toy["W"], H, [], SETTINGS)
    assert np.sqrt(np.mean(nothing ** 2)) < 1e-3 * np.sqrt(np.mean(clip ** 2))  # observed 0.0
    # Complementary sets add up to the input.
    half = np.arange(N_COMPONENTS // 2)
    rest = np.arange(N_COMPONENTS // 2, N_COMPONENTS)
    parts = resynthesize(clip, toy["W"], H, half, SETTINGS) + resynthesize(
        clip, toy["W"], H, rest, SETTINGS)
    assert snr_db(clip, parts) > 30  # observed 148.1 dB
    mask = soft_mask(toy["W"], H, half)
    assert mask.min() >= 0 and mask.max() <= 1


def test_interpreter_reproduces_the_classifier(toy):
    interpreter, classifier = toy["interpreter"], toy["classifier"]
    test_images = images(toy["test_clips"])
    classifier_probabilities = np.asarray(classifier(test_images, training=False))
    # The toy classifier itself is right on the held-out clips (observed accuracy 1.0).
    assert np.mean(classifier_probabilities.argmax(1) == toy["test_labels"]) >= 0.9
    out = interpreter.predict(test_images)
    n, K, frames = len(test_images), N_COMPONENTS, SETTINGS.n_frames(SR)
    assert out["H"].shape == (n, K, frames) and out["H"].min() >= 0
    assert out["pooled"].shape == (n, K) and out["logits"].shape == (n, 3)
    np.testing.assert_allclose(out["attention"].sum(1), 1.0, rtol=1e-5)
    assert interpreter.logit_weights.min() >= 0  # the non-negative head (default)
    np.testing.assert_allclose(out["probabilities"].sum(1), 1.0, rtol=1e-5)
    scores = fidelity(out["probabilities"], classifier_probabilities)
    # Observed top1 = 1.0 on the 24 held-out clips (an interpreter trained with
    # fidelity_weight=0 scores 0.54: chance is 1/3).
    assert scores["top1"] >= 0.9, scores
    assert scores["top3"] == 1.0  # 3 classes: always inside
    history = interpreter.history
    assert history[-1]["loss"] < history[0]["loss"]
    # The interpreter's H explains the spectrograms too: observed relative error mean 0.280,
    # max 0.286 (NMF's own activations: 0.235; a random non-negative W: 0.71).
    errors = [np.linalg.norm(log_magnitude(clip, SETTINGS)[0] - toy["W"] @ H)
              / np.linalg.norm(log_magnitude(clip, SETTINGS)[0])
              for clip, H in zip(toy["test_clips"], out["H"])]
    assert np.max(errors) < 0.4, errors


def test_relevance_is_normalised(toy):
    interpreter = toy["interpreter"]
    out = interpreter.predict(images(toy["test_clips"][:6]))
    classes = out["logits"].argmax(1)
    relevance = interpreter.relevance(out["pooled"], classes)
    assert relevance.shape == (6, N_COMPONENTS)
    assert relevance.min() >= 0 and relevance.max() <= 1
    np.testing.assert_allclose(relevance.max(axis=1), 1.0)
    single = interpreter.relevance(out["pooled"][0], int(classes[0]))
    np.testing.assert_allclose(single, relevance[0])
    # By hand: pooled * weight, negatives cut, divided by the max.
    manual = component_relevance([1.0, 2.0, 3.0], [[1.0], [-1.0], [0.5]], 0)
    np.testing.assert_allclose(manual, [1.0 / 1.5, 0.0, 1.0])
    np.testing.assert_array_equal(component_relevance([1.0, 1.0], [[-1.0], [-2.0]], 0), [0, 0])
    assert list(relevant_components([0.05, 1.0, 0.3], threshold=0.1)) == [1, 2]


def test_removing_relevant_components_hurts_more_than_removing_random_ones(toy, tmp_path):
    interpreter, classifier = toy["interpreter"], toy["classifier"]
    clips = toy["test_clips"]
    out = interpreter.predict(images(clips))
    predicted = np.asarray(classifier(images(clips), training=False)).argmax(1)
    relevances = interpreter.relevance(out["pooled"], predicted)
    result = faithfulness(classify_with(classifier), clips, out["H"], relevances, toy["W"],
                          SETTINGS, predicted, relevance_threshold=0.1, seed=0)
    median = result["median"]
    assert all(np.isfinite(v) for v in median.values()), median
    for key in ("relevant_logit", "relevant_probability", "random_logit", "random_probability"):
        assert result["per_clip"][key].shape == (len(clips),)
    assert np.all(result["per_clip"]["n_removed"] >= 1)
    # Observed medians: probability drop 0.580 for the relevant components against 0.000 for
    # random ones; logit drop 4.95 against -0.18 (2 to 5 of 12 components removed per clip).
    # Over interpreter seeds 0-4 the relevant probability drop ranged 0.36-0.77, random 0.00.
    assert median["relevant_probability"] > median["random_probability"] + 0.25, median
    assert median["relevant_logit"] > median["random_logit"] + 2.0, median
    # The listenable explanation is a WAV of the clip's length.
    path = write_explanation(tmp_path / "why.wav", clips[0], toy["W"], out["H"][0], relevances[0],
                             SETTINGS)
    audio, sr = soundfile.read(tmp_path / "why.wav")
    assert sr == SR and audio.shape == clips[0].shape and path.shape == clips[0].shape


def test_save_and_load_give_identical_predictions(toy, tmp_path):
    interpreter = toy["interpreter"]
    test_images = images(toy["test_clips"][:5])
    interpreter.save(tmp_path / "interp")
    loaded = Interpreter.load(tmp_path / "interp", toy["classifier"])
    before, after = interpreter.predict(test_images), loaded.predict(test_images)
    for key in ("H", "pooled", "logits", "probabilities"):
        np.testing.assert_array_equal(before[key], after[key])
    np.testing.assert_array_equal(loaded.W, interpreter.W)
    assert loaded.stft_settings == SETTINGS and loaded.layer_name == LAYER
    # A classifier without the layer, or with a different map shape, is refused.
    with pytest.raises(ValueError, match="no layer"):
        Interpreter.load(tmp_path / "interp", keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(3, name="logits")]))
    other = keras.Sequential([keras.Input((16, 16, 1)),
                              keras.layers.Conv2D(2, 3, name=LAYER),
                              keras.layers.Flatten(), keras.layers.Dense(3, name="logits")])
    with pytest.raises(ValueError, match="trained on"):
        Interpreter.load(tmp_path / "interp", other)
    with pytest.raises(ValueError, match="missing"):
        Interpreter.load(tmp_path, toy["classifier"])


def test_multi_label_classifier_path(toy):
    clips, labels = toy_clips(12, seed=5, multi_label=True)
    classifier = trained_classifier(clips, labels, "sigmoid")
    specs = np.stack([log_magnitude(c, SETTINGS)[0] for c in clips])
    interpreter = train_interpreter(classifier, LAYER, images(clips), specs, toy["W"], epochs=30,
                                    learning_rate=3e-3, seed=0)
    assert interpreter.multi_label  # inferred from the sigmoid output
    test_clips, _ = toy_clips(6, seed=6, multi_label=True)
    out = interpreter.predict(images(test_clips))
    assert np.all((out["probabilities"] >= 0) & (out["probabilities"] <= 1))
    classifier_probabilities = np.asarray(classifier(images(test_clips), training=False))
    scores = fidelity(out["probabilities"], classifier_probabilities, multi_label=True)
    assert 0.0 <= scores["auprc"] <= 1.0 and scores["n_classes_scored"] >= 1
    assert scores["auprc"] > 0.8, scores  # observed 1.0 (the classifier: 0.96 label accuracy)
    # Hand-checked AUPRC: a perfect ranking scores 1, a reversed one less.
    perfect = fidelity([[0.9], [0.1]], [[0.8], [0.2]], multi_label=True)
    reversed_ = fidelity([[0.1], [0.9]], [[0.8], [0.2]], multi_label=True)
    assert perfect["auprc"] == 1.0 and reversed_["auprc"] == 0.5


def test_fidelity_top_k_by_hand():
    interp = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
    classif = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    scores = fidelity(interp, classif)
    assert scores["top1"] == pytest.approx(1 / 3)
    assert scores["top3"] == scores["top5"] == 1.0


def test_bad_arguments_raise_value_error(toy):
    W, clip = toy["W"], toy["test_clips"][0]
    X = log_magnitude(clip, SETTINGS)[0]
    H = activations(W, X)
    with pytest.raises(ValueError, match="n_fft"):
        StftSettings(n_fft=0, hop_length=128, sr=SR)
    with pytest.raises(ValueError, match="hop_length"):
        StftSettings(n_fft=256, hop_length=512, sr=SR)
    with pytest.raises(ValueError, match="1-D"):
        log_magnitude(np.zeros((2, 100)), SETTINGS)
    with pytest.raises(ValueError, match="non-negative"):
        learn_dictionary([-X], n_components=2)
    with pytest.raises(ValueError, match="frequency bins"):
        learn_dictionary([X, X[:-1]], n_components=2)
    with pytest.raises(ValueError, match="n_components"):
        learn_dictionary([X], n_components=0)
    with pytest.raises(ValueError, match="frequency bins"):
        activations(W, X[:-1])
    with pytest.raises(ValueError, match="component indices"):
        resynthesize(clip, W, H, [N_COMPONENTS], SETTINGS)
    with pytest.raises(ValueError, match="frames"):
        resynthesize(clip, W, H[:, :-1], [0], SETTINGS)
    with pytest.raises(ValueError, match="non-negative"):
        istft(-np.ones_like(X), np.ones_like(X), SETTINGS, length=SR)
    with pytest.raises(ValueError, match="no layer"):
        train_interpreter(toy["classifier"], "nope", images(toy["test_clips"][:2]),
                          np.stack([X, X]), W)
    with pytest.raises(ValueError, match="same"):
        train_interpreter(toy["classifier"], LAYER, images(toy["test_clips"][:3]),
                          np.stack([X, X]), W)
    with pytest.raises(ValueError, match="freq"):
        train_interpreter(toy["classifier"], LAYER, images(toy["test_clips"][:2]),
                          np.stack([X, X])[:, :-1], W)
    with pytest.raises(ValueError, match="time_axis"):
        build_interpreter((4, 5, 2), 3, 10, 2, time_axis=3)
    with pytest.raises(ValueError, match="class_index"):
        component_relevance(np.ones(3), np.ones((3, 2)), 2)
    with pytest.raises(ValueError, match="n_classes"):
        fidelity(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="relevances"):
        faithfulness(classify_with(toy["classifier"]), clip[None], H[None], np.ones((1, 2)), W,
                     SETTINGS, [0])
