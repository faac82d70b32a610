"""Long wildlife-like recordings with known events, made of real ESC-10 sounds, for SED tests.

* :func:`make_long_recording`: real ESC-10 clips mixed into a background (pink noise, or a real
  recording looped) at known times and a given SNR; returns the events table
  (file, onset, offset, label) of :mod:`modules.sed.annotations`.
* :func:`write_raven`: that table as a Raven selection table (the project's writer).
* :func:`make_elephant_dataset`: an Elephant-Listening-Project-like folder: WAV recordings, each
  with its ``<recording>.Table.1.selections.txt``, labels "Rumble" and "Gunshot".
* :func:`make_repeated_recording`: one recording repeated N times, written block by block (for
  memory checks on very long inputs).

Annotations are where the sound is: each ESC-10 clip is trimmed to the extent whose short-time
energy is within 40 dB of its loudest frame (ESC-10 clips are often padded with digital
silence), and the event is annotated over exactly that trimmed extent. The default background
is pink noise, flat below 100 Hz, at an RMS of 0.02 (about -34 dBFS); an event's SNR is its RMS
over its annotated extent against that.

Stand-ins for the elephant labels (see :data:`ELEPHANT_STAND_INS`):

* "Rumble" <- ESC-10 "Helicopter": elephant rumbles are long (2-6 s), low-frequency (10-40 Hz
  fundamental, energy mostly under 500 Hz), harmonic sounds; the helicopter's rotor drone is the
  ESC-10 class closest to that: sustained, low and periodic. ("Sea waves" is low but broadband
  noise, without harmonic structure.)
* "Gunshot" <- ESC-10 "Dog bark": gunshots are short, loud, broadband impulses with a sharp
  onset. Dog barks are the loudest short transients in ESC-10 ("Clock tick" is too quiet,
  "Person sneeze" is softer and longer, "Fire crackling" is continuous).

Deterministic from ``seed``. No pytest import: demos and smoke runs import this module too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd
import soundfile

from modules.data.audio import read_audio
from modules.sed.annotations import sort_events, write_raven_table

PathArg = Union[str, os.PathLike]

ESC10 = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ESC-10"
ELEPHANT_STAND_INS = {"Helicopter": "Rumble", "Dog bark": "Gunshot"}
TRIM_DB = 40.0  # a clip's frames quieter than its loudest frame by more than this are trimmed
BACKGROUND_RMS = 0.02  # about -34 dBFS
MIN_GAP_S = 1.0  # between generated events, and before the first / after the last
_FRAME_S, _HOP_S = 0.02, 0.01


# --- ESC-10 -----------------------------------------------------------------------------------

def esc10_classes(root: PathArg = ESC10) -> dict[str, Path]:
    """{class name: folder}: ``"001 - Dog bark"`` -> ``"Dog bark"``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"ESC-10 not found at {root}")
    out = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        name = folder.name.split(" - ", 1)[-1].strip()
        out[name] = folder
    return out


def _class_folder(name: str, root: PathArg) -> Path:
    classes = esc10_classes(root)
    for key, folder in classes.items():
        if key.lower() == name.lower():
            return folder
    raise ValueError(f"no ESC-10 class {name!r}; classes: {', '.join(classes)}")


def trim_extent(audio: np.ndarray, sr: int, threshold_db: float = TRIM_DB) -> tuple[int, int]:
    """(start, stop) samples of the part of ``audio`` within ``threshold_db`` of its loudest
    20 ms frame (10 ms hop)."""
    frame, hop = int(round(_FRAME_S * sr)), int(round(_HOP_S * sr))
    if len(audio) <= frame:
        return 0, len(audio)
    starts = np.arange(0, len(audio) - frame + 1, hop)
    windows = np.lib.stride_tricks.sliding_window_view(audio, frame)[starts]
    energy = 10 * np.log10(np.mean(windows.astype(np.float64) ** 2, axis=1) + 1e-20)
    loud = np.flatnonzero(energy >= energy.max() - threshold_db)
    return int(starts[loud[0]]), int(min(len(audio), starts[loud[-1]] + frame))


def load_event_sound(path: PathArg, sr: int) -> np.ndarray:
    """One ESC-10 clip at ``sr``, mono float64, trimmed of leading/trailing near-silence."""
    audio = read_audio(path, sr, mono=True, silence_threshold_db=None).astype(np.float64)
    start, stop = trim_extent(audio, sr)
    return audio[start:stop]


# --- backgrounds ------------------------------------------------------------------------------

