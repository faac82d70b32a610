"""Multi-label data and scores: weak-label lists as DCASE writes them, PANNs' multi-label packs in
a job, refusals where one class per file is expected, and the tagging metrics against sklearn.

The end-to-end job and its replay of the "multilabel" task run in tests/test_tasks.py (registry
driven); here a PANNs pack goes through a job too, since packs are the other source of
multi-label data.
"""

from __future__ import annotations

import json
import textwrap

import h5py
import numpy as np
import pandas as pd
import pytest
import soundfile

from modules.data import decide_layout, detect_layout, load_auto, load_datasets
from modules.data import register_dataset, unregister_dataset
from modules.data.schema import NO_CLASS, row_labels
from modules.data.splits import stratification_keys
from modules.multilabel_metrics import multilabel_metrics
from modules.tasks.common import check_single_label


def tone(path, frequency, sr=8000, seconds=1.0):
    t = np.arange(int(sr * seconds)) / sr
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), sr)


def desed_weak(root, rows, missing=()):
    """DESED / DCASE 2019 task 4 weak part: metadata/train/weak.tsv (filename, event_labels,
    comma-separated) and the clips in audio/train/weak/ (see tests/multilabel_data.py)."""
    audio = root / "audio" / "train" / "weak"
    audio.mkdir(parents=True)
    for k, (name, _) in enumerate(rows):
        if name and name not in missing:
            tone(audio / name, 300 + 100 * k)
    weak = root / "metadata" / "train" / "weak.tsv"
    weak.parent.mkdir(parents=True)
    weak.write_text("filename\tevent_labels\n" + "".join(f"{n}\t{labels}\n" for n, labels in rows))
    return weak


def tagging_trainer(root, dataset_path, settings: str, model: str):
    """trainers/tagging/train1.py: one multi-label job block on ``dataset_path``."""
    trainer = root / "trainers" / "tagging" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent(f"""
        import functools
        from modules.data import register_dataset
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.parsers import spec_parser
        from modules.training import launch_job

        register_dataset("Tags", {str(dataset_path)!r})
        parameters.task = "multilabel"
        parameters.sr = 8000
        parameters.n_fft = 256
        parameters.n_mels = 16
        parameters.split = "random"
        """) + textwrap.dedent(settings) + f"launch_job({{'Tags': 1}}, {model}, [], [], spec_parser)\n")
    return trainer


def test_a_dcase_weak_list_is_a_multi_label_dataset(tmp_path, capsys):
    weak = desed_weak(tmp_path, [("Y-BJNMHMZDcU_50.000_60.000.wav", "Alarm_bell_ringing,Dog"),
                                 ("Y00pbt6aJV8Y_350.000_360.000.wav", "Speech"),
                                 ("", "Dog"),                                  # no file name
                                 ("Y0123456789a_0.000_10.000.wav", "Dog,Speech"),
                                 ("Y0gone000000_0.000_10.000.wav", "Speech")],
                      missing={"Y0gone000000_0.000_10.000.wav"})
    decision = decide_layout(weak)
    assert decision.name == "weak_labels"
    table = load_auto(weak)
    out = capsys.readouterr().out
    # DCASE's audio folder for metadata/train/weak.tsv, not the list's own folder
    assert table["path"].tolist() == [
        str(tmp_path / "audio/train/weak" / name) for name in
        ("Y-BJNMHMZDcU_50.000_60.000.wav", "Y00pbt6aJV8Y_350.000_360.000.wav",
         "Y0123456789a_0.000_10.000.wav")]
    assert row_labels(table) == [["Alarm_bell_ringing", "Dog"], ["Speech"], ["Dog", "Speech"]]
    assert table["label"].tolist() == ["Alarm_bell_ringing + Dog", "Speech", "Dog + Speech"]
    skipped = table.attrs["skipped_rows"]
    assert skipped == [f"{weak}, line 4: missing file name",
                       f"{weak}, line 6: audio file not found: "
                       f"{tmp_path / 'audio/train/weak/Y0gone000000_0.000_10.000.wav'}"]
    assert "2 row(s) skipped" in out
    # `spectrain inspect raw` names the layout and counts files per class, not per combination
    from modules.data import inspect_raw

    _, text = inspect_raw(weak, progress=False)
    assert "Layout: weak_labels" in text
    assert "Files per class (3 classes; multi-label: a file counts for each of its classes; " \
           "2 files have several, 0 none):\n  Alarm_bell_ringing  1\n  Dog                 2\n" \
           "  Speech              2\nLabel combinations (3):" in text
    # the classes of a multi-label dataset are its labels, not its combinations
    register_dataset("DesedWeak", weak)
    try:
        loaded, classes = load_datasets({"DesedWeak": 1})
    finally:
        unregister_dataset("DesedWeak")
    assert classes == ["Alarm_bell_ringing", "Dog", "Speech"]
    # a classification job refuses it rather than give each file one of its classes
    with pytest.raises(ValueError, match=r"dataset DesedWeak: 2 of 3 files have several "
                                         r"classes.*parameters.task = \"multilabel\""):
        check_single_label(loaded)


