"""Clinical (ICBHI) numbers: evaluation, report sections and the streaming Keras metrics."""

import json
import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

from modules import evaluation, reports

CW = ["none", "crackle", "wheeze", "both"]
PNEUMONIA = ["no_pneumonia", "pneumonia"]
OLD_LEVEL_KEYS = {"n_examples", "accuracy", "balanced_accuracy", "macro_f1", "per_class",
                  "confusion_matrix"}


# ------------------------------------------------------------------------ hand-computed scores
def test_icbhi_score_of_a_hand_computed_4_class_confusion_matrix():
    # rows: true none, crackle, wheeze, both; columns: predicted, same order
    matrix = [[30, 5, 3, 2],   # 40 true none, 30 right
              [6, 14, 1, 4],   # 25 true crackle, 14 right (4 called "both": wrong class)
              [4, 2, 9, 0],    # 15 true wheeze, 9 right
              [2, 3, 1, 4]]    # 10 true both, 4 right
    # Se = (14 + 9 + 4) / (25 + 15 + 10) = 27/50 = 0.54
    # Sp = 30/40 = 0.75
    # score = (27/50 + 30/40) / 2 = (0.54 + 0.75) / 2 = 0.645
    scores = evaluation.clinical_scores(matrix)
    assert scores["sensitivity"] == pytest.approx(27 / 50)
    assert scores["specificity"] == pytest.approx(30 / 40)
    assert scores["icbhi_score"] == pytest.approx((27 / 50 + 30 / 40) / 2)
    assert scores["icbhi_score"] == pytest.approx(0.645)
    # Another negative class: class 2 (wheeze) as the normal one.
    # Se = (30 + 14 + 4) / (40 + 25 + 10) = 48/75; Sp = 9/15
    other = evaluation.clinical_scores(matrix, negative_index=2)
    assert other["sensitivity"] == pytest.approx(48 / 75)
    assert other["specificity"] == pytest.approx(9 / 15)


def test_icbhi_score_of_a_hand_computed_binary_confusion_matrix():
    matrix = [[45, 5],    # 50 true no_pneumonia, 45 right
              [10, 40]]   # 50 true pneumonia, 40 right
    # Se = 40/50 = 0.8; Sp = 45/50 = 0.9; score = 0.85
    scores = evaluation.clinical_scores(matrix)
    assert scores == pytest.approx({"sensitivity": 40 / 50, "specificity": 45 / 50,
                                    "icbhi_score": 0.85})


def test_undefined_sensitivity_or_specificity_is_nan_and_json_round_trips():
    no_positives = evaluation.clinical_scores([[7, 3], [0, 0]])
    assert math.isnan(no_positives["sensitivity"]) and math.isnan(no_positives["icbhi_score"])
    assert no_positives["specificity"] == pytest.approx(7 / 10)
    no_negatives = evaluation.clinical_scores([[0, 0, 0], [0, 2, 1], [1, 0, 3]])
    assert math.isnan(no_negatives["specificity"])
    assert no_negatives["sensitivity"] == pytest.approx(5 / 7)
    back = json.loads(json.dumps(no_positives))
    assert math.isnan(back["sensitivity"]) and back["specificity"] == no_positives["specificity"]
    with pytest.raises(ValueError):
        evaluation.clinical_scores([[1, 2, 3]])


# ------------------------------------------------------------------------------ AUC and mAP
def _probabilities(rng, n, k):
    logits = rng.normal(size=(n, k))
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_roc_auc_matches_sklearn():
    rng = np.random.default_rng(0)
    p2 = _probabilities(rng, 40, 2)
    y2 = rng.integers(0, 2, 40)
    assert evaluation.roc_auc(y2, p2) == pytest.approx(roc_auc_score(y2, p2[:, 1]))
    p4 = _probabilities(rng, 60, 4)
    y4 = rng.integers(0, 4, 60)
    assert evaluation.roc_auc(y4, p4) == pytest.approx(
        roc_auc_score(y4, p4, multi_class="ovr", average="macro"))
    # Class 3 absent from the truth: macro over the classes 0-2 only.
    y3 = rng.integers(0, 3, 60)
    expected = np.mean([roc_auc_score(y3 == c, p4[:, c]) for c in range(3)])
    assert evaluation.roc_auc(y3, p4) == pytest.approx(expected)