def pink_noise(n: int, rng: np.random.Generator, sr: int = 16000, corner_hz: float = 100.0
               ) -> np.ndarray:
    """Pink (1/f power) noise of ``n`` samples with RMS 1, flat below ``corner_hz`` (as after a
    recorder's high-pass: without it the lowest octaves make the level swing by several dB)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    frequencies = np.fft.rfftfreq(n, 1.0 / sr)
    scale = 1.0 / np.sqrt(np.maximum(frequencies, corner_hz))
    scale[0] = 0.0
    noise = np.fft.irfft(spectrum * scale, n)
    return noise / (np.sqrt(np.mean(noise ** 2)) + 1e-20)


def _background(background, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(background, str) and background == "noise":
        base = pink_noise(n, rng, sr)
    else:
        source = read_audio(background, sr, mono=True, silence_threshold_db=None
                            ).astype(np.float64)
        if not len(source):
            raise ValueError(f"background {background}: no audio")
        base = np.resize(source, n)  # looped to the length
        base = base / (np.sqrt(np.mean(base ** 2)) + 1e-20)
    return BACKGROUND_RMS * base


# --- long recordings --------------------------------------------------------------------------

def _pick_clip(folder: Path, rng: np.random.Generator) -> Path:
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".ogg", ".wav", ".flac"))
    if not clips:
        raise ValueError(f"{folder}: no audio clips")
    return clips[int(rng.integers(len(clips)))]


def _place(lengths: list[int], n: int, sr: int, rng: np.random.Generator) -> list[int]:
    """Start samples for events of ``lengths`` (in the given order), at least MIN_GAP_S apart
    and from the ends, the rest of the free time spread at random."""
    gap = int(round(MIN_GAP_S * sr))
    slack = n - sum(lengths) - gap * (len(lengths) + 1)
    if slack < 0:
        raise ValueError(f"{len(lengths)} events ({sum(lengths) / sr:.1f} s) with {MIN_GAP_S:g} s "
                         f"gaps do not fit into {n / sr:g} s")
    shares = rng.dirichlet(np.ones(len(lengths) + 1))
    extra = np.floor(shares * slack).astype(int)
    starts, position = [], 0
    for length, more in zip(lengths, extra):
        position += gap + int(more)
        starts.append(position)
        position += length
    return starts


def make_long_recording(path: PathArg, events_spec, duration: float, sr: int = 16000,
                        background="noise", seed: int = 0, snr_db: float = 10.0,
                        labels: Optional[Mapping[str, str]] = None,
                        esc10_root: PathArg = ESC10) -> pd.DataFrame:
    """Mix real ESC-10 sounds into a background at known times; write a 16-bit mono WAV.

    Args:
        path: the WAV to write (its folder is created).
        events_spec: either a list of ``(class, onset)`` or ``(class, onset, clip_path)`` (the
            onset, in s, is where the trimmed sound starts; the clip is picked at random when
            not given), or a dict ``{class: n}``: n events of each class at random
            non-overlapping times (at least 1 s apart and from the ends).
        duration: the recording's length (s).
        sr: its sample rate.
        background: "noise" (pink noise) or the path of a recording, looped to the length.
            Either way scaled to an RMS of ``BACKGROUND_RMS``.
        seed: makes the clips, the times and the noise reproducible.
        snr_db: each event's RMS over its annotated extent relative to the background's RMS.
        labels: ESC-10 class -> label written in the table (e.g. ``ELEPHANT_STAND_INS``);
            unmapped classes keep their ESC-10 name.
        esc10_root: the ESC-10 folder.

    Returns:
        The events (file: absolute path, onset, offset, label), sorted by onset; the ESC-10
        clip of each event is in ``events.attrs["sources"]`` (same order).

    Raises:
        ValueError: an unknown class, events that overlap or do not fit into the recording.
    """
    path = Path(path).absolute()
    rng = np.random.default_rng(seed)
    n = int(round(duration * sr))
    if n <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    labels = dict(labels or {})

    if isinstance(events_spec, Mapping):
        names = [name for name, count in events_spec.items() for _ in range(int(count))]
        names = [names[i] for i in rng.permutation(len(names))]
        sources = [_pick_clip(_class_folder(name, esc10_root), rng) for name in names]
        sounds = [load_event_sound(source, sr) for source in sources]
        starts = _place([len(s) for s in sounds], n, sr, rng)
    else:
        names, sources, sounds, starts = [], [], [], []
        for item in events_spec:
            name, onset = item[0], float(item[1])
            source = Path(item[2]) if len(item) > 2 else _pick_clip(
                _class_folder(name, esc10_root), rng)
            names.append(name)
            sources.append(source)
            sounds.append(load_event_sound(source, sr))
            starts.append(int(round(onset * sr)))
    spans = sorted((start, start + len(sound), name)
                   for start, sound, name in zip(starts, sounds, names))
    for (a0, a1, an), (b0, b1, bn) in zip(spans, spans[1:]):
        if b0 < a1:
            raise ValueError(f"events overlap: {an} at {a0 / sr:g}-{a1 / sr:g} s and {bn} at "
                             f"{b0 / sr:g}-{b1 / sr:g} s")
    for start, stop, name in spans:
        if start < 0 or stop > n:
            raise ValueError(f"{name} at {start / sr:g}-{stop / sr:g} s does not fit into "
                             f"{duration:g} s")

    mix = _background(background, n, sr, rng)
    gain = BACKGROUND_RMS * 10 ** (snr_db / 20)
    for start, sound in zip(starts, sounds):
        rms = np.sqrt(np.mean(sound ** 2)) + 1e-20
        mix[start:start + len(sound)] += sound * (gain / rms)
    peak = np.abs(mix).max()
    if peak > 0.99:  # scale the whole mix: SNRs unchanged
        mix *= 0.99 / peak
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, mix.astype(np.float32), sr, subtype="PCM_16")

    order = np.argsort(starts, kind="stable")
    events = pd.DataFrame({
        "file": [str(path)] * len(starts),
        "onset": [starts[i] / sr for i in order],
        "offset": [(starts[i] + len(sounds[i])) / sr for i in order],
        "label": [labels.get(names[i], names[i]) for i in order],
    })
    events.attrs["sources"] = [str(sources[i]) for i in order]
    return events


def write_raven(events: pd.DataFrame, path: PathArg, sr: Optional[float] = None) -> Path:
    """``events`` as a Raven selection table (``modules.sed.annotations.write_raven_table``)."""
    return write_raven_table(events, path, sr=sr)


def make_elephant_dataset(root: PathArg, n_recordings: int = 3, duration: float = 120.0,
                          seed: int = 0, sr: int = 16000, per_class: int = 3,
                          snr_db: float = 10.0) -> dict:
    """An ELP-like folder: ``nn01a_20180126_000000.wav`` ... with one Raven table each.

    Each recording has ``per_class`` "Rumble" (ESC-10 Helicopter) and "Gunshot" (ESC-10 Dog
    bark) events at random non-overlapping times in pink noise.

    Returns:
        dict with ``root``, ``recordings`` and ``tables`` (lists of paths, in the same order)
        and ``events`` (all recordings' events, sorted as :func:`read_annotations` sorts them).
    """
    root = Path(root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    recordings, tables, parts = [], [], []
    for i in range(n_recordings):
        name = f"nn{i + 1:02d}a_201801{26 + i % 4:02d}_000000"
        wav = root / f"{name}.wav"
        events = make_long_recording(
            wav, {stand_in: per_class for stand_in in ELEPHANT_STAND_INS}, duration, sr=sr,
            seed=seed * 1000 + i, snr_db=snr_db, labels=ELEPHANT_STAND_INS)
        table = write_raven(events, root / f"{name}.Table.1.selections.txt", sr=sr)
        recordings.append(wav)
        tables.append(table)
        parts.append(events)
    events = sort_events(pd.concat(parts, ignore_index=True))
    return {"root": root, "recordings": recordings, "tables": tables, "events": events}


def make_repeated_recording(path: PathArg, source_wav: PathArg, times: int,
                            block_frames: int = 1 << 16) -> Path:
    """``source_wav`` repeated ``times`` times into ``path`` (same rate, channels and subtype),
    written block by block: never more than ``block_frames`` frames in memory."""
    if times < 1:
        raise ValueError(f"times must be at least 1, got {times}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = soundfile.info(str(source_wav))
    with soundfile.SoundFile(str(path), "w", samplerate=info.samplerate,
                             channels=info.channels, subtype=info.subtype,
                             format="WAV" if info.frames * times * info.channels * 4 < 2 ** 31
                             else "RF64") as out:
        for _ in range(times):
            with soundfile.SoundFile(str(source_wav)) as source:
                for block in source.blocks(blocksize=block_frames, dtype="int16"
                                           if info.subtype == "PCM_16" else "float32",
                                           always_2d=True):
                    out.write(block)
    return path
