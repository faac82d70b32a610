"""PANNs-style HDF5 waveform packs: written from real ESC-10 clips, read back as a dataset."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from modules.data import load_auto, load_esc_folders, read_audio
from modules.data.audio import BadAudioError
from modules.data.packs import load_pack, write_pack
from modules.pipeline import AudioConfig, SkippedFiles, decoded_dataset, fill_cache, one_hot_labels


@pytest.fixture
def small_table(esc10, bad_audio_files):
    table = load_esc_folders(esc10)
    table = table.groupby("label", sort=False).head(2).reset_index(drop=True).head(6)
    bad = table.iloc[:1].copy()
    bad["path"] = str(bad_audio_files["truncated"])
    return table, bad


def test_a_pack_holds_the_clips_and_reads_back_as_a_dataset(small_table, tmp_path):
    table, bad = small_table
    import pandas as pd

    pack = tmp_path / "esc.h5"
    result = write_pack(pd.concat([table, bad], ignore_index=True), pack, sample_rate=16000,
                        clip_length=5.0, root=table["path"][0].rsplit("/", 2)[0], progress=False)
    assert result["written"] == 6 and "truncated" in result["skipped"][0][1]
    with h5py.File(pack) as handle:  # the PANNs layout
        assert handle["waveform"].dtype == np.int16 and handle["waveform"].shape == (6, 80000)
        assert handle["target"].shape == (6, 3) and handle["fold"][:].tolist() == [
            int(f) for f in table["fold"]]
        assert handle["audio_name"][0].decode().endswith(".ogg")

    loaded = load_auto(pack)  # the layout is detected from the suffix
    assert loaded["label"].tolist() == table["label"].tolist()
    assert loaded["group"].tolist() == table["group"].tolist()
    assert loaded["fold"].tolist() == table["fold"].tolist()
    original = read_audio(table["path"][1], 16000)
    packed = read_audio(loaded["path"][1], 16000)
    assert len(packed) == 80000
    n = min(len(original), 80000)
    np.testing.assert_allclose(packed[:n], original[:n], atol=0.5 / 32767 + 1e-7)  # rounding

    # the training pipeline decodes pack rows like files
    names = list(dict.fromkeys(loaded["label"]))
    ds = decoded_dataset(loaded["path"], one_hot_labels(loaded["label"], names),
                         AudioConfig(16000, 5.0, 5.0), SkippedFiles())
    meta = fill_cache(ds, len(loaded), "decoding", progress=False)
    assert len(meta["label"]) == 6


def test_bad_packs_and_rows_are_reported(tmp_path, small_table):
    table, _ = small_table
    pack = tmp_path / "p.h5"
    write_pack(table, pack, 8000, 1.0, progress=False)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_pack(table, pack, 8000, 1.0, progress=False)
    with pytest.raises(BadAudioError, match="no row 99"):
        read_audio(f"{pack}::99", 8000)
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle.create_dataset("waveform", data=np.zeros((2, 10), np.int16))
    with pytest.raises(ValueError, match="not a waveform pack: missing audio_name"):
        load_pack(tmp_path / "other.h5")


# -- packs written by PANNs ---------------------------------------------------------------------
SR, LENGTH = 8000, 4000  # PANNs' config: sample_rate 32000, clip_samples = 10 s; smaller here


def float32_to_int16(x):  # PANNs' utils/utilities.py
    x = np.clip(x, a_min=-1., a_max=1.)
    return (x * 32767.).astype(np.int16)


def pad_or_truncate(x, audio_length):  # PANNs' utils/utilities.py
    if len(x) <= audio_length:
        return np.concatenate((x, np.zeros(audio_length - len(x))), axis=0)
    return x[0: audio_length]


def tone(k, seconds):
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * (220 + 110 * k) * t)).astype(np.float32)


def panns_pack(path, audio_names, targets, missing=(), waveform_dtype=np.int16):
    """A pack as PANNs' pack_waveforms_to_hdf5 writes it (qiuqiangkong/audioset_tagging_cnn,
    utils/dataset.py): datasets audio_name (S20), waveform (int16: float32_to_int16 of the clip
    padded or cut to audio_length; float32 in older versions), target (bool, one column per
    class, several True for a multi-label clip), attribute sample_rate (int32), nothing else;
    the row of a file that does not exist stays empty (no name, zeros, no class)."""
    audios_num, classes_num = len(audio_names), len(targets[0])
    with h5py.File(path, "w") as hf:
        hf.create_dataset('audio_name', shape=((audios_num,)), dtype='S20')
        hf.create_dataset('waveform', shape=((audios_num, LENGTH)), dtype=waveform_dtype)
        hf.create_dataset('target', shape=((audios_num, classes_num)), dtype=bool)
        hf.attrs.create('sample_rate', data=SR, dtype=np.int32)
        for n in range(audios_num):
            if n in missing:  # logging.info('File does not exist!')
                continue
            audio = pad_or_truncate(tone(n, 0.3 + 0.2 * n), LENGTH)
            hf['audio_name'][n] = audio_names[n].encode()
            hf['waveform'][n] = (float32_to_int16(audio) if waveform_dtype == np.int16
                                 else audio)
            hf['target'][n] = targets[n]
    return path


def class_labels_indices(folder, names):
    """PANNs' metadata/class_labels_indices.csv (AudioSet's ontology file: index,mid,display_name,
    display names quoted)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["index,mid,display_name"] + [f'{i},/m/{i:05d},"{name}"' for i, name in
                                          enumerate(names)]
    (folder / "class_labels_indices.csv").write_text("\n".join(lines) + "\n")


