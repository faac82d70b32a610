"""Respiratory-sound datasets: ICBHI 2017 and spreadsheet-annotated lung-sound collections.

Two tasks (``parameters.task``), with fixed class lists (:data:`TASK_CLASSES`, the first class of
each is the negative/normal one):

* ``"pneumonia"``: file label from the patient's diagnosis: "pneumonia" or "no_pneumonia".
* ``"cw"``: crackles and wheezes: "none", "crackle", "wheeze" or "both". For ICBHI every chunk
  gets its own label from the annotated respiratory cycles it overlaps (:func:`chunk_cw_labels`,
  :func:`make_chunk_labeler`); the file label (from all its cycles) is only used for
  stratification and display. Spreadsheet datasets have no cycle annotation: every chunk gets
  the file label.

Every table row's group is ``"<dataset>:<patient id>"``, so that group splits never put a patient
on both sides and patient ids of different datasets never collide. ICBHI's published split assigns
recordings, not patients (split "official" keeps it, "official_patients" makes it patient-disjoint;
see :func:`modules.data.split_table`). Through the registry
(:func:`modules.data.load_datasets`) ``<dataset>`` is the registered name ("Icbhi", "Jordan",
"Bd"); a loader called directly uses the folder name (or its ``name`` argument).

Loaders check names and annotations, not audio: an unreadable or missing audio file is reported
and skipped later by the audio decoder.
"""

from __future__ import annotations

import os
import re
from functools import partial
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import pandas as pd

from .audio import CHUNK_MODES
from .datasets import register_dataset
from .fetch import resolve_data_root, shared_datasets_dir
from .splits import SPLIT_NAME_NOTES
from .schema import AUDIO_EXTENSIONS, TASK_CLASSES, PathArg, is_audio_file, make_table, require_dir

CW_CLASSES = TASK_CLASSES["cw"]

# "<patient>_<recording index>_<chest location>_<acquisition mode>_<device>", e.g.
# "101_1b1_Al_sc_Meditron" or "226_1b1_Pl_sc_LittC2SE".
ICBHI_NAME = re.compile(
    r"^(?P<patient>\d+)_(?P<index>[0-9A-Za-z]+)_(?P<location>[A-Za-z]{2})_"
    r"(?P<mode>sc|mc)_(?P<device>[0-9A-Za-z]+)$", re.IGNORECASE)
ICBHI_NAME_HELP = ("'<patient>_<index>_<location>_<mode>_<device>.wav' "
                   "(e.g. '101_1b1_Al_sc_Meditron.wav')")
DIAGNOSIS_FILES = ("ICBHI_Challenge_diagnosis.txt", "patient_diagnosis.csv")
SPLIT_FILE = "ICBHI_challenge_train_test.txt"

SPREADSHEET_EXTENSIONS = (".xlsx", ".csv")
SPREADSHEET_COLUMNS = {
    "file": ("file", "filename", "file name", "recording"),
    "patient": ("patient", "patient id", "patient number", "patient_id"),
    "diagnosis": ("diagnosis",),
    "sound": ("sound type", "sound_type", "sound"),
}
CRACKLE_WORDS = ("crep", "crackle", "crackles")
WHEEZE_WORDS = ("wheez",)
NORMAL_WORDS = ("normal", "n", "")

# Where each registered dataset comes from, for the "not found" message.
DATASET_SOURCES = {
    "ICBHI": "it needs a (free) registration at https://bhichallenge.med.auth.gr/ (the ICBHI "
             "2017 Respiratory Sound Database, with ICBHI_Challenge_diagnosis.txt and "
             "ICBHI_challenge_train_test.txt)",
    "Jordan": "download it from its publisher (Fraiwan et al., lung sounds recorded with an "
              "electronic stethoscope, Mendeley Data): the audio files and the annotation "
              "spreadsheet",
    "Bd": "download it from its publisher: the audio files and the annotation spreadsheet",
}


# --- helpers --------------------------------------------------------------------------------

def _check_task(task: Optional[str], what: str) -> str:
    if task not in TASK_CLASSES:
        raise ValueError(f"{what} needs task \"pneumonia\" or \"cw\" (parameters.task), "
                         f"got {task!r}")
    return task


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX"
               for part in path.relative_to(root).parts)


def cw_label(crackle: bool, wheeze: bool) -> str:
    """"none", "crackle", "wheeze" or "both"."""
    return CW_CLASSES[int(bool(crackle)) + 2 * int(bool(wheeze))]


# --- ICBHI ----------------------------------------------------------------------------------

