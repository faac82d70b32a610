"""`spectrain export-model`: a job's model with its front end inside, as a SavedModel, a LiteRT
file and an ONNX file, each run by its own runtime (TensorFlow, ai_edge_litert, onnxruntime) on
the job's validation windows and compared with the job's Keras pipeline (float32: within 1e-4).

Two families: the baseline CNN behind a log-mel front end with a non-power-of-two ``n_fft`` (400:
LiteRT's builtin RFFT would refuse it) and PANNs' CNN6, whose front end is a layer of the model.
The README's inference snippet, which needs only a runtime and soundfile, runs here too.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile

from modules.cli import main, run_trainer

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("savedmodel", "litert", "onnx")
pytestmark = pytest.mark.slow


def train(root: Path, model: str, parser: str, settings: str) -> Path:
    trainer = root / "trainers" / "devices" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent("""
        import functools
        from modules.models import baseline_cnn, cnn6
        from modules.parameters import parameters
        from modules.parsers import spec_parser, waveform_parser
        from modules.training import launch_job

        parameters.testing_files_per_class = 2
        parameters.n_example_plots = 0
        parameters.n_gradcam = 0
        """) + textwrap.dedent(settings) + f"launch_job({{'Esc10': 1}}, {model}, [], [], {parser})\n")
    run_trainer(trainer, testing=True, cache_root=str(root / "cache"), progress=False)
    return root / "cache" / "devices" / "train1" / "1_testing"


@pytest.fixture(scope="module")
def baseline_job(tmp_path_factory, esc10_path):
    return train(tmp_path_factory.mktemp("baseline"), "functools.partial(baseline_cnn, "
                 "filters=(4, 8))", "spec_parser", """
        parameters.sr = 8000
        parameters.audio_length = 2.5
        parameters.step_size = 2.5
        parameters.n_fft = 400
        parameters.hop_length = 160
        parameters.n_mels = 16
        """)


@pytest.fixture(scope="module")
def esc10_path():
    from tests.conftest import ESC10

    if not ESC10.is_dir():
        pytest.skip(f"ESC-10 not found at {ESC10}")
    return ESC10


def export(job: Path, fmt: str, output: Path, *options: str) -> dict:
    assert main(["export-model", "--job", str(job), "--format", fmt, "--output", str(output),
                 *options]) == 0
    return json.loads((output / "model.json").read_text())


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_baseline_cnn_exports_and_its_runtime_agrees(baseline_job, tmp_path, fmt, capsys):
    card = export(baseline_job, fmt, tmp_path / fmt)
    check = card["verification"]
    assert check["runtime"] == {"savedmodel": "tensorflow", "litert": "ai_edge_litert",
                                "onnx": "onnxruntime"}[fmt]
    assert check["windows"] > 0 and check["largest_difference"] <= 1e-4
    assert check["exported"] == check["keras"]
    assert card["input"] == {"name": "waveform", "shape": [None, 20000], "dtype": "float32",
                             "sample_rate": 8000, "mono": True, "window_seconds": 2.5,
                             "hop_seconds": 2.5}
    classes = json.loads((baseline_job / "job.json").read_text())["class_names"]
    assert (tmp_path / fmt / "labels.txt").read_text().splitlines() == classes
    assert card["needs_flex_delegate"] is (False if fmt == "litert" else None)
    assert card["job"]["job_id"] == "1_testing" and card["spectrain_version"]
    assert "largest difference from the Keras model" in capsys.readouterr().out


def test_a_panns_model_with_its_own_front_end_exports_to_every_format(tmp_path, esc10_path):
    job = train(tmp_path, "functools.partial(cnn6, clip_activation='softmax')",
                "waveform_parser", """
        parameters.audio_length = 1.0
        parameters.step_size = 1.0
        parameters.batch_size = 8
        """)
    # `spectrain predict` runs the waveform model over a recording too
    import pandas as pd

    from modules.inference import predict_with_job

    clip = pd.read_csv(job / "validation.csv")["path"][0]
    files = predict_with_job(job, [clip], tmp_path / "predicted", progress=False)
    assert files["windows"][0] == 5  # a 5 s ESC-10 clip in 1 s windows
    for fmt in FORMATS:
        card = export(job, fmt, tmp_path / fmt, "--verify-windows", "12")
        assert card["input"]["sample_rate"] == 32000  # the model's preset, not the job default
        assert card["verification"]["largest_difference"] <= 1e-4, card["verification"]
        assert card["needs_flex_delegate"] is (False if fmt == "litert" else None)


def test_litert_quantisation_reports_the_accuracy_it_costs(baseline_job, tmp_path):
    for quantize in ("float16", "int8"):
        card = export(baseline_job, "litert", tmp_path / quantize, "--quantize", quantize)
        check = card["verification"]
        assert card["quantize"] == quantize and check["non_finite_windows"] == 0
        assert 0 <= check["exported"] <= 1  # reported, whatever it costs
    full = (tmp_path / "float16" / "model.tflite").stat().st_size
    assert (tmp_path / "int8" / "model.tflite").stat().st_size < full


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    [snippet] = re.findall(r"```python\n(# model.tflite .*?)```", text, flags=re.S)
    return snippet


def test_the_readme_snippet_runs_with_the_runtime_and_soundfile_only(baseline_job, tmp_path):
    import pandas as pd

    from modules.data import read_audio

    snippet = readme_snippet()
    code = [line for line in snippet.splitlines() if line.strip() and not line.startswith("#")]
    assert len(code) <= 10
    assert not re.search(r"^\s*(import|from) (modules|tensorflow|keras|librosa)", snippet,
                         flags=re.M)
    export(baseline_job, "litert", tmp_path / "device")
    validation = pd.read_csv(baseline_job / "validation.csv")
    recording = str(tmp_path / "recording.wav")  # a validation clip, at the model's rate
    soundfile.write(recording, read_audio(validation["path"][0], 8000), 8000)
    names: dict = {}
    exec(snippet.replace("model.tflite", str(tmp_path / "device" / "model.tflite"))
         .replace("labels.txt", str(tmp_path / "device" / "labels.txt"))
         .replace("recording.wav", recording), names)
    assert names["probabilities"].shape == (2, len(names["labels"]))  # two 2.5 s windows
    assert np.allclose(names["probabilities"].sum(axis=1), 1.0, atol=1e-5)


def test_exports_that_cannot_be_made_say_why_in_one_line(baseline_job, tmp_path):
    def one_line(argv) -> str:
        with pytest.raises(SystemExit) as caught:
            main(["export-model", *argv])
        assert "\n" not in str(caught.value), caught.value
        return str(caught.value)

    base = ["--job", str(baseline_job), "--format", "litert"]
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "model.tflite").write_text("mine")
    assert "refusing to overwrite" in one_line([*base, "--output", str(tmp_path / "taken")])
    assert "LiteRT exports take" in one_line(["--job", str(baseline_job), "--format", "onnx",
                                              "--quantize", "int8", "--output",
                                              str(tmp_path / "q")])
    assert "is not a job folder" in one_line(["--job", str(tmp_path / "none"), "--format",
                                              "onnx", "--output", str(tmp_path / "n")])
    broken = tmp_path / "broken"
    shutil.copytree(baseline_job, broken)
    info = json.loads((broken / "job.json").read_text())
    (broken / "job.json").write_text(json.dumps({**info, "status": "failed"}))
    assert "did not finish" in one_line(["--job", str(broken), "--format", "onnx", "--output",
                                         str(tmp_path / "b1")])
    (broken / "job.json").write_text(json.dumps(info))
    (broken / "best_model.keras").write_bytes(b"\x00" * 64)
    assert "best_model.keras is damaged" in one_line(
        ["--job", str(broken), "--format", "onnx", "--output", str(tmp_path / "b2")])
    assert not (tmp_path / "b2").exists()  # nothing half-written is left
    params = json.loads((broken / "params.json").read_text())
    (broken / "params.json").write_text(json.dumps({**params, "task": "sed"}))
    assert "export serves window classifiers" in one_line(
        ["--job", str(broken), "--format", "onnx", "--output", str(tmp_path / "b3")])


def test_hts_at_exports_to_savedmodel_and_litert_and_onnx_is_refused_in_one_line(tmp_path,
                                                                                 esc10_path):
    job = train(tmp_path, "functools.partial(htsat, embed_dim=24, depths=(1, 1, 1, 1), "
                "num_heads=(1, 2, 2, 4), clip_activation='softmax')", "waveform_parser", """
        from modules.models import htsat
        parameters.audio_length = 10.0
        parameters.step_size = 10.0
        parameters.batch_size = 10
        """)
    for fmt in ("savedmodel", "litert"):
        card = export(job, fmt, tmp_path / fmt, "--verify-windows", "6")
        assert card["verification"]["largest_difference"] <= 1e-4, card["verification"]
    # tf2onnx writes TensorFlow's Erfc (the exact GELU of HTS-AT's MLPs), which ONNX lacks:
    # the file does not load in onnxruntime, and the export says so instead of leaving it
    with pytest.raises(SystemExit, match=r"the onnx export of model 'htsat' does not run in "
                                         r"onnxruntime \(.*Erfc") as caught:
        main(["export-model", "--job", str(job), "--format", "onnx", "--output",
              str(tmp_path / "onnx")])
    assert "\n" not in str(caught.value) and not (tmp_path / "onnx").exists()
