"""Predictions and classification metrics, shared by training and replay so both compute the same
numbers the same way.

Respiratory tasks (``task`` "pneumonia" or "cw") add the ICBHI challenge numbers to every level
(sensitivity, specificity, ICBHI score, ROC-AUC, mean average precision, average per-class
accuracy) and, when the prediction table has a ``group`` (patient) column, a patient-level
section. Without a respiratory task the output is exactly what it always was.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
from sklearn.metrics import (average_precision_score, balanced_accuracy_score, confusion_matrix,
                             precision_recall_fscore_support, roc_auc_score)
from tqdm.auto import tqdm

#: Tasks whose first class is the negative (normal) class and that get the clinical numbers.
RESPIRATORY_TASKS = ("pneumonia", "cw")
#: Keys :func:`clinical_level_metrics` adds to a level's dict.
CLINICAL_KEYS = ("sensitivity", "specificity", "icbhi_score", "class_accuracy", "roc_auc",
                 "mean_average_precision")


def is_respiratory(task: str | None) -> bool:
    return bool(task) and task in RESPIRATORY_TASKS


def predict(model, eval_ds, n_examples: int, description: str = "predicting",
            progress: bool = True) -> np.ndarray:
    """Class probabilities for every example of ``eval_ds`` (batches of (inputs, labels))."""
    import tensorflow as tf

    # One traced function per call (the last, smaller batch reuses it via reduce_retracing).
    infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    outputs = []
    with tqdm(total=n_examples, desc=description, unit="example", disable=not progress) as bar:
        for inputs, _ in eval_ds:
            batch = infer(inputs).numpy()
            outputs.append(batch)
            bar.update(len(batch))
    return np.concatenate(outputs).astype(np.float32)


def file_groups(table: pd.DataFrame) -> list | None:
    """Each file's group (patient) as text, for patient-level results; None when the table has
    no groups."""
    if "group" not in table or table["group"].isna().all():
        return None
    return [None if pd.isna(g) else str(g) for g in table["group"]]


def predictions_table(meta: dict, probabilities: np.ndarray, paths, class_names,
                      groups=None) -> pd.DataFrame:
    """One row per example: file, chunk, true and predicted class, and every class probability.

    ``groups``: one group (patient) per file, indexed like ``paths``; when given, the table gets a
    ``group`` column (after ``path``) that :func:`patient_table` aggregates over.
    """
    true_index = meta["label"].argmax(axis=1)
    pred_index = probabilities.argmax(axis=1)
    columns = {"path": [paths[i] for i in meta["file_index"]]}
    if groups is not None:
        groups = list(groups)
        columns["group"] = [groups[i] for i in meta["file_index"]]
    columns.update({
        "file_index": meta["file_index"],
        "chunk_index": meta["chunk_index"],
        "padded": meta["padded"],
        "true": [class_names[i] for i in true_index],
        "predicted": [class_names[i] for i in pred_index],
        "true_index": true_index,
        "predicted_index": pred_index,
    })
    table = pd.DataFrame(columns)
    for i, name in enumerate(class_names):
        table[f"p_{name}"] = probabilities[:, i]
    return table


def clip_level(table: pd.DataFrame, class_names) -> pd.DataFrame:
    """Aggregate chunks to recordings: mean class probability over each file's chunks."""
    prob_columns = [f"p_{name}" for name in class_names]
    grouped = table.groupby("file_index", sort=True)
    clips = grouped[prob_columns].mean()
    clips["path"] = grouped["path"].first()
    clips["true_index"] = grouped["true_index"].first()
    clips["predicted_index"] = clips[prob_columns].to_numpy().argmax(axis=1)
    clips["true"] = [class_names[i] for i in clips["true_index"]]
    clips["predicted"] = [class_names[i] for i in clips["predicted_index"]]
    return clips.reset_index()


