"""Peak memory of `spectrain detect` with a real sound event detection job: a recording and the
same recording repeated 10 times, each detected in a fresh process; prints both peaks (RSS) and
their ratio, which should be close to 1 (detection streams the file).

    .venv/bin/python tests/benchmarks/sed_detect_job_memory.py --job cache/MODE/TRAINER/N \\
        --input recording.wav [--times 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CHILD = """
import json, resource, sys, time
from modules.inference import detect_with_job
start = time.time()
events = detect_with_job(sys.argv[1], [sys.argv[2]], sys.argv[3], progress=False)
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.time() - start, "events": len(events)}))
"""


def run_child(job: str, recording: Path, output: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, job, str(recording), str(output)],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--job", required=True)
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--times", type=int, default=10)
    args = parser.parse_args()
    import soundfile

    from tests.sed_data import make_repeated_recording

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        long = make_repeated_recording(folder / "long.wav", args.input, args.times)
        results = {}
        for name, path in (("1x", args.input), (f"{args.times}x", long)):
            minutes = soundfile.info(str(path)).duration / 60
            started = time.time()
            results[name] = run_child(args.job, path, folder / f"out-{name}")
            print(f"{name:>4} ({minutes:6.1f} min): peak RSS {results[name]['peak_mb']:7.1f} MB, "
                  f"detection {results[name]['seconds']:6.1f} s, {results[name]['events']} "
                  f"events (process {time.time() - started:.1f} s)")
        ratio = results[f"{args.times}x"]["peak_mb"] / results["1x"]["peak_mb"]
        print(f"peak RSS ratio {args.times}x / 1x: {ratio:.3f}")


if __name__ == "__main__":
    main()
