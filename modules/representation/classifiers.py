"""Evaluating learned representations with classifiers: auDeep's ``mlp evaluate``, ``svm evaluate``
and ``predict`` steps, on :class:`~modules.representation.dataset.FeatureSet` objects.

Learners
    :class:`MLPLearner` (Keras 3 multilayer perceptron, trained full-batch by default, as auDeep
    does) and :class:`SVMLearner` (scikit-learn ``LinearSVC``, as auDeep's LibLINEAR learner).
    A learner has ``fit(X, y, classes=None)``, ``predict(X)`` and ``decision_scores(X)`` (one
    column per class of ``classes_``, larger = more likely); any object with those three methods
    can be evaluated.

Learner factories
    The evaluation functions build a fresh learner for every training split by calling
    ``learner_factory(seed=...)``, so ``functools.partial(MLPLearner, num_epochs=100)`` or
    ``lambda seed: SVMLearner(complexity=0.01, seed=seed)`` are factories. Repeat ``r`` (from 0),
    fold ``k`` (from 0) gets ``seed + 1000 * r + k``; a partitioned evaluation uses ``seed + r``.

Standardisation
    Every training split gets its own ``StandardScaler``, fitted on the training rows only and
    applied to the evaluation rows (auDeep ``backend/evaluation.py`` does the same).

Scores
    Accuracy, unweighted average recall (UAR: the mean over the classes present in the evaluated
    truth of each class's recall) and the confusion matrix (rows: true class, columns: predicted
    class, classes in increasing ``label_numeric`` order). A cross-validated run reports the mean
    over folds and a band of two (population, ``ddof=0``) standard deviations; with ``repeat`` the
    whole evaluation runs again with other seeds and the means and the bands are averaged while the
    confusion matrices are summed (as ``audeep/cli/evaluate.py`` does).

Majority vote
    With ``majority_vote`` the chunks of each file (same ``filename``) among the evaluated rows
    vote: the file gets the class predicted for most of its chunks; a tie goes to the tied class
    with the largest score summed over the file's chunks, and a tie of those to the smallest class
    number. The file is then scored once (its true label is that of its chunks, which must agree).

Semantic differences from auDeep (all deliberate):

* UAR averages over the classes present in the evaluated truth; auDeep's
  ``recall_score(average="macro")`` also counts a class that is predicted but absent from the
  truth, as recall 0. Both agree whenever every class occurs in every evaluated split.
* Majority-vote ties: auDeep's ``argmax(bincount)`` takes the smallest class number; here the
  summed scores decide first.
* The MLP's output layer is linear (softmax cross-entropy on the logits); auDeep's
  ``models/mlp.py`` applies a ReLU to the logits, which ``relu_logits=True`` reproduces.
* ``predict`` always writes one line per file, voting over its chunks; auDeep writes one line per
  file too but, without ``--majority-vote``, keeps the prediction of the file's last chunk.
* The confusion matrix prints full class names (auDeep abbreviates them to 3 characters).
* Training rows are not shuffled before fitting: full-batch training does not depend on the row
  order, and minibatch training shuffles per epoch with its own seed.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix as _sk_confusion_matrix
from sklearn.preprocessing import StandardScaler

from ..errors import UserError
from .dataset import PARTITIONS, TRAIN, VALID, FeatureSet

__all__ = [
    "EvaluationError", "MissingClassWarning", "MLPLearner", "SVMLearner", "evaluate",
    "evaluate_cv", "evaluate_partitions", "format_results", "format_confusion_matrix",
    "majority_vote", "mean_and_band", "scores_from_confusion", "predict",
]


class EvaluationError(UserError, ValueError):
    """A feature set or setting that cannot be evaluated (one-line message)."""


class MissingClassWarning(UserWarning):
    """A class has no instances in a training split; the classifier cannot predict it there."""


# -- learners ----------------------------------------------------------------------------------
def _encode(y, classes) -> np.ndarray:
    """Positions of the labels ``y`` in the sorted array ``classes``."""
    y = np.asarray(y)
    index = np.searchsorted(classes, y)
    index = np.clip(index, 0, len(classes) - 1)
    if len(y) and not np.array_equal(classes[index], y):
        unknown = sorted(set(y.tolist()) - set(classes.tolist()))
        raise EvaluationError(f"labels {unknown} are not among the classes {classes.tolist()}")
    return index


def _classes(y, classes) -> np.ndarray:
    return np.unique(np.asarray(y)) if classes is None else np.unique(np.asarray(classes))


class MLPLearner:
    """auDeep's MLP classifier in Keras 3.

    ``num_layers`` hidden layers of ``num_units`` ReLU units, each followed by dropout keeping a
    fraction ``keep_prob`` of the activations during training, then a dense output layer with one
    logit per class; softmax cross-entropy, Adam with ``learning_rate``, ``num_epochs`` epochs.
    ``batch_size=None`` trains on the whole training set as one batch per epoch (auDeep's
    ``TensorflowMLPLearner``: one Adam step per epoch); a number trains in minibatches, shuffled
    every epoch when ``shuffle``. ``seed`` fixes the initial weights, the dropout masks and the
    shuffling, so two learners with the same seed and data give the same model.
    ``relu_logits=True`` applies a ReLU to the logits as auDeep's ``models/mlp.py`` does.
    """

    def __init__(self, num_layers: int = 2, num_units: int = 150, keep_prob: float = 0.6,
                 learning_rate: float = 0.001, num_epochs: int = 400,
                 batch_size: Optional[int] = None, shuffle: bool = True, seed: int = 42,
                 relu_logits: bool = False):
        if num_layers < 0 or num_units < 1 or num_epochs < 0:
            raise EvaluationError(f"MLP needs num_layers >= 0, num_units >= 1, num_epochs >= 0 "
                                  f"(got {num_layers}, {num_units}, {num_epochs})")
        if not 0.0 < keep_prob <= 1.0:
            raise EvaluationError(f"keep_prob must be in (0, 1], got {keep_prob}")
        if batch_size is not None and batch_size < 1:
            raise EvaluationError(f"batch_size must be positive or None, got {batch_size}")
        self.num_layers = int(num_layers)
        self.num_units = int(num_units)
        self.keep_prob = float(keep_prob)
        self.learning_rate = float(learning_rate)
        self.num_epochs = int(num_epochs)
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.relu_logits = bool(relu_logits)
        self.classes_ = None
        self.model_ = None

    def __repr__(self) -> str:
        return (f"MLPLearner(num_layers={self.num_layers}, num_units={self.num_units}, "
                f"keep_prob={self.keep_prob}, learning_rate={self.learning_rate}, "
                f"num_epochs={self.num_epochs}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, seed={self.seed}, relu_logits={self.relu_logits})")

    def _build(self, num_features: int, num_classes: int):
        import keras

        layers = [keras.Input(shape=(num_features,))]
        for i in range(self.num_layers):
            layers.append(keras.layers.Dense(
                self.num_units, activation="relu", name=f"layer_{i + 1}",
                kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed + 2 * i)))
            if self.keep_prob < 1.0:
                layers.append(keras.layers.Dropout(1.0 - self.keep_prob, seed=self.seed + 2 * i + 1,
                                                   name=f"dropout_{i + 1}"))
        output_init = keras.initializers.GlorotUniform(seed=self.seed + 2 * self.num_layers)
        layers.append(keras.layers.Dense(num_classes, name="output",
                                         kernel_initializer=output_init))
        return keras.Sequential(layers, name="mlp")

    def fit(self, X, y, classes=None) -> "MLPLearner":
        """Train a new model on ``X`` (n, features) and labels ``y``; ``classes`` (default: the
        labels in ``y``) sets the output units, so classes absent from ``y`` still get one."""
        import keras
        import tensorflow as tf

        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
            raise EvaluationError(f"MLP fit needs X of shape (n, features) with n = len(y) > 0, "
                                  f"got {X.shape} and {len(y)} labels")
        self.classes_ = _classes(y, classes)
        targets = _encode(y, self.classes_).astype(np.int32)
        model = self._build(X.shape[1], len(self.classes_))
        optimizer = keras.optimizers.Adam(learning_rate=self.learning_rate)
        optimizer.build(model.trainable_variables)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        relu_logits = self.relu_logits

        @tf.function(reduce_retracing=True)
        def step(inputs, labels):
            with tf.GradientTape() as tape:
                logits = model(inputs, training=True)
                if relu_logits:
                    logits = tf.nn.relu(logits)
                loss = loss_fn(labels, logits)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return loss

        n = len(X)
        if self.batch_size is None or self.batch_size >= n:
            inputs, labels = tf.constant(X), tf.constant(targets)
            for _ in range(self.num_epochs):
                step(inputs, labels)
        else:
            rng = np.random.default_rng(self.seed)
            for _ in range(self.num_epochs):
                order = rng.permutation(n) if self.shuffle else np.arange(n)
                for start in range(0, n, self.batch_size):
                    rows = order[start:start + self.batch_size]
                    step(tf.constant(X[rows]), tf.constant(targets[rows]))
        self.model_ = model
        return self

    def _logits(self, X) -> np.ndarray:
        if self.model_ is None:
            raise EvaluationError("MLPLearner: call fit before predict")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.model_.input_shape[-1]:
            raise EvaluationError(f"MLPLearner was trained on {self.model_.input_shape[-1]} "
                                  f"features, got X of shape {X.shape}")
        logits = np.asarray(self.model_(X, training=False), dtype=np.float64)
        return np.maximum(logits, 0.0) if self.relu_logits else logits

    def predict_proba(self, X) -> np.ndarray:
        """Softmax class probabilities, one column per class of ``classes_``."""
        logits = self._logits(X)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def decision_scores(self, X) -> np.ndarray:
        return self.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self._logits(X), axis=1)]


class SVMLearner:
    """auDeep's LibLINEAR learner: scikit-learn ``LinearSVC(C=complexity)`` (L2-regularised,
    squared hinge loss, one-vs-rest), with ``random_state=seed`` so results repeat.
    ``decision_scores`` gives the one-vs-rest decision values, one column per class of
    ``classes_``; a class absent from the training labels gets ``-inf``."""

    def __init__(self, complexity: float = 1.0, seed: int = 42, max_iter: int = 1000):
        if not complexity > 0:
            raise EvaluationError(f"SVM complexity must be positive, got {complexity}")
        self.complexity = float(complexity)
        self.seed = int(seed)
        self.max_iter = int(max_iter)
        self.classes_ = None
        self.model_ = None

    def __repr__(self) -> str:
        return (f"SVMLearner(complexity={self.complexity}, seed={self.seed}, "
                f"max_iter={self.max_iter})")

    def fit(self, X, y, classes=None) -> "SVMLearner":
        from sklearn.svm import LinearSVC

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
            raise EvaluationError(f"SVM fit needs X of shape (n, features) with n = len(y) > 0, "
                                  f"got {X.shape} and {len(y)} labels")
        self.classes_ = _classes(y, classes)
        _encode(y, self.classes_)
        if len(np.unique(y)) < 2:
            raise EvaluationError(f"SVM needs at least two classes to train, got only "
                                  f"{np.unique(y).tolist()}")
        self.model_ = LinearSVC(C=self.complexity, random_state=self.seed, max_iter=self.max_iter)
        self.model_.fit(X, y)
        return self

    def decision_scores(self, X) -> np.ndarray:
        if self.model_ is None:
            raise EvaluationError("SVMLearner: call fit before predict")
        values = self.model_.decision_function(np.asarray(X, dtype=np.float64))
        if values.ndim == 1:  # binary: positive means the second class
            values = np.stack([-values, values], axis=1)
        scores = np.full((len(values), len(self.classes_)), -np.inf)
        scores[:, _encode(self.model_.classes_, self.classes_)] = values
        return scores

    def predict(self, X) -> np.ndarray:
        if self.model_ is None:
            raise EvaluationError("SVMLearner: call fit before predict")
        return self.model_.predict(np.asarray(X, dtype=np.float64))


# -- scoring -----------------------------------------------------------------------------------
def mean_and_band(values: Iterable[float]) -> tuple[float, float]:
    """The mean of ``values`` and two population standard deviations (auDeep's "+/-" band)."""
    values = np.asarray(list(values), dtype=np.float64)
    if len(values) == 0:
        return math.nan, math.nan
    return float(values.mean()), float(2.0 * values.std())


def scores_from_confusion(matrix) -> tuple[float, float]:
    """Accuracy and UAR (mean recall over the classes with true instances) of a confusion
    matrix whose rows are true classes and columns predicted classes."""
    matrix = np.asarray(matrix, dtype=np.float64)
    total = matrix.sum()
    if total == 0:
        return math.nan, math.nan
    support = matrix.sum(axis=1)
    present = support > 0
    recall = np.diag(matrix)[present] / support[present]
    return float(np.trace(matrix) / total), float(recall.mean())


def majority_vote(filenames, predictions, scores, classes) -> tuple[np.ndarray, np.ndarray]:
    """One prediction per file from the predictions of its chunks.

    ``predictions`` holds one class (a value of ``classes``) per chunk, ``scores`` one row per
    chunk with one column per class of ``classes`` (or None). Each file gets the class predicted
    for most of its chunks; a tie goes to the tied class with the largest summed score, then to
    the smallest class. Returns the files (sorted) and their classes.
    """
    classes = np.asarray(classes)
    filenames = np.asarray(filenames, dtype=object).astype(str)
    files, inverse = np.unique(filenames, return_inverse=True)
    index = _encode(predictions, classes)
    votes = np.zeros((len(files), len(classes)), dtype=np.int64)
    np.add.at(votes, (inverse, index), 1)
    summed = np.zeros(votes.shape)
    if scores is not None:
        # a class the learner never saw scores -inf, and its sum stays -inf; such a class has
        # no votes, so it never takes part in a tie
        np.add.at(summed, inverse, np.asarray(scores, dtype=np.float64))
    tied = votes == votes.max(axis=1, keepdims=True)
    # the smallest class among the best summed scores of the tied classes
    best = np.argmax(np.where(tied, summed, -np.inf), axis=1)
    return files, classes[best]


def _file_labels(filenames, labels) -> tuple[np.ndarray, np.ndarray]:
    """The files (sorted) and the label of each; the chunks of one file must agree."""
    filenames = np.asarray(filenames, dtype=object).astype(str)
    files, inverse = np.unique(filenames, return_inverse=True)
    result = np.full(len(files), -1, dtype=np.int64)
    result[inverse] = labels
    disagree = result[inverse] != labels
    if disagree.any():
        raise EvaluationError(f"the chunks of file {filenames[np.argmax(disagree)]} have "
                              f"different labels; majority vote needs one label per file")
    return files, result


# -- feature sets ------------------------------------------------------------------------------
def _feature_matrix(fs: FeatureSet) -> np.ndarray:
    if fs.features.ndim != 2:
        raise EvaluationError(f"classifiers need one feature vector per instance (instance, "
                              f"generated), got features of shape {fs.features.shape} "
                              f"({', '.join(fs.feature_dims)}); generate representations first")
    if len(fs) == 0:
        raise EvaluationError("the feature set has no instances")
    return fs.features.astype(np.float64)


def _class_info(fs: FeatureSet) -> tuple[np.ndarray, list]:
    """The class numbers (sorted) and their names: from ``label_map`` when there is one,
    otherwise from the labelled instances."""
    labelled = fs.label_numeric >= 0
    if fs.label_map:
        names = {int(number): str(name) for name, number in fs.label_map.items()}
        classes = np.array(sorted(names), dtype=np.int64)
        unknown = sorted(set(fs.label_numeric[labelled].tolist()) - set(names))
        if unknown:
            raise EvaluationError(f"label_numeric values {unknown} are not in the label_map "
                                  f"{fs.label_map}")
        return classes, [names[c] for c in classes]
    classes = np.unique(fs.label_numeric[labelled])
    result = []
    for c in classes:
        nominal = [v for v in fs.label_nominal[fs.label_numeric == c] if v is not None]
        result.append(str(nominal[0]) if nominal else str(c))
    return classes, result


def _names_by_number(classes, names) -> dict:
    return {int(c): n for c, n in zip(classes, names)}


def _partition_numbers(partitions, what: str) -> list:
    if isinstance(partitions, (str, int)):
        partitions = (partitions,)
    numbers = []
    for p in partitions:
        if isinstance(p, str):
            key = p.strip().lower()
            if key not in PARTITIONS:
                raise EvaluationError(f"unknown {what} partition {p!r}; choose from "
                                      f"{', '.join(PARTITIONS)}")
            numbers.append(PARTITIONS[key])
        elif int(p) in PARTITIONS.values():
            numbers.append(int(p))
        else:
            raise EvaluationError(f"unknown {what} partition {p!r}; choose from "
                                  f"{', '.join(PARTITIONS)}")
    if not numbers:
        raise EvaluationError(f"no {what} partitions given")
    return numbers


def _partition_names(numbers) -> list:
    by_number = {v: k for k, v in PARTITIONS.items()}
    return [by_number[n] for n in numbers]


def _evaluate_split(fs, X, train_rows, eval_rows, learner, classes, names, majority: bool,
                    where: str) -> dict:
    """Fit a scaler and the learner on ``train_rows``, score ``eval_rows``."""
    if not train_rows.any():
        raise EvaluationError(f"{where}: no training instances")
    if not eval_rows.any():
        raise EvaluationError(f"{where}: no evaluation instances")
    y_train = fs.label_numeric[train_rows]
    y_eval = fs.label_numeric[eval_rows]
    for split, y in (("training", y_train), ("evaluation", y_eval)):
        unlabelled = int((y < 0).sum())
        if unlabelled:
            raise EvaluationError(f"{where}: {unlabelled} of {len(y)} {split} instances are "
                                  f"unlabelled; every {split} instance needs a label")
    present = set(np.unique(y_train).tolist())
    if len(present) < 2:
        raise EvaluationError(f"{where}: the training instances have only one class "
                              f"({', '.join(n for c, n in zip(classes, names) if c in present)})")
    missing = [n for c, n in zip(classes, names) if int(c) not in present]
    if missing:
        warnings.warn(f"{where}: no training instances of class(es) {', '.join(missing)}; "
                      f"the classifier cannot predict them there", MissingClassWarning,
                      stacklevel=3)

    scaler = StandardScaler().fit(X[train_rows])
    learner.fit(scaler.transform(X[train_rows]), y_train, classes=classes)
    X_eval = scaler.transform(X[eval_rows])
    predictions = np.asarray(learner.predict(X_eval))
    if majority:
        scores = learner.decision_scores(X_eval)
        _, truth = _file_labels(fs.filename[eval_rows], y_eval)
        _, predictions = majority_vote(fs.filename[eval_rows], predictions, scores, classes)
    else:
        truth = y_eval
    matrix = _sk_confusion_matrix(truth, predictions, labels=classes)
    accuracy, uar = scores_from_confusion(matrix)
    return {"accuracy": accuracy, "uar": uar, "n": int(matrix.sum()), "confusion_matrix": matrix}


def _progress(total: int, description: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="fit", disable=not enabled, leave=False)


def evaluate_cv(fs: FeatureSet, learner_factory: Callable, repeat: int = 1,
                majority_vote: bool = False, progress: bool = True, seed: int = 42) -> dict:
    """Cross-validated evaluation over the folds of ``fs.cv_folds``.

    For every fold, a new learner (``learner_factory(seed=seed + 1000 * r + fold)``) is trained
    on the fold's TRAIN rows (standardised with a scaler fitted on them) and scored on its VALID
    rows; rows marked neither are left out. Returns a dict with ``folds`` (one dict per repeat and
    fold: ``repeat``, ``fold``, ``accuracy``, ``uar``, ``n``, ``confusion_matrix``), ``runs``
    (per repeat: ``accuracy``, ``accuracy_band``, ``uar``, ``uar_band`` — mean and two standard
    deviations over its folds), ``accuracy``, ``accuracy_band``, ``uar``, ``uar_band`` (the runs'
    averages), ``confusion_matrix`` (summed over folds and repeats), ``n_evaluated`` (its total),
    ``classes``, ``class_names``, ``mode`` ("cv"), ``n_folds``, ``repeat``, ``majority_vote``.
    """
    if repeat < 1:
        raise EvaluationError(f"repeat must be at least 1, got {repeat}")
    if fs.n_folds == 0:
        raise EvaluationError("the feature set has no cross-validation folds (cv_folds has no "
                              "fold columns); use a partitioned evaluation")
    X = _feature_matrix(fs)
    classes, names = _class_info(fs)
    for fold in range(fs.n_folds):
        if not (fs.cv_folds[:, fold] == VALID).any():
            raise EvaluationError(f"cross-validation fold {fold + 1} has no VALID instances")
    folds, runs = [], []
    with _progress(repeat * fs.n_folds, "cross-validation", progress) as bar:
        for r in range(repeat):
            run_folds = []
            for fold in range(fs.n_folds):
                where = f"fold {fold + 1}" if repeat == 1 else f"repeat {r + 1} fold {fold + 1}"
                learner = learner_factory(seed=seed + 1000 * r + fold)
                result = _evaluate_split(fs, X, fs.cv_folds[:, fold] == TRAIN,
                                         fs.cv_folds[:, fold] == VALID, learner, classes, names,
                                         majority_vote, where)
                result = {"repeat": r + 1, "fold": fold + 1, **result}
                run_folds.append(result)
                bar.update(1)
                bar.set_postfix(accuracy=f"{result['accuracy']:.3f}", uar=f"{result['uar']:.3f}")
            accuracy, accuracy_band = mean_and_band(f["accuracy"] for f in run_folds)
            uar, uar_band = mean_and_band(f["uar"] for f in run_folds)
            runs.append({"accuracy": accuracy, "accuracy_band": accuracy_band, "uar": uar,
                         "uar_band": uar_band})
            folds.extend(run_folds)
    matrix = np.sum([f["confusion_matrix"] for f in folds], axis=0)
    return {
        "mode": "cv", "n_folds": fs.n_folds, "repeat": repeat, "majority_vote": majority_vote,
        "classes": classes.tolist(), "class_names": names, "folds": folds, "runs": runs,
        "accuracy": float(np.mean([r["accuracy"] for r in runs])),
        "accuracy_band": float(np.mean([r["accuracy_band"] for r in runs])),
        "uar": float(np.mean([r["uar"] for r in runs])),
        "uar_band": float(np.mean([r["uar_band"] for r in runs])),
        "confusion_matrix": matrix, "n_evaluated": int(matrix.sum()),
    }


def evaluate_partitions(fs: FeatureSet, learner_factory: Callable,
                        train_partitions: Sequence = ("train",),
                        eval_partitions: Sequence = ("devel",), repeat: int = 1,
                        majority_vote: bool = False, progress: bool = True,
                        seed: int = 42) -> dict:
    """Train on the rows in ``train_partitions``, score the rows in ``eval_partitions`` (names
    "train" / "devel" / "test", any case, or numbers 0 / 1 / 2). Same result keys as
    :func:`evaluate_cv` with ``mode`` "partitions", ``train_partitions``, ``eval_partitions``;
    each repeat is one entry of ``folds`` (``fold`` 1) and of ``runs`` (band 0); the top-level
    bands are two standard deviations over the repeats (0 for one run)."""
    if repeat < 1:
        raise EvaluationError(f"repeat must be at least 1, got {repeat}")
    train_numbers = _partition_numbers(train_partitions, "training")
    eval_numbers = _partition_numbers(eval_partitions, "evaluation")
    if (fs.partition < 0).all():
        raise EvaluationError("the feature set has no partitions (every instance's partition "
                              "is unset); use cross-validation")
    overlap = sorted(set(train_numbers) & set(eval_numbers))
    if overlap:
        warnings.warn(f"partition(s) {', '.join(_partition_names(overlap))} are used for both "
                      f"training and evaluation", UserWarning, stacklevel=2)
    X = _feature_matrix(fs)
    classes, names = _class_info(fs)
    train_rows = np.isin(fs.partition, train_numbers)
    eval_rows = np.isin(fs.partition, eval_numbers)
    train_names, eval_names = _partition_names(train_numbers), _partition_names(eval_numbers)
    for rows, label in ((train_rows, train_names), (eval_rows, eval_names)):
        if not rows.any():
            raise EvaluationError(f"no instances in partition(s) {', '.join(label)}")
    folds = []
    with _progress(repeat, "partitioned evaluation", progress) as bar:
        for r in range(repeat):
            where = f"training on {' & '.join(train_names)}"
            if repeat > 1:
                where = f"repeat {r + 1}, {where}"
            result = _evaluate_split(fs, X, train_rows, eval_rows, learner_factory(seed=seed + r),
                                     classes, names, majority_vote, where)
            folds.append({"repeat": r + 1, "fold": 1, **result})
            bar.update(1)
    accuracy, accuracy_band = mean_and_band(f["accuracy"] for f in folds)
    uar, uar_band = mean_and_band(f["uar"] for f in folds)
    matrix = np.sum([f["confusion_matrix"] for f in folds], axis=0)
    return {
        "mode": "partitions", "train_partitions": train_names, "eval_partitions": eval_names,
        "repeat": repeat, "majority_vote": majority_vote, "classes": classes.tolist(),
        "class_names": names, "folds": folds,
        "runs": [{"accuracy": f["accuracy"], "accuracy_band": 0.0, "uar": f["uar"],
                  "uar_band": 0.0} for f in folds],
        "accuracy": accuracy, "accuracy_band": accuracy_band, "uar": uar, "uar_band": uar_band,
        "confusion_matrix": matrix, "n_evaluated": int(matrix.sum()),
    }


def evaluate(fs: FeatureSet, learner_factory: Callable, cross_validate: Optional[bool] = None,
             train_partitions: Optional[Sequence] = None,
             eval_partitions: Optional[Sequence] = None, **options) -> dict:
    """Cross-validated or partitioned evaluation. ``cross_validate=None`` picks cross-validation
    when ``fs`` has folds and no partitions were named, otherwise partitions (default train ->
    devel); ``options`` go to :func:`evaluate_cv` / :func:`evaluate_partitions`."""
    partitions_named = train_partitions is not None or eval_partitions is not None
    if cross_validate and partitions_named:
        raise EvaluationError("cross-validation and partitioned evaluation are mutually exclusive")
    if cross_validate is None:
        has_partitions = bool((fs.partition >= 0).any())
        if fs.n_folds == 0 and not has_partitions:
            raise EvaluationError("the feature set has neither cross-validation folds nor "
                                  "partitions: nothing to train and evaluate on")
        cross_validate = fs.n_folds > 0 and not partitions_named
    if cross_validate:
        return evaluate_cv(fs, learner_factory, **options)
    return evaluate_partitions(fs, learner_factory,
                               train_partitions=train_partitions or ("train",),
                               eval_partitions=eval_partitions or ("devel",), **options)


# -- output ------------------------------------------------------------------------------------
def _percent(value: float) -> str:
    return f"{100 * value:2.2f}%"


def format_confusion_matrix(matrix, names: Sequence[str]) -> str:
    """auDeep's confusion-matrix layout with full class names: a header row of predicted
    classes, then one row per true class, every column right-aligned to a common width."""
    matrix = np.asarray(matrix)
    names = [str(n) for n in names]
    if matrix.shape != (len(names), len(names)):
        raise EvaluationError(f"confusion matrix of shape {matrix.shape} does not match "
                              f"{len(names)} class names")
    label_width = max(map(len, names))
    width = max(label_width, len(str(int(matrix.max()))) if matrix.size else 1)
    lines = [" " * label_width + "".join(f" {n:>{width}}" for n in names)]
    for name, row in zip(names, matrix):
        lines.append(f"{name:>{label_width}}" + "".join(f" {int(v):>{width}d}" for v in row))
    return "\n".join(lines)


def format_results(results: dict, label_map: Optional[dict] = None) -> str:
    """The text ``spectrain mlp|svm evaluate`` prints, in auDeep's wording.

    Cross-validation: ``fold K accuracy is A% (UAR U%)`` per fold (``repeat R fold K ...`` with
    repeats), ``cross validation accuracy: A% (+/- B%)`` and ``cross validation UAR: U% (+/- B%)``.
    Partitions: ``accuracy on devel: A% (UAR U%)`` (per repeat and with bands when repeated).
    Then ``confusion matrix (rows: true class, columns: predicted class):`` and the matrix with
    class names (from ``label_map`` name -> number when given, else the results' names)."""
    classes = results["classes"]
    if label_map:
        by_number = {int(v): str(k) for k, v in label_map.items()}
        names = [by_number.get(int(c), str(c)) for c in classes]
    else:
        names = list(results.get("class_names") or [str(c) for c in classes])
    lines = []
    repeated = results["repeat"] > 1
    if results["mode"] == "cv":
        for f in results["folds"]:
            prefix = f"repeat {f['repeat']} " if repeated else ""
            lines.append(f"{prefix}fold {f['fold']} accuracy is {_percent(f['accuracy'])} "
                         f"(UAR {_percent(f['uar'])})")
        lines.append(f"cross validation accuracy: {_percent(results['accuracy'])} "
                     f"(+/- {_percent(results['accuracy_band'])})")
        lines.append(f"cross validation UAR: {_percent(results['uar'])} "
                     f"(+/- {_percent(results['uar_band'])})")
    else:
        where = " & ".join(results["eval_partitions"])
        if repeated:
            for f in results["folds"]:
                lines.append(f"repeat {f['repeat']} accuracy on {where}: "
                             f"{_percent(f['accuracy'])} (UAR {_percent(f['uar'])})")
            lines.append(f"accuracy on {where}: {_percent(results['accuracy'])} "
                         f"(+/- {_percent(results['accuracy_band'])}) "
                         f"(UAR {_percent(results['uar'])} (+/- {_percent(results['uar_band'])}))")
        else:
            lines.append(f"accuracy on {where}: {_percent(results['accuracy'])} "
                         f"(UAR {_percent(results['uar'])})")
    unit = "files (majority vote over chunks)" if results["majority_vote"] else "instances"
    lines.append(f"confusion matrix (rows: true class, columns: predicted class; "
                 f"{results['n_evaluated']} {unit}):")
    lines.append(format_confusion_matrix(results["confusion_matrix"], names))
    return "\n".join(lines) + "\n"


# -- prediction --------------------------------------------------------------------------------
def predict(fs_train: FeatureSet, fs_predict: FeatureSet, learner_factory: Callable,
            output_path, train_partitions: Optional[Sequence] = None,
            predict_partitions: Optional[Sequence] = None, seed: int = 42) -> dict:
    """Train on every labelled instance of ``fs_train`` (of ``train_partitions`` when given),
    predict the instances of ``fs_predict`` (of ``predict_partitions`` when given) and write
    ``filename<TAB>label`` lines, one per file, sorted by filename, to ``output_path``.

    Features are standardised with a scaler fitted on the training instances. A file with
    several chunks gets the majority vote of its chunks (ties: summed scores, then the smaller
    class number; see :func:`majority_vote`); a file with one chunk gets its prediction.
    Unlabelled training instances are left out. Returns {filename: class name}."""
    X_train = _feature_matrix(fs_train)
    X_predict = _feature_matrix(fs_predict)
    if X_train.shape[1] != X_predict.shape[1]:
        raise EvaluationError(f"training features have {X_train.shape[1]} dimensions, the "
                              f"features to predict {X_predict.shape[1]}")
    rows = fs_train.label_numeric >= 0
    if train_partitions is not None:
        rows &= np.isin(fs_train.partition, _partition_numbers(train_partitions, "training"))
    if not rows.any():
        raise EvaluationError("no labelled training instances" +
                              ("" if train_partitions is None else " in the training partitions"))
    predict_rows = np.ones(len(fs_predict), dtype=bool)
    if predict_partitions is not None:
        predict_rows = np.isin(fs_predict.partition,
                               _partition_numbers(predict_partitions, "prediction"))
        if not predict_rows.any():
            raise EvaluationError("no instances to predict in the prediction partitions")
    classes, names = _class_info(fs_train)
    y = fs_train.label_numeric[rows]
    present = set(np.unique(y).tolist())
    if len(present) < 2:
        only = ", ".join(n for c, n in zip(classes, names) if int(c) in present)
        raise EvaluationError(f"the training instances have only one class ({only})")
    missing = [n for c, n in zip(classes, names) if int(c) not in present]
    if missing:
        warnings.warn(f"no training instances of class(es) {', '.join(missing)}; the classifier "
                      f"cannot predict them", MissingClassWarning, stacklevel=2)
    scaler = StandardScaler().fit(X_train[rows])
    learner = learner_factory(seed=seed)
    learner.fit(scaler.transform(X_train[rows]), y, classes=classes)
    X = scaler.transform(X_predict[predict_rows])
    files, voted = majority_vote(fs_predict.filename[predict_rows], learner.predict(X),
                                 learner.decision_scores(X), classes)
    by_number = _names_by_number(classes, names)
    predictions = {str(f): by_number[int(c)] for f, c in zip(files, voted)}
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with open(output_path, "w", encoding="utf-8", newline="\n") as out:
        for f, label in predictions.items():
            out.write(f"{f}\t{label}\n")
    return predictions
