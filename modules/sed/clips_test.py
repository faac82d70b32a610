"""Training clips from long recordings (modules.sed.clips) and `spectrain clips` (modules.sed.cli).

The recordings are made here: quiet noise at 8 kHz with real ESC-10 sounds (a dog bark, a
chainsaw) mixed in at known times, so that every check can look at the audio itself.
"""

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from modules.data.audio import BadAudioError, read_audio
from modules.data.fetch import shared_datasets_dir
from modules.sed import clips as clips_module
from modules.sed.annotations import read_annotations, write_raven_table
from modules.sed.cli import add_clips_command, run_clips
from modules.sed.clips import make_clips, read_metadata

SR = 8000
EVENT_S = 4.0  # every mixed-in sound lasts 4 s
ESC10 = shared_datasets_dir() / "ESC-10"
HALF_LSB = 0.5 / 32768 + 1e-7  # 16-bit rounding


@pytest.fixture(scope="module")
def sounds():
    if not ESC10.is_dir():
        pytest.skip(f"ESC-10 not found at {ESC10}")
    dog = read_audio(ESC10 / "001 - Dog bark" / "1-100032-A.ogg", SR)[:int(EVENT_S * SR)]
    saw = read_audio(ESC10 / "008 - Chainsaw" / "1-116765-A.ogg", SR)[:int(EVENT_S * SR)]
    return {"dog bark": 0.6 * dog / np.abs(dog).max(), "chainsaw": 0.6 * saw / np.abs(saw).max()}


# (recording, seconds, subtype, [(label, onset), ...]); a dog bark and a chainsaw overlap in A.
RECORDINGS = {
    "rec_a.wav": (90, "PCM_16", [("dog bark", 10.0), ("chainsaw", 12.0), ("dog bark", 50.0),
                                 ("chainsaw", 80.0)]),
    "rec_b.wav": (60, "FLOAT", [("chainsaw", 3.0), ("dog bark", 40.0)]),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, sounds):
    """Recordings in audio/, a Raven table (with View duplicates) for rec_a named after it, a
    CSV with aliases and relative paths for rec_b in labels/; and the events read from both."""
    root = tmp_path_factory.mktemp("corpus")
    audio = root / "audio"
    audio.mkdir()
    rng = np.random.default_rng(7)
    signals = {}
    for name, (seconds, subtype, placed) in RECORDINGS.items():
        signal = rng.normal(0.0, 0.003, seconds * SR).astype(np.float32)
        for label, onset in placed:
            start = int(onset * SR)
            signal[start:start + int(EVENT_S * SR)] += sounds[label]
        soundfile.write(audio / name, signal, SR, subtype=subtype)
        signals[name] = soundfile.read(audio / name, dtype="float32")[0]  # as stored
    raven = audio / "rec_a.Table.1.selections.txt"
    lines = ["Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tAnnotation"]
    for number, (label, onset) in enumerate(RECORDINGS["rec_a.wav"][2], start=1):
        for view in ("Waveform 1", "Spectrogram 1"):
            lines.append(f"{number}\t{view}\t1\t{onset}\t{onset + EVENT_S}\t{label}")
    raven.write_text("\n".join(lines) + "\n")
    labels = root / "labels"
    labels.mkdir()
    rows = [f"../audio/rec_b.wav,{onset},{onset + EVENT_S},{label}"
            for label, onset in RECORDINGS["rec_b.wav"][2]]
    (labels / "rec_b.csv").write_text("filename,start,end,class\n" + "\n".join(rows) + "\n")
    events = pd.concat([read_annotations(raven), read_annotations(labels / "rec_b.csv")],
                       ignore_index=True)
    return {"root": root, "audio": audio, "signals": signals, "events": events,
            "raven": raven, "csv": labels / "rec_b.csv"}


def test_fixture_tables_parse(corpus):
    events = corpus["events"]
    assert len(events) == 6  # four selections of rec_a (each twice in the table), two of rec_b
    assert set(events["file"]) == {str(corpus["audio"] / "rec_a.wav"),
                                   str(corpus["audio"] / "rec_b.wav")}


