"""Respiratory datasets (modules.data.respiratory), on generated data in the real formats."""

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modules.data import (TABLE_COLUMNS, TASK_CLASSES, check_no_group_leak, chunk_audio,
                          chunk_cw_labels, load_datasets, load_icbhi, load_spreadsheet,
                          make_chunk_labeler, read_cycles, split_table)
from modules.data.respiratory import match_official_split, read_official_split
from modules.data.splits import describe_split_notes, split_notes_of
from tests.respiratory_data import make_icbhi, make_spreadsheet_dataset

PNEUMONIA = [101, 104, 107]


@pytest.fixture(scope="module")
def icbhi(tmp_path_factory):
    """12 patients, 2 recordings of 4 s each; read-only."""
    return make_icbhi(tmp_path_factory.mktemp("data") / "ICBHI", n_patients=12, duration=4.0,
                      pneumonia_patients=PNEUMONIA)


@pytest.fixture
def icbhi_copy(icbhi, tmp_path):
    return Path(shutil.copytree(icbhi, tmp_path / "ICBHI"))


def check_columns(table):
    assert tuple(table.columns) == TABLE_COLUMNS
    assert list(table.index) == list(range(len(table)))
    assert all(Path(path).is_absolute() for path in table["path"])


def split_file(root):
    lines = (root / "ICBHI_challenge_train_test.txt").read_text().split("\n")
    return dict(line.split("\t") for line in lines if line)


# --- ICBHI loader --------------------------------------------------------------------------------

def test_icbhi_pneumonia(icbhi):
    table = load_icbhi(icbhi, task="pneumonia")
    check_columns(table)
    assert len(table) == 24
    stems = [Path(path).stem for path in table["path"]]
    assert stems == sorted(stems) and all(Path(p).suffix == ".wav" for p in table["path"])
    patients = [int(stem.split("_")[0]) for stem in stems]
    assert table["group"].tolist() == [f"ICBHI:{patient}" for patient in patients]
    assert table["label"].tolist() == ["pneumonia" if patient in PNEUMONIA else "no_pneumonia"
                                       for patient in patients]
    assert (table["dataset"] == "ICBHI").all() and table["fold"].isna().all()
    assert table["annotation"].tolist() == [str(Path(p).with_suffix(".txt"))
                                            for p in table["path"]]
    official = split_file(icbhi)
    assert table["split"].tolist() == [official[stem] for stem in stems]
    assert set(table["split"]) == {"train", "test"}
    # The official file puts whole patients on one side.
    assert table.groupby("group")["split"].nunique().max() == 1


def test_icbhi_cw_file_labels(icbhi):
    table = load_icbhi(icbhi, task="cw")
    check_columns(table)
    for path, annotation, label in zip(table["path"], table["annotation"], table["label"]):
        cycles = np.loadtxt(annotation, ndmin=2)
        crackle, wheeze = cycles[:, 2].any(), cycles[:, 3].any()
        assert label == ("none", "crackle", "wheeze", "both")[int(crackle) + 2 * int(wheeze)]
        assert np.array_equal(read_cycles(annotation), cycles)
    assert set(table["label"]) <= set(TASK_CLASSES["cw"])
    assert table["label"].nunique() >= 3  # the generator gives a mix


def test_icbhi_subfolder_kaggle_diagnosis_without_split(icbhi, tmp_path):
    root = tmp_path / "download"
    shutil.copytree(icbhi, root / "ICBHI_final_database")
    inner = root / "ICBHI_final_database"
    (inner / "ICBHI_challenge_train_test.txt").unlink()
    diagnoses = (inner / "ICBHI_Challenge_diagnosis.txt").read_text()
    (inner / "ICBHI_Challenge_diagnosis.txt").unlink()
    # The Kaggle copy: comma-separated, beside the sub-folder, "pneumonia" in lower case.
    (root / "patient_diagnosis.csv").write_text(
        diagnoses.replace("\t", ",").replace("Pneumonia", "pneumonia"))
    table = load_icbhi(root, task="pneumonia")
    assert len(table) == 24 and table["split"].isna().all()
    assert (table["dataset"] == "download").all()
    assert table["group"].str.startswith("download:").all()
    assert set(table.loc[table["label"] == "pneumonia", "group"]) == {
        f"download:{p}" for p in PNEUMONIA}
    assert Path(table["path"][0]).parent == inner
    # The registry's name replaces the folder name.
    named = load_icbhi(root, task="pneumonia", name="Icbhi")
    assert named["group"][0] == "Icbhi:101" and (named["dataset"] == "Icbhi").all()


