"""``parameters.cross_validate``: one ``launch_job`` call runs the whole k-fold protocol.

Each fold is a normal job (its own folder, replayable on its own) with ``validation_fold`` set
to that fold: the dataset's folds for ``split = "fold"`` (ESC-10/50's five), or ``n_folds``
group folds for ``split = "group"`` (patient k-fold on ICBHI). Beside the fold jobs a summary
folder ``cv<N>`` (``cv<N>_testing`` in testing mode) holds:

* ``cv.json``: the settings the folds share (a key over the parameters, data, model, parse
  function, augmentation and job block), the folds and their jobs;
* ``summary.json`` / ``summary.txt``: per fold the task's headline numbers, their mean and
  standard deviation over the finished folds, and for classification the summed confusion
  matrix and each class's recall averaged over folds (recordings when files were cut into
  several chunks); the folds that are missing;
* ``summary.png``: the headline number per fold and its mean; ``summary_confusion.png``: the
  summed confusion matrix.

MLflow gets a parent run (``<trainer>/cv<N>``) whose children are the fold runs. A fold that
fails keeps the folds before it; the summary says what is missing and the error is raised.
Launching the same job block again with the same settings resumes the unfinished run: only the
folds without a finished job are trained.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modules.jobs import CV_DIR, atomic_write_text, list_jobs, trainer_dir
from modules.parameters import Parameters
from modules.plot_text import save_figure
# Parameters that differ between the folds of one run, or do not change what is learnt.
PER_FOLD = ("job_id", "validation_fold", "description", "cross_validate")


def fold_numbers(run: Parameters, datasets: dict) -> tuple[str, list[int]]:
    """(split method, the folds to run) for a cross-validated job block."""
    from modules.data import load_datasets
    from modules.tasks.common import resolve_path

    split = run.split
    if split not in ("auto", "fold", "group"):
        raise ValueError(f"cross_validate needs split 'fold' (the dataset's folds) or 'group' "
                         f"(k-fold over groups), not {split!r}")
    if split in ("auto", "fold"):
        table, _ = load_datasets(datasets, data_root=resolve_path(run.data_root),
                                 task=run.task if run.task in ("pneumonia", "cw") else None)
        folds = sorted(int(f) for f in table["fold"].dropna().unique())
        if folds:
            return "fold", [fold for fold in folds if fold != run.test_fold]
        if split == "fold":
            raise ValueError("cross_validate with split 'fold': the datasets have no folds; "
                             "use split 'group' (k-fold over groups)")
    n_folds = run.n_folds or round(1 / run.validation_size)
    # a test fold is held out of every fold's job, never one of the validation folds
    return "group", [fold for fold in range(1, n_folds + 1) if fold != run.test_fold]


def settings_key(run: Parameters, spec) -> str:
    """What the folds of one run share; a relaunch with the same key resumes the run."""
    from modules.augment import describe
    from modules.parsers import qualified_name

    # test_fold unset is left out: the key of a run started before the parameter existed
    snapshot = {k: v for k, v in run.snapshot().items()
                if k not in PER_FOLD and not (k == "test_fold" and v is None)}
    # "block" stays 0-based here: the key of a run started before blocks were counted from 1
    shared = {"parameters": snapshot, "datasets": spec.datasets, "block": spec.number - 1,
              "model": qualified_name(spec.model), "parse": qualified_name(spec.parse_function),
              "augmentation": describe(spec.augmentations)}
    text = json.dumps(shared, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fold_jobs(cache_root: Path, mode: str, trainer: str, name: str) -> dict[int, list]:
    """fold -> [(job folder, job.json)] of the jobs that belong to cv run ``name``."""
    found: dict[int, list] = {}
    for ref in list_jobs(cache_root, mode, trainer):
        try:
            info = json.loads((ref.path / "job.json").read_text())
        except (OSError, ValueError):
            continue
        cv = info.get("cross_validation") or {}
        if cv.get("run") == name:
            found.setdefault(int(cv["fold"]), []).append((ref.path, info))
    return found


def finished_folds(jobs: dict[int, list]) -> dict[int, Path]:
    """fold -> its (latest) finished job folder."""
    return {fold: [path for path, info in entries if info.get("status") == "finished"][-1]
            for fold, entries in jobs.items()
            if any(info.get("status") == "finished" for _, info in entries)}


def unfinished_fold_job(entries: list) -> Path | None:
    """The fold's latest job when it is unfinished and its process is gone (to resume)."""
    from modules.resume import displayed_status

    if not entries:
        return None
    path, info = entries[-1]
    return path if displayed_status(info) in ("died", "interrupted", "failed") else None


