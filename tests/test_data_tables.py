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


def test_esc50_csv_bad_rows_are_reported_and_skipped(tmp_path, capsys):
    from modules.data import skipped_of

    root = make_esc50(tmp_path / "ESC-50")
    with open(root / "meta" / "esc50.csv", "a") as handle:
        handle.write("4-1-A-10.wav,4,10,rain,False,1,A\n"          # line 6: file missing
                     "2-2-A-10.wav,two,10,rain,False,2,A\n"        # line 7: fold not a number
                     "2-3-A-11.wav,2,11,rain,False,3,A\n")         # line 8: rain has target 10
    make_wav(root / "audio" / "2-2-A-10.wav")
    make_wav(root / "audio" / "2-3-A-11.wav")
    table = load_esc50_csv(root)
    assert table["label"].tolist() == ["dog", "dog", "rain", "chirping_birds"]  # the rest kept
    csv_path = root.resolve() / "meta" / "esc50.csv"
    assert skipped_of(table) == [
        f"{csv_path}, line 6: audio file not found: audio/4-1-A-10.wav",
        f"{csv_path}, line 7: fold must be 1-5",
        f"{csv_path}, line 8: category 'rain' has target 11 here and 10 on line 5"]
    assert "3 row(s) skipped" in capsys.readouterr().out


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
    with pytest.raises(ValueError, match=r"m\.csv: manifest has no usable rows \(1 skipped: "
                                         r".*line 2: split 'holdout' is not one of train"):
        load_manifest(manifest)


def test_bad_manifest_rows_are_reported_and_skipped_and_the_rest_is_read(tmp_path, capsys):
    from modules.data import skipped_of

    # A spreadsheet's CSV export: CRLF line ends, a trailing empty cell, a blank line
    manifest = tmp_path / "m.csv"
    manifest.write_bytes(b"path,label,fold,split\r\n"
                         b"a.wav,dog,1,train\r\n"
                         b"b.wav,dog,1.5,train\r\n"        # line 3: fold not whole
                         b"c.wav,cat,2,holdout\r\n"        # line 4: unknown split
                         b",cat,2,test\r\n"                # line 5: no path
                         b"\r\n"
                         b"e.wav,cat,2,Test,\r\n"          # line 7: an empty extra cell is fine
                         b"f.wav,cat,2,test,oops\r\n"      # line 8: a cell more than the header
                         b"g.wav,cat,3.0,validation\r\n")
    table = load_manifest(manifest)
    assert [Path(p).name for p in table["path"]] == ["a.wav", "e.wav", "g.wav"]
    assert table["fold"].tolist() == [1, 2, 3] and table["split"].tolist() == [
        "train", "test", "validation"]
    skipped = skipped_of(table)
    assert [row.split(", line ")[1].split(":")[0] for row in skipped] == ["3", "4", "5", "8"]
    assert "fold '1.5' is not a whole number" in skipped[0]
    assert "split 'holdout' is not one of" in skipped[1] and "empty 'path'" in skipped[2]
    assert "5 cells, and the header names 4 columns" in skipped[3]
    printed = capsys.readouterr().out
    assert "4 row(s) skipped" in printed and "line 4: split 'holdout'" in printed


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

    assert list(DATASET_LAYOUTS) == ["manifest", "esc50_csv", "esc_folders", "urbansound8k",
                                     "dcase_setup", "class_folders", "waveform_pack",
                                     "feature_set", "sed_clips", "weak_labels"]
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


# --- UrbanSound8K -------------------------------------------------------------------------------

# UrbanSound8K as released (its README): metadata/UrbanSound8K.csv with the header
# slice_file_name,fsID,start,end,salience,fold,classID,class; clips in audio/fold1..fold10/, named
# [fsID]-[classID]-[occurrenceID]-[sliceID].wav. The rows below copy that shape.
US8K_ROWS = [  # fsID, classID, occurrence, slice, fold, class
    (100263, 2, 0, 117, 5, "children_playing"), (100032, 3, 0, 0, 5, "dog_bark"),
    (100648, 1, 0, 0, 10, "car_horn"), (100032, 3, 0, 1, 5, "dog_bark"),
    (102305, 6, 0, 0, 1, "gun_shot")]


