"""Predictions and classification metrics, shared by training and replay so both compute the same
numbers the same way."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (balanced_accuracy_score, confusion_matrix,
                             precision_recall_fscore_support)
from tqdm.auto import tqdm


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


def predictions_table(meta: dict, probabilities: np.ndarray, paths, class_names) -> pd.DataFrame:
    """One row per example: file, chunk, true and predicted class, and every class probability."""
    true_index = meta["label"].argmax(axis=1)
    pred_index = probabilities.argmax(axis=1)
    table = pd.DataFrame({
        "path": [paths[i] for i in meta["file_index"]],
        "file_index": meta["file_index"],
        "chunk_index": meta["chunk_index"],
        "padded": meta["padded"],
        "true": [class_names[i] for i in true_index],
        "predicted": [class_names[i] for i in pred_index],
        "true_index": true_index,
        "predicted_index": pred_index,
    })
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


def evaluate_table(table: pd.DataFrame, class_names) -> dict:
    """Example-level metrics, plus clip-level ones when files were cut into several chunks."""
    metrics = {"examples": classification_metrics(table["true_index"], table["predicted_index"],
                                                  class_names)}
    if table["file_index"].nunique() != len(table):
        clips = clip_level(table, class_names)
        metrics["clips"] = classification_metrics(clips["true_index"], clips["predicted_index"],
                                                  class_names)
    return metrics


def evaluate_model(model, eval_ds, meta: dict, paths, class_names, description: str,
                   progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Predict ``eval_ds`` and score it: the one code path that both a job and its replay use."""
    probabilities = predict(model, eval_ds, len(meta["label"]), description, progress)
    table = predictions_table(meta, probabilities, list(paths), class_names)
    return table, evaluate_table(table, class_names)