def test_roc_auc_is_none_for_a_single_class():
    rng = np.random.default_rng(1)
    assert evaluation.roc_auc(np.ones(10, int), _probabilities(rng, 10, 2)) is None
    assert evaluation.roc_auc(np.zeros(10, int), _probabilities(rng, 10, 4)) is None


def test_mean_average_precision_matches_sklearn():
    rng = np.random.default_rng(2)
    labels = (rng.random((50, 4)) < 0.3).astype(int)
    probabilities = rng.random((50, 4))
    assert evaluation.mean_average_precision(labels, probabilities) == pytest.approx(
        average_precision_score(labels, probabilities, average="macro"))
    labels[:, 2] = 0  # no positive: left out, not a 0
    keep = [0, 1, 3]
    assert evaluation.mean_average_precision(labels, probabilities) == pytest.approx(
        average_precision_score(labels[:, keep], probabilities[:, keep], average="macro"))
    assert evaluation.mean_average_precision(np.zeros((5, 3)), rng.random((5, 3))) is None


# -------------------------------------------------------------------------------- patients
def _cw_table():
    """7 files of 5 patients; chunk truths and predictions chosen by hand.

    Icbhi:101  files 0, 1: true none none | none wheeze, predicted none none | none crackle
    Icbhi:99   files 2, 3: true none | none none,        predicted none | both none
    Icbhi:200  file 4:     true crackle crackle,         predicted none none
    Icbhi:150  file 5:     true none,                    predicted none
    Icbhi:300  file 6:     true both,                    predicted both
    A predicted class gets p = 0.7, the others 0.1: 1 - p(none) is 0.3 for a chunk predicted
    none, 0.9 for any other prediction.
    """
    chunks = [  # file, chunk, true, predicted
        (0, 0, 0, 0), (0, 1, 0, 0), (1, 0, 0, 0), (1, 1, 2, 1),
        (2, 0, 0, 0), (3, 0, 0, 3), (3, 1, 0, 0),
        (4, 0, 1, 0), (4, 1, 1, 0),
        (5, 0, 0, 0),
        (6, 0, 3, 3),
    ]
    files = np.array([c[0] for c in chunks])
    meta = {"label": np.eye(4, dtype=np.float32)[[c[2] for c in chunks]], "file_index": files,
            "chunk_index": np.array([c[1] for c in chunks]), "padded": np.zeros(len(chunks), bool)}
    probabilities = np.full((len(chunks), 4), 0.1, np.float32)
    probabilities[np.arange(len(chunks)), [c[3] for c in chunks]] = 0.7
    paths = [f"audio/{name}.wav" for name in "abcdefg"]
    groups = ["Icbhi:101", "Icbhi:101", "Icbhi:99", "Icbhi:99", "Icbhi:200", "Icbhi:150",
              "Icbhi:300"]
    return meta, probabilities, paths, groups


EXPECTED_PATIENTS = [
    # patient, status, predicted, tps, fps, fns, tns, recordings, chunks, average_score
    ("Icbhi:99", "negative", "positive", 0, 1, 0, 2, 2, 3, (0.3 + 0.9 + 0.3) / 3),
    ("Icbhi:101", "positive", "positive", 1, 0, 0, 3, 2, 4, (0.3 * 3 + 0.9) / 4),
    ("Icbhi:150", "negative", "negative", 0, 0, 0, 1, 1, 1, 0.3),
    ("Icbhi:200", "positive", "negative", 0, 0, 2, 0, 1, 2, 0.3),
    ("Icbhi:300", "positive", "positive", 1, 0, 0, 0, 1, 1, 0.9),
]