def make_urbansound8k(root, rows=US8K_ROWS, extra_lines=()):
    (root / "metadata").mkdir(parents=True)
    lines = ["slice_file_name,fsID,start,end,salience,fold,classID,class"]
    for fs_id, class_id, occurrence, slice_id, fold, label in rows:
        name = f"{fs_id}-{class_id}-{occurrence}-{slice_id}.wav"
        lines.append(f"{name},{fs_id},0.0,0.317551,1,{fold},{class_id},{label}")
        make_wav(root / "audio" / f"fold{fold}" / name)
    (root / "metadata" / "UrbanSound8K.csv").write_text("\n".join([*lines, *extra_lines]) + "\n")
    (root / "UrbanSound8K_README.txt").write_text("the release's readme")
    return root


def test_urbansound8k_is_read_from_its_metadata_not_its_folders(tmp_path):
    from modules.data import load_urbansound8k, skipped_of

    root = make_urbansound8k(tmp_path / "UrbanSound8K")
    assert detect_layout(root) == "urbansound8k"  # not class_folders labelling all "audio"
    table = load_auto(root)
    check_columns(table)
    assert table["label"].tolist() == ["car_horn", "children_playing", "dog_bark", "dog_bark",
                                       "gun_shot"]  # classID order
    assert table["fold"].tolist() == [10, 5, 5, 5, 1]
    assert table["group"].tolist() == ["100648", "100263", "100032", "100032", "102305"]
    assert table["path"][0] == str(root.resolve() / "audio" / "fold10" / "100648-1-0-0.wav")
    assert (table["dataset"] == "UrbanSound8K").all() and skipped_of(table) == []
    assert load_urbansound8k(root)["label"].tolist() == table["label"].tolist()


def test_urbansound8k_bad_rows_cost_only_themselves(tmp_path, capsys):
    from modules.data import load_urbansound8k, skipped_of

    root = make_urbansound8k(tmp_path / "UrbanSound8K", extra_lines=[
        "7061-6-0-0.wav,7061,0.0,4.0,1,0,6,gun_shot",        # line 7: fold 0
        "7383-3-0-0.wav,7383,0.0,4.0,1,2,3,",                # line 8: empty class
        "7384-3-0-0.wav,7384,0.0,4.0,1,2,4,dog_bark",        # line 9: name says classID 3
        "7385-1-0-0.wav,7385,0.0,4.0,1,2,1,horn",            # line 10: classID 1 is car_horn
        "7386-1-0-0.wav,7386,0.0,4.0,1,2,1,car_horn"])       # line 11: file missing
    table = load_urbansound8k(root)
    assert len(table) == 5
    reasons = [row.split(": ", 1)[1] for row in skipped_of(table)]
    assert reasons == ["fold must be 1-10", "empty class",
                       "7384-3-0-0.wav names fsID 7384 and classID 3, the row says fsID 7384 and "
                       "classID 4", "classID 1 is class 'horn' here and 'car_horn' on line 4",
                       "audio file not found: audio/fold2/7386-1-0-0.wav"]
    assert skipped_of(table)[0].endswith("UrbanSound8K.csv, line 7: fold must be 1-10")
    assert "5 row(s) skipped" in capsys.readouterr().out
    (root / "metadata" / "UrbanSound8K.csv").write_text("slice_file_name,fold,class\n")
    with pytest.raises(ValueError, match=r"UrbanSound8K\.csv: missing column\(s\) fsID, classID"):
        load_urbansound8k(root)


def test_urbansound8k_is_a_built_in_dataset(tmp_path):
    assert "UrbanSound8K" in registered_datasets()
    make_urbansound8k(tmp_path / "data" / "UrbanSound8K")
    table, class_names = load_datasets({"UrbanSound8K": 1}, data_root=tmp_path / "data")
    assert class_names == ["car_horn", "children_playing", "dog_bark", "gun_shot"]
    assert table["fold"].notna().all() and (table["dataset"] == "UrbanSound8K").all()
    with pytest.raises(FileNotFoundError, match="UrbanSound8K not found .* not fetched"):
        load_datasets({"UrbanSound8K": 1}, data_root=tmp_path / "elsewhere")


