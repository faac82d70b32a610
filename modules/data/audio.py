"""Audio decoding, validation and chunking.

Everything here may run inside ``tf.data`` through ``tf.numpy_function``, on several threads at
once, so the functions keep no shared state: each call opens its own file handle.

libsndfile (through ``soundfile``) is lenient with damaged files, so :func:`read_audio` adds its
own checks and turns every problem into a :class:`BadAudioError` with a short, readable reason:

* WAV/AIFF cut short: libsndfile quietly shrinks its frame count to what the file holds, so the
  frame count declared in the RIFF/AIFF header is read here and compared with what was decoded.
* Ogg (Vorbis/Opus) cut short: libsndfile either refuses to open it ("malformed") or reports 0
  frames, so the Ogg page structure is walked to check that the last page is complete.
* FLAC cut short: libsndfile raises mid-read ("flac decoder lost sync").
* MP3 cut short: fewer frames decode than the header announces.
"""

from __future__ import annotations

import math
import os
import stat
import struct
from typing import Callable, Optional, Union

import numpy as np
import soundfile
import soxr

PathLike = Union[str, bytes, os.PathLike]

CHUNK_MODES = ("chunk", "fixed")

# libsndfile error codes (sndfile.h) that deserve their own wording.
_SF_ERR_UNRECOGNISED_FORMAT = 1
_SF_ERR_SYSTEM = 2
_SF_ERR_MALFORMED_FILE = 3
_SF_ERR_UNSUPPORTED_ENCODING = 4

# Subtypes whose WAV/AIFF block alignment is exactly one frame, so that the data chunk size
# divided by it is the declared frame count (not true for ADPCM, GSM and other block codecs).
_FRAME_ALIGNED_SUBTYPES = ("PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE",
                           "ULAW", "ALAW")
# MP3 frame counts can be estimates (no Xing/LAME header); allow this much shortfall before
# calling an MP3 truncated.
_MP3_TOLERANCE_FRAMES = 2 * 1152
_MP3_TOLERANCE_FRACTION = 0.01
# Read in blocks (instead of preallocating the header's frame count) beyond this many frames;
# guards against absurd counts in corrupt headers.
_MAX_PREALLOCATED_FRAMES = 1 << 28
_READ_BLOCK_FRAMES = 1 << 20


class BadAudioError(Exception):
    """A file that cannot be used as audio.

    Attributes:
        path: the file, as a str.
        reason: short human-readable text, e.g. ``"empty file (0 bytes)"`` or
            ``"truncated: header says 44100 frames, only 22039 could be read"``.
    """

    def __init__(self, path: PathLike, reason: str):
        self.path = _as_str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # keep both attributes when pickled (e.g. across processes)
        return (BadAudioError, (self.path, self.reason))


def _as_str(path: PathLike) -> str:
    # tf.numpy_function hands paths over as bytes.
    return os.fsdecode(os.fspath(path))


def sound_file_message(error: Exception) -> str:
    """libsndfile's own words for an error it raised (or the error's text)."""
    if isinstance(error, soundfile.LibsndfileError):
        return error.error_string.rstrip(".")
    return str(error).rstrip(".") or type(error).__name__


