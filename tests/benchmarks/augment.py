"""Training-input throughput with augmentation, against the plain pipeline in the same run.

ESC-10 clips are decoded once into memory (train1's front end: 22.05 kHz, 5 s, 64 log-mel
bins), then one epoch of training batches is drawn, without a model, by

  (a) the plain training pipeline (shuffle, batch, batched front end): the baseline;
  (b) the augmented training set with no augmentation (its per-example path alone);
  (c) + mixup 0.5 and SpecAugment 0.5 (esc10/train6, block 2);
  (d) + AugMix 0.2 over shift_pitch and stretch_time (pneumonia/train2356).

    .venv/bin/python tests/benchmarks/augment.py [--files 80] [--repeats 3]

Prints examples/s of each and its ratio to (a). Throughput only says what augmentation costs
the input pipeline; whether it slows training depends on the model's own step time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from modules.augment import (AugmentedTrainingSet, ExamplePool, build_augmentations,
                                 shift_pitch, stretch_time)
    from modules.data import load_datasets
    from modules.parameters import Parameters
    from modules.parsers import spec_parser
    from modules.pipeline import (AudioConfig, SkippedFiles, decoded_dataset, fill_cache,
                                  one_hot_labels, training_dataset)

    table, class_names = load_datasets({"Esc10": 1})
    table = table.iloc[np.linspace(0, len(table) - 1, args.files).astype(int)]
    params = Parameters().update(sr=22050, n_fft=1024, hop_length=512, n_mels=64, top_db=80.0,
                                 audio_length=5.0, step_size=5.0).freeze()
    audio = AudioConfig.from_parameters(params)
    decoded = decoded_dataset(table["path"], one_hot_labels(table["label"], class_names), audio,
                              SkippedFiles(), cache="memory")
    meta = fill_cache(decoded, len(table), "decoding", progress=False, keep_audio=True)
    n = len(meta["label"])
    parse = spec_parser(params)
    shape = tuple(parse(tf.zeros([1, audio.samples]), None)[0].shape[1:])
    pool = ExamplePool(meta["audio"], meta["label"], meta["padded"], audio.sr, shape)

    def augmented(spec=(), waveform=()):
        augmentations = build_augmentations(spec, waveform)
        for augmentation in augmentations:
            augmentation.bind(class_names)
        training_set = AugmentedTrainingSet(pool, augmentations, seed=0)
        return training_set.dataset(parse, 32)

    pipelines = {
        "(a) plain pipeline": lambda: training_dataset(decoded, parse, 32, 0, n),
        "(b) augmented set, no augmentation": lambda: augmented(),
        "(c) + mixup 0.5, SpecAugment 0.5": lambda: augmented(
            [["mixup", {"quantity": 0.5}], ["specaugment", {"quantity": 0.5}]]),
        "(d) + AugMix 0.2 (pitch, stretch)": lambda: augmented(waveform=[
            ["augmix", {"quantity": 0.2, "aug_functions": [shift_pitch, stretch_time]}]]),
    }
    rates = {}
    for name, build in pipelines.items():
        dataset = build()
        for _ in dataset.take(2):  # warm up: tracing, thread pools
            pass
        timings, count = [], 0
        for _ in range(args.repeats):
            start, count = time.perf_counter(), 0
            for inputs, _ in dataset:
                count += int(inputs.shape[0])
            timings.append(time.perf_counter() - start)
        rates[name] = count / statistics.median(timings)
        print(f"{name:40s} {count:5d} examples/epoch  {rates[name]:8.1f} examples/s", flush=True)
    baseline = rates["(a) plain pipeline"]
    print()
    for name, rate in rates.items():
        print(f"{name:40s} {rate / baseline:6.2f}x the plain pipeline's rate")


if __name__ == "__main__":
    main()
