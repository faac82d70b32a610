"""A finished job folder, opened once for everything that reads one: replay, explain, detect.

A :class:`Job` knows the job's frozen parameters, ``job.json``, classes, task, split tables,
best model and the job's own parse function, each read when first asked for. Old folders
(``job.json`` without a ``task`` field) read the same: the task comes from ``params.json``.
"""

from __future__ import annotations

import json
import zipfile
from functools import cached_property
from pathlib import Path
from typing import Callable, Optional

import pandas as pd

from modules.errors import UserError
from modules.parameters import Parameters

FINISHED_FILES = ("params.json", "job.json", "validation.csv", "best_model.keras")


class JobFolderError(UserError, ValueError):
    """Not a (finished) job folder, or not one of the kind asked for; the message says why."""


class Job:
    """A job folder (see the module docstring). ``required``: files that must be there
    (``job.json`` always is; a listing of unfinished jobs asks for nothing more)."""

    def __init__(self, path, required=FINISHED_FILES):
        self.path = Path(path)
        if not self.path.is_dir():
            raise JobFolderError(f"{self.path} is not a job folder (no such folder)")
        missing = [name for name in dict.fromkeys((*required, "job.json"))
                   if not (self.path / name).is_file()]
        if missing:
            raise JobFolderError(f"{self.path} is not a finished job folder: missing "
                                 f"{', '.join(missing)}")
        self.info = json.loads((self.path / "job.json").read_text())
        self._model = None
        self._parse = None

    @cached_property
    def params(self) -> Parameters:
        """The frozen parameters the job ran with; ``cache_root`` is where the folder is now
        (``<cache_root>/<mode>/<trainer>/<job>``), so a moved or copied job folder replays
        with the decoded-audio cache beside it, not at its old place."""
        params = Parameters.load(self.path / "params.json")
        params.cache_root = str(self.path.resolve().parents[2])
        return params.freeze()

    @property
    def class_names(self) -> list:
        return list(self.info.get("class_names", []))

    @property
    def task(self):
        """The job's :class:`~modules.tasks.Task`, resolved from its recorded ``task``."""
        from modules.tasks import get_task

        return get_task(self.params.task)

    @property
    def feature_vectors(self) -> bool:
        """True when the job trained on feature vectors (a feature set), not audio."""
        return self.info.get("inputs") == "feature vectors"

    def table(self, part: str) -> pd.DataFrame:
        """``train``, ``validation`` or ``test`` (:attr:`has_test`): the job's split table,
        text as written."""
        from modules.tasks.common import read_table

        if part not in ("train", "validation", "test"):
            raise JobFolderError(f"part must be 'train', 'validation' or 'test', got {part!r}")
        path = self.path / f"{part}.csv"
        if not path.is_file():
            raise JobFolderError(f"{self.path} has no {part}.csv")
        return read_table(path)

    @property
    def has_test(self) -> bool:
        """Whether the job held out a test part (its ``test.csv``)."""
        return (self.path / "test.csv").is_file()

    def parse_builder(self, override: Optional[Callable] = None) -> Callable:
        """The parse-function builder the job recorded (or ``override``)."""
        from modules.parsers import resolve

        return override or resolve(self.info["parse_function"])

    @property
    def parse(self) -> Callable:
        """The job's parse function, built with its parameters."""
        if self._parse is None:
            self._parse = self.parse_builder()(self.params)
        return self._parse

    @property
    def model(self):
        """The best model, loaded for predicting (not compiled)."""
        if self._model is None:
            from modules.models import load_model

            path = self.path / "best_model.keras"
            if not path.is_file():
                raise JobFolderError(f"{path} is missing: the job saved no best model")
            if not zipfile.is_zipfile(path):  # Keras would call a truncated file "not found"
                raise JobFolderError(f"{path} is damaged: not a complete .keras (zip) file "
                                     f"({path.stat().st_size} bytes)")
            try:
                self._model = load_model(path, compile=False)
            except Exception as error:  # Keras raises many kinds for a damaged file
                reason = " ".join(str(error).split())[:200]
                raise JobFolderError(f"{path} cannot be loaded ({type(error).__name__}: "
                                     f"{reason})") from None
        return self._model

    @property
    def status(self) -> str:
        """As a person should read it: ``died`` for a running job whose process is gone."""
        from modules.resume import displayed_status

        return displayed_status(self.info)

    def recorded_metrics(self) -> dict:
        path = self.path / "metrics.json"
        return json.loads(path.read_text()) if path.is_file() else {}