def classification_metrics(true_index, predicted_index, class_names) -> dict:
    """Accuracy, balanced accuracy, per-class precision/recall/F1/support, confusion matrix."""
    labels = list(range(len(class_names)))
    true_index = np.asarray(true_index)
    predicted_index = np.asarray(predicted_index)
    precision, recall, f1, support = precision_recall_fscore_support(
        true_index, predicted_index, labels=labels, zero_division=0)
    present = [i for i in labels if support[i] > 0]
    return {
        "n_examples": int(len(true_index)),
        "accuracy": float(np.mean(true_index == predicted_index)),
        # Over the classes present in the validation set, so an absent class does not count as 0.
        "balanced_accuracy": float(balanced_accuracy_score(true_index, predicted_index))
        if present else 0.0,
        "macro_f1": float(np.mean(f1[present])) if present else 0.0,
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]),
                   "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": confusion_matrix(true_index, predicted_index, labels=labels).tolist(),
    }


# ---------------------------------------------------------------------------- clinical numbers
def clinical_scores(confusion, negative_index: int = 0) -> dict:
    """Sensitivity, specificity and ICBHI score of a confusion matrix (rows: true, cols: predicted).

    ICBHI 2017 challenge definitions (Rocha et al. 2019), for any number of classes:

    * sensitivity = correctly classified abnormal examples / all truly abnormal examples, where
      "correctly classified" is the exact class (the diagonal), so a crackle predicted as "both"
      counts against sensitivity: ``sum(diag[c] for c != negative) / sum(rows c != negative)``;
    * specificity = correctly classified negatives / all true negatives:
      ``diag[negative] / row[negative]``;
    * icbhi_score = (sensitivity + specificity) / 2.

    For two classes these are the ordinary sensitivity and specificity of the positive class.
    With no truly abnormal examples sensitivity is NaN, with no true negatives specificity is NaN,
    and the ICBHI score is then NaN too (an undefined number is never reported as 0 here; the
    streaming training metric, which Keras callbacks compare, uses 0 instead). NaN goes into
    metrics.json as ``NaN`` (``json.dumps`` default), which Python's ``json.loads`` reads back.
    Values are Python floats.
    """
    matrix = np.asarray(confusion, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 2:
        raise ValueError(f"a square confusion matrix of at least 2 classes is needed, "
                         f"got shape {matrix.shape}")
    if not 0 <= negative_index < len(matrix):
        raise ValueError(f"negative_index {negative_index} is outside {len(matrix)} classes")
    positive = np.arange(len(matrix)) != negative_index
    diagonal, rows = np.diag(matrix), matrix.sum(axis=1)
    n_positive, n_negative = rows[positive].sum(), rows[negative_index]
    sensitivity = float(diagonal[positive].sum() / n_positive) if n_positive > 0 else math.nan
    specificity = float(diagonal[negative_index] / n_negative) if n_negative > 0 else math.nan
    return {"sensitivity": sensitivity, "specificity": specificity,
            "icbhi_score": (sensitivity + specificity) / 2}


def roc_auc(true_index, probabilities) -> float | None:
    """Area under the ROC curve of class probabilities (n_examples, n_classes).

    Binary: the AUC of the positive class's (index 1) probability. More classes: the macro
    average of the one-vs-rest AUCs of the classes that are both present and absent in the truth
    (a class with no positive or no negative example has no AUC and is left out). None when no
    class has an AUC (all examples of one class).
    """
    true_index = np.asarray(true_index)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_classes = probabilities.shape[1]
    classes = [1] if n_classes == 2 else range(n_classes)
    scores = []
    for c in classes:
        truth = true_index == c
        if truth.any() and not truth.all():
            scores.append(roc_auc_score(truth, probabilities[:, c]))
    return float(np.mean(scores)) if scores else None


def mean_average_precision(labels_multi_hot, probabilities) -> float | None:
    """Macro average precision over the classes with at least one positive (multi-label mAP).

    ``labels_multi_hot``: (n_examples, n_classes) 0/1 (a one-hot matrix for single-label data).
    None when no class has a positive example.
    """
    labels = np.asarray(labels_multi_hot) > 0.5
    probabilities = np.asarray(probabilities, dtype=np.float64)
    scores = [average_precision_score(labels[:, c], probabilities[:, c])
              for c in range(labels.shape[1]) if labels[:, c].any()]
    return float(np.mean(scores)) if scores else None


def clinical_level_metrics(level: dict, true_index, probabilities, class_names,
                           negative_index: int = 0) -> dict:
    """The clinical numbers of one level, from its :func:`classification_metrics` dict and the
    class probabilities: the keys of :data:`CLINICAL_KEYS` plus ``negative_class``.

    ``class_accuracy`` is the average per-class accuracy of the ICBHI literature, i.e. the mean
    per-class recall over the classes present in the truth: the same number as
    ``balanced_accuracy`` (kept under this name to match the training metric).
    """
    true_index = np.asarray(true_index)
    one_hot = np.eye(len(class_names))[true_index] if len(true_index) else \
        np.zeros((0, len(class_names)))
    return {
        **clinical_scores(level["confusion_matrix"], negative_index),
        "class_accuracy": level["balanced_accuracy"],
        "roc_auc": roc_auc(true_index, probabilities),
        "mean_average_precision": mean_average_precision(one_hot, probabilities),
        "negative_class": class_names[negative_index],
    }


# ----------------------------------------------------------------------------------- patients
def _natural_key(value) -> list:
    """"Icbhi:99" before "Icbhi:101"."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", str(value)) if part]


PATIENT_COLUMNS = ("patient", "status", "predicted", "tps", "fps", "fns", "tns", "recordings",
                   "chunks", "average_score")


def patient_table(table: pd.DataFrame, class_names, negative_index: int = 0) -> pd.DataFrame:
    """One row per patient (the prediction table's ``group``) from chunk rows.

    Columns (:data:`PATIENT_COLUMNS`): ``patient``; ``status`` "positive" when any of the
    patient's chunks has a true class other than the negative one, else "negative";
    ``predicted`` "positive" when any chunk is predicted as a non-negative class (one abnormal
    chunk is enough), else "negative"; ``tps``/``fps``/``fns``/``tns`` chunk counts where
    positive means any non-negative class; ``recordings`` distinct files; ``chunks``;
    ``average_score`` the mean over the chunks of 1 - p(negative class), the probability of being
    abnormal. A chunk without a group counts as its own recording's patient (its path). Rows are
    sorted by patient id, numbers in ids compared as numbers ("Icbhi:99" before "Icbhi:101").
    """
    if "group" not in table:
        raise ValueError("the prediction table has no group column; pass groups= to "
                         "predictions_table / evaluate_model")
    negative_column = f"p_{class_names[negative_index]}"
    patient = table["group"].astype(object).where(table["group"].notna(), table["path"])
    true_positive = table["true_index"].to_numpy() != negative_index
    pred_positive = table["predicted_index"].to_numpy() != negative_index
    chunks = pd.DataFrame({
        "patient": patient.astype(str).to_numpy(),
        "file": table["file_index"].to_numpy() if "file_index" in table else table["path"],
        "tp": true_positive & pred_positive, "fp": ~true_positive & pred_positive,
        "fn": true_positive & ~pred_positive, "tn": ~true_positive & ~pred_positive,
        "true_positive": true_positive, "pred_positive": pred_positive,
        "score": 1.0 - table[negative_column].to_numpy(np.float64),
    })
    rows = []
    for name, part in chunks.groupby("patient", sort=False):
        rows.append({
            "patient": name,
            "status": "positive" if part["true_positive"].any() else "negative",
            "predicted": "positive" if part["pred_positive"].any() else "negative",
            "tps": int(part["tp"].sum()), "fps": int(part["fp"].sum()),
            "fns": int(part["fn"].sum()), "tns": int(part["tn"].sum()),
            "recordings": int(part["file"].nunique()), "chunks": int(len(part)),
            "average_score": float(part["score"].mean()),
        })
    rows.sort(key=lambda row: _natural_key(row["patient"]))
    return pd.DataFrame(rows, columns=list(PATIENT_COLUMNS))


def patient_confusion(patients: pd.DataFrame) -> dict:
    """Patient-level 2x2 confusion matrix and its numbers, from :func:`patient_table`.

    ``confusion_matrix`` [[tn, fp], [fn, tp]] (rows: true negative/positive, columns: predicted),
    ``n_patients``, ``sensitivity``, ``specificity``, ``icbhi_score`` (their mean) and
    ``accuracy``; NaN where undefined, as in :func:`clinical_scores`.
    """
    true = (patients["status"] == "positive").to_numpy()
    pred = (patients["predicted"] == "positive").to_numpy()
    matrix = [[int(np.sum(~true & ~pred)), int(np.sum(~true & pred))],
              [int(np.sum(true & ~pred)), int(np.sum(true & pred))]]
    n = len(patients)
    return {"n_patients": int(n), "confusion_matrix": matrix,
            **clinical_scores(matrix, negative_index=0),
            "accuracy": float(np.mean(true == pred)) if n else math.nan}


def patient_metrics(table: pd.DataFrame, class_names, negative_index: int = 0) -> dict:
    """The patient-level section of the metrics: ``table`` (the patient table as a list of
    records, JSON-ready) plus everything :func:`patient_confusion` returns."""
    patients = patient_table(table, class_names, negative_index)
    return {"table": patients.to_dict(orient="records"), **patient_confusion(patients)}


# ------------------------------------------------------------------------------- evaluation
def evaluate_table(table: pd.DataFrame, class_names, task: str | None = None) -> dict:
    """Example-level metrics, plus clip-level ones when files were cut into several chunks.

    Layout: ``{"examples": level, "clips": level}`` (``clips`` only with several chunks per
    file), each level the dict of :func:`classification_metrics`. With a respiratory ``task``
    (:data:`RESPIRATORY_TASKS`; negative class = class 0) every level also has the keys of
    :func:`clinical_level_metrics`, and when the table has a ``group`` column
    ``metrics["examples"]["patients"]`` holds :func:`patient_metrics` (patients are computed
    from chunks, so it lives inside the chunk level; the top level keeps only per-level dicts).
    Without a respiratory task: exactly the metrics of earlier versions.
    """
    respiratory = is_respiratory(task)
    prob_columns = [f"p_{name}" for name in class_names]
    metrics = {"examples": classification_metrics(table["true_index"], table["predicted_index"],
                                                  class_names)}
    if respiratory:
        metrics["examples"].update(clinical_level_metrics(
            metrics["examples"], table["true_index"], table[prob_columns].to_numpy(),
            class_names))
        if "group" in table:
            metrics["examples"]["patients"] = patient_metrics(table, class_names)
    # A recording of the "cw" task has no single true class (its chunks are labelled by the
    # cycles they overlap), so it gets no clip level; the patient level covers recordings.
    per_chunk_labels = (table.groupby("file_index")["true_index"].nunique() > 1).any()
    if table["file_index"].nunique() != len(table) and not per_chunk_labels:
        clips = clip_level(table, class_names)
        metrics["clips"] = classification_metrics(clips["true_index"], clips["predicted_index"],
                                                  class_names)
        if respiratory:
            metrics["clips"].update(clinical_level_metrics(
                metrics["clips"], clips["true_index"], clips[prob_columns].to_numpy(),
                class_names))
    return metrics


def evaluate_model(model, eval_ds, meta: dict, paths, class_names, description: str,
                   progress: bool = True, groups=None,
                   task: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Predict ``eval_ds`` and score it: the one code path that both a job and its replay use.

    ``groups``: one patient/group per file, indexed like ``paths`` (e.g. the validation table's
    ``group`` column); ``task``: the job's task (see :func:`evaluate_table`).
    """
    probabilities = predict(model, eval_ds, len(meta["label"]), description, progress)
    table = predictions_table(meta, probabilities, list(paths), class_names, groups=groups)
    return table, evaluate_table(table, class_names, task=task)
