"""The framewise network a sound event detection job trains, built from zoo-style models."""

import keras
import numpy as np
import pytest
from keras import layers

from modules.sed.job import evaluate_windows, framewise_network


def decision_level_model(input_shape, n_classes, frames=23):
    """Like the decision-level PANNs: a dict with framewise_output (batch, frames, classes)."""
    inputs = keras.Input(input_shape)
    pooled = layers.GlobalAveragePooling2D()(inputs)
    frame = layers.RepeatVector(frames)(layers.Dense(n_classes, activation="sigmoid")(pooled))
    clip = layers.GlobalMaxPooling1D(name="clipwise_output")(frame)
    return keras.Model(inputs, {"framewise_output": frame, "clipwise_output": clip})


def test_framewise_outputs_are_resized_to_the_event_bins():
    network = framewise_network(decision_level_model, (16, 40, 1), 3, event_bins=10)
    assert network.output_shape == (None, 10, 3)
    assert "to_event_bins" in {layer.name for layer in network.layers}
    out = network(np.zeros((2, 16, 40, 1), np.float32))
    assert out.shape == (2, 10, 3)


def test_a_model_without_framewise_output_is_refused():
    def clip_only(input_shape, n_classes):
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, layers.Dense(n_classes)(layers.Flatten()(inputs)))

    with pytest.raises(ValueError, match="framewise_output"):
        framewise_network(clip_only, (8, 8, 1), 2, event_bins=4)


def test_window_metrics_count_events_in_window_time():
    import pandas as pd

    clips = pd.DataFrame({"path": ["/c/a.wav"], "events": [[(3.0, 5.0, "bird")]]})
    activity = np.zeros((1, 4, 1), np.float32)
    activity[0, 1:3, 0] = 0.9  # bins 1-2 of a 4 s window starting at 2 s: 3-5 s in the clip
    targets = (activity > 0.5).astype(np.float32)
    metrics = evaluate_windows(activity, targets, clips, np.array([2.0]), 4.0, ["bird"], 0.5)
    assert metrics["frames"]["micro"]["f1"] == 1.0
    assert metrics["events"]["overall"]["f1"] == 1.0
    estimated = metrics["estimated_events"]
    assert estimated[["onset", "offset"]].values.tolist() == [[1.0, 3.0]]


def test_the_loss_adds_a_clip_level_term_when_weighted():
    from modules.sed.job import frame_clip_loss

    rng = np.random.default_rng(0)
    y_true = (rng.uniform(size=(3, 5, 2)) > 0.7).astype(np.float32)
    y_pred = rng.uniform(0.05, 0.95, size=(3, 5, 2)).astype(np.float32)

    def bce(t, p):
        return -(t * np.log(p) + (1 - t) * np.log(1 - p))

    frames = bce(y_true, y_pred).mean(axis=(1, 2))
    clips = bce(y_true.max(axis=1), y_pred.max(axis=1)).mean(axis=1)
    np.testing.assert_allclose(np.asarray(frame_clip_loss(0.0)(y_true, y_pred)), frames,
                               rtol=1e-5)
    np.testing.assert_allclose(np.asarray(frame_clip_loss(0.5)(y_true, y_pred)),
                               frames + 0.5 * clips, rtol=1e-5)