def test_listed(task) -> list[tuple[str, str]]:
    """(test summary key, column) of each column ``spectrain jobs`` lists for ``task``."""
    return [(f"test_{name.removeprefix('best_')}", label) for name, label in task.listed.items()]


def _job_row(job: Job, key: str) -> dict:
    """One line of :func:`jobs_table`: the job's status and its task's headline numbers."""
    row = {"trainer": key, "job": job.path.name, "status": job.status}
    metrics = job.recorded_metrics()
    if metrics and (job.path / "params.json").is_file():
        task = job.task
        summary = task.summary(metrics)
        row.update({label: f"{summary[name]:.4f}" for name, label in task.listed.items()
                    if name in summary})
        test = task.test_summary(metrics)  # the held-out part, beside the validation numbers
        row.update({f"test {label}": f"{test[name]:.4f}" for name, label in test_listed(task)
                    if name in test})
    cv = job.info.get("cross_validation")
    if cv:
        row["cv"] = f"{cv['run']} fold {cv['fold']}"
    row["best epoch"] = job.info.get("best_epoch", "-")
    row["description"] = (job.params.description[:50]
                          if (job.path / "params.json").is_file() else "")
    return row


def _cv_rows(cache_root, selector: str | None) -> list[dict]:
    """One line per cross-validation summary folder: folds done, mean +/- std."""
    from modules.jobs import CV_DIR
    from modules.tasks import get_task, registered_tasks

    labels = {key: label for name in registered_tasks()
              for key, label in get_task(name).listed.items()}
    rows = []
    for summary in sorted(Path(cache_root).glob("*/*/cv*/summary.json")):
        folder = summary.parent
        key = f"{folder.parent.parent.name}/{folder.parent.name}"
        if not CV_DIR.match(folder.name) or (selector and selector not in
                                            (key, folder.parent.parent.name)):
            continue
        data = json.loads(summary.read_text())
        done, missing = len(data["folds"]), len(data["missing"])
        row = {"trainer": key, "job": folder.name,
               "status": f"{done} of {done + missing} folds", "cv": "mean +/- std"}
        for name, mean in data["mean"].items():
            if name in labels:  # the columns the fold jobs show, as mean +/- std
                row[labels[name]] = f"{mean:.4f}+/-{data['std'][name]:.4f}"
        rows.append(row)
    return rows


def jobs_table(cache_root, selector: str | None = None) -> str:
    """``spectrain jobs``: every job folder under ``cache_root`` (``selector``: a MODE or
    MODE/TRAINER), in id order, with its status and its task's headline validation numbers; a
    column appears when some listed job has it."""
    from modules.jobs import all_jobs

    rows = []
    for mode, trainer, ref in all_jobs(cache_root):
        key = f"{mode}/{trainer}"
        if (selector and selector not in (key, mode)) or not (ref.path / "job.json").is_file():
            continue
        rows.append(_job_row(Job(ref.path, required=()), key))
    rows += _cv_rows(cache_root, selector)
    if not rows:
        return "no jobs found"
    return _table_text(rows) + _resume_hint(rows)


def _resume_hint(rows: list[dict]) -> str:
    """How to go on with the jobs that did not finish (one command per trainer)."""
    commands = dict.fromkeys(
        f"bash launch.sh {row['trainer']} --resume"
        + (" --testing" if row["job"].endswith("_testing") else "")
        for row in rows if row["status"] in ("died", "interrupted", "failed"))
    if not commands:
        return ""
    return ("\n\njobs that did not finish go on from their last completed epoch with: "
            + "; ".join(commands))


def _table_text(rows: list[dict]) -> str:
    head = list(dict.fromkeys(name for row in rows for name in row if name not in
                              ("best epoch", "description")))
    head += ["best epoch", "description"]
    table = [head] + [[str(row.get(name, "-")) for name in head] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(head))]
    return "\n".join("  ".join(value.ljust(width) for value, width in zip(line, widths))
                     for line in table)
