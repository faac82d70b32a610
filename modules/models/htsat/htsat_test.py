"""HTS-AT without torch: shapes, the bicubic stretch, Swin windows, training, saving, conversion."""

import math
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from modules.frontend import mel_filterbank
from modules.models.checkpoints import frontend_constants
from modules.models.htsat import convert_state_dict, htsat, load_checkpoint
from modules.models.htsat.convert import _strip_prefixes
from modules.models.htsat.layers import (AlignCornersBicubicResize, FoldSpectrogram, TokenSemanticRegroup,
                                         align_corners_cubic_taps, relative_position_index,
                                         shifted_window_mask, window_partition, window_reverse)
from modules.models.presets import HTSAT_32K

# A tiny HTS-AT: 16 mel bins folded 4 times into a 64 x 64 image, 16 x 16 patches, two stages
# (grids 16 and 8, both larger than the 4 x 4 window, so odd blocks are shifted).
TINY_PRESET = HTSAT_32K.replace(name="htsat_tiny_test", mel_bins=16)
TINY = dict(preset=TINY_PRESET, spec_size=64, embed_dim=16, depths=(2, 2), num_heads=(1, 2),
            window_size=4, patch_size=4)
SAMPLES = 16000  # 51 frames, stretched to 256


def tiny_model(n_classes=5, **options):
    return htsat((SAMPLES,), n_classes=n_classes, **{**TINY, **options})


def waveforms(batch=2, samples=SAMPLES, seed=0):
    return (np.random.default_rng(seed).normal(size=(batch, samples)) * 0.1).astype("float32")


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return tiny_model(seed=3)


# ----------------------------------------------------------------------------------------------
def test_tiny_forward_shapes_names_and_outputs(model):
    assert htsat.default_preset is HTSAT_32K
    shapes = {key: tuple(tensor.shape) for key, tensor in model.output.items()}
    assert shapes == {"framewise_output": (None, 256, 5), "clipwise_output": (None, 5),
                      "embedding": (None, 32)}
    names = {layer.name for layer in model.layers}
    assert {"waveform", "logmel_extractor", "time_major", "bn0", "spec_augmenter", "interpolate_time",
            "reshape_wav2img", "patch_embed_proj", "patch_embed_norm", "layers_0_blocks_0",
            "layers_0_blocks_1", "layers_0_downsample", "layers_1_blocks_1", "norm", "embedding",
            "tscam_conv", "tscam_logits", "clipwise_output", "framewise_output"} <= names
    assert "layers_1_downsample" not in names and "interpolate_freq" not in names
    assert model.get_layer("layers_0_blocks_1").shift_size == 2
    assert model.get_layer("layers_0_blocks_0").shift_size == 0

    x = waveforms()
    probe = keras.Model(model.input, [model.get_layer("tscam_logits").output, model.output])
    logits, out = probe.predict(x, verbose=0)
    assert set(out) == {"framewise_output", "clipwise_output", "embedding"}
    # clip = sigmoid(mean over time of the token-semantic logits); frames repeat each step 8 times.
    np.testing.assert_allclose(out["clipwise_output"], 1 / (1 + np.exp(-logits.mean(axis=1))), rtol=1e-5)
    np.testing.assert_allclose(out["framewise_output"], np.repeat(1 / (1 + np.exp(-logits)), 8, axis=1),
                               rtol=1e-5)
    assert np.isfinite(out["embedding"]).all()


def test_variable_length_input_and_frequency_stretch():
    # 14 mel bins < 64 / 4: the mel axis is stretched too; (None,) takes any length up to 256 frames.
    model = htsat((None,), n_classes=3, **{**TINY, "preset": TINY_PRESET.replace(mel_bins=14)})
    assert "interpolate_freq" in {layer.name for layer in model.layers}
    for samples in (8000, 81600):  # 26 frames, 256 frames
        out = model.predict(waveforms(1, samples), verbose=0)
        assert out["framewise_output"].shape == (1, 256, 3)
    # A static length of exactly 256 frames skips the stretch; same numbers as the dynamic path.
    static = htsat((81600,), n_classes=3, **{**TINY, "preset": TINY_PRESET.replace(mel_bins=14)})
    static.set_weights(model.get_weights())
    expected = static.predict(waveforms(1, 81600), verbose=0)
    for key, value in expected.items():
        np.testing.assert_allclose(out[key], value, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="more than the 256"):
        htsat((81920,), n_classes=3, **TINY)


def test_bad_configurations_say_what_is_wrong():
    with pytest.raises(ValueError, match="num_heads"):
        htsat(n_classes=3, **{**TINY, "num_heads": (3, 2)})
    with pytest.raises(ValueError, match="same length"):
        htsat(n_classes=3, **{**TINY, "depths": (2, 2, 2)})
    with pytest.raises(ValueError, match="input_shape"):
        htsat((16, 100, 1), n_classes=3, **TINY)


