"""PANNs builders, layers and the strict converter (no torch needed; parity is parity_test.py)."""

import keras
import numpy as np
import pytest

from modules.models.panns import (LAST_CONV_LAYER, cnn6, cnn10, cnn14, cnn14_decision_level_att,
                                  cnn14_decision_level_avg, cnn14_decision_level_max)
from modules.models.panns.convert import convert_state_dict, state_dict_from_keras
from modules.models.panns.layers import ConvBlock, FusedBatchNormalization, SegmentPooling
from modules.models.presets import PANNS_16K, PANNS_32K, frontend_settings

SR = PANNS_32K.sr


def audio(seconds=1.0, batch=2, seed=0):
    noise = np.random.default_rng(seed).standard_normal((batch, int(seconds * SR)))
    return (0.1 * noise).astype(np.float32)


@pytest.fixture(scope="module")
def cnn14_model():
    return cnn14(seed=0)


@pytest.mark.parametrize("builder, family, width", [(cnn6, "cnn6", 512), (cnn10, "cnn10", 1024),
                                                    (cnn14, "cnn14", 2048)])
def test_builders_return_the_published_outputs_and_layer_names(builder, family, width, request):
    model = (request.getfixturevalue("cnn14_model") if family == "cnn14"
             else builder(n_classes=527, seed=0))
    outputs = model(audio(), training=False)
    assert set(outputs) == {"clipwise_output", "embedding"}
    assert outputs["clipwise_output"].shape == (2, 527)
    assert outputs["embedding"].shape == (2, width)
    clipwise = np.asarray(outputs["clipwise_output"])
    assert np.all((clipwise > 0) & (clipwise < 1))
    names = {layer.name for layer in model.layers}
    assert {"logmel_extractor", "time_major", "bn0", "spec_augmenter", "fc1", "fc_audioset",
            "clipwise_output", "embedding", LAST_CONV_LAYER[family]} <= names
    assert isinstance(model.get_layer(LAST_CONV_LAYER[family]), ConvBlock)
    assert model.get_layer("bn0").epsilon == 1e-5 and model.get_layer("bn0").axis == 2
    assert builder.default_preset is PANNS_32K
    assert frontend_settings(model)["sr"] == 32000


def test_cnn14_weights_match_the_published_parameter_count(cnn14_model):
    # Cnn14 with 527 classes: 80,753,615 trainable parameters, as published (+ BN statistics).
    assert sum(int(np.prod(w.shape)) for w in cnn14_model.trainable_weights) == 80_753_615


