"""Learned representations feeding a job block: a netCDF feature set registered as a dataset,
``feature_parser`` and ``feature_mlp``. The feature sets are made in the test: separable class
clusters, ESC-style folds, some files with two chunks, in auDeep's file format."""

import json
import textwrap

import keras
import numpy as np
import pandas as pd
import pytest

from modules.augment import AugmentationError
from modules.cli import run_trainer
from modules.data import load_auto
from modules.data.feature_sets import feature_reference, read_feature_rows
from modules.parameters import Parameters
from modules.pipeline import AudioConfig, SkippedFiles, decoded_dataset, fill_cache, one_hot_labels
from modules.replay import replay_job
from modules.representation.dataset import VALID, FeatureSet, FeatureSetError, make_label_map

CLASSES = ("bird", "gunshot", "rumble")
WIDTH = 12


def make_feature_set(path, n_files_per_class=10, n_folds=5, seed=0, two_chunk_every=4,
                     width=WIDTH):
    """Files ``<class>/<k>.wav``; every ``two_chunk_every``-th file has 2 chunks. Class c's
    vectors sit around 3*e_c, far from the others, on top of a per-dimension offset and scale,
    so standardisation matters; file k of each class is in fold k % n_folds + 1."""
    rng = np.random.default_rng(seed)
    offset = rng.normal(5.0, 2.0, width)
    scale = rng.uniform(0.5, 4.0, width)
    rows = []
    for c, name in enumerate(CLASSES):
        for k in range(n_files_per_class):
            chunks = 2 if k % two_chunk_every == 0 else 1
            for chunk in range(chunks):
                centre = np.zeros(width)
                centre[c] = 3.0
                vector = offset + scale * (centre + rng.normal(0.0, 0.5, width))
                folds = np.zeros(n_folds, int)
                folds[k % n_folds] = VALID
                rows.append((f"{name}/{k}.wav", chunk, name, vector, folds))
    # the chunks of a file are stored out of order: reading must sort them by chunk_nr
    rows = rows[::-1]
    labels = [r[2] for r in rows]
    label_map = make_label_map(labels)
    fs = FeatureSet(filename=[r[0] for r in rows], chunk_nr=[r[1] for r in rows],
                    label_nominal=labels, label_numeric=[label_map[v] for v in labels],
                    cv_folds=np.stack([r[4] for r in rows]), partition=np.full(len(rows), -1),
                    features=np.stack([r[3] for r in rows]), feature_dims=["generated"],
                    label_map=label_map)
    fs.save(path)
    return fs


def test_a_feature_set_reads_as_a_table_of_files_and_decodes_to_vectors(tmp_path):
    path = tmp_path / "reps.nc"
    fs = make_feature_set(path)
    table = load_auto(path)
    assert len(table) == 30  # files, not instances (files 0, 4 and 8 of a class have 2 chunks)
    assert len(fs) == 39
    first = table.iloc[0]
    set_path, name = feature_reference(first["path"])
    assert set_path == str(path) and name == first["group"]
    for _, row in table.iterrows():
        rows = np.flatnonzero(fs.filename == row["group"])
        assert row["label"] == fs.label_nominal[rows[0]]
        assert row["fold"] == int(np.flatnonzero(fs.cv_folds[rows[0]] == VALID)[0]) + 1
    assert sorted(table["fold"].unique().tolist()) == [1, 2, 3, 4, 5]
    import xarray as xr

    with xr.open_dataset(path) as data:  # auDeep stores "no partition" as NaN: no split
        assert data["partition"].dtype == np.float64 and np.isnan(data["partition"]).all()
    assert table["split"].isna().all()

    vectors, padded, error = read_feature_rows(f"{path}::bird/0.wav")
    rows = np.flatnonzero(fs.filename == "bird/0.wav")
    expected = fs.features[rows[np.argsort(fs.chunk_nr[rows])]]
    assert error == "" and not padded.any()
    np.testing.assert_array_equal(vectors, expected)  # chunk order, exact values

    # through the pipeline: one element per chunk; an unknown file is skipped with its reason
    params = Parameters()
    paths = [*table["path"][:3], f"{path}::nobody.wav"]
    audio = AudioConfig.from_parameters(params, paths)
    assert audio.features and audio.samples == WIDTH
    skipped = SkippedFiles()
    labels = one_hot_labels([*table["label"][:3], "bird"], list(CLASSES))
    meta = fill_cache(decoded_dataset(paths, labels, audio, skipped), 4, "reading", progress=False)
    n_chunks = sum(len(np.flatnonzero(fs.filename == feature_reference(p)[1])) for p in paths[:3])
    assert len(meta["label"]) == n_chunks
    assert skipped.items() == [(paths[3], f"no instance named 'nobody.wav' in {path}")]


