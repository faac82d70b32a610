"""``spectrain replay JOB_DIR``: a job folder's best model on its validation files again; exit
code 0 when the numbers are identical to the recorded ones, 1 when not (or when the job cannot
be replayed: one line says why)."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    replay = subparsers.add_parser("replay", help="replay a job folder validation-only")
    replay.add_argument("job_dir", type=Path)
    replay.add_argument("--no-progress", action="store_true")
    replay.set_defaults(handler=run)


def run(args) -> int:
    from modules.replay import replay_job

    # A job it refuses (unfinished, damaged, changed validation files) is a user error: one
    # line from spectrain's main().
    result = replay_job(args.job_dir, progress=not args.no_progress)
    return 0 if result.identical else 1