@pytest.mark.parametrize("level", ["max", "avg", "att"])
def test_decision_levels_give_one_framewise_row_per_input_frame(level):
    model = cnn6(n_classes=7, decision_level=level, seed=1)
    samples = int(1.3 * SR)  # 131 frames -> 8 segments (ratio 16) -> 128 rows + 3 repeated
    outputs = {k: np.asarray(v) for k, v in model(audio(1.3, seed=1), training=False).items()}
    assert set(outputs) == {"clipwise_output", "embedding", "framewise_output"}
    frames = PANNS_32K.n_frames(samples)
    assert outputs["framewise_output"].shape == (2, frames, 7)
    assert outputs["embedding"].shape == (2, 512)
    framewise = outputs["framewise_output"]
    segments = framewise[:, ::16][:, :8]
    # Each segment repeated 16 times, then the last one repeated to the frame count.
    expected_index = np.minimum(np.arange(frames) // 16, 7)
    np.testing.assert_array_equal(framewise, segments[:, expected_index])
    if level == "max":
        np.testing.assert_allclose(outputs["clipwise_output"], segments.max(axis=1), rtol=1e-6)
    elif level == "avg":
        np.testing.assert_allclose(outputs["clipwise_output"], segments.mean(axis=1), rtol=1e-5)
    else:
        assert np.all((outputs["clipwise_output"] >= 0) & (outputs["clipwise_output"] <= 1))


@pytest.mark.parametrize("builder, level", [(cnn14_decision_level_max, "max"),
                                            (cnn14_decision_level_avg, "avg"),
                                            (cnn14_decision_level_att, "att")])
def test_cnn14_decision_level_builders(builder, level):
    model = builder(n_classes=5, kernel_initializer="zeros")  # zeros: fast to build
    assert model.name == f"cnn14_decision_level_{level}"
    assert builder.default_preset is PANNS_32K
    outputs = model(audio(1.0), training=False)
    assert outputs["framewise_output"].shape == (2, PANNS_32K.n_frames(SR), 5)
    assert outputs["clipwise_output"].shape == (2, 5) and outputs["embedding"].shape == (2, 2048)
    assert ("att_block" in {l.name for l in model.layers}) == (level == "att")


def test_segment_pooling_follows_torch_padding():
    x = np.array([[[1.0], [5.0], [-2.0], [3.0]]], np.float32)  # (1, time 4, 1)
    # max_pool1d(k3, s1, p1) pads with -inf; avg_pool1d counts the zero padding (divides by 3).
    expected_max = np.array([5.0, 5.0, 5.0, 3.0])
    expected_avg = np.array([(0 + 1 + 5) / 3, (1 + 5 - 2) / 3, (5 - 2 + 3) / 3, (-2 + 3 + 0) / 3])
    np.testing.assert_allclose(np.asarray(SegmentPooling()(x))[0, :, 0], expected_max + expected_avg,
                               rtol=1e-6)


@pytest.mark.parametrize("kernel_size, pool", [(3, (1, 1)), (5, (2, 2))])
def test_conv_block_matmul_form_equals_the_convolution(kernel_size, pool):
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(1).standard_normal((2, 9, 2, 8)).astype(np.float32))
    blocks = [ConvBlock(16, kernel_size=kernel_size, pool_size=pool, implementation=impl)
              for impl in ("conv", "matmul")]
    for block in blocks:
        block.build(x.shape)
    blocks[1].set_weights(blocks[0].get_weights())
    results = []
    for block in blocks:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = block(x, training=True)
            loss = tf.reduce_sum(y * tf.cos(y))
        results.append([y, *tape.gradient(loss, [x, block.conv1.kernel])])
    for conv_value, matmul_value in zip(*results):
        np.testing.assert_allclose(matmul_value, conv_value, rtol=1e-4, atol=1e-5)
    # "auto" picks the matmul form only for narrow maps: Cnn14's sixth block (2 mel bins).
    assert blocks[0]._use_matmul(x) is False and ConvBlock(4)._use_matmul(x) is True
    assert ConvBlock(4)._use_matmul(tf.zeros((1, 9, 4, 8))) is False
    assert ConvBlock.from_config(blocks[1].get_config()).implementation == "matmul"


