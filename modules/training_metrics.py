"""Keras metrics for ``model.compile``: streaming sensitivity / specificity / ICBHI score, so
early stopping, learning-rate reduction and the best checkpoint can follow ``val_icbhi_score``.

The numbers use the same ICBHI definitions as :func:`modules.evaluation.clinical_scores`, computed
from argmax predictions over an epoch's accumulated confusion matrix.

Typical use (``parameters.task`` "" for datasets' own labels, "pneumonia" or "cw")::

    check_target_metric(params.target_metric, params.task, params.n_classes)
    wanted = class_accuracy_wanted(train_labels, params.target_metric)  # one-hot rows
    model.compile(..., metrics=training_metrics(params.task, params.n_classes, multi_label,
                                                class_accuracy=wanted))
    direction = metric_direction(params.target_metric)
"""

from __future__ import annotations

import difflib

import keras
import numpy as np
from keras import ops

from modules.evaluation import RESPIRATORY_TASKS, is_respiratory
from modules.serialization import serializable

__all__ = ["CLASS_ACCURACY_NAMES", "ConfusionMatrixMetric", "IMBALANCE_RATIO", "KINDS",
           "RESPIRATORY_TASKS", "check_target_metric", "class_accuracy_wanted",
           "classes_imbalanced", "metric_direction", "metric_names", "target_metric_names",
           "training_metrics"]

KINDS = ("sensitivity", "specificity", "icbhi_score", "class_accuracy")
CLASS_ACCURACY_NAMES = ("class_accuracy", "val_class_accuracy")
# Largest / smallest training class count from which class_accuracy (balanced accuracy) is
# logged for a non-respiratory task: below it, mean per-class recall is about accuracy again.
IMBALANCE_RATIO = 1.5


@serializable()  # modules.models imports this module: one import loads a checkpoint
class ConfusionMatrixMetric(keras.metrics.Metric):
    """One number derived from a streaming (n_classes, n_classes) confusion matrix.

    ``kind``:

    * "sensitivity": diagonal of the abnormal classes (every class but ``negative_index``) over
      all truly abnormal examples (ICBHI: the exact abnormal class must be right);
    * "specificity": correct negatives over all true negatives;
    * "icbhi_score": (sensitivity + specificity) / 2;
    * "class_accuracy": mean per-class recall over the classes seen so far in ``y_true``.

    Rows are ``argmax(y_true)`` (one-hot, or mixed soft labels from mixup: the dominant class),
    columns ``argmax(y_pred)``; ``sample_weight`` (per example) weights the counts. Where a number
    is undefined (no true positives or no true negatives seen yet, nothing seen at all) ``result``
    is 0, not NaN: Keras callbacks (EarlyStopping, ModelCheckpoint, ReduceLROnPlateau) compare
    values, and NaN never counts as an improvement. The evaluation after training
    (modules.evaluation.clinical_scores) reports NaN for the same cases.
    """

    def __init__(self, kind: str, n_classes: int, negative_index: int = 0, name: str | None = None,
                 dtype=None):
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
        n_classes = int(n_classes)
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        if not 0 <= int(negative_index) < n_classes:
            raise ValueError(f"negative_index {negative_index} is outside {n_classes} classes")
        super().__init__(name=name or kind, dtype=dtype)
        self.kind = kind
        self.n_classes = n_classes
        self.negative_index = int(negative_index)
        self.confusion = self.add_variable(shape=(n_classes, n_classes), initializer="zeros",
                                           name="confusion", dtype=self.dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        true = ops.one_hot(ops.argmax(ops.reshape(y_true, (-1, self.n_classes)), axis=-1),
                           self.n_classes, dtype=self.dtype)
        pred = ops.one_hot(ops.argmax(ops.reshape(y_pred, (-1, self.n_classes)), axis=-1),
                           self.n_classes, dtype=self.dtype)
        if sample_weight is not None:
            weight = ops.reshape(ops.cast(sample_weight, self.dtype), (-1, 1))
            true = true * weight
        self.confusion.assign_add(ops.matmul(ops.transpose(true), pred))

    def _ratio(self, numerator, denominator):
        return ops.where(denominator > 0, numerator / ops.maximum(denominator, 1e-12),
                         ops.zeros_like(numerator))

    def result(self):
        matrix = ops.convert_to_tensor(self.confusion)
        diagonal = ops.diagonal(matrix)
        rows = ops.sum(matrix, axis=1)
        negative = ops.one_hot(self.negative_index, self.n_classes, dtype=self.dtype)
        sensitivity = self._ratio(ops.sum(diagonal * (1 - negative)),
                                  ops.sum(rows * (1 - negative)))
        specificity = self._ratio(ops.sum(diagonal * negative), ops.sum(rows * negative))
        if self.kind == "sensitivity":
            return sensitivity
        if self.kind == "specificity":
            return specificity
        if self.kind == "icbhi_score":
            return (sensitivity + specificity) / 2
        seen = ops.cast(rows > 0, self.dtype)
        recalls = self._ratio(diagonal, rows)
        return self._ratio(ops.sum(recalls * seen), ops.sum(seen))

    def reset_state(self):
        self.confusion.assign(ops.zeros((self.n_classes, self.n_classes), dtype=self.dtype))

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "n_classes": self.n_classes,
                "negative_index": self.negative_index}


