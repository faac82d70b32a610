"""Decode once, train many times: decoded audio kept on disk, shared by jobs, folds and replays.

Decoding (Ogg Vorbis above all) and resampling are most of a small job's input time, and every
job, fold and replay of a dataset decodes the same files again. This cache keeps each file's
decoded, mono-mixed and resampled waveform as a ``.npy`` file under ``<cache_root>/decoded/``,
keyed by

* the file's *content* (a BLAKE2b digest of its bytes): a file that changes gets a new entry,
  and the same recording under two paths shares one. The digest of a file seen before is
  remembered by its path, size and modification time (``index/``), so a warm cache does not
  read the file at all;
* the rate, the mono mixing, and the silence threshold the file passed.

An entry holds exactly the float32 array a fresh decode returns, so replays stay IDENTICAL.
Entries are written to a temporary name and renamed into place, so two jobs filling the cache
at once never see half a file; a damaged entry is decoded again. Files that cannot be read are
never cached (the decoder reports them each time). Waveform-pack rows are not cached (they are
read without decoding). ``spectrain jobs`` shows the cache's size; deleting the folder clears
it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from .audio import pack_reference, read_audio

FOLDER = "decoded"  # under the cache root
_warned = threading.Event()
_digests: dict[tuple, str] = {}  # (path, size, mtime, cache) -> content digest, this process


def file_digest(path: str) -> str:
    """BLAKE2b (128 bits) of the file's bytes, read a megabyte at a time."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_digest(path: str, cache_dir: Path) -> str:
    """The file's content digest, remembered under ``index/`` by (path, size, modification
    time): a file seen before is not read again to find its entry, and a file that changes gets
    a new size or time, so its content is hashed afresh."""
    stat = os.stat(path)
    seen = (path, stat.st_size, stat.st_mtime_ns, str(cache_dir))
    if seen in _digests:  # this process has looked it up before (later epochs, folds)
        return _digests[seen]
    key = hashlib.blake2b(f"{os.path.realpath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}"
                          .encode(), digest_size=16).hexdigest()
    index = Path(cache_dir) / "index" / key[:2] / key
    try:
        digest = _digests[seen] = index.read_text()
        return digest
    except OSError:
        pass
    digest = _digests[seen] = file_digest(path)
    try:
        index.parent.mkdir(parents=True, exist_ok=True)
        temporary = index.with_name(f".{key}.{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(digest)
        os.replace(temporary, index)
    except OSError:
        pass  # an index that cannot be written costs only the hashing
    return digest


def entry_path(cache_dir: Path, digest: str, sr: int, silence_threshold_db) -> Path:
    threshold = "none" if silence_threshold_db is None else f"{float(silence_threshold_db):g}"
    return Path(cache_dir) / digest[:2] / f"{digest}-{int(sr)}hz-mono-{threshold}db.npy"


def _store(entry: Path, audio: np.ndarray) -> None:
    """Write ``audio`` to ``entry`` atomically; a cache that cannot be written only warns."""
    temporary = entry.with_name(f".{entry.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as handle:
            np.save(handle, audio, allow_pickle=False)
        os.replace(temporary, entry)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if not _warned.is_set():
            _warned.set()
            warnings.warn(f"decoded-audio cache {entry.parent.parent} cannot be written "
                          f"({error}); files are decoded without it", RuntimeWarning)


def read_audio_cached(path: str, sr: int, cache_dir: Optional[Path],
                      silence_threshold_db: Optional[float] = -90.0) -> np.ndarray:
    """:func:`.audio.read_audio` (mono, at ``sr``) through the cache in ``cache_dir`` (None:
    no cache); the same array, and the same BadAudioError for a bad file."""
    path = str(path)
    if cache_dir is None or pack_reference(path):
        return read_audio(path, sr, mono=True, silence_threshold_db=silence_threshold_db)
    try:
        digest = content_digest(path, Path(cache_dir))
    except OSError:  # missing or unreadable: let the decoder say why
        return read_audio(path, sr, mono=True, silence_threshold_db=silence_threshold_db)
    entry = entry_path(Path(cache_dir), digest, sr, silence_threshold_db)
    if entry.is_file():
        try:
            return np.load(entry, allow_pickle=False)
        except (OSError, ValueError):  # damaged (e.g. a disk that filled up): decode again
            pass
    audio = read_audio(path, sr, mono=True, silence_threshold_db=silence_threshold_db)
    _store(entry, audio)
    return audio


def cache_size(cache_dir: Path) -> tuple[int, int]:
    """(entries, bytes) of the cache."""
    files = [p for p in Path(cache_dir).glob("*/*.npy")] if Path(cache_dir).is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)
