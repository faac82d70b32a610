"""The job report's plain records: replays (``replay-*.txt``), skipped files, the per-epoch
history table and the list of the folder's files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from modules.html_report.interpret_section import csv_table, newest_first
from modules.html_report.page import escape, missing, relative, section

# What a finished job's folder should hold, whatever its task (README: "What a job folder
# holds"); a missing one is named on the page.
FINISHED_FILES = ("params.json", "job.json", "train.csv", "validation.csv", "best_model.keras",
                  "last_model.keras", "history.csv", "history.png", "report.txt",
                  "metrics.json")
SKIPPED_HEADINGS = ("Skipped files (", "Skipped clips (")


def replay_outcome(text: str) -> str:
    if "IDENTICAL to the recorded metrics" in text:
        return "identical"
    if "DIFFERENT from the recorded metrics" in text:
        return "different"
    return "no verdict"


def replays_section(job_dir: Path, finished: bool = True) -> str:
    """Every replay, newest first, with whether it gave the recorded numbers again."""
    replays = newest_first(job_dir.glob("replay-*.txt"))
    if not replays:
        hint = (f" (<code>spectrain replay {escape(job_dir)}</code>)" if finished
                else ": only a finished job can be replayed")
        return section("Replays", f'<p class="muted">none{hint}</p>', anchor="replays")
    items = []
    for path in replays:
        text = path.read_text(encoding="utf-8", errors="replace")
        outcome = replay_outcome(text)
        difference = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                           if line.startswith("largest difference")), "-")
        css = "status-finished" if outcome == "identical" else "status-failed"
        items.append(f'<li data-replay="{escape(path.name)}"><a href="{relative(path, job_dir)}">'
                     f'{escape(path.name)}</a>: <span class="status {css}">{escape(outcome)}'
                     f"</span> (largest probability difference {escape(difference)})</li>")
    return section("Replays", f"<ul>{''.join(items)}</ul>", anchor="replays")


def skipped_rows(job_dir: Path) -> list[tuple[str, str]] | None:
    """(file, reason) of every skipped file: skipped.txt, else the report's list; None when
    neither exists."""
    path = job_dir / "skipped.txt"
    if path.is_file():
        return [tuple(line.split("\t", 1)) if "\t" in line else (line, "")
                for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    report = job_dir / "report.txt"
    if not report.is_file():
        return None
    lines = report.read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(SKIPPED_HEADINGS)), None)
    if start is None:
        return None
    rows = []
    for line in lines[start + 1:]:
        if not line.strip() or line.startswith("---") or line == "none":
            continue
        separator = "\t" if "\t" in line else ": "
        file, _, reason = line.partition(separator)
        rows.append((file, reason))
    return rows


def skipped_section(job_dir: Path) -> str:
    from modules.html_report.page import table

    rows = skipped_rows(job_dir)
    if rows is None:
        return section("Skipped files", missing("skipped.txt"), anchor="skipped")
    body = table(["file", "reason"], rows, sortable=True) if rows else "<p>none</p>"
    return section(f"Skipped files ({len(rows)})", body, anchor="skipped")


def history_table(job_dir: Path) -> str:
    """history.csv, one row per epoch, folded away."""
    path = job_dir / "history.csv"
    if not path.is_file():
        return missing("history.csv")
    epochs = len(pd.read_csv(path))
    return (f"<details><summary>every epoch's numbers (history.csv, {epochs} epochs)</summary>"
            f"{csv_table(path)}</details>")


def files_section(job_dir: Path, finished: bool) -> str:
    """Links to the folder's files and folders; for a finished job, the missing ones named."""
    entries = []
    for path in sorted(job_dir.iterdir()):
        if path.name.startswith(".") or path.name in ("report.html", "report_files"):
            continue
        size = f"{path.stat().st_size / 1024:,.0f} kB" if path.is_file() else "folder"
        entries.append(f'<li><a href="{relative(path, job_dir)}">{escape(path.name)}</a> '
                       f'<span class="muted">{escape(size)}</span></li>')
    absent = [name for name in FINISHED_FILES if not (job_dir / name).exists()] if finished else []
    notes = "".join(missing(name) for name in absent)
    return section("Files", notes, f"<ul class=\"files\">{''.join(entries)}</ul>",
                   anchor="files")
