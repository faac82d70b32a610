"""`spectrain convert panns`: an official-format checkpoint file -> a .keras model that gives the
PyTorch reference's outputs, reloads in a fresh load, and never overwrites silently."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from modules.cli import main  # noqa: E402
from modules.models import load_model  # noqa: E402
from modules.models.panns import reference  # noqa: E402
from modules.models.presets import PANNS_32K  # noqa: E402


def test_convert_a_panns_checkpoint_from_the_command_line(tmp_path, capsys):
    torch.manual_seed(3)
    torch_model = reference.build("Cnn6", PANNS_32K, classes_num=527).eval()
    with torch.no_grad():
        for module in torch_model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_().mul_(0.1)
                module.running_var.uniform_(0.5, 2.0)
    checkpoint = tmp_path / "Cnn6_mAP=0.343.pth"
    # The PANNs release format: {"model": state_dict}.
    torch.save({"model": torch_model.state_dict()}, checkpoint)
    output = tmp_path / "pretrained" / "Cnn6.keras"

    assert main(["convert", "panns", str(checkpoint), str(output), "--model", "Cnn6"]) == 0
    assert "Cnn6.keras" in capsys.readouterr().out
    model = load_model(output)
    waveform = (np.random.default_rng(0).normal(size=(2, 32000)) * 0.1).astype("float32")
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(waveform))
    got = model.predict(waveform, verbose=0)
    # Same tolerances as the parity tests: rtol 1e-4, atol 1e-5.
    np.testing.assert_allclose(got["clipwise_output"], expected["clipwise_output"].numpy(),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["embedding"], expected["embedding"].numpy(), rtol=1e-4, atol=1e-5)

    with pytest.raises(SystemExit, match="--overwrite"):
        main(["convert", "panns", str(checkpoint), str(output), "--model", "Cnn6"])
    # The wrong architecture for the checkpoint fails, naming the keys, and writes nothing.
    wrong = tmp_path / "wrong.keras"
    with pytest.raises(ValueError, match="conv_block1"):
        main(["convert", "panns", str(checkpoint), str(wrong), "--model", "Cnn10"])
    assert not wrong.exists()