def test_weak_list_detection_leaves_manifests_and_event_tables_alone(tmp_path):
    manifest = tmp_path / "files.csv"
    manifest.write_text("path,label\na.wav,dog\n")
    assert detect_layout(manifest) == "manifest"
    strong = tmp_path / "strong.tsv"  # DCASE's strong labels: filename onset offset event_label
    strong.write_text("filename\tonset\toffset\tevent_label\na.wav\t0.1\t0.5\tDog\n")
    with pytest.raises(ValueError):
        detect_layout(strong)
    comma = tmp_path / "weak.csv"  # a comma-separated weak list is no manifest
    comma.write_text('filename,event_labels\na.wav,"Dog,Cat"\n')
    assert detect_layout(comma) == "weak_labels"


def test_a_clip_without_classes_is_a_negative_clip_and_splits_pool_rare_combinations(tmp_path):
    for name in ("a.wav", "b.wav", "c.wav", "d.wav", "e.wav", "f.wav"):
        tone(tmp_path / name, 440)
    weak = tmp_path / "weak.tsv"
    weak.write_text("filename\tevent_labels\na.wav\tDog\nb.wav\tDog\nc.wav\t\n"
                    "d.wav\tCat\ne.wav\tCat\nf.wav\tDog,Cat\n")
    table = load_auto(weak)
    assert row_labels(table)[2] == [] and table["label"][2] == NO_CLASS
    keys = stratification_keys(table)
    # "(none)" and "Cat + Dog" are seen once: pooled, so a stratified split can place them
    assert list(keys) == ["Dog", "Dog", "(label combinations seen once)", "Cat", "Cat",
                          "(label combinations seen once)"]


