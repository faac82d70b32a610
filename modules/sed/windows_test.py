"""Random training windows out of clips (modules.sed.windows).

The clips folder is made here: 4 s clips at 8 kHz of quiet noise, with loud bursts exactly where
the events are (a "bird" burst at 0.8, a "frog" burst at 0.4), so that the audio of a window
says which bins its targets must mark.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from modules.sed.clips import METADATA_COLUMNS
from modules.sed.windows import (RandomWindows, load_clip_table, split_clips,
                                 window_frame_labels)

SR = 8000
CLIP_S = 4.0
WINDOW_S = 2.0
BINS = 10
W = int(WINDOW_S * SR)
LEVEL = {"bird": 0.8, "frog": 0.4}
CLASSES = ["bird", "frog"]

# (file, group, [(onset, offset, label), ...]); the corrupt clip is not audio at all.
CLIPS = [
    ("0000/000000_bird.wav", "rec_a", [(1.0, 1.5, "bird")]),
    ("0000/000001_frog.wav", "rec_a", [(0.5, 1.0, "bird"), (2.5, 3.3, "frog")]),
    ("0000/000002_background.wav", "rec_b", []),
    ("0000/000003_bird.wav", "rec_d", None),  # corrupt
    ("0000/000004_frog.wav", "rec_c", [(1.2, 2.0, "frog")]),
]


def _signal(events, seed):
    noise = np.random.default_rng(seed).uniform(-0.01, 0.01, int(CLIP_S * SR))
    alternating = (-1.0) ** np.arange(len(noise))
    for onset, offset, label in events:
        a, b = int(round(onset * SR)), int(round(offset * SR))
        noise[a:b] = LEVEL[label] * alternating[a:b]
    return noise


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    (root / "0000").mkdir()
    rows = []
    for n, (name, group, events) in enumerate(CLIPS):
        if events is None:
            (root / name).write_bytes(b"RIFF this is not a wav file at all" * 10)
            events = [(0.5, 1.0, "bird")]
        else:
            soundfile.write(root / name, _signal(events, n), SR, subtype="PCM_16")
        base = {"clip": name, "source": f"/rec/{group}.wav", "clip_start": 10.0 * n,
                "clip_length": CLIP_S, "truncated": False, "group": f"/rec/{group}.wav"}
        if not events:
            rows.append({**base, "onset": "", "offset": "", "label": ""})
        for onset, offset, label in events:
            rows.append({**base, "onset": onset, "offset": offset, "label": label})
    pd.DataFrame(rows)[list(METADATA_COLUMNS)].to_csv(root / "metadata.tsv", sep="\t",
                                                      index=False)
    return root


@pytest.fixture(scope="module")
def table(folder):
    return load_clip_table(folder)


@pytest.fixture(scope="module")
def train(table):
    clips, classes = table
    return RandomWindows(clips, classes, SR, WINDOW_S, BINS, seed=7, verbose=False)


def _read(folder, name):
    return soundfile.read(folder / name, dtype="float32")[0]


# ------------------------------------------------------------------------------------ table
def test_load_clip_table(folder, table):
    clips, classes = table
    assert classes == CLASSES
    assert list(clips["clip"]) == [name for name, _, _ in CLIPS]
    assert all(Path(p).is_absolute() and Path(p) == folder.resolve() / c
               for p, c in zip(clips["path"], clips["clip"]))
    assert clips.loc[1, "events"] == [(0.5, 1.0, "bird"), (2.5, 3.3, "frog")]
    assert clips.loc[2, "events"] == []  # background
    assert clips.loc[0, "group"] == "/rec/rec_a.wav" and clips.loc[0, "clip_length"] == CLIP_S


# ---------------------------------------------------------------------------------- targets
def test_window_frame_labels_hand_computed():
    events = [(1.0, 1.5, "bird")]
    # window [0.5, 2.5), bins of 0.2 s: the event is at 0.5..1.0 -> bins 2, 3, 4 (1.0 is an edge)
    labels = window_frame_labels(events, 0.5, 2.0, CLASSES, 10)
    assert labels.shape == (2, 10) and labels.dtype == np.float32
    expected = np.zeros((2, 10), np.float32)
    expected[0, 2:5] = 1
    np.testing.assert_array_equal(labels, expected)
    # 7 bins of 2/7 s: 0.5 / (2/7) = 1.75 -> bin 1; 1.0 / (2/7) = 3.5 -> up to bin 3
    labels = window_frame_labels(events, 0.5, 2.0, CLASSES, 7)
    expected = np.zeros((2, 7), np.float32)
    expected[0, 1:4] = 1
    np.testing.assert_array_equal(labels, expected)
    # an event starting before the window and one running past its end; one outside it
    events = [(0.2, 0.9, "frog"), (2.3, 9.0, "bird"), (3.0, 3.5, "bird"), (0.1, 0.5, "bird")]
    labels = window_frame_labels(events, 0.5, 2.0, CLASSES, 10)
    expected = np.zeros((2, 10), np.float32)
    expected[1, 0:2] = 1    # frog 0..0.4 in the window
    expected[0, 9] = 1      # bird 1.8..2.0 (cut at the window's end)
    np.testing.assert_array_equal(labels, expected)


def test_window_frame_labels_background_and_unknown():
    np.testing.assert_array_equal(window_frame_labels([], 1.0, 2.0, CLASSES, 10),
                                  np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match="owl"):
        window_frame_labels([(0.0, 1.0, "owl")], 0.0, 2.0, CLASSES, 10)


# ---------------------------------------------------------------------------------- windows
def test_corrupt_clip_reported_and_skipped(table, capsys):
    clips, classes = table
    windows = RandomWindows(clips, classes, SR, WINDOW_S, BINS, seed=7)
    err = capsys.readouterr().err
    assert "000003_bird.wav" in err
    assert len(windows.skipped) == 1
    path, reason = windows.skipped[0]
    assert path.endswith("000003_bird.wav") and reason and reason in err
    assert len(windows) == 4
    assert list(windows.clips["clip"]) == [CLIPS[i][0] for i in (0, 1, 2, 4)]
    assert list(windows.rows) == [0, 1, 2, 4]


def test_windows_reproducible_and_new_each_epoch(table, train):
    clips, classes = table
    starts = [train.starts(epoch) for epoch in range(4)]
    for s in starts:
        assert np.all((s >= 0) & (s <= int(CLIP_S * SR) - W))
    for a in range(4):
        for b in range(a + 1, 4):
            assert np.all(starts[a] != starts[b]), (a, b)
    again = RandomWindows(clips, classes, SR, WINDOW_S, BINS, seed=7, verbose=False)
    # the draw depends on (seed, epoch, clip) only: not on the order clips are asked for
    assert [again.start(i, 2) for i in reversed(range(len(again)))] == list(starts[2][::-1])
    audio_a, labels_a = train.numpy_epoch(1)
    audio_b, labels_b = again.numpy_epoch(1)
    np.testing.assert_array_equal(audio_a, audio_b)
    np.testing.assert_array_equal(labels_a, labels_b)
    other = RandomWindows(clips, classes, SR, WINDOW_S, BINS, seed=8, verbose=False)
    assert np.all(other.starts(1) != starts[1])


def test_audio_and_labels_agree(folder, train):
    for epoch in range(6):
        audio, labels = train.numpy_epoch(epoch)
        assert audio.shape == (4, W) and labels.shape == (4, 2, BINS)
        assert audio.dtype == np.float32 and labels.dtype == np.float32
        for i, start in enumerate(train.starts(epoch)):
            clip = _read(folder, train.clips.loc[i, "clip"])
            np.testing.assert_array_equal(audio[i], clip[start:start + W])
            bins = np.arange(W) // (W // BINS)
            loudness = np.abs(audio[i])
            for k, label in enumerate(CLASSES):
                level = LEVEL[label]
                loud = np.abs(loudness - level) < 0.05
                marked = np.zeros(BINS, np.float32)
                marked[np.unique(bins[loud])] = 1
                np.testing.assert_array_equal(labels[i, k], marked, err_msg=f"{epoch} {i} {label}")
    # the background clip never has a label
    assert not train.numpy_epoch(0)[1][2].any()


def test_validation_windows_fixed(folder, table):
    clips, classes = table
    valid = RandomWindows(clips, classes, SR, WINDOW_S, BINS, seed=7, validation=True,
                          verbose=False)
    # centred on the first event (1.25 s, 0.75 s -> moved to 0, 1.6 s) or the clip (2 s)
    expected = [int(1.25 * SR) - W // 2, 0, int(2.0 * SR) - W // 2, int(1.6 * SR) - W // 2]
    for epoch in (0, 1, 5):
        assert list(valid.starts(epoch)) == expected
    audio_0, labels_0 = valid.numpy_epoch(0)
    audio_3, labels_3 = valid.numpy_epoch(3)
    np.testing.assert_array_equal(audio_0, audio_3)
    np.testing.assert_array_equal(labels_0, labels_3)
    np.testing.assert_array_equal(audio_0[0], _read(folder, CLIPS[0][0])[2000:2000 + W])
    expected_labels = np.zeros((2, BINS), np.float32)
    expected_labels[0, 3:7] = 1  # bird 1.0..1.5 s in the window [0.25, 2.25): 0.75..1.25 s
    np.testing.assert_array_equal(labels_0[0], expected_labels)


# ------------------------------------------------------------------------------------- split
def test_split_clips_groups_never_on_both_sides():
    groups = [f"rec_{g}" for g in range(10) for _ in range(1 + g % 4)]
    clips = pd.DataFrame({"path": [f"/c/{i}.wav" for i in range(len(groups))], "group": groups,
                          "events": [[] for _ in groups]})
    seen = set()
    for seed in range(8):
        for fraction in (0.2, 0.5, 0.9):
            train, validation = split_clips(clips, fraction, seed)
            assert not set(train["group"]) & set(validation["group"])
            assert len(train) and len(validation)
            assert sorted(list(train["path"]) + list(validation["path"])) == sorted(clips["path"])
            # enough clips, unless only one group was left for training
            assert len(validation) >= round(fraction * len(clips)) or train["group"].nunique() == 1
            seen.add(tuple(sorted(set(validation["group"]))))
    assert len(seen) > 3  # the seed matters
    a = split_clips(clips, 0.2, 3)
    b = split_clips(clips.iloc[::-1].reset_index(drop=True), 0.2, 3)
    assert set(a[1]["path"]) == set(b[1]["path"])  # independent of row order
    with pytest.raises(ValueError, match="2 groups"):
        split_clips(clips.assign(group="one"), 0.2)


# ---------------------------------------------------------------------------------- tf.data
def _collect(dataset):
    audio, labels, shapes = [], [], []
    for a, l in dataset:
        shapes.append((tuple(a.shape), tuple(l.shape)))
        audio.append(a.numpy())
        labels.append(l.numpy())
    return np.concatenate(audio), np.concatenate(labels), shapes


def test_dataset_shapes_and_epochs(table, train):
    import tensorflow as tf

    clips, classes = table
    windows = RandomWindows(clips, classes, SR, WINDOW_S, BINS, seed=7, verbose=False)
    dataset = windows.dataset(3, shuffle=False)
    assert dataset.element_spec[0].shape.as_list() == [None, W]
    assert dataset.element_spec[1].shape.as_list() == [None, 2, BINS]
    assert int(dataset.cardinality()) == 2
    for epoch in range(2):  # each pass is the next epoch
        audio, labels, shapes = _collect(dataset)
        assert shapes == [((3, W), (3, 2, BINS)), ((1, W), (1, 2, BINS))]
        expected_audio, expected_labels = train.numpy_epoch(epoch)
        np.testing.assert_array_equal(audio, expected_audio)
        np.testing.assert_array_equal(labels, expected_labels)
    assert windows.next_epoch == 2
    # shuffled: the epoch's own order, same windows
    audio, labels, _ = _collect(windows.dataset(4))
    order = windows.order(2)
    assert sorted(order) == [0, 1, 2, 3]
    np.testing.assert_array_equal(audio, train.numpy_epoch(2)[0][order])
    np.testing.assert_array_equal(labels, train.numpy_epoch(2)[1][order])
    # not epoch aware: every pass is the same epoch
    fixed = windows.dataset(4, epoch_aware=False, shuffle=False)
    first, second = _collect(fixed)[0], _collect(fixed)[0]
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, train.numpy_epoch(3)[0])
    # .repeat(): each repetition is a new epoch
    windows.next_epoch = 0
    audio = _collect(windows.dataset(4, shuffle=False).repeat(2))[0]
    np.testing.assert_array_equal(audio[:4], train.numpy_epoch(0)[0])
    np.testing.assert_array_equal(audio[4:], train.numpy_epoch(1)[0])
    assert isinstance(dataset, tf.data.Dataset)


def test_validation_dataset_same_every_pass(table):
    clips, classes = table
    valid = RandomWindows(clips, classes, SR, WINDOW_S, BINS, validation=True, verbose=False)
    dataset = valid.dataset(2)
    first, second = _collect(dataset)[0], _collect(dataset)[0]
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, valid.numpy_epoch(0)[0])  # not shuffled


def test_keras_fit_advances_epochs(table):
    import keras

    clips, classes = table
    windows = RandomWindows(clips, classes, SR, WINDOW_S, BINS, seed=7, verbose=False)
    valid = RandomWindows(clips, classes, SR, WINDOW_S, BINS, validation=True, verbose=False)
    drawn = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            drawn.append(windows.next_epoch)

    model = keras.Sequential([keras.Input((W,)), keras.layers.Reshape((BINS, W // BINS)),
                              keras.layers.Dense(2), keras.layers.Permute((2, 1))])
    model.compile("adam", "mse")
    model.fit(windows.dataset(2), validation_data=valid.dataset(2), epochs=3, verbose=0,
              shuffle=False, callbacks=[Spy()])
    assert drawn == [1, 2, 3]  # fit made one pass (one epoch of windows) per epoch


def test_a_clips_folder_is_a_dataset_for_job_blocks(folder, table):
    import warnings

    from modules.data import (detect_layout, load_auto, load_datasets, register_dataset,
                              split_table, unregister_dataset)

    clips, _ = table
    assert detect_layout(folder) == "sed_clips"
    dataset = load_auto(folder)
    assert dataset["path"].tolist() == clips["path"].tolist()
    assert dataset["group"].tolist() == clips["group"].tolist()
    expected = [events[0][2] if events else "background" for events in clips["events"]]
    assert dataset["label"].tolist() == expected
    assert set(dataset["annotation"]) == {str(folder.resolve() / "metadata.tsv")}
    register_dataset("ClipsUnderTest", str(folder))
    try:
        flagged, _ = load_datasets({"ClipsUnderTest": 1})
        assert len(flagged) == len(clips) and set(flagged["dataset"]) == {"ClipsUnderTest"}
    finally:
        unregister_dataset("ClipsUnderTest")
    with warnings.catch_warnings():  # 5 clips: some labels have a single member
        warnings.simplefilter("ignore", UserWarning)
        train, validation = split_table(dataset, method="group", validation_fold=1, n_folds=2,
                                        seed=0)
    assert not set(train["group"]) & set(validation["group"])  # a recording stays on one side
