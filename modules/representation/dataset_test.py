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


# -- files as auDeep writes them ----------------------------------------------------------------
import json  # noqa: E402

import xarray as xr  # noqa: E402

from modules.representation.dataset import FeatureSetError  # noqa: E402
from modules.representation.exchange import export, import_features  # noqa: E402
from modules.representation.inspect_netcdf import inspect_netcdf  # noqa: E402


def audeep_write(path, instances, feature_dims, feature_shape, num_folds, label_map=None):
    """Write a netCDF file exactly as auDeep does, following its code
    (auDeep/auDeep, audeep/backend/data/data_set.py and audeep/cli/extract_spectrograms.py):
    ``empty()`` makes object arrays filled with None (features float32 NaN) and sets the
    ``feature_dims`` attribute; the ``DataSet.label_map`` setter stores
    ``json.dumps(sorted(label_map.items(), key=lambda i: i[0]))``; ExtractSpectrograms fills
    each instance (filename, chunk_nr, label_nominal, label_numeric from the label map when
    there is one, cv_folds as Split values, partition as a Partition value or None, features);
    ``DataSet.save`` calls ``to_netcdf(engine="netcdf4", format="NETCDF4")``. xarray then turns
    the object arrays holding None into float64 NaN (numbers) and "" (text)."""
    n = len(instances)

    def empty(shape):
        array = np.empty(shape, dtype=object)
        array[:] = None
        return array

    data = xr.Dataset({
        "filename": (["instance"], empty([n])),
        "chunk_nr": (["instance"], empty([n])),
        "cv_folds": (["instance", "fold"], empty([n, num_folds])),
        "partition": (["instance"], empty([n])),
        "label_nominal": (["instance"], empty([n])),
        "label_numeric": (["instance"], empty([n])),
        "features": (["instance", *feature_dims],
                     np.full([n, *feature_shape], np.nan, dtype=np.float32)),
    })
    data.attrs["feature_dims"] = json.dumps(list(feature_dims))
    if label_map is not None:
        data.attrs["label_map"] = json.dumps(sorted(label_map.items(), key=lambda i: i[0]))
    for index, instance in enumerate(instances):
        at = dict(instance=index)
        data["filename"][at] = instance["filename"]
        data["chunk_nr"][at] = instance["chunk_nr"]
        data["label_nominal"][at] = instance["label_nominal"]
        if label_map is not None:  # the label_nominal setter sets the number from the map
            nominal = instance["label_nominal"]
            data["label_numeric"][at] = None if nominal is None else label_map[nominal]
        else:
            data["label_numeric"][at] = instance.get("label_numeric")
        data["cv_folds"][at] = list(instance["cv_folds"])
        data["partition"][at] = instance["partition"]
        data["features"][at] = instance["features"].astype(np.float32)
    data.to_netcdf(path=str(path), engine="netcdf4", format="NETCDF4")
    return path


def audeep_reads(path) -> list:
    """What auDeep's ``load()`` and instance accessors make of a file (data_set.py: every
    variable ``astype(object).fillna(None)``; ``Partition(x)``, ``Split(x)``,
    ``dict(json.loads(attrs["label_map"]))``), as one dict per instance; raises where auDeep
    would (an unknown Partition / Split value, a label map dict() cannot take)."""
    partitions, splits = {0: "TRAIN", 1: "DEVEL", 2: "TEST"}, {0: "TRAIN", 1: "VALID"}

    def value(v):
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else v

    with xr.open_dataset(path) as data:
        data.load()
        label_map = (dict(json.loads(data.attrs["label_map"])) if "label_map" in data.attrs
                     else None)
        assert data["features"].dtype == np.float32
        assert list(data["features"].dims) == ["instance", *json.loads(data.attrs["feature_dims"])]
        rows = []
        for i in range(data.sizes["instance"]):
            partition = value(data["partition"].values[i].item())
            rows.append({
                "filename": str(data["filename"].values[i]),
                "chunk_nr": int(data["chunk_nr"].values[i]),
                "label_nominal": value(data["label_nominal"].values[i].item()),
                "label_numeric": value(data["label_numeric"].values[i].item()),
                "cv_folds": [splits[int(x)] for x in data["cv_folds"].values[i].tolist()],
                "partition": None if partition is None else partitions[int(partition)],
            })
        return rows, label_map