def clip_for(metadata, source, label, onset):
    """The rows of the clip cut for the event (source, label, onset in the recording)."""
    names = metadata["clip"].map(lambda c: re.sub(r"^\d+/\d+_", "", c)[:-4])
    own = metadata[(metadata["source"] == str(source)) & (names == label.replace(" ", "_"))
                   & np.isclose(metadata["clip_start"] + metadata["onset"], onset, atol=1e-4)]
    assert own["clip"].nunique() == 1, own
    return metadata[metadata["clip"] == own["clip"].iloc[0]]


def sounds_in(sounds, placed, start, length, but):
    """The mixed-in sounds (without noise) of samples [start, start + length) of a recording,
    leaving out the one event ``but``."""
    window = np.zeros(start + length + int(EVENT_S * SR), np.float32)
    for label, onset in placed:
        at = int(onset * SR)
        if (label, onset) != but and at < len(window):
            window[at:at + int(EVENT_S * SR)] += sounds[label][:len(window) - at]
    return window[start:start + length]


def read_clip(output, clip):
    audio, sr = soundfile.read(Path(output) / clip, dtype="float32")
    return audio, sr


def test_event_clips_start_the_event_at_the_offset(corpus, sounds, tmp_path):
    out = tmp_path / "clips"
    metadata = make_clips(corpus["events"], out, clip_length=10.0, event_offset=2.0,
                          n_background=0, progress=False)
    assert metadata["clip"].nunique() == 6 and metadata.attrs["backgrounds"] == 0
    assert metadata.attrs["clips_per_label"] == {"chainsaw": 3, "dog bark": 3}
    for name, (_, _, placed) in RECORDINGS.items():
        source = corpus["audio"] / name
        for label, onset in placed:
            rows = clip_for(metadata, source, label, onset)
            target = rows[rows["label"] == label].iloc[0]
            assert target["onset"] == pytest.approx(2.0) and target["offset"] == pytest.approx(6.0)
            assert target["clip_start"] == pytest.approx(onset - 2.0)
            assert not target["truncated"] and target["group"] == str(source)
            audio, sr = read_clip(out, target["clip"])
            assert sr == SR and len(audio) == 10 * SR
            start = int(round(target["clip_start"] * SR))
            np.testing.assert_allclose(audio, corpus["signals"][name][start:start + 10 * SR],
                                       atol=HALF_LSB, rtol=0)
            # the sound itself starts 2 s into the clip: without it (and the other sounds mixed
            # in nearby) what is left is the quiet noise (0.003 rms); were it 0.1 s off, the
            # sound would leave 0.04 rms or more
            others = sounds_in(sounds, placed, start, len(audio), but=(label, onset))
            residual = audio[2 * SR:6 * SR] - sounds[label] - others[2 * SR:6 * SR]
            assert np.sqrt(np.mean(residual ** 2)) < 0.004
    # the file on disk is the returned table
    pd.testing.assert_frame_equal(read_metadata(out), metadata, check_dtype=False)
    assert (out / "skipped.tsv").read_text().strip() == "source\tevents\treason"


def test_centred_by_default_and_shifted_to_stay_inside(corpus, tmp_path):
    metadata = make_clips(corpus["events"], tmp_path / "clips", clip_length=20.0, n_background=0,
                          progress=False)
    a, b = corpus["audio"] / "rec_a.wav", corpus["audio"] / "rec_b.wav"
    dog = clip_for(metadata, a, "dog bark", 50.0)
    assert dog["clip_start"].iloc[0] == pytest.approx(42.0)  # centred: 8 s before, 8 s after
    saw = clip_for(metadata, b, "chainsaw", 3.0)
    assert saw["clip_start"].iloc[0] == 0.0  # would start at -5 s
    end = clip_for(metadata, a, "chainsaw", 80.0)
    assert end["clip_start"].iloc[0] == pytest.approx(70.0)  # would end at 92 s of 90
    row = end[end["label"] == "chainsaw"].iloc[0]
    assert (row["onset"], row["offset"]) == pytest.approx((10.0, 14.0))
    assert set(metadata["clip_length"]) == {20.0}