def read_cycles(path: PathArg) -> np.ndarray:
    """The respiratory cycles of an ICBHI annotation file.

    One cycle per line: ``start end crackle wheeze`` (seconds, seconds, 0/1, 0/1), separated
    by tabs or spaces; blank lines are skipped.

    Returns:
        float64 array (n_cycles, 4); (0, 4) for a file without cycles.

    Raises:
        ValueError: a malformed line; the message names the file and the line number.
    """
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            problem = None
            if len(fields) != 4:
                problem = f"expected 4 fields, got {len(fields)}"
            else:
                try:
                    start, end = float(fields[0]), float(fields[1])
                except ValueError:
                    start = end = None
                    problem = "start and end must be numbers (seconds)"
                if problem is None:
                    if not (np.isfinite(start) and np.isfinite(end)) or start < 0:
                        problem = "start and end must be finite and not negative"
                    elif end < start:
                        problem = "end is before start"
                    elif fields[2] not in ("0", "1") or fields[3] not in ("0", "1"):
                        problem = "crackle and wheeze must be 0 or 1"
            if problem:
                raise ValueError(f"{path}, line {number}: malformed annotation line "
                                 f"{line.rstrip()!r}: {problem} (expected 'start end crackle "
                                 f"wheeze', e.g. '0.036\\t0.579\\t0\\t0')")
            rows.append((start, end, float(fields[2]), float(fields[3])))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def _icbhi_audio_folder(root: Path) -> Path:
    """``root`` if it holds audio files, else its only sub-folder that does."""
    if any(is_audio_file(file) and file.is_file() for file in root.iterdir()):
        return root
    candidates = [folder for folder in sorted(root.iterdir())
                  if folder.is_dir() and not folder.name.startswith(".")
                  and folder.name != "__MACOSX"
                  and any(is_audio_file(file) and file.is_file() for file in folder.iterdir())]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ValueError(f"{root}: no ICBHI recordings ({ICBHI_NAME_HELP}) in the folder or in "
                         f"any of its sub-folders")
    raise ValueError(f"{root}: recordings in several sub-folders "
                     f"({', '.join(folder.name for folder in candidates)}); expected them all "
                     f"in the folder itself or in one sub-folder (e.g. ICBHI_final_database/)")


def _find_one(folders: list[Path], patterns: tuple[str, ...], preferred: tuple[str, ...],
              what: str) -> Optional[Path]:
    """The file matching ``patterns`` (case-insensitive globs) in ``folders``; None if none."""
    found: dict[Path, None] = {}
    for folder in folders:
        for file in sorted(folder.iterdir()):
            if file.is_file() and not file.name.startswith(".") and any(
                    re.fullmatch(pattern, file.name, re.IGNORECASE) for pattern in patterns):
                found[file] = None
    files = list(found)
    if len(files) <= 1:
        return files[0] if files else None
    for name in preferred:
        for file in files:
            if file.name.lower() == name.lower():
                return file
    raise ValueError(f"several {what} files: {', '.join(map(str, files))}; keep one")


def read_diagnoses(path: PathArg) -> dict[str, str]:
    """Patient id -> diagnosis from ``ICBHI_Challenge_diagnosis.txt`` (``101\\tURTI`` lines) or
    the Kaggle ``patient_diagnosis.csv`` (``101,URTI``). A header line is skipped.

    Raises:
        ValueError: a malformed line, or a patient listed twice with different diagnoses
            (the message names the file and line).
    """
    path = Path(path)
    diagnoses: dict[str, str] = {}
    first = True
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            match = re.match(r"^\s*(\d+)\s*[,;\t ]\s*\"?([^\",;\t]*?)\"?\s*[,;]*\s*$", line)
            if not match or not match.group(2):
                if first and not re.match(r"^\s*\d", line):
                    first = False
                    continue  # a header such as "Patient number,Diagnosis"
                raise ValueError(f"{path}, line {number}: malformed diagnosis line "
                                 f"{line.rstrip()!r} (expected '<patient id><tab or comma>"
                                 f"<diagnosis>', e.g. '101\\tURTI')")
            first = False
            patient, diagnosis = str(int(match.group(1))), match.group(2).strip()
            if diagnoses.get(patient, diagnosis) != diagnosis:
                raise ValueError(f"{path}, line {number}: patient {patient} is listed again "
                                 f"with another diagnosis ({diagnoses[patient]!r} before, "
                                 f"{diagnosis!r} here)")
            diagnoses[patient] = diagnosis
    return diagnoses


