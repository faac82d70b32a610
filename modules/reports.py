"""What a job leaves for a person to read: report.txt, plots, example spectrograms, Grad-CAM."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display on training machines
# Figures use the object API, not pyplot: no global figure registry to leak or to close.
from matplotlib.figure import Figure  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from modules.jobs import atomic_write_text  # noqa: E402
from modules.plot_text import save_figure


# ------------------------------------------------------------------------------ text report
def _number(value, digits: int = 4) -> str:
    """A metric for the report: "n/a" for None or NaN (undefined, e.g. no positive examples)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def format_metrics(metrics: dict, class_names: Sequence[str], title: str) -> str:
    lines = [title, "-" * len(title),
             f"examples            {metrics['n_examples']}",
             f"accuracy            {metrics['accuracy']:.4f}",
             f"balanced accuracy   {metrics['balanced_accuracy']:.4f}",
             f"macro F1            {metrics['macro_f1']:.4f}"]
    if "icbhi_score" in metrics:  # a respiratory task (evaluation.clinical_level_metrics)
        negative = metrics.get("negative_class", class_names[0])
        lines += [f"sensitivity         {_number(metrics['sensitivity'])}"
                  f"   (abnormal classes: exact class right; negative class: {negative})",
                  f"specificity         {_number(metrics['specificity'])}",
                  f"ICBHI score         {_number(metrics['icbhi_score'])}"
                  "   ((sensitivity + specificity) / 2)",
                  f"ROC-AUC             {_number(metrics.get('roc_auc'))}",
                  f"mean avg precision  {_number(metrics.get('mean_average_precision'))}",
                  f"class accuracy      {_number(metrics.get('class_accuracy'))}"
                  "   (mean per-class recall)"]
    lines.append("")
    width = max(12, max(len(name) for name in class_names) + 2)
    lines.append(f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for name in class_names:
        row = metrics["per_class"][name]
        lines.append(f"{name:<{width}}{row['precision']:>10.3f}{row['recall']:>10.3f}"
                     f"{row['f1']:>10.3f}{row['support']:>9d}")
    lines += ["", "confusion matrix (rows: true class, columns: predicted, in the order above)"]
    matrix = np.asarray(metrics["confusion_matrix"])
    cell = max(4, len(str(matrix.max())) + 1)
    for name, row in zip(class_names, matrix):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{cell}d}" for v in row))
    return "\n".join(lines) + "\n"


PATIENT_LABELS = ("negative", "positive")


def format_patients(section: dict, title: str = "Validation, per patient") -> str:
    """The patient table and the patient-level confusion matrix (``metrics["examples"]
    ["patients"]``, see evaluation.patient_metrics)."""
    rows = section["table"]
    lines = [title, "-" * len(title),
             "A patient is positive when any of its chunks is truly abnormal, predicted positive "
             "when any chunk is",
             "predicted abnormal; tps/fps/fns/tns count chunks (positive: any abnormal class); "
             "average score:",
             "mean over its chunks of 1 - p(negative class).", ""]
    width = max([len("patient")] + [len(str(row["patient"])) for row in rows]) + 2
    lines.append(f"{'patient':<{width}}{'status':<10}{'predicted':<11}{'tps':>5}{'fps':>5}"
                 f"{'fns':>5}{'tns':>5}{'recordings':>12}{'average score':>15}")
    for row in rows:
        lines.append(f"{str(row['patient']):<{width}}{row['status']:<10}{row['predicted']:<11}"
                     f"{row['tps']:>5d}{row['fps']:>5d}{row['fns']:>5d}{row['tns']:>5d}"
                     f"{row['recordings']:>12d}{row['average_score']:>15.3f}")
    if not rows:
        lines.append("none")
    matrix = np.asarray(section["confusion_matrix"])
    cell = max(10, len(str(matrix.max())) + 1)
    lines += ["", f"patient-level confusion matrix ({section['n_patients']} patients; rows: true, "
                  "columns: predicted)",
              " " * 12 + "".join(f"{name:>{cell}}" for name in PATIENT_LABELS)]
    for name, row in zip(PATIENT_LABELS, matrix):
        lines.append(f"{name:<12}" + "".join(f"{v:>{cell}d}" for v in row))
    lines += ["",
              f"sensitivity         {_number(section['sensitivity'])}",
              f"specificity         {_number(section['specificity'])}",
              f"ICBHI score         {_number(section['icbhi_score'])}",
              f"accuracy            {_number(section['accuracy'])}"]
    return "\n".join(lines) + "\n"