def _check_file(path: str) -> None:
    """Reject what libsndfile would describe badly: missing, not a file, empty."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BadAudioError(path, "file not found") from None
    except OSError as error:
        raise BadAudioError(path, f"cannot access file: {error.strerror or error}") from None
    if not stat.S_ISREG(st.st_mode):
        raise BadAudioError(path, "not a regular file")
    if st.st_size == 0:
        raise BadAudioError(path, "empty file (0 bytes)")


def _open_error(path: str, error: Exception) -> BadAudioError:
    """Map an error raised while opening a file to a BadAudioError."""
    code = getattr(error, "code", None)
    message = sound_file_message(error)
    if code == _SF_ERR_UNRECOGNISED_FORMAT:
        reason = f"not an audio file: {message}"
    elif code == _SF_ERR_MALFORMED_FILE:
        reason = f"truncated or corrupt: {message}"
    elif code == _SF_ERR_UNSUPPORTED_ENCODING:
        reason = f"unsupported audio encoding: {message}"
    elif code == _SF_ERR_SYSTEM and not os.path.exists(path):
        reason = "file not found"  # removed between the stat and the open
    else:
        reason = f"cannot decode: {message}"
    return BadAudioError(path, reason)


def _declared_wav_frames(path: str) -> Optional[int]:
    """Frame count declared by a RIFF/RIFX/RF64 WAV header, or None when unknown."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[8:12] != b"WAVE":
            return None
        if head[:4] == b"RIFX":
            endian = ">"
        elif head[:4] in (b"RIFF", b"RF64", b"BW64"):
            endian = "<"
        else:
            return None
        size = os.fstat(fh.fileno()).st_size
        position, block_align, ds64_data_size = 12, None, None
        while position + 8 <= size:
            fh.seek(position)
            chunk_id, chunk_size = struct.unpack(endian + "4sI", fh.read(8))
            if chunk_id == b"ds64":
                body = fh.read(16)
                if len(body) == 16:
                    ds64_data_size = struct.unpack("<Q", body[8:16])[0]
            elif chunk_id == b"fmt ":
                body = fh.read(14)
                if len(body) == 14:
                    block_align = struct.unpack(endian + "H", body[12:14])[0]
            elif chunk_id == b"data":
                if chunk_size == 0xFFFFFFFF and ds64_data_size is not None:
                    chunk_size = ds64_data_size
                # Streaming writers leave 0 or 0xFFFFFFFF when the length is not known.
                if not block_align or chunk_size in (0, 0xFFFFFFFF):
                    return None
                return chunk_size // block_align
            position += 8 + chunk_size + (chunk_size & 1)  # chunks are word aligned
    return None


def _declared_aiff_frames(path: str) -> Optional[int]:
    """Frame count declared in an AIFF/AIFC COMM chunk, or None when unknown."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"FORM" or head[8:12] not in (b"AIFF", b"AIFC"):
            return None
        size = os.fstat(fh.fileno()).st_size
        position = 12
        while position + 8 <= size:
            fh.seek(position)
            chunk_id, chunk_size = struct.unpack(">4sI", fh.read(8))
            if chunk_id == b"COMM":
                body = fh.read(6)
                return struct.unpack(">I", body[2:6])[0] if len(body) == 6 else None
            position += 8 + chunk_size + (chunk_size & 1)
    return None


def _ogg_truncation(path: str) -> Optional[str]:
    """Walk the Ogg pages; describe the truncation if the last page is cut short, else None.

    Only a page running past the end of the file counts: a stream that merely lacks the
    end-of-stream flag, or has junk between pages, decodes and is left alone.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        position = 0
        while position < size:
            fh.seek(position)
            header = fh.read(27)
            if not (header.startswith(b"OggS") or b"OggS".startswith(header)):
                return None  # not where a page should start: cannot judge, leave to libsndfile
            if len(header) < 27:
                return "truncated: file ends inside an Ogg page header"
            n_segments = header[26]
            segments = fh.read(n_segments)
            if len(segments) < n_segments:
                return "truncated: file ends inside an Ogg page header"
            end = position + 27 + n_segments + sum(segments)
            if end > size:
                return (f"truncated: last Ogg page needs {end - position} bytes, "
                        f"only {size - position} remain")
            position = end
    return None


def _declared_frames(path: str, sf_format: str, subtype: str) -> Optional[int]:
    if subtype not in _FRAME_ALIGNED_SUBTYPES:
        return None
    if sf_format in ("WAV", "WAVEX", "RF64"):
        return _declared_wav_frames(path)
    if sf_format == "AIFF":
        return _declared_aiff_frames(path)
    return None