def test_icbhi_errors(icbhi_copy):
    root = icbhi_copy
    with pytest.raises(ValueError, match='ICBHI needs task "pneumonia" or "cw"'):
        load_icbhi(root)
    with pytest.raises(ValueError, match='ICBHI needs task "pneumonia" or "cw"'):
        load_icbhi(root, task="asthma")

    # A malformed annotation line: named with its file and line.
    annotation = sorted(root.glob("103_*.txt"))[0]
    lines = annotation.read_text().splitlines()
    annotation.write_text("\n".join([lines[0], "0.5 1.2 0 yes"] + lines[1:]) + "\n")
    with pytest.raises(ValueError, match=rf"{annotation.name}, line 2: malformed annotation "
                                         r"line '0.5 1.2 0 yes'"):
        load_icbhi(root, task="cw")
    load_icbhi(root, task="pneumonia")  # annotations are not read for "pneumonia"
    annotation.write_text("0.5\t1.2\t0\n")
    with pytest.raises(ValueError, match=rf"{annotation.name}, line 1: .*expected 4 fields"):
        read_cycles(annotation)
    annotation.write_text("2.0\t1.0\t0\t1\n")
    with pytest.raises(ValueError, match="line 1: .*end is before start"):
        read_cycles(annotation)
    annotation.write_text("\n".join(lines) + "\n")

    # A recording without its annotation: fine for "pneumonia", an error for "cw".
    annotation.rename(annotation.with_suffix(".bak"))
    table = load_icbhi(root, task="pneumonia")
    row = table[table["path"] == str(annotation.with_suffix(".wav"))]
    assert len(row) == 1 and row["annotation"].isna().all()
    with pytest.raises(ValueError, match=rf"{annotation.stem}.wav: no annotation file "
                                         rf"{annotation.name}"):
        load_icbhi(root, task="cw")
    annotation.with_suffix(".bak").rename(annotation)

    # A patient missing from the diagnosis file.
    diagnosis = root / "ICBHI_Challenge_diagnosis.txt"
    text = diagnosis.read_text()
    diagnosis.write_text("".join(line + "\n" for line in text.splitlines()
                                 if not line.startswith("105")))
    with pytest.raises(ValueError, match=r"105_\w+\.wav: patient 105 is not in the diagnosis "
                                         r"file .*ICBHI_Challenge_diagnosis\.txt"):
        load_icbhi(root, task="pneumonia")
    load_icbhi(root, task="cw")  # the diagnosis is not needed for "cw"
    diagnosis.write_text(text + "oops\n")
    with pytest.raises(ValueError, match=r"diagnosis\.txt, line 13: malformed diagnosis line"):
        load_icbhi(root, task="pneumonia")
    diagnosis.unlink()
    with pytest.raises(FileNotFoundError, match="no diagnosis file"):
        load_icbhi(root, task="pneumonia")
    diagnosis.write_text(text)

    # A malformed split line.
    official = root / "ICBHI_challenge_train_test.txt"
    official.write_text(official.read_text() + "101_1b1_Al_sc_Meditron\tholdout\n")
    with pytest.raises(ValueError, match=r"train_test\.txt, line 25: malformed split line"):
        load_icbhi(root, task="pneumonia")
    official.unlink()

    # A file name outside the ICBHI pattern.
    wav = sorted(root.glob("*.wav"))[0]
    shutil.copy(wav, root / "recording 7.wav")
    with pytest.raises(ValueError, match=r"recording 7\.wav: file name does not follow the "
                                         r"ICBHI pattern"):
        load_icbhi(root, task="pneumonia")