# --- folder names that are not classes -----------------------------------------------------------

def one_line_refusal(path, *expected):
    from modules.data import LayoutError

    with pytest.raises(LayoutError) as refused:
        detect_layout(path)
    message = str(refused.value)
    assert "\n" not in message and "not sure" in message, message
    assert 'register_dataset(name, path, layout="<layout name>")' in message
    assert "manifest .csv (columns path,label)" in message
    for text in expected:
        assert text in message, message
    return message


def test_layout_detection_never_labels_files_with_a_layout_folder_name(tmp_path):
    # UrbanSound8K without its metadata folder: audio/fold1.. must not become class "audio"
    us8k = make_urbansound8k(tmp_path / "UrbanSound8K")
    (us8k / "metadata" / "UrbanSound8K.csv").unlink()
    one_line_refusal(us8k, "'audio'", "urbansound8k (no metadata/UrbanSound8K.csv)",
                     "dcase_setup (no evaluation_setup/fold1_train.csv or .txt)",
                     "class_folders (")
    one_line_refusal(us8k / "audio", "'fold1', 'fold10', 'fold5'")
    for names in (("train/dog/a.wav", "test/dog/b.wav"), ("wav/a.wav",), ("fold_3/a.wav",),
                  ("data/a.wav", "dog/b.wav")):
        root = tmp_path / "_".join(name.split("/")[0] for name in names)
        for name in names:
            make_wav(root / name)
        one_line_refusal(root, repr(names[0].split("/")[0]))
    with pytest.raises(ValueError, match="no sub-folders"):  # a README-only folder is no dataset
        detect_layout(us8k / "metadata")


def test_a_folder_holding_a_dataset_is_not_a_class(tmp_path):
    make_urbansound8k(tmp_path / "downloads" / "UrbanSound8K")
    make_wav(tmp_path / "downloads" / "dog" / "a.wav")
    one_line_refusal(tmp_path / "downloads",
                     "sub-folder 'UrbanSound8K' is itself a dataset (urbansound8k)")


def test_naming_the_layout_reads_such_folders_as_classes(tmp_path):
    from modules.data.folders import not_a_class_name

    make_wav(tmp_path / "split" / "train" / "a.wav")
    make_wav(tmp_path / "split" / "test" / "b.wav")
    make_wav(tmp_path / "plain" / "Dog" / "c.wav")
    register_dataset("TestNamed", tmp_path / "split", layout="class_folders")
    try:
        table, class_names = load_datasets({"TestNamed": 1})
        assert class_names == ["test", "train"]  # asked for: the names are the classes
    finally:
        unregister_dataset("TestNamed")
    assert detect_layout(tmp_path / "plain") == "class_folders"
    with pytest.raises(ValueError, match="give loader= or layout=, not both"):
        register_dataset("TestBad", tmp_path, loader="manifest", layout="manifest")
    with pytest.raises(ValueError, match="unknown layout 'classes'; expected one of manifest"):
        register_dataset("TestBad", tmp_path, layout="classes")
    assert "TestBad" not in registered_datasets()
    assert all(map(not_a_class_name, ("audio", "Audio", "wavs", "fold3", "fold_10", "split-2",
                                      "train", "Validation", "evaluation_setup")))
    assert not any(map(not_a_class_name, ("dog", "folding_chair", "train_horn", "10")))


# --- DCASE evaluation setups ---------------------------------------------------------------------

def write_tsv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(row) + "\n" for row in rows))


# TAU Urban Acoustic Scenes 2019 development set (its README; the DCASE 2019 task 1 baseline
# reads the same files): meta.csv and evaluation_setup/fold1_{train,evaluate,test}.csv, tab-
# separated with a header: meta.csv "filename scene_label identifier source_label",
# fold1_train.csv / fold1_evaluate.csv "filename scene_label", fold1_test.csv "filename" only.
TAU2019 = {"audio/airport-barcelona-0-0-a.wav": ("airport", "barcelona-0"),
           "audio/airport-barcelona-0-1-a.wav": ("airport", "barcelona-0"),
           "audio/bus-lyon-1-5-a.wav": ("bus", "lyon-1"),
           "audio/park-paris-2-7-a.wav": ("park", "paris-2"),
           "audio/tram-vienna-3-9-a.wav": ("tram", "vienna-3")}  # in neither fold1 list


