"""``spectrain report JOB_DIR``: (re)build the job folder's ``report.html``, e.g. after
``spectrain explain`` added runs or a replay added its result; prints the page's path and size
(with its ``report_files/``)."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    report = subparsers.add_parser("report", help="(re)build a job folder's report.html")
    report.add_argument("job_dir", type=Path)
    report.set_defaults(handler=run, uses_tensorflow=False)


def run(args) -> int:
    from modules.html_report.job_report import report_size, write_job_report

    # A folder without job.json is a user error (JobFolderError): one line from main().
    page = write_job_report(args.job_dir)
    print(f"{page} ({report_size(args.job_dir) / 1024:,.0f} kB with report_files/)")
    return 0