def metric_names(task: str | None) -> list[str]:
    """Names (as in the fit history, without ``val_``) that :func:`training_metrics` may log:
    the valid target metrics, known before the data are loaded. "class_accuracy" is among
    them for every task, though outside respiratory tasks it is compiled only when wanted
    (see :func:`class_accuracy_wanted`)."""
    if is_respiratory(task):
        return ["accuracy", "sensitivity", "specificity", "icbhi_score", "class_accuracy", "auc"]
    return ["accuracy", "class_accuracy"]


def classes_imbalanced(one_hot_labels, ratio: float = IMBALANCE_RATIO) -> bool:
    """Whether the examples' classes (``argmax`` of each one-hot row, over every column) are
    imbalanced: largest class count / smallest >= ``ratio``; a class without examples counts
    as imbalanced. No examples: False."""
    labels = np.asarray(one_hot_labels)
    if labels.ndim != 2 or not len(labels):
        return False
    counts = np.bincount(labels.argmax(axis=1), minlength=labels.shape[1])
    return bool(counts.min() == 0 or counts.max() / counts.min() >= ratio)


def class_accuracy_wanted(one_hot_labels, target_metric: str | None = None) -> bool:
    """Whether a non-respiratory job should compile class_accuracy: where it means something
    (imbalanced training classes, :func:`classes_imbalanced`; on balanced ones it repeats
    accuracy) or where ``target_metric`` follows it."""
    return target_metric in CLASS_ACCURACY_NAMES or classes_imbalanced(one_hot_labels)


def training_metrics(task: str | None, n_classes: int, multi_label: bool = False,
                     class_accuracy: bool = False) -> list:
    """Metrics for ``model.compile``: categorical accuracy first, then, for a respiratory task
    ("pneumonia", "cw"; negative class = class 0) sensitivity, specificity, icbhi_score,
    class_accuracy and ROC-AUC ("auc", ``multi_label`` for sigmoid heads); for any other task
    class_accuracy (mean per-class recall) only when ``class_accuracy`` is true (see
    :func:`class_accuracy_wanted`).

    Fresh metric objects on every call (a metric object belongs to one model).
    """
    metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    if is_respiratory(task):
        kinds = KINDS
    else:
        kinds = ("class_accuracy",) if class_accuracy else ()
    metrics += [ConfusionMatrixMetric(kind, n_classes, negative_index=0, name=kind)
                for kind in kinds]
    if is_respiratory(task):
        metrics.append(keras.metrics.AUC(name="auc", multi_label=multi_label,
                                         num_labels=n_classes if multi_label else None))
    return metrics


def target_metric_names(task: str | None, n_classes: int | None = None,
                        names: list[str] | None = None) -> list[str]:
    """Every value ``parameters.target_metric`` may take for this task: "loss", "val_loss", and
    each metric (``names``, by default those of :func:`training_metrics`) with and without the
    ``val_`` prefix. ``n_classes`` does not change the names (kept for symmetry with
    training_metrics)."""
    names = ["loss"] + (metric_names(task) if names is None else list(names))
    return names + [f"val_{name}" for name in names]


def check_target_metric(name: str, task: str | None, n_classes: int | None = None,
                        names: list[str] | None = None) -> str:
    """``name`` if it is a valid target metric for ``task`` (whose metrics log ``names``, see
    :func:`target_metric_names`), else ValueError naming the closest valid names and all of
    them."""
    valid = target_metric_names(task, n_classes, names)
    if name in valid:
        return name
    close = difflib.get_close_matches(str(name), valid, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"target_metric {name!r} is not logged for task {task or '(none)'!r}{hint} "
                     f"Valid: {', '.join(valid)}")


def metric_direction(name: str) -> str:
    """"min" for losses, "max" for every other metric here (accuracy, sensitivity, AUC...)."""
    return "min" if "loss" in name else "max"


FILE_LEVEL_METRICS = ("val_file_accuracy", "val_file_balanced_accuracy")


class FileLevelValidation(keras.callbacks.Callback):
    """Adds ``val_file_accuracy`` and ``val_file_balanced_accuracy`` to each epoch's logs: the
    validation windows' probabilities averaged over each file, as the report's per-recording
    level does. It must come before the callbacks that read the target metric (checkpoint,
    early stopping): they see the logs it fills. ``file_index``: the file of each validation
    example, in dataset order; ``labels``: each example's one-hot label."""

    def __init__(self, val_ds, file_index, labels):
        super().__init__()
        self.val_ds = val_ds
        self.file_index = np.asarray(file_index)
        self.truth = np.asarray(labels).argmax(axis=1)

    def on_epoch_end(self, epoch, logs=None):
        from sklearn.metrics import balanced_accuracy_score

        probabilities = np.concatenate([np.asarray(self.model(x, training=False))
                                        for x, _ in self.val_ds])
        files, first = np.unique(self.file_index, return_index=True)
        sums = np.zeros((len(files), probabilities.shape[1]))
        np.add.at(sums, np.searchsorted(files, self.file_index), probabilities)
        predicted, truth = sums.argmax(axis=1), self.truth[first]
        if logs is not None:
            logs["val_file_accuracy"] = float(np.mean(predicted == truth))
            logs["val_file_balanced_accuracy"] = float(balanced_accuracy_score(truth,
                                                                               predicted))
