"""A held-out test part (issue 19): a job on a manifest with train / validation / test rows
chooses everything on validation, evaluates the best model once on the test rows, reports them
apart (report.txt, metrics.json, MLflow, ``spectrain jobs``, report.html) and a replay gives them
again. The proof that the test rows never influence the chosen epoch: the same job with other
test recordings (and other test labels) trains to the very same history, best epoch and model.

The manifest is the suite's own CSV layout (``path,label,split``), as a user writes it from the
README's Data section; the audio is real ESC-10.
"""

import json
import textwrap

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from modules.cli import run_trainer
from modules.commands.jobs import list_jobs_table
from modules.replay import replay_job
from modules.tracking import local_tracking_uri
from tests.conftest import ESC10

CLASSES = ("001 - Dog bark", "002 - Rain", "009 - Rooster")


def recordings(folder: str) -> list:
    return sorted((ESC10 / folder).glob("*.ogg"))


def manifest(path, test_offset: int, swap_test_labels: bool = False, validation: bool = True):
    """8 train, 3 validation and 3 test recordings per class; ``test_offset`` picks which
    recordings are the test rows (none of them in train or validation)."""
    rows = ["path,label,split"]
    for folder in CLASSES:
        label = folder[6:]
        files = recordings(folder)
        rows += [f"{f},{label},train" for f in files[:8]]
        rows += [f"{f},{label},{'validation' if validation else 'train'}" for f in files[8:11]]
        for f in files[test_offset:test_offset + 3]:
            other = CLASSES[(CLASSES.index(folder) + 1) % len(CLASSES)][6:]
            rows.append(f"{f},{other if swap_test_labels else label},test")
    path.write_text("\n".join(rows) + "\n")


TRAINER = """
    from modules.data import register_dataset
    from modules.parameters import parameters
    from modules.training import launch_job
    import keras

    def small_cnn(input_shape, n_classes):
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax")(x))

    for name in {names!r}:
        register_dataset(name, {folder!r} + "/" + name + ".csv")
        parameters.reset()
        parameters.mode = "heldout"
        parameters.split = "split"
        parameters.validation_size = 0.27  # of 33 training rows: 9, 3 of each class
        parameters.sr = 8000
        parameters.n_fft = 512
        parameters.hop_length = 256
        parameters.n_mels = 32
        parameters.n_epochs = 6
        parameters.lr = 0.01
        parameters.batch_size = 8
        parameters.es_patience = 100
        parameters.n_gradcam = 0
        parameters.n_example_plots = 0
        parameters.description = name
        launch_job({{name: 1}}, small_cnn, [], [])
"""


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    if not ESC10.is_dir():
        pytest.skip(f"ESC-10 not found at {ESC10}")
    root = tmp_path_factory.mktemp("heldout")
    manifest(root / "first.csv", test_offset=11)
    manifest(root / "other_test.csv", test_offset=14, swap_test_labels=True)
    manifest(root / "train_test_only.csv", test_offset=11, validation=False)
    trainer = root / "trainers" / "heldout" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent(TRAINER.format(
        names=["first", "other_test", "train_test_only"], folder=str(root))))
    run_trainer(trainer, cache_root=str(root / "cache"), progress=False)
    folder = root / "cache" / "heldout" / "train1"
    return {"cache": root / "cache", "first": folder / "1", "other": folder / "2",
            "carved": folder / "3"}


def read(job, name):
    return (job / name).read_text()


def test_test_rows_never_influence_training_or_the_chosen_epoch(jobs):
    first, other = jobs["first"], jobs["other"]
    assert read(first, "test.csv") != read(other, "test.csv")
    # Validation drives every choice: with other test recordings and labels, the same epochs,
    # the same best epoch and the same best model (its validation predictions, to the bit).
    assert read(first, "history.csv") == read(other, "history.csv")
    info = [json.loads(read(job, "job.json")) for job in (first, other)]
    assert info[0]["best_epoch"] == info[1]["best_epoch"]
    assert read(first, "predictions.csv") == read(other, "predictions.csv")
    for part in ("train", "validation"):  # the same rows (only the dataset's name differs)
        pd.testing.assert_frame_equal(*(pd.read_csv(job / f"{part}.csv").drop(columns="dataset")
                                        for job in (first, other)))
    # ...while the test numbers are those of each job's own test rows
    test = [pd.read_csv(job / "test_predictions.csv") for job in (first, other)]
    assert not set(test[0]["path"]) & set(test[1]["path"])
    assert (test[0]["p_Rain"] != test[1]["p_Rain"]).any()


