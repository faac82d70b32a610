"""Shared fixtures: real audio files made in the test, and the real ESC-10 folder."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

ESC10 = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ESC-10"


@pytest.fixture
def esc10():
    if not ESC10.is_dir():
        pytest.skip(f"ESC-10 not found at {ESC10}")
    return ESC10


def write_tone(path, seconds=1.0, sr=16000, frequency=440.0, amplitude=0.5, subtype=None):
    t = np.arange(int(seconds * sr)) / sr
    soundfile.write(path, (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32), sr,
                    subtype=subtype)
    return Path(path)


@pytest.fixture
def bad_audio_files(tmp_path):
    """One file per kind of bad input, each named by the word its skip reason must contain."""
    folder = tmp_path / "bad"
    folder.mkdir()
    files = {}
    files["empty"] = folder / "empty.wav"
    files["empty"].write_bytes(b"")
    files["not an audio file"] = folder / "notes.wav"
    files["not an audio file"].write_text("this is a text file with an audio extension\n" * 20)
    truncated = write_tone(folder / "truncated.wav", seconds=2.0, subtype="PCM_16")
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    files["truncated"] = truncated
    silent = folder / "silent.wav"
    soundfile.write(silent, np.zeros(16000, np.float32), 16000)
    files["silent"] = silent
    corrupt = folder / "corrupt.ogg"
    corrupt.write_bytes(b"OggS" + bytes(np.random.default_rng(0).integers(0, 256, 3000, np.uint8)))
    files["corrupt"] = corrupt
    return files
