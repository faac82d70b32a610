"""Decoding, validation and chunking (modules.data.audio), on small generated files."""

import pickle
import threading

import numpy as np
import pytest
import soundfile

from modules.data.audio import (BadAudioError, audio_info, check_audio, chunk_audio,
                                decode_to_chunks, read_audio)

SR = 22050


def tone(seconds, sr=SR, channels=1, frequency=440.0, amplitude=0.5):
    t = np.arange(int(round(seconds * sr))) / sr
    signal = (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    if channels == 1:
        return signal
    # Different levels per channel, so that a mixdown is distinguishable from one channel.
    return np.stack([signal * (c + 1) / channels for c in range(channels)], axis=1)


def write(path, audio, sr=SR, **kwargs):
    soundfile.write(str(path), audio, sr, **kwargs)
    return path


def reason_of(path, **kwargs):
    with pytest.raises(BadAudioError) as caught:
        read_audio(path, SR, **kwargs)
    assert caught.value.path == str(path)
    assert str(caught.value) == f"{path}: {caught.value.reason}"
    return caught.value.reason


# --- good files -------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix, subtype", [(".wav", "PCM_16"), (".flac", "PCM_16"),
                                             (".ogg", "VORBIS")])
def test_read_good_files(tmp_path, suffix, subtype):
    source = tone(1.0)
    path = write(tmp_path / f"tone{suffix}", source, subtype=subtype)
    audio = read_audio(path, SR)
    assert audio.dtype == np.float32 and audio.shape == (SR,)
    assert audio.flags["C_CONTIGUOUS"]
    # Lossless formats round-trip to 16-bit precision; Vorbis is close in level.
    if suffix != ".ogg":
        np.testing.assert_allclose(audio, source, atol=1e-4)
    else:
        assert abs(np.abs(audio).max() - 0.5) < 0.05
    assert read_audio(str(path).encode(), SR).shape == (SR,)  # bytes, as from tf.numpy_function


def test_stereo_mixdown_is_channel_mean(tmp_path):
    stereo = tone(0.5, channels=2)
    path = write(tmp_path / "stereo.wav", stereo, subtype="FLOAT")
    both = read_audio(path, SR, mono=False)
    assert both.shape == (len(stereo), 2)
    np.testing.assert_allclose(read_audio(path, SR), stereo.mean(axis=1), atol=1e-7)


def test_resampling_length(tmp_path):
    path = write(tmp_path / "hi.wav", tone(2.0, sr=44100), sr=44100)
    audio = read_audio(path, 22050)
    assert audio.dtype == np.float32 and len(audio) == 44100
    assert len(read_audio(path, None)) == 88200  # None keeps the file's rate
    # The tone survives resampling at its level (HQ resampler, no aliasing at 440 Hz).
    assert abs(np.abs(audio[1000:-1000]).max() - 0.5) < 0.01


def test_audio_info_and_check_audio(tmp_path):
    path = write(tmp_path / "info.flac", tone(1.5, sr=16000, channels=2), sr=16000)
    info = audio_info(path)
    assert info == {"duration_s": 1.5, "sample_rate": 16000, "channels": 2, "frames": 24000,
                    "format": "FLAC", "subtype": "PCM_16"}
    assert check_audio(path) == info
    with pytest.raises(BadAudioError, match="file not found"):
        audio_info(tmp_path / "missing.wav")


# --- bad files ---------------------------------------------------------------------------------

def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert reason_of(path) == "empty file (0 bytes)"