def read_official_split(path: PathArg) -> dict[str, str]:
    """Recording name (without extension) -> "train" or "test", from
    ``ICBHI_challenge_train_test.txt`` (``101_1b1_Al_sc_Meditron\\ttrain`` lines, one per
    recording; the published file assigns recordings, not patients).

    Raises:
        ValueError: a malformed line, or a name listed again with the other side (the message
            names the file and line).
    """
    path = Path(path)
    splits: dict[str, str] = {}
    lines: dict[str, int] = {}
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1].lower() not in ("train", "test"):
                raise ValueError(f"{path}, line {number}: malformed split line "
                                 f"{line.rstrip()!r} (expected '<recording>\\t<train or test>', "
                                 f"e.g. '101_1b1_Al_sc_Meditron\\ttrain')")
            name, side = fields[0], fields[1].lower()
            if Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                name = Path(name).stem
            if splits.get(name, side) != side:
                raise ValueError(f"{path}, line {number}: {name} is listed again as {side} "
                                 f"(line {lines[name]} says {splits[name]})")
            splits[name] = side
            lines.setdefault(name, number)
    return splits


def _name_key(name: str) -> Optional[str]:
    """``<patient>_<index>_<location>_<mode>`` of an ICBHI name (letter case folded), or None
    for a name outside the pattern."""
    match = ICBHI_NAME.match(name)
    if not match:
        return None
    return "_".join((str(int(match.group("patient"))), match.group("index"),
                     match.group("location"), match.group("mode"))).lower()


def match_official_split(stems: list[str], official: dict[str, str]
                         ) -> tuple[dict[str, str], list[dict], list[dict]]:
    """Match the names of the official split file to the recordings' names.

    A listed name matches the recording of the same name. A listed name with no such recording
    (the published file lists ``226_1b1_Pl_sc_Meditron`` for the audio file
    ``226_1b1_Pl_sc_LittC2SE``) matches the one recording the file does not list whose
    patient, index, chest location and mode are the same, when exactly one fits and no other
    listed name claims it; otherwise it is unmatched. Nothing is dropped: a recording left
    unlisted has no official side (the split places it by patient).

    Returns:
        (recording name -> "train"/"test", matched, unmatched): ``matched`` has
        ``{"listed", "recording", "split", "reason"}`` per name matched by its first four
        fields, ``unmatched`` ``{"listed", "split", "reason"}`` per name matched to nothing.
    """
    names = set(stems)
    sides = {stem: official[stem] for stem in stems if stem in official}
    by_key: dict[Optional[str], list[str]] = {}
    for stem in stems:
        if stem not in official:
            by_key.setdefault(_name_key(stem), []).append(stem)
    claims: dict[str, list[str]] = {}
    for name in official:
        if name not in names and _name_key(name) is not None:
            for stem in by_key.get(_name_key(name), []):
                claims.setdefault(stem, []).append(name)
    matched, unmatched = [], []
    for name, side in official.items():
        if name in names:
            continue
        fits = by_key.get(_name_key(name), []) if _name_key(name) is not None else []
        if len(fits) == 1 and claims[fits[0]] == [name]:
            sides[fits[0]] = side
            listed, found = (ICBHI_NAME.match(n).group("device") for n in (name, fits[0]))
            matched.append({"listed": name, "recording": fits[0], "split": side,
                            "reason": f"same patient, index, location and mode; device "
                                      f"{listed} in the split file, {found} on disk"})
            continue
        if not fits:
            reason = "no recording of this name or of its patient, index, location and mode"
        elif len(fits) > 1:
            reason = (f"several unlisted recordings fit ({', '.join(fits)}); they are placed "
                      f"by patient")
        else:
            others = ", ".join(other for other in claims[fits[0]] if other != name)
            reason = f"{fits[0]} fits, but so does the listed name {others}"
        unmatched.append({"listed": name, "split": side, "reason": reason})
    return sides, matched, unmatched