def make_tau2019(root):
    for name in TAU2019:
        make_wav(root / name)
    write_tsv(root / "meta.csv", [("filename", "scene_label", "identifier", "source_label")]
              + [(name, scene, place, "a") for name, (scene, place) in TAU2019.items()])
    names = list(TAU2019)
    write_tsv(root / "evaluation_setup" / "fold1_train.csv", [("filename", "scene_label")]
              + [(name, TAU2019[name][0]) for name in names[:3]])
    write_tsv(root / "evaluation_setup" / "fold1_evaluate.csv", [("filename", "scene_label"),
                                                                (names[3], "park")])
    write_tsv(root / "evaluation_setup" / "fold1_test.csv", [("filename",), (names[3],)])
    return root


def test_dcase_2019_setup_gives_labels_and_the_fold1_split(tmp_path):
    from modules.data import load_dcase_setup, skipped_of

    root = make_tau2019(tmp_path / "TAU-urban-acoustic-scenes-2019-development")
    assert detect_layout(root) == "dcase_setup"  # not class_folders labelling all "audio"
    table = load_auto(root)
    check_columns(table)
    assert [Path(path).relative_to(root).as_posix() for path in table["path"]] == list(TAU2019)[:4]
    assert table["label"].tolist() == ["airport", "airport", "bus", "park"]
    assert table["split"].tolist() == ["train", "train", "train", "test"]
    assert table["group"].tolist() == ["barcelona-0", "barcelona-0", "lyon-1", "paris-2"]
    assert table["fold"].isna().all() and skipped_of(table) == []  # one fold: the split
    from modules.data import split_parts
    parts = split_parts(table, method="auto", validation_size=0.5)  # 2 groups to train on
    assert parts.test["label"].tolist() == ["park"]  # the fold's evaluate list: held out
    assert sorted(parts.train["group"]) + sorted(parts.validation["group"]) in (
        ["barcelona-0", "barcelona-0", "lyon-1"], ["lyon-1", "barcelona-0", "barcelona-0"])
    with pytest.raises(ValueError, match="5 folds needs at least 5 groups; the 3 training rows"):
        split_parts(table, method="auto")  # validation_size 0.2: 5 folds of 2 groups
    with pytest.raises(ValueError, match="no fold 2; the setup has fold.s. 1-1"):
        load_dcase_setup(root, fold=2)


# TUT Acoustic Scenes 2016 development set (its README): meta.txt "[audio file][tab][scene label]
# [tab][identifier]"; evaluation_setup/fold[1-4]_train.txt "[audio file][tab][scene label]",
# fold[1-4]_test.txt "[audio file]", fold[1-4]_evaluate.txt "[audio file][tab][scene label]", all
# headerless. Two folds here.
def make_tut2016(root):
    files = {"audio/a001_0_30.wav": ("beach", "a001"), "audio/a001_30_60.wav": ("beach", "a001"),
             "audio/b005_0_30.wav": ("bus", "b005"), "audio/c020_0_30.wav": ("car", "c020")}
    for name in files:
        make_wav(root / name)
    write_tsv(root / "meta.txt", [(name, scene, place) for name, (scene, place) in files.items()])
    names = list(files)
    tested = {1: names[:2], 2: names[2:]}
    for fold, test in tested.items():
        write_tsv(root / "evaluation_setup" / f"fold{fold}_train.txt",
                  [(name, files[name][0]) for name in names if name not in test])
        write_tsv(root / "evaluation_setup" / f"fold{fold}_test.txt", [(name,) for name in test])
        write_tsv(root / "evaluation_setup" / f"fold{fold}_evaluate.txt",
                  [(name, files[name][0]) for name in test])
    return root, names