@pytest.mark.parametrize("axis, shape", [(-1, (4, 30, 8, 6)), (2, (4, 30, 8, 1))])
def test_fused_batch_norm_trains_like_keras_with_torch_running_variance(axis, shape):
    import tensorflow as tf

    fused = FusedBatchNormalization(axis=axis, momentum=0.9, epsilon=1e-5)
    plain = keras.layers.BatchNormalization(axis=axis, momentum=0.9, epsilon=1e-5)
    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, shape).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y_fused, y_plain = fused(x, training=True), plain(x, training=True)
        loss_fused, loss_plain = (tf.reduce_sum(y * tf.sin(x)) for y in (y_fused, y_plain))
    np.testing.assert_allclose(y_fused, y_plain, atol=1e-5)
    np.testing.assert_allclose(tape.gradient(loss_fused, x), tape.gradient(loss_plain, x), atol=1e-4)
    np.testing.assert_allclose(tape.gradient(loss_fused, fused.gamma),
                               tape.gradient(loss_plain, plain.gamma), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(fused.moving_mean, plain.moving_mean, atol=1e-6)
    # torch updates the running variance with the unbiased batch variance.
    n = np.prod(shape) / shape[axis]
    unbiased = np.var(np.moveaxis(np.asarray(x), axis, -1).reshape(-1, shape[axis]), axis=0) * n / (n - 1)
    np.testing.assert_allclose(fused.moving_variance, 0.9 + 0.1 * unbiased, rtol=1e-5)
    # Inference is Keras' own path.
    plain.set_weights(fused.get_weights())
    np.testing.assert_array_equal(fused(x, training=False), plain(x, training=False))


@pytest.mark.parametrize("level", ["max", "avg", "att"])
def test_decision_level_clip_outputs_report_their_activation(level):
    from modules.models.finetune import output_activation

    model = cnn6(n_classes=3, decision_level=level, kernel_initializer="zeros")
    assert output_activation(model) == "sigmoid"
    model = cnn6(n_classes=3, decision_level=level, clip_activation="softmax", kernel_initializer="zeros")
    assert output_activation(model) == "softmax"


def test_softmax_clip_activation_sums_to_one():
    outputs = cnn6(n_classes=4, clip_activation="softmax")(audio(), training=False)
    np.testing.assert_allclose(np.asarray(outputs["clipwise_output"]).sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("builder, level", [(cnn6, None), (cnn6, "att"), (cnn10, None),
                                            (cnn14, None)])
def test_one_training_step_changes_weights_with_a_finite_loss(builder, level):
    model = builder(n_classes=527, decision_level=level, seed=2)
    trainable = keras.Model(model.input, model.output["clipwise_output"])
    trainable.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    x = audio(1.0, seed=3)
    y = np.zeros((2, 527), np.float32)
    y[0, 3] = y[1, 10] = 1.0
    head = model.get_layer("att_block").cla if level == "att" else model.get_layer("fc_audioset")
    watched = [head.kernel, model.get_layer("conv_block1").conv1.kernel,
               model.get_layer("bn0").moving_mean]
    before = [np.array(w.numpy()) for w in watched]
    loss = trainable.train_on_batch(x, y)
    assert np.isfinite(loss)
    for weight, old in zip(watched, before):
        assert not np.allclose(weight.numpy(), old), weight.path


def test_spec_augment_is_active_only_in_training():
    model = cnn6(n_classes=3, seed=4)
    probe = keras.Model(model.input, [model.get_layer("bn0").output,
                                      model.get_layer("spec_augmenter").output])
    x = audio(2.0, seed=5)
    normalised, augmented = (np.asarray(t) for t in probe(x, training=False))
    np.testing.assert_array_equal(augmented, normalised)
    normalised, augmented = (np.asarray(t) for t in probe(x, training=True))
    dropped = (augmented == 0) & (normalised != 0)
    assert dropped.any()
    np.testing.assert_array_equal(augmented[~dropped], normalised[~dropped])
    assert "spec_augmenter" not in {l.name for l in cnn6(n_classes=3, spec_augment=False).layers}


@pytest.mark.parametrize("builder, level", [(cnn6, None), (cnn6, "att"), (cnn6, "max"),
                                            (cnn10, "avg"), (cnn14, None)])
def test_save_and_reload_give_identical_outputs(tmp_path, builder, level):
    model = builder(n_classes=6, decision_level=level, seed=6)
    x = audio(1.5, seed=7)
    model.save(tmp_path / "panns.keras")
    reloaded = keras.models.load_model(tmp_path / "panns.keras")
    before, after = model(x, training=False), reloaded(x, training=False)
    assert set(before) == set(after)
    for key in before:
        np.testing.assert_array_equal(np.asarray(before[key]), np.asarray(after[key]))
    assert frontend_settings(reloaded) == frontend_settings(model)


def test_preset_by_name_sets_the_front_end():
    model = cnn6(n_classes=3, preset="panns_16k")
    settings = frontend_settings(model)
    assert (settings["sr"], settings["n_fft"], settings["hop_length"]) == (16000, 512, 160)
    assert model(np.zeros((1, 16000), np.float32) + 0.01)["clipwise_output"].shape == (1, 3)


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="takes a waveform"):
        cnn6((64, 100, 1), n_classes=3)
    with pytest.raises(ValueError, match="clip_activation"):
        cnn6(clip_activation="relu")
    with pytest.raises(ValueError, match="decision_level"):
        cnn6(decision_level="mean")
    with pytest.raises(ValueError, match="unknown option.*l2"):
        cnn6(l2=1e-4)
    with pytest.raises(ValueError, match="unknown front-end preset"):
        cnn6(preset="panns_44k")


# ---------------------------------------------------------------------------------------------
# Converter, on state_dicts of numpy arrays made from small Keras models
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cnn6_state():
    model = cnn6(n_classes=10, seed=8)
    return model, state_dict_from_keras(model)


def test_converter_round_trips_a_state_dict_and_infers_the_classes(cnn6_state):
    model, state_dict = cnn6_state
    converted = convert_state_dict({f"module.{k}": v for k, v in state_dict.items()}, "cnn6")
    assert converted.output["clipwise_output"].shape == (None, 10)
    x = audio(1.0, seed=9)
    np.testing.assert_array_equal(np.asarray(converted(x, training=False)["clipwise_output"]),
                                  np.asarray(model(x, training=False)["clipwise_output"]))


def test_converter_rejects_an_unknown_key(cnn6_state):
    _, state_dict = cnn6_state
    with pytest.raises(ValueError, match=r"no place in the Keras Cnn6:\n  conv_block9\.conv1\.weight"):
        convert_state_dict({**state_dict, "conv_block9.conv1.weight": np.zeros((3, 3, 3, 3))}, "Cnn6")


def test_converter_rejects_a_missing_key(cnn6_state):
    _, state_dict = cnn6_state
    incomplete = {k: v for k, v in state_dict.items() if k != "conv_block2.bn1.running_var"}
    with pytest.raises(ValueError, match=r"does not provide:\n  conv_block2/bn1/moving_variance "
                                         r"\(checkpoint key conv_block2\.bn1\.running_var\)"):
        convert_state_dict(incomplete, "Cnn6")


def test_converter_rejects_a_shape_mismatch(cnn6_state):
    _, state_dict = cnn6_state
    wrong = {**state_dict, "conv_block3.conv1.weight": np.zeros((256, 128, 3, 3), np.float32)}
    with pytest.raises(ValueError, match=r"conv_block3\.conv1\.weight: checkpoint has shape "
                                         r"\(256, 128, 3, 3\), the Keras Cnn6 needs \(256, 128, 5, 5\)"):
        convert_state_dict(wrong, "Cnn6")


def test_converter_rejects_a_checkpoint_of_another_front_end(cnn6_state):
    _, state_dict = cnn6_state
    other = state_dict_from_keras(cnn6(n_classes=10, preset=PANNS_16K, kernel_initializer="zeros"))
    with pytest.raises(ValueError, match=r"melW has shape \(257, 64\) \(n_fft=512.*"
                                         r"\(n_fft=1024.*matches preset panns_16k"):
        convert_state_dict({**state_dict, "logmel_extractor.melW": other["logmel_extractor.melW"],
                            "spectrogram_extractor.stft.conv_real.weight":
                                state_dict["spectrogram_extractor.stft.conv_real.weight"]}, "Cnn6")
    # Same shape, different band edges: named with both spans.
    shifted = PANNS_32K.replace(name="shifted", fmin=0.0, fmax=16000.0).logmel_layer()._mel_matrix_t
    with pytest.raises(ValueError, match=r"melW differs.*checkpoint's filters span about "
                                         r"31-15969 Hz at sr=32000 while ours span 62-13969 Hz"):
        convert_state_dict({**state_dict, "logmel_extractor.melW": shifted}, "Cnn6")
    from modules.models.panns.convert import _canonical_name

    assert _canonical_name("Cnn13_DecisionLevelAvg") == "Cnn14_DecisionLevelAvg"
    with pytest.raises(ValueError, match="unknown PANNs model"):
        convert_state_dict(state_dict, "Cnn99")
