"""One CNN14 training step: the suite's Keras cnn14 against the PyTorch reference (panns_inference).

A step is forward + backward + Adam update on a batch of 8 clips of 5 s at 32 kHz, 527 sigmoid
outputs, binary cross-entropy, in training mode (SpecAugment and dropout active) on both sides.
Both frameworks run on 2 threads.

Each framework runs in its own worker process (so its peak memory, ``ru_maxrss``, is its own and
the thread settings are applied before it initialises). After the warm-up steps the parent
alternates between the two workers, ``--steps`` timed steps at a time for ``--rounds`` rounds, so
a background load slows both alike; it prints the median per-step time of each, the ratio
Keras / PyTorch (target <= 0.85) and each worker's peak resident memory.

    .venv/bin/python tests/benchmarks/cnn14_step.py [--rounds 3] [--steps 2] [--warmup 2]

``--keras-step`` picks the Keras training step: ``fit`` (``train_on_batch``, the compiled step
``model.fit`` uses; default) or ``tape`` (a hand-written ``tf.function`` step); ``--jit`` adds
XLA compilation to it (slower on CPU when last measured).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SR, SECONDS, CLASSES = 32000, 5.0, 527
PREFIX = "@@"  # marks protocol lines on a worker's stdout (libraries may print too)


def _data(batch: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = (0.1 * rng.standard_normal((batch, int(SR * SECONDS)))).astype(np.float32)
    y = (rng.random((batch, CLASSES)) < 0.02).astype(np.float32)
    return x, y


def keras_worker(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    import keras

    sys.path.insert(0, str(ROOT))
    from modules.models.panns import cnn14

    keras.utils.set_random_seed(0)
    model = cnn14((None,), n_classes=CLASSES, seed=0)
    network = keras.Model(model.input, model.output["clipwise_output"])
    x, y = _data(args.batch)
    if args.keras_step == "fit":
        network.compile(optimizer=keras.optimizers.Adam(1e-3),
                        loss=keras.losses.BinaryCrossentropy(), jit_compile=args.jit)

        def step():
            return float(network.train_on_batch(x, y))
    else:
        optimizer = keras.optimizers.Adam(1e-3)
        loss_fn = keras.losses.BinaryCrossentropy()
        optimizer.build(network.trainable_variables)
        x_t, y_t = tf.constant(x), tf.constant(y)

        @tf.function(jit_compile=args.jit)
        def train_step(inputs, targets):
            with tf.GradientTape() as tape:
                loss = loss_fn(targets, network(inputs, training=True))
            optimizer.apply(tape.gradient(loss, network.trainable_variables),
                            network.trainable_variables)
            return loss

        def step():
            return float(train_step(x_t, y_t))

    return step


def torch_worker(args):
    import importlib.util
    import types

    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.inter_op_threads)
    # The reference loader by file path: importing it as modules.models.panns.reference would run
    # the package __init__ files, which import TensorFlow into this worker (memory, threads).
    spec = importlib.util.spec_from_file_location(
        "_panns_reference", ROOT / "modules" / "models" / "panns" / "reference.py")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    preset = types.SimpleNamespace(sr=SR, window_size=1024, hop_size=320, mel_bins=64, fmin=50.0,
                                   fmax=14000.0)  # PANNS_32K

    torch.manual_seed(0)
    model = reference.build("Cnn14", preset, classes_num=CLASSES).train()
    assert "tensorflow" not in sys.modules
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = (torch.from_numpy(a) for a in _data(args.batch))

    def step():
        optimizer.zero_grad(set_to_none=True)
        output = model(x)["clipwise_output"]
        loss = torch.nn.functional.binary_cross_entropy(output, y)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def worker(args) -> None:
    """Build, warm up, then answer "run N" with N step times; "quit" with peak memory."""
    step = (keras_worker if args.worker == "keras" else torch_worker)(args)
    losses = [step() for _ in range(args.warmup)]
    _send({"ready": True, "warmup_losses": losses})
    for line in sys.stdin:
        command = line.split()
        if command[0] == "run":
            times = []
            for _ in range(int(command[1])):
                start = time.perf_counter()
                loss = step()
                times.append(time.perf_counter() - start)
            _send({"times": times, "loss": loss})
        elif command[0] == "quit":
            import resource

            _send({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
            return


def _send(message: dict) -> None:
    sys.stdout.write(PREFIX + json.dumps(message) + "\n")
    sys.stdout.flush()


def _receive(process) -> dict:
    for line in process.stdout:
        if line.startswith(PREFIX):
            return json.loads(line[len(PREFIX):])
    raise RuntimeError(f"worker {process.args[-1]} exited (code {process.wait()}); see its stderr")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per round and framework")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--inter-op-threads", type=int, default=1)
    parser.add_argument("--keras-step", choices=("fit", "tape"), default="fit")
    parser.add_argument("--jit", action="store_true", help="XLA-compile the Keras step")
    parser.add_argument("--only", choices=("keras", "torch"), help="time one framework only")
    parser.add_argument("--worker", choices=("keras", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    frameworks = [args.only] if args.only else ["keras", "torch"]
    passed = [f"--{k.replace('_', '-')}={v}" for k, v in
              (("warmup", args.warmup), ("batch", args.batch), ("threads", args.threads),
               ("inter_op_threads", args.inter_op_threads), ("keras_step", args.keras_step))]
    passed += ["--jit"] if args.jit else []
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    print(f"CNN14 training step: batch {args.batch} x {SECONDS:g} s at {SR} Hz, {CLASSES} classes, "
          f"{args.threads} threads; Keras step: {args.keras_step}{' + XLA' if args.jit else ''}",
          flush=True)
    workers = {}
    for name in frameworks:  # one at a time: warm-ups do not overlap
        start = time.perf_counter()
        workers[name] = subprocess.Popen([sys.executable, __file__, *passed, "--worker", name],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                         env=env, cwd=ROOT)
        ready = _receive(workers[name])
        print(f"  {name}: built and warmed up in {time.perf_counter() - start:.1f} s "
              f"(warm-up losses {', '.join(f'{l:.4f}' for l in ready['warmup_losses'])})", flush=True)
    times = {name: [] for name in frameworks}
    for round_index in range(args.rounds):
        for name in frameworks if round_index % 2 == 0 else frameworks[::-1]:
            workers[name].stdin.write(f"run {args.steps}\n")
            workers[name].stdin.flush()
            times[name] += _receive(workers[name])["times"]
    peaks = {}
    for name, process in workers.items():
        process.stdin.write("quit\n")
        process.stdin.flush()
        peaks[name] = _receive(process)["peak_rss_mib"]
        process.wait()

    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    for name in frameworks:
        spread = ", ".join(f"{t * 1000:.0f}" for t in times[name])
        print(f"{name:>6}: median {medians[name]:8.1f} ms/step  (steps: {spread} ms)  "
              f"peak RSS {peaks[name]:.0f} MiB")
    if len(frameworks) == 2:
        ratio = medians["keras"] / medians["torch"]
        print(f"ratio Keras / PyTorch: {ratio:.3f} (target <= 0.85: "
              f"{'met' if ratio <= 0.85 else 'not met'})")


if __name__ == "__main__":
    main()
