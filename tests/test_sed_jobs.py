"""Sound event detection end to end on real sounds: ESC-10 dog barks and chainsaws mixed at
known times into long recordings, `spectrain clips`, a task="sed" job block (sed_crnn, testing
mode), its replay, and `spectrain detect` on a new recording.

Observed (seed 0, 2 CPU cores): the job trains in about 20 s; on the new recording the detector
finds the events with an event-based F1 of 0.8-1.0 (1 s onset collar, offsets not scored: the
detector's bins are 0.5 s long); the test requires 0.6."""

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from modules.cli import main, run_trainer
from modules.replay import replay_job
from modules.sed.annotations import write_events_csv
from modules.sed.clips import make_clips
from modules.sed.metrics import event_metrics
from tests.sed_data import make_long_recording

pytestmark = pytest.mark.slow
SR = 8000
SPEC = {"Dog bark": 3, "Chainsaw": 3}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("sed")
    events = pd.concat([make_long_recording(root / "recordings" / f"rec{i}.wav", SPEC, 60.0,
                                            sr=SR, seed=i, snr_db=12.0)
                        for i in range(6)], ignore_index=True)
    write_events_csv(events, root / "recordings" / "events.csv")
    make_clips(events, root / "clips", clip_length=8.0, seed=0, progress=False)
    trainer = root / "trainers" / "wildlife" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent(f"""
        import functools
        from modules.data import register_dataset
        from modules.models import sed_crnn
        from modules.parameters import parameters
        from modules.parsers import spec_parser
        from modules.training import launch_job

        register_dataset("Mixed", {str(root / "clips")!r})
        parameters.task = "sed"
        parameters.sr = {SR}
        parameters.audio_length = 4.0
        parameters.event_bins = 8
        parameters.n_fft = 256
        parameters.hop_length = 128
        parameters.n_mels = 32
        parameters.testing_epochs = 15
        parameters.testing_files_per_class = 12
        parameters.batch_size = 8
        parameters.lr = 3e-3
        parameters.n_example_plots = 2
        # one recording a fold: 4 to train on, 1 to validate, and the 6th held out as the test
        parameters.n_folds, parameters.test_fold = 6, 6
        launch_job({{"Mixed": 1}}, functools.partial(sed_crnn, filters=(8, 16), time_pool=(2, 2),
                                                     rnn_units=16), [], [], spec_parser)
    """))
    run_trainer(trainer, testing=True, cache_root=str(root / "cache"), progress=False)
    return root, root / "cache" / "wildlife" / "train1" / "1_testing"


def test_a_sed_job_writes_its_folder_and_replays(job):
    _, folder = job
    info = json.loads((folder / "job.json").read_text())
    assert info["status"] == "finished" and info["task"] == "sed"
    assert info["class_names"] == ["Chainsaw", "Dog bark"]
    for name in ("report.txt", "metrics.json", "predictions.npz", "history.png",
                 "best_model.keras", "validation_events.csv", "train.csv", "validation.csv"):
        assert (folder / name).is_file(), name
    assert len(list((folder / "examples").glob("*.png"))) == 2
    train, validation, test = (pd.read_csv(folder / f"{part}.csv")
                               for part in ("train", "validation", "test"))
    groups = [set(part["group"]) for part in (train, validation, test)]
    assert len(groups[1]) == len(groups[2]) == 1 and len(set.union(*groups)) == 6
    assert sum(map(len, groups)) == 6  # every recording on one side only
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["frames"]["micro"]["f1"] > 0.6
    # the held-out recording: its windows cut and evaluated once, after training
    assert {"frames", "events"} <= set(metrics["test"]) and metrics["test"]["n_windows"] > 0
    assert (folder / "test_events.csv").is_file()
    assert np.load(folder / "test_predictions.npz")["activity"].shape[1:] == (8, 2)
    report = (folder / "report.txt").read_text()
    assert "Frame level" in report and "Event level" in report
    assert "Test (held out, best model evaluated once after training)" in report
    activity = np.load(folder / "predictions.npz")["activity"]
    assert activity.shape[1:] == (8, 2)
    result = replay_job(folder, progress=False)
    assert result.identical and result.max_probability_difference == 0.0
    assert "test frame F1 (micro): recorded" in result.report_path.read_text()
    assert result.metrics["test"]["frames"]["micro"] == metrics["test"]["frames"]["micro"]


def test_detect_finds_the_events_of_a_new_recording(job):
    root, folder = job
    truth = make_long_recording(root / "new" / "unseen.wav", SPEC, 60.0, sr=SR, seed=99,
                                snr_db=12.0)
    main(["detect", "--job", str(folder), "--input", str(root / "new"),
          "--output", str(root / "detected"), "--no-progress"])
    found = pd.read_csv(root / "detected" / "events.csv")
    assert (root / "detected" / "events.selections.txt").is_file()
    scores = event_metrics(truth, found[["file", "onset", "offset", "label"]],
                           ["Chainsaw", "Dog bark"], t_collar=1.0, evaluate_offset=False)
    print(f"event-based F1 on the new recording: {scores['overall']['f1']:.3f}")
    assert scores["overall"]["f1"] >= 0.6
    with pytest.raises(SystemExit, match="spectrain detect:"):  # never overwrites
        main(["detect", "--job", str(folder), "--input", str(root / "new"),
              "--output", str(root / "detected"), "--no-progress"])
    # per-class thresholds: a class that can never pass its threshold finds nothing
    main(["detect", "--job", str(folder), "--input", str(root / "new"), "--output",
          str(root / "strict"), "--threshold", "Chainsaw=1.0", "--median-filter", "3",
          "--no-progress"])  # Dog bark keeps the job's threshold
    strict = pd.read_csv(root / "strict" / "events.csv")
    assert "Chainsaw" not in set(strict["label"]) and "Dog bark" in set(strict["label"])
    with pytest.raises(SystemExit, match="unknown class.*Chainsaw, Dog bark"):
        main(["detect", "--job", str(folder), "--input", str(root / "new"), "--output",
              str(root / "bad"), "--threshold", "Chainsow=0.5"])
    with pytest.raises(SystemExit, match="--threshold takes one number or CLASS=NUMBER"):
        main(["detect", "--job", str(folder), "--input", str(root / "new"), "--output",
              str(root / "bad"), "--threshold", "high"])


def test_the_elephant_trainer_runs_on_raven_tables_and_replays(tmp_path):
    from modules.cli import find_trainer
    from tests.sed_data import make_elephant_dataset

    data = tmp_path / "data"
    make_elephant_dataset(data / "elephants" / "recordings", n_recordings=5, duration=60.0,
                          sr=SR, seed=3, per_class=2)
    main(["clips", "--annotations", str(data / "elephants" / "recordings"),
          "--output", str(data / "elephants" / "clips"), "--clip-length", "20",
          "--no-progress"])
    run_trainer(find_trainer("elephants/train1"), testing=True, data_root=str(data),
                cache_root=str(tmp_path / "cache"), progress=False)
    folder = tmp_path / "cache" / "elephants" / "train1" / "1_testing"
    info = json.loads((folder / "job.json").read_text())
    assert info["status"] == "finished" and info["class_names"] == ["Gunshot", "Rumble"]
    assert info["event_bins"] == 10
    assert replay_job(folder, progress=False).identical
