"""``spectrain jobs [MODE[/TRAINER]]``: the job folders with their status, validation and
held-out test numbers."""

from __future__ import annotations

from pathlib import Path

from modules import PROJECT_ROOT


def list_jobs_table(cache_root: Path, selector: str | None) -> str:
    """The table ``spectrain jobs`` prints (see :func:`modules.job_folder.jobs_table`)."""
    from modules.job_folder import jobs_table

    return jobs_table(cache_root, selector)


def register(subparsers) -> None:
    jobs = subparsers.add_parser(
        "jobs", help="list jobs with their status, validation and held-out test numbers")
    jobs.add_argument("selector", nargs="?", help="MODE or MODE/TRAINER")
    jobs.add_argument("--cache-root", default=str(PROJECT_ROOT / "cache"))
    jobs.set_defaults(handler=run, uses_tensorflow=False)


def cache_line(cache_root: Path) -> str:
    """The decoded-audio cache's size, and how to clear it."""
    from modules.data.decoded_cache import FOLDER, cache_size

    folder = cache_root / FOLDER
    entries, size = cache_size(folder)
    return (f"decoded-audio cache: {entries} files, {size / 1e6:.1f} MB in {folder} "
            f"(delete the folder to clear it)")


def run(args) -> int:
    print(list_jobs_table(Path(args.cache_root), args.selector))
    print(cache_line(Path(args.cache_root)))
    return 0
