"""``spectrain sync-tracking JOB_DIR``: copy the MLflow run a job logged to the local store after
its tracking server went away (the job folder's ``tracking.json``) into the server run, once the
server is back. Running it again copies nothing twice."""

from __future__ import annotations

from pathlib import Path

from modules.commands.common import CommandError


def register(subparsers) -> None:
    sync = subparsers.add_parser(
        "sync-tracking", help="copy a job's local MLflow run to its tracking server")
    sync.add_argument("job_dir", type=Path)
    sync.set_defaults(handler=run)


def run(args) -> int:
    from modules.tracking import SyncError, sync_job_tracking

    try:
        copied = sync_job_tracking(args.job_dir)
    except SyncError as error:
        raise CommandError(f"spectrain sync-tracking: {error}") from None
    new = " (a new run: the recorded one was gone)" if copied["new_server_run"] else ""
    print(f"{args.job_dir}: run {copied['server_run_id']}{new} got {copied['metrics']} metric "
          f"points, {copied['params']} params, {copied['tags']} tags and {copied['artifacts']} "
          f"artifacts; status {copied['status']}")
    return 0