def load_icbhi(root: PathArg, task: Optional[str] = None, name: Optional[str] = None
               ) -> pd.DataFrame:
    """The ICBHI 2017 Respiratory Sound Database.

    Layout (in ``root`` or in one sub-folder of it, e.g. ``ICBHI_final_database/``): recordings
    ``<patient>_<index>_<location>_<mode>_<device>.wav`` with a same-stem ``.txt`` annotation
    (one respiratory cycle per line: ``start end crackle wheeze``). Beside them or in ``root``:
    the diagnosis file (``ICBHI_Challenge_diagnosis.txt``, or the Kaggle copy
    ``patient_diagnosis.csv``; any ``*diagnosis*.txt/.csv``) and, optionally, the official split
    ``ICBHI_challenge_train_test.txt`` (any ``*train*test*.txt``).

    Args:
        task: "pneumonia": label "pneumonia" when the patient's diagnosis is Pneumonia (any
            letter case), else "no_pneumonia"; the diagnosis file is required, the annotation
            files are not (annotation NA without one). "cw": the file's label from all its
            cycles ("both" when some cycle has crackles and some has wheezes, "crackle",
            "wheeze", "none"); every recording needs its annotation file (the chunk labels
            come from it); the diagnosis file is not read.
        name: the dataset name for the dataset column and the group prefix; None: the folder
            name (the registry passes the registered name).

    Returns:
        a table sorted by patient then recording name: path, label, split ("train"/"test" from
        the official file, NA without one or for recordings it does not list; a listed name
        that differs from its recording's only in the device part is matched, see
        :func:`match_official_split`, and reported with the names that match nothing), group
        ``"<name>:<patient id>"``, annotation (path of the .txt, or NA), dataset.

    Raises:
        ValueError: task not "pneumonia"/"cw"; a file name not in the ICBHI pattern; a
            malformed annotation, diagnosis or split line; a patient missing from the
            diagnosis file; for "cw" a recording without its annotation file. Messages name
            the file (and line).
        FileNotFoundError: ``root`` missing; for "pneumonia" no diagnosis file.
    """
    task = _check_task(task, "ICBHI")
    root = require_dir(root, "ICBHI dataset folder")
    name = name or root.name
    audio_folder = _icbhi_audio_folder(root)
    folders = [root] if audio_folder == root else [root, audio_folder]
    recordings = _icbhi_recordings(audio_folder)
    official, name_notes = _icbhi_official_sides(folders, recordings)
    label_of = (_pneumonia_labeler(root, folders) if task == "pneumonia" else _icbhi_cw_label)
    rows = []
    for file, patient, annotation in recordings:
        rows.append({"path": str(file), "label": label_of(file, patient, annotation),
                     "split": official.get(file.stem), "group": f"{name}:{patient}",
                     "annotation": str(annotation) if annotation is not None else None})
    table = make_table(rows, dataset=name)
    table.attrs[SPLIT_NAME_NOTES] = name_notes  # for the split's report
    return table


def _icbhi_official_sides(folders: list[Path], recordings: list[tuple[Path, str, Optional[Path]]]
                          ) -> tuple[dict[str, str], dict[str, list]]:
    """(recording name -> official side from the split file, or {} without one; the names
    matched by their first four fields and those matched to nothing, also printed)."""
    split_file = _find_one(folders, (r".*train.*test.*\.txt",), (SPLIT_FILE,), "official split")
    if split_file is None:
        return {}, {"matched_by_fields": [], "unmatched": []}
    paths = {file.stem: str(file) for file, _, _ in recordings}
    sides, matched, unmatched = match_official_split(list(paths), read_official_split(split_file))
    for entry in matched:
        entry["path"] = paths[entry["recording"]]
    if matched:
        print(f"note: {split_file}: {len(matched)} listed name(s) matched to a recording by "
              f"patient, index, location and mode (another device part): "
              + ", ".join(f"{m['listed']} -> {m['recording']}" for m in matched), flush=True)
    if unmatched:
        print(f"warning: {split_file}: {len(unmatched)} listed name(s) match no recording: "
              + ", ".join(f"{u['listed']} ({u['reason']})" for u in unmatched), flush=True)
    return sides, {"matched_by_fields": matched, "unmatched": unmatched}


def _icbhi_recordings(audio_folder: Path) -> list[tuple[Path, str, Optional[Path]]]:
    """(file, patient id, annotation file or None) of every recording, sorted by patient then
    file name; ValueError for a name outside the ICBHI pattern."""
    recordings = []
    for file in sorted(audio_folder.iterdir()):
        if not (file.is_file() and is_audio_file(file)):
            continue
        match = ICBHI_NAME.match(file.stem)
        if not match:
            raise ValueError(f"{file}: file name does not follow the ICBHI pattern "
                             f"{ICBHI_NAME_HELP}")
        patient = str(int(match.group("patient")))
        annotation = file.with_suffix(".txt")
        recordings.append((int(patient), file.name, file, patient,
                           annotation if annotation.is_file() else None))
    recordings.sort(key=lambda item: (item[0], item[1]))
    return [(file, patient, annotation) for _, _, file, patient, annotation in recordings]


