"""A small multi-label dataset from real ESC-10 recordings, laid out as DCASE 2019 task 4 (DESED)
ships its weakly labelled part: ``metadata/train/weak.tsv`` with the header
``filename<TAB>event_labels`` and each clip's labels comma-separated (as in DESED's
``weak.tsv``: ``Y-BJNMHMZDcU_50.000_60.000.wav<TAB>Alarm_bell_ringing,Dog``), and the clips in
``audio/train/weak/`` (YouTube-id file names).

Each clip is one ESC-10 recording, or two of different classes mixed at equal level: a clip
with two classes holds both, as a weak label says.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import soundfile

CLASSES = {"Dog bark": "Dog", "Rooster": "Rooster", "Rain": "Rain"}


def _esc10_files(esc10: Path, folder: str, n: int) -> list[Path]:
    [class_folder] = [p for p in esc10.iterdir() if p.name.endswith(folder)]
    return sorted(class_folder.glob("*.ogg"))[:n]


def _read(path: Path, sr: int, seconds: float) -> np.ndarray:
    from modules.data import read_audio

    audio = read_audio(str(path), sr)[: int(sr * seconds)]
    return np.pad(audio, (0, int(sr * seconds) - len(audio)))


def make_weak_dataset(root: Path, esc10: Path, per_class: int = 6, sr: int = 8000,
                      seconds: float = 2.5) -> Path:
    """Write the dataset under ``root``; returns the path of ``weak.tsv``."""
    sources = {label: _esc10_files(esc10, folder, 2 * per_class)
               for folder, label in CLASSES.items()}
    audio_dir = root / "audio" / "train" / "weak"
    audio_dir.mkdir(parents=True, exist_ok=True)
    rows, clip = [], 0
    for label, files in sources.items():  # single-class clips
        for path in files[:per_class]:
            rows.append((_read(path, sr, seconds), [label]))
    pairs = list(itertools.combinations(sources, 2))
    for k in range(per_class):  # mixtures of two classes, each pair in turn
        first, second = pairs[k % len(pairs)]
        mixed = 0.5 * (_read(sources[first][per_class + k], sr, seconds)
                       + _read(sources[second][per_class + k], sr, seconds))
        rows.append((mixed, [first, second]))
    lines = ["filename\tevent_labels"]
    for audio, labels in rows:
        name = f"Y{clip:011d}_0.000_{seconds:.3f}.wav"
        soundfile.write(audio_dir / name, audio.astype(np.float32), sr)
        lines.append(f"{name}\t{','.join(labels)}")
        clip += 1
    weak = root / "metadata" / "train" / "weak.tsv"
    weak.parent.mkdir(parents=True, exist_ok=True)
    weak.write_text("\n".join(lines) + "\n")
    return weak
