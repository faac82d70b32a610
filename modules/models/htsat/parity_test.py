"""Parity of the Keras HTS-AT with the PyTorch reference (laion-clap's ``clap_module/htsat.py``).

The reference is the full-size model (embed 96, depths 2-2-6-2, heads 4-8-16-32, window 8,
spec 256; 32 kHz, window 1024, hop 320, 64 mels, 50-14000 Hz) with random weights, random
BatchNorm statistics and a random relative position bias, in eval mode, converted with
``convert_state_dict``. Both are compared stage by stage on 320000 samples (1001 frames,
stretched to 1024) and 327360 samples (exactly 1024 frames, no stretch).

Tolerances (absolute, rtol 0), measured maximum errors on the development machine in brackets
(1001 frames / 1024 frames):

    log-mel (dB, values up to ~31)     1e-4   [1.6e-5 / 1.2e-5]
    after bn0                          1e-5   [1.4e-6 / 1.4e-6]
    after stretch + fold               2e-5   [5.2e-6 / 1.4e-6]  (torch's FMA-rounded cubic weights)
    after patch embedding + norm       2e-5   [2.1e-6 / 1.2e-6]
    after stages 1-4 (each)            3e-5   [6.4e-6 / 6.2e-6 at most]
    after the final norm               3e-5   [4.0e-6 / 3.6e-6]
    framewise_output                   1e-5   [1.5e-6 / 1.3e-6]
    clipwise_output                    2e-6   [2.4e-7 / 1.8e-7]
    embedding                          1e-5   [7.2e-7 / 9.5e-7]

The 1024-frame case runs first (Keras traces it with the static length: the stretch is skipped);
the 1001-frame call then retraces with a dynamic length, so the bicubic taps computed in the graph
are the ones checked against torch.
"""

import contextlib
import importlib
import importlib.util
import pathlib
import sys
import types
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchlibrosa")

import keras  # noqa: E402

from modules.models.htsat import convert_checkpoint, convert_state_dict, load_checkpoint  # noqa: E402
from modules.models.presets import HTSAT_32K  # noqa: E402

TOLERANCES = {  # stage -> absolute tolerance
    "time_major": 1e-4, "bn0": 1e-5, "reshape_wav2img": 2e-5, "patch_embed_norm": 2e-5,
    "layers_0_downsample": 3e-5, "layers_1_downsample": 3e-5, "layers_2_downsample": 3e-5,
    "layers_3_blocks_1": 3e-5, "norm": 3e-5,
    "framewise_output": 1e-5, "clipwise_output": 2e-6, "embedding": 1e-5,
}
STAGE_OUTPUTS = ("layers_0_downsample", "layers_1_downsample", "layers_2_downsample", "layers_3_blocks_1")


