"""`spectrain explain` on a real ESC-10 job (testing mode, baseline CNN): every method writes its
outputs into the job's interpret/ folder, never over an earlier run, and bad requests get clear
errors. The methods' numerical properties are tested beside them in modules/interpret/."""

import json
import shutil
import textwrap

import numpy as np
import pandas as pd
import pytest

from modules.cli import main, run_trainer
from modules.interpret.explain import SUMMARY_COLUMNS, ExplainOptions, explain
from modules.interpret.job import ExplainableJob, ExplainError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    trainer = root / "trainers" / "esc10" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent("""
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.training import launch_job

        parameters.sr = 16000
        parameters.n_fft = 512
        parameters.hop_length = 256
        parameters.n_mels = 32
        parameters.testing_files_per_class = 2
        parameters.testing_epochs = 3
        parameters.n_example_plots = 0
        parameters.n_gradcam = 0
        launch_job({"Esc10": 1}, baseline_cnn, [], [])
    """))
    run_trainer(trainer, testing=True, cache_root=str(root / "cache"), progress=False)
    return root / "cache" / "esc10" / "train1" / "1_testing"


def test_the_job_view_reproduces_the_recorded_predictions(job):
    view = ExplainableJob(job, progress=False)
    positions = view.default_positions()
    assert len(positions) == 10  # one per class
    examples = view.examples("validation", positions)
    _, probabilities = view.scores_and_probabilities(examples.inputs)
    recorded = view.predictions().loc[positions, [f"p_{c}" for c in view.class_names]]
    np.testing.assert_allclose(probabilities, recorded.to_numpy(), atol=1e-6)
    assert view.silence_input().shape == examples.inputs.shape[1:]


@pytest.mark.parametrize("method, options", [
    ("gradcam", {}), ("saliency", {}), ("smoothgrad", {"n_samples": 4}),
    ("ig", {"steps": 8}), ("lime", {"n_samples": 60}),
    ("nmf", {"train": True, "n_components": 8, "epochs": 2}),
    ("lime", {"lime_over": "nmf", "n_samples": 30}),  # after nmf --train: uses its dictionary
])
def test_every_method_writes_its_outputs(job, method, options):
    folder = explain(job, ExplainOptions(method=method, positions=[0, 3], **options),
                     progress=False)
    assert folder.parent == job / "interpret" and folder.name.startswith(method)
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["method"] == method and settings["examples"] == [0, 3]
    metrics = pd.read_csv(folder / "metrics.csv")
    assert metrics["position"].tolist() == [0, 3]
    assert len(list(folder.glob("0000-*.png"))) == 1 and len(list(folder.glob("0003-*.png"))) == 1
    if method in ("gradcam", "saliency", "smoothgrad", "ig"):
        assert (folder / "deletion.png").is_file()
        assert metrics["deletion_area"].between(0, 1).all()
        assert metrics["random_deletion_area"].between(0, 1).all()
    if method == "ig":
        assert np.isfinite(metrics["ig_completeness_delta"]).all()
    if method == "lime" and options.get("lime_over") == "nmf":
        assert len(list(folder.glob("*-explanation.wav"))) == 2
        assert metrics["top_components"].str.len().gt(0).all()
    elif method == "lime":
        assert metrics["top_patches"].str.len().gt(0).all()
    if method == "nmf":
        assert len(list(folder.glob("*.wav"))) >= 2  # a listenable explanation per example
        summary = (folder / "summary.txt").read_text()
        assert "fidelity_top1" in summary and "median_probability_drop_relevant" in summary
    table = pd.read_csv(job / "interpret" / "summary.csv")
    assert tuple(table.columns) == SUMMARY_COLUMNS and folder.name in table["folder"].tolist()


def test_runs_never_overwrite_each_other(job):
    first = explain(job, ExplainOptions(method="saliency", positions=[1]), progress=False)
    second = explain(job, ExplainOptions(method="saliency", positions=[1]), progress=False)
    assert first != second and first.is_dir() and second.is_dir()


def test_bad_requests_say_what_is_wrong(job):
    with pytest.raises(ExplainError, match="did you mean 'saliency'"):
        ExplainOptions(method="saliancy")
    with pytest.raises(ExplainError, match="example 9999 does not exist"):
        explain(job, ExplainOptions(method="gradcam", positions=[9999]), progress=False)
    with pytest.raises(ExplainError, match="not a finished job folder: missing params.json"):
        ExplainableJob(job.parent, progress=False)
    with pytest.raises(SystemExit, match="spectrain explain: unknown method"):
        main(["explain", "--job", str(job), "--method", "shap"])
    fresh = job.parent / "copy_without_interpreter"
    shutil.copytree(job, fresh, ignore=shutil.ignore_patterns("interpret"))
    with pytest.raises(ExplainError, match="no trained NMF interpreter.*--train"):
        explain(fresh, ExplainOptions(method="nmf", positions=[0]), progress=False)
    assert not (fresh / "interpret").exists()  # refused before any output folder was made


def test_integrated_gradients_can_start_from_a_reference_clip(job, esc10):
    reference = sorted((esc10 / "002 - Rain").glob("*.ogg"))[0]
    from_silence = explain(job, ExplainOptions(method="ig", positions=[0], steps=4),
                           progress=False)
    folder = explain(job, ExplainOptions(method="ig", positions=[0], steps=4,
                                         baseline=str(reference)), progress=False)
    assert json.loads((folder / "settings.json").read_text())["options"]["baseline"] == str(
        reference)
    silence = pd.read_csv(from_silence / "metrics.csv")
    from_rain = pd.read_csv(folder / "metrics.csv")
    assert from_rain["deletion_area"][0] != silence["deletion_area"][0]
    with pytest.raises(ExplainError, match="expected 'silence', 'zeros' or an audio file"):
        explain(job, ExplainOptions(method="ig", positions=[0], baseline="nowhere.wav"),
                progress=False)
