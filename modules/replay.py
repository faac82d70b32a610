"""Replay a job validation-only: its best model on its saved validation files, same pipeline.

The numbers must equal the recorded ones; the replay report says whether they do.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from modules.jobs import atomic_write_text, stamped_path
from modules.parameters import Parameters


@dataclass
class ReplayResult:
    metrics: dict
    recorded: dict
    report_path: Path
    identical: bool
    max_probability_difference: float


def replay_job(job_dir: Path | str, parse_function: Callable | None = None,
               progress: bool = True) -> ReplayResult:
    import keras
    import tensorflow as tf

    from modules import evaluation, reports
    from modules.data.respiratory import make_chunk_labeler
    from modules.models import load_model
    from modules.parsers import resolve
    from modules.pipeline import (AudioConfig, SkippedFiles, decoded_dataset, evaluation_dataset,
                                  fill_cache, one_hot_labels)

    job_dir = Path(job_dir)
    missing = [name for name in ("params.json", "job.json", "validation.csv", "best_model.keras")
               if not (job_dir / name).exists()]
    if missing:
        raise FileNotFoundError(f"{job_dir} cannot be replayed: missing {', '.join(missing)}")
    params = Parameters.load(job_dir / "params.json").freeze()
    info = json.loads((job_dir / "job.json").read_text())
    if params.task == "sed":
        from modules.sed.job import replay_sed

        return replay_sed(job_dir, progress=progress)
    class_names = info["class_names"]
    builder = parse_function or resolve(info["parse_function"])
    # Text as written: a class or patient named "none" or "NA" must not become a missing value.
    validation = pd.read_csv(job_dir / "validation.csv", dtype=str, keep_default_na=False,
                             na_values=[""])
    print(f"replaying {job_dir} ({len(validation)} validation files, "
          f"recorded best epoch {info.get('best_epoch', '?')})")

    keras.utils.set_random_seed(params.seed)
    if params.deterministic:
        tf.config.experimental.enable_op_determinism()
    audio = AudioConfig.from_parameters(params, validation["path"])
    parse = builder(params)
    skipped = SkippedFiles()
    labels = one_hot_labels(validation["label"], class_names)
    chunk_labels = make_chunk_labeler(validation, params.task, class_names, audio.sr,
                                      audio.audio_length, audio.step_size, audio.chunking,
                                      params.overlap_threshold)
    decoded = decoded_dataset(validation["path"], labels, audio, skipped, cache="memory",
                              chunk_labels=chunk_labels)
    meta = fill_cache(decoded, len(validation), "decoding validation audio", progress)
    eval_ds = evaluation_dataset(decoded, parse, params.batch_size, len(meta["label"]))
    model = load_model(job_dir / "best_model.keras", compile=False)  # predicting only
    table, metrics = evaluation.evaluate_model(model, eval_ds, meta, validation["path"],
                                               class_names, "replaying", progress,
                                               groups=evaluation.file_groups(validation),
                                               task=params.task or None)

    recorded = json.loads((job_dir / "metrics.json").read_text()) if (
        job_dir / "metrics.json").exists() else {}
    difference = float("nan")
    if (job_dir / "predictions.csv").exists():
        before = pd.read_csv(job_dir / "predictions.csv")
        columns = [f"p_{name}" for name in class_names]
        if len(before) == len(table):
            # 9 significant digits round-trip float32 exactly when read back as float32.
            recorded_p = before[columns].to_numpy(np.float32)
            difference = float(np.abs(recorded_p - table[columns].to_numpy(np.float32)).max())
    identical = bool(recorded) and all(
        recorded.get(level, {}).get(key) == metrics[level][key]
        for level in metrics for key in ("accuracy", "balanced_accuracy", "macro_f1",
                                         "confusion_matrix"))

    path = stamped_path(job_dir, "replay-", ".txt")  # never overwrite an earlier replay
    header = {"replay of": str(job_dir), "replayed": dt.datetime.now().isoformat(timespec="seconds"),
              "model": str(job_dir / "best_model.keras"), "validation files": len(validation)}
    text = reports.format_report(header, metrics, class_names, skipped.items())
    lines = ["Comparison with the recorded job", "--------------------------------"]
    for level in metrics:
        was = recorded.get(level, {}).get("accuracy")
        now = metrics[level]["accuracy"]
        lines.append(f"{level}: recorded accuracy {was if was is None else f'{was:.6f}'}, "
                     f"replayed {now:.6f}")
    lines.append(f"largest difference in any class probability: {difference:.3g}")
    lines.append("IDENTICAL to the recorded metrics" if identical
                 else "DIFFERENT from the recorded metrics")
    text += "\n" + "\n".join(lines) + "\n"
    atomic_write_text(path, text)
    print(text)
    print(f"replay report: {path}")
    return ReplayResult(metrics, recorded, path, identical, difference)
