"""Tests of streaming sound event detection, with a fake detector whose right answer is known.

The fake detector needs no model: class activity is 1 in a frame whose short-time energy
(computed from the window's own samples) exceeds a level. The recordings are low noise with
loud bursts at known times, so events must match the bursts to within one frame.
"""

import csv
import math

import numpy as np
import pandas as pd
import pytest
import scipy.ndimage
import soundfile

from modules.data.audio import BadAudioError
from modules.sed.annotations import read_annotations
from modules.sed.detect import detect, detect_file, stream_windows

SR = 8000
FRAME = 0.1  # seconds per detector frame
LEVEL = 0.01  # energy above which a frame is "loud"; noise is 1e-4, a burst 0.125


def make_signal(seconds, bursts, sr=SR, seed=0, amplitude=0.5):
    """Low noise with a loud tone in each (onset, offset[, amplitude]) burst."""
    rng = np.random.default_rng(seed)
    audio = 0.01 * rng.standard_normal(int(round(seconds * sr)))
    t = np.arange(len(audio)) / sr
    for onset, offset, *level in bursts:
        inside = (t >= onset) & (t < offset)
        audio[inside] += (level or [amplitude])[0] * np.sin(2 * np.pi * 440.0 * t[inside])
    return audio.astype(np.float32)


def write_wav(path, seconds, bursts, sr=SR, **kwargs):
    soundfile.write(path, make_signal(seconds, bursts, sr, **kwargs), sr, subtype="PCM_16")
    return path