@contextlib.contextmanager
def _stubbed_torchvision():
    """laion-clap's utils.py imports torchvision.ops.misc.FrozenBatchNorm2d, which HTS-AT never
    uses; torchvision is not installed here, so a stub stands in while the module is imported."""
    try:
        importlib.import_module("torchvision.ops.misc")
        yield
        return
    except ImportError:
        pass
    names = ("torchvision", "torchvision.ops", "torchvision.ops.misc")
    saved = {name: sys.modules.get(name) for name in names}
    modules = {name: types.ModuleType(name) for name in names}
    modules["torchvision.ops.misc"].FrozenBatchNorm2d = type("FrozenBatchNorm2d", (), {})
    modules["torchvision"].ops = modules["torchvision.ops"]
    modules["torchvision.ops"].misc = modules["torchvision.ops.misc"]
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def load_reference_module():
    """laion_clap/clap_module/htsat.py, imported without running laion_clap/__init__.py (which
    pulls in the text towers): its folder becomes a synthetic package, so the relative imports
    (.utils, .feature_fusion) resolve."""
    spec = importlib.util.find_spec("laion_clap")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("laion-clap is not installed (pip install --no-deps laion-clap)")
    package_name = "_spectrain_clap_reference"
    if f"{package_name}.htsat" in sys.modules:
        return sys.modules[f"{package_name}.htsat"]
    package = types.ModuleType(package_name)
    package.__path__ = [str(pathlib.Path(spec.submodule_search_locations[0]) / "clap_module")]
    sys.modules[package_name] = package
    with _stubbed_torchvision(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(f"{package_name}.htsat")


def reference_config(mel_bins=64):
    """The config object HTSAT_Swin_Transformer reads (the front end, class count and name; the
    original repo also reads enable_tscam / htsat_attn_heatmap / loss_type / enable_repeat_mode,
    which laion-clap's copy hard-wires to the token-semantic, no-heatmap, sigmoid path)."""
    return SimpleNamespace(sample_rate=HTSAT_32K.sr, window_size=HTSAT_32K.window_size,
                           hop_size=HTSAT_32K.hop_size, mel_bins=mel_bins, fmin=HTSAT_32K.fmin,
                           fmax=HTSAT_32K.fmax, class_num=527, model_name="tiny", enable_tscam=True,
                           htsat_attn_heatmap=False, loss_type="clip_bce", enable_repeat_mode=False)


def randomise(model):
    """Weights with O(1) activations (the default init makes most of the network near-identity)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.normal_(0, module.in_features ** -0.5)
                if module.bias is not None:
                    module.bias.normal_(0, 0.1)
            elif isinstance(module, (torch.nn.LayerNorm, torch.nn.BatchNorm2d)):
                module.weight.normal_(1, 0.2)
                module.bias.normal_(0, 0.2)
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.uniform_(-60, -20)
                    module.running_var.uniform_(100, 400)
            elif isinstance(module, torch.nn.Conv2d):
                module.weight.normal_(0, module.weight[0].numel() ** -0.5)
                module.bias.normal_(0, 0.1)
            if hasattr(module, "relative_position_bias_table"):
                module.relative_position_bias_table.normal_(0, 1.0)
    return model.eval()


@pytest.fixture(scope="module")
def models():
    reference = load_reference_module()
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.meshgrid indexing warning inside the reference
        torch_model = randomise(reference.create_htsat_model(reference_config()))
    assert not torch_model.enable_fusion
    keras_model = convert_state_dict(torch_model.state_dict(), spec_augment=False)
    names = list(TOLERANCES)[:-3]
    probe = keras.Model(keras_model.input, {**{name: keras_model.get_layer(name).output for name in names},
                                            **keras_model.output})
    return torch_model, probe


def reference_stages(model, waveform):
    """Every compared stage of the reference, in the Keras layout (time-major, channels last)."""
    stages = {}
    with torch.no_grad():
        x = torch.from_numpy(waveform)
        spec = model.logmel_extractor(model.spectrogram_extractor(x))  # (batch, 1, time, mel)
        stages["time_major"] = spec.permute(0, 2, 3, 1)
        spec = model.bn0(spec.transpose(1, 3)).transpose(1, 3)
        stages["bn0"] = spec.permute(0, 2, 3, 1)
        image = model.reshape_wav2img(spec)
        stages["reshape_wav2img"] = image.permute(0, 2, 3, 1)
        tokens = model.patch_embed(image)
        stages["patch_embed_norm"] = tokens
        for name, layer in zip(STAGE_OUTPUTS, model.layers):
            tokens, _ = layer(tokens)
            stages[name] = tokens
        stages["norm"] = model.norm(tokens)
        stages.update(model({"waveform": x}, device="cpu"))
    return {name: value.numpy() for name, value in stages.items() if name in TOLERANCES}


@pytest.mark.parametrize("samples, batch", [(327360, 1), (320000, 2)])
def test_stage_by_stage_parity_with_the_reference(models, samples, batch):
    torch_model, probe = models
    waveform = (np.random.default_rng(samples).normal(size=(batch, samples)) * 0.1).astype("float32")
    expected = reference_stages(torch_model, waveform)
    actual = probe.predict(waveform, verbose=0)
    assert expected["time_major"].shape[1] == HTSAT_32K.n_frames(samples)
    errors = {name: float(np.abs(actual[name] - expected[name]).max()) for name in TOLERANCES}
    print(f"{samples} samples, max abs error per stage:", errors)
    for name, tolerance in TOLERANCES.items():
        assert actual[name].shape == expected[name].shape, name
        np.testing.assert_allclose(actual[name], expected[name], rtol=0, atol=tolerance, err_msg=name)


def test_checkpoint_files_round_trip(tmp_path):
    """A tiny reference saved as an HTS-AT lightning checkpoint (with a pickled config, which
    weights_only=True refuses) and as a CLAP checkpoint converts to the same outputs."""
    reference = load_reference_module()
    torch.manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch_model = reference.HTSAT_Swin_Transformer(
            spec_size=64, patch_size=4, patch_stride=(4, 4), num_classes=5, embed_dim=16, depths=[2, 2],
            num_heads=[1, 2], window_size=4, config=reference_config(mel_bins=16)).eval()
    state = torch_model.state_dict()
    lightning = tmp_path / "htsat.ckpt"
    torch.save({"state_dict": {f"sed_model.{key}": value for key, value in state.items()},
                "hyper_parameters": {"config": SimpleNamespace(a=1)}, "epoch": 3}, lightning)
    clap = tmp_path / "clap.pt"
    torch.save({"state_dict": {**{f"module.audio_branch.{key}": value for key, value in state.items()},
                               "module.text_branch.weight": torch.zeros(2)}}, clap)

    preset = HTSAT_32K.replace(mel_bins=16)
    with pytest.raises(ValueError, match="--trust-checkpoint"):
        convert_checkpoint(lightning, tmp_path / "refused.keras", preset=preset, input_shape=(16000,))
    assert not (tmp_path / "refused.keras").exists()
    with pytest.warns(UserWarning, match="weights_only"):
        model = convert_checkpoint(lightning, tmp_path / "htsat.keras", allow_pickle=True,
                                   preset=preset, input_shape=(16000,))
    reloaded = keras.models.load_model(tmp_path / "htsat.keras")
    from_clap = convert_state_dict(load_checkpoint(clap), preset=preset, input_shape=(16000,))

    waveform = (np.random.default_rng(0).normal(size=(2, 16000)) * 0.1).astype("float32")
    with torch.no_grad():
        expected = torch_model({"waveform": torch.from_numpy(waveform)}, device="cpu")
    for candidate in (model, reloaded, from_clap):
        out = candidate.predict(waveform, verbose=0)
        np.testing.assert_allclose(out["clipwise_output"], expected["clipwise_output"].numpy(), atol=1e-5)
        np.testing.assert_allclose(out["embedding"], expected["embedding"].numpy(), atol=1e-5)
        # The reference repeats each of the 32 steps 8 * patch_stride = 32 times (1024 frames, a
        # constant that assumes four stages); this model repeats to spec_size * freq_ratio = 256.
        np.testing.assert_allclose(out["framewise_output"][:, ::8],
                                   expected["framewise_output"].numpy()[:, ::32], atol=1e-5)
