"""``spectrain compare JOB_DIR JOB_DIR ... | --trainer MODE/TRAINER``: one HTML page comparing
jobs (see :mod:`modules.html_report.compare`). A ``cv<N>`` folder given as a JOB_DIR stands
for its fold jobs. The page is a new file, never an existing one: by default
``<cache_root>/<mode>/compare-<time>.html`` (``--output FILE`` to choose), its figures in
``compare-<time>_files/``."""

from __future__ import annotations

from pathlib import Path

from modules import PROJECT_ROOT


def register(subparsers) -> None:
    compare = subparsers.add_parser(
        "compare", help="one HTML page comparing jobs: numbers, differing parameters, curves")
    compare.add_argument("job_dirs", nargs="*", type=Path, metavar="JOB_DIR",
                         help="job folders (at least two), or cv<N> folders")
    compare.add_argument("--trainer", metavar="MODE/TRAINER",
                         help="every job folder of this trainer, with its cv runs")
    compare.add_argument("--cache-root", type=Path, default=PROJECT_ROOT / "cache",
                         help="where --trainer's jobs are (default: the project's cache/)")
    compare.add_argument("--output", type=Path, metavar="FILE",
                         help="the page to write (a new file; default: a stamped "
                              "compare-<time>.html in the jobs' mode folder)")
    compare.set_defaults(handler=run, uses_tensorflow=False)


def run(args) -> int:
    from modules.html_report.compare import (CompareError, default_output, expand_job_dirs,
                                             trainer_job_dirs, write_comparison)
    from modules.jobs import stamped_path

    if args.trainer and args.job_dirs:
        raise CompareError("give job folders or --trainer MODE/TRAINER, not both")
    if args.trainer:
        job_dirs = trainer_job_dirs(args.cache_root, args.trainer)
        output = args.output or stamped_path(job_dirs[0].parents[1], "compare-", ".html")
    else:
        job_dirs = expand_job_dirs(args.job_dirs)
        if len({path.resolve() for path in job_dirs}) < 2:
            raise CompareError("needs at least two job folders (or --trainer MODE/TRAINER for "
                               "every job of a trainer)")
        output = args.output
    path = write_comparison(job_dirs, output or default_output(job_dirs))
    print(f"comparison written: {path}")
    return 0
