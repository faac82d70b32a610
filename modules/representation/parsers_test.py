from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile

from modules.representation.dataset import TRAIN, VALID
from modules.representation.parsers import (
    DCASE2017_LABEL_MAP,
    PARSERS,
    LayoutError,
    detect_parser,
    parse,
    parser_name,
)

ESC10 = Path("/work/shared/datasets/ESC-10")
SR = 8000


def wav(path: Path, seconds: float = 0.1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR)
    return path


def fold_of(instance) -> int:
    """The 1-based fold where the instance is VALID; checks it is VALID there only."""
    valid = [k + 1 for k, v in enumerate(instance.cv_folds) if v == VALID]
    assert len(valid) == 1, instance
    assert all(v in (TRAIN, VALID) for v in instance.cv_folds)
    return valid[0]


def make_esc(root: Path) -> Path:
    for name in ("001 - Dog bark/1-100-A.wav", "001 - Dog bark/2-101-A.wav",
                 "002 - Rain/3-200-A.wav", "002 - Rain/5-201-B.wav",
                 "010 - Fire crackling/4-300-A.wav"):
        wav(root / name)
    (root / "README.txt").write_text("not audio")
    (root / "002 - Rain" / ".hidden.wav").write_bytes(b"")
    return root


def test_esc_layout(tmp_path):
    root = make_esc(tmp_path / "esc")
    assert detect_parser(root) == "esc"
    data = parse(root)
    assert data.parser == "esc" and data.num_folds == 5 and len(data) == 5
    assert data.label_map == {"Dog bark": 0, "Rain": 1, "Fire crackling": 2}
    by_name = {i.filename: i for i in data}
    assert list(by_name) == ["001 - Dog bark/1-100-A.wav", "001 - Dog bark/2-101-A.wav",
                             "002 - Rain/3-200-A.wav", "002 - Rain/5-201-B.wav",
                             "010 - Fire crackling/4-300-A.wav"]
    for instance in data:
        assert len(instance.cv_folds) == 5
        assert fold_of(instance) == int(Path(instance.filename).name.split("-")[0])
        assert Path(instance.path).is_absolute() and Path(instance.path).is_file()
        assert instance.label_nominal == instance.filename.split("/")[0][6:]
        assert instance.label_numeric == data.label_map[instance.label_nominal]
        assert instance.partition == -1
    assert by_name["002 - Rain/5-201-B.wav"].cv_folds == (TRAIN, TRAIN, TRAIN, TRAIN, VALID)


def test_esc_file_without_fold_is_not_esc(tmp_path):
    root = make_esc(tmp_path / "esc")
    wav(root / "001 - Dog bark" / "7-999-A.wav")  # fold 7 does not exist
    assert detect_parser(root) == "no_metadata"
    with pytest.raises(LayoutError, match=r"7-999-A\.wav.*fold number"):
        parse(root, parser="esc")


# UrbanSound8K as released (its README): metadata/UrbanSound8K.csv with the header
# slice_file_name,fsID,start,end,salience,fold,classID,class, clips in audio/fold1..fold10/ named
# [fsID]-[classID]-[occurrenceID]-[sliceID].wav.
US8K_HEADER = "slice_file_name,fsID,start,end,salience,fold,classID,class"


def make_urbansound8k(root: Path, rows, extra_lines=()) -> Path:
    """rows: (fsID, classID, occurrence, slice, fold, class); extra_lines: raw CSV lines."""
    (root / "metadata").mkdir(parents=True)
    lines = [US8K_HEADER]
    for fs_id, class_id, occurrence, slice_id, fold, label in rows:
        name = f"{fs_id}-{class_id}-{occurrence}-{slice_id}.wav"
        lines.append(f"{name},{fs_id},0.0,4.0,1,{fold},{class_id},{label}")
        wav(root / "audio" / f"fold{fold}" / name)
    (root / "metadata" / "UrbanSound8K.csv").write_text("\n".join([*lines, *extra_lines]) + "\n")
    return root


