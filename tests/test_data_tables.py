"""Dataset tables, layouts, the dataset registry and locating ESC-10 (modules.data)."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from modules.data import (TABLE_COLUMNS, detect_layout, load_auto, load_class_folders,
                          load_datasets, load_esc50_csv, load_esc_folders, load_manifest,
                          locate_esc10, locate_esc50, register_dataset, registered_datasets,
                          unregister_dataset)
from modules.data.fetch import project_root

ESC10 = project_root().parent / "shared" / "datasets" / "ESC-10"
ESC10_CLASSES = ["Dog bark", "Rain", "Sea waves", "Baby cry", "Clock tick", "Person sneeze",
                 "Helicopter", "Chainsaw", "Rooster", "Fire crackling"]

needs_esc10 = pytest.mark.skipif(not ESC10.is_dir(), reason=f"ESC-10 not at {ESC10}")


def make_wav(path, seconds=0.1, sr=8000):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), 0.1 * np.ones(int(seconds * sr), np.float32), sr)
    return path


def check_columns(table):
    assert tuple(table.columns) == TABLE_COLUMNS
    assert str(table["fold"].dtype) == "Int64"
    assert all(Path(path).is_absolute() for path in table["path"])
    assert list(table.index) == list(range(len(table)))


# --- ESC folders ---------------------------------------------------------------------------------

@needs_esc10
def test_esc10_folders():
    table = load_esc_folders(ESC10)
    check_columns(table)
    assert len(table) == 400
    assert list(pd.unique(table["label"])) == ESC10_CLASSES
    assert table["fold"].value_counts().sort_index().to_dict() == {1: 80, 2: 80, 3: 80, 4: 80,
                                                                    5: 80}
    assert table["split"].isna().all()
    assert (table["dataset"] == "ESC-10").all()
    first = table.iloc[0]
    assert first["path"] == str((ESC10 / "001 - Dog bark" / "1-100032-A.ogg").resolve())
    assert (first["label"], first["fold"], first["group"]) == ("Dog bark", 1, "100032")
    # Group = freesound id: the middle part of every file name.
    names = table["path"].map(lambda p: Path(p).stem.split("-"))
    assert (table["group"] == names.str[1]).all()
    assert (table["fold"] == names.str[0].astype(int)).all()
    assert table["group"].nunique() < 400  # several clips per source recording


def test_esc_folders_generated(tmp_path):
    make_wav(tmp_path / "002 - Rain" / "2-222-A.wav")
    make_wav(tmp_path / "002 - Rain" / "1-111-B.wav")
    make_wav(tmp_path / "010 - Fire crackling" / "3-333-A.wav")
    make_wav(tmp_path / "001 - Dog" / "5-444-A.wav")
    (tmp_path / "001 - Dog" / "notes.txt").write_text("not audio")
    table = load_esc_folders(tmp_path)
    assert table["label"].tolist() == ["Dog", "Rain", "Rain", "Fire crackling"]
    assert table["fold"].tolist() == [5, 1, 2, 3]
    assert table["group"].tolist() == ["444", "111", "222", "333"]
    (tmp_path / "001 - Dog" / "badname.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="badname.wav: file name does not follow"):
        load_esc_folders(tmp_path)


# --- ESC-50 CSV ----------------------------------------------------------------------------------

def make_esc50(root):
    rows = [
        # filename, fold, target, category, esc10, src_file, take
        ("1-100038-A-14.wav", 1, 14, "chirping_birds", False, "100038", "A"),
        ("1-100032-A-0.wav", 1, 0, "dog", True, "100032", "A"),
        ("2-100032-B-0.wav", 2, 0, "dog", True, "100032", "B"),
        ("3-200000-A-10.wav", 3, 10, "rain", True, "200000", "A"),
    ]
    meta = pd.DataFrame(rows, columns=["filename", "fold", "target", "category", "esc10",
                                       "src_file", "take"])
    (root / "meta").mkdir(parents=True)
    meta.to_csv(root / "meta" / "esc50.csv", index=False)
    for name in meta["filename"]:
        make_wav(root / "audio" / name)
    return root


def test_esc50_csv(tmp_path):
    root = make_esc50(tmp_path / "ESC-50")
    table = load_esc50_csv(root)
    check_columns(table)
    assert table["label"].tolist() == ["dog", "dog", "rain", "chirping_birds"]  # by target
    assert table["fold"].tolist() == [1, 2, 3, 1]
    assert table["group"].tolist() == ["100032", "100032", "200000", "100038"]
    assert table["path"].iloc[0] == str(root.resolve() / "audio" / "1-100032-A-0.wav")
    assert load_esc50_csv(root, esc10_only=True)["label"].tolist() == ["dog", "dog", "rain"]


def test_esc50_csv_missing_column(tmp_path):
    root = make_esc50(tmp_path / "ESC-50")
    meta = pd.read_csv(root / "meta" / "esc50.csv").drop(columns=["src_file"])
    meta.to_csv(root / "meta" / "esc50.csv", index=False)
    with pytest.raises(ValueError, match=r"esc50\.csv: missing column\(s\) src_file"):
        load_esc50_csv(root)


# --- class folders -------------------------------------------------------------------------------

def test_class_folders(tmp_path):
    make_wav(tmp_path / "dog" / "b.wav")
    make_wav(tmp_path / "dog" / "sub" / "a.FLAC")
    make_wav(tmp_path / "dog" / "A.WAV")
    make_wav(tmp_path / "cat" / "x.ogg")
    make_wav(tmp_path / "cat" / ".hidden.wav")
    make_wav(tmp_path / ".git" / "y.wav")
    (tmp_path / "cat" / "readme.txt").write_text("not audio")
    table = load_class_folders(tmp_path)
    check_columns(table)
    relative = [Path(p).relative_to(tmp_path).as_posix() for p in table["path"]]
    assert relative == ["cat/x.ogg", "dog/A.WAV", "dog/b.wav", "dog/sub/a.FLAC"]
    assert table["label"].tolist() == ["cat", "dog", "dog", "dog"]
    assert table["fold"].isna().all() and table["group"].isna().all()
    assert (table["dataset"] == tmp_path.name).all()


def test_class_folders_without_audio(tmp_path):
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="no audio files"):
        load_class_folders(tmp_path)


# --- manifest ------------------------------------------------------------------------------------

def test_manifest(tmp_path):
    make_wav(tmp_path / "clips" / "a.wav")
    absolute = make_wav(tmp_path / "elsewhere" / "b.wav")
    manifest = tmp_path / "lists" / "train.csv"
    manifest.parent.mkdir()
    manifest.write_text("path,label,fold,split,group,comment\n"
                        "../clips/a.wav,dog,1,train,p1,extra column\n"
                        f"{absolute},cat,,Validation,,\n")
    table = load_manifest(manifest)
    check_columns(table)
    assert table["path"].tolist() == [str(tmp_path / "clips" / "a.wav"), str(absolute)]
    assert table["label"].tolist() == ["dog", "cat"]
    assert table["fold"].tolist()[0] == 1 and pd.isna(table["fold"][1])
    assert table["split"].tolist() == ["train", "validation"]
    assert table["group"][0] == "p1" and pd.isna(table["group"][1])
    assert (table["dataset"] == "train").all()


def test_manifest_errors(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,fold\na.wav,1\n")
    with pytest.raises(ValueError, match=r"m\.csv: manifest is missing required column\(s\) "
                                         r"label"):
        load_manifest(manifest)
    manifest.write_text("path,label,split\na.wav,dog,holdout\n")
    with pytest.raises(ValueError, match="'split' must be one of"):
        load_manifest(manifest)
    manifest.write_text("path,label,fold\na.wav,dog,1.5\n")
    with pytest.raises(ValueError, match="'fold' must hold whole numbers"):
        load_manifest(manifest)


# --- load_auto -----------------------------------------------------------------------------------

def test_load_auto_picks_the_layout(tmp_path):
    esc50 = make_esc50(tmp_path / "esc50")
    make_wav(tmp_path / "esc" / "001 - Dog" / "1-10-A.wav")
    make_wav(tmp_path / "classes" / "dog" / "a.wav")
    manifest = tmp_path / "list.csv"
    manifest.write_text("path,label\nclasses/dog/a.wav,dog\n")
    cases = {esc50: "esc50_csv", tmp_path / "esc": "esc_folders",
             tmp_path / "classes": "class_folders", manifest: "manifest"}
    for path, layout in cases.items():
        assert detect_layout(path) == layout
        table = load_auto(path)
        check_columns(table)
        assert len(table) >= 1
    assert load_auto(tmp_path / "esc")["group"].tolist() == ["10"]


def test_load_auto_rejects_unknown_layouts(tmp_path):
    (tmp_path / "flat").mkdir()
    make_wav(tmp_path / "flat" / "a.wav")
    with pytest.raises(ValueError, match="no sub-folders. Supported layouts: a manifest"):
        load_auto(tmp_path / "flat")
    with pytest.raises(ValueError, match="not a .csv manifest"):
        load_auto(tmp_path / "flat" / "a.wav")
    with pytest.raises(FileNotFoundError, match="dataset not found"):
        load_auto(tmp_path / "nothing")


def test_every_loader_module_registers_its_layout():
    from modules.data import DATASET_LAYOUTS, LOADERS

    assert list(DATASET_LAYOUTS) == ["manifest", "esc50_csv", "esc_folders", "class_folders",
                                     "waveform_pack", "feature_set", "sed_clips"]
    assert LOADERS["manifest"] is load_manifest and set(LOADERS) == set(DATASET_LAYOUTS)


def test_layout_detection_asks_specific_layouts_before_the_fallback(tmp_path):
    from modules.data.layouts import LayoutError, LayoutRegistry

    layouts = LayoutRegistry()
    layouts.register("any_folder", Path.is_dir, list, "any folder", fallback=True)
    layouts.register("has_a", lambda path: (path / "a").exists(), list, "a folder with a")
    layouts.register("has_b", lambda path: (path / "b").exists(), list, "a folder with b")
    assert layouts.detect(tmp_path, "loader=") == "any_folder"
    (tmp_path / "a").touch()
    assert layouts.detect(tmp_path, "loader=") == "has_a"
    (tmp_path / "b").touch()
    with pytest.raises(LayoutError, match=r"several dataset layouts \(has_a, has_b\); choose "
                                          r"one with loader="):
        layouts.detect(tmp_path, "loader=")
    assert layouts.detect(tmp_path / "a", "loader=") is None  # a file: no layout fits
    assert layouts.describe() == "any folder; a folder with a; or a folder with b"


def test_job_loaders_and_audeep_parsers_read_esc_names_alike(tmp_path):
    from modules.data.esc_names import esc_class_folder, parse_esc_file_name
    from modules.representation.dataset import VALID
    from modules.representation.parsers import detect_parser, parse

    assert parse_esc_file_name("1-100032-A.ogg") == (1, "100032", "A")
    assert parse_esc_file_name("5-9-B-0.wav") == (5, "9", "B")  # ESC-50 adds the class
    assert parse_esc_file_name("1-100032.ogg") is None
    assert esc_class_folder("010 - Fire crackling") == (10, "Fire crackling")
    make_wav(tmp_path / "esc" / "001 - Dog" / "2-10-A.wav")
    assert detect_layout(tmp_path / "esc") == "esc_folders"
    assert detect_parser(tmp_path / "esc") == "esc"
    table, parsed = load_auto(tmp_path / "esc"), parse(tmp_path / "esc")
    assert table["fold"].tolist() == [2] and parsed[0].cv_folds.index(VALID) + 1 == 2
    make_wav(tmp_path / "esc" / "001 - Dog" / "3-11.wav")  # no take: refused by both
    with pytest.raises(ValueError, match="3-11.wav: file name does not follow the ESC"):
        load_auto(tmp_path / "esc")
    assert detect_parser(tmp_path / "esc") == "no_metadata"


@needs_esc10
def test_load_auto_on_esc10():
    assert detect_layout(ESC10) == "esc_folders"  # README files beside the folders are ignored


# --- registry and load_datasets ------------------------------------------------------------------

@pytest.fixture
def two_datasets(tmp_path):
    make_wav(tmp_path / "first" / "cat" / "c1.wav")
    make_wav(tmp_path / "first" / "dog" / "d1.wav")
    make_wav(tmp_path / "second" / "clips" / "b1.wav")
    make_wav(tmp_path / "second" / "clips" / "d2.wav")
    (tmp_path / "second" / "list.csv").write_text(
        "path,label,group\nclips/d2.wav,dog,g1\nclips/b1.wav,bird,g2\n")
    calls = []

    def second_source():  # a lazily called source
        calls.append(1)
        return tmp_path / "second" / "list.csv"

    register_dataset("TestFirst", tmp_path / "first")
    register_dataset("TestSecond", second_source, loader="manifest")
    yield calls
    unregister_dataset("TestFirst")
    unregister_dataset("TestSecond")


def test_load_datasets_combines_in_order(two_datasets):
    assert {"Esc10", "Esc50", "TestFirst", "TestSecond"} <= set(registered_datasets())
    table, class_names = load_datasets({"TestFirst": 1, "TestSecond": 1})
    check_columns(table)
    assert class_names == ["cat", "dog", "bird"]
    assert table["label"].tolist() == ["cat", "dog", "dog", "bird"]
    assert table["dataset"].tolist() == ["TestFirst", "TestFirst", "TestSecond", "TestSecond"]
    assert table["group"].isna().tolist() == [True, True, False, False]
    assert len(two_datasets) == 1

    table, class_names = load_datasets({"TestSecond": 1, "TestFirst": 1})
    assert class_names == ["dog", "bird", "cat"]
    table, class_names = load_datasets({"TestFirst": 1, "TestSecond": 0})
    assert class_names == ["cat", "dog"] and (table["dataset"] == "TestFirst").all()
    assert len(two_datasets) == 2  # not called for the dataset flagged 0


def test_load_datasets_errors(two_datasets):
    with pytest.raises(KeyError, match="unknown dataset 'TestFrist'; did you mean 'TestFirst'"):
        load_datasets({"TestFrist": 1})
    with pytest.raises(KeyError, match="did you mean 'Esc10'"):
        load_datasets({"esc10": 1})
    with pytest.raises(ValueError, match="no dataset selected"):
        load_datasets({"TestFirst": 0, "TestSecond": 0})
    with pytest.raises(ValueError, match="expected 0 or 1"):
        load_datasets({"TestFirst": 2})
    with pytest.raises(ValueError, match="unknown loader 'csv'"):
        register_dataset("TestBad", "somewhere", loader="csv")


@needs_esc10
def test_load_datasets_esc10():
    table, class_names = load_datasets({"Esc10": 1, "Esc50": 0})
    assert len(table) == 400 and class_names == ESC10_CLASSES
    assert (table["dataset"] == "Esc10").all()


# --- locating ESC-10 / ESC-50 --------------------------------------------------------------------

def test_locate_esc10_prefers_shared_then_data_root(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    in_data = tmp_path / "project" / "data" / "ESC-10"
    (in_data / "001 - Dog bark").mkdir(parents=True)
    assert locate_esc10(project_root=project) == in_data
    shared = tmp_path / "shared" / "datasets" / "ESC-10"
    (shared / "001 - Dog bark").mkdir(parents=True)
    assert locate_esc10(project_root=project) == shared
    # An absolute data_root is used as is.
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "ESC-10" / "005 - Clock tick").mkdir(parents=True)
    shutil.rmtree(shared)
    assert locate_esc10(data_root=elsewhere, project_root=project) == elsewhere / "ESC-10"


def test_locate_esc10_failing_fetch(tmp_path, capsys):
    project = tmp_path / "project"
    project.mkdir()
    bogus = str(tmp_path / "no-such-repository")
    with pytest.raises(RuntimeError) as caught:
        locate_esc10(project_root=project, repository=bogus)
    message = str(caught.value)
    if shutil.which("git"):
        assert "git clone" in message and "failed" in message
        assert "fetching" in capsys.readouterr().out
    else:
        assert "'git' command is not installed" in message
    assert "To place it by hand" in message and str(project / "data" / "ESC-10") in message
    # Nothing half-made is left behind: no dataset folder, no staging folder.
    data = project / "data"
    assert not data.exists() or list(data.iterdir()) == []


def test_locate_esc50_not_found(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    with pytest.raises(FileNotFoundError, match="not fetched automatically") as caught:
        locate_esc50(project_root=project)
    assert str(project / "data" / "ESC-50" / "meta" / "esc50.csv") in str(caught.value)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_locate_esc10_fetches_from_a_repository(tmp_path, capsys):
    import subprocess

    # A local stand-in for the ESC-10 repository: the file is only in the pinned commit.
    repository = tmp_path / "repository"
    (repository / "001 - Dog bark").mkdir(parents=True)
    (repository / "001 - Dog bark" / "1-100032-A.ogg").write_bytes(b"placeholder")

    def git(*arguments):
        return subprocess.run(["git", "-C", str(repository), "-c", "user.name=test",
                               "-c", "user.email=test@example.com", *arguments],
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "--quiet")
    git("add", ".")
    git("commit", "--quiet", "-m", "data")
    pinned = git("rev-parse", "--short", "HEAD")
    git("rm", "--quiet", "-r", "001 - Dog bark")
    git("commit", "--quiet", "-m", "later change")

    project = tmp_path / "project"
    project.mkdir()
    found = locate_esc10(project_root=project, repository=str(repository), commit=pinned)
    assert found == project / "data" / "ESC-10"
    assert (found / "001 - Dog bark" / "1-100032-A.ogg").is_file()
    assert [p.name for p in (project / "data").iterdir()] == ["ESC-10"]  # no staging left
    assert "ESC-10 is ready" in capsys.readouterr().out


# --- inspection ----------------------------------------------------------------------------------

def test_inspect_raw_reports_bad_files(tmp_path):
    from modules.data import inspect_raw

    make_wav(tmp_path / "dog" / "good1.wav", seconds=1.0)
    make_wav(tmp_path / "dog" / "good2.wav", seconds=1.0)
    make_wav(tmp_path / "cat" / "short.wav", seconds=0.5)
    soundfile.write(str(tmp_path / "cat" / "silent.wav"), np.zeros(800, np.float32), 8000)
    cut = make_wav(tmp_path / "cat" / "cut.wav", seconds=1.0)
    cut.write_bytes(cut.read_bytes()[:4000])
    (tmp_path / "cat" / "text.wav").write_text("not audio")

    files, text = inspect_raw(tmp_path, progress=False)
    assert files["path"].tolist() == [str(tmp_path / "cat" / name) for name in
                                      ("cut.wav", "short.wav", "silent.wav", "text.wav")] + [
        str(tmp_path / "dog" / name) for name in ("good1.wav", "good2.wav")]
    errors = dict(zip(files["path"].map(lambda p: Path(p).name), files["error"]))
    assert errors["cut.wav"].startswith("truncated: header says 8000 frames")
    assert errors["silent.wav"] == "all silent (peak -inf dBFS)"
    assert errors["text.wav"].startswith("not an audio file")
    assert errors["good1.wav"] == errors["short.wav"] == ""
    # A truncated file still shows what its header says.
    assert files.loc[files["error"].str.startswith("truncated"), "sample_rate"].tolist() == [8000]
    assert "Layout: class_folders" in text
    assert "Files: 6 (3 readable, 3 unreadable)" in text
    assert "1 file(s) differ from the most common duration (1.000 s, 2 files)" in text
    assert "Sample rates: 8000 Hz: 3" in text
    assert "Unreadable files (3):" in text and f"{tmp_path / 'cat' / 'text.wav'}: not an" in text


# --- annotation column, tasks and names for loaders ----------------------------------------------

def test_manifest_annotation_column(tmp_path):
    make_wav(tmp_path / "clips" / "a.wav")
    make_wav(tmp_path / "clips" / "b.wav")
    manifest = tmp_path / "list.csv"
    manifest.write_text("path,label,annotation\nclips/a.wav,x,clips/a.txt\nclips/b.wav,y,\n")
    table = load_manifest(manifest)
    check_columns(table)
    assert table["annotation"][0] == str(tmp_path / "clips" / "a.txt")
    assert pd.isna(table["annotation"][1])
    assert TABLE_COLUMNS.index("annotation") == TABLE_COLUMNS.index("group") + 1


@pytest.fixture
def task_dataset(tmp_path):
    make_wav(tmp_path / "t" / "a.wav")
    make_wav(tmp_path / "t" / "b.wav")
    received = []

    def loader(root, task=None, name=None):
        received.append((task, name))
        files = sorted(Path(root).glob("*.wav"))
        labels = ["wheeze", "none"] if task == "cw" else ["first", "second"]
        from modules.data import make_table
        return make_table([{"path": str(f), "label": label, "group": f"{name}:{f.stem}"}
                           for f, label in zip(files, labels)], dataset=name)

    register_dataset("TestTask", tmp_path / "t", loader)
    register_dataset("TestPlain", tmp_path / "t", "class_folders")
    yield received
    unregister_dataset("TestTask")
    unregister_dataset("TestPlain")


def test_load_datasets_with_task(task_dataset):
    table, class_names = load_datasets({"TestTask": 1}, task="cw")
    assert task_dataset == [("cw", "TestTask")]
    assert class_names == ["none", "crackle", "wheeze", "both"]  # fixed, not order of appearance
    assert table["group"].tolist() == ["TestTask:a", "TestTask:b"]
    table, class_names = load_datasets({"TestTask": 1})
    assert task_dataset[-1] == (None, "TestTask") and class_names == ["first", "second"]
    load_datasets({"TestTask": 1}, task="")
    assert task_dataset[-1] == (None, "TestTask")
    calls = len(task_dataset)
    with pytest.raises(ValueError, match="dataset 'TestPlain' has no task 'cw'"):
        load_datasets({"TestTask": 1, "TestPlain": 1}, task="cw")
    assert len(task_dataset) == calls  # checked before anything is loaded
    with pytest.raises(ValueError, match=r"task 'pneumonia': label\(s\) 'first', 'second' are "
                                         r"not among its classes"):
        load_datasets({"TestTask": 1}, task="pneumonia")
