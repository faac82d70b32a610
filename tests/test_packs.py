"""PANNs-style HDF5 waveform packs: written from real ESC-10 clips, read back as a dataset."""

from __future__ import annotations

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
