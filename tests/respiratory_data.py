"""Small respiratory-sound datasets in the exact formats of the real ones, for tests and smoke runs.

* :func:`make_icbhi`: the ICBHI 2017 Respiratory Sound Database layout (recordings named like
  ``101_1b1_Al_sc_Meditron.wav``, one cycle annotation ``.txt`` per recording,
  ``ICBHI_Challenge_diagnosis.txt`` and ``ICBHI_challenge_train_test.txt``).
* :func:`make_spreadsheet_dataset`: a folder of recordings described by one ``.xlsx`` or
  ``.csv`` spreadsheet (file, patient, diagnosis, sound type), like the "Jordan" set.

The audio is synthetic but learnable: breath-like band-limited noise shaped by the respiratory
cycles; crackles are short (5-15 ms) clicks at 5-20 per second inside cycles flagged crackle;
wheezes are a sustained 250-600 Hz tone (with a weaker 2nd harmonic) inside cycles flagged
wheeze. Pneumonia patients have crackles far more often than the others. Everything is
deterministic from ``seed``.

No pytest import here: trainers' smoke tests import this module too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np
import pandas as pd
import soundfile

PathArg = Union[str, os.PathLike]

LOCATIONS = ("Tc", "Al", "Ar", "Pl", "Pr", "Ll", "Lr")
DEVICES = ("Meditron", "LittC2SE", "Litt3200", "AKGC417L")
OTHER_DIAGNOSES = ("URTI", "COPD", "Healthy", "Bronchiectasis", "Bronchiolitis", "LRTI",
                   "Asthma")
WHEEZY_DIAGNOSES = ("COPD", "Asthma", "Bronchiolitis")
SPREADSHEET_DIAGNOSES = ("Asthma", "COPD", "Heart failure", "N", "BRON", "Lung Fibrosis")
SOUND_WORDS = {
    "none": ("Normal", "N"),
    "crackle": ("Crep", "Crackles"),
    "wheeze": ("Wheezes", "wheeze"),
    "both": ("Crep + Wheeze", "Crackles, wheezes"),
}
SPREADSHEET_HEADERS = {"file": "File Name", "patient": "Patient ID", "diagnosis": "Diagnosis",
                       "sound": "Sound Type"}

# Chance that a cycle is flagged (crackle, wheeze), by kind of patient.
_CYCLE_FLAG_RATES = {"pneumonia": (0.8, 0.1), "wheezy": (0.1, 0.5), "other": (0.1, 0.15)}


# --- audio ------------------------------------------------------------------------------------

def _band_noise(rng: np.random.Generator, n: int, sr: int, low: float, high: float
                ) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    frequencies = np.fft.rfftfreq(n, 1.0 / sr)
    spectrum[(frequencies < low) | (frequencies > high)] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.abs(noise).max() + 1e-12)


def synthesize(cycles: np.ndarray, duration: float, sr: int, rng: np.random.Generator
               ) -> np.ndarray:
    """A recording of ``duration`` seconds whose cycles (``start end crackle wheeze`` rows)
    shape the breath noise and carry the flagged crackles and wheezes; float32 in [-0.9, 0.9]."""
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    breath = _band_noise(rng, n, sr, 100.0, min(1000.0, 0.45 * sr))
    envelope = np.full(n, 0.05)
    signal = np.zeros(n)
    for start, end, crackle, wheeze in np.asarray(cycles, dtype=float).reshape(-1, 4):
        first, last = int(start * sr), min(int(end * sr), n)
        if last <= first:
            continue
        phase = (t[first:last] - start) / (end - start)
        # Inhalation (first 40 %) then a longer, softer exhalation.
        envelope[first:last] = np.where(phase < 0.4, np.sin(np.pi * phase / 0.8),
                                        0.7 * np.cos(np.pi * (phase - 0.4) / 1.2)) * 0.25 + 0.05
        if crackle:
            rate = rng.uniform(5.0, 20.0)
            for onset in rng.uniform(start, end, size=max(1, int(rate * (end - start)))):
                length = rng.uniform(0.005, 0.015)
                m = int(length * sr)
                i = int(onset * sr)
                if m < 2 or i + m > n:
                    continue
                k = np.arange(m) / sr
                frequency = rng.uniform(250.0, min(1200.0, 0.4 * sr))
                click = np.sin(2 * np.pi * frequency * k) * np.exp(-k / (length / 4))
                signal[i:i + m] += rng.choice((-1.0, 1.0)) * rng.uniform(0.5, 0.8) * click
        if wheeze:
            cycle = end - start
            begin = start + rng.uniform(0.0, 0.2) * cycle
            stop = end - rng.uniform(0.0, 0.2) * cycle
            i, j = int(begin * sr), min(int(stop * sr), n)
            k = t[i:j] - begin
            f0 = rng.uniform(250.0, 600.0)
            vibrato = 1.0 + 0.02 * np.sin(2 * np.pi * 5.0 * k)
            phase_f = 2 * np.pi * np.cumsum(f0 * vibrato) / sr
            fade = np.minimum(1.0, np.minimum(k, (stop - begin) - k) / 0.05)
            tone = np.sin(phase_f) + (0.3 * np.sin(2 * phase_f) if 2 * f0 < 0.45 * sr else 0.0)
            signal[i:j] += rng.uniform(0.2, 0.35) * fade * tone
    audio = breath * envelope + signal
    return (0.9 * audio / max(np.abs(audio).max(), 1e-9)).astype(np.float32)


def make_cycles(duration: float, rng: np.random.Generator, crackle_rate: float,
                wheeze_rate: float) -> np.ndarray:
    """Consecutive 1.5-3.5 s cycles covering the recording (times rounded to milliseconds),
    each flagged crackle / wheeze at random with the given chances."""
    rows = []
    start = round(rng.uniform(0.0, 0.3), 3)
    while duration - start >= 0.5:
        end = round(min(start + rng.uniform(1.5, 3.5), duration), 3)
        rows.append((start, end, float(rng.random() < crackle_rate),
                     float(rng.random() < wheeze_rate)))
        start = end
    return np.array(rows, dtype=float).reshape(-1, 4)


def _write_wav(path: Path, audio: np.ndarray, sr: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), audio, sr, subtype="PCM_16")


def _pick_pneumonia(rng: np.random.Generator, patients: list[int],
                    pneumonia_patients: Optional[Iterable[int]]) -> set[int]:
    if pneumonia_patients is not None:
        return {int(patient) for patient in pneumonia_patients}
    count = max(1, int(round(len(patients) / 3)))
    return {int(patient) for patient in rng.choice(patients, size=count, replace=False)}


def _patient_sides(rng: np.random.Generator, patients: list[int], pneumonia: set[int]
                   ) -> dict[int, str]:
    """Whole patients to train/test, about 60/40 within pneumonia and other patients."""
    sides = {}
    for kind in (sorted(p for p in patients if p in pneumonia),
                 sorted(p for p in patients if p not in pneumonia)):
        order = list(rng.permutation(kind))
        n_test = int(round(0.4 * len(order)))
        if len(order) >= 2:
            n_test = min(max(n_test, 1), len(order) - 1)
        for position, patient in enumerate(order):
            sides[int(patient)] = "test" if position < n_test else "train"
    return sides


# --- ICBHI ------------------------------------------------------------------------------------

def make_icbhi(root: PathArg, n_patients: int = 12, recordings_per_patient: int = 2,
               duration: float = 8.0, sr: int = 4000, seed: int = 0,
               pneumonia_patients: Optional[Iterable[int]] = None,
               official_split: bool = True, crossing_patients: Iterable[int] = (),
               renamed_in_split: Iterable[int] = (), listed_without_audio: Iterable[str] = ()
               ) -> Path:
    """Write an ICBHI-format dataset into ``root`` (created) and return ``root``.

    Patients 101, 102, ...; each gets a diagnosis (Pneumonia for ``pneumonia_patients``, by
    default about a third of them picked from ``seed``; the others one of URTI, COPD, Healthy,
    Bronchiectasis...), one device and ``recordings_per_patient`` recordings at distinct chest
    locations, e.g. ``101_1b1_Al_sc_Meditron.wav`` + ``101_1b1_Al_sc_Meditron.txt`` (cycles of
    1.5-3.5 s: ``start\\tend\\tcrackle\\twheeze``). ``ICBHI_Challenge_diagnosis.txt`` lists
    every patient; ``ICBHI_challenge_train_test.txt`` (if ``official_split``) puts whole
    patients in train or test, about 60/40 among pneumonia and among other patients.

    The quirks of the published ``ICBHI_challenge_train_test.txt`` (920 lines
    ``<recording>\\t<train|test>``, one per recording), on demand:

    * ``crossing_patients``: the file assigns recordings, not patients, and some patients (154
      and 226 in some published analyses) have recordings on both sides: the last recording of each
      of these patients is listed on the other side (with 2 recordings: one each side);
    * ``renamed_in_split``: the file lists ``226_1b1_Pl_sc_Meditron`` while the audio folder
      has ``226_1b1_Pl_sc_LittC2SE``: the first recording of each of these patients is listed
      with another device part than its file's;
    * ``listed_without_audio``: names the file lists (``train``) that have no recording.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    crossing_patients, renamed_in_split = set(crossing_patients), set(renamed_in_split)
    rng = np.random.default_rng(seed)
    patients = list(range(101, 101 + n_patients))
    pneumonia = _pick_pneumonia(rng, patients, pneumonia_patients)
    diagnoses = {patient: "Pneumonia" if patient in pneumonia else str(rng.choice(OTHER_DIAGNOSES))
                 for patient in patients}
    sides = _patient_sides(rng, patients, pneumonia)
    split_lines, diagnosis_lines = [], []
    for patient in patients:
        diagnosis_lines.append(f"{patient}\t{diagnoses[patient]}\n")
        device = str(rng.choice(DEVICES))
        mode = "mc" if device == "AKGC417L" else "sc"
        locations = list(rng.permutation(LOCATIONS))
        if diagnoses[patient] == "Pneumonia":
            crackle_rate, wheeze_rate = _CYCLE_FLAG_RATES["pneumonia"]
        elif diagnoses[patient] in WHEEZY_DIAGNOSES:
            crackle_rate, wheeze_rate = _CYCLE_FLAG_RATES["wheezy"]
        else:
            crackle_rate, wheeze_rate = _CYCLE_FLAG_RATES["other"]
        for r in range(recordings_per_patient):
            index = (f"{r // len(LOCATIONS) + 1}b1" if mode == "mc" else f"{r + 1}b1")
            stem = f"{patient}_{index}_{locations[r % len(LOCATIONS)]}_{mode}_{device}"
            cycles = make_cycles(duration, rng, crackle_rate, wheeze_rate)
            _write_wav(root / f"{stem}.wav", synthesize(cycles, duration, sr, rng), sr)
            (root / f"{stem}.txt").write_text("".join(
                f"{start:.3f}\t{end:.3f}\t{int(crackle)}\t{int(wheeze)}\n"
                for start, end, crackle, wheeze in cycles))
            split_lines.append(_split_line(stem, sides[patient], patient, r,
                                           recordings_per_patient, crossing_patients,
                                           renamed_in_split))
    split_lines += [f"{name}\ttrain\n" for name in listed_without_audio]
    (root / "ICBHI_Challenge_diagnosis.txt").write_text("".join(diagnosis_lines))
    if official_split:
        (root / "ICBHI_challenge_train_test.txt").write_text("".join(split_lines))
    return root