# --- spreadsheet loader --------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_spreadsheet_loader(tmp_path, fmt):
    root = make_spreadsheet_dataset(tmp_path / "Jordan", fmt=fmt, n_patients=6,
                                    recordings_per_patient=2, duration=2.0,
                                    pneumonia_patients=[2, 5])
    sheet_path = root / f"Data annotation.{fmt}"
    sheet = (pd.read_excel(sheet_path, dtype=str) if fmt == "xlsx"
             else pd.read_csv(sheet_path, dtype=str))
    table = load_spreadsheet(root, task="pneumonia")
    check_columns(table)
    assert len(table) == 12
    assert all(Path(p).is_file() and Path(p).parent == root / "Audio Files"
               for p in table["path"])
    assert [Path(p).stem for p in table["path"]] == [Path(cell).stem if cell.endswith(".wav")
                                                    else cell for cell in sheet["File Name"]]
    assert table["group"].tolist() == [f"Jordan:{p}" for p in sheet["Patient ID"]]
    assert table["group"][0] == "Jordan:1"  # numbers, not "1.0"
    assert table["label"].tolist() == ["pneumonia" if d == "Pneumonia" else "no_pneumonia"
                                       for d in sheet["Diagnosis"]]
    assert table["annotation"].isna().all() and table["split"].isna().all()

    cw = load_spreadsheet(root, task="cw")
    for label, sound in zip(cw["label"], sheet["Sound Type"]):
        sound = sound.lower()
        expected = ("none", "crackle", "wheeze", "both")[
            int("crep" in sound or "crackle" in sound) + 2 * int("wheez" in sound)]
        assert label == expected
    with pytest.raises(ValueError, match="spreadsheet-annotated dataset needs task"):
        load_spreadsheet(root)


def test_spreadsheet_aliases_and_sound_words(tmp_path):
    root = tmp_path / "Bd"
    (root / "audio" / "deep").mkdir(parents=True)
    for name in ("a.wav", "b.WAV", "c.flac", "d.wav", "e.wav", "f.wav"):
        (root / "audio" / "deep" / name).write_bytes(b"not checked here")
    (root / "notes.txt").write_text("ignored")
    (root / "labels.csv").write_text(
        " FILENAME ,Patient_Number,DIAGNOSIS,sound_type,Extra\n"
        "a,7,Community-acquired PNEUMONIA,Crep,x\n"
        "b.wav,7,Pneumonia,Crackles + Wheezing,\n"
        "audio/deep/c.flac,8,Asthma,wheezes,\n"
        "D.WAV,8.0,asthma,n,\n"
        "e,9,Heart failure,,\n"
        "f.wav,9,COPD,  Normal ,\n")
    table = load_spreadsheet(root, task="cw")
    assert [Path(p).name for p in table["path"]] == ["a.wav", "b.WAV", "c.flac", "d.wav",
                                                     "e.wav", "f.wav"]
    assert table["label"].tolist() == ["crackle", "both", "wheeze", "none", "none", "none"]
    assert table["group"].tolist() == ["Bd:7", "Bd:7", "Bd:8", "Bd:8", "Bd:9", "Bd:9"]
    pneumonia = load_spreadsheet(root, task="pneumonia", name="Other")
    assert pneumonia["label"].tolist() == ["pneumonia", "pneumonia"] + ["no_pneumonia"] * 4
    assert (pneumonia["dataset"] == "Other").all() and pneumonia["group"][0] == "Other:7"

    (root / "labels.csv").write_text("Recording,Patient ID,Sound\n"
                                     "a,1,Stridor\nb,1,crep\nc,2,Bronchial\nd,2,Stridor\n")
    with pytest.raises(ValueError, match=r"labels\.csv: sound type\(s\) not understood: "
                                         r"'Bronchial', 'Stridor'\. Accepted: .*'crep'.*'wheez'"
                                         r".*'normal'"):
        load_spreadsheet(root, task="cw")
    with pytest.raises(ValueError, match=r"missing column\(s\) for task 'pneumonia': "
                                         r"diagnosis"):
        load_spreadsheet(root, task="pneumonia")
    (root / "second.xlsx").write_bytes(b"")
    with pytest.raises(ValueError, match="expected exactly one annotation spreadsheet, found 2"):
        load_spreadsheet(root, task="cw")


