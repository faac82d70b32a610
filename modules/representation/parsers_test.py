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


def test_urbansound8k_layout(tmp_path):
    root = tmp_path / "UrbanSound8K"
    rows = [("100-0-0-1.wav", 3, 1, "car_horn"), ("101-1-0-0.wav", 10, 0, "air_conditioner"),
            ("102-0-0-2.wav", 1, 1, "car_horn")]
    (root / "metadata").mkdir(parents=True)
    lines = ["slice_file_name,fsID,start,end,salience,fold,classID,class"]
    for name, fold, class_id, label in rows:
        lines.append(f"{name},1,0.0,1.0,1,{fold},{class_id},{label}")
        wav(root / "audio" / f"fold{fold}" / name)
    (root / "metadata" / "UrbanSound8K.csv").write_text("\n".join(lines) + "\n")
    assert detect_parser(root) == "urbansound8k"
    data = parse(root)
    assert data.num_folds == 10 and len(data) == 3
    assert data.label_map == {"air_conditioner": 0, "car_horn": 1}
    for instance, (name, fold, class_id, label) in zip(data, rows):  # CSV order
        assert instance.filename == f"audio/fold{fold}/{name}"
        assert Path(instance.path).is_file()
        assert len(instance.cv_folds) == 10 and fold_of(instance) == fold
        assert (instance.label_nominal, instance.label_numeric) == (label, class_id)


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
        for layout in ("ESC", "UrbanSound8K", "DCASE", "partitioned", "cross-validated",
                       "no metadata"):
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