def _split_line(stem: str, side: str, patient: int, recording: int, n_recordings: int,
                crossing: set[int], renamed: set[int]) -> str:
    """The official split file's line of one recording, with the quirks of :func:`make_icbhi`."""
    if patient in crossing and recording == n_recordings - 1:
        side = "test" if side == "train" else "train"
    if patient in renamed and recording == 0:
        fields = stem.split("_")
        fields[-1] = next(device for device in DEVICES if device != fields[-1])
        stem = "_".join(fields)
    return f"{stem}\t{side}\n"


# --- spreadsheet-annotated ----------------------------------------------------------------------

def make_spreadsheet_dataset(root: PathArg, fmt: str = "xlsx", n_patients: int = 6,
                             recordings_per_patient: int = 1, duration: float = 4.0,
                             sr: int = 4000, seed: int = 0,
                             pneumonia_patients: Optional[Iterable[int]] = None,
                             headers: Optional[dict] = None,
                             audio_folder: str = "Audio Files",
                             sheet_name: str = "Data annotation") -> Path:
    """Write a spreadsheet-annotated dataset into ``root`` (created) and return ``root``.

    ``root/<sheet_name>.<fmt>`` (fmt "xlsx" or "csv") has one row per recording with the
    columns of ``headers`` (role -> header; default "File Name", "Patient ID", "Diagnosis",
    "Sound Type") plus "Age". Patients are numbered 1, 2, ...; the file cells name
    ``<audio_folder>/EP<patient>_<k> <diagnosis>.wav`` with the extension on even rows and
    without it on odd rows. Sound types use mixed wordings ("Crep", "Crackles", "Wheezes",
    "Crep + Wheeze", "Normal", "N"...); every cycle of a recording carries its sound type.
    """
    if fmt not in ("xlsx", "csv"):
        raise ValueError(f"fmt must be 'xlsx' or 'csv', got {fmt!r}")
    headers = {**SPREADSHEET_HEADERS, **(headers or {})}
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    patients = list(range(1, 1 + n_patients))
    pneumonia = _pick_pneumonia(rng, patients, pneumonia_patients)
    rows = []
    for patient in patients:
        diagnosis = ("Pneumonia" if patient in pneumonia
                     else str(rng.choice(SPREADSHEET_DIAGNOSES)))
        kind = ("pneumonia" if patient in pneumonia
                else "wheezy" if diagnosis in ("Asthma", "COPD") else "other")
        crackle_rate, wheeze_rate = _CYCLE_FLAG_RATES[kind]
        crackle_rate, wheeze_rate = min(1.0, crackle_rate + 0.1), min(1.0, wheeze_rate + 0.1)
        age = int(rng.integers(20, 85))
        for k in range(recordings_per_patient):
            crackle, wheeze = rng.random() < crackle_rate, rng.random() < wheeze_rate
            label = ("none", "crackle", "wheeze", "both")[int(crackle) + 2 * int(wheeze)]
            cycles = make_cycles(duration, rng, 0.0, 0.0)
            cycles[:, 2], cycles[:, 3] = float(crackle), float(wheeze)
            name = f"EP{patient}_{k + 1} {diagnosis}"
            _write_wav(root / audio_folder / f"{name}.wav", synthesize(cycles, duration, sr, rng),
                       sr)
            rows.append({headers["file"]: name + (".wav" if len(rows) % 2 == 0 else ""),
                         headers["patient"]: patient, "Age": age,
                         headers["diagnosis"]: diagnosis,
                         headers["sound"]: str(rng.choice(SOUND_WORDS[label]))})
    sheet = pd.DataFrame(rows)
    path = root / f"{sheet_name}.{fmt}"
    if fmt == "xlsx":
        sheet.to_excel(path, index=False, engine="openpyxl")
    else:
        sheet.to_csv(path, index=False)
    return root