def test_spreadsheet_missing_audio_warns(tmp_path, capsys):
    root = make_spreadsheet_dataset(tmp_path / "Jordan", fmt="csv", n_patients=4, duration=1.0)
    missing = sorted((root / "Audio Files").glob("*.wav"))[:2]
    for file in missing:
        file.unlink()
    table = load_spreadsheet(root, task="pneumonia")
    assert len(table) == 4
    assert sum(not Path(p).exists() for p in table["path"]) == 2
    output = capsys.readouterr().out
    assert output.count("warning") == 1
    assert "2 of 4 listed recording(s) have no audio file" in output
    assert "skipped when the audio is decoded" in output


# --- chunk labels ---------------------------------------------------------------------------------

def test_chunk_cw_labels_by_hand():
    # sr 100 Hz, 2 s chunks every 1 s: [0, 2), [1, 3), [2, 4), [3, 5); threshold 0.25 -> 0.5 s.
    cycles = np.array([[0.0, 1.5, 1, 0],    # crackle
                       [1.5, 3.2, 0, 1],    # wheeze
                       [3.2, 5.0, 0, 0]])
    labels = chunk_cw_labels(cycles, 4, 100, 2.0, 1.0, "chunk", 0.25)
    # chunk 0: 1.5 s of crackle, exactly 0.5 s of wheeze -> both; chunk 1: 0.5 s crackle,
    # 1.5 s wheeze -> both; chunk 2: wheeze; chunk 3: only 0.2 s of wheeze -> none.
    assert labels.tolist() == [3, 3, 2, 0] and labels.dtype == np.int64
    # Just below the threshold no longer counts.
    below = cycles.copy()
    below[0, 1] = below[1, 0] = 1.51
    assert chunk_cw_labels(below, 4, 100, 2.0, 1.0, "chunk", 0.25).tolist() == [1, 3, 2, 0]
    # Exactly at a threshold that floating point cannot represent (0.1 * 3.0 s).
    at = np.array([[2.7, 4.0, 0, 1]])
    assert chunk_cw_labels(at, 1, 100, 3.0, 3.0, "chunk", 0.1).tolist() == [2]
    assert chunk_cw_labels(at + [[0.01, 0, 0, 0]], 1, 100, 3.0, 3.0, "chunk", 0.1).tolist() == [0]
    # Crackle from one cycle and wheeze from another: both.
    two = np.array([[0.0, 1.0, 1, 0], [1.0, 2.0, 0, 1]])
    assert chunk_cw_labels(two, 1, 100, 2.0, 2.0, "chunk", 0.2).tolist() == [3]
    # A threshold of 0: any real overlap counts, touching does not.
    touching = np.array([[2.0, 3.0, 1, 0]])
    assert chunk_cw_labels(touching, 2, 100, 2.0, 2.0, "chunk", 0.0).tolist() == [0, 1]
    # No cycles, no chunks.
    assert chunk_cw_labels(np.zeros((0, 4)), 3, 100, 2.0, 1.0).tolist() == [0, 0, 0]
    assert chunk_cw_labels(cycles, 0, 100, 2.0, 1.0).shape == (0,)


def test_chunk_cw_labels_fixed_and_padded_chunks():
    cycles = np.array([[0.0, 1.9, 0, 0], [1.9, 3.7, 0, 1], [3.7, 4.3, 1, 0],
                       [4.3, 5.5, 1, 0]])
    # Fixed: only [0, 2) (wheeze overlaps 0.1 s < 0.4 s), whatever the step.
    assert chunk_cw_labels(cycles, 1, 100, 2.0, 0.5, "fixed", 0.2).tolist() == [0]
    assert chunk_cw_labels(cycles, 1, 100, 4.0, 0.5, "fixed", 0.2).tolist() == [2]
    with pytest.raises(ValueError, match="one chunk per file"):
        chunk_cw_labels(cycles, 2, 100, 2.0, 1.0, "fixed")
    with pytest.raises(ValueError, match="unknown chunking mode"):
        chunk_cw_labels(cycles, 1, 100, 2.0, 1.0, "windows")
    # 5.5 s in 2 s steps: chunk_audio adds a padded third chunk at 4 s ([4, 6)).
    chunks, padded = chunk_audio(np.ones(550, np.float32), 100, 2.0, 2.0)
    assert len(chunks) == 3 and padded.tolist() == [False, False, True]
    # [2, 4): wheeze 1.7 s, the crackle cycle at 3.7 only 0.3 s < 0.4 s; [4, 6): crackle.
    assert chunk_cw_labels(cycles, 3, 100, 2.0, 2.0, "chunk", 0.2).tolist() == [0, 2, 1]
    # Rounding to samples: L = round(2.004 * 100) = 200, S = round(1.996 * 100) = 200.
    assert chunk_cw_labels(cycles, 3, 100, 2.004, 1.996, "chunk", 0.2).tolist() == [0, 2, 1]