def expected_frames(path: str, sf_format: str, subtype: str, frames: int) -> int:
    """The frames a file should decode to, read from its header without decoding it.

    ``sf_format``, ``subtype`` and ``frames`` are what libsndfile reports for the file. WAV and
    AIFF: the frame count the header declares (libsndfile quietly shrinks ``frames`` for a file
    cut short); other formats, or no declared count: ``frames``.

    Raises:
        BadAudioError: an Ogg file whose last page is cut short; a file that cannot be read.
    """
    try:
        if sf_format == "OGG":
            problem = _ogg_truncation(path)
            if problem:
                raise BadAudioError(path, problem)
        declared = _declared_frames(path, sf_format, subtype)
    except OSError as error:  # the file vanished or became unreadable
        raise BadAudioError(path, f"cannot access file: {error.strerror or error}") from None
    return declared if declared is not None else frames


def check_without_decoding(path: str, sf_format: str, subtype: str, frames: int) -> int:
    """Check a file without decoding it; returns :func:`expected_frames`.

    For readers that decode a file in pieces (sound event detection streams hours of audio,
    clip cutting seeks): the truncation visible in the header is refused up front, before
    decoding anything.

    Raises:
        BadAudioError: as :func:`expected_frames`, or a header declaring more frames than the
            file holds.
    """
    expected = expected_frames(path, sf_format, subtype, frames)
    if expected > frames:
        raise BadAudioError(path, f"truncated: header says {expected} frames, only {frames} "
                                  f"are in the file")
    return expected


def check_frames_decoded(path: str, sf_format: str, expected: Optional[int],
                         decoded: int) -> None:
    """BadAudioError when fewer than ``expected`` (:func:`expected_frames`) frames decoded.

    MP3 frame counts can be estimates (no Xing/LAME header), so an MP3 may fall a little short.
    """
    if expected is None or expected <= 0:
        return
    tolerated = 0
    if sf_format in ("MP3", "MPEG"):
        tolerated = max(_MP3_TOLERANCE_FRAMES, int(_MP3_TOLERANCE_FRACTION * expected))
    if expected - decoded > tolerated:
        raise BadAudioError(path, f"truncated: header says {expected} frames, only {decoded} "
                                  f"could be read")


def _read_frames(handle: soundfile.SoundFile) -> np.ndarray:
    """Read every frame as float32 (frames, channels), in blocks if the count looks absurd."""
    if 0 <= handle.frames <= _MAX_PREALLOCATED_FRAMES:
        return handle.read(dtype="float32", always_2d=True)
    blocks = []
    while True:
        block = handle.read(_READ_BLOCK_FRAMES, dtype="float32", always_2d=True)
        blocks.append(block)
        if len(block) < _READ_BLOCK_FRAMES:
            break
    return np.concatenate(blocks)


def check_peak(path: str, audio: np.ndarray, silence_threshold_db: Optional[float]) -> None:
    """BadAudioError for non-finite samples, or a peak below ``silence_threshold_db`` dBFS."""
    peak = float(np.max(np.abs(audio)))
    if not math.isfinite(peak):
        raise BadAudioError(path, "corrupt: contains NaN or infinite samples")
    if silence_threshold_db is not None:
        peak_db = 20.0 * math.log10(peak) if peak > 0 else -math.inf
        if peak_db < silence_threshold_db:
            raise BadAudioError(path, f"all silent (peak {peak_db:.1f} dBFS)")


def loud_span(audio: np.ndarray, below_peak_db: Optional[float]) -> tuple[int, int]:
    """``(first, stop)``: the samples from the first to the last that come within
    ``below_peak_db`` dB of the signal's peak (e.g. -60). None, or a silent signal: all of it."""
    level = np.abs(audio)
    if below_peak_db is None or len(level) == 0 or level.max() == 0:
        return 0, len(level)
    loud = np.flatnonzero(level >= level.max() * 10.0 ** (below_peak_db / 20.0))
    return int(loud[0]), int(loud[-1]) + 1