def test_epochs_and_job_blocks_are_counted_from_1_everywhere_a_person_reads_them(jobs):
    job = jobs["first"]
    history = pd.read_csv(job / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    # balanced classes (8 of each): mean per-class recall would only repeat accuracy
    assert not {"class_accuracy", "val_class_accuracy"} & set(history.columns)
    info = json.loads(read(job, "job.json"))
    best = int(history.loc[history["val_loss"].idxmin(), "epoch"])
    assert info["best_epoch"] == best == json.loads(read(job, "metrics.json"))["best_epoch"]
    assert f"6 run, best {best} (val_loss" in read(job, "report.txt")
    assert info["job_block"] == 1 and "(job block 1)" in read(job, "report.txt")
    assert json.loads(read(jobs["carved"], "job.json"))["job_block"] == 3
    client = MlflowClient(local_tracking_uri(jobs["cache"]))
    steps = sorted(m.step for m in client.get_metric_history(info["mlflow_run_id"], "val_loss"))
    assert steps == [1, 2, 3, 4, 5, 6]


def test_the_test_part_is_reported_apart_everywhere(jobs):
    job = jobs["first"]
    metrics = json.loads(read(job, "metrics.json"))
    assert metrics["test"]["examples"]["n_examples"] >= 9
    assert metrics["test"]["examples"]["per_class"]["Dog bark"]["support"] >= 3
    assert metrics["examples"]["n_examples"] >= 9  # validation, as before
    predictions = pd.read_csv(job / "test_predictions.csv")
    assert set(predictions["path"]) == set(pd.read_csv(job / "test.csv")["path"])
    report = read(job, "report.txt")
    assert "Validation, per example" in report
    assert "Test (held out, best model evaluated once after training), per example" in report
    assert "9 files ->" in report.split("test:", 1)[1].splitlines()[0]
    assert (job / "test_confusion_matrix.png").is_file()

    run_id = json.loads(read(job, "job.json"))["mlflow_run_id"]
    run = MlflowClient(local_tracking_uri(jobs["cache"])).get_run(run_id)
    assert run.data.metrics["test_accuracy"] == pytest.approx(
        metrics["test"]["examples"]["accuracy"])
    assert run.data.metrics["best_accuracy"] == pytest.approx(metrics["examples"]["accuracy"])

    header, *rows = list_jobs_table(jobs["cache"], "heldout").splitlines()
    assert "test accuracy" in header
    column = header.index("test accuracy")
    assert rows[0][column:].split()[0] == f"{metrics['test']['examples']['accuracy']:.4f}"

    from modules.html_report.compare import headline, open_jobs

    [compared] = open_jobs([job])  # spectrain compare's numbers: the test part's beside
    assert headline(compared)["test accuracy"] == metrics["test"]["examples"]["accuracy"]

    page = read(job, "report.html")
    assert 'id="validation"' in page and 'id="test"' in page and "test accuracy" in page
    assert "9 files, held out" in page


def test_a_replay_gives_the_test_numbers_again(jobs):
    job = jobs["first"]
    recorded = json.loads(read(job, "metrics.json"))
    result = replay_job(job, progress=False)
    assert result.identical and result.max_probability_difference == 0.0
    assert result.metrics["test"]["examples"]["confusion_matrix"] == \
        recorded["test"]["examples"]["confusion_matrix"]
    text = result.report_path.read_text()
    assert "test examples: recorded accuracy" in text and "IDENTICAL" in text


def test_train_and_test_rows_only_carve_validation_out_of_train_and_say_so(jobs):
    job = jobs["carved"]
    validation = pd.read_csv(job / "validation.csv")
    train = pd.read_csv(job / "train.csv")
    test = pd.read_csv(job / "test.csv")
    assert len(test) == 9 and not set(test["path"]) & set(train["path"])
    assert not set(validation["path"]) & (set(train["path"]) | set(test["path"]))
    assert validation["label"].value_counts().to_dict() == {"Dog bark": 3, "Rain": 3,
                                                            "Rooster": 3}  # stratified
    report = read(job, "report.txt")
    assert "validation is 9 of its 33 training rows" in report
    assert "validation is 9 of its 33 training rows" in read(job, "report.html")


def test_a_split_the_table_cannot_give_is_one_line_at_the_command_line(tmp_path, capsys):
    from modules.cli import main

    (tmp_path / "only_train.csv").write_text(
        "path,label,split\n" + "".join(f"rain{i}.wav,Rain,train\n" for i in range(4)))
    trainer = tmp_path / "trainers" / "heldout" / "train2.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent(f"""
        from modules.data import register_dataset
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.training import launch_job

        register_dataset("OnlyTrain", {str(tmp_path / "only_train.csv")!r})
        parameters.split = "split"
        launch_job({{"OnlyTrain": 1}}, baseline_cnn, [], [])
    """))
    with pytest.raises(SystemExit) as stopped:
        main(["train", str(trainer), "--cache-root", str(tmp_path / "cache"), "--no-progress"])
    message = str(stopped.value.code)
    assert message.startswith("spectrain train: split method 'split' needs rows with split "
                              "'train' and rows with 'validation' or 'test'"), message
    assert "\n" not in message and "Traceback" not in capsys.readouterr().err
