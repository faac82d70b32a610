"""What a ``spectrain explain`` run writes, shared by every method (:mod:`.explain`,
:mod:`.nmf_explain`): the run folder, the file names of its examples and its summaries.

A run gets a new folder ``<job>/interpret/<method>-<time>/``; each example's files start with
:func:`example_name`; the run's summary goes to ``summary.txt`` in its folder and one line of
``<job>/interpret/summary.csv`` (columns :data:`SUMMARY_COLUMNS`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from modules.jobs import stamped_path

# Columns of <job>/interpret/summary.csv: every method's summary fits them (blank where a value
# does not apply), so one table compares all the runs on a job.
SUMMARY_COLUMNS = (
    "method", "folder", "examples", "seconds", "layer", "fill", "baseline",
    "mean_deletion_area", "mean_random_deletion_area", "median_abs_completeness_delta",
    "patches", "median_lime_r2", "interpreter", "components", "fidelity_top1", "fidelity_top3",
    "fidelity_top5", "fidelity_auprc", "median_probability_drop_relevant",
    "median_probability_drop_random", "median_logit_drop_relevant", "median_logit_drop_random")


def new_run_folder(job_dir: Path, method: str) -> Path:
    """A new, empty ``<job>/interpret/<method>-<time>/`` (an earlier run is never replaced)."""
    folder = stamped_path(job_dir / "interpret", f"{method}-")
    folder.mkdir(parents=True)
    return folder


def example_name(position: int, path: str, chunk: int) -> str:
    """The stem of an example's files: ``<position>-<recording stem>-chunk<chunk>``."""
    return f"{position:04d}-{Path(path).stem}-chunk{int(chunk)}"


def summary_text(summary: dict) -> str:
    """``summary`` as aligned ``key value`` lines."""
    width = max(map(len, summary)) + 2
    return "\n".join(f"{key:<{width}}{value}" for key, value in summary.items()) + "\n"


def append_summary(path: Path, summary: dict) -> None:
    """One line per run, appended (earlier lines are never rewritten)."""
    line = pd.DataFrame([{key: summary.get(key) for key in SUMMARY_COLUMNS}])
    line.to_csv(path, mode="a", header=not path.exists(), index=False, float_format="%.6g")
