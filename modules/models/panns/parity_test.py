"""Numerical parity of the Keras PANNs with the PyTorch reference code, through the converter.

References come from PyPI (the ``reference`` extra): Cnn14 and Cnn14_DecisionLevelMax from
``panns_inference/models.py``, Cnn6 and Cnn10 from ``laion_clap/clap_module/pann_model.py``
(same published layers; CLAP adds outputs we ignore). Each reference gets random weights *and*
random batch-norm statistics and affine parameters (so a wrong epsilon, axis or running-stat
mapping shows), runs in eval mode on a random waveform, and its state_dict goes through
``convert_state_dict``.

Tolerances (float32 on both sides):

* log-mel: ``atol=1e-3`` dB;
* every later stage (bn0, each conv block, clipwise_output, embedding, framewise_output):
  ``rtol=1e-4, atol=1e-5``.

Run with ``-s`` to see the max absolute error of each stage.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchlibrosa")

import keras  # noqa: E402

from modules.models.panns import reference  # noqa: E402
from modules.models.panns.convert import convert_checkpoint, convert_state_dict, load_checkpoint  # noqa: E402
from modules.models.presets import PANNS_32K  # noqa: E402

LOGMEL_ATOL = 1e-3
RTOL, ATOL = 1e-4, 1e-5


def randomised_reference(model_name, seed=0):
    """The reference model in eval mode with random weights and batch-norm statistics."""
    torch.manual_seed(seed)
    model = reference.build(model_name, PANNS_32K)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.running_mean.normal_().mul_(0.1)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_().mul_(0.1)
            elif isinstance(module, torch.nn.Linear) and module.bias is not None:
                module.bias.normal_().mul_(0.05)
    return model.eval()


def waveform(seconds, seed=1, batch=2):
    rng = np.random.default_rng(seed)
    # Noise plus a tone: a spread of levels across the mel bands.
    t = np.arange(int(seconds * PANNS_32K.sr)) / PANNS_32K.sr
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    return (0.1 * rng.standard_normal((batch, t.size)) + tone).astype(np.float32)


def reference_stages(model, audio, n_blocks):
    """Reference outputs plus intermediate stages, in the Keras (batch, time, mel, ch) layout."""
    captured = {}

    def keep(name, to_time_major):
        def hook(_module, _inputs, output):
            captured[name] = to_time_major(output.detach().numpy())
        return hook

    handles = [
        model.logmel_extractor.register_forward_hook(
            keep("logmel", lambda y: np.transpose(y, (0, 3, 2, 1)))),  # (b,1,t,m) -> (b,m,t,1)
        model.bn0.register_forward_hook(
            keep("bn0", lambda y: np.transpose(y, (0, 2, 1, 3)))),  # (b,m,t,1) -> (b,t,m,1)
    ]
    for i in range(1, n_blocks + 1):
        handles.append(getattr(model, f"conv_block{i}").register_forward_hook(
            keep(f"conv_block{i}", lambda y: np.transpose(y, (0, 2, 3, 1)))))  # (b,c,t,m) -> (b,t,m,c)
    try:
        with torch.no_grad():
            outputs = model(torch.from_numpy(audio))
    finally:
        for handle in handles:
            handle.remove()
    captured.update({key: value.numpy() for key, value in outputs.items()})
    return captured


def keras_stages(model, audio, n_blocks):
    names = {"logmel": "logmel_extractor", "bn0": "bn0",
             **{f"conv_block{i}": f"conv_block{i}" for i in range(1, n_blocks + 1)}}
    probe = keras.Model(model.input, {**{key: model.get_layer(name).output for key, name in names.items()},
                                      **model.output})
    return {key: np.asarray(value) for key, value in probe(audio, training=False).items()}


def compare(expected, actual, keys, label):
    errors = {}
    for key in keys:
        atol, rtol = (LOGMEL_ATOL, 0.0) if key == "logmel" else (ATOL, RTOL)
        assert actual[key].shape == expected[key].shape, (key, actual[key].shape, expected[key].shape)
        errors[key] = float(np.max(np.abs(actual[key] - expected[key])))
        np.testing.assert_allclose(actual[key], expected[key], rtol=rtol, atol=atol,
                                   err_msg=f"{label}: stage {key}")
    print(f"\n{label} max abs error: " + ", ".join(f"{k}={v:.2e}" for k, v in errors.items()))
    return errors


def test_cnn14_matches_reference_stage_by_stage_on_10_seconds():
    torch_model = randomised_reference("Cnn14")
    model = convert_state_dict(torch_model.state_dict(), "Cnn14")
    audio = waveform(10.0)
    expected = reference_stages(torch_model, audio, 6)
    actual = keras_stages(model, audio, 6)
    compare(expected, actual, ["logmel", "bn0"] + [f"conv_block{i}" for i in range(1, 7)]
            + ["clipwise_output", "embedding"], "Cnn14")


def test_cnn14_decision_level_max_matches_reference_framewise():
    torch_model = randomised_reference("Cnn14_DecisionLevelMax", seed=1)
    model = convert_state_dict(torch_model.state_dict(), "Cnn14_DecisionLevelMax")
    # 3 s: 301 frames, 9 segments -> 288 upsampled rows + 13 rows of padding.
    audio = waveform(3.0, seed=2)
    expected = reference_stages(torch_model, audio, 6)
    actual = keras_stages(model, audio, 6)
    assert actual["framewise_output"].shape == (2, PANNS_32K.n_frames(audio.shape[1]), 527)
    compare(expected, actual, ["logmel", "bn0", "conv_block6", "clipwise_output",
                               "framewise_output"], "Cnn14_DecisionLevelMax")


class _DecisionLevelReference(torch.nn.Module):
    """Cnn14_DecisionLevelAvg / Att as published, from reference modules: the layers of the
    PyPI Cnn14_DecisionLevelMax (and, for "att", laion-clap's AttBlock, the published one with
    its unused bn_att), with the forward pass of the published classes written out here."""

    def __init__(self, mode, seed):
        super().__init__()
        base = randomised_reference("Cnn14_DecisionLevelMax", seed=seed)
        self.mode = mode
        for name in ("spectrogram_extractor", "logmel_extractor", "bn0", "fc1",
                     *[f"conv_block{i}" for i in range(1, 7)]):
            setattr(self, name, getattr(base, name))
        if mode == "att":
            torch.manual_seed(seed)
            self.att_block = reference.laion_clap_pann_models().AttBlock(2048, 527, activation="sigmoid")
            with torch.no_grad():
                for conv in (self.att_block.att, self.att_block.cla):
                    conv.weight.normal_().mul_(0.02)
                    conv.bias.normal_().mul_(0.1)
        else:
            self.fc_audioset = base.fc_audioset
        self.eval()

    def forward(self, waveform):
        F = torch.nn.functional
        x = self.logmel_extractor(self.spectrogram_extractor(waveform))  # (b, 1, t, mel)
        frames = x.shape[2]
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        for i in range(1, 7):
            x = getattr(self, f"conv_block{i}")(x, pool_size=(2, 2) if i < 6 else (1, 1), pool_type="avg")
        x = torch.mean(x, dim=3)
        x = (F.max_pool1d(x, kernel_size=3, stride=1, padding=1)
             + F.avg_pool1d(x, kernel_size=3, stride=1, padding=1))
        x = F.relu(self.fc1(x.transpose(1, 2)))
        if self.mode == "att":
            clipwise, _, segmentwise = self.att_block(x.transpose(1, 2))
            segmentwise = segmentwise.transpose(1, 2)
        else:
            segmentwise = torch.sigmoid(self.fc_audioset(x))
            clipwise = segmentwise.mean(dim=1)
        framewise = segmentwise.repeat_interleave(32, dim=1)
        padding = framewise[:, -1:].repeat(1, frames - framewise.shape[1], 1)
        framewise = torch.cat([framewise, padding], dim=1)
        return {"clipwise_output": clipwise, "framewise_output": framewise}


@pytest.mark.parametrize("mode", ["avg", "att"])
def test_cnn14_decision_level_avg_and_att_match_the_published_heads(mode):
    torch_model = _DecisionLevelReference(mode, seed=7)
    model_name = f"Cnn14_DecisionLevel{mode.title()}"
    state_dict = torch_model.state_dict()
    if mode == "att":
        assert "att_block.bn_att.running_var" in state_dict  # deliberately ignored
    model = convert_state_dict(state_dict, model_name)
    audio = waveform(2.0, seed=8)
    expected = reference_stages(torch_model, audio, 6)
    actual = keras_stages(model, audio, 6)
    compare(expected, actual, ["conv_block6", "clipwise_output", "framewise_output"], model_name)


@pytest.mark.parametrize("model_name, n_blocks", [("Cnn6", 4), ("Cnn10", 5)])
def test_cnn6_and_cnn10_match_reference(model_name, n_blocks):
    torch_model = randomised_reference(model_name, seed=3)
    model = convert_state_dict(torch_model.state_dict(), model_name)
    audio = waveform(3.0, seed=4)
    expected = reference_stages(torch_model, audio, n_blocks)
    actual = keras_stages(model, audio, n_blocks)
    compare(expected, actual, ["logmel", "bn0"] + [f"conv_block{i}" for i in range(1, n_blocks + 1)]
            + ["clipwise_output", "embedding"], model_name)


def test_checkpoint_file_converts_saves_and_reloads_identically(tmp_path):
    torch_model = randomised_reference("Cnn6", seed=5)
    # The release format ({"model": state_dict}) with DataParallel's "module." prefix.
    torch.save({"model": {f"module.{k}": v for k, v in torch_model.state_dict().items()},
                "iteration": 1000}, tmp_path / "cnn6.pth")
    assert all(not key.startswith("module.") for key in load_checkpoint(tmp_path / "cnn6.pth"))
    model = convert_checkpoint(tmp_path / "cnn6.pth", tmp_path / "cnn6.keras", "Cnn6")
    reloaded = keras.models.load_model(tmp_path / "cnn6.keras")
    audio = waveform(2.0, seed=6)
    before, after = model(audio, training=False), reloaded(audio, training=False)
    for key in ("clipwise_output", "embedding"):
        np.testing.assert_array_equal(np.asarray(before[key]), np.asarray(after[key]))
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(audio))["clipwise_output"].numpy()
    np.testing.assert_allclose(np.asarray(after["clipwise_output"]), expected, rtol=RTOL, atol=ATOL)