def frame_energy(batch, frame_samples):
    b, n = batch.shape
    return np.mean(batch.reshape(b, n // frame_samples, frame_samples) ** 2, axis=2)


def energy_detector(sr=SR, frame=FRAME, gains=(1.0,), quiet=False):
    """predict_fn: class c is gains[c] where a frame is loud; plus a 'quiet' class if asked."""
    frame_samples = int(round(frame * sr))

    def predict(batch):
        loud = (frame_energy(batch, frame_samples) > LEVEL).astype(np.float32)
        outputs = [gain * loud for gain in gains]
        if quiet:
            outputs.append(1.0 - loud)
        return np.stack(outputs, axis=-1)

    return predict


def run(path, hop=5.0, window=10.0, classes=("burst",), predict=None, **kwargs):
    return detect_file(path, predict or energy_detector(), SR, window, hop, FRAME,
                       list(classes), **kwargs)


def times(events, label=None):
    if label is not None:
        events = events[events["label"] == label]
    return list(zip(events["onset"], events["offset"]))


def assert_matches(found, truth, tolerance=FRAME + 1e-6):
    assert len(found) == len(truth), f"found {found}, expected {truth}"
    for (onset, offset), (true_onset, true_offset) in zip(found, truth):
        assert abs(onset - true_onset) <= tolerance, (found, truth)
        assert abs(offset - true_offset) <= tolerance, (found, truth)


# Bursts at the file start, across window starts (5, 10, 20, 25 s with a 5 s hop) and ending
# exactly at a window's end (9.5-10.0 ends window 0).
BURSTS = [(0.0, 0.75), (4.93, 5.12), (9.5, 10.0), (19.96, 21.37), (24.05, 26.0),
          (33.333, 33.9), (44.6, 45.4)]


@pytest.fixture(scope="module")
def bursts_file(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("sed") / "bursts.wav", 60.0, BURSTS)


def test_bursts_found_at_window_edges_and_across_window_boundaries(bursts_file):
    events = run(bursts_file, hop=5.0)
    assert list(events.columns) == ["file", "onset", "offset", "label", "score"]
    assert set(events["label"]) == {"burst"} and (events["file"] == str(bursts_file)).all()
    assert_matches(times(events), BURSTS)
    assert np.allclose(events["score"], 1.0)


def test_overlapping_windows_give_the_same_events_as_non_overlapping(bursts_file):
    separate = times(run(bursts_file, hop=10.0))
    for hop in (5.0, 2.5, 0.5):
        assert_matches(times(run(bursts_file, hop=hop)), separate)


def test_stream_windows_cover_the_file_and_pad_only_the_last(tmp_path):
    path = write_wav(tmp_path / "short.wav", 23.3, [(3.0, 4.0)])
    audio, _ = soundfile.read(path, dtype="float32")
    # Hop == window: the windows laid end to end are the file, then zeros.
    windows = list(stream_windows(path, SR, 5.0, 5.0, block_seconds=1.7))
    assert [w.start for w in windows] == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert [w.valid for w in windows] == [40000] * 4 + [len(audio) - 160000]
    joined = np.concatenate([w.audio for w in windows])
    np.testing.assert_array_equal(joined[:len(audio)], audio)
    assert not joined[len(audio):].any()
    # Overlap: every window is the file's slice; none after the one reaching the end.
    windows = list(stream_windows(path, SR, 10.0, 4.0, block_seconds=3.0))
    assert [w.start for w in windows] == [0.0, 4.0, 8.0, 12.0, 16.0]  # 16 + 10 > 23.3
    for w in windows:
        start = int(w.start * SR)
        np.testing.assert_array_equal(w.audio[:w.valid], audio[start:start + w.valid])
    # A file shorter than one window: a single padded window.
    (window,) = stream_windows(path, SR, 30.0, 10.0)
    assert window.valid == len(audio) and len(window.audio) == 30 * SR


def test_last_partial_window_neither_loses_nor_invents_events(tmp_path):
    # 63.25 s with 10 s windows every 5 s: the last window starts at 55 s and is 1.75 s padding.
    ends_loud = write_wav(tmp_path / "loud_end.wav", 63.25, [(30.0, 31.0), (62.43, 63.25)])
    ends_quiet = write_wav(tmp_path / "quiet_end.wav", 63.25, [(30.0, 31.0), (61.0, 61.6)])
    classes = ("burst", "quiet")
    # The 'quiet' class fires on silence, so zero padding would make a quiet event of its own.
    predict = energy_detector(quiet=True)

    events = run(ends_loud, classes=classes, predict=predict)
    assert_matches(times(events, "burst"), [(30.0, 31.0), (62.43, 63.25)])
    assert times(events, "burst")[-1][1] == pytest.approx(63.25)  # ends with the file
    assert_matches(times(events, "quiet"), [(0.0, 30.0), (31.0, 62.43)])

    events = run(ends_quiet, classes=classes, predict=predict)
    assert_matches(times(events, "burst"), [(30.0, 31.0), (61.0, 61.6)])
    assert_matches(times(events, "quiet"), [(0.0, 30.0), (31.0, 61.0), (61.6, 63.25)])
    assert events["offset"].max() == pytest.approx(63.25)  # not 63.3, the end of the frame

    # Merging across gaps would join 'quiet' to a quiet padding event if padding were kept
    # (the last burst spans 9 frames, the one at 30 s 10).
    events = run(ends_loud, classes=classes, predict=predict, min_gap=1.0)
    assert_matches(times(events, "quiet"), [(0.0, 30.0), (31.0, 62.43)])


def test_per_class_thresholds(bursts_file):
    predict = energy_detector(gains=(0.8, 0.4))
    classes = ("strong", "weak")
    assert set(run(bursts_file, classes=classes, predict=predict)["label"]) == {"strong"}
    both = run(bursts_file, classes=classes, predict=predict,
               thresholds={"strong": 0.5, "weak": 0.3})
    assert_matches(times(both, "strong"), BURSTS)
    assert_matches(times(both, "weak"), BURSTS)
    only_weak = run(bursts_file, classes=classes, predict=predict, thresholds=[0.9, 0.3])
    assert set(only_weak["label"]) == {"weak"}
    with pytest.raises(ValueError, match="no value"):
        run(bursts_file, classes=classes, predict=predict, thresholds={"strong": 0.5})


def test_median_filter_removes_a_short_spike(tmp_path):
    path = write_wav(tmp_path / "spike.wav", 30.0, [(12.0, 12.1), (20.0, 22.0)])
    assert_matches(times(run(path)), [(12.0, 12.1), (20.0, 22.0)])
    assert_matches(times(run(path, median_filter=5)), [(20.0, 22.0)])
    # The edges repeat the first/last decision: 2 active frames at either end survive a 5-frame
    # filter (zero edges would remove them).
    edges = write_wav(tmp_path / "edges.wav", 30.0, [(0.0, 0.2), (12.0, 12.1), (29.8, 30.0)])
    assert_matches(times(run(edges, median_filter=5)), [(0.0, 0.2), (29.8, 30.0)])
    # Per class: only the class given a filter loses the spike.
    two = run(path, classes=("a", "b"), predict=energy_detector(gains=(1.0, 1.0)),
              median_filter={"a": 5, "b": 1})
    assert_matches(times(two, "a"), [(20.0, 22.0)])
    assert_matches(times(two, "b"), [(12.0, 12.1), (20.0, 22.0)])


def test_min_gap_merges_and_min_duration_drops(tmp_path):
    path = write_wav(tmp_path / "gaps.wav", 50.0, [(30.0, 31.0), (31.3, 32.0), (40.0, 40.2)])
    assert_matches(times(run(path)), [(30.0, 31.0), (31.3, 32.0), (40.0, 40.2)])
    assert_matches(times(run(path, min_gap=0.5)), [(30.0, 32.0), (40.0, 40.2)])
    assert_matches(times(run(path, min_gap=0.2)), [(30.0, 31.0), (31.3, 32.0), (40.0, 40.2)])
    assert_matches(times(run(path, min_gap=0.5, min_duration=0.5)), [(30.0, 32.0)])

    # The score is the highest activity inside the merged event, its gap included: here a
    # loud one-frame spike the median filter removed from between two quiet bursts.
    path = write_wav(tmp_path / "score.wav", 20.0,
                     [(10.0, 11.0, 0.3), (11.2, 11.3, 0.5), (11.5, 12.5, 0.3)])

    def proportional(batch):  # amplitude 0.5 -> 1.0, amplitude 0.3 -> 0.36
        return np.minimum(frame_energy(batch, int(FRAME * SR)) / 0.125, 1.0)[..., None]

    parts = run(path, predict=proportional, thresholds=0.3, median_filter=5)
    assert_matches(times(parts), [(10.0, 11.0), (11.5, 12.5)])
    assert parts["score"].max() < 0.5
    merged = run(path, predict=proportional, thresholds=0.3, median_filter=5, min_gap=1.0)
    assert_matches(times(merged), [(10.0, 12.5)])
    assert merged["score"].iloc[0] > 0.9


def test_resampled_file_gives_the_same_times(tmp_path):
    bursts = [(3.37, 4.0), (12.21, 15.5), (29.5, 30.04)]
    at_16k = write_wav(tmp_path / "16k.wav", 40.0, bursts, sr=16000)
    at_8k = write_wav(tmp_path / "8k.wav", 40.0, bursts, sr=SR)
    resampled = times(run(at_16k, hop=2.5, block_seconds=1.3))  # detected at 8 kHz
    assert_matches(resampled, bursts)
    assert_matches(resampled, times(run(at_8k, hop=2.5)))


def positional_detector(sr=SR, frame=0.05):
    """Two classes whose activity also depends on the frame's place in the window, so the
    overlap-add average (not just any window's output) decides what crosses the threshold."""
    frame_samples = int(round(frame * sr))

    def predict(batch):
        energy = frame_energy(batch, frame_samples)
        n = energy.shape[1]
        taper = 0.3 + 0.7 * np.sin(np.pi * (np.arange(n) + 0.5) / n)
        a = (energy > LEVEL) * taper
        b = np.minimum(energy / 0.05, 1.0) * taper[::-1]
        return np.stack([a, b], axis=-1).astype(np.float32)

    return predict


def reference_events(path, predict, window_s, hop_s, frame_s, classes, thresholds, sizes,
                     min_gap, min_duration):
    """The same detection done the plain way: whole file in memory, whole track at once."""
    audio, sr = soundfile.read(path, dtype="float32")
    n, window, hop = len(audio), round(window_s * sr), round(hop_s * sr)
    windows = []
    start = 0
    while True:  # windows until one reaches the end, the last zero padded
        piece = np.zeros(window, np.float32)
        chunk = audio[start:start + window]
        piece[:len(chunk)] = chunk
        windows.append(piece)
        if start + window >= n:
            break
        start += hop
    outputs = predict(np.stack(windows))
    hop_frames, per_window = round(hop_s / frame_s), outputs.shape[1]
    total = (len(windows) - 1) * hop_frames + per_window
    sums, counts = np.zeros((total, len(classes))), np.zeros(total)
    for k, out in enumerate(outputs):
        sums[k * hop_frames:k * hop_frames + per_window] += out
        counts[k * hop_frames:k * hop_frames + per_window] += 1
    n_frames = math.ceil(n / (frame_s * sr) - 1e-9)
    activity = (sums / counts[:, None])[:n_frames]
    rows = []
    for c, label in enumerate(classes):
        active = (activity[:, c] > thresholds[c]).astype(np.uint8)
        active = scipy.ndimage.median_filter(active, size=sizes[c], mode="nearest")
        padded = np.concatenate([[0], active, [0]])
        edges = np.flatnonzero(np.diff(padded))
        merged = []
        for onset, offset in zip(edges[0::2], edges[1::2]):
            if merged and (onset - merged[-1][1]) * frame_s < min_gap:
                merged[-1][1] = offset
            else:
                merged.append([onset, offset])
        for onset, offset in merged:
            onset_s, offset_s = onset * frame_s, min(offset * frame_s, n / sr)
            if offset_s - onset_s >= min_duration:
                rows.append((str(path), onset_s, offset_s, label,
                             float(activity[onset:offset, c].max())))
    return pd.DataFrame(rows, columns=["file", "onset", "offset", "label", "score"]
                        ).sort_values(["onset", "offset", "label"], ignore_index=True)


def test_streaming_equals_the_whole_file_reference(tmp_path):
    rng = np.random.default_rng(1)
    bursts = [(0.0, 0.4, 0.5), (23.7, 24.1, 0.5)]  # at the very start, and into the last frame
    for onset in np.sort(rng.uniform(0.5, 23.5, 16)):  # some close enough to merge
        bursts.append((onset, onset + rng.choice([0.04, 0.12, 0.3, 0.9]), rng.uniform(0.1, 0.5)))
    path = tmp_path / "reference.wav"
    soundfile.write(path, make_signal(24.1, bursts), SR, subtype="PCM_16")
    predict, classes = positional_detector(), ("a", "b")
    settings = [dict(thresholds=[0.5, 0.4], median_filter=[3, 5], min_gap=0.175,
                     min_duration=0.125),
                dict(thresholds=[0.6, 0.25], median_filter=None, min_gap=0.0, min_duration=0.0)]
    for setting in settings:
        sizes = setting["median_filter"] or [1, 1]
        expected = reference_events(path, predict, 2.0, 0.5, 0.05, classes,
                                    setting["thresholds"], sizes, setting["min_gap"],
                                    setting["min_duration"])
        assert len(expected) >= 10 and set(expected["label"]) == {"a", "b"}
        for batch_size, block_seconds in ((1, 0.7), (3, 60.0), (8, 0.31)):
            found = detect_file(path, predict, SR, 2.0, 0.5, 0.05, list(classes),
                                batch_size=batch_size, block_seconds=block_seconds, **setting)
            pd.testing.assert_frame_equal(found.drop(columns="file"),
                                          expected.drop(columns="file"), rtol=0, atol=1e-9)


@pytest.fixture
def mixed_folder(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    write_wav(folder / "a.wav", 20.0, [(2.0, 3.0), (11.0, 12.5)])
    write_wav(folder / "c.wav", 20.0, [(7.0, 8.0)])
    (folder / "b_corrupt.wav").write_bytes(b"RIFF" + bytes(range(256)) * 8)
    truncated = write_wav(folder / "d_truncated.wav", 20.0, [(1.0, 2.0)])
    truncated.write_bytes(truncated.read_bytes()[:truncated.stat().st_size // 2])
    (folder / "notes.txt").write_text("not audio, not picked up")
    return folder


def run_detect(paths, output_dir):
    return detect(paths, energy_detector(), SR, 10.0, 5.0, FRAME, ["burst"], output_dir)


def test_detect_reports_and_skips_unreadable_files(mixed_folder, tmp_path, capsys):
    out = tmp_path / "out"
    events = run_detect([mixed_folder], out)
    skipped = dict(events.attrs["skipped"])
    assert sorted(skipped) == [str(mixed_folder / "b_corrupt.wav"),
                               str(mixed_folder / "d_truncated.wav")]
    assert "truncated" in skipped[str(mixed_folder / "d_truncated.wav")]
    printed = capsys.readouterr()
    for path, reason in skipped.items():
        assert f"skipped {path}: {reason}" in printed.out + printed.err
    written = pd.read_csv(out / "events.csv")
    assert list(written.columns) == ["file", "onset", "offset", "label", "score"]
    assert written["file"].tolist() == [str(mixed_folder / n) for n in ("a.wav", "a.wav", "c.wav")]
    assert_matches(list(zip(written["onset"], written["offset"])),
                   [(2.0, 3.0), (11.0, 12.5), (7.0, 8.0)])
    pd.testing.assert_frame_equal(written, events, check_dtype=False, atol=1e-6)
    with pytest.raises(BadAudioError, match="b_corrupt.wav"):
        list(stream_windows(mixed_folder / "b_corrupt.wav", SR, 10.0, 5.0))


def test_detect_never_overwrites_outputs(mixed_folder, tmp_path):
    out = tmp_path / "out"
    run_detect([mixed_folder / "a.wav"], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == ["events.csv", "events.selections.txt"]
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        run_detect([mixed_folder / "c.wav"], out)
    (out / "events.csv").unlink()  # one output left is still refused
    with pytest.raises(FileExistsError, match="events.selections.txt"):
        run_detect([mixed_folder / "c.wav"], out)
    assert (out / "events.selections.txt").read_bytes() == before["events.selections.txt"]
    assert sorted(p.name for p in out.iterdir()) == ["events.selections.txt"]  # no leftovers


RAVEN_COLUMNS = ["Selection", "View", "Channel", "Begin Time (s)", "End Time (s)",
                 "Low Freq (Hz)", "High Freq (Hz)", "Annotation", "Begin File"]


def test_raven_table_is_a_valid_tab_separated_selection_table(mixed_folder, tmp_path):
    out = tmp_path / "out"
    events = run_detect([mixed_folder / "a.wav", mixed_folder / "c.wav"], out)
    with open(out / "events.selections.txt", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    assert rows[0] == RAVEN_COLUMNS
    body = rows[1:]
    assert len(body) == len(events) == 3 and all(len(row) == len(RAVEN_COLUMNS) for row in body)
    table = pd.read_csv(out / "events.selections.txt", sep="\t")
    assert table["Selection"].tolist() == [1, 2, 3]
    assert (table["View"] == "Spectrogram 1").all() and (table["Channel"] == 1).all()
    np.testing.assert_allclose(table["Begin Time (s)"], events["onset"], atol=1e-6)
    np.testing.assert_allclose(table["End Time (s)"], events["offset"], atol=1e-6)
    assert (table["Begin Time (s)"] < table["End Time (s)"]).all()
    assert (table["Low Freq (Hz)"] == 0).all() and (table["High Freq (Hz)"] == SR / 2).all()
    assert table["Annotation"].tolist() == ["burst"] * 3
    assert table["Begin File"].tolist() == [str(mixed_folder / n) for n in ("a.wav", "a.wav",
                                                                           "c.wav")]
    # Both outputs read back, as the same events, with the suite's annotation reader.
    for name in ("events.selections.txt", "events.csv"):
        back = read_annotations(out / name)
        assert back["file"].tolist() == events["file"].tolist()
        assert back["label"].tolist() == events["label"].tolist()
        np.testing.assert_allclose(back[["onset", "offset"]], events[["onset", "offset"]],
                                   atol=1e-6)


def test_bad_arguments_and_bad_detector_output_are_refused(bursts_file):
    with pytest.raises(ValueError, match="hop_seconds must be in"):
        run(bursts_file, hop=12.0)
    with pytest.raises(ValueError, match="hop_seconds / frame_hop_seconds"):
        run(bursts_file, hop=5.05)
    with pytest.raises(ValueError, match="odd"):
        run(bursts_file, median_filter=4)
    with pytest.raises(ValueError, match="got shape"):
        run(bursts_file, classes=("a", "b"))  # the detector has one class
    with pytest.raises(ValueError, match="fewer than"):
        run(bursts_file, predict=lambda b: np.zeros((len(b), 20, 1)))  # 2 s of a 5 s hop