def test_patient_table_and_confusion_on_a_hand_made_table():
    meta, probabilities, paths, groups = _cw_table()
    table = evaluation.predictions_table(meta, probabilities, paths, CW, groups=groups)
    assert list(table["group"]) == [groups[i] for i in meta["file_index"]]
    patients = evaluation.patient_table(table, CW)
    assert list(patients.columns) == list(evaluation.PATIENT_COLUMNS)
    rows = list(patients.itertuples(index=False, name=None))
    assert [row[:-1] for row in rows] == [row[:-1] for row in EXPECTED_PATIENTS]
    assert [row[-1] for row in rows] == pytest.approx([row[-1] for row in EXPECTED_PATIENTS])

    confusion = evaluation.patient_confusion(patients)
    # true negative patients: 99 (predicted positive: fp), 150 (tn)
    # true positive patients: 101 (tp), 200 (fn), 300 (tp)
    assert confusion["confusion_matrix"] == [[1, 1], [1, 2]]
    assert confusion["n_patients"] == 5
    assert confusion["sensitivity"] == pytest.approx(2 / 3)
    assert confusion["specificity"] == pytest.approx(1 / 2)
    assert confusion["icbhi_score"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert confusion["accuracy"] == pytest.approx(3 / 5)


def test_patient_table_needs_groups():
    meta, probabilities, paths, _ = _cw_table()
    table = evaluation.predictions_table(meta, probabilities, paths, CW)
    assert "group" not in table
    with pytest.raises(ValueError, match="group"):
        evaluation.patient_table(table, CW)


def test_evaluate_table_with_a_respiratory_task():
    meta, probabilities, paths, groups = _cw_table()
    table = evaluation.predictions_table(meta, probabilities, paths, CW, groups=groups)
    metrics = evaluation.evaluate_table(table, CW, task="cw")
    # The top level keeps only levels; chunks of one recording have different labels here
    # (from its cycles), so there is no clip level.
    assert set(metrics) == {"examples"}
    for level in metrics.values():
        assert set(evaluation.CLINICAL_KEYS) <= set(level)
        assert level["class_accuracy"] == level["balanced_accuracy"]
        scores = evaluation.clinical_scores(level["confusion_matrix"])
        assert level["icbhi_score"] == scores["icbhi_score"]
    examples = metrics["examples"]
    # Chunks: true positives (abnormal) 4, exact class right only for "both" -> Se = 1/4;
    # true negatives 7, predicted none 6 (file 3 chunk 0 is called "both") -> Sp = 6/7.
    assert examples["sensitivity"] == pytest.approx(1 / 4)
    assert examples["specificity"] == pytest.approx(6 / 7)
    assert examples["roc_auc"] == pytest.approx(evaluation.roc_auc(
        table["true_index"], probabilities))
    section = examples["patients"]
    assert [row["patient"] for row in section["table"]] == [r[0] for r in EXPECTED_PATIENTS]
    assert section["confusion_matrix"] == [[1, 1], [1, 2]]
    # metrics.json as training.py writes it, and replay's comparison loop over levels
    back = json.loads(json.dumps(metrics, indent=2))
    assert back["examples"]["patients"]["table"][1]["tps"] == 1
    assert all(back[level][key] == metrics[level][key] for level in metrics
               for key in ("accuracy", "balanced_accuracy", "macro_f1", "confusion_matrix"))


def test_evaluate_table_without_task_is_unchanged():
    meta, probabilities, paths, groups = _cw_table()
    # file-level labels, as every dataset without per-cycle annotations has: the first chunk's
    first_chunk = {f: i for i, f in reversed(list(enumerate(meta["file_index"])))}
    meta = dict(meta, label=np.stack([meta["label"][first_chunk[f]] for f in meta["file_index"]]))
    for table in (evaluation.predictions_table(meta, probabilities, paths, CW),
                  evaluation.predictions_table(meta, probabilities, paths, CW, groups=groups)):
        for task in (None, "", "esc10"):
            metrics = evaluation.evaluate_table(table, CW, task=task)
            assert set(metrics) == {"examples", "clips"}
            assert set(metrics["examples"]) == OLD_LEVEL_KEYS
            assert set(metrics["clips"]) == OLD_LEVEL_KEYS
    plain = evaluation.predictions_table(meta, probabilities, paths, CW)
    assert list(plain.columns) == ["path", "file_index", "chunk_index", "padded", "true",
                                   "predicted", "true_index", "predicted_index"] + [
        f"p_{name}" for name in CW]
    assert evaluation.evaluate_table(plain, CW) == evaluation.evaluate_table(plain, CW, task="")


# --------------------------------------------------------------------------------- reports
HEADER = {"job": "cache/respiratory/train_cw/1", "classes": "4: none, crackle, wheeze, both"}


def test_report_has_clinical_lines_and_the_patient_table(tmp_path):
    meta, probabilities, paths, groups = _cw_table()
    table = evaluation.predictions_table(meta, probabilities, paths, CW, groups=groups)
    metrics = evaluation.evaluate_table(table, CW, task="cw")
    text = reports.format_report(HEADER, metrics, CW, [])
    lines = text.splitlines()
    assert sum(line.startswith("ICBHI score") for line in lines) == 2  # examples, patients
    assert "sensitivity         0.2500" in lines[lines.index("Validation, per example") + 6]
    assert "specificity         0.8571" in lines
    assert "Validation, per patient" in lines
    rows = {line.split()[0]: line.split() for line in lines if line.startswith("Icbhi:")}
    assert list(rows) == [r[0] for r in EXPECTED_PATIENTS]
    assert rows["Icbhi:99"] == ["Icbhi:99", "negative", "positive", "0", "1",
                                "0", "2", "2", "0.500"]
    assert rows["Icbhi:101"] == ["Icbhi:101", "positive", "positive", "1", "0", "0", "3", "2",
                                 "0.450"]
    assert rows["Icbhi:200"][1:3] == ["positive", "negative"]
    matrix_at = next(i for i, line in enumerate(lines)
                     if line.startswith("patient-level confusion matrix (5 patients"))
    assert lines[matrix_at + 2].split() == ["negative", "1", "1"]
    assert lines[matrix_at + 3].split() == ["positive", "1", "2"]
    assert text.index("Validation, per patient") < text.index("Skipped files (0)")
    reports.plot_patient_confusion(metrics["examples"]["patients"], tmp_path / "patients.png")
    assert (tmp_path / "patients.png").stat().st_size > 1000


def test_report_without_task_has_no_clinical_section():
    meta, probabilities, paths, groups = _cw_table()
    table = evaluation.predictions_table(meta, probabilities, paths, CW, groups=groups)
    text = reports.format_report(HEADER, evaluation.evaluate_table(table, CW), CW, [])
    for needle in ("sensitivity", "ICBHI", "ROC-AUC", "per patient", "Icbhi:"):
        assert needle not in text
    assert "macro F1            " in text and "Skipped files (0)\n-----------------\nnone" in text


@pytest.mark.filterwarnings("ignore:.*(single label|not in y_true)")
def test_undefined_numbers_print_as_n_a():
    meta, probabilities, paths, groups = _cw_table()
    meta = dict(meta, label=np.eye(2, dtype=np.float32)[np.zeros(len(meta["file_index"]), int)])
    table = evaluation.predictions_table(meta, probabilities[:, :2], paths, PNEUMONIA,
                                         groups=groups)
    metrics = evaluation.evaluate_table(table, PNEUMONIA, task="pneumonia")
    assert math.isnan(metrics["examples"]["sensitivity"]) and metrics["examples"]["roc_auc"] is None
    text = reports.format_report(HEADER, metrics, PNEUMONIA, [])
    assert "sensitivity         n/a" in text and "ROC-AUC             n/a" in text


# ------------------------------------------------------------------------- Keras metrics
def _mixup_batch(rng, n, k):
    """Soft labels from mixup with a dominant class (weight > 0.5), class probabilities."""
    first, second = rng.integers(0, k, n), rng.integers(0, k, n)
    lam = rng.uniform(0.6, 1.0, (n, 1))
    labels = lam * np.eye(k)[first] + (1 - lam) * np.eye(k)[second]
    return labels.astype(np.float32), _probabilities(rng, n, k).astype(np.float32), first


@pytest.mark.parametrize("n_classes", [2, 4])
def test_confusion_matrix_metric_equals_clinical_scores(n_classes):
    from modules.training_metrics import KINDS, ConfusionMatrixMetric

    rng = np.random.default_rng(3)
    labels, predictions, true_index = _mixup_batch(rng, 90, n_classes)
    weights = rng.uniform(0.2, 3.0, 90).astype(np.float32)
    matrix = confusion_matrix(true_index, predictions.argmax(axis=1), sample_weight=weights,
                              labels=list(range(n_classes)))
    expected = evaluation.clinical_scores(matrix)
    recalls = np.diag(matrix) / matrix.sum(axis=1)
    expected["class_accuracy"] = float(np.mean(recalls[matrix.sum(axis=1) > 0]))
    for kind in KINDS:
        metric = ConfusionMatrixMetric(kind, n_classes)
        for start in range(0, 90, 32):  # batches of 32, 32, 26
            part = slice(start, start + 32)
            metric.update_state(labels[part], predictions[part], sample_weight=weights[part])
        assert float(metric.result()) == pytest.approx(expected[kind], rel=1e-5), kind
        metric.reset_state()
        assert float(metric.result()) == 0.0  # nothing seen: 0, not NaN
    restored = ConfusionMatrixMetric.from_config(ConfusionMatrixMetric("specificity", n_classes,
                                                                       name="spec").get_config())
    assert (restored.kind, restored.n_classes, restored.name) == ("specificity", n_classes, "spec")


def test_confusion_matrix_metric_without_positives_is_zero():
    from modules.training_metrics import ConfusionMatrixMetric

    metric = ConfusionMatrixMetric("icbhi_score", 2)
    metric.update_state(np.eye(2)[[0, 0, 0]], np.eye(2)[[0, 0, 1]])
    assert float(metric.result()) == pytest.approx((0 + 2 / 3) / 2)
    sensitivity = ConfusionMatrixMetric("sensitivity", 2)
    sensitivity.update_state(np.eye(2)[[0, 0, 0]], np.eye(2)[[0, 0, 1]])
    assert float(sensitivity.result()) == 0.0


def test_training_metrics_work_inside_keras_compile_evaluate_and_fit(tmp_path):
    import keras

    from modules.training_metrics import (ConfusionMatrixMetric, target_metric_names,
                                          training_metrics)

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    labels, _, true_index = _mixup_batch(rng, 64, 4)
    weights = rng.uniform(0.5, 2.0, 64).astype(np.float32)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="softmax")])
    # Keras passes sample weights (and class weights) to weighted_metrics only; metrics= are
    # unweighted whatever fit/evaluate get.
    model.compile(optimizer="adam", loss="categorical_crossentropy",
                  metrics=training_metrics("cw", 4),
                  weighted_metrics=[ConfusionMatrixMetric("icbhi_score", 4, name="w_icbhi")])
    result = model.evaluate(x, labels, sample_weight=weights, batch_size=16, verbose=0,
                            return_dict=True)
    predicted = model.predict(x, verbose=0).argmax(axis=1)
    unweighted = evaluation.clinical_scores(confusion_matrix(true_index, predicted,
                                                             labels=range(4)))
    for name in ("sensitivity", "specificity", "icbhi_score"):
        assert result[name] == pytest.approx(unweighted[name], rel=1e-5), name
    weighted = evaluation.clinical_scores(confusion_matrix(true_index, predicted,
                                                           sample_weight=weights, labels=range(4)))
    assert result["w_icbhi"] == pytest.approx(weighted["icbhi_score"], rel=1e-5)
    assert weighted["icbhi_score"] != pytest.approx(unweighted["icbhi_score"])

    history = model.fit(x, labels, validation_data=(x, labels), epochs=1, batch_size=16,
                        verbose=0).history
    assert {"val_icbhi_score", "val_sensitivity", "val_specificity", "val_class_accuracy",
            "val_auc", "icbhi_score"} <= set(history)
    assert set(target_metric_names("cw", 4)) <= set(history)

    model.save(tmp_path / "model.keras")  # the registered metric round-trips
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    again = loaded.evaluate(x, labels, sample_weight=weights, batch_size=16, verbose=0,
                            return_dict=True)
    assert again["icbhi_score"] == pytest.approx(
        model.evaluate(x, labels, sample_weight=weights, batch_size=16, verbose=0,
                       return_dict=True)["icbhi_score"])