def trim_silence(audio: np.ndarray, below_peak_db: Optional[float]) -> np.ndarray:
    """The signal without its leading and trailing silence (see :func:`loud_span`). Datasets
    such as ESC-50 pad short events with digital silence to a fixed length, and a window cut
    from that padding would carry the event's label."""
    first, stop = loud_span(audio, below_peak_db)
    return audio[first:stop]


def open_sound_file(path: str) -> soundfile.SoundFile:
    """An open ``soundfile.SoundFile``, or BadAudioError saying why the file cannot be read
    (missing, empty, not audio...)."""
    _check_file(path)
    try:
        return soundfile.SoundFile(path)
    except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as error:
        raise _open_error(path, error) from None


def _decode(path: str, silence_threshold_db: Optional[float]) -> tuple[np.ndarray, dict]:
    """Decode and validate a file at its own rate: float32 (frames, channels) and its info."""
    handle = open_sound_file(path)
    with handle:
        info = {
            "sample_rate": handle.samplerate,
            "channels": handle.channels,
            "frames": handle.frames,
            "format": handle.format,
            "subtype": handle.subtype,
        }
        try:
            audio = _read_frames(handle)
        except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError,
                MemoryError) as error:
            raise BadAudioError(
                path, f"truncated or corrupt: {sound_file_message(error)}") from None
    frames_read = len(audio)
    expected = expected_frames(path, info["format"], info["subtype"], info["frames"])
    check_frames_decoded(path, info["format"], expected, frames_read)
    if frames_read == 0:
        raise BadAudioError(path, "no audio frames")

    check_peak(path, audio, silence_threshold_db)
    info["frames"] = frames_read
    info["duration_s"] = frames_read / info["sample_rate"]
    return audio, info


# --- waveform packs (:mod:`.packs`): a clip of a pack is read like a file ---------------------

PACK_SEPARATOR = "::"
PACK_SUFFIXES = (".h5", ".hdf5")


def pack_reference(path: str) -> Optional[tuple[str, int]]:
    """(pack file, row) for a ``<pack>.h5::<row>`` path, else None."""
    head, separator, row = str(path).rpartition(PACK_SEPARATOR)
    if separator and row.isdigit() and head.lower().endswith(PACK_SUFFIXES):
        return head, int(row)
    return None


def read_pack_row(path: str, pack: str, row: int) -> tuple[np.ndarray, dict]:
    """One clip as float32 (frames, 1) and its info, like a decoded file; BadAudioError if the
    pack or the row cannot be read. int16 waveforms (spectrain, PANNs) are scaled by 1 / 32767
    (PANNs' ``int16_to_float32``); float waveforms (older PANNs packs) are taken as they are."""
    import h5py

    try:
        with h5py.File(pack, "r") as handle:
            if "waveform" not in handle or "sample_rate" not in handle.attrs:
                raise BadAudioError(path, "not a waveform pack: missing dataset waveform or "
                                          "attribute sample_rate")
            waveforms = handle["waveform"]
            if row >= len(waveforms):
                raise BadAudioError(path, f"the pack has {len(waveforms)} clips, no row {row}")
            clip = waveforms[row]
            sample_rate = int(np.asarray(handle.attrs["sample_rate"]).reshape(-1)[0])
    except (OSError, KeyError) as error:
        raise BadAudioError(path, f"cannot read waveform pack: {error}") from None
    if clip.dtype == np.int16:
        audio, subtype = (clip.astype(np.float32) / 32767.0)[:, None], "PCM_16"
    elif clip.dtype.kind == "f":
        audio, subtype = clip.astype(np.float32)[:, None], "FLOAT"
    else:
        raise BadAudioError(path, f"waveform is {clip.dtype}: expected int16 or float32")
    return audio, {"sample_rate": sample_rate, "channels": 1, "frames": len(clip),
                   "format": "HDF5", "subtype": subtype, "duration_s": len(clip) / sample_rate}


