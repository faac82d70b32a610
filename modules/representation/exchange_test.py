"""Fuse, CSV / ARFF export and import in auDeep's layout, netCDF inspection."""

import numpy as np
import pytest

from modules.representation.dataset import FeatureSet, FeatureSetError
from modules.representation.exchange import (export, export_plan, exported_order, fuse,
                                             import_features)
from modules.representation.inspect_netcdf import inspect_netcdf, summarize

LABEL_MAP = {"bird": 0, "cat": 1, "dog": 2}
ATTRIBUTES = ("feature_dims", "label_map")  # netCDF metadata is not part of CSV / ARFF


def make_set(n=12, shape=(6,), folds=0, partitions=False, seed=0, missing_labels=True,
             dims=None) -> FeatureSet:
    """Awkward but valid content: quotes, commas, spaces, %, non-ASCII and (from n > 12) a line
    break in filenames, missing labels, floats from 1e-45 (subnormal) to 1e30, -0.0."""
    rng = np.random.default_rng(seed)
    names = ["a.wav", "b c.wav", "quote'd.wav", 'dq"x,y.wav', "50%/ü.wav", "back\\slash.wav",
             " new\nline.wav "]
    filename = np.array([f"{names[i // 2 % len(names)]}{i // 12 or ''}" for i in range(n)],
                        dtype=object)
    chunk_nr = np.arange(n) % 2
    labels = np.array(sorted(LABEL_MAP) * n, dtype=object)[:n][np.arange(n) // 2 % 3]
    if missing_labels:
        labels[-2:] = None  # both chunks of the last file
    numeric = [-1 if v is None else LABEL_MAP[v] for v in labels]
    cv = np.zeros((n, folds), dtype=np.int64)
    if folds:
        cv[np.arange(n), (np.arange(n) // 2) % folds] = 1  # files stay within one fold
    partition = ((np.arange(n) // 2) % 3 if partitions else -np.ones(n, dtype=np.int64))
    scale = 10.0 ** rng.integers(-40, 31, size=(n, *shape))
    features = (rng.normal(size=(n, *shape)) * scale).astype(np.float32)
    features.flat[0], features.flat[1] = -0.0, np.float32(1e-45)
    return FeatureSet(filename, chunk_nr, labels, numeric, cv, partition, features,
                      dims or ["generated"] * len(shape), dict(LABEL_MAP), {"source": "test"})


def assert_round_trip(fs, tmp_path, fmt, **options):
    written = export(fs, tmp_path / "out", fmt=fmt, **options)
    back = import_features(tmp_path / "out")
    expected = fs.subset(exported_order(fs)).flattened()
    assert back.mismatch(expected, attributes=ATTRIBUTES) is None
    assert back.features.dtype == np.float32 and back.feature_dims == ["generated"]
    return [p.relative_to(tmp_path / "out").as_posix() for p in written], back


# -- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "arff"])
def test_round_trip_one_file(tmp_path, fmt):
    fs = make_set()
    written, back = assert_round_trip(fs, tmp_path, fmt)
    assert written == [f"features.{fmt}"]
    assert back.mismatch(fs, attributes=ATTRIBUTES) is None  # one file keeps the order
    assert import_features(tmp_path / "out" / f"features.{fmt}").mismatch(back) is None


@pytest.mark.parametrize("fmt", ["csv", "arff"])
def test_round_trip_partitions(tmp_path, fmt):
    fs = make_set(partitions=True)
    written, back = assert_round_trip(fs, tmp_path, fmt, name="set")
    assert written == [f"train/set.{fmt}", f"devel/set.{fmt}", f"test/set.{fmt}"]
    assert back.partition.tolist() == sorted(fs.partition.tolist())


@pytest.mark.parametrize("fmt", ["csv", "arff"])
def test_round_trip_folds(tmp_path, fmt):
    fs = make_set(n=14, folds=3)
    written, back = assert_round_trip(fs, tmp_path, fmt)
    assert written == [f"fold_{i}/features.{fmt}" for i in (1, 2, 3)]
    # the layout loses the order across folds: same instances, same rows per key
    key = lambda s: np.lexsort((s.chunk_nr, s.filename.astype(str)))  # noqa: E731
    assert back.subset(key(back)).mismatch(fs.subset(key(fs)), attributes=ATTRIBUTES) is None


@pytest.mark.parametrize("fmt", ["csv", "arff"])
def test_round_trip_partitions_with_folds_and_held_out_test(tmp_path, fmt):
    fs = make_set(n=18, folds=2, partitions=True)
    fs.cv_folds[fs.partition == 2] = 0  # test: in no fold's VALID split -> written flat
    fs.cv_folds[(fs.partition == 1) & (np.arange(18) < 9)] = [1, 1]  # overlapping folds
    written, back = assert_round_trip(fs, tmp_path, fmt)
    assert written == [f"train/fold_1/features.{fmt}", f"train/fold_2/features.{fmt}",
                       f"devel/fold_1/features.{fmt}", f"devel/fold_2/features.{fmt}",
                       f"test/features.{fmt}"]


@pytest.mark.parametrize("fmt", ["csv", "arff"])
def test_round_trip_2d_features_flattened_in_c_order(tmp_path, fmt):
    fs = make_set(shape=(3, 4), folds=2, dims=["time", "freq"])
    _, back = assert_round_trip(fs, tmp_path, fmt, labels_last=True)
    assert back.features.shape == (12, 12)
    np.testing.assert_array_equal(back.features[0].reshape(3, 4),
                                  fs.subset(exported_order(fs)).features[0])


def test_unlabelled_set_and_empty_fold_round_trip(tmp_path):
    fs = make_set(n=4, folds=3, missing_labels=False)
    fs.label_nominal[:] = None
    fs.label_numeric[:] = -1
    fs.label_map = None
    fs.cv_folds[:] = [1, 0, 0]  # fold 2 and 3 have no VALID instances: header-only files
    for fmt in ("csv", "arff"):
        _, back = assert_round_trip(fs, tmp_path / fmt, fmt)
        assert back.label_map is None and back.n_folds == 3


def test_layout_and_columns_as_audeep(tmp_path):
    fs = make_set(shape=(2,))
    csv, = export(fs, tmp_path / "c", "csv")
    lines = csv.read_text().splitlines()
    assert lines[0] == "filename,chunk_nr,label_nominal,label_numeric,feature_0,feature_1"
    assert lines[1].startswith("a.wav,0,bird,0,-0,1.40129846e-45")
    arff, = export(fs.subset([4, 11]), tmp_path / "a", "arff", labels_last=True)
    text = arff.read_text()
    assert "@attribute filename string\n@attribute chunk_nr numeric\n" in text
    assert "@attribute label_nominal {bird,cat,dog}\n@attribute label_numeric numeric\n" in text
    assert text.rstrip().endswith(",?,?")  # missing labels, labels last
    assert "\n'quote\\'d.wav',0," in text and "\n'back\\\\slash.wav',1," in text


# -- export / import errors -------------------------------------------------------------------
def test_export_refuses_what_the_layout_cannot_hold(tmp_path):
    fs = make_set(folds=2)
    fs.cv_folds[3] = 0
    with pytest.raises(FeatureSetError, match=r"VALID in no fold .*instance 3"):
        export(fs, tmp_path, "csv")
    fs = make_set(partitions=True)
    fs.partition[5] = -1
    with pytest.raises(FeatureSetError, match="instance 5 .*no partition"):
        export_plan(fs)
    with pytest.raises(FeatureSetError, match="unknown export format 'xlsx'"):
        export(make_set(), tmp_path, "xlsx")
    export(make_set(), tmp_path / "out", "csv")
    with pytest.raises(FeatureSetError, match=r"already holds .*features\.csv"):
        export(make_set(folds=2), tmp_path / "out", "csv")


def test_import_errors(tmp_path):
    with pytest.raises(FeatureSetError, match="no such file or folder"):
        import_features(tmp_path / "nothing")
    (tmp_path / "x.csv").write_text("filename,feature_0\na.wav,1.0\n")
    with pytest.raises(FeatureSetError, match="required column label_nominal missing"):
        import_features(tmp_path / "x.csv")
    (tmp_path / "x.csv").write_text("filename,label_nominal,label_numeric,feature_0\n"
                                    "a,cat,0,1\nb,dog,0,2\n")
    with pytest.raises(FeatureSetError, match="labels 'dog' as 0"):
        import_features(tmp_path / "x.csv")
    (tmp_path / "x.csv").write_text("filename,label_nominal,feature_0\na,cat,1\nb,dog,oops\n")
    with pytest.raises(FeatureSetError, match="feature column 'feature_0' holds 'oops'"):
        import_features(tmp_path / "x.csv")
    export(make_set(folds=3), tmp_path / "f", "arff")
    (tmp_path / "f" / "fold_2" / "features.arff").rename(tmp_path / "f" / "fold_2" / "x.arff")
    with pytest.raises(FeatureSetError, match="different names"):
        import_features(tmp_path / "f")
    (tmp_path / "f" / "fold_2" / "x.arff").unlink()
    (tmp_path / "f" / "fold_2").rmdir()
    with pytest.raises(FeatureSetError, match="fold_2 missing"):
        import_features(tmp_path / "f")


def test_import_without_label_numeric_synthesizes_sorted_label_map(tmp_path):
    (tmp_path / "x.csv").write_text("filename,label_nominal,f1,f2\na,dog,1,2\nb,cat,3,4\nc,,5,6\n")
    fs = import_features(tmp_path / "x.csv")
    assert fs.label_map == {"cat": 0, "dog": 1}
    assert fs.label_numeric.tolist() == [1, 0, -1] and fs.chunk_nr.tolist() == [0, 0, 0]
    assert fs.features.tolist() == [[1, 2], [3, 4], [5, 6]]


# -- fuse -------------------------------------------------------------------------------------
def test_fuse_concatenates_along_last_dimension():
    a, b = make_set(shape=(2, 3), seed=1), make_set(shape=(2, 5), seed=2)
    fused = fuse([a, b], sources=["a.nc", "b.nc"])
    assert fused.features.shape == (12, 2, 8) and fused.feature_dims == a.feature_dims
    np.testing.assert_array_equal(fused.features[..., :3], a.features)
    np.testing.assert_array_equal(fused.features[..., 3:], b.features)
    assert fused.mismatch(a, fields=("filename", "cv_folds", "label_nominal"),
                          attributes=("label_map",)) is None
    assert [(f["source"], f["size"]) for f in fused.metadata["fused"]] == [("a.nc", 3),
                                                                          ("b.nc", 5)]


@pytest.mark.parametrize("change, message", [
    (lambda s: s.filename.__setitem__(2, "other.wav"),
     r"filename differs at instance 2 \(b c.wav chunk 0\): 'b c.wav' != 'other.wav'"),
    (lambda s: s.label_nominal.__setitem__(2, "dog"), "label_nominal differs at instance 2"),
    (lambda s: s.label_numeric.__setitem__(7, 2), "label_numeric differs at instance 7"),
    (lambda s: s.cv_folds.__setitem__(1, [0, 1]), r"cv_folds differs at instance 1 .*\[1, 0\]"),
    (lambda s: s.partition.__setitem__(0, 1), "partition differs at instance 0"),
])
def test_fuse_refuses_mismatched_metadata(change, message):
    a, b = make_set(folds=2), make_set(folds=2, seed=3)
    change(b)
    with pytest.raises(FeatureSetError, match=f"cannot fuse input 2 with input 1: {message}"):
        fuse([a, b])


def test_fuse_refuses_shapes_and_single_input():
    with pytest.raises(FeatureSetError, match="number of folds differs: 0 != 2"):
        fuse([make_set(), make_set(folds=2)])
    with pytest.raises(FeatureSetError, match="shapes differ other than in the last"):
        fuse([make_set(shape=(2, 3)), make_set(shape=(3, 3))])
    with pytest.raises(FeatureSetError, match="instance count differs"):
        fuse([make_set(), make_set(n=10)])
    with pytest.raises(FeatureSetError, match="at least 2"):
        fuse([make_set()])


# -- netCDF -----------------------------------------------------------------------------------
def test_netcdf_variables_and_load_errors(tmp_path):
    import xarray as xr

    fs = make_set(folds=2, partitions=True)
    path = fs.save(tmp_path / "set.nc")
    with xr.open_dataset(path) as data:
        assert {"filename", "chunk_nr", "label_nominal", "label_numeric", "cv_folds",
                "partition", "features"} <= set(data.variables)
        assert data["partition"].dims == ("instance",)
        assert np.isnan(data["label_numeric"].values[-1])  # auDeep: missing is NaN
        assert data["label_nominal"].values[-1] == ""
    assert FeatureSet.load(path).mismatch(fs) is None

    with xr.open_dataset(path) as data:
        data.load().drop_vars("cv_folds").to_netcdf(tmp_path / "other.nc")
    with pytest.raises(FeatureSetError, match="missing variable.*cv_folds"):
        FeatureSet.load(tmp_path / "other.nc")
    (tmp_path / "text.nc").write_text("filename,chunk_nr\n")
    with pytest.raises(FeatureSetError, match="not a netCDF file"):
        FeatureSet.load(tmp_path / "text.nc")
    with pytest.raises(FeatureSetError, match="no such file"):
        inspect_netcdf(tmp_path / "missing.nc")


def test_inspect_netcdf_counts(tmp_path):
    fs = make_set(folds=2, partitions=True)
    text = inspect_netcdf(fs.save(tmp_path / "set.nc"))
    lines = [line.split() for line in text.splitlines()]
    assert ["bird", "0", "4"] in lines and ["cat", "1", "4"] in lines
    assert ["dog", "2", "2"] in lines and ["(unlabelled)", "-", "2"] in lines
    assert ["fold", "1", "6", "6"] in lines and ["train", "4"] in lines
    assert "(instance, generated) = (12, 6) float32" in text
    assert "instances  12 (6 files, chunks per file 2)" in text
    assert 'source  "test"' in text
    assert "partitions: none" in summarize(make_set()) and "folds: 0" in summarize(make_set())


def test_missing_splits_are_shown_and_refused_by_export(tmp_path):
    fs = make_set(folds=2)
    fs.cv_folds[3] = [-1, -1]  # auDeep stores a missing split as NaN
    back = FeatureSet.load(fs.save(tmp_path / "set.nc"))
    assert back.cv_folds[3].tolist() == [-1, -1]
    assert ["fold", "train", "valid", "missing"] in [line.split() for line in
                                                     summarize(back).splitlines()]
    with pytest.raises(FeatureSetError, match=r"instance 3 .*'missing', 'missing'.*missing split"):
        export(back, tmp_path / "out", "csv")