def test_training_metrics_per_task():
    from modules.training_metrics import training_metrics

    assert [m.name for m in training_metrics("pneumonia", 2)] == [
        "accuracy", "sensitivity", "specificity", "icbhi_score", "class_accuracy", "auc"]
    assert [m.name for m in training_metrics("", 10, class_accuracy=True)] == [
        "accuracy", "class_accuracy"]
    assert [m.name for m in training_metrics("", 10)] == ["accuracy"]
    assert training_metrics("cw", 4, multi_label=True)[-1].multi_label


def test_class_accuracy_is_compiled_only_where_it_means_something():
    from modules.training_metrics import (class_accuracy_wanted, classes_imbalanced,
                                          training_metrics)

    balanced = np.eye(10, dtype=np.float32)[np.arange(400) % 10]  # ESC-10: 40 per class
    imbalanced = np.eye(3, dtype=np.float32)[[0] * 30 + [1] * 20 + [2] * 20]  # 30 / 20 = 1.5
    nearly = np.eye(3, dtype=np.float32)[[0] * 29 + [1] * 20 + [2] * 20]  # 1.45
    missing = np.eye(3, dtype=np.float32)[[0] * 5 + [1] * 5]  # class 2 has no example
    assert not classes_imbalanced(balanced) and not classes_imbalanced(nearly)
    assert classes_imbalanced(imbalanced) and classes_imbalanced(missing)
    assert not classes_imbalanced(np.zeros((0, 3)))
    assert classes_imbalanced(nearly, ratio=1.4)

    def names(task, labels, target="val_accuracy"):
        wanted = class_accuracy_wanted(labels, target)
        return [m.name for m in training_metrics(task, labels.shape[1], class_accuracy=wanted)]

    assert names("", balanced) == ["accuracy"]  # balanced: it would only repeat accuracy
    assert names("", imbalanced) == ["accuracy", "class_accuracy"]
    assert names("", balanced, "val_class_accuracy") == ["accuracy", "class_accuracy"]
    assert names("", balanced, "class_accuracy") == ["accuracy", "class_accuracy"]
    for task in ("pneumonia", "cw"):  # respiratory tasks: always
        assert "class_accuracy" in names(task, balanced)
        assert "class_accuracy" in [m.name for m in training_metrics(task, 4)]


