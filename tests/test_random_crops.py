"""Random-crop training (a new window per file and epoch) and file-level target metrics."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from modules.pipeline import RandomCrops


def test_random_crops_are_seeded_by_seed_epoch_and_file():
    waveforms = [np.arange(100, dtype=np.float32) + 1000 * k for k in range(4)]
    waveforms.append(np.ones(5, np.float32))  # shorter than a window: padded
    labels = np.eye(5, dtype=np.float32)
    crops = RandomCrops(waveforms, labels, length=10, seed=7)
    again = RandomCrops(waveforms, labels, length=10, seed=7)
    first = [crops.crop(0, i) for i in range(5)]
    assert all(np.array_equal(a, again.crop(0, i)) for i, a in enumerate(first))
    assert any(not np.array_equal(first[i], crops.crop(1, i)) for i in range(4))
    # the short file lies whole in its window, at a place that changes from epoch to epoch
    places = set()
    for epoch in range(20):
        window = crops.crop(epoch, 4)
        place = int(np.flatnonzero(window)[0])
        assert np.array_equal(window, np.r_[np.zeros(place), np.ones(5), np.zeros(5 - place)])
        places.add(place)
    assert len(places) > 1
    for i in range(4):  # a window of the file itself: 10 consecutive samples
        assert np.array_equal(np.diff(first[i]), np.ones(9)) and first[i][0] >= 1000 * i
    epoch0 = [label.argmax() for _, label in crops._examples()]
    epoch1 = [label.argmax() for _, label in crops._examples()]
    assert sorted(epoch0) == sorted(epoch1) == list(range(5)) and crops.current_epoch() == 2
    assert epoch0 == [label.argmax() for _, label in again._examples()]


def test_augmentation_draws_from_each_epochs_own_windows():
    from modules.augment import AugmentedTrainingSet, ExamplePool, build_augmentations

    waveforms = [np.arange(100, dtype=np.float32) + 1000 * k for k in range(4)]
    labels = np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]
    crops = RandomCrops(waveforms, labels, length=10, seed=3)
    [mixup] = build_augmentations([["mixup", {"quantity": 1.0, "no_pad": False,
                                              "label_one": -1, "label_two": -1,
                                              "minval": 0.0, "maxval": 1.0}]], [])
    mixup.bind(["a", "b"])
    pool = ExamplePool(np.stack([crops.crop(0, i) for i in range(4)]), labels, crops.padded,
                       1000, (10,))
    training = AugmentedTrainingSet(pool, [mixup], seed=3, crops=crops)
    assert len(training) == 8  # 4 windows + 4 mixed
    for epoch in (0, 1):
        assert np.array_equal(training.pool_for(epoch).audio[2], crops.crop(epoch, 2))
    assert not np.array_equal(training.pool_for(0).audio, training.pool_for(1).audio)
    kinds, _ = training.plan(1)
    plain = int(np.flatnonzero(kinds < 0)[0])
    recipe = training.recipe(1, plain)
    assert np.array_equal(recipe.waveforms[0], crops.crop(1, recipe.drawn["source"]))


@pytest.mark.slow
def test_an_augmented_random_crop_job_follows_the_file_level_accuracy_and_replays(tmp_path,
                                                                                   esc10):
    from modules.cli import run_trainer
    from modules.job_folder import jobs_table
    from modules.replay import replay_job

    trainer = tmp_path / "trainers" / "crops" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent("""
        import functools
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.parsers import spec_parser
        from modules.training import launch_job

        parameters.random_crops = True
        parameters.target_metric = "val_file_accuracy"
        parameters.sr = 8000
        parameters.audio_length = 1.0
        parameters.step_size = 1.0
        parameters.n_fft = 256
        parameters.hop_length = 128
        parameters.n_mels = 16
        parameters.testing_files_per_class = 2
        parameters.n_example_plots = 0
        parameters.n_gradcam = 0
        spec_aug_params = [
            ["mixup", {"quantity": 0.5, "no_pad": False, "label_one": -1, "label_two": -1,
                       "minval": 0.3, "maxval": 0.7}],
            ["specaugment", {"quantity": 0.5, "time_masks": 1, "time_width": 0.1,
                             "freq_masks": 1, "freq_width": 0.15}]]
        launch_job({"Esc10": 1}, functools.partial(baseline_cnn, filters=(4, 8)),
                   spec_aug_params, [], spec_parser)
        """))
    cache = tmp_path / "cache"
    run_trainer(trainer, testing=True, cache_root=str(cache), progress=False)
    job = cache / "crops" / "train1" / "1_testing"
    history = pd.read_csv(job / "history.csv")
    assert {"val_file_accuracy", "val_file_balanced_accuracy"} <= set(history.columns)
    metrics = json.loads((job / "metrics.json").read_text())
    best = history["val_file_accuracy"].idxmax()
    # the best epoch is the one with the best file-level accuracy, which the report's
    # per-recording level of the best model gives again
    assert metrics["best_epoch"] == int(history["epoch"][best])  # both counted from 1
    assert metrics["clips"]["accuracy"] == pytest.approx(history["val_file_accuracy"][best])
    report = (job / "report.txt").read_text()
    # one window per file and epoch, mixed and masked like fixed chunks
    assert ("training:     20 files -> 20 examples (40 training examples per epoch: 20 "
            "original + 10 mixup + 10 specaugment)") in report
    assert replay_job(job, progress=False).identical
    header, row = jobs_table(cache, "crops").splitlines()  # the per-recording level listed too
    assert "file accuracy" in header and f"{metrics['clips']['accuracy']:.4f}" in row
