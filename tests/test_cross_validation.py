"""``parameters.cross_validate``: one launch runs every fold as its own job and summarises them;
a failed fold keeps the others and a relaunch trains only the missing folds."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from modules.cli import main, run_trainer
from modules.data import load_esc_folders
from modules.job_folder import jobs_table
from modules.replay import replay_job



def write_trainer(root, dataset: str, settings: str):
    trainer = root / "trainers" / "cv" / "train1.py"
    trainer.parent.mkdir(parents=True, exist_ok=True)
    trainer.write_text(textwrap.dedent(f"""
        import functools
        from modules.data import register_dataset
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.parsers import spec_parser
        from modules.training import launch_job

        register_dataset("Small", {dataset!r})
        parameters.cross_validate = True
        parameters.sr = 8000
        parameters.audio_length = 2.5
        parameters.step_size = 2.5
        parameters.n_fft = 256
        parameters.hop_length = 256
        parameters.n_mels = 16
        parameters.n_example_plots = 0
        parameters.n_gradcam = 0
        """) + textwrap.dedent(settings) + """
launch_job({"Small": 1}, functools.partial(baseline_cnn, filters=(4, 8)), [], [], spec_parser)
""")
    return trainer


@pytest.mark.slow
def test_a_fold_that_fails_keeps_the_others_and_a_relaunch_runs_only_the_missing(
        tmp_path, esc10, bad_audio_files, capsys):
    table = load_esc_folders(esc10)
    table = table[table["label"].isin(["Dog bark", "Rain"]) & table["fold"].isin([1, 2, 3])]
    small = table.groupby(["label", "fold"]).head(3)[["path", "label", "fold"]]
    manifest = tmp_path / "small.csv"
    broken = small.copy()
    broken.loc[broken["fold"] == 2, "path"] = str(bad_audio_files["corrupt"])  # fold 2: unreadable
    broken.to_csv(manifest, index=False)
    trainer = write_trainer(tmp_path, str(manifest), "parameters.split = 'fold'\n")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="none of the .* files gave a usable example"):
        run_trainer(trainer, testing=True, cache_root=str(cache), progress=False)
    folder = cache / "cv" / "train1" / "cv1_testing"
    summary = json.loads((folder / "summary.json").read_text())
    assert [row["fold"] for row in summary["folds"]] == [1] and summary["missing"] == [2, 3]
    assert "folds missing: 2, 3" in (folder / "summary.txt").read_text()

    small.to_csv(manifest, index=False)  # the files repaired: the relaunch resumes cv1
    run_trainer(trainer, testing=True, cache_root=str(cache), progress=False)
    assert "fold 1 done (1_testing), not trained again" in capsys.readouterr().out
    summary = json.loads((folder / "summary.json").read_text())
    assert [row["fold"] for row in summary["folds"]] == [1, 2, 3] and summary["missing"] == []
    jobs = {row["fold"]: cache / "cv" / "train1" / row["job"] for row in summary["folds"]}
    assert jobs[1].name == "1_testing" and jobs[2].name == "3_testing"  # 2: the failed fold 2
    accuracies = [json.loads((jobs[f] / "metrics.json").read_text())["examples"]["accuracy"]
                  for f in (1, 2, 3)]
    assert summary["mean"]["best_accuracy"] == pytest.approx(np.mean(accuracies))
    assert summary["std"]["best_accuracy"] == pytest.approx(np.std(accuracies))
    matrices = [json.loads((jobs[f] / "metrics.json").read_text())["clips"]["confusion_matrix"]
                for f in (1, 2, 3)]
    assert summary["confusion_matrix"] == np.sum(matrices, axis=0).tolist()
    for name in ("summary.txt", "summary.png", "summary_confusion.png", "cv.json"):
        assert (folder / name).is_file(), name
    for f, job in jobs.items():  # each fold is a normal job: its own validation fold, replayable
        assert set(pd.read_csv(job / "validation.csv")["fold"]) == {f}
    assert replay_job(jobs[3], progress=False).identical

    listing = jobs_table(cache)
    assert "cv1_testing fold 3" in listing and "3 of 3 folds" in listing
    assert f"{summary['mean']['best_accuracy']:.4f}+/-" in listing
    # MLflow: a parent run for cv1 with the fold runs (the failed one included) as children
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{cache / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("cv")
    parents = client.search_runs([experiment.experiment_id],
                                 "attributes.run_name = 'train1/cv1_testing'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"  # resumed, not doubled
    children = client.search_runs([experiment.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parents[0].info.run_id}'")
    assert sorted(run.data.tags["cv_fold"] for run in children) == ["1", "2", "2", "3"]


@pytest.mark.slow
def test_a_patient_k_fold_on_icbhi_in_one_launch(tmp_path):
    from tests.respiratory_data import make_icbhi

    make_icbhi(tmp_path / "data" / "ICBHI", n_patients=9, recordings_per_patient=2,
               duration=6.0, seed=2)
    trainer = tmp_path / "trainers" / "cv" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent("""
        import functools
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.parsers import spec_parser
        from modules.training import launch_job

        parameters.task = "pneumonia"
        parameters.cross_validate = True
        parameters.split = "group"
        parameters.n_folds = 3
        parameters.sr = 4000
        parameters.audio_length = 2.0
        parameters.step_size = 2.0
        parameters.n_fft = 256
        parameters.hop_length = 256
        parameters.n_mels = 16
        parameters.n_example_plots = 0
        parameters.n_gradcam = 0
        launch_job({"Icbhi": 1}, functools.partial(baseline_cnn, filters=(4, 8)), [], [],
                   spec_parser)
        """))
    cache = tmp_path / "cache"
    run_trainer(trainer, testing=True, cache_root=str(cache), data_root=str(tmp_path / "data"),
                progress=False)
    summary = json.loads((cache / "cv" / "train1" / "cv1_testing" / "summary.json").read_text())
    assert [row["fold"] for row in summary["folds"]] == [1, 2, 3]
    assert "best_icbhi_score" in summary["mean"]
    patients = []
    for row in summary["folds"]:  # every patient validates in exactly one fold
        validation = pd.read_csv(cache / "cv" / "train1" / row["job"] / "validation.csv")
        patients += sorted(set(validation["group"]))
    assert len(patients) == len(set(patients)) == 9
    assert main(["jobs", "cv", "--cache-root", str(cache)]) == 0


def test_the_summary_table_keeps_long_metric_names_apart(tmp_path):
    from modules.cross_validation import summary_text

    keys = ["best_accuracy", "best_file_accuracy", "best_file_balanced_accuracy"]
    summary = {"folds": [{"fold": 1, "job": "1", **dict.fromkeys(keys, 0.9)}], "missing": [],
               "mean": dict.fromkeys(keys, 0.9), "std": dict.fromkeys(keys, 0.0)}
    header, row, mean = summary_text(tmp_path / "cv1", summary, []).splitlines()[3:6]
    assert header.split() == ["fold", "job", "accuracy", "file_accuracy",
                              "file_balanced_accuracy"]
    assert row.split() == ["1", "1", "0.9000", "0.9000", "0.9000"]
    assert mean.count("0.9000 +/- 0.0000") == 3
    assert len(header) == len(row) == len(mean)  # columns end where their names end


def test_a_test_fold_is_held_out_of_every_fold_and_summarised_apart(tmp_path, esc10):
    table = load_esc_folders(esc10)
    table = table[table["label"].isin(["Dog bark", "Rain"]) & table["fold"].isin([1, 2, 3, 4])]
    small = table.groupby(["label", "fold"]).head(2)[["path", "label", "fold"]]
    small.to_csv(tmp_path / "small.csv", index=False)
    trainer = write_trainer(tmp_path, str(tmp_path / "small.csv"),
                            "parameters.split = 'fold'\nparameters.test_fold = 4\n")
    cache = tmp_path / "cache"
    run_trainer(trainer, testing=True, cache_root=str(cache), progress=False)
    folder = cache / "cv" / "train1"
    jobs = {json.loads((job / "job.json").read_text())["cross_validation"]["fold"]: job
            for job in folder.glob("[0-9]*_testing")}
    assert sorted(jobs) == [1, 2, 3]  # validation rotates over the other folds
    for fold, job in jobs.items():
        assert set(pd.read_csv(job / "validation.csv")["fold"]) == {fold}
        assert set(pd.read_csv(job / "test.csv")["fold"]) == {4}  # the same held-out fold
        assert 4 not in set(pd.read_csv(job / "train.csv")["fold"])
    [summary_dir] = folder.glob("cv*")
    summary = json.loads((summary_dir / "summary.json").read_text())
    tests = [json.loads((jobs[f] / "metrics.json").read_text())["test"]["examples"]["accuracy"]
             for f in (1, 2, 3)]
    assert summary["mean"]["test_accuracy"] == pytest.approx(np.mean(tests))
    assert "test_accuracy" in (summary_dir / "summary.txt").read_text()
