"""``parameters.distribute``: one job on several devices (``tf.distribute.MirroredStrategy``).

The jobs run in one fresh subprocess: splitting the CPU into two logical devices (two replicas)
must happen before TensorFlow initialises its devices, which this pytest process may already
have done. Its trainer has three job blocks on a handful of real ESC-10 clips:

1. ``distribute = "none"``, a small CNN, 12 examples per epoch in three batches of 4;
2. the same with ``"mirrored"``: each replica gets 2 of every 4 and their gradients are summed;
3. ``"mirrored"`` with what a job may run under the strategy: ``baseline_cnn`` (batch norm,
   dropout), random crops and augmentation (Python generators, ``tf.numpy_function``), the
   file-level target metric (a callback that predicts on the validation set), and an epoch of
   17 examples in batches of 4, whose last batch of one would leave a replica empty.

Blocks 1 and 2 must agree up to float rounding. Their model has no batch normalisation and no
dropout, which differ by design under the strategy (statistics over each replica's share; Keras
draws the same dropout mask on every replica). Each epoch shuffles the examples the same way
under both: under a strategy Keras reads the training data once before the first epoch (to
build the model), and the training sets take their epoch from Keras' epoch clock
(``modules.resume.EpochClock``), not from how many passes were made.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from modules import PROJECT_ROOT
from modules.parameters import ParameterError, Parameters

ESC10 = PROJECT_ROOT.parent / "shared" / "datasets" / "ESC-10"
CLASSES = ("001 - Dog bark", "002 - Rain", "009 - Rooster")
EPOCHS = 5
# What may differ between blocks 1 and 2 is the order in which float32 sums are taken: the
# per-example losses and gradients are summed in two halves, and the halves' gradients are then
# added (all-reduce), instead of one sum over the batch. Measured (5 epochs of 3 steps): loss
# 1.2e-7 apart at most (relative 1.5e-7), val_loss 4.2e-7 (5.3e-7), the validation
# probabilities 2.1e-7. The tolerances leave 20-50 times that for other CPUs' kernels and stay
# far below a real difference: when a mirrored job trained on the next epoch's shuffle (before
# the epoch clock), the jobs differed by 1.0% in the first epoch's loss, 6% later and 0.07 in
# the probabilities; a replica gradient left unaveraged would double each step.
RTOL = 1e-5
PROBABILITY_ATOL = 1e-5

TRAINER = """
import keras

from modules.data import register_dataset
from modules.models import baseline_cnn
from modules.parameters import parameters
from modules.training import launch_job


def small_cnn(input_shape, n_classes):
    inputs = keras.Input(shape=tuple(input_shape), name="spectrogram")
    x = keras.layers.Rescaling(1 / 40.0, offset=1.0)(inputs)  # log-mel dB to about -1..1
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    logits = keras.layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(logits),
                       name="small_cnn")


register_dataset("Tiny", {manifest!r})
parameters.sr = 16000
parameters.n_mels = 32
parameters.n_fft = 512
parameters.hop_length = 512
parameters.testing_epochs = {epochs}
parameters.es_patience = {epochs}
parameters.n_gradcam = 0
parameters.lr = 0.01
parameters.batch_size = 4  # three steps an epoch, 2 examples a replica
for distribute in ("none", "mirrored"):
    parameters.distribute = distribute
    launch_job({{"Tiny": 1}}, small_cnn, [], [])

parameters.lr = 0.001
parameters.batch_size = 4
parameters.audio_length = 2.5
parameters.step_size = 2.5  # two validation windows per file, for the file-level metric
parameters.random_crops = True
parameters.target_metric = "val_file_accuracy"
spec_aug = [["mixup", {{"quantity": 0.25}}], ["specaugment", {{"quantity": 0.17}}]]
launch_job({{"Tiny": 1}}, baseline_cnn, spec_aug, [])  # 12 + 3 + 2 = 17 examples an epoch
"""

RUNNER = """
import sys
from pathlib import Path

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from modules.cli import run_trainer

