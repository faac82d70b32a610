"""What a job's validation part was made of: every file it names, with its size and content
fingerprint, recorded in the job folder when the job trains (``validation_files.csv``).

A replay compares the files on disk with the record before it runs, so a missing or changed
file is named instead of showing up as numbers that differ from the recorded ones. The files
are those of the validation table: the ``path`` of each row (for a clip of a waveform pack or
a vector of a feature set, ``<file>::<key>``, the pack or feature-set file itself) and its
``annotation`` file when it has one (the labels of respiratory chunks and sound events come
from there). A job folder without the record (made before it existed) has nothing to compare.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from .audio import pack_reference
from .feature_sets import feature_reference

RECORD_NAME = "validation_files.csv"
WHOLE_FILE_LIMIT = 16 * 2**20  # bytes: larger files are fingerprinted by their two ends
END_BYTES = 2**20


def fingerprint(path: Path | str, ends: Optional[bool] = None) -> str:
    """``blake2b:<hex>`` of a file's bytes; for a file over :data:`WHOLE_FILE_LIMIT` (a large
    pack or feature set) ``blake2b-ends:<hex>`` of its size and its first and last MiB only,
    so that checking a multi-GB file stays quick (a change in its middle that keeps the size
    goes unseen there; validation audio files are hashed whole). ``ends``: force either way
    (to recompute a recorded fingerprint by the method it names)."""
    size = os.path.getsize(path)
    if ends is None:
        ends = size > WHOLE_FILE_LIMIT
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        if not ends:
            for block in iter(lambda: handle.read(2**20), b""):
                digest.update(block)
            return f"blake2b:{digest.hexdigest()}"
        digest.update(str(size).encode())
        digest.update(handle.read(END_BYTES))
        handle.seek(max(0, size - END_BYTES))
        digest.update(handle.read(END_BYTES))
    return f"blake2b-ends:{digest.hexdigest()}"


def _file_of(path: str) -> str:
    """The file on disk behind a table path (a pack or feature-set file for its entries)."""
    reference = feature_reference(path) or pack_reference(path)
    return reference[0] if reference else path


def validation_file_paths(table: pd.DataFrame) -> list[str]:
    """Every file the validation table names, once each, in table order."""
    files: dict[str, None] = {}
    for column in ("path", "annotation"):
        if column in table:
            for value in table[column].dropna():
                if str(value):
                    files.setdefault(_file_of(str(value)), None)
    return list(files)


def record_validation_files(table: pd.DataFrame, folder: Path | str) -> Path:
    """Write ``<folder>/validation_files.csv`` (path, size, fingerprint) for every file the
    validation ``table`` names; a file that cannot be read is recorded with size -1 (the job
    reports it as skipped; a replay then only checks that it is still unreadable)."""
    rows = []
    for path in validation_file_paths(table):
        try:
            rows.append((path, os.path.getsize(path), fingerprint(path)))
        except OSError:
            rows.append((path, -1, ""))
    target = Path(folder) / RECORD_NAME
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("path", "size", "fingerprint"))
        writer.writerows(rows)
    os.replace(tmp, target)  # a crash mid-write leaves no half record
    return target


@dataclass(frozen=True)
class FileChange:
    """A recorded validation file that is not as it was: ``what`` is "missing", "size" or
    "content"; ``detail`` says how (e.g. "size was 441044 bytes, now 441000")."""

    path: str
    what: str
    detail: str = ""


def _change(path: str, size: int, recorded: str) -> Optional[FileChange]:
    if size < 0:  # unreadable when the job trained: nothing to compare
        return None
    if not os.path.isfile(path):
        return FileChange(path, "missing")
    now = os.path.getsize(path)
    if now != size:
        return FileChange(path, "size", f"size was {size} bytes, now {now}")
    if fingerprint(path, ends=recorded.startswith("blake2b-ends:")) != recorded:
        return FileChange(path, "content", "same size, different content")
    return None


def changed_validation_files(folder: Path | str) -> Optional[list[FileChange]]:
    """The recorded validation files of the job in ``folder`` that are missing or changed,
    in record order; None when the folder has no record (an older job)."""
    record = Path(folder) / RECORD_NAME
    if not record.is_file():
        return None
    with open(record, newline="") as handle:
        rows = list(csv.DictReader(handle))
    changes = (_change(row["path"], int(row["size"]), row["fingerprint"]) for row in rows)
    return [change for change in changes if change is not None]
