"""Tests for modules.sed.metrics; every expected number below is computed by hand (in comments)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from modules.sed import metrics as m


def events(*rows) -> pd.DataFrame:
    """Event table from (file, onset, offset, label) tuples."""
    return pd.DataFrame(list(rows), columns=["file", "onset", "offset", "label"])


# ------------------------------------------------------------------------------ frame_labels
def test_frame_labels_marks_overlapped_frames_only():
    # hop 0.5 s, 8 frames: frame i = [0.5 i, 0.5 (i + 1)).
    table = events(("a.wav", 0.5, 1.5, "dog"),   # frames 1, 2; ends on the edge of frame 3
                   ("a.wav", 0.7, 0.8, "cat"),   # inside frame 1
                   ("a.wav", 3.2, 5.0, "dog"))   # frames 6, 7, then cut at n_frames
    targets = m.frame_labels(table, n_frames=8, hop_seconds=0.5, classes=["dog", "cat"])
    assert targets.shape == (8, 2)
    np.testing.assert_array_equal(targets[:, 0], [0, 1, 1, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(targets[:, 1], [0, 1, 0, 0, 0, 0, 0, 0])


def test_frame_labels_frame_edges_survive_float_noise():
    # 0.3 / 0.1 = 2.9999999999999996 and 1.1 / 0.1 = 11.000000000000002: naive floor / ceil
    # would mark frames 2 and 11 too. Frames 3..10 only.
    table = events(("a.wav", 0.3, 1.1, "dog"))
    targets = m.frame_labels(table, 14, 0.1, ["dog"])
    np.testing.assert_array_equal(np.flatnonzero(targets[:, 0]), np.arange(3, 11))


def test_frame_labels_refuses_unknown_labels_and_ambiguous_files():
    with pytest.raises(ValueError, match="not in classes"):
        m.frame_labels(events(("a.wav", 0, 1, "bird")), 4, 0.5, ["dog"])
    two_files = events(("a.wav", 0, 1, "dog"), ("b.wav", 1, 2, "dog"))
    with pytest.raises(ValueError, match="file="):
        m.frame_labels(two_files, 8, 0.5, ["dog"])
    np.testing.assert_array_equal(m.frame_labels(two_files, 4, 0.5, ["dog"], file="b.wav")[:, 0],
                                  [0, 0, 1, 1])
    with pytest.raises(ValueError, match="offset must be after onset"):
        m.frame_labels(events(("a.wav", 2, 1, "dog")), 4, 0.5, ["dog"])


# ------------------------------------------------------------------------ activity_to_events
def test_round_trip_within_one_hop():
    hop = 0.1
    truth = events(("a.wav", 0.25, 1.0, "dog"), ("a.wav", 0.5, 0.73, "cat"),
                   ("a.wav", 1.42, 2.0, "dog"))
    activity = m.frame_labels(truth, 25, hop, ["dog", "cat"])
    found = m.activity_to_events(activity, hop, ["dog", "cat"], file="a.wav")
    truth = truth.sort_values("onset").reset_index(drop=True)
    assert list(found.columns) == ["file", "onset", "offset", "label"]
    assert list(found["label"]) == list(truth["label"]) == ["dog", "cat", "dog"]
    assert (found["file"] == "a.wav").all()
    # Onsets round down, offsets up, to frame edges: never more than one hop away.
    assert np.all(found["onset"] <= truth["onset"] + 1e-9)
    assert np.all(truth["onset"] - found["onset"] < hop + 1e-9)
    assert np.all(found["offset"] >= truth["offset"] - 1e-9)
    assert np.all(found["offset"] - truth["offset"] < hop + 1e-9)
    np.testing.assert_allclose(found["onset"], [0.2, 0.5, 1.4])
    np.testing.assert_allclose(found["offset"], [1.0, 0.8, 2.0])


def test_thresholds_per_class():
    column = np.array([0.2, 0.6, 0.6, 0.2])
    activity = np.stack([column, column], axis=1)
    found = m.activity_to_events(activity, 0.5, ["dog", "cat"], thresholds=[0.5, 0.7])
    assert list(found["label"]) == ["dog"]  # 0.6 passes 0.5, not 0.7
    np.testing.assert_allclose(found[["onset", "offset"]].to_numpy(), [[0.5, 1.5]])
    # A score equal to the threshold is active.
    assert len(m.activity_to_events(activity, 0.5, ["dog", "cat"], thresholds=0.6)) == 2
    with pytest.raises(ValueError, match="one value per class"):
        m.activity_to_events(activity, 0.5, ["dog", "cat"], thresholds=[0.5, 0.5, 0.5])


SPIKY = np.array([0, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0], dtype=float)  # 14 frames


def test_median_filter_removes_spike_and_fills_gap():
    activity = np.stack([SPIKY, SPIKY], axis=1)
    raw = m.activity_to_events(activity[:, :1], 0.1, ["dog"])
    np.testing.assert_allclose(raw[["onset", "offset"]].to_numpy(),
                               [[0.2, 0.3], [0.5, 0.8], [0.9, 1.2]])
    # Window 3: frame 2 ([0 1 0]) -> 0, frame 8 ([1 0 1]) -> 1: one event, frames 5..11.
    # Per class: dog filtered, cat (window 1) left alone.
    found = m.activity_to_events(activity, 0.1, ["dog", "cat"], median_filter=[3, 1])
    dog = found[found["label"] == "dog"]
    np.testing.assert_allclose(dog[["onset", "offset"]].to_numpy(), [[0.5, 1.2]])
    assert (found["label"] == "cat").sum() == 3
    with pytest.raises(ValueError, match="odd"):
        m.activity_to_events(activity, 0.1, ["dog", "cat"], median_filter=2)


def test_min_gap_merges_and_min_duration_drops():
    activity = SPIKY[:, None]  # events [0.2, 0.3), [0.5, 0.8), [0.9, 1.2); gaps 0.2 and 0.1 s
    merged = m.activity_to_events(activity, 0.1, ["dog"], min_gap=0.15)
    np.testing.assert_allclose(merged[["onset", "offset"]].to_numpy(),
                               [[0.2, 0.3], [0.5, 1.2]])  # only the 0.1 s gap is < 0.15
    assert len(m.activity_to_events(activity, 0.1, ["dog"], min_gap=0.05)) == 3
    assert len(m.activity_to_events(activity, 0.1, ["dog"], min_gap=0.1)) == 3  # not < 0.1
    dropped = m.activity_to_events(activity, 0.1, ["dog"], min_duration=0.2)
    np.testing.assert_allclose(dropped[["onset", "offset"]].to_numpy(),
                               [[0.5, 0.8], [0.9, 1.2]])  # the 0.1 s event goes
    assert len(m.activity_to_events(activity, 0.1, ["dog"], min_duration=0.3)) == 2  # not < 0.3
    # Merging comes before dropping: two 0.1 s fragments 0.1 s apart become one 0.3 s event.
    fragments = np.array([0, 1, 0, 1, 0, 0], dtype=float)[:, None]
    kept = m.activity_to_events(fragments, 0.1, ["dog"], min_gap=0.15, min_duration=0.2)
    np.testing.assert_allclose(kept[["onset", "offset"]].to_numpy(), [[0.1, 0.4]])
    assert m.activity_to_events(fragments, 0.1, ["dog"], min_duration=0.2).empty


# ----------------------------------------------------------------------------- frame_metrics
def test_frame_metrics_hand_case():
    classes = ["a", "b", "c"]
    y_true = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0], [0, 0, 0]])
    y_score = np.array([[.9, .1, .3], [.4, .2, .2], [.6, .7, .1], [.1, .0, .4],
                        [.8, .0, .2], [.2, .3, .1]])
    out = m.frame_metrics(y_true, y_score, classes, threshold=0.5)
    a, b, c = (out["per_class"][k] for k in classes)
    # a: predicted frames 0, 2, 4; true 0, 1, 4 -> TP 2, FP 1, FN 1.
    assert (a["tp"], a["fp"], a["fn"], a["tn"], a["support"]) == (2, 1, 1, 2, 3)
    assert a["precision"] == pytest.approx(2 / 3) and a["f1"] == pytest.approx(2 / 3)
    # b: no positive frames, one false alarm -> precision 0/1, recall defined as 0, AP NaN.
    assert (b["tp"], b["fp"], b["fn"], b["support"]) == (0, 1, 0, 0)
    assert (b["precision"], b["recall"], b["f1"]) == (0.0, 0.0, 0.0)
    assert np.isnan(b["average_precision"])
    # c: never predicted -> precision defined as 0, two misses.
    assert (c["tp"], c["fp"], c["fn"], c["predicted"]) == (0, 0, 2, 0)
    assert (c["precision"], c["recall"], c["f1"]) == (0.0, 0.0, 0.0)
    # AP a: ranks .9 P, .8 P, .6 N, .4 P -> 1/3 * 1 + 1/3 * 1 + 1/3 * 3/4 = 11/12.
    # AP c: ranks .4 N, .3 P, .2 N N, .1 P N -> 1/2 * 1/2 + 1/2 * 2/6 = 5/12.
    assert a["average_precision"] == pytest.approx(11 / 12)
    assert c["average_precision"] == pytest.approx(5 / 12)
    assert out["mean_average_precision"] == pytest.approx((11 / 12 + 5 / 12) / 2)
    # micro: TP 2, FP 2, FN 3 -> P 1/2, R 2/5, F1 4/9; macro: (2/3 + 0 + 0) / 3.
    assert out["micro"]["precision"] == pytest.approx(0.5)
    assert out["micro"]["recall"] == pytest.approx(0.4)
    assert out["micro"]["f1"] == pytest.approx(4 / 9)
    assert out["macro"]["f1"] == pytest.approx(2 / 9)
    assert out["n_frames"] == 6
    # The same numbers as sklearn with zero_division=0.
    from sklearn.metrics import precision_recall_fscore_support
    for average in ("micro", "macro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, (y_score >= 0.5).astype(int),
                                                     average=average, zero_division=0)
        assert (out[average]["precision"], out[average]["recall"], out[average]["f1"]) == \
            pytest.approx((p, r, f))


def test_frame_metrics_refuses_bad_input():
    with pytest.raises(ValueError, match="only 0 and 1"):
        m.frame_metrics(np.array([[0.5]]), np.array([[0.5]]), ["a"])
    with pytest.raises(ValueError, match="shape"):
        m.frame_metrics(np.zeros((3, 2)), np.zeros((3, 1)), ["a", "b"])


# ----------------------------------------------------------------------------- event_metrics
REFERENCE = events(
    ("a.wav", 1.0, 3.0, "dog"),   # A1: estimate onset +0.15, offset +0.1 -> hit
    ("a.wav", 5.0, 6.0, "dog"),   # A2: estimate onset +0.3 > 200 ms -> miss
    ("a.wav", 2.0, 4.0, "cat"),   # A3: onset +0.1 fine, offset +1.0 > max(0.2, 0.2 * 2) -> miss
    ("a.wav", 7.0, 8.0, "cat"),   # A4: estimated as bird -> miss (a substitution)
    ("b.wav", 0.5, 2.5, "bird"),  # B1: offset +0.3 > 0.2 but <= 0.2 * 2 s length -> hit
    ("b.wav", 3.0, 4.0, "dog"),   # B2: no estimate -> miss
    ("c.wav", 2.0, 3.0, "bird"),  # C1: file c has no estimate at all -> miss
)
ESTIMATED = events(               # shuffled: files are matched by name, not position
    ("d.wav", 1.0, 2.0, "cat"),   # file d has no reference: false alarm
    ("b.wav", 0.6, 2.8, "bird"),
    ("a.wav", 8.5, 9.0, "dog"),   # extra: false alarm
    ("a.wav", 7.0, 8.0, "bird"),  # wrong label
    ("a.wav", 2.1, 5.0, "cat"),
    ("a.wav", 5.3, 6.0, "dog"),
    ("a.wav", 1.15, 3.1, "dog"),
)
CLASSES = ["dog", "cat", "bird"]


def test_event_metrics_perfect():
    out = m.event_metrics(REFERENCE, REFERENCE.sample(frac=1, random_state=0), CLASSES)
    assert out["overall"]["f1"] == pytest.approx(1.0)
    assert out["overall"]["error_rate"] == pytest.approx(0.0)
    assert out["macro"]["f1"] == pytest.approx(1.0)
    assert all(out["per_class"][c]["f1"] == pytest.approx(1.0) for c in CLASSES)
    assert out["overall"]["n_ref"] == 7 and out["n_files"] == 3


def counts(row) -> tuple:
    return row["tp"], row["fp"], row["fn"]


def test_event_metrics_hand_case_with_offsets():
    out = m.event_metrics(REFERENCE, ESTIMATED, CLASSES, t_collar=0.2, percentage_of_length=0.2)
    dog, cat, bird = (out["per_class"][c] for c in CLASSES)
    # dog: ref A1 A2 B2, est A1' A2' extra -> TP 1 (A1), FP 2, FN 2: P = R = F1 = 1/3.
    assert counts(dog) == (1, 2, 2) and dog["f1"] == pytest.approx(1 / 3)
    # cat: ref A3 A4, est A3' d -> TP 0, FP 2, FN 2: F1 0.
    assert counts(cat) == (0, 2, 2) and cat["f1"] == pytest.approx(0.0)
    # bird: ref B1 C1, est B1' A4' -> TP 1, FP 1, FN 1: F1 1/2.
    assert counts(bird) == (1, 1, 1) and bird["f1"] == pytest.approx(0.5)
    assert dog["error_rate"] == pytest.approx(4 / 3)  # (FN 2 + FP 2) / 3
    overall = out["overall"]
    # 7 reference, 7 estimated, 2 hits: P = R = F1 = 2/7.
    assert (overall["n_ref"], overall["n_sys"], overall["tp"]) == (7, 7, 2)
    assert overall["f1"] == pytest.approx(2 / 7)
    # ER: S 1 (cat A4 as bird), D = 7 - 2 - 1 = 4, I = 7 - 2 - 1 = 4 -> 9/7.
    assert (overall["substitutions"], overall["deletions"], overall["insertions"]) == (1, 4, 4)
    assert overall["error_rate"] == pytest.approx(9 / 7)
    assert out["macro"]["f1"] == pytest.approx((1 / 3 + 0 + 1 / 2) / 3)
    assert out["n_files"] == 4  # a, b, c (reference only), d (estimate only)


def test_event_metrics_hand_case_onsets_only():
    out = m.event_metrics(REFERENCE, ESTIMATED, CLASSES, evaluate_offset=False)
    # Only A3 changes: its onset is within the collar, so cat gets TP 1: P = R = F1 = 1/2.
    assert counts(out["per_class"]["cat"]) == (1, 1, 1)
    assert out["per_class"]["cat"]["f1"] == pytest.approx(0.5)
    assert counts(out["per_class"]["dog"]) == (1, 2, 2)
    assert out["overall"]["f1"] == pytest.approx(3 / 7)
    # S 1, D = 7 - 3 - 1 = 3, I = 3 -> ER 1.
    assert out["overall"]["error_rate"] == pytest.approx(1.0)
    assert out["macro"]["f1"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 2) / 3)


def test_event_metrics_matches_files_by_path_or_name():
    reference = REFERENCE.assign(file="/data/audio/" + REFERENCE["file"])
    estimated = REFERENCE.assign(file="/data/audio/" + REFERENCE["file"]).iloc[::-1]
    assert m.event_metrics(reference, estimated, CLASSES)["overall"]["f1"] == pytest.approx(1.0)
    # Full paths against bare names: different files by path, the same by name.
    by_path = m.event_metrics(reference, REFERENCE, CLASSES)
    assert by_path["overall"]["f1"] == pytest.approx(0.0) and by_path["n_files"] == 6
    by_name = m.event_metrics(reference, REFERENCE, CLASSES, match_on="name")
    assert by_name["overall"]["f1"] == pytest.approx(1.0) and by_name["n_files"] == 3
    clash = pd.concat([reference, reference.assign(file="/other/a.wav").iloc[:1]])
    with pytest.raises(ValueError, match="share a name"):
        m.event_metrics(clash, REFERENCE, CLASSES, match_on="name")


def test_event_metrics_class_never_estimated_and_never_present():
    reference = events(("a.wav", 1.0, 2.0, "dog"))
    out = m.event_metrics(reference, events(("a.wav", 4.0, 5.0, "cat")), ["dog", "cat", "bird"])
    assert out["per_class"]["dog"]["precision"] == 0.0  # no estimates: 0, not NaN
    assert out["per_class"]["dog"]["f1"] == 0.0
    # cat has no reference: recall, F1 and error rate undefined; bird neither
    cat = out["per_class"]["cat"]
    assert np.isnan(cat["f1"]) and np.isnan(cat["error_rate"])
    assert out["macro"]["f1"] == 0.0  # mean over defined classes (dog only)
    with pytest.raises(ValueError, match="t_collar"):
        m.event_metrics(reference, reference, ["dog"], t_collar=0)


def test_event_metrics_without_sed_eval_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "sed_eval", None)  # makes `import sed_eval` fail
    with pytest.raises(ImportError, match="pip install sed_eval"):
        m.event_metrics(REFERENCE, REFERENCE, CLASSES)


# --------------------------------------------------------------------------- segment_metrics
def test_segment_metrics_hand_case():
    # 1 s segments. a.wav is evaluated to the last offset, 6.0 s: segments 0..5.
    reference = events(("a.wav", 0.0, 2.5, "dog"),   # dog segments 0, 1, 2
                       ("a.wav", 3.2, 3.8, "cat"),   # cat segment 3
                       ("b.wav", 0.0, 1.0, "dog"))   # b.wav: dog segment 0, never estimated
    estimated = events(("a.wav", 0.5, 1.5, "dog"),   # dog segments 0, 1
                       ("a.wav", 3.0, 3.5, "dog"),   # dog segment 3 (where cat is)
                       ("a.wav", 5.0, 6.0, "cat"))   # cat segment 5
    out = m.segment_metrics(reference, estimated, ["dog", "cat"], time_resolution=1.0)
    dog, cat = out["per_class"]["dog"], out["per_class"]["cat"]
    # dog: ref {a0, a1, a2, b0}, est {a0, a1, a3} -> TP 2, FP 1, FN 2: P 2/3, R 1/2, F1 4/7.
    assert counts(dog) == (2, 1, 2) and dog["f1"] == pytest.approx(4 / 7)
    # cat: ref {a3}, est {a5} -> TP 0, FP 1, FN 1.
    assert counts(cat) == (0, 1, 1) and cat["f1"] == pytest.approx(0.0)
    # overall: TP 2, est 4, ref 5 -> P 1/2, R 2/5, F1 4/9.
    assert out["overall"]["f1"] == pytest.approx(4 / 9)
    # per segment: a2 D, a3 S (cat vs dog), a5 I, b0 D -> (1 + 2 + 1) / 5.
    overall = out["overall"]
    assert (overall["substitutions"], overall["deletions"], overall["insertions"]) == (1, 2, 1)
    assert overall["error_rate"] == pytest.approx(4 / 5)
    assert out["macro"]["f1"] == pytest.approx(2 / 7)
    # Longer durations only add silent segments: F1 unchanged; a file with no events counts.
    longer = m.segment_metrics(reference, estimated, ["dog", "cat"], time_resolution=1.0,
                               durations={"a.wav": 8.0, "b.wav": 2.0, "c.wav": 3.0})
    assert longer["overall"]["f1"] == pytest.approx(4 / 9) and longer["n_files"] == 3
    with pytest.raises(ValueError, match="durations lacks"):
        m.segment_metrics(reference, estimated, ["dog", "cat"], durations={"a.wav": 8.0})


# ------------------------------------------------------------------------------------- psds
PSDS_REFERENCE = events(("a.wav", 1.0, 3.0, "dog"), ("a.wav", 5.0, 7.0, "cat"),
                        ("b.wav", 2.0, 4.0, "dog"), ("b.wav", 6.0, 8.0, "cat"))
DURATIONS = {"a.wav": 10.0, "b.wav": 10.0}


def test_psds_perfect_none_and_half():
    classes = ["dog", "cat"]
    perfect = m.psds(PSDS_REFERENCE, {0.3: PSDS_REFERENCE, 0.5: PSDS_REFERENCE.copy()},
                     DURATIONS, classes)
    # TPR 1 at FPR 0 for both classes: the PSD-ROC is 1 on [0, 100] -> PSDS exactly 1.
    assert perfect["psds"] == pytest.approx(1.0, abs=1e-12)
    assert perfect["duplicate_thresholds"] == [0.5]  # same detections as at 0.3
    nothing = m.psds(PSDS_REFERENCE, {0.5: pd.DataFrame()}, DURATIONS, classes)
    assert nothing["psds"] == 0.0
    # Half right: a.wav found, b.wav missed -> TPR 1/2 per class at FPR 0 -> 0.5.
    half = PSDS_REFERENCE.iloc[:2]
    assert m.psds(PSDS_REFERENCE, {0.5: half}, DURATIONS, classes)["psds"] == pytest.approx(0.5)
    # Two thresholds. 0.2: everything plus two dog false alarms (2 per 20 s = 360 per hour,
    # beyond max_efpr 100, so that point adds nothing for dog); cat is perfect at 0.2.
    # Curve at eFPR 0: dog max(1/2) = 1/2, cat max(1, 1/2) = 1 -> mean 3/4 over [0, 100].
    low = pd.concat([PSDS_REFERENCE, events(("a.wav", 8.0, 9.0, "dog"),
                                            ("b.wav", 0.0, 1.0, "dog"))])
    both = m.psds(PSDS_REFERENCE, {0.2: low, 0.5: half}, DURATIONS, classes)
    assert 0.0 < both["psds"] < 1.0 and both["psds"] == pytest.approx(0.75)
    points = both["operating_points"].set_index(["threshold", "class"])
    assert points.loc[(0.2, "dog"), "tpr"] == pytest.approx(1.0)
    assert points.loc[(0.2, "dog"), "fpr"] == pytest.approx(360.0)
    assert points.loc[(0.5, "cat"), "tpr"] == pytest.approx(0.5)


def test_psds_refuses_what_psds_eval_cannot_score():
    with pytest.raises(ValueError, match="every class"):
        m.psds(PSDS_REFERENCE, {0.5: PSDS_REFERENCE}, DURATIONS, ["dog", "cat", "bird"])
    with pytest.raises(ValueError, match="durations lacks"):
        m.psds(PSDS_REFERENCE, {0.5: PSDS_REFERENCE}, {"a.wav": 10.0}, ["dog", "cat"])
    overlapping = pd.concat([PSDS_REFERENCE, events(("a.wav", 2.0, 2.5, "dog"))])
    with pytest.raises(ValueError, match="overlapping"):
        m.psds(PSDS_REFERENCE, {0.5: overlapping}, DURATIONS, ["dog", "cat"])


# ------------------------------------------------------------------------------------ report
def test_format_sed_report_lists_classes_and_overall_f1():
    frame = m.frame_metrics(np.array([[1, 0, 0], [0, 1, 0]]),
                            np.array([[.9, .2, .1], [.1, .8, .3]]), CLASSES)
    event = m.event_metrics(REFERENCE, ESTIMATED, CLASSES)
    text = m.format_sed_report(frame, event, CLASSES)
    for name in CLASSES:
        assert sum(line.startswith(name) for line in text.splitlines()) == 2  # frame + event
    assert f"overall F1          {2 / 7:.4f}" in text
    assert "onset collar 200 ms" in text and "n/a" in text  # bird has no positive frames: AP
    assert "Segment level" not in text