def part_results(metrics: dict, class_names: Sequence[str], part: str) -> list[str]:
    """The report's sections of one part (validation or test): per example, per recording,
    per patient."""
    lines = [format_metrics(metrics["examples"], class_names, f"{part}, per example")]
    if "clips" in metrics:
        lines.append(format_metrics(metrics["clips"], class_names, f"{part}, per recording "
                                    "(mean of its chunks' probabilities)"))
    if "patients" in metrics["examples"]:
        lines.append(format_patients(metrics["examples"]["patients"], f"{part}, per patient"))
    return lines


def format_report(header: dict, metrics: dict, class_names: Sequence[str],
                  skipped: Sequence[tuple[str, str]]) -> str:
    lines = ["spectrain job report", "====================", ""]
    width = max(len(key) for key in header) + 2
    lines += [f"{key + ':':<{width}}{value}" for key, value in header.items()]
    lines.append("")
    lines += part_results(metrics, class_names, "Validation")
    if "test" in metrics:  # the held-out part, apart from everything validation chose
        lines += part_results(metrics["test"], class_names,
                              "Test (held out, best model evaluated once after training)")
    lines.append(f"Skipped files ({len(skipped)})")
    lines.append("-" * len(lines[-1]))
    lines += [f"{path}: {reason}" for path, reason in skipped] or ["none"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ plots
def plot_confusion_matrix(matrix, class_names, path: Path, title: str = "Confusion matrix") -> None:
    matrix = np.asarray(matrix)
    # Half an inch a class at 100 dpi, and text sized to the cells, so the page can show the
    # plot at about 600 pixels with every count and class name readable.
    size = max(4.5, 0.5 * len(class_names) + 2.5)
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.subplots()
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    count_size = 12 if len(class_names) <= 12 else 9
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", fontsize=count_size,
                color="white" if normalised[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right", fontsize=11)
    ax.set_yticks(range(len(class_names)), class_names, fontsize=11)
    ax.set_xlabel("predicted", fontsize=12)
    ax.set_ylabel("true", fontsize=12)
    ax.set_title(title, fontsize=12)
    fig.colorbar(image, ax=ax, fraction=0.046, label="fraction of the true class")
    # "tight": the layout alone clipped the y label beside long, rotated class names
    save_figure(fig, path, dpi=100, bbox_inches="tight", pad_inches=0.15)


def plot_patient_confusion(section: dict, path: Path,
                           title: str = "Patient-level confusion matrix") -> None:
    """PNG of the patient-level 2x2 matrix (``metrics["examples"]["patients"]``)."""
    title = (f"{title}\nsensitivity {_number(section['sensitivity'], 3)}, specificity "
             f"{_number(section['specificity'], 3)}, score {_number(section['icbhi_score'], 3)}")
    plot_confusion_matrix(section["confusion_matrix"], list(PATIENT_LABELS), path, title=title)


def plot_history(history: pd.DataFrame, path: Path, best_epoch: int | None = None) -> None:
    """Loss, accuracy, clinical metrics (when logged) and learning rate per epoch (CSV history)."""
    clinical = [f"{prefix}{name}" for name in ("sensitivity", "specificity", "icbhi_score", "auc")
                for prefix in ("", "val_")]
    panels = [("loss", ["loss", "val_loss"]),
              ("accuracy", ["accuracy", "val_accuracy", "class_accuracy", "val_class_accuracy"]),
              ("clinical", clinical), ("learning rate", ["learning_rate"])]
    panels = [(title, [c for c in cols if c in history]) for title, cols in panels]
    panels = [(title, cols) for title, cols in panels if cols]
    fig = Figure(figsize=(5 * len(panels), 3.6), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)
    epochs = history["epoch"] if "epoch" in history else np.arange(1, len(history) + 1)
    for ax, (title, columns) in zip(axes[0], panels):
        for column in columns:
            ax.plot(epochs, history[column], marker="o", markersize=3, label=column)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label="best epoch")
        if title == "learning rate":
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    save_figure(fig, path, dpi=110)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80]


