"""Detection pictures (modules.sed.plots): files written, shapes checked, time axes in seconds."""

import numpy as np
import pandas as pd
import pytest

from modules.sed.plots import class_colours, plot_detection, plot_event_timeline

FRAMES, BINS, FRAME_S = 400, 64, 0.025  # a 10 s clip
DURATION = FRAMES * FRAME_S


def _inputs(n_classes, steps=100, seed=0):
    rng = np.random.default_rng(seed)
    spectrogram = -80 + 60 * rng.random((BINS, FRAMES))
    activity = rng.random((steps, n_classes))
    classes = [f"class {i}" for i in range(n_classes)]
    true = pd.DataFrame({"onset": [1.0, 4.0], "offset": [2.5, 6.0],
                         "label": [classes[0], classes[-1]]})
    predicted = pd.DataFrame({"onset": [1.2, 7.0], "offset": [2.4, 8.0],
                              "label": [classes[0], "unknown class"]})
    return spectrogram, activity, classes, true, predicted


@pytest.mark.parametrize("n_classes", [2, 10])
def test_plot_detection_writes_png_with_time_axis_in_seconds(tmp_path, n_classes):
    spectrogram, activity, classes, true, predicted = _inputs(n_classes)
    path = tmp_path / "sub" / "detection.png"
    fig = plot_detection(spectrogram, FRAME_S, activity, classes, path, "clip 1",
                         true_events=true, predicted_events=predicted,
                         thresholds=np.linspace(0.3, 0.7, n_classes), max_frequency=8000)
    assert path.stat().st_size > 20_000
    spec_ax, act_ax = fig.axes[0], fig.axes[1]
    assert spec_ax.get_xlim() == pytest.approx((0.0, DURATION))
    assert act_ax.get_xlim() == pytest.approx((0.0, DURATION))
    assert spec_ax.get_ylim() == pytest.approx((0.0, 8000.0))
    # One curve per class (plus one dashed threshold line each), distinct colours, a legend.
    curves = [line for line in act_ax.get_lines() if line.get_linestyle() == "-"]
    dashed = [line for line in act_ax.get_lines() if line.get_linestyle() == "--"]
    assert len(curves) == n_classes and len(dashed) == n_classes
    assert len({tuple(line.get_color()) for line in curves}) == n_classes
    assert [t.get_text() for t in act_ax.get_legend().get_texts()] == classes
    # The activity curve spans the clip: step centres from 0.05 s to 9.95 s.
    assert curves[0].get_xdata()[[0, -1]] == pytest.approx([0.05, 9.95])
    labels = [t.get_text() for t in spec_ax.texts]
    assert labels.count(classes[0]) == 2 and "unknown class" in labels


def test_plot_detection_activity_step_and_no_events(tmp_path):
    spectrogram, activity, classes, _, _ = _inputs(3, steps=50)
    fig = plot_detection(spectrogram, FRAME_S, activity, classes, tmp_path / "a.png",
                         "no events", thresholds=0.5, activity_seconds=0.2)
    assert (tmp_path / "a.png").stat().st_size > 10_000
    curve = fig.axes[1].get_lines()[0]
    assert curve.get_xdata()[-1] == pytest.approx(9.9)
    assert fig.axes[0].get_ylim() == pytest.approx((0.0, BINS))  # bins without max_frequency


@pytest.mark.parametrize("change, message", [
    (dict(spectrogram=np.zeros(10)), "spectrogram"),
    (dict(spectrogram=np.zeros((4, 0))), "spectrogram"),
    (dict(activity=np.zeros((100, 3))), "activity"),
    (dict(activity=np.zeros(100)), "activity"),
    (dict(activity=np.zeros((0, 2))), "activity"),
    (dict(thresholds=[0.5, 0.5, 0.5]), "thresholds"),
    (dict(frame_seconds=0.0), "frame_seconds"),
    (dict(true_events=pd.DataFrame({"onset": [1.0], "label": ["a"]})), "offset"),
])
def test_plot_detection_bad_inputs_raise(tmp_path, change, message):
    spectrogram, activity, classes, _, _ = _inputs(2)
    args = dict(spectrogram=spectrogram, frame_seconds=FRAME_S, activity=activity,
                classes=classes, path=tmp_path / "x.png", title="t")
    args.update(change)
    with pytest.raises(ValueError, match=message):
        plot_detection(**args)
    assert not (tmp_path / "x.png").exists()


def test_plot_event_timeline_one_file(tmp_path):
    true = pd.DataFrame({"onset": [10.0, 300.0, 1500.0], "offset": [14.0, 301.0, 1504.0],
                         "label": ["Rumble", "Gunshot", "Rumble"]})
    predicted = pd.DataFrame({"onset": [11.0, 900.0], "offset": [13.5, 902.0],
                              "label": ["Rumble", "Gunshot"]})
    path = tmp_path / "timeline.png"
    fig = plot_event_timeline(true, 1800.0, path, "one day", predicted_events=predicted)
    assert path.stat().st_size > 10_000
    (ax,) = fig.axes
    assert ax.get_xlim() == pytest.approx((0.0, 1800.0))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Rumble", "Gunshot"]  # sorted, top
    # 2 classes x (true, predicted) bar collections.
    assert len(ax.collections) == 4


def test_plot_event_timeline_several_files(tmp_path):
    events = pd.DataFrame({"file": ["/a/r1.wav", "/a/r1.wav", "/a/r2.wav"],
                           "onset": [1.0, 50.0, 20.0], "offset": [3.0, 52.0, 25.0],
                           "label": ["Rumble", "Gunshot", "Rumble"]})
    predicted = {"/a/r2.wav": events.iloc[[2]].assign(onset=21.0)}
    fig = plot_event_timeline(events, {"/a/r1.wav": 120.0, "/a/r2.wav": 60.0},
                              tmp_path / "t.png", "two", predicted_events=predicted,
                              classes=["Rumble", "Gunshot"])
    assert [ax.get_xlim()[1] for ax in fig.axes[:2]] == pytest.approx([120.0, 60.0])
    assert [ax.get_title(loc="left") for ax in fig.axes[:2]] == ["r1.wav", "r2.wav"]
    with pytest.raises(ValueError, match="duration"):
        plot_event_timeline(events, {"/a/r1.wav": 120.0}, tmp_path / "u.png", "missing")
    with pytest.raises(ValueError, match="offset"):
        plot_event_timeline(events.drop(columns="offset"), 10.0, tmp_path / "v.png")


def test_class_colours_distinct():
    for n in (2, 10, 15):
        colours = class_colours([str(i) for i in range(n)])
        assert len(set(colours.values())) == n