def test_make_chunk_labeler(icbhi, tmp_path):
    make_spreadsheet_dataset(tmp_path / "Jordan", fmt="csv", n_patients=3, duration=1.0)
    shutil.copytree(icbhi, tmp_path / "ICBHI")
    table, class_names = load_datasets({"Icbhi": 1, "Jordan": 1}, data_root=tmp_path, task="cw")
    settings = dict(sr=4000, audio_length=1.5, step_size=0.75, chunking="chunk",
                    overlap_threshold=0.3)
    labeler = make_chunk_labeler(table, "cw", class_names, **settings)
    for index, row in table.iterrows():
        result = labeler(np.int64(index), 5)
        assert result.shape == (5, 4) and result.dtype == np.float32
        assert (result.sum(axis=1) == 1).all()
        if row["dataset"] == "Icbhi":
            expected = chunk_cw_labels(read_cycles(row["annotation"]), 5, **settings)
        else:
            expected = np.full(5, class_names.index(row["label"]))
        assert result.argmax(axis=1).tolist() == expected.tolist()
    # Another class order maps the same classes.
    reordered = ["both", "wheeze", "crackle", "none"]
    other = make_chunk_labeler(table, "cw", reordered, **settings)
    first = labeler(0, 5).argmax(axis=1)
    assert [reordered[i] for i in other(0, 5).argmax(axis=1)] == [class_names[i] for i in first]
    assert labeler(0, 0).shape == (0, 4)
    # Called from several threads at once.
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: labeler(i % len(table), 7), range(200)))
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, labeler(i % len(table), 7))
    # Other tasks: file labels, no labeler.
    assert make_chunk_labeler(table, "pneumonia", ["no_pneumonia", "pneumonia"],
                              **settings) is None
    assert make_chunk_labeler(table, "", class_names, **settings) is None
    with pytest.raises(ValueError, match="task 'cw' needs the classes"):
        make_chunk_labeler(table, "cw", ["none", "crackle"], **settings)


# --- registry -----------------------------------------------------------------------------------

def test_load_datasets_respiratory(icbhi, tmp_path):
    shutil.copytree(icbhi, tmp_path / "ICBHI")
    make_spreadsheet_dataset(tmp_path / "Jordan", fmt="xlsx", n_patients=4, duration=1.0,
                             pneumonia_patients=[])
    table, class_names = load_datasets({"Icbhi": 1, "Jordan": 1, "Bd": 0}, data_root=tmp_path,
                                       task="pneumonia")
    check_columns(table)
    assert class_names == ["no_pneumonia", "pneumonia"]
    assert table["dataset"].tolist() == ["Icbhi"] * 24 + ["Jordan"] * 4
    icbhi_groups = set(table.loc[table["dataset"] == "Icbhi", "group"])
    jordan_groups = set(table.loc[table["dataset"] == "Jordan", "group"])
    assert icbhi_groups == {f"Icbhi:{p}" for p in range(101, 113)}
    assert jordan_groups == {"Jordan:1", "Jordan:2", "Jordan:3", "Jordan:4"}
    assert not icbhi_groups & jordan_groups
    # Fixed class list and order, even for a class absent from the data.
    only_jordan, names = load_datasets({"Jordan": 1}, data_root=tmp_path, task="pneumonia")
    assert names == ["no_pneumonia", "pneumonia"]
    assert set(only_jordan["label"]) == {"no_pneumonia"}
    _, names = load_datasets({"Jordan": 1}, data_root=tmp_path, task="cw")
    assert names == ["none", "crackle", "wheeze", "both"]

    with pytest.raises(ValueError, match="dataset 'Esc10' has no task 'cw'"):
        load_datasets({"Esc10": 1, "Jordan": 1}, data_root=tmp_path, task="cw")
    with pytest.raises(ValueError, match='ICBHI needs task "pneumonia" or "cw"'):
        load_datasets({"Icbhi": 1}, data_root=tmp_path)
    with pytest.raises(FileNotFoundError) as caught:
        load_datasets({"Bd": 1}, data_root=tmp_path, task="cw")
    message = str(caught.value)
    assert str(tmp_path / "Bd") in message and "shared/datasets/Bd" in message
    assert "cannot be fetched automatically" in message and "publisher" in message
    with pytest.raises(FileNotFoundError, match="bhichallenge.med.auth.gr"):
        load_datasets({"Icbhi": 1}, data_root=tmp_path / "elsewhere", task="cw")


