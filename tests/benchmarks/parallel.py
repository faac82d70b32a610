"""Wall time of K training jobs run one after another vs side by side on a local Ray cluster.

A generated trainer holds K job blocks (ESC-10, testing mode: 4 clips per class and split, the
baseline CNN at 22.05 kHz, 64 mel bins, ``--epochs`` epochs, different learning rates). It is
launched twice, each time as a fresh process with its own cache, exactly as a user would:

    (a) spectrain train T --testing                  the blocks one after another
    (b) spectrain train T --testing --parallel K     the blocks as K Ray tasks at once

    .venv/bin/python tests/benchmarks/parallel.py [--jobs K] [--epochs E]

Prints both wall times and the ratio (a)/(b), and checks that each job of (b) has the same
metrics as its job in (a). On 2 cores a job's TensorFlow already uses both, so expect a ratio
near 1 (the start-up of K processes and of Ray is paid back only by the parts of a job that
leave cores idle: decoding, Python, plotting); with K jobs on K or more GPUs, near K.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def trainer_text(jobs: int, epochs: int) -> str:
    rates = ", ".join(f"{1e-3 * (1 + i):.0e}" for i in range(jobs))
    return textwrap.dedent(f"""
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.parsers import spec_parser
        from modules.training import launch_job

        for lr in ({rates},):
            parameters.reset()
            parameters.mode = "esc10"
            parameters.n_mels = 64
            parameters.n_fft = 1024
            parameters.testing_epochs = {epochs}
            parameters.lr = lr
            launch_job({{"Esc10": 1}}, baseline_cnn, [], [], spec_parser)
    """)


def launch(trainer: Path, cache: Path, logs: Path, *options) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "modules.cli", "train", str(trainer), "--testing",
                    "--no-progress", "--cache-root", str(cache), *options], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "SPECTRAIN_LOG_DIR": str(logs)})
    return time.perf_counter() - started


def metrics_by_block(cache: Path) -> dict:
    found = {}
    for job in (cache / "esc10").glob("*/*_testing"):
        info = json.loads((job / "job.json").read_text())
        found[info["job_block"]] = json.loads((job / "metrics.json").read_text())
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        trainer = scratch / "train_bench.py"
        trainer.write_text(trainer_text(args.jobs, args.epochs))
        serial = launch(trainer, scratch / "serial", scratch / "logs")
        parallel = launch(trainer, scratch / "parallel", scratch / "logs",
                          "--parallel", str(args.jobs))
        same = metrics_by_block(scratch / "serial") == metrics_by_block(scratch / "parallel")
    print(f"{args.jobs} jobs of {args.epochs} epochs on {os.cpu_count()} cores")
    print(f"(a) serial:            {serial:7.1f} s")
    print(f"(b) --parallel {args.jobs}:       {parallel:7.1f} s")
    print(f"(a)/(b): {serial / parallel:.2f}x; parallel jobs' metrics equal the serial ones: "
          f"{same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