def test_urbansound8k_layout(tmp_path):
    rows = [(100032, 3, 0, 0, 5, "dog_bark"), (100263, 2, 0, 117, 10, "children_playing"),
            (100648, 1, 0, 0, 1, "car_horn")]
    root = make_urbansound8k(tmp_path / "UrbanSound8K", rows)
    assert detect_parser(root) == "urbansound8k"
    data = parse(root)
    assert data.num_folds == 10 and len(data) == 3 and data.skipped == []
    assert data.label_map == {"car_horn": 1, "children_playing": 2, "dog_bark": 3}  # classID
    for instance, (fs_id, class_id, occurrence, slice_id, fold, label) in zip(data, rows):
        name = f"{fs_id}-{class_id}-{occurrence}-{slice_id}.wav"
        assert instance.filename == f"audio/fold{fold}/{name}"  # CSV order
        assert Path(instance.path).is_file()
        assert len(instance.cv_folds) == 10 and fold_of(instance) == fold
        assert (instance.label_nominal, instance.label_numeric) == (label, class_id)


def test_urbansound8k_bad_rows_are_reported_and_skipped(tmp_path, capsys):
    rows = [(100032, 3, 0, 0, 5, "dog_bark"), (100648, 1, 0, 0, 1, "car_horn")]
    root = make_urbansound8k(tmp_path / "UrbanSound8K", rows, extra_lines=[
        "7061-6-0-0.wav,7061,0.0,4.0,1,11,6,gun_shot",          # line 4: no fold 11
        "7383-3-0-0.wav,7383,0.0,4.0,1,2,4,dog_bark",           # line 5: name says classID 3
        "99180-9-0-7.wav,99180,0.0,4.0,1,3,9,street_music"])    # line 6: file missing
    data = parse(root)
    assert [i.label_nominal for i in data] == ["dog_bark", "car_horn"]
    assert [(row.line, row.reason.split(":")[0]) for row in data.skipped] == [
        (4, "fold must be 1-10"),
        (5, "7383-3-0-0.wav names fsID 7383 and classID 3, the row says fsID 7383 and classID 4"),
        (6, "audio file not found")]
    out = capsys.readouterr().out
    assert "3 row(s) skipped" in out and "UrbanSound8K.csv, line 4: fold must be 1-10" in out


# ESC-50 as released (github.com/karolpiczak/ESC-50 README): meta/esc50.csv with the header
# filename,fold,target,category,esc10,src_file,take and the clips in audio/, named
# {FOLD}-{CLIP_ID}-{TAKE}-{TARGET}.wav.
def make_esc50_release(root: Path, extra_lines=()) -> Path:
    rows = [("1-100032-A-0.wav", 1, 0, "dog", "True", "100032", "A"),
            ("1-100038-A-14.wav", 1, 14, "chirping_birds", "False", "100038", "A"),
            ("2-100648-A-43.wav", 2, 43, "car_horn", "False", "100648", "A"),
            ("5-9032-A-0.wav", 5, 0, "dog", "True", "9032", "A")]
    (root / "meta").mkdir(parents=True)
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for row in rows:
        lines.append(",".join(map(str, row)))
        wav(root / "audio" / row[0])
    (root / "meta" / "esc50.csv").write_text("\n".join([*lines, *extra_lines]) + "\n")
    return root