def test_overlapping_events_are_all_listed_relative_to_the_clip(corpus, tmp_path):
    metadata = make_clips(corpus["events"], tmp_path / "clips", clip_length=6.0, n_background=0,
                          progress=False)
    a = corpus["audio"] / "rec_a.wav"
    dog = clip_for(metadata, a, "dog bark", 10.0)  # centred: 9 .. 15 s
    assert dog["clip_start"].iloc[0] == pytest.approx(9.0)
    assert dog[["label", "onset", "offset", "truncated"]].values.tolist() == [
        ["dog bark", 1.0, 5.0, False], ["chainsaw", 3.0, 6.0, True]]
    saw = clip_for(metadata, a, "chainsaw", 12.0)  # 11 .. 17 s
    assert saw[["label", "onset", "offset", "truncated"]].values.tolist() == [
        ["dog bark", 0.0, 3.0, True], ["chainsaw", 1.0, 5.0, False]]


def test_events_longer_than_the_clip_are_cut_and_marked(corpus, tmp_path):
    metadata = make_clips(corpus["events"], tmp_path / "short", clip_length=3.0, n_background=0,
                          progress=False)
    dog = clip_for(metadata, corpus["audio"] / "rec_a.wav", "dog bark", 50.0)
    assert dog[["onset", "offset", "truncated"]].values.tolist() == [[0.0, 3.0, True]]
    metadata = make_clips(corpus["events"], tmp_path / "offset", clip_length=5.0,
                          event_offset=2.5, n_background=0, progress=False)
    dog = clip_for(metadata, corpus["audio"] / "rec_a.wav", "dog bark", 50.0)
    assert dog[["onset", "offset", "truncated"]].values.tolist() == [[2.5, 5.0, True]]
    with pytest.raises(ValueError, match="event_offset must be in"):
        make_clips(corpus["events"], tmp_path / "bad", clip_length=5.0, event_offset=5.0)


def overlaps(start, stop, events):
    return bool(((events["onset"] < stop) & (events["offset"] > start)).any())


def test_background_clips_hold_no_event(corpus, tmp_path):
    out = tmp_path / "clips"
    metadata = make_clips(corpus["events"], out, clip_length=10.0, progress=False)
    background = metadata[metadata["label"] == ""]
    assert len(background) == 6 == metadata.attrs["backgrounds"]  # as many as events
    assert background["onset"].isna().all() and not background["truncated"].any()
    assert all(name.endswith("_background.wav") for name in background["clip"])
    events = corpus["events"]
    spans = []
    for _, row in background.iterrows():
        start, stop = row["clip_start"], row["clip_start"] + row["clip_length"]
        assert not overlaps(start, stop, events[events["file"] == row["source"]])
        spans.append((row["source"], start, stop))
        audio, _ = read_clip(out, row["clip"])
        assert np.sqrt(np.mean(audio ** 2)) < 0.01  # only the quiet noise
    for i, (source, start, stop) in enumerate(spans):  # nor do they overlap each other
        assert not any(s == source and a < stop and b > start for s, a, b in spans[i + 1:])


def test_not_enough_background_makes_what_fits_and_warns(corpus, tmp_path):
    # Stretches of at least 20 s without events: rec_a 16-50 and 54-80 s, rec_b 7-40 s.
    with pytest.warns(UserWarning, match=r"only 3 background clip\(s\) of 20 s fit"):
        metadata = make_clips(corpus["events"], tmp_path / "clips", clip_length=20.0,
                              progress=False)
    assert metadata.attrs["backgrounds"] == 3 == (metadata["label"] == "").sum()