# ----------------------------------------------------------------------------------------------
def torch_bicubic_reference(x: np.ndarray, out_size: int, axis: int = 1) -> np.ndarray:
    """Independent NumPy version of torch's bicubic align_corners=True resize of one axis:
    each output is sum_k x[clamp(j + k)] * W(|t - k|), k = -1..2, with the Keys kernel (A = -0.75)
    W(d) = (A+2)d^3 - (A+3)d^2 + 1 for d <= 1 and A d^3 - 5A d^2 + 8A d - 4A for 1 < d < 2."""
    a = -0.75

    def kernel(d):
        if d <= 1:
            return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
        return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a

    x = np.moveaxis(x.astype(np.float64), axis, 0)
    size = x.shape[0]
    out = np.zeros((out_size,) + x.shape[1:])
    for i in range(out_size):
        # torch computes the scale and the position in float32; the rest here is float64.
        scale = np.float32(size - 1) / np.float32(out_size - 1) if out_size > 1 else np.float32(0)
        position = float(scale * np.float32(i))
        j = min(math.floor(position), size - 1)
        t = position - j
        for k in range(-1, 3):
            out[i] += x[min(max(j + k, 0), size - 1)] * kernel(abs(t - k))
    return np.moveaxis(out, 0, axis)


@pytest.mark.parametrize("length", [1, 2, 7, 100, 251])
def test_bicubic_stretch_matches_torch_formula(length):
    x = np.random.default_rng(length).normal(size=(2, length, 5, 1)).astype("float32") * 3
    expected = torch_bicubic_reference(x, 256)
    static = AlignCornersBicubicResize(256, axis=1)(x).numpy()
    np.testing.assert_allclose(static, expected, atol=1e-5)
    # The dynamic-length path (graph, length known only at run time) gives the same numbers.
    layer = AlignCornersBicubicResize(256, axis=1)
    dynamic = tf.function(layer.call, input_signature=[tf.TensorSpec((None, None, 5, 1), tf.float32)])
    np.testing.assert_allclose(dynamic(x).numpy(), static, atol=1e-6)


def test_bicubic_stretch_is_the_identity_at_equal_length_and_works_on_any_axis():
    x = np.random.default_rng(1).normal(size=(2, 64, 9, 1)).astype("float32")
    np.testing.assert_array_equal(AlignCornersBicubicResize(64, axis=1)(x).numpy(), x)
    indices, weights = align_corners_cubic_taps(64, 64)
    np.testing.assert_array_equal(weights, np.tile([0.0, 1.0, 0.0, 0.0], (64, 1)))
    dynamic = tf.function(lambda v: align_corners_cubic_taps(tf.shape(v)[0], 64),
                          input_signature=[tf.TensorSpec((None,), tf.float32)])
    np.testing.assert_array_equal(dynamic(tf.zeros(64))[1].numpy(), weights)
    np.testing.assert_allclose(AlignCornersBicubicResize(16, axis=2)(x).numpy(),
                               torch_bicubic_reference(x, 16, axis=2), atol=1e-5)
    with pytest.raises(ValueError, match="more than"):
        AlignCornersBicubicResize(32, axis=1)(x)


def test_fold_and_regroup_follow_the_reference_layout():
    x = np.arange(2 * 16 * 3, dtype="float32").reshape(2, 16, 3, 1)  # (batch, time, freq, 1)
    folded = FoldSpectrogram(4)(x).numpy()[..., 0]  # (2, 12, 4)
    for r in range(4):  # time chunk r sits at rows r*3 .. r*3+2
        chunk = x[:, r * 4:(r + 1) * 4, :, 0].transpose(0, 2, 1)  # (batch, freq, frame)
        np.testing.assert_array_equal(folded[:, r * 3:(r + 1) * 3, :], chunk)
    tokens = np.arange(2 * 8 * 2 * 3, dtype="float32").reshape(2, 8 * 2, 3)  # grid (8 rows, 2 cols)
    grouped = TokenSemanticRegroup((8, 2), 4)(tokens).numpy()  # (2, 2, 8, 3)
    grid = tokens.reshape(2, 8, 2, 3)
    for r in range(4):
        np.testing.assert_array_equal(grouped[:, :, r * 2:(r + 1) * 2], grid[:, r * 2:(r + 1) * 2])


# ----------------------------------------------------------------------------------------------
def test_window_partition_round_trip_and_content():
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 8, 12, 3)).astype("float32"))
    windows = window_partition(x, 4)
    assert windows.shape == (2 * 2 * 3, 4, 4, 3)
    np.testing.assert_array_equal(windows[7].numpy(), x[1, 0:4, 4:8].numpy())  # example 1, window (0, 1)
    np.testing.assert_array_equal(window_reverse(windows, 4, 8, 12).numpy(), x.numpy())