def test_esc50_release_layout(tmp_path):
    root = make_esc50_release(tmp_path / "ESC-50-master", extra_lines=[
        "3-1234-A-10.wav,3,10,rain,False,1234,A",    # line 6: no such file
        "9-1235-A-10.wav,9,10,rain,False,1235,A"])   # line 7: fold 9
    assert detect_parser(root) == "esc50"
    data = parse(root)
    assert data.parser == "esc50" and data.num_folds == 5 and len(data) == 4
    assert data.label_map == {"dog": 0, "chirping_birds": 14, "car_horn": 43}  # ESC-50 targets
    assert [i.filename for i in data] == ["audio/1-100032-A-0.wav", "audio/1-100038-A-14.wav",
                                          "audio/2-100648-A-43.wav", "audio/5-9032-A-0.wav"]
    assert [fold_of(i) for i in data] == [1, 1, 2, 5]
    assert [(row.line, row.reason) for row in data.skipped] == [
        (6, "audio file not found: audio/3-1234-A-10.wav"), (7, "fold must be 1-5")]


def make_dcase(root: Path, labels=("beach", "bus", "beach", "cafe/restaurant")) -> Path:
    names = [f"audio/{c}.wav" for c in "abcd"]
    for name in names:
        wav(root / name)
    (root / "meta.txt").write_text("".join(f"{n}\t{lab}\tr{i}\n"
                                           for i, (n, lab) in enumerate(zip(names, labels))))
    setup = root / "evaluation_setup"
    setup.mkdir()
    folds = {1: ("a",), 2: ("b", "c")}  # evaluated files per fold; d is always training
    for fold, evaluated in folds.items():
        train = [n for n, lab in zip(names, labels) if n[6] not in evaluated]
        (setup / f"fold{fold}_train.txt").write_text(
            "".join(f"{n}\t{dict(zip(names, labels))[n]}\n" for n in train))
        (setup / f"fold{fold}_evaluate.txt").write_text(
            "".join(f"audio/{c}.wav\t{dict(zip(names, labels))[f'audio/{c}.wav']}\n"
                    for c in evaluated))
    return root


def test_dcase_layout(tmp_path):
    root = make_dcase(tmp_path / "dcase")
    assert detect_parser(root) == "dcase"
    data = parse(root)
    assert data.num_folds == 2 and len(data) == 4
    assert data.label_map == DCASE2017_LABEL_MAP  # auDeep's fixed map: all 15 scenes
    assert [i.filename for i in data] == ["audio/a.wav", "audio/b.wav", "audio/c.wav",
                                          "audio/d.wav"]
    assert [i.cv_folds for i in data] == [(VALID, TRAIN), (TRAIN, VALID), (TRAIN, VALID),
                                          (TRAIN, TRAIN)]
    assert [i.label_numeric for i in data] == [0, 1, 0, 2]
    assert all(Path(i.path).is_file() for i in data)


def test_dcase_other_labels_sorted(tmp_path):
    data = parse(make_dcase(tmp_path / "dcase", labels=("x", "y", "x", "w")))
    assert data.label_map == {"w": 0, "x": 1, "y": 2}
    assert [i.label_numeric for i in data] == [1, 2, 1, 0]


# TAU Urban Acoustic Scenes 2019, development set (its README and the DCASE 2019 task 1
# baseline): meta.csv and evaluation_setup/fold1_{train,evaluate,test}.csv are tab-separated with
# a header: meta.csv "filename scene_label identifier source_label", fold1_train.csv and
# fold1_evaluate.csv "filename scene_label", fold1_test.csv "filename"; names are relative to the
# dataset folder (audio/<scene>-<city>-<location>-<segment>-<device>.wav).
def make_tau2019(root: Path) -> Path:
    files = {"audio/airport-barcelona-0-0-a.wav": ("airport", "barcelona-0"),
             "audio/airport-helsinki-1-3-a.wav": ("airport", "helsinki-1"),
             "audio/bus-lyon-2-5-a.wav": ("bus", "lyon-2"),
             "audio/park-paris-3-7-a.wav": ("park", "paris-3"),
             "audio/tram-vienna-4-9-a.wav": ("tram", "vienna-4")}  # in neither list
    for name in files:
        wav(root / name)
    tsv = lambda lines: "\n".join("\t".join(line) for line in lines) + "\n"  # noqa: E731
    (root / "meta.csv").write_text(tsv([("filename", "scene_label", "identifier", "source_label")]
                                       + [(n, s, i, "a") for n, (s, i) in files.items()]))
    setup = root / "evaluation_setup"
    setup.mkdir()
    names = list(files)
    (setup / "fold1_train.csv").write_text(tsv([("filename", "scene_label")] + [
        (n, files[n][0]) for n in names[:3]]))
    (setup / "fold1_evaluate.csv").write_text(tsv([("filename", "scene_label"),
                                                   (names[3], "park")]))
    (setup / "fold1_test.csv").write_text(tsv([("filename",), (names[3],)]))
    return root