def test_clips_are_split_into_folders(corpus, tmp_path):
    out = tmp_path / "clips"
    metadata = make_clips(corpus["events"], out, clip_length=5.0, n_background=3,
                          max_files_per_folder=4, progress=False)
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))
    assert on_disk == sorted(metadata["clip"].unique())
    assert len(on_disk) == 9
    folders = pd.Series([name.split("/")[0] for name in on_disk]).value_counts().sort_index()
    assert folders.to_dict() == {"0000": 4, "0001": 4, "0002": 1}


def test_resampled_clips_have_the_target_length_and_content(corpus, tmp_path):
    out = tmp_path / "clips"
    metadata = make_clips(corpus["events"], out, clip_length=7.0, target_sr=11025,
                          n_background=2, progress=False)
    assert metadata["clip"].nunique() == 8
    whole = {}
    for clip, rows in metadata.groupby("clip"):
        audio, sr = read_clip(out, clip)
        assert sr == 11025 and len(audio) == 7 * 11025
        source = rows["source"].iloc[0]
        if source not in whole:
            whole[source] = read_audio(source, 11025)
        start = int(round(rows["clip_start"].iloc[0] * 11025))
        np.testing.assert_allclose(audio, whole[source][start:start + len(audio)], atol=1e-4,
                                   rtol=0)


def test_reads_segments_of_seekable_files_and_decodes_others_once(corpus, sounds, tmp_path,
                                                                  monkeypatch):
    ogg = tmp_path / "rec_c.ogg"
    signal = np.random.default_rng(3).normal(0, 0.003, 40 * SR).astype(np.float32)
    signal[20 * SR:24 * SR] += sounds["dog bark"]
    soundfile.write(ogg, signal, SR)
    extra = pd.DataFrame({"file": [str(ogg)] * 2, "onset": [5.0, 20.0], "offset": [6.0, 24.0],
                          "label": ["chainsaw", "dog bark"]})
    events = pd.concat([corpus["events"], extra], ignore_index=True)

    decoded, frames_read = [], []
    real_read_audio, real_read = clips_module.read_audio, soundfile.SoundFile.read

    def counting_read_audio(path, *args, **kwargs):
        decoded.append(path)
        return real_read_audio(path, *args, **kwargs)

    monkeypatch.setattr(clips_module, "read_audio", counting_read_audio)

    def counting_read(self, frames=-1, *args, **kwargs):
        block = real_read(self, frames, *args, **kwargs)
        frames_read.append((self.name, len(block)))
        return block

    monkeypatch.setattr(soundfile.SoundFile, "read", counting_read)
    out = tmp_path / "clips"
    metadata = make_clips(events, out, clip_length=5.0, n_background=0, progress=False)
    assert decoded == [str(ogg)]  # once, for its two clips
    wav_reads = [n for name, n in frames_read if name.endswith(".wav")]
    assert len(wav_reads) == 6 and max(wav_reads) == 5 * SR  # one clip-sized read per event
    whole = read_audio(ogg, None)
    for clip, rows in metadata[metadata["source"] == str(ogg)].groupby("clip"):
        audio, _ = read_clip(out, clip)
        start = int(round(rows["clip_start"].iloc[0] * SR))
        np.testing.assert_allclose(audio, whole[start:start + 5 * SR], atol=HALF_LSB, rtol=0)


