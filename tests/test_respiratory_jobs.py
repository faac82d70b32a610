"""The respiratory trainers end to end on generated data in the real formats: pneumonia
(ICBHI + a Jordan-style spreadsheet set, mixup + AugMix) and crackle/wheeze (ICBHI, official
split, oversampling), each trained in testing mode and replayed; and `augment --pretend`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile

from modules.cli import find_trainer, list_jobs_table, main, run_trainer
from modules.replay import replay_job
from tests.respiratory_data import make_icbhi, make_spreadsheet_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    # The split file as ICBHI publishes it: a patient on both sides, a name with another
    # device part than its audio file's, a name with no audio.
    make_icbhi(root / "ICBHI", n_patients=10, recordings_per_patient=2, duration=8.0, seed=1,
               crossing_patients=[103], renamed_in_split=[106],
               listed_without_audio=["199_1b1_Al_sc_Meditron"])
    make_spreadsheet_dataset(root / "Jordan", fmt="xlsx", n_patients=6, duration=8.0, seed=2)
    return root


def only_job(cache, mode, trainer):
    [job] = [p for p in (cache / mode / trainer).iterdir() if p.name.endswith("_testing")]
    return job


def test_pneumonia_trainer_runs_end_to_end_and_replays(data_root, tmp_path):
    cache = tmp_path / "cache"
    run_trainer(find_trainer("train2356"), testing=True, cache_root=str(cache),
                data_root=str(data_root), progress=False)
    job = only_job(cache, "pneumonia", "train2356")
    info = json.loads((job / "job.json").read_text())
    assert info["status"] == "finished" and info["class_names"] == ["no_pneumonia", "pneumonia"]
    assert {"augmentation.json", "report.txt", "metrics.json", "best_model.keras",
            "patient_confusion_matrix.png"} <= {p.name for p in job.iterdir()}
    augmentation = json.loads((job / "augmentation.json").read_text())
    assert [a["name"] for a in augmentation] == ["mixup", "augmix"]
    assert "original" in info["training_examples_per_epoch"]

    # Patient-level split: no patient on both sides, and both datasets took part.
    train = pd.read_csv(job / "train.csv", dtype=str)
    validation = pd.read_csv(job / "validation.csv", dtype=str)
    assert not set(train["group"]) & set(validation["group"])
    assert {g.split(":")[0] for g in pd.concat([train, validation])["group"]} == {"Icbhi",
                                                                                  "Jordan"}
    report = (job / "report.txt").read_text()
    for text in ("ICBHI score", "per patient", "tps", "val_icbhi_score"):
        assert text in report, text
    history = pd.read_csv(job / "history.csv")
    assert "val_icbhi_score" in history.columns

    metrics = json.loads((job / "metrics.json").read_text())
    header, row = list_jobs_table(cache, "pneumonia").splitlines()
    assert "icbhi score" in header and f"{metrics['examples']['icbhi_score']:.4f}" in row

    result = replay_job(job, progress=False)
    assert result.identical and result.max_probability_difference == 0.0


def test_crackle_wheeze_trainer_runs_end_to_end_and_replays(data_root, tmp_path):
    cache = tmp_path / "cache"
    run_trainer(find_trainer("cw/train2357"), testing=True, cache_root=str(cache),
                data_root=str(data_root), progress=False)
    job = only_job(cache, "cw", "train2357")
    info = json.loads((job / "job.json").read_text())
    assert info["status"] == "finished"
    assert info["class_names"] == ["none", "crackle", "wheeze", "both"]
    assert "oversampled" in info["training_examples_per_epoch"]
    predictions = pd.read_csv(job / "predictions.csv", keep_default_na=False)
    # chunk labels come from the annotated cycles: one recording holds different labels
    assert (predictions.groupby("file_index")["true"].nunique() > 1).any()
    validation = pd.read_csv(job / "validation.csv", dtype=str)
    assert set(validation["split"]) == {"test"}  # the official split
    # as published: patient 103 on both sides, reported with the names matched or not
    notes = info["split_notes"]
    assert [entry["group"] for entry in notes["crossing_groups"]] == ["Icbhi:103"]
    assert [m["recording"].split("_")[0] for m in notes["matched_by_fields"]] == ["106"]
    assert [u["listed"] for u in notes["unmatched"]] == ["199_1b1_Al_sc_Meditron"]
    [line] = [line for line in (job / "report.txt").read_text().splitlines()
              if line.startswith("split notes:")]
    assert "1 patient(s) on both sides of the published split, kept as published: Icbhi:103" in line
    assert "199_1b1_Al_sc_Meditron" in line and notes["matched_by_fields"][0]["listed"] in line
    metrics = json.loads((job / "metrics.json").read_text())
    assert 0.0 <= metrics["examples"]["icbhi_score"] <= 1.0
    # as `bash launch.sh cw/train2357 --validation-only` does it
    replayed = run_trainer(find_trainer("cw/train2357"), testing=True, validation_only=True,
                           cache_root=str(cache), data_root=str(data_root), progress=False)
    assert replayed == [job]
    [replay] = job.glob("replay-*.txt")
    assert "IDENTICAL to the recorded metrics" in replay.read_text()


def test_augment_pretend_writes_before_and_after_of_one_clip(data_root, tmp_path, capsys):
    cache = tmp_path / "cache"
    code = main(["augment", "train2356", "--pretend", "3", "--cache-root", str(cache),
                 "--data-root", str(data_root)])
    assert code == 0
    [folder] = list((cache / "pneumonia" / "train2356" / "augment").iterdir())
    names = {p.name for p in folder.iterdir()}
    assert {"before.wav", "01_mixup.png", "01_mixup.wav", "02_augmix.png", "02_augmix.wav",
            "draws.json"} <= names
    before, sr = soundfile.read(folder / "before.wav")
    after, _ = soundfile.read(folder / "02_augmix.wav")
    assert sr == 4000 and len(before) == len(after) == 5 * 4000
    assert not np.allclose(before, after)
    draws = json.loads((folder / "draws.json").read_text())
    mixup = draws["augmentations"][0]
    assert 0.3 <= mixup["drawn"]["lambda"] <= 0.7
    assert sum(mixup["label"]) == pytest.approx(1.0)
    assert not any(p.name.isdigit() or p.name.endswith("_testing")
                   for p in (cache / "pneumonia" / "train2356").iterdir())  # no job folder