def test_relative_position_index_and_shift_mask():
    index = relative_position_index(4)
    assert index.shape == (16, 16) and index.min() == 0 and index.max() == 7 * 7 - 1
    assert (np.diag(index) == 3 * 7 + 3).all()  # zero offset: the centre of the table
    assert index[0, 15] == 0 and index[15, 0] == 7 * 7 - 1  # offset (-3, -3) and (+3, +3)
    mask = shifted_window_mask((8, 8), 4, 2)
    assert mask.shape == (4, 16, 16) and set(np.unique(mask)) == {0.0, -100.0}
    assert (mask[0] == 0).all()  # the top-left window holds one contiguous region
    np.testing.assert_array_equal(mask, mask.transpose(0, 2, 1))
    # In the last window (wrapped in both directions) token (0,0) and token (3,3) come from
    # opposite corners of the image: masked; tokens (0,0), (1,1) share a region: not masked.
    assert mask[3, 0, 15] == -100.0 and mask[3, 0, 5] == 0.0


# ----------------------------------------------------------------------------------------------
def test_one_training_step_changes_the_weights(model):
    keras.utils.set_random_seed(1)
    trainable = keras.Model(model.input, model.output["clipwise_output"])
    trainable.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    before = [w.numpy().copy() for w in trainable.trainable_weights]
    moving_mean = model.get_layer("bn0").moving_mean.numpy().copy()
    labels = (np.random.default_rng(2).random((4, 5)) > 0.5).astype("float32")
    loss = trainable.train_on_batch(waveforms(4), labels)
    assert np.isfinite(loss)
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, trainable.trainable_weights)]
    assert all(changed), [w.path for w, c in zip(trainable.trainable_weights, changed) if not c]
    assert not np.array_equal(moving_mean, model.get_layer("bn0").moving_mean.numpy())


def test_save_and_reload_give_identical_outputs(model, tmp_path):
    x = waveforms(seed=5)
    model.save(tmp_path / "htsat.keras")
    loaded = keras.models.load_model(tmp_path / "htsat.keras")
    expected, actual = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    for key in expected:
        np.testing.assert_array_equal(actual[key], expected[key])


# ----------------------------------------------------------------------------------------------
def export_state_dict(model, preset=TINY_PRESET):
    """The model's weights as an HTS-AT PyTorch state dict (numpy), buffers and constants included."""
    state = {}

    def dense(prefix, layer):
        state[f"{prefix}.weight"] = layer.kernel.numpy().T
        if layer.bias is not None:
            state[f"{prefix}.bias"] = layer.bias.numpy()

    def norm(prefix, layer):
        state[f"{prefix}.weight"], state[f"{prefix}.bias"] = layer.gamma.numpy(), layer.beta.numpy()

    def conv(prefix, layer):
        state[f"{prefix}.weight"] = layer.kernel.numpy().transpose(3, 2, 0, 1)
        state[f"{prefix}.bias"] = layer.bias.numpy()

    # torchlibrosa's STFT kernels and mel matrix (the converter checks them against the preset).
    state.update(frontend_constants(preset.logmel_layer()))
    bn0 = model.get_layer("bn0")
    norm("bn0", bn0)
    state["bn0.running_mean"], state["bn0.running_var"] = bn0.moving_mean.numpy(), bn0.moving_variance.numpy()
    state["bn0.num_batches_tracked"] = np.array(7)
    conv("patch_embed.proj", model.get_layer("patch_embed_proj"))
    norm("patch_embed.norm", model.get_layer("patch_embed_norm"))
    for layer in model.layers:
        if layer.name.startswith("layers_") and "_blocks_" in layer.name:
            stage, block = layer.name.split("_")[1], layer.name.split("_")[3]
            prefix = f"layers.{stage}.blocks.{block}"
            norm(f"{prefix}.norm1", layer.norm1)
            table = layer.attn.relative_position_bias_table
            state[f"{prefix}.attn.relative_position_bias_table"] = table.numpy()
            state[f"{prefix}.attn.relative_position_index"] = layer.attn.relative_position_index
            dense(f"{prefix}.attn.qkv", layer.attn.qkv)
            dense(f"{prefix}.attn.proj", layer.attn.proj)
            norm(f"{prefix}.norm2", layer.norm2)
            dense(f"{prefix}.mlp.fc1", layer.mlp.fc1)
            dense(f"{prefix}.mlp.fc2", layer.mlp.fc2)
            if layer.attn_mask is not None:
                state[f"{prefix}.attn_mask"] = layer.attn_mask
        elif layer.name.endswith("_downsample"):
            prefix = f"layers.{layer.name.split('_')[1]}.downsample"
            dense(f"{prefix}.reduction", layer.reduction)
            norm(f"{prefix}.norm", layer.norm)
    norm("norm", model.get_layer("norm"))
    conv("tscam_conv", model.get_layer("tscam_conv"))
    n_classes = model.get_layer("tscam_conv").filters
    state["head.weight"] = np.eye(n_classes, dtype="float32")
    state["head.bias"] = np.zeros(n_classes, "float32")
    return state