def test_a_multi_label_panns_pack_trains_a_multilabel_job(tmp_path):
    """A pack written the way PANNs' pack_waveforms_to_hdf5 writes it (tests/test_packs.py,
    panns_pack: audio_name S20, int16 waveform, boolean multi-label target, sample_rate only),
    with PANNs' class_labels_indices.csv, trained with task "multilabel"."""
    from modules.cli import run_trainer
    from modules.replay import replay_job
    from tests.test_packs import AUDIOSET_NAMES, class_labels_indices, panns_pack

    class_labels_indices(tmp_path / "metadata", ["Speech", "Music", "Dog"])
    (tmp_path / "workspace").mkdir()
    names = [f"Y{k:011d}.wav" for k in range(12)] + AUDIOSET_NAMES
    targets = [[k % 2, (k // 2) % 2, k % 3 == 0] for k in range(len(names))]
    pack = panns_pack(tmp_path / "workspace" / "balanced.h5", names, targets)
    with h5py.File(pack, "a") as hf:  # spectrain's fold dataset beside PANNs' (modules.data.packs)
        hf.create_dataset("fold", data=np.arange(len(names), dtype=np.int32) % 3 + 1)
    trainer = tagging_trainer(tmp_path, pack, """
        parameters.audio_length = 0.5
        parameters.step_size = 0.5
        parameters.hop_length = 128
        parameters.split, parameters.validation_fold, parameters.test_fold = "fold", 2, 3
        """, "functools.partial(baseline_cnn, filters=(4,), multi_label=True)")
    run_trainer(trainer, testing=True, cache_root=str(tmp_path / "cache"), progress=False)
    [job] = (tmp_path / "cache" / "tagging" / "train1").glob("*_testing")
    assert json.loads((job / "job.json").read_text())["status"] == "finished"
    assert "classes:      3: Speech, Music, Dog" in (job / "report.txt").read_text()
    metrics = json.loads((job / "metrics.json").read_text())
    assert set(metrics["examples"]["per_class"]) == {"Speech", "Music", "Dog"}
    # fold 3 held out: evaluated once after training, reported apart, replayed
    assert set(metrics["test"]["examples"]["per_class"]) == {"Speech", "Music", "Dog"}
    test_rows = pd.read_csv(job / "test.csv")
    assert set(test_rows["fold"]) == {3} and len(pd.read_csv(job / "test_predictions.csv"))
    assert "Test (held out, best model evaluated once after training), per example" in (
        job / "report.txt").read_text()
    replayed = replay_job(job, progress=False)
    assert replayed.identical and "test" in replayed.metrics


def test_a_softmax_model_is_refused_for_a_multilabel_job(tmp_path):
    from modules.cli import run_trainer

    weak = desed_weak(tmp_path, [(f"Y{k:011d}.wav", "Dog,Cat" if k % 2 else "Dog")
                                 for k in range(8)])
    trainer = tagging_trainer(tmp_path, weak, """
        parameters.audio_length = 1.0
        parameters.hop_length = 256
        parameters.validation_size = 0.5
        """, "functools.partial(baseline_cnn, filters=(4,))")
    with pytest.raises(ValueError, match="ends in softmax: a multi-label job needs a sigmoid "
                                         "head.*multi_label=True"):
        run_trainer(trainer, testing=True, cache_root=str(tmp_path / "cache"), progress=False)


def test_multilabel_metrics_match_sklearn():
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    truth = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0]])
    scores = np.array([[0.9, 0.2, 0.1], [0.6, 0.4, 0.3], [0.3, 0.8, 0.2], [0.2, 0.1, 0.6],
                       [0.4, 0.7, 0.1]])
    level = multilabel_metrics(truth, scores, ["a", "b", "c"], threshold=0.5)
    assert level["per_class"]["c"]["average_precision"] is None  # no positive: undefined
    expected_ap = [average_precision_score(truth[:, c], scores[:, c]) for c in (0, 1)]
    assert level["mean_average_precision"] == pytest.approx(np.mean(expected_ap), abs=1e-12)
    assert level["macro_roc_auc"] == pytest.approx(
        np.mean([roc_auc_score(truth[:, c], scores[:, c]) for c in (0, 1)]), abs=1e-12)
    decided = scores >= 0.5
    assert level["micro_f1"] == pytest.approx(f1_score(truth, decided, average="micro"))
    assert level["macro_f1"] == pytest.approx(
        np.mean([f1_score(truth[:, c], decided[:, c]) for c in (0, 1)]))
    assert level["subset_accuracy"] == pytest.approx(2 / 5)  # rows 0 and 2 right everywhere
    assert level["hamming_loss"] == pytest.approx(np.mean(truth != decided))
    assert level["per_class"]["a"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "average_precision": expected_ap[0],
         "roc_auc": roc_auc_score(truth[:, 0], scores[:, 0]), "support": 3})


def test_a_random_split_of_multi_label_files_keeps_every_class_in_proportion():
    from modules.data import make_table, split_table

    rng = np.random.default_rng(0)
    classes = [f"c{i}" for i in range(8)]
    # 200 files, 1-3 classes each, class frequencies from common to rare: hardly two files
    # share a combination, so stratifying by combination is impossible
    frequency = np.linspace(0.5, 0.04, len(classes))
    labels = [[c for c, f in zip(classes, frequency) if rng.random() < f] for _ in range(200)]
    table = make_table({"path": [f"/x/{k}.wav" for k in range(200)], "labels": labels,
                        "label": ["+".join(sorted(clip)) or "none" for clip in labels]})
    train, validation = split_table(table, method="random", validation_size=0.25, seed=3)
    assert len(train) + len(validation) == 200 and not set(train["path"]) & set(validation["path"])
    assert abs(len(validation) - 50) <= 1
    for name in classes:
        total = sum(name in clip for clip in labels)
        held = sum(name in clip for clip in row_labels(validation))
        assert abs(held - 0.25 * total) <= 1.5, (name, held, total)
    again, _ = split_table(table, method="random", validation_size=0.25, seed=3)
    assert again["path"].tolist() == train["path"].tolist()  # seeded: the same split