run_trainer(Path(sys.argv[1]), testing=True, cache_root=sys.argv[2], progress=False)
"""


def write_manifest(path):
    """3 classes: 4 training clips (fold 2) and 2 validation clips (fold 1) each."""
    rows = ["path,label,fold"]
    for folder in CLASSES:
        for fold, count in (("1", 2), ("2", 4)):
            for clip in sorted((ESC10 / folder).glob(f"{fold}-*.ogg"))[:count]:
                rows.append(f"{clip},{folder[6:]},{fold}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """The three job folders, and what the subprocess printed."""
    if not ESC10.is_dir():
        pytest.skip(f"ESC-10 not found at {ESC10}")
    root = tmp_path_factory.mktemp("distribute")
    manifest = write_manifest(root / "tiny.csv")
    trainer = root / "trainers" / "distribute" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(TRAINER.format(manifest=str(manifest), epochs=EPOCHS))
    runner = root / "run.py"
    runner.write_text(RUNNER)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, str(runner), str(trainer), str(root / "cache")],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folders = [root / "cache" / "distribute" / "train1" / f"{n}_testing" for n in (1, 2, 3)]
    return folders, done.stdout


def info_of(folder):
    return json.loads((folder / "job.json").read_text())


@pytest.mark.slow
def test_mirrored_runs_on_two_replicas_and_none_on_one(jobs):
    (single, mirrored, _), printed = jobs
    assert info_of(single)["devices"] == ["/CPU:0"]
    assert info_of(mirrored)["devices"] == ["/CPU:0", "/CPU:1"]
    assert "distribute: mirrored over 2 replica(s): /CPU:0, /CPU:1" in printed
    assert "only one device" not in printed


@pytest.mark.slow
def test_mirrored_learns_what_one_device_learns(jobs):
    (single, mirrored, _), _ = jobs
    assert [info_of(f)["status"] for f in (single, mirrored)] == ["finished", "finished"]
    assert info_of(single)["epochs_run"] == info_of(mirrored)["epochs_run"] == EPOCHS
    one, two = (pd.read_csv(f / "history.csv") for f in (single, mirrored))
    assert list(one.columns) == list(two.columns)
    # Not a vacuous comparison: the model learns far more than the tolerance over the epochs.
    assert one["loss"].iloc[0] - one["loss"].iloc[-1] > 1000 * RTOL * one["loss"].iloc[0]
    for column in one.columns:
        np.testing.assert_allclose(two[column], one[column], rtol=RTOL, err_msg=column)
    metrics = [json.loads((f / "metrics.json").read_text())["examples"]
               for f in (single, mirrored)]
    for key in ("n_examples", "accuracy", "balanced_accuracy", "confusion_matrix"):
        assert metrics[0][key] == metrics[1][key], key
    predictions = [pd.read_csv(f / "predictions.csv") for f in (single, mirrored)]
    columns = [c for c in predictions[0].columns if predictions[0][c].dtype == float]
    assert len(columns) >= 3  # a probability per class
    np.testing.assert_allclose(predictions[1][columns], predictions[0][columns],
                               atol=PROBABILITY_ATOL)


@pytest.mark.slow
def test_a_whole_job_runs_under_the_strategy_with_a_last_batch_of_one(jobs):
    (_, _, job), _ = jobs
    info = info_of(job)
    assert info["status"] == "finished" and info["devices"] == ["/CPU:0", "/CPU:1"]
    # 17 examples in batches of 4: the last batch of each epoch holds one example.
    assert info["training_examples_per_epoch"].startswith("17 training examples per epoch")
    assert info["epochs_run"] == EPOCHS
    history = pd.read_csv(job / "history.csv")
    assert np.isfinite(history[["loss", "val_loss", "val_file_accuracy"]].to_numpy()).all()
    assert {"best_model.keras", "last_model.keras", "metrics.json", "predictions.csv"} <= {
        p.name for p in job.iterdir()}
    assert json.loads((job / "metrics.json").read_text())["examples"]["n_examples"] == 12


def test_multi_worker_is_refused_before_a_job_folder_exists(tmp_path):
    from modules.cli import run_trainer

    trainer = tmp_path / "trainers" / "refused" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent("""
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.training import launch_job

        parameters.distribute = "multi_worker"
        launch_job({"Esc10": 1}, baseline_cnn, [], [])
    """))
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=r"multi_worker.*keras-team/keras#20585"):
        run_trainer(trainer, testing=True, cache_root=str(cache), progress=False)
    assert not (cache / "refused").exists()


def test_a_misspelt_distribution_gets_did_you_mean():
    params = Parameters()
    with pytest.raises(ParameterError, match="did you mean 'mirrored'"):
        params.distribute = "mirored"
    assert params.distribute == "none"


def test_mirrored_on_one_device_says_so_and_trains_on_it(capsys):
    from modules.distribute import distribution_scope, mirrored_devices

    if len(mirrored_devices()) != 1:
        pytest.skip("this process sees several devices")
    with distribution_scope("mirrored") as replicas:
        assert len(replicas.devices) == 1
    printed = capsys.readouterr().out
    assert "mirrored over 1 replica(s)" in printed
    assert "only one device" in printed and "as 'none' would" in printed


@pytest.mark.parametrize("examples, batch, replicas, sizes", [
    (5, 2, 2, [2, 2, 2]),        # a last batch of 1, twice
    (9, 4, 4, [4, 4, 4]),        # 1 example, 4 times
    (6, 4, 4, [4, 4]),           # 2 examples, twice
    (7, 4, 4, [4, 12]),          # 3 examples: 12 is the least multiple of both
    (9, 4, 2, [4, 4, 2]),
    (7, 3, 4, [12, 12, 4]),      # batch_size below the replica count: every batch
    (4, 2, 1, [2, 2]),           # one replica: nothing to do
])
def test_short_batches_are_filled_to_equal_replica_shares(examples, batch, replicas, sizes):
    import tensorflow as tf

    from modules.distribute import fill_short_batches

    x = np.arange(examples, dtype=np.float32)[:, None] * [1.0, 10.0]
    y, w = np.arange(examples), np.linspace(0.5, 1.5, examples, dtype=np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(batch)
    filled = fill_short_batches(dataset, replicas)
    assert filled.cardinality() == dataset.cardinality()
    batches = list(filled.as_numpy_iterator())
    assert [len(b[0]) for b in batches] == sizes
    for original, (xs, ys, ws) in zip(dataset.as_numpy_iterator(), batches):
        copies = len(ys) // len(original[1])
        assert len(ys) % replicas == 0 or len(original[1]) >= replicas
        # Each example the same number of times: the mean gradient is the original batch's.
        np.testing.assert_array_equal(ys, np.tile(original[1], copies))
        np.testing.assert_array_equal(xs, np.tile(original[0], (copies, 1)))
        np.testing.assert_array_equal(ws, np.tile(original[2], copies))