def test_text_file_is_not_audio(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    assert reason_of(path).startswith("not an audio file: ")
    with pytest.raises(BadAudioError, match="not an audio file"):
        audio_info(path)


def test_truncated_wav(tmp_path):
    path = write(tmp_path / "cut.wav", tone(1.0), subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    # libsndfile itself does not complain: it shrinks its frame count to what the file holds.
    assert soundfile.info(str(path)).frames < SR
    reason = reason_of(path)
    expected_frames = (len(data) // 2 - 44) // 2  # 44-byte header, 2 bytes per frame
    assert reason == f"truncated: header says {SR} frames, only {expected_frames} could be read"


def test_truncated_ogg(tmp_path):
    noise = 0.3 * np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32)
    path = write(tmp_path / "cut.ogg", noise, subtype="VORBIS")  # noise: several Ogg pages
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    # libsndfile opens the cut file without complaint, reports the frames of the complete
    # pages as the length, and reads them: only the Ogg page walk notices the cut.
    info = soundfile.info(str(path))
    assert 0 < info.frames < 3 * SR
    assert len(soundfile.read(str(path))[0]) == info.frames
    assert reason_of(path).startswith("truncated: last Ogg page needs ")
    # Cut inside the header pages, libsndfile refuses to open it ("malformed").
    path.write_bytes(data[:len(data) // 20])
    assert reason_of(path).startswith("truncated or corrupt: ")


def test_truncated_flac(tmp_path):
    path = write(tmp_path / "cut.flac", tone(2.0))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    assert reason_of(path).startswith("truncated or corrupt: ")


def test_silent_file(tmp_path):
    path = write(tmp_path / "zeros.wav", np.zeros(SR, np.float32))
    assert reason_of(path) == "all silent (peak -inf dBFS)"
    # A very quiet file is silent for a -90 dB threshold but not for -200 dB.
    quiet = write(tmp_path / "quiet.wav", tone(0.5, amplitude=1e-5), subtype="FLOAT")
    assert reason_of(quiet).startswith("all silent (peak -100.0 dBFS")
    assert len(read_audio(quiet, SR, silence_threshold_db=-200.0)) == SR // 2
    assert len(read_audio(quiet, SR, silence_threshold_db=None)) == SR // 2


def test_missing_file(tmp_path):
    assert reason_of(tmp_path / "nowhere.wav") == "file not found"


def test_no_audio_frames(tmp_path):
    path = write(tmp_path / "header_only.wav", np.zeros(0, np.float32))
    assert reason_of(path) == "no audio frames"


def test_bad_audio_error_pickles():
    error = pickle.loads(pickle.dumps(BadAudioError("/x.wav", "file not found")))
    assert (error.path, error.reason, str(error)) == ("/x.wav", "file not found",
                                                     "/x.wav: file not found")


def test_reading_is_thread_safe(tmp_path):
    paths = [write(tmp_path / f"t{i}.wav", tone(0.5, frequency=200 + 100 * i)) for i in range(4)]
    expected = [read_audio(p, 16000) for p in paths]
    failures = []

    def work(i):
        for _ in range(5):
            if not np.array_equal(read_audio(paths[i % 4], 16000), expected[i % 4]):
                failures.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


# --- chunking -----------------------------------------------------------------------------------

SR_CHUNK = 100  # 100 Hz keeps the arithmetic readable: 1 s = 100 samples


def ramp(seconds):
    return np.arange(1, int(seconds * SR_CHUNK) + 1, dtype=np.float32)


def test_exactly_one_window():
    chunks, padded = chunk_audio(ramp(5), SR_CHUNK, 5.0, 5.0)
    assert chunks.shape == (1, 500) and chunks.dtype == np.float32
    assert padded.tolist() == [False]


def test_short_remainder_is_dropped():
    chunks, padded = chunk_audio(ramp(12), SR_CHUNK, 5.0, 5.0)  # 2 full windows + 2 s
    assert chunks.shape == (2, 500) and padded.tolist() == [False, False]
    np.testing.assert_array_equal(chunks[1], ramp(12)[500:1000])


def test_long_remainder_is_padded():
    chunks, padded = chunk_audio(ramp(13), SR_CHUNK, 5.0, 5.0)  # 2 full windows + 3 s
    assert chunks.shape == (3, 500) and padded.tolist() == [False, False, True]
    np.testing.assert_array_equal(chunks[2, :300], ramp(13)[1000:])
    assert not chunks[2, 300:].any()


def test_overlapping_windows():
    # Windows start every 2.5 s: 0, 2.5, 5 (ends at 10 s); the uncovered 2 s are dropped.
    chunks, padded = chunk_audio(ramp(12), SR_CHUNK, 5.0, 2.5)
    assert chunks.shape == (3, 500) and not padded.any()
    np.testing.assert_array_equal(chunks[2], ramp(12)[500:1000])
    # 13 s: a 4th full window fits (7.5-12.5 s); the 0.5 s left is dropped.
    assert chunk_audio(ramp(13), SR_CHUNK, 5.0, 2.5)[0].shape == (4, 500)


def test_overlap_remainder_counts_only_uncovered_samples():
    # 16 s, 5 s windows every 4 s: full windows at 0, 4, 8 (end 13 s); 3 s uncovered > 2.5 s,
    # so a 4th window starts at 12 s, holding 4 s of audio (1 s overlaps) and 1 s of padding.
    chunks, padded = chunk_audio(ramp(16), SR_CHUNK, 5.0, 4.0)
    assert chunks.shape == (4, 500) and padded.tolist() == [False, False, False, True]
    np.testing.assert_array_equal(chunks[3, :400], ramp(16)[1200:])
    assert not chunks[3, 400:].any()
    # 15 s: full windows end at 13 s; only 2 s uncovered (although 3 s follow the last start +
    # step), so nothing is added.
    assert chunk_audio(ramp(15), SR_CHUNK, 5.0, 4.0)[0].shape == (3, 500)


def test_clip_shorter_than_a_window_gives_one_padded_chunk():
    chunks, padded = chunk_audio(ramp(1), SR_CHUNK, 5.0, 5.0)  # far below half a window
    assert chunks.shape == (1, 500) and padded.tolist() == [True]
    np.testing.assert_array_equal(chunks[0, :100], ramp(1))
    assert not chunks[0, 100:].any()


def test_fixed_mode_pads_and_trims():
    chunks, padded = chunk_audio(ramp(3), SR_CHUNK, 5.0, 5.0, mode="fixed")
    assert chunks.shape == (1, 500) and padded.tolist() == [True]
    chunks, padded = chunk_audio(ramp(12), SR_CHUNK, 5.0, 1.0, mode="fixed")
    assert chunks.shape == (1, 500) and padded.tolist() == [False]
    np.testing.assert_array_equal(chunks[0], ramp(12)[:500])


def test_chunk_argument_errors():
    with pytest.raises(ValueError, match="unknown chunking mode 'windows'"):
        chunk_audio(ramp(5), SR_CHUNK, 5.0, 5.0, mode="windows")
    with pytest.raises(ValueError, match="1-D"):
        chunk_audio(np.zeros((10, 2), np.float32), SR_CHUNK, 5.0, 5.0)
    with pytest.raises(ValueError, match="step_size"):
        chunk_audio(ramp(12), SR_CHUNK, 5.0, 0.0)
    empty_chunks, empty_padded = chunk_audio(np.zeros(0, np.float32), SR_CHUNK, 5.0, 5.0)
    assert empty_chunks.shape == (0, 500) and empty_padded.shape == (0,)


# --- decode_to_chunks ---------------------------------------------------------------------------

def test_decode_to_chunks_good_file(tmp_path):
    path = write(tmp_path / "seven.wav", tone(7.0, sr=44100), sr=44100)
    chunks, padded, error = decode_to_chunks(path, SR, 5.0, 5.0, "chunk", -90.0)
    assert error == ""
    assert chunks.shape == (1, 5 * SR) and chunks.dtype == np.float32  # 2 s remainder dropped
    assert padded.tolist() == [False]


def test_decode_to_chunks_reports_bad_files(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    silent = write(tmp_path / "silent.wav", np.zeros(SR, np.float32))
    for path, reason in [(empty, "empty file (0 bytes)"), (silent, "all silent (peak -inf dBFS)"),
                         (tmp_path / "missing.ogg", "file not found")]:
        chunks, padded, error = decode_to_chunks(str(path).encode(), SR, 5.0, 5.0, "chunk", -90.0)
        assert error == reason
        assert chunks.shape == (0, 5 * SR) and chunks.dtype == np.float32
        assert padded.shape == (0,) and padded.dtype == bool


# --- silence trimming (parameters.trim_silence_db) ---------------------------------------------

def test_trimming_cuts_the_leading_and_trailing_silence_at_a_level_below_the_peak():
    from modules.data.audio import loud_span, trim_silence

    # ESC-50's clips: a short event padded with digital silence to 5 s, here with a faint
    # (-70 dB) hiss in the padding that -60 dB counts as silence and -80 dB does not.
    event = tone(0.5)
    hiss = np.full(SR, 0.5 * 10 ** (-70 / 20), np.float32)
    clip = np.concatenate([np.zeros(SR, np.float32), hiss, event, np.zeros(2 * SR, np.float32)])
    first, stop = loud_span(clip, -60.0)
    assert (first, stop) == (2 * SR + 1, 2 * SR + np.flatnonzero(event)[-1] + 1)
    assert np.array_equal(trim_silence(clip, -60.0), clip[first:stop])
    assert loud_span(clip, -80.0)[0] == SR  # the hiss is kept
    assert len(trim_silence(clip, None)) == len(clip)
    assert len(trim_silence(np.zeros(10, np.float32), -60.0)) == 10  # nothing to measure against


def test_a_job_that_trims_cuts_its_windows_from_the_event_alone(tmp_path):
    from modules.pipeline import AudioConfig, SkippedFiles, decoded_dataset, fill_cache

    clip = np.concatenate([np.zeros(SR // 2, np.float32), tone(0.8), np.zeros(3 * SR, np.float32)])
    path = write(tmp_path / "padded.wav", clip)
    counts = {}
    for trim in (None, -60.0):
        audio = AudioConfig(sr=SR, audio_length=1.0, step_size=0.5, trim_silence_db=trim)
        decoded = decoded_dataset([path], np.eye(1, dtype=np.float32), audio, SkippedFiles())
        meta = fill_cache(decoded, 1, "", progress=False, keep_audio=True)
        counts[trim] = len(meta["audio"])
    assert counts[None] == 7  # 4.3 s: seven full windows (the 0.3 s tail is dropped)
    assert counts[-60.0] == 1  # 0.8 s of tone, padded to one window
    window = meta["audio"][0]
    event = tone(0.8)[1:]  # from its first loud sample (sin(0) is 0) to its end
    np.testing.assert_allclose(window[:len(event)], event, atol=1e-4)  # 16-bit file
    assert not window[len(event):].any()  # then padding, not the clip's silence
