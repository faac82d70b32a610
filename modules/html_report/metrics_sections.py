"""The job report's numbers, read from ``metrics.json`` whatever the task: the headline (the
task's :meth:`~modules.tasks.Task.summary`, the columns ``spectrain jobs`` lists first), then
each level (per window, per recording; frames and events for sound event detection) with its
overall numbers, a per-class table, the confusion matrix and, for respiratory tasks, the
patient table."""

from __future__ import annotations

import math
from pathlib import Path

from modules.html_report.page import cell, escape, figure, missing, section, table

LEVEL_TITLES = {"examples": "Per window", "clips": "Per recording (mean of its windows' "
                "probabilities)", "frames": "Frame level", "events": "Event level"}
WORDS = {"f1": "F1", "map": "mAP", "icbhi": "ICBHI", "auc": "AUC"}
PATIENT_COLUMNS = ("patient", "status", "predicted", "tps", "fps", "fns", "tns", "recordings",
                   "chunks", "average_score")


def metric_label(key: str) -> str:
    """``best_file_accuracy`` -> ``file accuracy`` (the short column names of ``spectrain
    jobs`` are too terse for a page)."""
    words = key.removeprefix("best_").replace("roc_auc", "ROC-AUC").split("_")
    return " ".join(WORDS.get(word, word) for word in words)


def headline(summary: dict, listed: dict, best_epoch=None) -> str:
    """The task's summary numbers, the listed ones first; each carries its exact value."""
    keys = [key for key in listed if key in summary]
    keys += [key for key in summary if key not in keys]
    boxes = [f'<div data-metric="{escape(key)}" data-value="{escape(repr(summary[key]))}">'
             f"<b>{escape(_number(summary[key]))}</b>{escape(metric_label(key))}</div>"
             for key in keys]
    if best_epoch is not None:
        boxes.append(f'<div data-metric="best_epoch"><b>{escape(best_epoch)}</b>best epoch</div>')
    return f'<div class="headline">{"".join(boxes)}</div>' if boxes else ""


def _number(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _scalar(value) -> bool:
    return value is None or isinstance(value, (int, float, str, bool))


def overall_table(level: dict) -> str:
    """A level's single numbers, and its dicts of numbers (micro, macro, overall...) flattened
    to ``name: key`` rows."""
    rows = []
    for key, value in level.items():
        if key in ("per_class", "confusion_matrix", "patients"):
            continue
        if _scalar(value):
            rows.append((metric_label(key), value))
        elif isinstance(value, list) and all(_scalar(v) for v in value):
            rows.append((key.replace("_", " "), ", ".join(_number(v) for v in value)))
        elif isinstance(value, dict) and all(_scalar(v) for v in value.values()):
            rows += [(f"{key}: {name}".replace("_", " "), v) for name, v in value.items()]
    return table(["metric", "value"], rows) if rows else ""


def per_class_table(per_class: dict, class_names) -> str:
    """Precision, recall, F1, support (and any other per-class number) per class, sortable;
    the classes in the job's order, named in full."""
    order = [name for name in class_names if name in per_class]
    order += [name for name in per_class if name not in order]
    columns = list(dict.fromkeys(key for name in order for key, value in per_class[name].items()
                                 if _scalar(value)))
    rows = [[name, *(per_class[name].get(key) for key in columns)] for name in order]
    return table(["class", *(c.replace("_", " ") for c in columns)], rows, sortable=True,
                 digits=3)


def confusion_table(matrix, class_names) -> str:
    """The confusion matrix as numbers (shown when its PNG is missing)."""
    head = "".join(f"<th>{escape(name)}</th>" for name in class_names)
    body = "".join(f"<tr><th>{escape(name)}</th>" + "".join(cell(int(v)) for v in row) + "</tr>"
                   for name, row in zip(class_names, matrix))
    return (f'<table class="confusion"><thead><tr><th>true \\ predicted</th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def patients_part(patients: dict, job_dir: Path) -> str:
    """A respiratory job's patient-level numbers, table and confusion matrix."""
    numbers = {key: patients.get(key) for key in ("n_patients", "sensitivity", "specificity",
                                                  "icbhi_score", "accuracy")}
    rows = [[row.get(column) for column in PATIENT_COLUMNS] for row in patients.get("table", [])]
    return ("<h3>Per patient</h3><p>A patient is positive when any of their chunks is truly "
            "abnormal, predicted positive when any chunk is predicted abnormal; average score: "
            "mean over their chunks of 1 - p(negative class).</p>"
            + table(["metric", "value"], [(k.replace("_", " "), v) for k, v in numbers.items()])
            + table([c.replace("_", " ") for c in PATIENT_COLUMNS], rows, sortable=True, digits=3)
            + figure(job_dir / "patient_confusion_matrix.png", job_dir,
                     "patient-level confusion matrix", width=420))


def level_part(name: str, level: dict, class_names, job_dir: Path, part: str = "") -> str:
    """One level's numbers; ``part`` "test" for a level of the held-out test part."""
    title = LEVEL_TITLES.get(name, name)
    anchor = f"level-{part}-{name}" if part else f"level-{name}"
    parts = [f'<h3 id="{escape(anchor)}">{escape(title)}</h3>', overall_table(level)]
    if isinstance(level.get("per_class"), dict):
        parts.append(per_class_table(level["per_class"], class_names))
    matrix = level.get("confusion_matrix")
    image = f"{part}_confusion_matrix.png" if part else "confusion_matrix.png"
    if matrix is not None and (name != "examples" or not (job_dir / image).is_file()):
        parts.append(confusion_table(matrix, class_names))
    if isinstance(level.get("patients"), dict):
        parts.append(patients_part(level["patients"], job_dir))
    return "\n".join(part for part in parts if part)


def results_section(metrics: dict, class_names, job_dir: Path) -> str:
    """Every level of ``metrics.json`` (or the missing note)."""
    if not metrics:
        return section("Results", missing("metrics.json"), anchor="results")
    levels = [name for name, value in metrics.items() if isinstance(value, dict) and name != "test"]
    parts = [level_part(name, metrics[name], class_names, job_dir) for name in levels]
    test = metrics.get("test")
    if isinstance(test, dict) and test:  # the held-out part, after the validation numbers
        parts.insert(0, '<h3 id="validation">Validation part (it chose the best epoch)</h3>')
        parts.append('<h3 id="test">Test part (held out: the best model evaluated once, after '
                     "training; nothing was chosen on it)</h3>")
        if (job_dir / "test_confusion_matrix.png").is_file():
            parts.append(figure(job_dir / "test_confusion_matrix.png", job_dir,
                                "test confusion matrix"))
        parts += [level_part(name, level, class_names, job_dir, "test")
                  for name, level in test.items() if isinstance(level, dict)]
    return section("Results", *parts, anchor="results")
