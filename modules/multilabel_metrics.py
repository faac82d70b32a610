"""Scores of a multi-label (tagging) model: every class of a clip, present or not.

Per level (the chunks a model sees, and the recordings: a class is heard in a recording when it
is heard in any of its chunks, so a recording's probability of a class is the *maximum* over its
chunks, as weak labels say "somewhere in this clip"):

* ``mean_average_precision`` (mAP: macro average precision over the classes with a positive,
  AudioSet's and PANNs' headline number) and ``micro_average_precision``;
* ``macro_roc_auc`` (over the classes with positives and negatives);
* at ``threshold`` (a class is predicted present when its probability reaches it): micro and
  macro F1, ``subset_accuracy`` (every class right), ``hamming_loss`` (wrong class decisions
  over all decisions);
* ``per_class``: precision, recall, F1, AP, ROC-AUC and support (positives) of every class.

Undefined values (a class without positives has no AP) are None, shown as "n/a".
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from modules.data.schema import label_combination
from modules.plot_text import save_figure


def _score(function, *args) -> float | None:
    try:
        return float(function(*args))
    except ValueError:  # a class with one kind of example only
        return None


def _class_row(truth, probabilities, decided) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    positives, predicted = int(truth.sum()), int(decided.sum())
    hits = int((truth & decided).sum())
    precision = hits / predicted if predicted else 0.0
    recall = hits / positives if positives else 0.0
    return {"precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if hits else 0.0,
            "average_precision": (float(average_precision_score(truth, probabilities))
                                  if positives else None),
            "roc_auc": (_score(roc_auc_score, truth, probabilities)
                        if 0 < positives < len(truth) else None),
            "support": positives}


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def multilabel_metrics(truth, probabilities, class_names: Sequence[str],
                       threshold: float = 0.5) -> dict:
    """The metrics of one level (see the module docstring): ``truth`` (examples, classes) 0/1,
    ``probabilities`` of the same shape."""
    from sklearn.metrics import average_precision_score, f1_score

    truth = np.asarray(truth) > 0.5
    probabilities = np.asarray(probabilities, np.float64)
    decided = probabilities >= threshold
    per_class = {name: _class_row(truth[:, c], probabilities[:, c], decided[:, c])
                 for c, name in enumerate(class_names)}
    with_positives = [c for c in range(truth.shape[1]) if truth[:, c].any()]
    return {
        "n_examples": int(len(truth)),
        "threshold": float(threshold),
        "mean_average_precision": _mean(per_class[n]["average_precision"] for n in class_names),
        "micro_average_precision": (float(average_precision_score(truth.ravel(),
                                                                  probabilities.ravel()))
                                    if truth.any() else None),
        "macro_roc_auc": _mean(per_class[n]["roc_auc"] for n in class_names),
        "micro_f1": float(f1_score(truth, decided, average="micro", zero_division=0)),
        "macro_f1": float(np.mean([per_class[class_names[c]]["f1"] for c in with_positives]))
        if with_positives else 0.0,
        "subset_accuracy": float((truth == decided).all(axis=1).mean()),
        "hamming_loss": float((truth != decided).mean()),
        "per_class": per_class,
    }


def predictions_table(meta: dict, probabilities: np.ndarray, paths,
                      class_names: Sequence[str]) -> pd.DataFrame:
    """One row per example: file, chunk, its true classes (``true``: the label combination)
    and every class probability ``p_<class>``."""
    truth = meta["label"] > 0.5
    table = pd.DataFrame({
        "path": [paths[i] for i in meta["file_index"]],
        "file_index": meta["file_index"],
        "chunk_index": meta["chunk_index"],
        "padded": meta["padded"],
        "true": [label_combination([n for n, t in zip(class_names, row) if t]) for row in truth],
    })
    for i, name in enumerate(class_names):
        table[f"p_{name}"] = probabilities[:, i]
    return table


def recording_level(table: pd.DataFrame, truth: np.ndarray, class_names) -> tuple:
    """(truth, probabilities) per recording: its file's classes, the maximum over its chunks."""
    columns = [f"p_{name}" for name in class_names]
    grouped = table.groupby("file_index", sort=True)
    first = grouped.head(1).index
    return truth[first], grouped[columns].max().to_numpy()