def _pneumonia_labeler(root: Path, folders: list[Path]
                       ) -> Callable[[Path, str, Optional[Path]], str]:
    """Task "pneumonia": the label of a recording from its patient's diagnosis."""
    diagnosis_file = _find_one(folders, (r".*diagnosis.*\.txt", r".*diagnosis.*\.csv"),
                               DIAGNOSIS_FILES, "diagnosis")
    if diagnosis_file is None:
        raise FileNotFoundError(
            f"{root}: no diagnosis file ({' or '.join(DIAGNOSIS_FILES)}) in "
            f"{' or '.join(map(str, folders))}; task 'pneumonia' needs it")
    diagnoses = read_diagnoses(diagnosis_file)

    def label(file: Path, patient: str, annotation: Optional[Path]) -> str:
        if patient not in diagnoses:
            raise ValueError(f"{file}: patient {patient} is not in the diagnosis file "
                             f"{diagnosis_file}")
        return TASK_CLASSES["pneumonia"][int(diagnoses[patient].strip().lower() == "pneumonia")]

    return label


def _icbhi_cw_label(file: Path, patient: str, annotation: Optional[Path]) -> str:
    """Task "cw": the label of a recording from all its annotated cycles."""
    if annotation is None:
        raise ValueError(f"{file}: no annotation file {file.with_suffix('.txt').name} "
                         f"beside it; task 'cw' labels chunks from the annotated "
                         f"cycles (remove the recording or add its annotation)")
    cycles = read_cycles(annotation)
    return cw_label(bool((cycles[:, 2] > 0).any()), bool((cycles[:, 3] > 0).any()))


# --- spreadsheet-annotated datasets -----------------------------------------------------------

def _normalise_column(text) -> str:
    return re.sub(r"[\s_]+", " ", str(text).strip().lower())


