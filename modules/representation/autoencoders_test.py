"""Tests of the recurrent autoencoders (t-, f-, ft-RAE): training runs, loss, generation, resume.

Tiny spectrograms (12 instances x 20 frames x 16 bins) and RNNs of 8 units keep the file fast;
every kind is trained once (module-scoped) and the runs are reused by the tests.
"""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from modules.representation import autoencoders as ae
from modules.representation.dataset import FeatureSet

N, T, F = 12, 20, 16
EPOCHS = 6


def toy_features(n: int = N, seed: int = 0) -> FeatureSet:
    """Learnable spectrograms: a few moving sinusoidal ridges in [-1, 1], with labels etc."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None] / T
    f = np.arange(F)[None, :] / F
    x = np.stack([0.8 * np.sin(2 * np.pi * (rng.integers(1, 3) * f + rng.integers(0, 2) * t)
                               + rng.uniform(0, 2 * np.pi)) for _ in range(n)])
    labels = np.resize(np.array(["dog", "rain", "sea"], dtype=object), n)
    return FeatureSet(
        filename=np.array([f"clip{i}.wav" for i in range(n)], dtype=object),
        chunk_nr=np.arange(n) % 2,
        label_nominal=labels,
        label_numeric=np.array([{"dog": 0, "rain": 1, "sea": 2}[v] for v in labels]),
        cv_folds=np.stack([np.arange(n) % 2, 1 - np.arange(n) % 2], axis=1),
        partition=np.arange(n) % 3,
        features=x.astype(np.float32),
        feature_dims=["time", "freq"],
        label_map={"dog": 0, "rain": 1, "sea": 2},
        metadata={"spectrogram": {"mel_bands": F}},
    )


def settings(kind: str, **changes) -> ae.RaeSettings:
    values = dict(kind=kind, num_layers=1, num_units=8, batch_size=4, num_epochs=EPOCHS,
                  learning_rate=0.01, freq_window_width=8, freq_window_overlap=4, seed=7)
    values.update(changes)
    return ae.RaeSettings(**values)


def history(run_dir) -> list[dict]:
    with open(run_dir / ae.HISTORY_FILE, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def features() -> FeatureSet:
    return toy_features()


@pytest.fixture(scope="module")
def run(tmp_path_factory, features):
    """kind -> run directory of a finished EPOCHS-epoch training (trained on first use)."""
    runs = {}

    def get(kind: str):
        if kind not in runs:
            run_dir = tmp_path_factory.mktemp(f"{kind}_rae") / "run"
            ae.train(features, settings(kind), run_dir, progress=False)
            runs[kind] = run_dir
        return runs[kind]

    return get


# -- settings ---------------------------------------------------------------------------------
def test_settings_defaults_and_validation():
    s = ae.RaeSettings(kind="t", cell="gru")
    assert (s.num_layers, s.num_units, s.cell, s.keep_prob, s.batch_size, s.num_epochs,
            s.freq_window_width, s.freq_window_overlap) == (2, 256, "GRU", 0.8, 64, 64, 32, 24)
    assert ae.RaeSettings.from_dict(s.to_dict()) == s
    for bad in (dict(kind="x"), dict(kind="t", cell="RNN"), dict(kind="f", freq_window_overlap=32),
                dict(kind="t", keep_prob=0.0), dict(kind="t", num_units=0),
                dict(kind="t", feed_previous_prob=1.5)):
        with pytest.raises(ValueError):
            ae.RaeSettings(**bad)
    with pytest.raises(ValueError, match="unknown"):
        ae.RaeSettings.from_dict({"kind": "t", "units": 3})
    assert ae.rnn_state_size(2, 256, "LSTM", True) == 2048


def test_spectrogram_array_accepts_either_storage_order(features):
    swapped = features.subset(np.arange(N))
    swapped.features = np.transpose(features.features, (0, 2, 1)).copy()
    swapped.feature_dims = ["freq", "time"]
    np.testing.assert_array_equal(ae.spectrogram_array(swapped), features.features)
    generated = features.subset(np.arange(N))
    generated.features = features.features.reshape(N, -1)
    generated.feature_dims = ["generated"]
    with pytest.raises(ValueError, match="time"):
        ae.spectrogram_array(generated)


def test_window_too_wide_is_refused():
    with pytest.raises(ValueError, match="freq_window_width"):
        ae.build_model(settings("f", freq_window_width=32, freq_window_overlap=24), T, F)


# -- training -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ae.KINDS)
def test_each_kind_trains_and_the_loss_decreases(run, kind):
    run_dir = run(kind)
    rows = history(run_dir)
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1))
    losses = [float(r["loss"]) for r in rows]
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.9 * losses[0], losses
    # only the latest checkpoint is kept, next to settings.json and the TensorBoard logs
    assert sorted(p.name for p in run_dir.glob("*.keras")) == [f"model-epoch{EPOCHS:04d}.keras"]
    saved = json.loads((run_dir / ae.SETTINGS_FILE).read_text())
    assert saved == {"settings": settings(kind).to_dict(), "input_shape": [T, F]}
    assert any(p.name.startswith("events.out.tfevents") for p in (run_dir / "logs").rglob("*"))


@pytest.mark.parametrize("kind", ae.KINDS)
def test_loss_is_the_rmse_of_the_reconstruction(run, features, kind):
    model = ae.load_model(ae.latest_checkpoint(run(kind)))
    batch = features.features[:5]
    reconstruction = np.asarray(model(batch, training=False))
    assert reconstruction.shape == batch.shape
    target = ae.reconstruction_targets(batch, kind)
    expected = np.sqrt(np.mean((target.astype(np.float64) - reconstruction) ** 2))
    loss = model.evaluate(batch, batch_size=len(batch), verbose=0)
    assert loss == pytest.approx(expected, rel=1e-5)
    # ... and it is the target of the right kind, not the unreversed input
    assert not np.isclose(loss, np.sqrt(np.mean((batch - reconstruction) ** 2)), rtol=1e-3)


# -- generation -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, size", [("t", 8), ("f", T * 8), ("ft", 8)])
def test_generate_gives_one_tanh_vector_per_instance(run, features, kind, size, tmp_path):
    run_dir = run(kind)
    generated = ae.generate(run_dir, features, batch_size=5)
    assert generated.features.shape == (N, size)
    assert generated.feature_dims == ["generated"]
    assert np.abs(generated.features).max() <= 1.0
    assert generated.features.std(axis=0).max() > 0  # instances get different representations
    for name in ("filename", "chunk_nr", "label_nominal", "label_numeric", "cv_folds",
                 "partition"):
        np.testing.assert_array_equal(getattr(generated, name), getattr(features, name))
    assert generated.label_map == features.label_map
    assert generated.metadata["spectrogram"] == features.metadata["spectrogram"]
    info = generated.metadata["autoencoder"]
    assert info["model_dir"] == str(run_dir.resolve())
    assert info["epoch"] == EPOCHS and info["settings"] == settings(kind).to_dict()
    # the representation is the model's encode() in inference mode, whatever the batching
    model = ae.load_model(ae.latest_checkpoint(run_dir))
    np.testing.assert_allclose(generated.features,
                               np.asarray(model.encode(features.features, training=False)),
                               atol=1e-5)
    # and the result is an ordinary feature set file
    loaded = FeatureSet.load(generated.save(tmp_path / "generated.nc"))
    np.testing.assert_array_equal(loaded.features, generated.features)
    assert loaded.metadata["autoencoder"]["settings"] == settings(kind).to_dict()


def test_generate_refuses_other_shapes_and_empty_dirs(run, features, tmp_path):
    shorter = features.subset(np.arange(N))
    shorter.features = features.features[:, :T - 2].copy()
    with pytest.raises(ValueError, match="time, freq"):
        ae.generate(run("t"), shorter)
    with pytest.raises(ae.RunDirectoryError, match="no trained model"):
        ae.generate(tmp_path, features)


def test_same_seed_gives_identical_representations(run, features, tmp_path):
    ae.train(features, settings("t"), tmp_path / "again", progress=False)
    first = ae.generate(run("t"), features).features
    np.testing.assert_array_equal(ae.generate(tmp_path / "again", features).features, first)
    assert [r["loss"] for r in history(tmp_path / "again")] == \
        [r["loss"] for r in history(run("t"))]


# -- resuming -----------------------------------------------------------------------------------
def test_continue_resumes_at_the_next_epoch_like_an_uninterrupted_run(run, features, tmp_path):
    # Half a run, then continued to the end: the same as the uninterrupted run (batch order,
    # dropout draws and optimizer state all restored).
    half = tmp_path / "half"
    ae.train(features, settings("t", num_epochs=EPOCHS // 2), half, progress=False)
    assert ae.latest_checkpoint(half).name == f"model-epoch{EPOCHS // 2:04d}.keras"
    model = ae.train(features, settings("t"), half, continue_training=True, progress=False)
    assert [int(r["epoch"]) for r in history(half)] == list(range(1, EPOCHS + 1))
    assert sorted(p.name for p in half.glob("*.keras")) == [f"model-epoch{EPOCHS:04d}.keras"]
    assert int(model.optimizer.iterations) == EPOCHS * 3  # 12 instances / batch 4
    assert json.loads((half / ae.SETTINGS_FILE).read_text())["settings"]["num_epochs"] == EPOCHS
    full = run("t")
    assert [r["loss"] for r in history(half)] == [r["loss"] for r in history(full)]
    np.testing.assert_array_equal(ae.generate(half, features).features,
                                  ae.generate(full, features).features)
    # continuing a finished run to the same num_epochs does nothing
    ae.train(features, settings("t"), half, continue_training=True, progress=False)
    assert len(history(half)) == EPOCHS


def test_continue_refuses_changed_settings_and_shapes(run, features, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(run("t"), run_dir)
    before = (run_dir / ae.HISTORY_FILE).read_text()
    with pytest.raises(ae.RunDirectoryError, match="num_units: saved 8, given 16"):
        ae.train(features, settings("t", num_units=16, num_epochs=EPOCHS + 1), run_dir,
                 continue_training=True, progress=False)
    with pytest.raises(ae.RunDirectoryError, match="learning_rate"):
        ae.train(features, settings("t", learning_rate=0.5), run_dir, continue_training=True,
                 progress=False)
    shorter = features.subset(np.arange(N))
    shorter.features = features.features[:, :T - 2].copy()
    with pytest.raises(ae.RunDirectoryError, match="time, freq"):
        ae.train(shorter, settings("t"), run_dir, continue_training=True, progress=False)
    assert (run_dir / ae.HISTORY_FILE).read_text() == before
    assert ae.latest_checkpoint(run_dir).name == f"model-epoch{EPOCHS:04d}.keras"


def test_existing_run_is_never_overwritten(run, features, tmp_path):
    run_dir = run("t")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in run_dir.iterdir())
    with pytest.raises(ae.RunDirectoryError, match="already holds a training run"):
        ae.train(features, settings("t"), run_dir, progress=False)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in run_dir.iterdir()) == before
    with pytest.raises(ae.RunDirectoryError, match="nothing to continue"):
        ae.train(features, settings("t"), tmp_path / "new", continue_training=True,
                 progress=False)


# -- models -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ae.KINDS)
def test_save_load_round_trip_gives_identical_outputs(run, features, kind, tmp_path):
    model = ae.load_model(ae.latest_checkpoint(run(kind)))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = ae.load_model(path)
    assert type(loaded) is ae.RecurrentAutoencoder and loaded.get_config() == model.get_config()
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    x = features.features[:4]
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)),
                                  np.asarray(model(x, training=False)))
    np.testing.assert_array_equal(np.asarray(loaded.encode(x)), np.asarray(model.encode(x)))


def test_stable_layer_names():
    names = {kind: [layer.name for layer in ae.build_model(settings(kind), T, F).layers]
             for kind in ae.KINDS}
    assert names["t"] == ["encoder", "representation", "decoder", "reconstruction"]
    assert names["f"] == ["encoder", "representation", "decoder", "reconstruction"]
    assert names["ft"] == ["f_encoder", "t_encoder", "representation", "t_decoder",
                           "f_decoder_init", "f_decoder", "reconstruction"]


def test_encoder_state_is_concatenated_like_audeep():
    """Final state = per layer [fw, bw], LSTM states as (c, h); the decoder splits the same way."""
    encoder = ae.RnnEncoder(cell="LSTM", num_layers=2, num_units=3, bidirectional=True, seed=1)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 5, 4)).astype(np.float32)
    state = np.asarray(encoder(x))
    assert state.shape == (2, ae.rnn_state_size(2, 3, "LSTM", True)) == (2, 24)
    expected = []
    fw, bw = x, x[:, ::-1]
    layers = {}
    for direction, sequence in (("fw", fw), ("bw", bw)):
        for layer in range(2):
            sequence, h, c = encoder.rnn_layers[(direction == "bw") * 2 + layer](sequence)
            layers[direction, layer] = [np.asarray(c), np.asarray(h)]
    for layer in range(2):
        expected += layers["fw", layer] + layers["bw", layer]
    np.testing.assert_allclose(state, np.concatenate(expected, axis=1), atol=1e-6)
    # auDeep's split of an initial state vector is the inverse: same layer, direction, (c, h)
    decoder = ae.FeedPreviousDecoder(cell="LSTM", num_layers=2, num_units=3, bidirectional=True,
                                     output_size=4, seed=2)
    split = decoder._initial_states(state)  # [direction][layer] -> Keras order [h, c]
    for index, direction in enumerate(("fw", "bw")):
        for layer in range(2):
            c, h = layers[direction, layer]
            np.testing.assert_allclose(np.asarray(split[index][layer][0]), h, atol=1e-6)
            np.testing.assert_allclose(np.asarray(split[index][layer][1]), c, atol=1e-6)


def test_decoder_feeds_previous_outputs_only_in_training():
    s = settings("t", num_layers=2, cell="LSTM", bidirectional_encoder=True,
                 bidirectional_decoder=True, keep_prob=1.0, feed_previous_prob=1.0)
    model = ae.build_model(s, T, F)
    x = toy_features(4).features
    inference = np.asarray(model(x, training=False))
    fed_back = np.asarray(model(x, training=True))
    assert fed_back.shape == inference.shape == x.shape
    assert not np.allclose(fed_back, inference, atol=1e-4)
    # without feed-previous, noise or dropout, training and inference agree
    plain = ae.build_model(ae.RaeSettings(**{**s.to_dict(), "feed_previous_prob": 0.0}), T, F)
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(plain(x, training=True)),
                               np.asarray(plain(x, training=False)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(plain(x, training=False)), inference, atol=1e-6)


def test_decoder_step_t_gets_the_target_from_two_steps_back_like_audeeps_raw_rnn():
    """auDeep's raw_rnn loop reads inputs[t - 1] of an already shifted teacher sequence."""
    import keras

    rng = np.random.default_rng(0)
    teacher = rng.standard_normal((2, 6, 3)).astype(np.float32)
    state = rng.standard_normal((2, 16)).astype(np.float32)  # 8 units, two directions
    shifted = ae.FeedPreviousDecoder(output_size=3, num_units=8, num_layers=1,
                                     bidirectional=True, shift_inputs=True)
    plain = ae.FeedPreviousDecoder(output_size=3, num_units=8, num_layers=1,
                                   bidirectional=True, shift_inputs=False)
    shifted([teacher, state])
    plain([teacher, state])
    plain.set_weights(shifted.get_weights())
    fw = np.pad(teacher[:, :-1], [(0, 0), (1, 0), (0, 0)])  # the forward direction, shifted
    out_shifted = np.asarray(shifted([teacher, state]))
    out_plain = np.asarray(plain([fw, state]))
    np.testing.assert_allclose(out_shifted[..., :3], out_plain[..., :3], atol=1e-6)
    assert keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(shifted)).shift_inputs is True


def test_grus_start_like_tf1_gru_cells_gates_open():
    layer = ae.RnnEncoder(cell="GRU", num_layers=1, num_units=4)
    layer.build((None, 5, 3))
    gru = layer.rnn_layers[0]
    bias = np.asarray(gru.cell.bias)
    assert bias.shape == (2, 12)
    np.testing.assert_array_equal(bias[0], [1.0] * 8 + [0.0] * 4)  # z and r gates, then h
    np.testing.assert_array_equal(bias[1], 0.0)