# --- no patient crosses a split ------------------------------------------------------------------

def groups_of(part):
    return set(part["group"])


def test_group_folds_partition_patients(icbhi):
    from sklearn.model_selection import StratifiedGroupKFold

    table = load_icbhi(icbhi, task="pneumonia")
    validation_groups = []
    for fold in range(1, 5):
        train, validation = split_table(table, "group", validation_fold=fold, n_folds=4, seed=3)
        assert not groups_of(train) & groups_of(validation)
        assert len(train) + len(validation) == len(table)
        validation_groups.append(groups_of(validation))
    assert set().union(*validation_groups) == set(table["group"])
    assert sum(map(len, validation_groups)) == table["group"].nunique()  # disjoint folds
    # Fold 1 (the default) is the first fold of StratifiedGroupKFold, as before n_folds existed.
    splitter = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=42)
    _, first = next(splitter.split(table, table["label"], table["group"]))
    _, validation = split_table(table, "group")
    assert validation["path"].tolist() == table["path"].iloc[sorted(first)].tolist()
    _, none_fold = split_table(table, "group", validation_fold=None)
    pd.testing.assert_frame_equal(none_fold, validation)
    with pytest.raises(ValueError, match="validation_fold must be between 1 and 4"):
        split_table(table, "group", validation_fold=5, n_folds=4)


def test_official_split(icbhi):
    table = load_icbhi(icbhi, task="pneumonia")
    train, validation = split_table(table, "official")
    assert (train["split"] == "train").all() and (validation["split"] == "test").all()
    assert len(train) + len(validation) == len(table)
    assert not groups_of(train) & groups_of(validation)


def test_official_split_with_unlisted_rows(icbhi):
    table = load_icbhi(icbhi, task="pneumonia")
    # Patients 101-106 have no official split; patient 107 has one recording unlisted.
    unlisted = table["group"].isin([f"ICBHI:{p}" for p in range(101, 107)])
    table.loc[unlisted, "split"] = np.nan
    partly = table.index[table["group"] == "ICBHI:107"][0]
    side_107 = table.loc[partly, "split"]
    table.loc[partly, "split"] = np.nan
    for fold in (1, 2, 3):
        train, validation = split_table(table, "official", validation_fold=fold, n_folds=3)
        check_no_group_leak(train, validation)
        assert len(train) + len(validation) == len(table)
        listed_train = set(table.loc[table["split"] == "train", "path"])
        listed_test = set(table.loc[table["split"] == "test", "path"])
        assert listed_train <= set(train["path"]) and listed_test <= set(validation["path"])
        # Patient 107 keeps its official side for the unlisted recording.
        side = train if side_107 == "train" else validation
        assert table.loc[partly, "path"] in set(side["path"])
    # The unlisted patients are split by group k-fold among themselves: the folds partition them.
    unlisted_groups = set(table.loc[unlisted, "group"])
    in_validation = [groups_of(split_table(table, "official", validation_fold=fold,
                                           n_folds=3)[1]) & unlisted_groups
                     for fold in (1, 2, 3)]
    assert set().union(*in_validation) == unlisted_groups
    assert sum(map(len, in_validation)) == len(unlisted_groups)