def test_dcase_2016_txt_setup_with_folds(tmp_path):
    from modules.data import load_dcase_setup

    root, names = make_tut2016(tmp_path / "TUT-acoustic-scenes-2016-development")
    assert detect_layout(root) == "dcase_setup"
    table = load_dcase_setup(root)
    assert table["label"].tolist() == ["beach", "beach", "bus", "car"]
    assert table["split"].tolist() == ["test", "test", "train", "train"]
    assert table["fold"].tolist() == [1, 1, 2, 2]  # the fold whose test side holds the file
    assert table["group"].tolist() == ["a001", "a001", "b005", "c020"]
    assert load_dcase_setup(root, fold=2)["split"].tolist() == ["train", "train", "test", "test"]


def test_dcase_bad_rows_are_reported_and_never_relabel(tmp_path, capsys):
    from modules.data import load_dcase_setup, skipped_of

    root, names = make_tut2016(tmp_path / "tut")
    setup = root / "evaluation_setup"
    with open(setup / "fold1_train.txt", "a") as handle:
        handle.write("audio/missing.wav\tbus\n"             # line 3: no such file
                     "audio/c020_0_30.wav\t0.5\t1.2\tcar\n"  # line 4: an event row
                     "\tbus\n")                              # line 5: no file name
    write_tsv(setup / "fold2_evaluate.txt", [(names[2], "bus"), (names[3], "tram")])  # car!
    table = load_dcase_setup(root)
    assert table["label"].tolist() == ["beach", "beach", "bus"]  # c020 left out, not relabelled
    skipped = skipped_of(table)
    assert [row.split(": ", 1)[1] for row in skipped] == [
        "an event row (file, onset, offset, ...), not a file and its label", "empty file name",
        "audio file not found: audio/missing.wav",
        "audio/c020_0_30.wav is labelled 'tram' here and 'car' in meta.txt, line 4; the file is "
        "left out"]
    assert skipped[0].endswith("fold1_train.txt, line 4: an event row (file, onset, offset, "
                               "...), not a file and its label")
    assert "4 row(s) skipped" in capsys.readouterr().out


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


def test_inspect_raw_says_how_the_layout_was_decided_and_what_it_could_not_place(tmp_path):
    from modules.data import inspect_raw

    root = make_urbansound8k(tmp_path / "UrbanSound8K", extra_lines=[
        "7061-6-0-0.wav,7061,0.0,4.0,1,12,6,gun_shot"])  # line 7: fold 12
    make_wav(root / "audio" / "fold3" / "55555-1-0-0.wav")  # in no row
    files, text = inspect_raw(root, progress=False)
    assert "Layout: urbansound8k\n" in text
    assert ("How it was decided: an UrbanSound8K folder (metadata/UrbanSound8K.csv and "
            "audio/fold1..fold10/): the only specific layout that fits (asked: manifest, "
            "esc50_csv, esc_folders, urbansound8k, dcase_setup") in text
    assert "Folds: 1: 1, 5: 3, 10: 1" in text
    assert "Groups: 4 distinct, 2 files in the largest" in text
    assert "Files per class (4 classes):" in text and "  dog_bark          2" in text
    assert "Audio files not placed (1): " in text and "\n  audio/fold3/55555-1-0-0.wav" in text
    assert "Rows skipped (1):\n" in text and "UrbanSound8K.csv, line 7: fold must be 1-10" in text

    _, text = inspect_raw(make_tau2019(tmp_path / "tau"), progress=False)
    assert "Layout: dcase_setup" in text and "Splits: test: 1, train: 3" in text
    assert "Audio files not placed (1)" in text and "audio/tram-vienna-3-9-a.wav" in text
    assert "Rows skipped: none" in text

    make_wav(tmp_path / "classes" / "dog" / "a.wav")
    _, text = inspect_raw(tmp_path / "classes", progress=False)
    assert "How it was decided: no specific layout fits (asked: manifest," in text
    assert "the fallback: a folder with one sub-folder of audio files per class" in text
    assert "Audio files not placed: none" in text

    make_wav(tmp_path / "parts" / "train" / "b.wav")
    with pytest.raises(ValueError, match="not sure: sub-folder.s. 'train' hold audio"):
        inspect_raw(tmp_path / "parts", progress=False)
    files, text = inspect_raw(tmp_path / "parts", progress=False, layout="class_folders")
    assert "How it was decided: a folder with one sub-folder of audio files per class: named, " \
           "not detected" in text and files["label"].tolist() == ["train"]