def _find_spreadsheet(root: Path) -> Path:
    def candidates(files):
        return sorted(file for file in files
                      if file.is_file() and file.suffix.lower() in SPREADSHEET_EXTENSIONS
                      and not file.name.startswith(("~$", ".")) and not _hidden(file, root))

    found = candidates(root.iterdir()) or candidates(root.rglob("*"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(f"{root}: no annotation spreadsheet (.xlsx or .csv) in the folder or "
                         f"below it")
    raise ValueError(f"{root}: expected exactly one annotation spreadsheet, found "
                     f"{len(found)}: {', '.join(str(file.relative_to(root)) for file in found)}")


def _read_spreadsheet(path: Path) -> pd.DataFrame:
    options = dict(dtype=str, keep_default_na=False, na_values=[""])
    try:
        if path.suffix.lower() == ".xlsx":
            sheet = pd.read_excel(path, sheet_name=0, engine="openpyxl", **options)
        else:
            sheet = pd.read_csv(path, encoding="utf-8-sig", **options)
            for separator in (";", "\t"):  # European Excel exports and tab-separated text
                if len(sheet.columns) == 1 and separator in str(sheet.columns[0]):
                    sheet = pd.read_csv(path, encoding="utf-8-sig", sep=separator, **options)
    except Exception as error:  # noqa: BLE001 -- any reader failure: name the file
        raise ValueError(f"{path}: cannot read the spreadsheet: {error}") from None
    return sheet


def _sound_to_cw(value) -> Optional[str]:
    text = "" if pd.isna(value) else str(value).strip().lower()
    crackle = any(word in text for word in CRACKLE_WORDS)
    wheeze = any(word in text for word in WHEEZE_WORDS)
    if crackle or wheeze:
        return cw_label(crackle, wheeze)
    if text in NORMAL_WORDS:
        return "none"
    return None


def _clean_id(value) -> str:
    text = str(value).strip()
    return text[:-2] if re.fullmatch(r"\d+\.0", text) else text  # 7.0 from a number cell


def load_spreadsheet(root: PathArg, task: Optional[str] = None, name: Optional[str] = None
                     ) -> pd.DataFrame:
    """A lung-sound dataset annotated by one spreadsheet (e.g. Fraiwan et al.'s "Jordan" set).

    ``root`` holds exactly one ``.xlsx`` or ``.csv`` spreadsheet (in the folder itself, or else
    anywhere below it) and the audio files anywhere below it. One row per recording; columns are
    found whatever their letter case, spaces or underscores:

    * file: "file", "filename", "file name" or "recording" (always needed);
    * patient: "patient", "patient id", "patient number" or "patient_id" (always needed);
    * diagnosis: "diagnosis" (needed for task "pneumonia");
    * sound type: "sound type", "sound_type" or "sound" (needed for task "cw").

    A file cell is matched against the audio files below ``root``: as a path relative to
    ``root``, by file name, or by name without extension (letter case ignored when nothing
    matches exactly). A recording with no audio file keeps the path ``root/<cell>`` (the decoder
    reports and skips it later) and one warning says how many are missing.

    Labels: "pneumonia" when the diagnosis contains "pneumonia" (any case), else
    "no_pneumonia"; "cw": from the sound type, text containing crep/crackle(s) and/or wheez ->
    "crackle", "wheeze" or "both"; "normal", "n" or empty -> "none". No annotation column
    (every chunk gets the file's label). group ``"<name>:<patient>"``.

    Raises:
        ValueError: task not "pneumonia"/"cw"; no or several spreadsheets; a missing column;
            an empty file/patient/diagnosis cell; a recording listed twice; a file name
            matching several audio files; unmapped sound types (all listed, with the accepted
            words).
    """
    task = _check_task(task, "a spreadsheet-annotated dataset")
    root = require_dir(root, "dataset folder")
    name = name or root.name
    sheet_path = _find_spreadsheet(root)
    sheet = _read_spreadsheet(sheet_path)
    columns = _spreadsheet_columns(sheet, sheet_path, task)
    sheet = sheet.dropna(how="all")
    line = {index: index + 2 for index in sheet.index}  # spreadsheet row (header = row 1)
    for role in ("file", "patient") + (("diagnosis",) if task == "pneumonia" else ()):
        empty = sheet[columns[role]].isna() | (sheet[columns[role]].str.strip() == "")
        if empty.any():
            rows = ", ".join(str(line[index]) for index in sheet.index[empty][:10])
            raise ValueError(f"{sheet_path}: empty {columns[role]!r} on row(s) {rows}")
    find = _audio_file_finder(root, sheet_path)
    if task == "cw":
        _check_sound_types(sheet, columns["sound"], sheet_path)

    rows, not_found, seen = [], [], {}
    for index, record in sheet.iterrows():
        cell = str(record[columns["file"]]).strip()
        path = find(cell, line[index])
        if path is None:
            not_found.append(cell)
            path = root / cell
        if path in seen:
            raise ValueError(f"{sheet_path}: rows {seen[path]} and {line[index]} both list "
                             f"{path.relative_to(root)}")
        seen[path] = line[index]
        if task == "pneumonia":
            diagnosis = str(record[columns["diagnosis"]])
            label = TASK_CLASSES["pneumonia"][int("pneumonia" in diagnosis.lower())]
        else:
            label = _sound_to_cw(record[columns["sound"]])
        rows.append({"path": os.path.normpath(path), "label": label,
                     "group": f"{name}:{_clean_id(record[columns['patient']])}"})
    if not rows:
        raise ValueError(f"{sheet_path}: no recordings listed")
    if not_found:
        shown = ", ".join(not_found[:5]) + (" ..." if len(not_found) > 5 else "")
        print(f"warning: {sheet_path}: {len(not_found)} of {len(rows)} listed recording(s) have "
              f"no audio file below {root} ({shown}); they are kept, and will be reported and "
              f"skipped when the audio is decoded", flush=True)
    return make_table(rows, dataset=name)


def _spreadsheet_columns(sheet: pd.DataFrame, sheet_path: Path, task: str) -> dict[str, str]:
    """Role ("file", "patient", "diagnosis", "sound") -> the sheet's column for it; ValueError
    when a column the task needs is missing, or two columns claim one role."""
    columns: dict[str, str] = {}
    for column in sheet.columns:
        normalised = _normalise_column(column)
        for role, aliases in SPREADSHEET_COLUMNS.items():
            if normalised in {_normalise_column(alias) for alias in aliases}:
                if role in columns:
                    raise ValueError(f"{sheet_path}: columns {columns[role]!r} and {column!r} "
                                     f"both look like the {role} column; keep one")
                columns[role] = column
    needed = ["file", "patient", "diagnosis" if task == "pneumonia" else "sound"]
    missing = [role for role in needed if role not in columns]
    if missing:
        wanted = "; ".join(f"{role}: one of {', '.join(SPREADSHEET_COLUMNS[role])}"
                           for role in missing)
        raise ValueError(f"{sheet_path}: missing column(s) for task {task!r}: {wanted}. Found: "
                         f"{', '.join(map(str, sheet.columns)) or 'none'}")
    return columns


def _audio_file_finder(root: Path, sheet_path: Path) -> Callable[[str, int], Optional[Path]]:
    """``find(cell, row)``: the audio file below ``root`` a file cell names, or None; the cell
    is tried as a path relative to ``root``, then by file name, then by name without extension
    (letter case ignored when nothing matches exactly)."""
    by_key: dict[str, list[Path]] = {}
    for file in sorted(file for file in root.rglob("*")
                       if file.is_file() and is_audio_file(file) and not _hidden(file, root)):
        for key in {file.name, file.stem, file.name.lower(), file.stem.lower()}:
            by_key.setdefault(key, []).append(file)

    def find(cell: str, row: int) -> Optional[Path]:
        direct = root / cell
        if direct.is_file():
            return direct
        base = Path(cell.replace("\\", "/")).name
        for key in (base, base.lower()):
            matches = by_key.get(key, [])
            if len(matches) > 1:
                raise ValueError(f"{sheet_path}, row {row}: {cell!r} matches several audio "
                                 f"files: {', '.join(str(m.relative_to(root)) for m in matches)}")
            if matches:
                return matches[0]
        return None

    return find


def _check_sound_types(sheet: pd.DataFrame, column: str, sheet_path: Path) -> None:
    """ValueError listing every sound type task "cw" cannot map to a class."""
    mapped = sheet[column].map(_sound_to_cw)
    unmapped = sorted(set(sheet.loc[mapped.isna(), column].astype(str)))
    if unmapped:
        raise ValueError(
            f"{sheet_path}: sound type(s) not understood: "
            f"{', '.join(map(repr, unmapped))}. Accepted: text containing "
            f"{', '.join(map(repr, CRACKLE_WORDS))} (crackles) and/or "
            f"{', '.join(map(repr, WHEEZE_WORDS))} (wheezes), or "
            f"{', '.join(map(repr, NORMAL_WORDS))} (none)")


# --- chunk labels for task "cw" --------------------------------------------------------------

# Overlaps are compared with this slack (seconds), so that an overlap of exactly
# overlap_threshold * audio_length counts despite floating-point rounding.
_OVERLAP_TOLERANCE_S = 1e-7


def chunk_cw_labels(cycles: np.ndarray, n_chunks: int, sr: int, audio_length: float,
                    step_size: float, chunking: str = "chunk", overlap_threshold: float = 0.2
                    ) -> np.ndarray:
    """Class index of each chunk of a recording: 0 none, 1 crackle, 2 wheeze, 3 both.

    The chunks are those of :func:`modules.data.audio.chunk_audio`: chunk ``k`` covers samples
    ``[k*S, k*S + L)`` with ``L = round(audio_length * sr)``, ``S = round(step_size * sr)``
    (a padded last chunk too), i.e. seconds ``[k*S/sr, (k*S + L)/sr)``; mode "fixed" has only
    chunk 0. A cycle counts for a chunk when they overlap (by more than 0 s) by at least
    ``overlap_threshold * audio_length`` seconds. Crackle: some counted cycle has crackles;
    wheeze likewise (from the same or another counted cycle).

    Args:
        cycles: (n_cycles, 4) ``start end crackle wheeze`` rows (see :func:`read_cycles`).
        n_chunks: how many chunks the recording gave.

    Returns:
        int64 array (n_chunks,).

    Raises:
        ValueError: unknown chunking mode, more than one chunk in mode "fixed", a length or step
            below one sample, or cycles not shaped (n, 4).
    """
    if chunking not in CHUNK_MODES:
        raise ValueError(f"unknown chunking mode {chunking!r}; expected one of {CHUNK_MODES}")
    n_chunks = int(n_chunks)
    if n_chunks < 0:
        raise ValueError(f"n_chunks must not be negative, got {n_chunks}")
    if chunking == "fixed" and n_chunks > 1:
        raise ValueError(f"chunking 'fixed' gives one chunk per file, got n_chunks={n_chunks}")
    cycles = np.asarray(cycles, dtype=np.float64)
    if cycles.size == 0:
        cycles = cycles.reshape(0, 4)
    if cycles.ndim != 2 or cycles.shape[1] != 4:
        raise ValueError(f"cycles must be shaped (n_cycles, 4), got {cycles.shape}")
    length = int(round(audio_length * sr))
    step = int(round(step_size * sr)) if chunking == "chunk" else length
    if length <= 0 or step <= 0:
        raise ValueError(f"audio_length={audio_length} s / step_size={step_size} s at sr={sr} "
                         f"is less than one sample")
    starts = np.arange(n_chunks, dtype=np.float64) * step / sr
    ends = starts + length / sr
    overlap = (np.minimum(ends[:, None], cycles[None, :, 1])
               - np.maximum(starts[:, None], cycles[None, :, 0]))
    needed = overlap_threshold * audio_length - _OVERLAP_TOLERANCE_S
    counted = (overlap > 0) & (overlap >= needed)
    crackle = (counted & (cycles[None, :, 2] > 0)).any(axis=1)
    wheeze = (counted & (cycles[None, :, 3] > 0)).any(axis=1)
    return crackle.astype(np.int64) + 2 * wheeze.astype(np.int64)


def make_chunk_labeler(table: pd.DataFrame, task: Optional[str], class_names,
                       sr: int, audio_length: float, step_size: float,
                       chunking: str = "chunk", overlap_threshold: float = 0.2
                       ) -> Optional[Callable[[int, int], np.ndarray]]:
    """Per-chunk one-hot labels for task "cw"; None for any other task (file labels apply).

    The returned ``labels(file_index, n_chunks)`` gives float32 (n_chunks, len(class_names)):
    for row ``file_index`` of ``table`` (by position), the chunk classes of
    :func:`chunk_cw_labels` from its ``annotation`` file when it has one, else the row's
    ``label`` for every chunk. Annotation files are read and checked here, once, so the
    function only reads immutable data and is safe to call from several threads.

    Raises:
        ValueError: ``class_names`` lacks a "cw" class, a row's label is not in
            ``class_names``, or a malformed annotation file.
    """
    if task != "cw":
        return None
    class_names = [str(name) for name in class_names]
    missing = [name for name in CW_CLASSES if name not in class_names]
    if missing:
        raise ValueError(f"task 'cw' needs the classes {', '.join(CW_CLASSES)}; class_names "
                         f"{class_names} lack {', '.join(missing)}")
    column = [class_names.index(name) for name in CW_CLASSES]  # cw class index -> column
    n_classes = len(class_names)
    annotations = (table["annotation"].tolist() if "annotation" in table
                   else [np.nan] * len(table))
    labels = table["label"].tolist()
    cache: dict[str, np.ndarray] = {}
    entries: list[Union[np.ndarray, int]] = []  # cycles, or the column of the file label
    for annotation, label in zip(annotations, labels):
        if isinstance(annotation, str) and annotation:
            if annotation not in cache:
                cache[annotation] = read_cycles(annotation)
            entries.append(cache[annotation])
        else:
            if str(label) not in class_names:
                raise ValueError(f"label {label!r} is not one of the classes {class_names}")
            entries.append(class_names.index(str(label)))

    def chunk_labels(file_index: int, n_chunks: int) -> np.ndarray:
        entry = entries[int(file_index)]
        n_chunks = int(n_chunks)
        one_hot = np.zeros((n_chunks, n_classes), np.float32)
        if isinstance(entry, np.ndarray):
            classes = chunk_cw_labels(entry, n_chunks, sr, audio_length, step_size, chunking,
                                      overlap_threshold)
            one_hot[np.arange(n_chunks), np.asarray(column)[classes]] = 1.0
        else:
            one_hot[:, entry] = 1.0
        return one_hot

    return chunk_labels


# --- registry ---------------------------------------------------------------------------------

def locate_respiratory(folder: str, data_root: PathArg = "data",
                       project_root: Optional[PathArg] = None) -> Path:
    """Find a respiratory dataset; it is never fetched automatically.

    Looks in ``<project root>/../shared/datasets/<folder>`` then ``<data_root>/<folder>``
    (``data_root`` relative to the project root when relative) and returns the first that is
    a folder with something in it.

    Raises:
        FileNotFoundError: neither has it; the message says where both looked, how to get the
            dataset and where to unpack it.
    """
    shared = shared_datasets_dir(project_root) / folder
    target = resolve_data_root(data_root, project_root) / folder
    for candidate in (shared, target):
        if candidate.is_dir() and any(not child.name.startswith(".")
                                      for child in candidate.iterdir()):
            return candidate
    how = DATASET_SOURCES.get(folder, "get it from its publisher")
    raise FileNotFoundError(
        f"{folder} dataset not found: looked in {shared} and {target}. It cannot be fetched "
        f"automatically: {how}. Unpack it into {target} (or {shared}).")


register_dataset("Icbhi", partial(locate_respiratory, "ICBHI"), load_icbhi)
register_dataset("Jordan", partial(locate_respiratory, "Jordan"), load_spreadsheet)
register_dataset("Bd", partial(locate_respiratory, "Bd"), load_spreadsheet)