def example_name(row) -> str:
    return f"{_safe(Path(row.path).stem)}_chunk{row.chunk_index}"


def plot_spectrogram(spectrogram: np.ndarray, path: Path, title: str,
                     heatmap: np.ndarray | None = None, heatmap_label: str = "Grad-CAM") -> None:
    """A (bins, frames) spectrogram, low frequencies at the bottom.

    With a ``heatmap`` in [0, 1] (Grad-CAM, saliency...; ``heatmap_label`` names it) the figure
    has two panels, the spectrogram alone above and the overlay below, so the overlay never
    hides what it explains.
    """
    panels = 1 if heatmap is None else 2
    fig = Figure(figsize=(7, 3.0 * panels + 0.4), layout="constrained")
    axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    for ax, cmap in zip(axes, ("magma", "gray")):  # grey under the overlay keeps both legible
        image = ax.imshow(spectrogram, origin="lower", aspect="auto", cmap=cmap,
                          interpolation="nearest")
        ax.set_ylabel("bin")
        if cmap == "magma":
            fig.colorbar(image, ax=ax, label="dB")
    if heatmap is not None:
        overlay = axes[1].imshow(heatmap, origin="lower", aspect="auto", cmap="jet", alpha=0.45,
                                 vmin=0, vmax=1, interpolation="bilinear")
        fig.colorbar(overlay, ax=axes[1], label=heatmap_label)
    axes[-1].set_xlabel("frame")
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path, dpi=100)


# ------------------------------------------------------------ tp / fp / fn examples, tns.txt
def outcome_sets(table: pd.DataFrame, class_names: Sequence[str]) -> dict[str, list[tuple[int, str]]]:
    """(row position, class) pairs per outcome, one-vs-rest per class.

    A binary task looks at the positive class (index 1) only; otherwise every class counts, so a
    misclassified example is a false positive of the predicted class and a false negative of the
    true one.
    """
    classes = [1] if len(class_names) == 2 else range(len(class_names))
    out = {"tp": [], "fp": [], "fn": [], "tn": []}
    true = table["true_index"].to_numpy()
    pred = table["predicted_index"].to_numpy()
    for c in classes:
        for position in range(len(table)):
            is_true, is_pred = true[position] == c, pred[position] == c
            kind = ("tp" if is_pred else "fn") if is_true else ("fp" if is_pred else "tn")
            out[kind].append((position, class_names[c]))
    return out


def select_examples(outcomes: dict, per_class: int) -> dict[str, list[tuple[int, str]]]:
    """At most ``per_class`` examples per class in tp/fp/fn (the first ones, in file order)."""
    chosen = {}
    for kind in ("tp", "fp", "fn"):
        counts: dict[str, int] = {}
        chosen[kind] = []
        for position, name in outcomes[kind]:
            if counts.get(name, 0) < per_class:
                counts[name] = counts.get(name, 0) + 1
                chosen[kind].append((position, name))
    return chosen


def write_true_negatives(table: pd.DataFrame, outcomes: dict, path: Path) -> None:
    lines = ["# true negatives: class<TAB>file<TAB>chunk"]
    for position, name in outcomes["tn"]:
        row = table.iloc[position]
        lines.append(f"{name}\t{row['path']}\t{row['chunk_index']}")
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_example_plots(job_dir: Path, table: pd.DataFrame, chosen: dict,
                        spectrograms: dict[int, np.ndarray], progress: Callable | None = None) -> int:
    written = 0
    for kind, items in chosen.items():
        folder = job_dir / kind
        folder.mkdir(exist_ok=True)
        for position, name in items:
            row = table.iloc[position]
            probability = row[f"p_{row['predicted']}"]
            title = (f"{kind.upper()} for {name}: {Path(row['path']).name} chunk {row['chunk_index']}\n"
                     f"true {row['true']}, predicted {row['predicted']} (p={probability:.2f})")
            plot_spectrogram(spectrograms[position],
                             folder / f"{_safe(name)}__{example_name(row)}.png", title)
            written += 1
            if progress:
                progress()
    return written
