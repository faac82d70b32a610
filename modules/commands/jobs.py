"""``spectrain jobs [MODE[/TRAINER]]``: the job folders with their status and validation
numbers."""

from __future__ import annotations

import json
from pathlib import Path

from modules import PROJECT_ROOT


def _job_row(key: str, info_path: Path) -> tuple:
    info = json.loads(info_path.read_text())
    metrics_path = info_path.parent / "metrics.json"
    accuracy = balanced = score = "-"
    if metrics_path.exists():
        examples = json.loads(metrics_path.read_text())["examples"]
        accuracy = f"{examples['accuracy']:.4f}"
        balanced = f"{examples['balanced_accuracy']:.4f}"
        if examples.get("icbhi_score") is not None:  # respiratory tasks
            score = f"{examples['icbhi_score']:.4f}"
    description = json.loads((info_path.parent / "params.json").read_text()).get(
        "description", "") if (info_path.parent / "params.json").exists() else ""
    return (key, info_path.parent.name, info.get("status", "?"), accuracy, balanced,
            score, info.get("best_epoch", "-"), description[:50])


def list_jobs_table(cache_root: Path, selector: str | None) -> str:
    from modules.jobs import all_jobs

    rows = []
    for mode, trainer, job in all_jobs(cache_root):
        key = f"{mode}/{trainer}"
        info_path = job.path / "job.json"
        if (selector and selector not in (key, mode)) or not info_path.exists():
            continue
        rows.append(_job_row(key, info_path))
    if not rows:
        return "no jobs found"
    head = ("trainer", "job", "status", "accuracy", "balanced", "icbhi score", "best epoch",
            "description")
    if all(row[5] == "-" for row in rows):  # no respiratory job listed: no score column
        head = head[:5] + head[6:]
        rows = [row[:5] + row[6:] for row in rows]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(head, widths))]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def register(subparsers) -> None:
    jobs = subparsers.add_parser(
        "jobs", help="list jobs with their status and validation accuracy")
    jobs.add_argument("selector", nargs="?", help="MODE or MODE/TRAINER")
    jobs.add_argument("--cache-root", default=str(PROJECT_ROOT / "cache"))
    jobs.set_defaults(handler=run)


def run(args) -> int:
    print(list_jobs_table(Path(args.cache_root), args.selector))
    return 0
