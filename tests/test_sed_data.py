"""The SED test-data generator (tests/sed_data.py): events are where the sound is."""

import numpy as np
import pandas as pd
import pytest
import soundfile

from modules.sed.annotations import read_annotations
from tests.sed_data import (ELEPHANT_STAND_INS, load_event_sound, make_elephant_dataset,
                            make_long_recording, make_repeated_recording, trim_extent)

SR = 16000
FRAME = 800  # 50 ms


def _frame_db(audio):
    n = len(audio) // FRAME
    frames = audio[:n * FRAME].astype(np.float64).reshape(n, FRAME)
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20)


def _segment_db(audio, onset, offset):
    part = audio[int(onset * SR):int(offset * SR)].astype(np.float64)
    return 10 * np.log10(np.mean(part ** 2) + 1e-20)


@pytest.fixture(scope="module")
def elephant(tmp_path_factory):
    from tests.sed_data import ESC10
    if not ESC10.is_dir():
        pytest.skip(f"ESC-10 not found at {ESC10}")
    return make_elephant_dataset(tmp_path_factory.mktemp("elp"), n_recordings=2,
                                 duration=60.0, seed=0)


def test_trim_extent_finds_the_sound():
    audio = np.zeros(SR * 2)
    audio[SR // 2:SR] = np.sin(np.arange(SR // 2) * 0.3)
    audio += 1e-4 * np.random.default_rng(0).standard_normal(len(audio))  # -80 dB, far below
    start, stop = trim_extent(audio, SR)
    assert abs(start - SR // 2) <= 0.02 * SR and abs(stop - SR) <= 0.02 * SR


def test_trimmed_esc10_clip_has_no_silent_edges(esc10):
    sound = load_event_sound(esc10 / "001 - Dog bark" / "1-100032-A.ogg", SR)
    assert 0 < len(sound) < 5 * SR
    peak = _frame_db(sound).max()
    first, last = sound[:320], sound[-320:]  # the first and last 20 ms
    for edge in (first, last):
        assert 10 * np.log10(np.mean(edge ** 2) + 1e-20) >= peak - 41


def test_recording_duration_rate_and_event_energy(elephant):
    events = elephant["events"]
    assert set(events["label"]) == {"Rumble", "Gunshot"}
    for wav in elephant["recordings"]:
        info = soundfile.info(str(wav))
        assert info.samplerate == SR and info.frames == 60 * SR and info.channels == 1
        audio, _ = soundfile.read(str(wav), dtype="float32")
        mine = events[events["file"] == str(wav)].sort_values("onset")
        assert mine["label"].value_counts().to_dict() == {"Rumble": 3, "Gunshot": 3}
        # No overlaps (and >= 1 s apart, inside the recording).
        assert (mine["onset"].to_numpy()[1:] - mine["offset"].to_numpy()[:-1] >= 1.0).all()
        assert mine["onset"].min() >= 1.0 and mine["offset"].max() <= 59.0
        frames = _frame_db(audio)
        median = np.median(frames)
        for row in mine.itertuples():
            assert _segment_db(audio, row.onset, row.offset) > median + 6, row
        # Outside the events (0.1 s margins) the energy stays at the background's.
        times = (np.arange(len(frames)) + 0.5) * FRAME / SR
        outside = np.ones(len(frames), bool)
        for row in mine.itertuples():
            outside &= (times < row.onset - 0.1) | (times > row.offset + 0.1)
        assert outside.sum() > 0.3 * len(frames)
        assert np.percentile(frames[outside], 99) < median + 3
        assert np.abs(np.median(frames[outside]) - median) < 1.5


def test_raven_tables_read_back(elephant):
    for wav, table in zip(elephant["recordings"], elephant["tables"]):
        assert table.name == f"{wav.stem}.Table.1.selections.txt" and table.parent == wav.parent
        back = read_annotations(table)
        expected = elephant["events"][elephant["events"]["file"] == str(wav)]
        pd.testing.assert_frame_equal(back, expected.reset_index(drop=True))
        assert back.attrs == {"skipped": [], "empty_files": []}  # nothing left out


def test_given_times_labels_and_determinism(esc10, tmp_path):
    spec = [("Dog bark", 3.0), ("Chainsaw", 10.0), ("Dog bark", 20.0)]
    a = make_long_recording(tmp_path / "a.wav", spec, 30.0, seed=3, snr_db=6,
                            labels={"Chainsaw": "Gunshot"})
    b = make_long_recording(tmp_path / "b.wav", spec, 30.0, seed=3, snr_db=6,
                            labels={"Chainsaw": "Gunshot"})
    assert a["onset"].tolist() == [3.0, 10.0, 20.0]
    assert a["label"].tolist() == ["Dog bark", "Gunshot", "Dog bark"]
    assert (a["offset"] > a["onset"]).all() and (a["offset"] - a["onset"] <= 5.0).all()
    pd.testing.assert_frame_equal(a.drop(columns="file"), b.drop(columns="file"))
    assert np.array_equal(soundfile.read(tmp_path / "a.wav")[0],
                          soundfile.read(tmp_path / "b.wav")[0])
    c = make_long_recording(tmp_path / "c.wav", {"Dog bark": 2}, 30.0, seed=4)
    d = make_long_recording(tmp_path / "d.wav", {"Dog bark": 2}, 30.0, seed=5)
    assert c["onset"].tolist() != d["onset"].tolist()


def test_real_background_and_bad_specs(esc10, tmp_path):
    rain = esc10 / "002 - Rain" / sorted(p.name for p in (esc10 / "002 - Rain").iterdir())[0]
    events = make_long_recording(tmp_path / "r.wav", [("Helicopter", 2.0)], 12.0,
                                 background=rain, snr_db=12)
    audio, sr = soundfile.read(tmp_path / "r.wav")
    assert sr == SR and len(audio) == 12 * SR
    row = events.iloc[0]
    assert _segment_db(audio, row.onset, row.offset) > np.median(_frame_db(audio)) + 6
    with pytest.raises(ValueError, match="overlap"):
        make_long_recording(tmp_path / "x.wav", [("Chainsaw", 1.0), ("Chainsaw", 2.0)], 20.0)
    with pytest.raises(ValueError, match="ESC-10 class"):
        make_long_recording(tmp_path / "x.wav", [("Elephant", 1.0)], 20.0)
    with pytest.raises(ValueError, match="fit"):
        make_long_recording(tmp_path / "x.wav", {"Helicopter": 5}, 10.0)


def test_repeated_recording(tmp_path):
    rng = np.random.default_rng(0)
    source = tmp_path / "src.wav"
    data = (0.3 * rng.standard_normal(10_001)).astype(np.float32)
    soundfile.write(source, data, SR, subtype="PCM_16")
    out = make_repeated_recording(tmp_path / "long" / "rep.wav", source, 10, block_frames=4096)
    info = soundfile.info(str(out))
    assert info.frames == 10 * 10_001 and info.samplerate == SR and info.subtype == "PCM_16"
    first, _ = soundfile.read(str(out), frames=10_001, dtype="int16")
    src, _ = soundfile.read(str(source), dtype="int16")
    assert np.array_equal(first, src)
    last, _ = soundfile.read(str(out), start=9 * 10_001, dtype="int16")
    assert np.array_equal(last, src)
    with pytest.raises(ValueError):
        make_repeated_recording(tmp_path / "x.wav", source, 0)