def open_run(cache_root: Path, run: Parameters, spec, folds: list[int], key: str) -> Path:
    """The summary folder: an unfinished run with the same settings, or a new ``cv<N>``."""
    root = trainer_dir(cache_root, run.mode, spec.trainer)
    root.mkdir(parents=True, exist_ok=True)
    suffix = "_testing" if run.testing else ""
    runs = sorted((int(m.group(1)), p) for p in root.iterdir()
                  if (m := CV_DIR.match(p.name)) and bool(m.group(2)) == run.testing)
    for _, folder in reversed(runs):
        record = json.loads((folder / "cv.json").read_text()) if (folder / "cv.json").is_file() \
            else {}
        done = finished_folds(fold_jobs(cache_root, run.mode, spec.trainer, folder.name))
        if record.get("key") == key and set(folds) - set(done):
            print(f"cross-validation {folder.name}: resuming, folds done: "
                  f"{', '.join(map(str, sorted(done))) or 'none'}")
            return folder
    number = max((n for n, _ in runs), default=0) + 1
    while True:
        folder = root / f"cv{number}{suffix}"
        try:
            folder.mkdir()  # atomic: two launches never share a summary folder
            break
        except FileExistsError:
            number += 1
    atomic_write_text(folder / "cv.json", json.dumps(
        {"key": key, "folds": folds, "trainer": spec.trainer, "job_block": spec.number,
         "mode": run.mode, "split": run.split}, indent=2) + "\n")
    return folder


def _parent_tracker(run: Parameters, cache_root: Path, folder: Path, trainer: str):
    """The run's MLflow parent run; a resumed cv run goes on with its earlier one."""
    from modules.tracking import Tracker

    record = json.loads((folder / "cv.json").read_text())
    tracker = Tracker(run.tracking_uri, cache_root, experiment=run.mode,
                      run_name=f"{trainer}/{folder.name}",
                      tags={"cv_dir": str(folder), "trainer": trainer,
                            "mlflow.note.content": run.description},
                      resume=record.get("mlflow_parent"), job_dir=folder)
    if tracker.run_id and tracker.run_id != record.get("mlflow_parent"):
        record["mlflow_parent"] = tracker.run_id
        atomic_write_text(folder / "cv.json", json.dumps(record, indent=2) + "\n")
    return tracker


@dataclass
class CrossValidationRun:
    """An open cv run: its summary folder, folds, MLflow parent and fold jobs so far."""

    folder: Path
    folds: list
    parent: object  # the MLflow parent run's Tracker
    cache_root: Path

    def jobs(self, run: Parameters, spec) -> dict:
        return fold_jobs(self.cache_root, run.mode, spec.trainer, self.folder.name)


def open_cross_validation(run: Parameters, spec) -> CrossValidationRun:
    """The block's cv run (an unfinished one with the same settings, or a new one) and its
    MLflow parent; sets ``run.split`` to the split the folds use."""
    from modules.tasks.common import resolve_path

    cache_root = resolve_path(run.cache_root)
    split, folds = fold_numbers(run, spec.datasets)
    run.split = split
    folder = open_run(cache_root, run, spec, folds, settings_key(run, spec))
    parent = _parent_tracker(run, cache_root, folder, spec.trainer)
    return CrossValidationRun(folder, folds, parent, cache_root)


