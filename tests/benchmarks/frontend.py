"""Front-end throughput: a librosa loop vs the suite's tf.data pipeline, over ESC-10.

Both do the same work per clip: decode the Ogg file, resample 44.1 -> 22.05 kHz (soxr HQ), and
compute a 64-bin log-mel spectrogram (n_fft 1024, hop 512, top_db 80). Both are warmed up first
(librosa's numba kernels, TensorFlow's graph tracing), then timed in the same run.

    .venv/bin/python tests/benchmarks/frontend.py [--repeats 3] [--limit N]

Prints clips/s of (a) librosa, (b) the pipeline decoding every file, and (c) the pipeline on a
warm decoded-audio cache (:mod:`modules.data.decoded_cache`), all in the same run, and the
ratios (b)/(a) (target at least 2x on 2 cores) and (c)/(a) (target at least 5x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SR, N_FFT, HOP, N_MELS, TOP_DB = 22050, 1024, 512, 64, 80.0


def librosa_loop(paths):
    import librosa

    out = []
    for path in paths:
        audio, _ = librosa.load(path, sr=SR)  # soundfile decode + soxr_hq resampling
        mel = librosa.feature.melspectrogram(y=audio, sr=SR, n_fft=N_FFT, hop_length=HOP,
                                             n_mels=N_MELS, pad_mode="reflect")
        out.append(librosa.power_to_db(mel, top_db=TOP_DB))
    return len(out)


def suite_pipeline(paths, labels, batch_size=32, decoded_cache=None):
    from modules.parameters import Parameters
    from modules.parsers import spec_parser
    from modules.pipeline import AudioConfig, SkippedFiles, decoded_dataset, evaluation_dataset

    params = Parameters().update(sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, top_db=TOP_DB,
                                 audio_length=5.0, step_size=5.0, chunking="fixed").freeze()
    audio = AudioConfig(SR, 5.0, 5.0, "fixed", params.silence_threshold_db, None, decoded_cache)
    # No tf.data cache: every run reads from disk (the files, or the decoded-audio cache).
    decoded = decoded_dataset(paths, labels, audio, SkippedFiles(), cache=None)
    n = 0
    for inputs, _ in evaluation_dataset(decoded, spec_parser(params), batch_size):
        n += int(inputs.shape[0])
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips")
    args = parser.parse_args()

    from modules.data import load_esc_folders, locate_esc10
    from modules.pipeline import one_hot_labels

    table = load_esc_folders(locate_esc10())
    if args.limit:
        table = table.iloc[: args.limit]
    paths = list(table["path"])
    labels = one_hot_labels(table["label"], sorted(table["label"].unique()))
    print(f"{len(paths)} ESC-10 clips, {os.cpu_count()} CPU cores; "
          f"sr {SR}, n_fft {N_FFT}, hop {HOP}, {N_MELS} mels")

    import tempfile

    cache = tempfile.mkdtemp(prefix="decoded-")
    librosa_loop(paths[:8])  # warm-up: numba compilation, file cache
    suite_pipeline(paths[:40], labels[:40])  # warm-up: graph tracing
    suite_pipeline(paths, labels, decoded_cache=cache)  # fills the decoded-audio cache
    timings = {"librosa": [], "suite": [], "warm": []}
    for _ in range(args.repeats):
        for name, run in (("librosa", lambda: librosa_loop(paths)),
                          ("suite", lambda: suite_pipeline(paths, labels)),
                          ("warm", lambda: suite_pipeline(paths, labels, decoded_cache=cache))):
            start = time.perf_counter()
            count = run()
            timings[name].append(count / (time.perf_counter() - start))
    a, b, c = (statistics.median(timings[name]) for name in ("librosa", "suite", "warm"))
    for label, name, value in (("(a) librosa loop (decode + log-mel):", "librosa", a),
                               ("(b) spectrain tf.data pipeline:     ", "suite", b),
                               ("(c) the same on a warm decoded cache:", "warm", c)):
        print(f"{label} {value:8.1f} clips/s  "
              f"(runs: {', '.join(f'{v:.1f}' for v in timings[name])})")
    print(f"(b)/(a) = {b / a:.2f}x   (target >= 2x)")
    print(f"(c)/(a) = {c / a:.2f}x   (target >= 5x)")
    import shutil

    shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
