"""FeatureSet helpers: describe, flattened, mismatch."""

import numpy as np
import pytest

from modules.representation.dataset import FeatureSet


def small_set(features=None) -> FeatureSet:
    features = np.arange(24, dtype=np.float32).reshape(2, 3, 4) if features is None else features
    return FeatureSet(["a.wav", "b.wav"], [0, 1], ["cat", None], [0, -1], [[1, 0], [0, 1]],
                      [0, 2], features, ["time", "freq"], {"cat": 0}, {"step": "test"})


def test_describe_names_the_instance():
    assert small_set().describe(1) == "instance 1 (b.wav chunk 1)"


def test_flattened_is_c_order_and_keeps_metadata():
    fs = small_set()
    flat = fs.flattened()
    assert flat.feature_dims == ["generated"] and flat.features.shape == (2, 12)
    np.testing.assert_array_equal(flat.features[1], np.arange(12, 24))
    assert flat.mismatch(fs, fields=("filename", "chunk_nr", "label_nominal", "label_numeric",
                                     "cv_folds", "partition"), attributes=("label_map",
                                                                           "metadata")) is None
    assert fs.flattened("x").feature_dims == ["x"]


def test_mismatch_reports_the_first_difference():
    fs = small_set()
    assert fs.mismatch(fs.subset([0, 1])) is None
    other = small_set()
    other.label_nominal[1] = "dog"
    assert fs.mismatch(other) == ("label_nominal differs at instance 1 (b.wav chunk 1): "
                                  "None != 'dog'")
    other = small_set()
    other.features[1, 2, 3] = -1
    assert fs.mismatch(other) == ("features differs at instance 1 (b.wav chunk 1): "
                                  "value 11: 23.0 != -1.0")
    assert "shape differs" in fs.mismatch(small_set(np.zeros((2, 3, 5), np.float32)))
    assert fs.mismatch(fs.subset([0])) == "instance count differs: 2 != 1"
    other = small_set()
    other.metadata = {}
    assert fs.mismatch(other).startswith("metadata differs")
    assert fs.mismatch(other, attributes=()) is None


def test_empty_set_keeps_its_fold_count(tmp_path):
    empty = FeatureSet([], [], [], [], np.zeros((0, 3)), [], np.zeros((0, 4), np.float32))
    assert empty.n_folds == 3 and empty.feature_dims == ["dim1"]
    assert FeatureSet.load(empty.save(tmp_path / "empty.nc")).mismatch(empty) is None


def test_concatenate_appends_instances_and_refuses_other_shapes():
    from modules.representation.dataset import FeatureSet, FeatureSetError, concatenate

    def feature_set(n, shape=(3, 2), names=("a", "b")):
        labels = [names[i % 2] for i in range(n)]
        return FeatureSet([f"f{i}.wav" for i in range(n)], np.zeros(n), labels,
                          [i % 2 for i in range(n)], np.zeros((n, 2)), np.full(n, -1),
                          np.arange(n * np.prod(shape), dtype=np.float32).reshape(n, *shape),
                          ["time", "freq"], {"a": 0, "b": 1})

    both = concatenate([feature_set(2), feature_set(3)], sources=["x.nc", "y.nc"])
    assert len(both) == 5 and both.feature_shape == (3, 2)
    np.testing.assert_array_equal(both.features[2:], feature_set(3).features)
    with pytest.raises(FeatureSetError, match="cannot combine y.nc with x.nc: feature shape"):
        concatenate([feature_set(2), feature_set(2, shape=(4, 2))], sources=["x.nc", "y.nc"])