def train_fold(cv: CrossValidationRun, fold: int, task, run: Parameters, spec, train,
               progress: bool, resume: bool) -> Path | None:
    """Fold ``fold`` of ``cv`` as a job (None when it has a finished job already)."""
    jobs = cv.jobs(run, spec)
    done = finished_folds(jobs)
    if fold in done:
        print(f"{cv.folder.name}: fold {fold} done ({done[fold].name}), not trained again")
        return None
    resume_dir = unfinished_fold_job(jobs.get(fold, [])) if resume else None
    fold_run = Parameters.from_snapshot(run.snapshot())
    fold_run.validation_fold = fold
    info = {"cross_validation": {"run": cv.folder.name, "fold": fold, "folds": cv.folds,
                                 "mlflow_parent": cv.parent.run_id}}
    return train(task, fold_run, spec, progress=progress, extra_info=info,
                 resume_dir=resume_dir)


def close_cross_validation(cv: CrossValidationRun, task, run: Parameters, spec,
                           failed: bool) -> dict:
    """The summary over the finished folds, logged to the parent run, which ends."""
    summary = write_summary(cv.folder, task, cv.cache_root, run.mode, spec.trainer, cv.folds)
    cv.parent.log_metrics({f"mean_{k}": v for k, v in summary["mean"].items()})
    cv.parent.log_artifact(cv.folder / "summary.txt")
    cv.parent.end("FAILED" if failed else "FINISHED")
    return summary


def run_cross_validation(task, run: Parameters, spec, train, progress: bool = True,
                         resume: bool = False, only_fold: int | None = None) -> Path:
    """Every fold of the block as a job (``train``: the job skeleton,
    :func:`modules.training.train_job`), then the summary; returns the summary folder.
    ``resume``: a fold whose latest job is unfinished (its process gone) goes on with that
    job from its last completed epoch instead of starting a new one. ``only_fold``: train
    that fold only, and leave the summary to whoever runs the others (``--parallel``)."""
    cv = open_cross_validation(run, spec)
    if only_fold is not None:
        if only_fold not in cv.folds:
            raise ValueError(f"no fold {only_fold}; the folds are {cv.folds}")
        train_fold(cv, only_fold, task, run, spec, train, progress, resume)
        return cv.folder
    failure = None
    for fold in cv.folds:
        try:
            train_fold(cv, fold, task, run, spec, train, progress, resume)
        except Exception as error:  # noqa: BLE001 - keep the folds so far; summary says what
            failure = error
            break
    close_cross_validation(cv, task, run, spec, failed=failure is not None)
    if failure is not None:
        raise failure
    print(f"cross-validation {cv.folder.name}: {len(cv.folds)} folds -> {cv.folder}")
    return cv.folder


def _confusions(jobs: dict) -> tuple[list, list]:
    """Each finished fold's confusion matrix and per-class recall (recordings when the files
    were cut into chunks), where its task records them."""
    matrices, recalls = [], []
    for job in jobs.values():
        metrics = job.recorded_metrics()
        level = metrics.get("clips") or metrics.get("examples") or {}
        if "confusion_matrix" in level:
            matrices.append(np.asarray(level["confusion_matrix"]))
            recalls.append([level["per_class"][name]["recall"] for name in job.class_names])
    return matrices, recalls


