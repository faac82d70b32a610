"""Latency of an exported model against the job's Keras pipeline, and file sizes.

Exports a finished job to SavedModel, LiteRT (float32, float16, int8) and ONNX, then times one
window at a time (batch 1, the device case) through each format's own runtime and through the
job's Keras pipeline (front end + model, as `spectrain predict` runs it), all on 2 threads.
Prints the median latency per window, its ratio to Keras, the file size and the verification.

    .venv/bin/python tests/benchmarks/export.py --job cache/MODE/TRAINER/N [--runs 30]
        [--formats savedmodel litert onnx]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = (("savedmodel", None), ("litert", None), ("litert", "float16"), ("litert", "int8"),
            ("onnx", None))


def median_ms(predict, window, runs: int) -> float:
    predict(window)  # warm up (tracing, allocation)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predict(window)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--job", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--formats", nargs="+", choices=("savedmodel", "litert", "onnx"),
                        default=["savedmodel", "litert", "onnx"])
    args = parser.parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(2)
    from modules.job_folder import Job
    from modules.model_export import export_job, runtime_predictor, validation_windows

    job = Job(args.job)
    windows, _ = validation_windows(job, limit=1)
    keras_ms = median_ms(job.task.window_predictor(job), windows, args.runs)
    print(f"job {job.path} ({job.model.name}), one window of {windows.shape[1]} samples")
    print(f"{'keras (job pipeline)':<22} {keras_ms:8.2f} ms   1.00x")
    with tempfile.TemporaryDirectory() as folder:
        for fmt, quantize in [(f, q) for f, q in VARIANTS if f in args.formats]:
            output = Path(folder) / f"{fmt}-{quantize}"
            card = export_job(job.path, fmt, output, quantize, limit=64)
            path = output / card["file"]
            ms = median_ms(runtime_predictor(fmt, path), windows, args.runs)
            check = card["verification"]
            print(f"{fmt + (' ' + quantize if quantize else ''):<22} {ms:8.2f} ms "
                  f"{ms / keras_ms:6.2f}x   {size_mb(path):7.2f} MB   largest difference "
                  f"{check['largest_difference']:.2g}, {check['metric']} "
                  f"{check['keras']:.3f} -> {check['exported']:.3f} ({check['windows']} "
                  f"windows)")


if __name__ == "__main__":
    main()