def esc_like_instances(unlabelled_last=True):
    """auDeep's ESC parser: 2 cross-validation folds, no partition (None), label map."""
    rng = np.random.default_rng(4)
    names = ["dog", "rain", "dog", "rooster"]
    instances = []
    for k, name in enumerate(names):
        for chunk in range(2):
            folds = [1, 0] if k % 2 == 0 else [0, 1]
            label = None if (unlabelled_last and k == 3) else name
            instances.append({"filename": f"{k}-{name}.wav", "chunk_nr": chunk,
                              "label_nominal": label, "cv_folds": folds, "partition": None,
                              "features": rng.normal(size=(3, 2))})
    return instances


def compare_like_instances():
    """auDeep's ComParE parsers: train / devel labelled, test unlabelled, no folds."""
    rng = np.random.default_rng(5)
    rows = [("train_01.wav", "yes", 0), ("train_02.wav", "no", 0), ("devel_01.wav", "no", 1),
            ("test_01.wav", None, 2), ("test_02.wav", None, 2)]
    return [{"filename": f, "chunk_nr": 0, "label_nominal": label, "cv_folds": [],
             "partition": partition, "features": rng.normal(size=(4,))}
            for f, label, partition in rows]


ESC_MAP = {"dog": 0, "rain": 1, "rooster": 2}


def test_an_audeep_written_file_loads_exports_and_imports(tmp_path):
    path = audeep_write(tmp_path / "esc.nc", esc_like_instances(), ["time", "freq"], [3, 2], 2,
                        ESC_MAP)
    with xr.open_dataset(path) as data:  # what auDeep's writer left in the file
        assert data["partition"].dtype == np.float64 and np.isnan(data["partition"]).all()
        assert data["label_numeric"].dtype == np.float64
        assert data["label_nominal"].values[-1] == ""
        assert data.attrs["label_map"] == '[["dog", 0], ["rain", 1], ["rooster", 2]]'
    fs = FeatureSet.load(path)
    assert fs.partition.tolist() == [-1] * 8  # not int64 minimum
    assert fs.label_nominal.tolist() == ["dog"] * 2 + ["rain"] * 2 + ["dog"] * 2 + [None] * 2
    assert fs.label_numeric.tolist() == [0, 0, 1, 1, 0, 0, -1, -1]
    assert fs.label_map == ESC_MAP and fs.feature_dims == ["time", "freq"]
    assert fs.cv_folds.tolist() == [[1, 0], [1, 0], [0, 1], [0, 1]] * 2
    written = export(fs, tmp_path / "csv", "csv", name="esc")
    assert [p.relative_to(tmp_path / "csv").as_posix() for p in written] == [
        "fold_1/esc.csv", "fold_2/esc.csv"]
    text = inspect_netcdf(path)
    assert "partitions: none" in text and ["(unlabelled)", "-", "2"] in [
        line.split() for line in text.splitlines()]
    back = import_features(tmp_path / "csv")
    order = np.lexsort((back.chunk_nr, back.filename.astype(str)))
    assert back.subset(order).mismatch(fs.flattened(), attributes=()) is None
    assert back.label_map == {"dog": 0, "rain": 1}  # CSV keeps only the classes that occur


def test_an_audeep_partitioned_file_with_an_unlabelled_test_set(tmp_path):
    path = audeep_write(tmp_path / "compare.nc", compare_like_instances(), ["generated"], [4],
                        0, {"no": 0, "yes": 1})
    fs = FeatureSet.load(path)
    assert fs.partition.tolist() == [0, 0, 1, 2, 2] and fs.n_folds == 0
    assert fs.label_nominal.tolist() == ["yes", "no", "no", None, None]
    written = export(fs, tmp_path / "arff", "arff")
    assert sorted(p.parent.name for p in written) == ["devel", "test", "train"]
    assert "\n'test_02.wav',0,?,?," in (tmp_path / "arff" / "test" / "features.arff").read_text()


def netcdf_variables(path) -> dict:
    """Each variable's dtype, dimensions and values (NaN as None), read with netCDF4."""
    import netCDF4

    with netCDF4.Dataset(path) as data:
        out = {}
        for name, variable in data.variables.items():
            values = np.asarray(variable[:].filled(np.nan) if np.ma.isMaskedArray(variable[:])
                                else variable[:])
            listed = [None if isinstance(v, float) and np.isnan(v) else v
                      for v in values.ravel().tolist()]
            out[name] = (str(variable.dtype), variable.dimensions, listed)
        return out, {key: data.getncattr(key) for key in ("feature_dims", "label_map")
                     if key in data.ncattrs()}


