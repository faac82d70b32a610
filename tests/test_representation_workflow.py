"""auDeep's five steps through `spectrain` commands, on the real ESC-10 recordings, with a tiny
autoencoder and few epochs: preprocess -> t-rae train -> generate -> mlp/svm evaluate -> fuse,
export, import; and the one-line errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from modules.cli import main
from modules.representation.dataset import FeatureSet

pytestmark = pytest.mark.slow

VARIABLES = {"filename", "chunk_nr", "label_nominal", "label_numeric", "cv_folds", "partition",
             "features"}


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    from tests.conftest import ESC10

    if not ESC10.is_dir():
        pytest.skip(f"ESC-10 not found at {ESC10}")
    out = tmp_path_factory.mktemp("audeep")
    spectrograms = out / "esc-10.nc"
    assert main(["preprocess", "--basedir", str(ESC10), "--window-width", "0.08",
                 "--window-overlap", "0.04", "--mel-spectrum", "32", "--fixed-length", "5",
                 "--clip-below", "-60", "--output", str(spectrograms)]) == 0
    # run-b trains on two input files, as auDeep's --input A.nc B.nc
    for name, units, inputs in (("run-a", "8", [str(spectrograms)]),
                                ("run-b", "4", [str(spectrograms)] * 2)):
        assert main(["t-rae", "train", "--input", *inputs, "--run-name",
                     str(out / name), "--num-epochs", "2", "--batch-size", "64",
                     "--num-layers", "1", "--num-units", units, "--bidirectional-decoder"]) == 0
        assert main(["t-rae", "generate", "--model-dir", str(out / name), "--input",
                     str(spectrograms), "--output", str(out / f"{name}.nc")]) == 0
    return out


def test_the_files_open_in_xarray_with_audeeps_variable_names(workflow):
    for name in ("esc-10.nc", "run-a.nc"):
        with xr.open_dataset(workflow / name) as data:
            assert VARIABLES <= set(data.variables)
            assert data.sizes["instance"] == 400 and data.sizes["fold"] == 5
    spectrograms = FeatureSet.load(workflow / "esc-10.nc")
    assert spectrograms.feature_dims == ["time", "freq"] and spectrograms.feature_shape[1] == 32
    assert spectrograms.features.max() == pytest.approx(1.0) and spectrograms.features.min() >= -1
    representations = FeatureSet.load(workflow / "run-a.nc")
    assert representations.feature_dims == ["generated"]
    # bidirectional decoder, 1 layer of 8 GRU units: a 16-wide representation, from tanh
    assert representations.feature_shape == (16,)
    assert np.abs(representations.features).max() <= 1.0
    assert (representations.cv_folds == spectrograms.cv_folds).all()


def test_mlp_and_svm_evaluate_with_cross_validation(workflow, capsys):
    assert main(["mlp", "evaluate", "--input", str(workflow / "run-a.nc"), "--cross-validate",
                 "--shuffle", "--num-epochs", "30", "--num-layers", "2",
                 "--num-units", "32"]) == 0
    text = capsys.readouterr().out
    for fold in range(1, 6):
        assert f"fold {fold} accuracy" in text
    assert "cross validation accuracy" in text and "Dog bark" in text
    assert main(["svm", "evaluate", "--input", str(workflow / "run-a.nc"), "--cross-validate",
                 "--complexity", "0.1"]) == 0
    assert "cross validation UAR" in capsys.readouterr().out


def test_fuse_export_and_import_give_back_the_same_numbers(workflow, tmp_path):
    fused = tmp_path / "fused.nc"
    assert main(["fuse", "--input", str(workflow / "run-a.nc"), str(workflow / "run-b.nc"),
                 "--output", str(fused)]) == 0
    fused_set = FeatureSet.load(fused)
    assert fused_set.feature_shape == (16 + 8,)
    for fmt in ("csv", "arff"):
        folder = tmp_path / fmt
        assert main(["export", "--input", str(fused), "--output", str(folder),
                     "--format", fmt]) == 0
        assert sorted(p.name for p in folder.iterdir()) == [f"fold_{i}" for i in range(1, 6)]
        back = tmp_path / f"back-{fmt}.nc"
        assert main(["import", "--input", str(folder), "--output", str(back)]) == 0
        imported = FeatureSet.load(back)
        order = np.lexsort((fused_set.chunk_nr, fused_set.filename))
        again = np.lexsort((imported.chunk_nr, imported.filename))
        np.testing.assert_array_equal(imported.features[again], fused_set.features[order])
        assert list(imported.label_nominal[again]) == list(fused_set.label_nominal[order])
        np.testing.assert_array_equal(imported.cv_folds[again], fused_set.cv_folds[order])


def test_bad_input_gets_a_one_line_error(workflow, tmp_path):
    missing = tmp_path / "missing.nc"
    with pytest.raises(SystemExit, match="missing.nc: no such file"):
        main(["inspect", "netcdf", "--input", str(missing)])
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no audio here")
    with pytest.raises(SystemExit) as caught:
        main(["preprocess", "--basedir", str(tmp_path / "notes"), "--output",
              str(tmp_path / "x.nc")])
    assert "\n" not in str(caught.value) and "layout" in str(caught.value).lower()
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"features": (("instance", "generated"), np.zeros((2, 3)))}).to_netcdf(foreign)
    with pytest.raises(SystemExit, match="missing variable.*filename.*cv_folds"):
        main(["mlp", "evaluate", "--input", str(foreign), "--cross-validate"])
    with pytest.raises(SystemExit, match="exists"):  # results are never overwritten
        main(["fuse", "--input", str(workflow / "run-a.nc"), str(workflow / "run-b.nc"),
              "--output", str(workflow / "run-a.nc")])