def test_bad_recordings_are_reported_and_skipped(corpus, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    short = bad / "short.wav"
    soundfile.write(short, np.full(5 * SR, 0.1, np.float32), SR)
    truncated = bad / "truncated.wav"
    soundfile.write(truncated, np.full(30 * SR, 0.1, np.float32), SR, subtype="PCM_16")
    truncated.write_bytes(truncated.read_bytes()[:truncated.stat().st_size // 2])
    corrupt = bad / "corrupt.wav"
    corrupt.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8)))
    missing = bad / "missing.wav"
    extra = pd.DataFrame({"file": [str(p) for p in (short, truncated, truncated, corrupt,
                                                     missing)],
                          "onset": [1.0, 1.0, 3.0, 1.0, 1.0], "offset": [2.0, 2.0, 4.0, 2.0, 2.0],
                          "label": ["dog bark"] * 5})
    events = pd.concat([corpus["events"], extra], ignore_index=True)
    out = tmp_path / "clips"
    with pytest.warns(UserWarning, match=r"skipped 5 event\(s\) of 4 recording\(s\)"):
        metadata = make_clips(events, out, clip_length=10.0, n_background=0, progress=False)
    assert metadata["clip"].nunique() == 6
    assert set(metadata["source"]) == {str(corpus["audio"] / n) for n in RECORDINGS}
    skipped = pd.read_csv(out / "skipped.tsv", sep="\t").set_index("source")
    assert skipped.loc[str(short), "reason"].startswith("shorter than the clip")
    assert skipped.loc[str(truncated), "reason"].startswith("truncated")
    assert skipped.loc[str(truncated), "events"] == 2
    assert skipped.loc[str(corrupt), "reason"].startswith("not an audio file")
    assert skipped.loc[str(missing), "reason"] == "file not found"
    err = capsys.readouterr().err
    assert f"skipped {missing}: file not found" in err


def test_a_recording_failing_mid_way_is_undone(corpus, tmp_path, monkeypatch):
    # A file can pass the header checks and fail while a later segment is read (corrupt data):
    # its clips already written are removed, and the other recordings' clips are kept.
    real_cut = clips_module._SegmentReader.cut
    calls = []

    def failing_cut(self, start, length):
        calls.append(self.recording.path)
        if self.recording.path.endswith("rec_a.wav") and calls.count(self.recording.path) == 3:
            raise BadAudioError(self.recording.path, "truncated or corrupt: lost sync")
        return real_cut(self, start, length)

    monkeypatch.setattr(clips_module._SegmentReader, "cut", failing_cut)
    out = tmp_path / "clips"
    with pytest.warns(UserWarning, match="lost sync"):
        metadata = make_clips(corpus["events"], out, clip_length=5.0, n_background=0,
                              progress=False)
    assert set(metadata["source"]) == {str(corpus["audio"] / "rec_b.wav")}
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))
    assert on_disk == sorted(metadata["clip"].unique()) == ["0000/000000_chainsaw.wav",
                                                            "0000/000001_dog_bark.wav"]


def test_refuses_to_overwrite(corpus, tmp_path):
    out = tmp_path / "clips"
    make_clips(corpus["events"], out, clip_length=5.0, n_background=1, progress=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match="already has a metadata.tsv"):
        make_clips(corpus["events"], out, clip_length=8.0, progress=False)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    (out / "metadata.tsv").unlink()  # as after an interrupted run
    with pytest.raises(FileExistsError, match="interrupted run"):
        make_clips(corpus["events"], out, clip_length=8.0, progress=False)


def many_events(corpus):
    """58 short events on rec_a, 1.5 s apart: 30 'a', 25 'b', 3 'c' (labels need not match the
    audio here)."""
    onsets = 0.5 + 1.5 * np.arange(58)
    labels = ["a"] * 30 + ["b"] * 25 + ["c"] * 3
    labels = list(np.random.default_rng(1).permutation(labels))
    return pd.DataFrame({"file": str(corpus["audio"] / "rec_a.wav"), "onset": onsets,
                         "offset": onsets + 0.3, "label": labels})


def test_dev_limits_events_per_label_and_backgrounds(corpus, tmp_path):
    events = many_events(corpus)
    full = make_clips(events, tmp_path / "full", clip_length=1.0, progress=False)
    assert full.attrs["clips_per_label"] == {"a": 30, "b": 25, "c": 3}
    assert full.attrs["backgrounds"] == 58
    dev = make_clips(events, tmp_path / "dev", clip_length=1.0, dev=True, progress=False)
    assert dev.attrs["clips_per_label"] == {"a": 20, "b": 20, "c": 3}
    assert dev.attrs["backgrounds"] == 43
    named = dev["clip"].str.extract(r"_(\w+)\.wav$")[0].value_counts().to_dict()
    assert named == {"a": 20, "b": 20, "c": 3, "background": 43}
    other = make_clips(events, tmp_path / "dev2", clip_length=1.0, dev=True, seed=5,
                       progress=False)
    assert set(other["clip_start"]) != set(dev["clip_start"])  # another seed, another subset