def test_official_split_errors(icbhi):
    table = load_icbhi(icbhi, task="pneumonia")
    with pytest.raises(ValueError, match="no row has one; use 'group'"):
        split_table(table.assign(split=np.nan), "official")
    with pytest.raises(ValueError, match="'official_patients' needs a dataset split"):
        split_table(table.assign(split=np.nan), "official_patients")


# --- the published split file's quirks ------------------------------------------------------------

CROSSING, RENAMED, NO_AUDIO = [102, 105], 104, "199_1b1_Tc_sc_Meditron"


@pytest.fixture(scope="module")
def icbhi_quirks(tmp_path_factory):
    """8 patients of 3 recordings; the split file as ICBHI publishes it: patients 102 and 105 on
    both sides, 104's first recording listed with another device, a name without audio."""
    return make_icbhi(tmp_path_factory.mktemp("quirks") / "ICBHI", n_patients=8,
                      recordings_per_patient=3, duration=2.0, seed=4,
                      crossing_patients=CROSSING, renamed_in_split=[RENAMED],
                      listed_without_audio=[NO_AUDIO])


def test_official_split_as_published(icbhi_quirks, capsys):
    listed = split_file(icbhi_quirks)
    table = load_icbhi(icbhi_quirks, task="cw")
    assert len(table) == 24  # every recording, listed or not
    printed = capsys.readouterr().out
    [renamed] = [name for name in listed if name.startswith(f"{RENAMED}_")
                 and name not in {Path(path).stem for path in table["path"]}]
    [recording] = [Path(p).stem for p in table["path"] if Path(p).stem.startswith(
        renamed.rsplit("_", 1)[0] + "_")]
    assert f"{renamed} -> {recording}" in printed and NO_AUDIO in printed
    stems = [Path(path).stem for path in table["path"]]
    assert table["split"].tolist() == [listed.get(stem, listed[renamed]) for stem in stems]

    train, validation = split_table(table, "official")
    assert (train["split"] == "train").all() and (validation["split"] == "test").all()
    assert len(train) + len(validation) == len(table)
    crossing = {f"ICBHI:{p}" for p in CROSSING}
    assert groups_of(train) & groups_of(validation) == crossing
    notes = split_notes_of(train)
    assert [entry["group"] for entry in notes["crossing_groups"]] == sorted(crossing)
    for entry in notes["crossing_groups"]:
        rows = table[table["group"] == entry["group"]]
        assert entry["recordings"] == {
            side: [Path(p).stem for p in rows.loc[rows["split"] == side, "path"]]
            for side in ("train", "test") if (rows["split"] == side).any()}
    [matched] = notes["matched_by_fields"]
    assert (matched["listed"], matched["recording"], matched["split"]) == (
        renamed, recording, listed[renamed])
    assert matched["path"] in set(table["path"])
    assert [(u["listed"], u["split"]) for u in notes["unmatched"]] == [(NO_AUDIO, "train")]
    assert notes["unlisted"] == []
    line = describe_split_notes(notes)
    for text in ("2 patient(s) on both sides of the published split, kept as published: "
                 "ICBHI:102 (", "ICBHI:105 (", f"{renamed} -> {recording}",
                 f"1 listed name(s) with no recording: {NO_AUDIO} (train; no recording"):
        assert text in line, text


def test_official_patients_split(icbhi_quirks):
    table = load_icbhi(icbhi_quirks, task="cw")
    train, validation = split_table(table, "official_patients")
    check_no_group_leak(train, validation)
    assert len(train) + len(validation) == len(table)
    notes = split_notes_of(validation)
    for entry in notes["crossing_groups"]:
        counts = {side: len(names) for side, names in entry["recordings"].items()}
        larger = "validation" if counts.get("test", 0) > counts.get("train", 0) else "train"
        assert entry["moved_to"] == larger
        part = validation if larger == "validation" else train
        assert entry["group"] in groups_of(part)
    # Patients listed on one side stay there; the published values are kept in the rows.
    others = table[~table["group"].isin([f"ICBHI:{p}" for p in CROSSING])]
    assert set(others.loc[others["split"] == "train", "path"]) <= set(train["path"])
    assert set(others.loc[others["split"] == "test", "path"]) <= set(validation["path"])