def test_dcase_2019_csv_setup(tmp_path):
    root = make_tau2019(tmp_path / "TAU-urban-acoustic-scenes-2019-development")
    assert detect_parser(root) == "dcase"
    data = parse(root)
    assert data.num_folds == 1 and data.skipped == []
    assert [i.filename for i in data] == ["audio/airport-barcelona-0-0-a.wav",
                                          "audio/airport-helsinki-1-3-a.wav",
                                          "audio/bus-lyon-2-5-a.wav", "audio/park-paris-3-7-a.wav"]
    assert [i.cv_folds for i in data] == [(TRAIN,), (TRAIN,), (TRAIN,), (VALID,)]
    assert data.label_map == {"airport": 0, "bus": 1, "park": 2}


def test_partitioned_class_folders_named_like_layout_parts_are_not_classes(tmp_path):
    for name in ("train/audio/1.wav", "test/audio/2.wav"):
        wav(tmp_path / name)
    assert detect_parser(tmp_path) == "no_metadata"  # unlabelled, never labelled "audio"
    with pytest.raises(LayoutError, match="'audio' names a part of a layout, not a class"):
        parse(tmp_path, parser="partitioned")


def test_partitioned_layout(tmp_path):
    root = tmp_path / "part"
    for name in ("train/dog/1.wav", "train/cat/2.wav", "train/cat/3.wav", "devel/cat/4.wav",
                 "test/dog/5.wav", "test/bird/6.wav"):
        wav(root / name)
    assert detect_parser(root) == "partitioned"
    data = parse(root)
    assert data.num_folds == 0
    assert data.label_map == {"bird": 0, "cat": 1, "dog": 2}
    assert [(i.filename, i.partition, i.label_nominal) for i in data] == [
        ("train/cat/2.wav", 0, "cat"), ("train/cat/3.wav", 0, "cat"),
        ("train/dog/1.wav", 0, "dog"), ("devel/cat/4.wav", 1, "cat"),
        ("test/bird/6.wav", 2, "bird"), ("test/dog/5.wav", 2, "dog")]
    assert all(i.cv_folds == () for i in data)


def test_cross_validated_layout(tmp_path):
    root = tmp_path / "cv"
    for name in ("fold_1/a/1.wav", "fold_1/b/2.wav", "fold_2/a/3.wav", "fold_3/b/4.wav",
                 "fold_3/c/5.wav"):
        wav(root / name)
    assert detect_parser(root) == "cross_validated"
    data = parse(root)
    assert data.num_folds == 3 and data.label_map == {"a": 0, "b": 1, "c": 2}
    for instance in data:
        assert len(instance.cv_folds) == 3
        assert fold_of(instance) == int(instance.filename.split("/")[0][5:])
        assert instance.label_nominal == instance.filename.split("/")[1]
        assert instance.partition == -1


def test_cross_validated_needs_contiguous_folds(tmp_path):
    root = tmp_path / "cv"
    wav(root / "fold_1/a/1.wav")
    wav(root / "fold_3/a/2.wav")
    with pytest.raises(LayoutError, match="fold numbers"):
        parse(root, parser="cross_validated")


