"""Peak memory of streaming sound event detection: a short recording against a long one.

Writes two 8 kHz mono 16-bit WAV files (default 1 and 60 minutes; the long one is ~57 MB) of
low noise with a loud 1 s burst every 10 s into a temporary folder, written block by block so
the parent stays small too. Then ``modules.sed.detect.detect_file`` runs on each in a fresh
subprocess, with a cheap numpy detector (framewise energy above a level), 10 s windows every
5 s, 0.1 s frames, a 5-frame median filter.

    .venv/bin/python tests/benchmarks/sed_detect_memory.py [--short-minutes 1] [--long-minutes 60]
        [--detect-sr 8000] [--block-seconds 60] [--batch-size 8]

Prints, for each file, the worker's peak resident memory (``ru_maxrss``), its resident memory
after the imports (the floor every run pays), the wall time of detection and the number of
events (checked against the bursts written), then the ratio of the peaks long / short. Detection
keeps only a window's worth of frames, one decoded block and one batch, so the ratio should be
close to 1. ``--detect-sr 16000`` makes the workers resample (soxr streaming) as well.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SR = 8000
WINDOW, HOP, FRAME = 10.0, 5.0, 0.1
BURST_EVERY, BURST_SECONDS = 10.0, 1.0
PREFIX = "@@"  # marks the worker's result line on its stdout


def write_recording(path: Path, minutes: float, block_seconds: float = 60.0) -> int:
    """Noise with a 1 s burst at 3, 13, 23... s; returns the number of bursts."""
    import numpy as np
    import soundfile

    rng = np.random.default_rng(0)
    total = int(round(minutes * 60 * SR))
    block = int(block_seconds * SR)
    with soundfile.SoundFile(path, "w", SR, 1, subtype="PCM_16") as out:
        for start in range(0, total, block):
            n = min(block, total - start)
            t = (start + np.arange(n)) / SR
            audio = 0.01 * rng.standard_normal(n)
            loud = ((t - 3.0) % BURST_EVERY) < BURST_SECONDS
            audio[loud] += 0.5 * np.sin(2 * np.pi * 440.0 * t[loud])
            out.write(audio.astype(np.float32))
    seconds = total / SR
    return sum(1 for k in range(int(seconds // BURST_EVERY) + 1)
               if 3.0 + k * BURST_EVERY < seconds)


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def worker(path: str, detect_sr: int, block_seconds: float, batch_size: int) -> None:
    """Runs in a fresh process: detect one file, print the measurements as one JSON line."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from modules.sed.detect import detect_file

    frame_samples = int(round(FRAME * detect_sr))

    def predict(batch):  # cheap stand-in for a model: frame energy above a level
        b, n = batch.shape
        energy = np.mean(batch.reshape(b, n // frame_samples, frame_samples) ** 2, axis=2)
        return (energy > 0.01).astype(np.float32)[..., None]

    floor = _rss_mb()
    start = time.perf_counter()
    events = detect_file(path, predict, detect_sr, WINDOW, HOP, FRAME, ["burst"],
                         median_filter=5, batch_size=batch_size, block_seconds=block_seconds)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(PREFIX + json.dumps({"peak_mb": peak, "floor_mb": floor, "wall_s": wall,
                               "events": len(events)}), flush=True)


def measure(path: Path, args) -> dict:
    command = [sys.executable, __file__, "--worker", str(path), "--detect-sr", str(args.detect_sr),
               "--block-seconds", str(args.block_seconds), "--batch-size", str(args.batch_size)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        raise SystemExit(f"worker failed on {path}:\n{result.stderr}")
    line = [x for x in result.stdout.splitlines() if x.startswith(PREFIX)][-1]
    return json.loads(line[len(PREFIX):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short-minutes", type=float, default=1.0)
    parser.add_argument("--long-minutes", type=float, default=60.0,
                        help="e.g. 10 for a quicker 10x comparison")
    parser.add_argument("--detect-sr", type=int, default=SR,
                        help="the detector's rate; other than 8000 adds streaming resampling")
    parser.add_argument("--block-seconds", type=float, default=60.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.detect_sr, args.block_seconds, args.batch_size)
        return

    with tempfile.TemporaryDirectory(prefix="sed_detect_memory_") as folder:
        results = {}
        for name, minutes in (("short", args.short_minutes), ("long", args.long_minutes)):
            path = Path(folder) / f"{name}.wav"
            bursts = write_recording(path, minutes)
            result = measure(path, args)
            if result["events"] != bursts:
                raise SystemExit(f"{name}: {result['events']} events for {bursts} bursts")
            results[name] = result
            print(f"{minutes:6g} min ({path.stat().st_size / 2**20:5.1f} MB WAV, detected at "
                  f"{args.detect_sr} Hz): peak RSS {result['peak_mb']:6.1f} MB (after imports "
                  f"{result['floor_mb']:5.1f} MB), detection {result['wall_s']:6.2f} s, "
                  f"{result['events']} events", flush=True)
    short, long = results["short"], results["long"]
    print(f"peak RSS ratio long/short: {long['peak_mb'] / short['peak_mb']:.3f} "
          f"(above the import floor: {long['peak_mb'] - long['floor_mb']:.1f} MB vs "
          f"{short['peak_mb'] - short['floor_mb']:.1f} MB); "
          f"length ratio {args.long_minutes / args.short_minutes:g}x")


if __name__ == "__main__":
    main()