def read_audio(path: PathLike, sr: Optional[int], mono: bool = True,
               silence_threshold_db: Optional[float] = -90.0) -> np.ndarray:
    """Decode, validate and resample one audio file.

    Args:
        path: the file (str, bytes or path-like). Any format libsndfile reads: WAV, FLAC, OGG
            (Vorbis/Opus), MP3, AIFF...; or ``<pack>.h5::<row>``, one clip of a waveform pack
            (see :mod:`modules.data.packs`).
        sr: the wanted sample rate in Hz; resampled with soxr (quality "HQ") when the file's rate
            differs. None keeps the file's rate.
        mono: mix down to one channel (mean of the channels) and return shape (samples,);
            otherwise shape (samples, channels).
        silence_threshold_db: a file whose peak absolute amplitude is below this (dBFS) is
            rejected as all-silent. None disables the check.

    Returns:
        float32 array, C-contiguous.

    Raises:
        BadAudioError: the file is missing, empty, not audio, truncated or corrupt, has no
            frames, or is all silent; ``reason`` says which.
    """
    path = _as_str(path)
    if sr is not None and sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    reference = pack_reference(path)  # "pack.h5::row": a clip of a waveform pack
    if reference:
        audio, info = read_pack_row(path, *reference)
        check_peak(path, audio, silence_threshold_db)
    else:
        audio, info = _decode(path, silence_threshold_db)
    if mono:
        # Mix down before resampling: both are linear, and resampling one channel is cheaper.
        audio = audio[:, 0] if audio.shape[1] == 1 else audio.mean(axis=1, dtype=np.float32)
    if sr is not None and sr != info["sample_rate"]:
        audio = soxr.resample(audio, info["sample_rate"], sr, quality="HQ")
    return np.ascontiguousarray(audio, dtype=np.float32)


def check_audio(path: PathLike, silence_threshold_db: Optional[float] = -90.0) -> dict:
    """Decode a whole file at its own rate and return what was found, or raise.

    Runs every check of :func:`read_audio` without resampling.

    Returns:
        dict as :func:`audio_info`, but ``frames`` and ``duration_s`` count the frames actually
        decoded.

    Raises:
        BadAudioError: as :func:`read_audio`.
    """
    _, info = _decode(_as_str(path), silence_threshold_db)
    return {key: info[key] for key in
            ("duration_s", "sample_rate", "channels", "frames", "format", "subtype")}


def audio_info(path: PathLike) -> dict:
    """Header information of one file, without decoding it.

    Returns:
        dict with duration_s, sample_rate, channels, frames, format and subtype (as libsndfile
        names them, e.g. "OGG" and "VORBIS"). ``frames`` is what the header says; use
        :func:`read_audio` to find out whether that many can actually be decoded.

    Raises:
        BadAudioError: missing, empty, or not a readable audio file.
    """
    path = _as_str(path)
    _check_file(path)
    try:
        info = soundfile.info(path)
    except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as error:
        raise _open_error(path, error) from None
    return {
        "duration_s": info.frames / info.samplerate if info.samplerate else 0.0,
        "sample_rate": info.samplerate,
        "channels": info.channels,
        "frames": info.frames,
        "format": info.format,
        "subtype": info.subtype,
    }