@pytest.mark.parametrize("case", ["esc", "compare", "unlabelled"])
def test_our_files_are_the_files_audeep_writes(tmp_path, case):
    """Ours -> auDeep: the same content written by FeatureSet.save and by auDeep's writer gives
    the same variables (dtype, dimensions, values with NaN / "" for missing) and attributes."""
    if case == "esc":
        instances, dims, shape, folds, label_map = (esc_like_instances(), ["time", "freq"],
                                                    [3, 2], 2, ESC_MAP)
    elif case == "compare":
        instances, dims, shape, folds, label_map = (compare_like_instances(), ["generated"],
                                                    [4], 0, {"no": 0, "yes": 1})
    else:  # no labels and no label map at all (auDeep's NoMetadataParser)
        instances = [dict(i, label_nominal=None) for i in compare_like_instances()]
        dims, shape, folds, label_map = ["generated"], [4], 0, None
    theirs = audeep_write(tmp_path / "theirs.nc", instances, dims, shape, folds, label_map)
    fs = FeatureSet.load(theirs)
    fs.metadata = {"made_by": "test"}  # spectrain_* attributes, which auDeep ignores
    ours = fs.save(tmp_path / "ours.nc")
    assert netcdf_variables(ours) == netcdf_variables(theirs)
    assert audeep_reads(ours) == audeep_reads(theirs)
    assert FeatureSet.load(ours).mismatch(fs) is None


def test_a_fully_labelled_file_of_ours_passes_audeeps_label_checks(tmp_path):
    fs = FeatureSet.load(audeep_write(tmp_path / "a.nc", esc_like_instances(False),
                                      ["time", "freq"], [3, 2], 2, ESC_MAP))
    rows, label_map = audeep_reads(fs.save(tmp_path / "ours.nc"))
    assert label_map == ESC_MAP
    for row in rows:  # data_set.py check_integrity, constraint 5
        assert row["label_nominal"] in label_map
        assert row["label_numeric"] == label_map[row["label_nominal"]]
        assert row["partition"] is None and set(row["cv_folds"]) <= {"TRAIN", "VALID"}


def test_files_of_earlier_spectrain_versions_still_read(tmp_path):
    data = small_set().to_xarray()
    data["label_nominal"] = ("instance", np.array(["cat", "__MISSING_VALUE"], dtype=object))
    data["label_numeric"] = ("instance", np.array([0, -999999]))
    data["partition"] = ("instance", np.array([0, -999999]))
    data.attrs["label_map"] = json.dumps({"cat": 0})
    data.to_netcdf(tmp_path / "old.nc")
    fs = FeatureSet.load(tmp_path / "old.nc")
    assert fs.label_nominal.tolist() == ["cat", None] and fs.label_numeric.tolist() == [0, -1]
    assert fs.partition.tolist() == [0, -1] and fs.label_map == {"cat": 0}


@pytest.mark.parametrize("variable, values, message", [
    ("partition", [0.0, 3.0], r"variable partition: 3.0 at instance 1: expected one of 0, 1, 2"),
    ("label_numeric", [0.5, np.nan], r"variable label_numeric: 0.5 at instance 0 is not a whole"),
    ("chunk_nr", [0.0, np.nan], r"variable chunk_nr: missing at instance 1"),
    ("label_numeric", [1.0, np.nan], r"label_numeric 1 but the label_map attribute maps 'cat'"),
    ("label_nominal", np.array(["dog", ""], dtype=object), r"'dog' is not in the label_map"),
    ("cv_folds", np.array([[1, 0], [2, 0]]), r"variable cv_folds: 2 at instance 1: expected one"),
])
def test_bad_values_name_the_file_variable_and_instance(tmp_path, variable, values, message):
    data = small_set().to_xarray()
    data[variable] = (data[variable].dims, np.asarray(values))
    data.to_netcdf(tmp_path / "bad.nc")
    with pytest.raises(FeatureSetError, match=message) as caught:
        FeatureSet.load(tmp_path / "bad.nc")
    assert str(caught.value).startswith(f"{tmp_path / 'bad.nc'}: ") and "\n" not in str(
        caught.value)


def test_a_bad_label_map_attribute_is_refused(tmp_path):
    data = small_set().to_xarray()
    data.attrs["label_map"] = json.dumps([["cat", 0], ["dog", 0]])
    data.to_netcdf(tmp_path / "bad.nc")
    with pytest.raises(FeatureSetError, match="attribute label_map .*distinct numbers"):
        FeatureSet.load(tmp_path / "bad.nc")
    with pytest.raises(FeatureSetError, match="which a file stores for 'no label'"):
        FeatureSet(["a.wav"], [0], [""], [-1], np.zeros((1, 0)), [-1],
                   np.zeros((1, 2), np.float32)).save(tmp_path / "x.nc")