def evaluate_multilabel(model, eval_ds, meta: dict, paths, class_names, threshold: float,
                        description: str, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Predict ``eval_ds`` and score it, per example and (with several chunks per file) per
    recording: the one code path a multi-label job and its replay use."""
    from modules.evaluation import predict

    probabilities = predict(model, eval_ds, len(meta["label"]), description, progress)
    table = predictions_table(meta, probabilities, list(paths), class_names)
    metrics = {"examples": multilabel_metrics(meta["label"], probabilities, class_names,
                                              threshold)}
    if table["file_index"].nunique() != len(table):
        truth, clip_probabilities = recording_level(table, meta["label"], class_names)
        metrics["clips"] = multilabel_metrics(truth, clip_probabilities, class_names, threshold)
    return table, metrics


def _number(value, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_level(level: dict, class_names: Sequence[str], title: str) -> str:
    """One level of the report: the summary numbers, then a row per class."""
    lines = [title, "-" * len(title),
             f"examples              {level['n_examples']}",
             f"mAP                   {_number(level['mean_average_precision'])}"
             "   (macro average precision, classes with a positive)",
             f"micro AP              {_number(level['micro_average_precision'])}",
             f"macro ROC-AUC         {_number(level['macro_roc_auc'])}",
             f"micro F1              {level['micro_f1']:.4f}   (at threshold "
             f"{level['threshold']:g})",
             f"macro F1              {level['macro_f1']:.4f}",
             f"subset accuracy       {level['subset_accuracy']:.4f}   (every class right)",
             f"hamming loss          {level['hamming_loss']:.4f}", ""]
    width = max(12, max(len(name) for name in class_names) + 2)
    lines.append(f"{'class':<{width}}{'AP':>8}{'ROC-AUC':>9}{'precision':>10}{'recall':>8}"
                 f"{'f1':>8}{'support':>9}")
    for name in class_names:
        row = level["per_class"][name]
        lines.append(f"{name:<{width}}{_number(row['average_precision'], 3):>8}"
                     f"{_number(row['roc_auc'], 3):>9}{row['precision']:>10.3f}"
                     f"{row['recall']:>8.3f}{row['f1']:>8.3f}{row['support']:>9d}")
    return "\n".join(lines) + "\n"


def format_report(header: dict, metrics: dict, class_names, skipped) -> str:
    """report.txt of a multi-label job (or its replay)."""
    width = max(len(key) for key in header) + 2
    lines = ["spectrain job report", "====================", ""]
    lines += [f"{key + ':':<{width}}{value}" for key, value in header.items()] + [""]
    parts = [("Validation", metrics)]
    if "test" in metrics:  # the held-out part, apart from everything validation chose
        parts.append(("Test (held out, best model evaluated once after training)",
                      metrics["test"]))
    for part, levels in parts:
        lines.append(format_level(levels["examples"], class_names, f"{part}, per example"))
        if "clips" in levels:
            lines.append(format_level(levels["clips"], class_names, f"{part}, per recording "
                                      "(maximum of its chunks' probabilities)"))
    lines += [f"Skipped files ({len(skipped)})", "-" * len(f"Skipped files ({len(skipped)})")]
    lines += [f"{path}: {reason}" for path, reason in skipped] or ["none"]
    return "\n".join(lines) + "\n"


def plot_per_class(level: dict, class_names: Sequence[str], path: Path, title: str) -> None:
    """PNG: average precision and F1 of every class, side by side, with its support."""
    from matplotlib.figure import Figure

    ap = [level["per_class"][n]["average_precision"] or 0.0 for n in class_names]
    f1 = [level["per_class"][n]["f1"] for n in class_names]
    rows = np.arange(len(class_names))
    fig = Figure(figsize=(7, max(3.0, 0.35 * len(class_names) + 1.5)), layout="constrained")
    ax = fig.subplots()
    ax.barh(rows - 0.2, ap, height=0.4, label="average precision")
    ax.barh(rows + 0.2, f1, height=0.4, label=f"F1 at {level['threshold']:g}")
    ax.set_yticks(rows, [f"{n} ({level['per_class'][n]['support']})" for n in class_names])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("score (class, positives in brackets)")
    ax.set_title(f"{title}\nmAP {_number(level['mean_average_precision'], 3)}, micro F1 "
                 f"{level['micro_f1']:.3f}")
    ax.legend(loc="lower right")
    save_figure(fig, path, dpi=120)