def test_same_seed_same_clips(corpus, tmp_path):
    runs = {}
    for name, seed in (("one", 3), ("two", 3), ("three", 4)):
        out = tmp_path / name
        runs[name] = make_clips(corpus["events"], out, clip_length=10.0, event_offset="random",
                                seed=seed, progress=False)
    pd.testing.assert_frame_equal(runs["one"], runs["two"])
    for clip in runs["one"]["clip"].unique():
        assert (tmp_path / "one" / clip).read_bytes() == (tmp_path / "two" / clip).read_bytes()
    assert not np.array_equal(runs["one"]["clip_start"].to_numpy(),
                              runs["three"]["clip_start"].to_numpy())
    # "random" keeps each event whole inside its clip
    for name, (_, _, placed) in RECORDINGS.items():
        for label, onset in placed:
            rows = clip_for(runs["one"], corpus["audio"] / name, label, onset)
            target = rows[rows["label"] == label]
            target = target[np.isclose(target["clip_start"] + target["onset"], onset)].iloc[0]
            assert 0 <= target["onset"] and target["offset"] <= 10.0 and not target["truncated"]


def parse(argv):
    parser = argparse.ArgumentParser(prog="spectrain")
    add_clips_command(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_end_to_end(corpus, tmp_path, capsys):
    tables = tmp_path / "tables"
    tables.mkdir()
    # A Raven table with a Begin File column for rec_a, and the aliased CSV for rec_b.
    events = read_annotations(corpus["raven"])
    write_raven_table(events, tables / "rec_a.selections.txt", sr=SR, audio_root=corpus["audio"])
    (tables / "rec_b.csv").write_text(corpus["csv"].read_text().replace("../audio/", ""))
    out = tmp_path / "clips"
    args = parse(["clips", "--annotations", str(tables), "--audio-root", str(corpus["audio"]),
                  "--output", str(out), "--clip-length", "8", "--event-offset", "1.5",
                  "--target-sr", "16000", "--backgrounds", "2", "--seed", "1", "--no-progress"])
    assert run_clips(args) == 0
    printed = capsys.readouterr().out
    assert f"8 clips in {out}" in printed
    assert re.search(r"chainsaw\s+3", printed) and re.search(r"dog bark\s+3", printed)
    assert re.search(r"background\s+2", printed) and "skipped files: none" in printed
    metadata = read_metadata(out)
    assert metadata["clip"].nunique() == 8
    audio, sr = read_clip(out, metadata["clip"].iloc[0])
    assert sr == 16000 and len(audio) == 8 * 16000
    targets = metadata[metadata["clip"].str.contains("dog_bark") & (metadata["label"] == "dog bark")
                       & ~metadata["truncated"]]
    assert set(targets["onset"].round(6)) == {1.5}

    with pytest.raises(SystemExit, match=r"^spectrain clips: .*already has a metadata.tsv"):
        run_clips(args)
    with pytest.raises(SystemExit, match=r"^spectrain clips: --event-offset must be"):
        run_clips(parse(["clips", "--annotations", str(tables), "--output",
                         str(tmp_path / "x"), "--event-offset", "middle"]))
    with pytest.raises(SystemExit, match=r"^spectrain clips: --annotations .* does not exist"):
        run_clips(parse(["clips", "--annotations", str(tmp_path / "none.csv"), "--output",
                         str(tmp_path / "y")]))
    (tables / "broken.csv").write_text("file,onset,label\nr.wav,1,dog\n")
    with pytest.raises(SystemExit, match=r"^spectrain clips: .*broken.csv: no offset column"):
        run_clips(parse(["clips", "--annotations", str(tables), "--output", str(tmp_path / "z")]))
