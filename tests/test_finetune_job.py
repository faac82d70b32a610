"""Fine-tuning in a job block: a pretrained waveform model (PANNs CNN6, 527 AudioSet classes)
gets a new 10-class head on ESC-10, with the base frozen; the job decodes at the model's 32 kHz,
writes a complete folder and replays identically."""

import json
import textwrap

import keras
import numpy as np
import pytest

from modules.cli import run_trainer
from modules.models import cnn6
from modules.replay import replay_job

pytestmark = pytest.mark.slow


def test_fine_tune_a_pretrained_cnn6_with_a_frozen_base(tmp_path, esc10):
    pretrained = cnn6(input_shape=(None,), n_classes=527, seed=1)
    pretrained_path = tmp_path / "Cnn6_audioset.keras"
    pretrained.save(pretrained_path)
    trainer = tmp_path / "trainers" / "tune" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent(f"""
        import functools
        from modules.models import cnn6
        from modules.parameters import parameters
        from modules.parsers import waveform_parser
        from modules.training import launch_job

        parameters.sr = 22050  # the model's preset must win: audio is resampled to 32 kHz
        parameters.pretrained_path = {str(pretrained_path)!r}
        parameters.freeze_base = True
        parameters.testing_files_per_class = 2
        parameters.batch_size = 10
        parameters.n_gradcam = 2
        launch_job({{"Esc10": 1}}, functools.partial(cnn6, clip_activation="softmax"), [], [],
                   waveform_parser)
    """))
    cache = tmp_path / "cache"
    run_trainer(trainer, testing=True, cache_root=str(cache), progress=False)
    job = cache / "tune" / "train1" / "1_testing"
    info = json.loads((job / "job.json").read_text())
    assert info["status"] == "finished"
    assert info["pretrained"]["new_head"] == ["fc_audioset"] and info["pretrained"]["frozen"] == 6  # bn0, conv_block1-4, fc1
    params = json.loads((job / "params.json").read_text())
    assert (params["sr"], params["n_fft"], params["hop_length"], params["n_mels"]) == (32000, 1024, 320, 64)
    assert params["shape"] == [160000]
    assert "pretrained" in (job / "report.txt").read_text()
    best = keras.models.load_model(job / "best_model.keras", compile=False)
    assert best.output_shape == (None, 10)
    # The frozen base kept the pretrained weights; the new head learned.
    np.testing.assert_array_equal(best.get_layer("conv_block1").get_weights()[0],
                                  pretrained.get_layer("conv_block1").get_weights()[0])
    assert len(list((job / "gradcam").glob("*.png"))) == 2
    result = replay_job(job, progress=False)
    assert result.identical and result.max_probability_difference == 0.0