def test_bad_feature_inputs_get_clear_errors(tmp_path, esc10):
    path = tmp_path / "reps.nc"
    make_feature_set(path)
    audio_file = next((esc10 / "001 - Dog bark").glob("*.ogg"))
    with pytest.raises(ValueError, match="either audio files or feature sets"):
        AudioConfig.from_parameters(Parameters(), [f"{path}::bird/0.wav", str(audio_file)])
    with pytest.raises(FeatureSetError, match="no such file"):
        AudioConfig.from_parameters(Parameters(), [f"{tmp_path / 'missing.nc'}::x.wav"])
    other = tmp_path / "other.nc"
    make_feature_set(other, width=WIDTH + 1)
    with pytest.raises(ValueError, match="different widths"):
        AudioConfig.from_parameters(Parameters(), [f"{path}::bird/0.wav", f"{other}::bird/0.wav"])
    # a spectrogram set (time, freq per instance) is not a set of vectors
    spectrograms = FeatureSet(["a.wav", "b.wav"], [0, 0], ["x", "y"], [0, 1], np.zeros((2, 1)),
                              [-1, -1], np.zeros((2, 4, 3)), ["time", "freq"])
    spectrograms.save(tmp_path / "spectrograms.nc")
    with pytest.raises(FeatureSetError, match=r"shape \(4, 3\).*one feature vector"):
        load_auto(tmp_path / "spectrograms.nc")
    unlabelled = FeatureSet(["a.wav"], [0], [None], [-1], np.zeros((1, 0)), [-1],
                            np.zeros((1, 4)), ["generated"])
    unlabelled.save(tmp_path / "unlabelled.nc")
    with pytest.raises(FeatureSetError, match="no instance has a label"):
        load_auto(tmp_path / "unlabelled.nc")
    # a file VALID in two folds (auDeep's overlapping folds) gets no silently chosen fold
    FeatureSet(["a.wav", "b.wav"], [0, 0], ["x", "y"], [0, 1], [[1, 1], [0, 0]], [-1, -1],
               np.zeros((2, 4)), ["generated"], {"x": 0, "y": 1}).save(tmp_path / "both.nc")
    with pytest.raises(FeatureSetError, match="cv_folds: a.wav is VALID in folds 1, 2"):
        load_auto(tmp_path / "both.nc")


TRAINER = """
    from modules.data import register_dataset
    from modules.models import feature_mlp
    from modules.parameters import parameters
    from modules.parsers import feature_parser
    from modules.training import launch_job

    register_dataset("Reps", {path!r})
    parameters.split = "fold"
    parameters.validation_fold = 2
    parameters.n_epochs = 30
    parameters.batch_size = 16
    parameters.lr = 3e-3
    parameters.target_metric = "loss"
    launch_job({{"Reps": 1}}, feature_mlp, [], {audio_aug}, feature_parser)
"""


def test_a_job_block_trains_on_learned_representations_and_replays(tmp_path):
    path = tmp_path / "reps.nc"
    fs = make_feature_set(path)
    trainer = tmp_path / "trainers" / "reps" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent(TRAINER.format(path=str(path), audio_aug="[]")))
    cache = tmp_path / "cache"
    run_trainer(trainer, cache_root=str(cache), progress=False)
    job = cache / "reps" / "train1" / "1"
    info = json.loads((job / "job.json").read_text())
    assert info["status"] == "finished" and info["inputs"] == "feature vectors"
    assert info["class_names"] == ["rumble", "gunshot", "bird"]  # order of appearance in the set
    for name in ("report.txt", "params.json", "metrics.json", "predictions.csv",
                 "confusion_matrix.png", "history.png", "best_model.keras", "examples.txt"):
        assert (job / name).is_file(), name
    assert not (job / "gradcam").exists()  # no time-frequency input to attribute
    assert json.loads((job / "params.json").read_text())["shape"] == [WIDTH]
    validation = pd.read_csv(job / "validation.csv")
    assert set(validation["fold"]) == {2}
    metrics = json.loads((job / "metrics.json").read_text())
    assert metrics["examples"]["n_examples"] == int(np.isin(
        fs.filename, [feature_reference(p)[1] for p in validation["path"]]).sum())
    assert metrics["examples"]["accuracy"] >= 0.9  # separable clusters, once standardised

    # the standardisation comes from the training files only
    train = pd.read_csv(job / "train.csv")
    train_rows = np.isin(fs.filename, [feature_reference(p)[1] for p in train["path"]])
    best = keras.models.load_model(job / "best_model.keras", compile=False)
    np.testing.assert_allclose(np.asarray(best.get_layer("standardize").mean).ravel(),
                               fs.features[train_rows].mean(axis=0), rtol=1e-5)

    result = replay_job(job, progress=False)
    assert result.identical and result.max_probability_difference == 0.0

    # `spectrain predict` takes feature sets for such a job: the validation instances give the
    # probabilities predictions.csv recorded
    from modules.inference import predict_with_job

    files = predict_with_job(job, [path], tmp_path / "predicted", progress=False)
    windows = pd.read_csv(tmp_path / "predicted" / "windows.csv")
    assert len(windows) == len(fs) and set(files["file"]) == set(fs.filename)
    recorded = pd.read_csv(job / "predictions.csv")
    recorded["file"] = [feature_reference(p)[1] for p in recorded["path"]]
    both = recorded.merge(windows, left_on=["file", "chunk_index"], right_on=["file", "chunk"])
    columns = [f"p_{name}" for name in info["class_names"]]
    assert len(both) == len(recorded)
    np.testing.assert_allclose(both[[f"{c}_x" for c in columns]].to_numpy(),
                               both[[f"{c}_y" for c in columns]].to_numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="give it feature sets"):
        predict_with_job(job, [tmp_path / "clip.wav"], tmp_path / "p2", progress=False)

    # an audio augmentation has no audio to work on: refused before training
    trainer.write_text(textwrap.dedent(TRAINER.format(
        path=str(path), audio_aug='[["mixup", {"quantity": 0.5}]]')))
    with pytest.raises(AugmentationError, match="no audio to augment"):
        run_trainer(trainer, cache_root=str(cache), progress=False)
