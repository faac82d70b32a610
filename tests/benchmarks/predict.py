"""Speed and memory of `spectrain predict` (modules.prediction) on 2 CPU cores.

For each model, a recording of ``--short`` minutes and one of ``--long`` minutes (real ESC-10
clips one after another, at the model's rate) are predicted in fresh processes pinned to two
cores (``taskset``, TensorFlow on 2 threads). Each prints windows per second, the real-time
factor (seconds of audio per second of compute; higher is faster) and the process's peak
resident memory; the last line per model is the peak-RSS ratio long / short, which stays near 1
because files are streamed.

* ``baseline``: ``baseline_cnn`` (default filters) on 128-band log-mels, 22.05 kHz, 5 s windows;
* ``cnn14``: PANNs CNN14 with its own front end, 32 kHz, 10 s windows (random weights: the
  speed does not depend on them).

    .venv/bin/python tests/benchmarks/predict.py [--models baseline cnn14] [--short 1] [--long 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

MODELS = {"baseline": {"sr": 22050, "seconds": 5.0}, "cnn14": {"sr": 32000, "seconds": 10.0}}

CHILD = """
import json, os, resource, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(2)
from modules.parameters import Parameters
from modules.prediction import PredictionSettings, model_window_predictor, predict_files
name, recording, output, sr, seconds = sys.argv[1:6]
sr, seconds = int(sr), float(seconds)
params = Parameters(sr=sr, audio_length=seconds, step_size=seconds, n_mels=128).freeze()
if name == "baseline":
    from modules.models import baseline_cnn
    from modules.parsers import spec_parser
    parse = spec_parser(params)
    shape = tuple(parse(tf.zeros([1, int(sr * seconds)]), None)[0].shape[1:])
    model, classes = baseline_cnn(shape, 10), 10
else:
    from modules.models import cnn14
    from modules.models.finetune import classification_model
    from modules.parsers import waveform_parser
    model = classification_model(cnn14((int(sr * seconds),), 527))  # as a job builds it
    parse, classes = waveform_parser(params), 527
settings = PredictionSettings(sr=sr, window_seconds=seconds, hop_seconds=seconds,
                              classes=tuple(str(i) for i in range(classes)),
                              thresholds=(0.5,) * classes, batch_size=16)
predict = model_window_predictor(model, parse, classes)
predict(tf.zeros([16, int(sr * seconds)]).numpy())  # trace once, outside the timing
start = time.perf_counter()
files = predict_files([recording], predict, settings, output, progress=False)
elapsed = time.perf_counter() - start
print("@@" + json.dumps({"seconds": elapsed, "windows": int(files["windows"][0]),
                         "audio_s": float(files["duration_s"][0]),
                         "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_recording(path: Path, sr: int, minutes: float) -> Path:
    """Real ESC-10 clips one after another, at ``sr``, written block by block."""
    import numpy as np
    import soundfile

    from modules.data import read_audio
    from tests.conftest import ESC10

    clips = sorted(ESC10.rglob("*.ogg"))[:40]
    audio = np.concatenate([read_audio(str(clip), sr) for clip in clips])
    total = int(minutes * 60 * sr)
    with soundfile.SoundFile(path, "w", sr, 1, subtype="PCM_16") as handle:
        for start in range(0, total, len(audio)):
            handle.write(audio[: min(len(audio), total - start)])
    return path


def run_child(name: str, recording: Path, output: Path) -> dict:
    model = MODELS[name]
    command = [sys.executable, "-c", CHILD, name, str(recording), str(output),
               str(model["sr"]), str(model["seconds"])]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0,1", *command]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{name}: worker failed:\n{result.stderr[-3000:]}")
    line = next(line for line in result.stdout.splitlines()[::-1] if line.startswith("@@"))
    return json.loads(line[2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS),
                        default=["baseline", "cnn14"])
    parser.add_argument("--short", type=float, default=1.0, help="minutes")
    parser.add_argument("--long", type=float, default=60.0, help="minutes")
    args = parser.parse_args()
    print(f"2 cores ({'taskset -c 0,1' if shutil.which('taskset') else 'no taskset'}), "
          f"{os.cpu_count()} on the machine")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for name in args.models:
            peaks = {}
            for minutes in (args.short, args.long):
                recording = make_recording(folder / f"{name}-{minutes:g}.wav",
                                           MODELS[name]["sr"], minutes)
                result = run_child(name, recording, folder / f"out-{name}-{minutes:g}")
                peaks[minutes] = result["peak_mb"]
                print(f"{name:>8} {minutes:5g} min: {result['windows']:5d} windows, "
                      f"{result['windows'] / result['seconds']:7.1f} windows/s, real-time "
                      f"factor {result['audio_s'] / result['seconds']:7.1f}, peak RSS "
                      f"{result['peak_mb']:7.1f} MB")
                recording.unlink()
            print(f"{name:>8} peak RSS ratio {args.long:g} min / {args.short:g} min: "
                  f"{peaks[args.long] / peaks[args.short]:.3f}")


if __name__ == "__main__":
    main()