def test_unlisted_recordings_are_kept_and_reported(icbhi_quirks, tmp_path):
    root = Path(shutil.copytree(icbhi_quirks, tmp_path / "ICBHI"))
    official = root / "ICBHI_challenge_train_test.txt"
    lines = official.read_text().splitlines(keepends=True)
    dropped = next(line.split("\t")[0] for line in lines if line.startswith("107_"))
    official.write_text("".join(line for line in lines if not line.startswith(dropped)))
    table = load_icbhi(root, task="pneumonia")
    assert len(table) == 24
    train, validation = split_table(table, "official")
    assert len(train) + len(validation) == 24
    notes = split_notes_of(train)
    assert notes["unlisted"] == [dropped]
    assert f"1 recording(s) not in the published split, placed by patient: {dropped}" in (
        describe_split_notes(notes))
    # It follows its patient's other recordings.
    side = train if (table.loc[table["group"] == "ICBHI:107", "split"] == "train").any() else (
        validation)
    assert any(Path(p).stem == dropped for p in side["path"])


def test_match_official_split_names():
    stems = ["101_1b1_Al_sc_Meditron", "226_1b1_Pl_sc_LittC2SE", "130_1p2_Ll_mc_AKGC417L",
             "130_1p2_Ll_mc_LittC2SE", "140_2b1_Tc_sc_Litt3200"]
    official = {"101_1b1_Al_sc_Meditron": "train", "226_1b1_Pl_sc_Meditron": "test",
                "130_1p2_Ll_mc_Meditron": "train", "140_2b1_Tc_sc_Meditron": "test",
                "140_2b1_Tc_sc_AKGC417L": "train", "999_1b1_Al_sc_Meditron": "test",
                "not an icbhi name": "train"}
    sides, matched, unmatched = match_official_split(stems, official)
    assert sides == {"101_1b1_Al_sc_Meditron": "train", "226_1b1_Pl_sc_LittC2SE": "test"}
    assert matched == [{"listed": "226_1b1_Pl_sc_Meditron", "recording": "226_1b1_Pl_sc_LittC2SE",
                        "split": "test", "reason": "same patient, index, location and mode; "
                        "device Meditron in the split file, LittC2SE on disk"}]
    reasons = {entry["listed"]: entry["reason"] for entry in unmatched}
    assert set(reasons) == {"130_1p2_Ll_mc_Meditron", "140_2b1_Tc_sc_Meditron",
                            "140_2b1_Tc_sc_AKGC417L", "999_1b1_Al_sc_Meditron",
                            "not an icbhi name"}
    assert reasons["130_1p2_Ll_mc_Meditron"].startswith("several unlisted recordings fit "
                                                        "(130_1p2_Ll_mc_AKGC417L, "
                                                        "130_1p2_Ll_mc_LittC2SE)")
    assert reasons["140_2b1_Tc_sc_Meditron"] == ("140_2b1_Tc_sc_Litt3200 fits, but so does the "
                                                 "listed name 140_2b1_Tc_sc_AKGC417L")
    assert reasons["999_1b1_Al_sc_Meditron"].startswith("no recording of this name")


def test_split_file_listing_a_recording_twice(icbhi_copy):
    official = icbhi_copy / "ICBHI_challenge_train_test.txt"
    lines = official.read_text().splitlines()
    name, side = lines[0].split("\t")
    official.write_text("\n".join(lines + [f"{name}\t{side}"]) + "\n")  # again, same side
    read_official_split(official)
    other = "test" if side == "train" else "train"
    official.write_text("\n".join(lines + [f"{name}\t{other}"]) + "\n")
    with pytest.raises(ValueError, match=rf"train_test\.txt, line 25: {name} is listed again "
                                         rf"as {other} \(line 1 says {side}\)"):
        load_icbhi(icbhi_copy, task="pneumonia")
