"""``spectrain clips --annotations PATH --output DIR``: training clips around the annotated events
of long recordings. The parser and the run live with the clip cutting, in
:mod:`modules.sed.cli`."""

from __future__ import annotations


def register(subparsers) -> None:
    from modules.sed.cli import add_clips_command

    add_clips_command(subparsers).set_defaults(handler=run)


def run(args) -> int:
    from modules.sed.cli import run_clips

    return run_clips(args)