@pytest.fixture(scope="module")
def fake_state(model):
    # Random BN statistics, so that a mix-up of gamma / moving variance would show.
    rng = np.random.default_rng(0)
    state = export_state_dict(model)
    state["bn0.running_mean"] = rng.uniform(-60, -20, 16).astype("float32")
    state["bn0.running_var"] = rng.uniform(100, 400, 16).astype("float32")
    return state


def test_converter_round_trip_infers_the_sizes(model, fake_state):
    # Only the preset and input shape are given: classes, widths, depths, heads, window and
    # spec_size are read from the state dict.
    converted = convert_state_dict(fake_state, preset=TINY_PRESET, input_shape=(SAMPLES,),
                                   spec_augment=False)
    assert converted.get_layer("layers_1_blocks_1").attn.num_heads == 2
    np.testing.assert_array_equal(converted.get_layer("bn0").moving_variance.numpy(),
                                  fake_state["bn0.running_var"])
    reference = htsat((SAMPLES,), n_classes=5, spec_augment=False, **TINY)
    reference.set_weights(model.get_weights())
    reference.get_layer("bn0").moving_mean.assign(fake_state["bn0.running_mean"])
    reference.get_layer("bn0").moving_variance.assign(fake_state["bn0.running_var"])
    x = waveforms(seed=7)
    expected, actual = reference.predict(x, verbose=0), converted.predict(x, verbose=0)
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], rtol=1e-6, atol=1e-6)


def test_converter_refuses_unknown_missing_and_misshapen_keys(fake_state):
    options = dict(preset=TINY_PRESET, input_shape=(SAMPLES,))
    unknown = {**fake_state, "bogus.weight": np.zeros(3), "layers.0.blocks.0.attn.foo": np.zeros(1)}
    named = r"2 checkpoint keys .*: bogus\.weight, layers\.0\.blocks\.0\.attn\.foo$"
    with pytest.raises(ValueError, match=named):
        convert_state_dict(unknown, **options)
    missing = {k: v for k, v in fake_state.items() if k != "layers.1.blocks.0.mlp.fc2.bias"}
    with pytest.raises(ValueError, match="layers_1_blocks_0/mlp/fc2/bias"):
        convert_state_dict(missing, **options)
    with pytest.raises(ValueError, match=r"norm\.weight: checkpoint \(31,\).*\(32,\)"):
        convert_state_dict({**fake_state, "norm.weight": np.zeros(31, "float32")}, **options)
    bad_index = dict(fake_state)
    bad_index["layers.0.blocks.1.attn.relative_position_index"] = np.zeros((16, 16), "int64")
    with pytest.raises(ValueError, match="relative position index"):
        convert_state_dict(bad_index, **options)


def test_converter_checks_the_front_end(fake_state):
    # A filterbank computed for other settings: the error names both the checkpoint's and ours.
    other = TINY_PRESET.replace(fmax=8000.0)
    state = {**fake_state, "logmel_extractor.melW": mel_filterbank(32000, 1024, 16, 50.0, 8000.0).T}
    with pytest.raises(ValueError, match=r"melW.*htsat_tiny_test.*fmax=14000.0.*matches no known preset"):
        convert_state_dict(state, preset=TINY_PRESET)
    with pytest.raises(ValueError, match="bn0 normalises 16 mel bins"):
        convert_state_dict({k: v for k, v in fake_state.items() if k != "logmel_extractor.melW"},
                           preset=other.replace(mel_bins=17))
    with pytest.raises(ValueError, match="matches preset panns_16k"):
        panns_16k_mel = mel_filterbank(16000, 512, 64, 50.0, 8000.0).T
        convert_state_dict({**fake_state, "logmel_extractor.melW": panns_16k_mel}, preset=TINY_PRESET)


def test_checkpoint_prefixes_are_stripped():
    value = np.zeros(1)
    assert set(_strip_prefixes({"sed_model.norm.weight": value, "sed_model.bn0.bias": value})) == {
        "norm.weight", "bn0.bias"}
    clap = {"module.audio_branch.norm.weight": value, "module.text_branch.x": value,
            "module.audio_projection.0.weight": value}
    assert set(_strip_prefixes(clap)) == {"norm.weight"}
    assert set(_strip_prefixes({"norm.weight": value})) == {"norm.weight"}


def test_load_checkpoint_without_torch_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(ImportError, match=r"pip install -e \.\[reference\]"):
        load_checkpoint(tmp_path / "missing.ckpt")
