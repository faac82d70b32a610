"""Tests for the representation classifiers (auDeep's evaluate / predict steps)."""

import functools
import math

import numpy as np
import pytest

from modules.representation import classifiers as C
from modules.representation.dataset import FeatureSet

NAMES = ("bird", "cat", "dog")
LABEL_MAP = {name: i for i, name in enumerate(NAMES)}


def make_set(labels, folds=None, partition=None, features=None, chunks=1, seed=0, dims=6,
             separation=6.0, feature_dims=("generated",)):
    """A FeatureSet with one file per entry of ``labels`` (``chunks`` rows each), Gaussian
    clusters per class, fold ``folds[i]`` (VALID there, TRAIN elsewhere) of 3 folds."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    y = np.repeat(labels, chunks)
    n = len(y)
    if features is None:
        centers = rng.normal(0.0, separation, (len(NAMES), dims))
        features = centers[np.where(y < 0, 0, y)] + rng.normal(0.0, 1.0, (n, dims))
    files = np.repeat([f"clip_{i:03d}.wav" for i in range(len(labels))], chunks)
    if folds is None:
        cv = np.zeros((n, 0), dtype=int)
    else:
        row_folds = np.repeat(np.asarray(folds), chunks)
        cv = np.stack([(row_folds == k).astype(int) for k in range(3)], axis=1)
    part = np.full(n, -1) if partition is None else np.repeat(np.asarray(partition), chunks)
    nominal = np.array([NAMES[v] if v >= 0 else None for v in y], dtype=object)
    return FeatureSet(files, np.tile(np.arange(chunks), len(labels)), nominal, y, cv, part,
                      features, list(feature_dims), dict(LABEL_MAP))


def balanced_set(**kwargs):
    """90 files, 30 per class, 3 folds of 10 per class."""
    labels = np.repeat(np.arange(3), 30)
    folds = np.tile(np.arange(3), 30)
    return make_set(labels, folds=folds, **kwargs)


def unbalanced_set():
    """3 folds with VALID class counts (6, 12, 12), (12, 9, 9), (18, 6, 6)."""
    labels, folds = [], []
    for fold, counts in enumerate([(6, 12, 12), (12, 9, 9), (18, 6, 6)]):
        for cls, count in enumerate(counts):
            labels += [cls] * count
            folds += [fold] * count
    return make_set(labels, folds=folds)


class ConstantLearner:
    """Predicts one class: ``(seed // 1000) % 3``, so each repeat predicts another class."""

    def __init__(self, seed=0):
        self.seed = seed
        self.value = (seed // 1000) % 3

    def fit(self, X, y, classes=None):
        self.classes_ = np.asarray(classes)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[self.value])

    def decision_scores(self, X):
        scores = np.zeros((len(X), len(self.classes_)))
        scores[:, self.value] = 1.0
        return scores


class ArgmaxLearner(ConstantLearner):
    """Predicts the argmax of the first len(classes) features."""

    def predict(self, X):
        return self.classes_[np.argmax(X[:, :len(self.classes_)], axis=1)]

    def decision_scores(self, X):
        return X[:, :len(self.classes_)]


class RecordingLearner(ConstantLearner):
    """Remembers what it was trained and asked about."""

    calls = []

    def fit(self, X, y, classes=None):
        RecordingLearner.calls.append(("fit", np.array(X)))
        return super().fit(X, y, classes)

    def predict(self, X):
        RecordingLearner.calls.append(("predict", np.array(X)))
        return super().predict(X)


FAST_MLP = functools.partial(C.MLPLearner, num_units=32, num_epochs=60)


# -- learners on separable data ----------------------------------------------------------------
def test_svm_cross_validation_separable():
    fs = balanced_set()
    results = C.evaluate_cv(fs, C.SVMLearner, progress=False)
    assert results["accuracy"] >= 0.97 and results["uar"] >= 0.97
    assert [f["n"] for f in results["folds"]] == [30, 30, 30]
    assert results["confusion_matrix"].sum() == results["n_evaluated"] == 90
    assert results["confusion_matrix"].sum(axis=1).tolist() == [30, 30, 30]
    assert results["class_names"] == list(NAMES)


def test_mlp_cross_validation_separable():
    fs = balanced_set(seed=1)
    results = C.evaluate_cv(fs, FAST_MLP, progress=False)
    assert results["accuracy"] >= 0.95 and results["uar"] >= 0.95
    assert results["n_evaluated"] == 90


def test_partitions_separable_and_majority_unit():
    labels = np.repeat(np.arange(3), 20)
    partition = np.tile([0, 0, 1, 2], 15)
    fs = make_set(labels, partition=partition, seed=2)
    results = C.evaluate_partitions(fs, C.SVMLearner, progress=False)
    assert results["accuracy"] >= 0.95
    assert results["n_evaluated"] == int((partition == 1).sum())
    both = C.evaluate_partitions(fs, C.SVMLearner, ("TRAIN", "devel"), ("test",), progress=False)
    assert both["n_evaluated"] == int((partition == 2).sum())
    assert both["eval_partitions"] == ["test"] and both["train_partitions"] == ["train", "devel"]
    text = C.format_results(both, fs.label_map)
    assert text.startswith("accuracy on test: ")


# -- standardisation ---------------------------------------------------------------------------
def test_scaler_is_fitted_on_training_rows_only_cv():
    fs = balanced_set()
    fs.features[fs.cv_folds[:, 0] == 1] += 1000.0  # fold 1's VALID rows: a huge offset
    RecordingLearner.calls = []
    C.evaluate_cv(fs, RecordingLearner, progress=False)
    calls = RecordingLearner.calls
    assert [c[0] for c in calls] == ["fit", "predict"] * 3
    X = fs.features.astype(np.float64)
    for fold in range(3):
        train, valid = fs.cv_folds[:, fold] == 0, fs.cv_folds[:, fold] == 1
        fitted, asked = calls[2 * fold][1], calls[2 * fold + 1][1]
        np.testing.assert_allclose(fitted.mean(axis=0), 0.0, atol=1e-9)
        np.testing.assert_allclose(fitted.std(axis=0), 1.0, atol=1e-9)
        mean, std = X[train].mean(axis=0), X[train].std(axis=0)
        np.testing.assert_allclose(asked, (X[valid] - mean) / std, rtol=1e-6, atol=1e-6)
    # fold 1: the offset VALID rows stay far away, as they would not with a leaked scaler
    assert calls[1][1].mean() > 100


def test_scaler_is_fitted_on_training_rows_only_partitions():
    labels = np.repeat(np.arange(3), 20)
    partition = np.tile([0, 1], 30)
    fs = make_set(labels, partition=partition)
    fs.features[partition == 1] += 1000.0
    RecordingLearner.calls = []
    C.evaluate_partitions(fs, RecordingLearner, progress=False)
    (_, fitted), (_, asked) = RecordingLearner.calls
    np.testing.assert_allclose(fitted.mean(axis=0), 0.0, atol=1e-9)
    assert asked.mean() > 100  # a scaler fitted on train + devel would centre these near 0


# -- arithmetic --------------------------------------------------------------------------------
def test_mean_and_band_known_numbers():
    mean, band = C.mean_and_band([0.8, 0.9, 1.0])
    assert mean == pytest.approx(0.9)
    assert band == pytest.approx(2 * math.sqrt(0.02 / 3))  # population std, ddof=0
    assert C.mean_and_band([0.5]) == (0.5, 0.0)
    accuracy, uar = C.scores_from_confusion([[3, 1, 0], [0, 2, 0], [0, 0, 0]])
    assert accuracy == pytest.approx(5 / 6) and uar == pytest.approx((0.75 + 1.0) / 2)


def test_cv_band_on_known_per_fold_numbers():
    fs = unbalanced_set()
    results = C.evaluate_cv(fs, ConstantLearner, progress=False)
    assert [f["accuracy"] for f in results["folds"]] == pytest.approx([0.2, 0.4, 0.6])
    assert results["accuracy"] == pytest.approx(0.4)
    assert results["accuracy_band"] == pytest.approx(2 * np.std([0.2, 0.4, 0.6]))
    assert results["uar"] == pytest.approx(1 / 3) and results["uar_band"] == pytest.approx(0)
    assert results["confusion_matrix"].tolist() == [[36, 0, 0], [27, 0, 0], [27, 0, 0]]
    assert results["n_evaluated"] == 90 == len(fs)


def test_repeat_averages_runs_and_uses_new_seeds():
    seeds = []

    def factory(seed):
        seeds.append(seed)
        return ConstantLearner(seed)

    results = C.evaluate_cv(unbalanced_set(), factory, repeat=2, progress=False, seed=7)
    assert seeds == [7, 8, 9, 1007, 1008, 1009]
    assert [r["accuracy"] for r in results["runs"]] == pytest.approx([0.4, 0.3])
    assert results["accuracy"] == pytest.approx(0.35)
    expected_band = (2 * np.std([0.2, 0.4, 0.6]) + 2 * np.std([0.4, 0.3, 0.2])) / 2
    assert results["accuracy_band"] == pytest.approx(expected_band)
    assert len(results["folds"]) == 6
    assert results["n_evaluated"] == 180  # summed over folds and repeats, as auDeep does
    text = C.format_results(results, LABEL_MAP)
    assert "repeat 2 fold 3 accuracy is 20.00% (UAR 33.33%)" in text


# -- majority vote -----------------------------------------------------------------------------
def test_majority_vote_function_and_ties():
    files = ["b.wav"] * 3 + ["a.wav"] * 3 + ["c.wav"] * 3
    predictions = [2, 1, 0, 0, 0, 1, 2, 1, 0]
    scores = np.zeros((9, 3))
    scores[1, 1] = 5.0  # b: a 1-1-1 tie, class 1 has the largest summed score
    names, voted = C.majority_vote(files, predictions, scores, [0, 1, 2])
    assert names.tolist() == ["a.wav", "b.wav", "c.wav"]
    assert voted.tolist() == [0, 1, 0]  # c: tie and equal scores -> the smallest class


def test_majority_vote_on_chunked_cv():
    labels = np.repeat(np.arange(3), 10)  # 30 files of 3 chunks
    folds = np.tile(np.arange(3), 10)
    y = np.repeat(labels, 3)
    predicted = y.copy()
    predicted[2::3] = (y[2::3] + 1) % 3  # the third chunk of every file is wrong
    rng = np.random.default_rng(3)
    features = np.eye(3)[predicted] * 10 + rng.normal(0, 0.01, (90, 3))
    fs = make_set(labels, folds=folds, features=features, chunks=3)
    chunk_level = C.evaluate_cv(fs, ArgmaxLearner, progress=False)
    assert chunk_level["accuracy"] == pytest.approx(2 / 3)
    assert chunk_level["n_evaluated"] == 90
    voted = C.evaluate_cv(fs, ArgmaxLearner, majority_vote=True, progress=False)
    assert voted["accuracy"] == pytest.approx(1.0) and voted["uar"] == pytest.approx(1.0)
    assert voted["n_evaluated"] == 30 and [f["n"] for f in voted["folds"]] == [10, 10, 10]
    assert "30 files (majority vote over chunks)" in C.format_results(voted, LABEL_MAP)


# -- predict -----------------------------------------------------------------------------------
def test_predict_writes_one_line_per_file(tmp_path):
    train = make_set(np.repeat(np.arange(3), 15), seed=4)
    unlabelled = make_set([-1, -1], seed=4)
    train = FeatureSet(*(np.concatenate([getattr(train, v), getattr(unlabelled, v)])
                         for v in ("filename", "chunk_nr", "label_nominal", "label_numeric",
                                   "cv_folds", "partition", "features")),
                       ["generated"], dict(LABEL_MAP))
    rng = np.random.default_rng(4)
    centers = rng.normal(0.0, 6.0, (3, 6))  # same centres as make_set(seed=4)
    truth = np.repeat([2, 0, 1, 1, 0], 3)
    features = centers[truth] + np.random.default_rng(9).normal(0, 1, (15, 6))
    files = np.repeat([f"test_{i}.wav" for i in (4, 0, 3, 1, 2)], 3)
    to_predict = FeatureSet(files, np.tile(np.arange(3), 5), [None] * 15, [-1] * 15,
                            np.zeros((15, 0)), [-1] * 15, features, ["generated"])
    out = tmp_path / "out" / "predictions.tsv"
    result = C.predict(train, to_predict, C.SVMLearner, out)
    lines = out.read_text().splitlines()
    assert len(lines) == 5
    expected = dict(zip((f"test_{i}.wav" for i in (4, 0, 3, 1, 2)),
                        (NAMES[c] for c in (2, 0, 1, 1, 0))))
    assert lines == [f"{f}\t{expected[f]}" for f in sorted(expected)]
    assert result == expected


# -- determinism and the MLP -------------------------------------------------------------------
def test_mlp_is_deterministic_with_a_seed():
    fs = balanced_set(seed=5, separation=1.5)  # overlapping: the model's details matter
    X = fs.features.astype(np.float64)
    y = fs.label_numeric
    learner = functools.partial(C.MLPLearner, num_units=16, num_epochs=20)
    a = learner(seed=3).fit(X, y).decision_scores(X)
    b = learner(seed=3).fit(X, y).decision_scores(X)
    c = learner(seed=4).fit(X, y).decision_scores(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    first = C.evaluate_cv(fs, learner, progress=False)
    second = C.evaluate_cv(fs, learner, progress=False)
    assert [f["accuracy"] for f in first["folds"]] == [f["accuracy"] for f in second["folds"]]
    np.testing.assert_array_equal(first["confusion_matrix"], second["confusion_matrix"])


def test_mlp_keeps_all_classes_and_minibatches():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(20, 4))
    y = np.repeat([0, 2], 10)
    learner = C.MLPLearner(num_units=8, num_epochs=3, batch_size=7, relu_logits=True)
    learner.fit(X, y, classes=[0, 1, 2])
    probabilities = learner.predict_proba(X)
    assert probabilities.shape == (20, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert set(learner.predict(X).tolist()) <= {0, 1, 2}
    svm = C.SVMLearner().fit(X, y, classes=[0, 1, 2])
    scores = svm.decision_scores(X)
    assert scores.shape == (20, 3) and np.isneginf(scores[:, 1]).all()
    assert np.array_equal(svm.classes_[np.argmax(scores, axis=1)], svm.predict(X))


# -- output ------------------------------------------------------------------------------------
def test_format_results_layout():
    results = C.evaluate_cv(unbalanced_set(), ConstantLearner, progress=False)
    text = C.format_results(results, LABEL_MAP)
    lines = text.splitlines()
    assert lines[:5] == [
        "fold 1 accuracy is 20.00% (UAR 33.33%)",
        "fold 2 accuracy is 40.00% (UAR 33.33%)",
        "fold 3 accuracy is 60.00% (UAR 33.33%)",
        "cross validation accuracy: 40.00% (+/- 32.66%)",
        "cross validation UAR: 33.33% (+/- 0.00%)",
    ]
    assert lines[5].startswith("confusion matrix (rows: true class, columns: predicted class")
    assert lines[6:] == ["     bird  cat  dog", "bird   36    0    0", " cat   27    0    0",
                         " dog   27    0    0"]


# -- errors ------------------------------------------------------------------------------------
def test_errors_are_one_line():
    no_folds = make_set([0, 1, 2])
    with pytest.raises(C.EvaluationError, match="no cross-validation folds"):
        C.evaluate_cv(no_folds, C.SVMLearner, progress=False)
    with pytest.raises(C.EvaluationError, match="neither cross-validation folds nor partitions"):
        C.evaluate(no_folds, C.SVMLearner, progress=False)
    with pytest.raises(C.EvaluationError, match="no partitions"):
        C.evaluate_partitions(no_folds, C.SVMLearner, progress=False)

    fs = balanced_set()
    fs.label_numeric[1] = -1  # in fold 2, so among fold 1's training rows
    fs.label_nominal[1] = None
    with pytest.raises(C.EvaluationError, match=r"1 of 60 training instances are unlabelled") as e:
        C.evaluate_cv(fs, C.SVMLearner, progress=False)
    assert "\n" not in str(e.value)

    spectrograms = make_set([0, 1, 2], folds=[0, 1, 2], features=np.zeros((3, 4, 5)),
                            feature_dims=("time", "freq"))
    with pytest.raises(C.EvaluationError, match="one feature vector per instance"):
        C.evaluate_cv(spectrograms, C.SVMLearner, progress=False)


def test_missing_class_in_a_training_fold_warns_and_goes_on():
    labels = np.repeat(np.arange(3), 12)
    folds = np.tile(np.arange(3), 12)
    folds[labels == 2] = 0  # class dog only in fold 1's VALID rows
    fs = make_set(labels, folds=folds)
    with pytest.warns(C.MissingClassWarning, match="fold 1: no training instances of class"):
        results = C.evaluate_cv(fs, C.SVMLearner, progress=False)
    assert results["n_evaluated"] == 36
    assert results["confusion_matrix"][2, 2] == 0  # never predicted in fold 1
    assert "dog" in C.format_results(results, LABEL_MAP)