# PANNs' read_metadata names a clip 'Y{}.wav'.format(YouTube id): 16 bytes, within S20
AUDIOSET_NAMES = ["Y--0w1YA1Hm4.wav", "Y-0BIyqJj9ZU.wav", "Y-0O3e95y4gE.wav", "Y-1nx9K3lU1w.wav"]


def test_a_multi_label_panns_pack_reads_with_its_label_lists(tmp_path, capsys):
    from modules.data.packs import describe_pack, read_pack

    class_labels_indices(tmp_path / "metadata", ["Speech", "Music", "Dog"])
    targets = [[1, 1, 0], [0, 1, 0], [0, 0, 0], [1, 0, 1]]
    (tmp_path / "workspace").mkdir()  # PANNs' layout: metadata/ beside workspace/
    pack = panns_pack(tmp_path / "workspace" / "eval.h5", AUDIOSET_NAMES, targets, missing=(2,))
    contents = read_pack(pack)
    assert contents.class_names == ["Speech", "Music", "Dog"]
    assert contents.class_source.endswith("metadata/class_labels_indices.csv")
    assert contents.rows["labels"].tolist() == [("Speech", "Music"), ("Music",),
                                                ("Speech", "Dog")]
    assert contents.rows["audio_name"].tolist() == [AUDIOSET_NAMES[i] for i in (0, 1, 3)]
    assert contents.rows["fold"].isna().all() and contents.sample_rate == SR
    assert contents.skipped == [(2, "empty audio_name (PANNs leaves the row of a missing file "
                                    "empty)")]
    text = describe_pack(pack)
    assert "2 multi-label row(s)" in text and "left out row 2" in text and "folds      none" in text
    # as a dataset: a multi-label table, every row's classes kept (for the "multilabel" task)
    table = load_auto(pack)
    assert [json.loads(cell) for cell in table["labels"]] == [["Speech", "Music"], ["Music"],
                                                              ["Speech", "Dog"]]
    assert table["label"].tolist() == ["Music + Speech", "Music", "Dog + Speech"]
    assert table["path"].tolist() == [f"{pack}::{row}" for row in (0, 1, 3)]
    audio = read_audio(f"{pack}::3", SR)  # the clips themselves read like files
    expected = float32_to_int16(pad_or_truncate(tone(3, 0.9), LENGTH)) / 32767.0
    np.testing.assert_allclose(audio, expected, atol=1e-7)


def test_a_single_label_panns_pack_is_a_job_dataset(tmp_path, capsys):
    names = [f"{k}-clip.wav" for k in range(4)]
    pack = panns_pack(tmp_path / "esc.h5", names, [[1, 0], [0, 1], [1, 0], [0, 0]])
    table = load_pack(pack)
    out = capsys.readouterr().out
    assert "1 row(s) left out, e.g. row 3: 3-clip.wav: target has no class" in out
    assert "classes named by target column numbers" in out  # no class names anywhere
    assert table["label"].tolist() == ["0", "1", "0"] and table["fold"].isna().all()
    assert table["group"].tolist() == names[:3]
    ds = decoded_dataset(table["path"], one_hot_labels(table["label"], ["0", "1"]),
                         AudioConfig(SR, 0.5, 0.5), SkippedFiles())
    assert len(fill_cache(ds, len(table), "decoding", progress=False)["label"]) == 3
    class_labels_indices(tmp_path, ["dog", "rain"])  # beside the pack
    assert load_pack(pack)["label"].tolist() == ["dog", "rain", "dog"]


def test_older_float_panns_packs_and_bad_panns_packs(tmp_path):
    from modules.data.packs import read_pack

    pack = panns_pack(tmp_path / "old.h5", ["a.wav"], [[1]], waveform_dtype=np.float32)
    np.testing.assert_allclose(read_audio(f"{pack}::0", SR),
                               pad_or_truncate(tone(0, 0.3), LENGTH), atol=1e-7)
    class_labels_indices(tmp_path / "metadata", ["a", "b"])
    with pytest.raises(ValueError, match=r"class_labels_indices.csv: 2 classes .*target has 1"):
        read_pack(pack)
    with h5py.File(pack, "a") as handle:
        del handle.attrs["sample_rate"]
    with pytest.raises(ValueError, match="old.h5: not a waveform pack: missing attribute "
                                         "sample_rate"):
        load_pack(pack)
    with h5py.File(tmp_path / "short.h5", "w") as handle:
        handle.create_dataset("audio_name", data=np.array([b"a", b"b"], dtype="S20"))
        handle.create_dataset("waveform", data=np.zeros((2, 10), np.int16))
        handle.create_dataset("target", data=np.zeros((3, 2), bool))
        handle.attrs.create("sample_rate", data=SR, dtype=np.int32)
    with pytest.raises(ValueError, match=r"dataset target is bool \(3, 2\): expected"):
        load_pack(tmp_path / "short.h5")
    (tmp_path / "metadata" / "class_labels_indices.csv").unlink()
    empty = panns_pack(tmp_path / "empty.h5", ["a.wav", "b.wav"], [[1], [1]], missing=(0, 1))
    with pytest.raises(ValueError, match="none of the 2 rows has a file name and a class"):
        load_pack(empty)