def chunk_audio(audio: np.ndarray, sr: int, audio_length: float, step_size: float,
                mode: str = "chunk") -> tuple[np.ndarray, np.ndarray]:
    """Cut a mono signal into fixed-length examples.

    With ``L = round(audio_length * sr)`` and ``S = round(step_size * sr)`` samples:

    * mode ``"chunk"``: full windows ``audio[k*S : k*S + L]`` for every ``k`` whose window fits
      (``k = 0 .. K-1`` with ``K = (n - L) // S + 1``). The *remainder* is the tail that no full
      window covers: ``r = n - ((K-1)*S + L)`` samples (with overlap, ``S < L``, this is shorter
      than ``n - K*S``). If ``r > L / 2`` one more window is added at the next start, ``K*S``,
      holding ``audio[K*S:]`` zero-padded to L (it includes the overlap with the previous
      window); otherwise the remainder is dropped. A signal shorter than one window gives ONE
      zero-padded chunk, so no recording silently disappears.
    * mode ``"fixed"``: exactly one chunk, the first L samples, zero-padded if shorter.

    Args:
        audio: 1-D signal.
        sr: its sample rate in Hz.
        audio_length: chunk length in seconds.
        step_size: seconds between chunk starts (mode "chunk" only).
        mode: "chunk" or "fixed".

    Returns:
        (chunks, padded): float32 (n_chunks, L), and bool (n_chunks,) True where a chunk holds
        zero padding. An empty signal gives no chunks.

    Raises:
        ValueError: unknown mode, non 1-D audio, or a length/step that rounds to 0 samples.
    """
    if mode not in CHUNK_MODES:
        raise ValueError(f"unknown chunking mode {mode!r}; expected one of {CHUNK_MODES}")
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"chunk_audio expects a 1-D (mono) signal, got shape {audio.shape}")
    length = int(round(audio_length * sr))
    if length <= 0:
        raise ValueError(f"audio_length={audio_length} s at sr={sr} is less than one sample")
    n = len(audio)
    if n == 0:
        return np.zeros((0, length), np.float32), np.zeros((0,), bool)

    if mode == "fixed" or n <= length:
        chunk = np.zeros((1, length), np.float32)
        kept = min(n, length)
        chunk[0, :kept] = audio[:kept]
        return chunk, np.array([n < length])

    step = int(round(step_size * sr))
    if step <= 0:
        raise ValueError(f"step_size={step_size} s at sr={sr} is less than one sample")
    n_full = (n - length) // step + 1
    remainder = n - ((n_full - 1) * step + length)
    n_chunks = n_full + (1 if remainder > length / 2 else 0)
    chunks = np.zeros((n_chunks, length), np.float32)
    for k in range(n_chunks):
        piece = audio[k * step:k * step + length]
        chunks[k, :len(piece)] = piece
    padded = np.zeros((n_chunks,), bool)
    padded[n_full:] = True
    return chunks, padded


def decode_to_chunks(path: PathLike, sr: int, audio_length: float, step_size: float,
                     mode: str = "chunk", silence_threshold_db: Optional[float] = -90.0,
                     reader: Optional[Callable] = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Read a file as mono at ``sr`` and chunk it; never raises for bad audio.

    Meant for ``tf.numpy_function`` in the input pipeline. ``reader(path, sr,
    silence_threshold_db)``: how the file is read (default: :func:`read_audio`, mono; the
    pipeline passes the decoded-audio cache, :mod:`.decoded_cache`).

    Returns:
        (chunks, padded, error): as :func:`chunk_audio`, and "" when the file is fine. For a bad
        file: an empty float32 (0, L) array, an empty bool array and the reason (see
        :class:`BadAudioError`).

    Raises:
        ValueError: bad arguments (unknown mode, non-positive lengths); these are programming
            errors, not bad audio.
    """
    try:
        audio = (reader(path, sr, silence_threshold_db) if reader else
                 read_audio(path, sr, mono=True, silence_threshold_db=silence_threshold_db))
    except BadAudioError as error:
        if mode not in CHUNK_MODES:
            raise ValueError(f"unknown chunking mode {mode!r}; expected one of {CHUNK_MODES}")
        length = max(int(round(audio_length * sr)), 0)
        return np.zeros((0, length), np.float32), np.zeros((0,), bool), error.reason
    chunks, padded = chunk_audio(audio, sr, audio_length, step_size, mode)
    return chunks, padded, ""