def test_no_metadata_layout(tmp_path):
    root = tmp_path / "flat"
    wav(root / "b.wav")
    wav(root / "a.wav")
    wav(root / "sub" / "c.WAV")
    (root / "notes.txt").write_text("x")
    assert detect_parser(root) == "no_metadata"
    data = parse(root)
    assert [i.filename for i in data] == ["a.wav", "b.wav", "sub/c.WAV"]
    assert data.label_map is None and data.num_folds == 0
    assert all(i.label_nominal is None and i.label_numeric == -1 and i.cv_folds == ()
               and i.partition == -1 for i in data)


def only_text_files(root: Path) -> Path:
    (root / "docs").mkdir()
    (root / "docs" / "a.txt").write_text("x")
    return root


@pytest.mark.parametrize("make", [lambda p: p / "missing", lambda p: p, only_text_files],
                         ids=["missing", "empty", "no-audio"])
def test_unknown_layout(tmp_path, make):
    root = make(tmp_path)
    for call in (detect_parser, parse):
        with pytest.raises(ValueError) as error:
            call(root)
        message = str(error.value)
        assert "\n" not in message and str(root) in message
        for layout in ("ESC", "ESC-50", "UrbanSound8K", "DCASE", "partitioned",
                       "cross-validated", "no metadata"):
            assert layout in message


def test_ambiguous_layout(tmp_path):
    for name in ("train/a/1.wav", "fold_1/a/2.wav", "fold_2/a/3.wav"):
        wav(tmp_path / name)
    with pytest.raises(LayoutError, match="partitioned, cross_validated"):
        parse(tmp_path)
    assert parse(tmp_path, parser="partitioned").parser == "partitioned"


def test_parser_names():
    assert parser_name("audeep.backend.parsers.esc.ESCParser") == "esc"
    assert parser_name("UrbanSound8KParser") == "urbansound8k"
    assert parser_name("audeep.backend.parsers.meta.MetaParser") is None
    assert parser_name("cross-validated") == "cross_validated"
    assert all(parser_name(name) == name for name in PARSERS)
    with pytest.raises(ValueError, match="unknown parser"):
        parser_name("nope")


@pytest.mark.skipif(not ESC10.is_dir(), reason="ESC-10 not available")
def test_real_esc10():
    data = parse(ESC10)
    assert data.parser == "esc" and len(data) == 400 and data.num_folds == 5
    assert list(data.label_map) == ["Dog bark", "Rain", "Sea waves", "Baby cry", "Clock tick",
                                    "Person sneeze", "Helicopter", "Chainsaw", "Rooster",
                                    "Fire crackling"]
    assert Counter(fold_of(i) for i in data) == {k: 80 for k in range(1, 6)}
    assert Counter(i.label_nominal for i in data) == {k: 40 for k in data.label_map}


def test_preprocess_finds_esc50_and_urbansound8k_metadata(tmp_path):
    """The issue: `spectrain preprocess` on the ESC-50 release found no labels and no folds."""
    from modules.representation.preprocess import SpectrogramSettings, preprocess

    settings = SpectrogramSettings(window_width=0.02, window_overlap=0.01, mel_bands=16,
                                   fixed_length=0.1)
    features = preprocess(make_esc50_release(tmp_path / "ESC-50"), settings,
                          tmp_path / "esc50.nc", progress=False)
    assert features.metadata["parser"] == "esc50"
    assert list(features.label_nominal) == ["dog", "chirping_birds", "car_horn", "dog"]
    assert list(features.label_numeric) == [0, 14, 43, 0]
    assert features.cv_folds.shape == (4, 5) and features.cv_folds[:, 0].tolist() == [1, 1, 0, 0]
    features = preprocess(make_urbansound8k(tmp_path / "UrbanSound8K",
                                            [(100032, 3, 0, 0, 5, "dog_bark")]),
                          settings, tmp_path / "us8k.nc", progress=False)
    assert features.metadata["parser"] == "urbansound8k" and features.cv_folds.shape == (1, 10)
    assert list(features.label_nominal) == ["dog_bark"] and list(features.label_numeric) == [3]
