"""``spectrain jobs [MODE[/TRAINER]]``: the job folders with their status and validation
numbers."""

from __future__ import annotations

from pathlib import Path

from modules import PROJECT_ROOT


def list_jobs_table(cache_root: Path, selector: str | None) -> str:
    """The table ``spectrain jobs`` prints (see :func:`modules.job_folder.jobs_table`)."""
    from modules.job_folder import jobs_table

    return jobs_table(cache_root, selector)


def register(subparsers) -> None:
    jobs = subparsers.add_parser(
        "jobs", help="list jobs with their status and validation accuracy")
    jobs.add_argument("selector", nargs="?", help="MODE or MODE/TRAINER")
    jobs.add_argument("--cache-root", default=str(PROJECT_ROOT / "cache"))
    jobs.set_defaults(handler=run)


def run(args) -> int:
    print(list_jobs_table(Path(args.cache_root), args.selector))
    return 0