def write_summary(folder: Path, task, cache_root: Path, mode: str, trainer: str,
                  folds: list[int]) -> dict:
    """summary.json, summary.txt and summary.png of a cv run (see the module docstring)."""
    from modules.job_folder import Job

    done = finished_folds(fold_jobs(cache_root, mode, trainer, folder.name))
    jobs = {fold: Job(path) for fold, path in sorted(done.items())}
    # with a test fold, every fold's model on the same held-out part: its numbers beside
    rows = [{"fold": fold, "job": job.path.name, **task.summary(job.recorded_metrics()),
             **task.test_summary(job.recorded_metrics())} for fold, job in jobs.items()]
    keys = [key for key in rows[0] if key not in ("fold", "job")] if rows else []
    values = {key: [row[key] for row in rows if key in row] for key in keys}
    summary = {"folds": rows, "missing": [f for f in folds if f not in jobs],
               "mean": {k: float(np.mean(v)) for k, v in values.items() if v},
               "std": {k: float(np.std(v)) for k, v in values.items() if v}}
    matrices, recalls = _confusions(jobs)
    classes = next(iter(jobs.values())).class_names if jobs else []
    if matrices:
        summary["confusion_matrix"] = np.sum(matrices, axis=0).tolist()
        summary["class_recall"] = dict(zip(classes, np.mean(recalls, axis=0).tolist()))
    atomic_write_text(folder / "summary.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(folder / "summary.txt", summary_text(folder, summary, classes))
    if rows:
        # The recording-level number where files have several windows: the one papers report.
        headline = "best_file_accuracy" if "best_file_accuracy" in keys else next(iter(keys), None)
        plot_summary(folder / "summary.png", summary, classes, headline)
    return summary


def summary_text(folder: Path, summary: dict, classes: list) -> str:
    """summary.txt: the folds, mean +/- std, missing folds, and the summed confusion matrix."""
    keys = list(summary["mean"])
    names = [key.removeprefix("best_") for key in keys]
    widths = [max(20, len(name) + 2) for name in names]  # long names keep a gap
    lines = [f"cross-validation {folder.name}", "=" * (17 + len(folder.name)), "",
             "fold  job         " + "".join(f"{n:>{w}}" for n, w in zip(names, widths))]
    for row in summary["folds"]:
        lines.append(f"{row['fold']:<5} {row['job']:<11} " + "".join(
            f"{row[key]:>{w}.4f}" if key in row else f"{'-':>{w}}" for key, w in zip(keys, widths)))
    lines.append("mean +/- std      " + "".join(
        f"{summary['mean'][k]:.4f} +/- {summary['std'][k]:.4f}".rjust(w)
        for k, w in zip(keys, widths)))
    lines += ["", f"folds missing: {', '.join(map(str, summary['missing'])) or 'none'}"]
    if "confusion_matrix" in summary:
        width = max(len(name) for name in classes) + 2
        lines += ["", "confusion matrix summed over the folds (rows: true, columns: predicted)"]
        lines += [f"{name:<{width}}" + "".join(f"{v:>5d}" for v in row)
                  for name, row in zip(classes, summary["confusion_matrix"])]
        lines += ["", "recall per class, mean over the folds"]
        lines += [f"{name:<{width}}{value:.4f}" for name, value in
                  summary["class_recall"].items()]
    return "\n".join(lines) + "\n"


def plot_summary(path: Path, summary: dict, classes: list, key: str | None) -> None:
    """summary.png: ``key`` per fold with its mean; summary_confusion.png: the summed
    confusion matrix."""
    from modules.reports import plot_confusion_matrix

    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.subplots()
    folds = [row["fold"] for row in summary["folds"]]
    ax.bar([str(f) for f in folds], [row.get(key, 0.0) for row in summary["folds"]])
    ax.axhline(summary["mean"].get(key, 0.0), color="black", linestyle="--",
               label=f"mean {summary['mean'].get(key, 0.0):.3f} +/- "
                     f"{summary['std'].get(key, 0.0):.3f}")
    ax.set_xlabel("validation fold")
    ax.set_ylabel((key or "").removeprefix("best_"))
    ax.legend(loc="lower right")
    ax.set_title(f"{len(folds)} folds" + (f", missing {summary['missing']}"
                                          if summary["missing"] else ""))
    save_figure(fig, path, dpi=120)
    if "confusion_matrix" in summary:
        plot_confusion_matrix(summary["confusion_matrix"], classes,
                              path.with_name("summary_confusion.png"),
                              title="summed over the folds")