def test_class_accuracy_stays_a_valid_target_metric_before_the_data_are_loaded():
    from modules.tasks.classification import Classification
    from modules.training_metrics import check_target_metric

    for task in ("", None, "pneumonia", "cw"):
        for name in ("val_class_accuracy", "class_accuracy"):
            assert check_target_metric(name, task, 10) == name
            assert check_target_metric(name, task, 10,
                                       names=Classification(task).metric_names()) == name


def test_target_metric_names_and_directions():
    from modules.training_metrics import (check_target_metric, metric_direction,
                                          target_metric_names)

    names = target_metric_names("cw", 4)
    assert {"loss", "val_loss", "val_icbhi_score", "icbhi_score", "val_auc"} <= set(names)
    assert "val_icbhi_score" not in target_metric_names("", 10)
    assert check_target_metric("val_icbhi_score", "pneumonia", 2) == "val_icbhi_score"
    with pytest.raises(ValueError) as error:
        check_target_metric("val_icbhi_scor", "cw", 4)
    message = str(error.value)
    assert "did you mean 'val_icbhi_score'" in message and "val_class_accuracy" in message
    with pytest.raises(ValueError, match="val_icbhi_score"):
        check_target_metric("val_icbhi_score", "", 10)  # only respiratory tasks log it
    assert metric_direction("val_loss") == "min" and metric_direction("loss") == "min"
    assert metric_direction("val_icbhi_score") == "max" and metric_direction("val_auc") == "max"
