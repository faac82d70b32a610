"""The ``spectrain`` command line.

    spectrain train NAME [--testing] [--description TEXT] [--validation-only [--job N]]
    spectrain replay JOB_DIR
    spectrain jobs [MODE[/TRAINER]]
    spectrain inspect raw --basedir DIR
    spectrain augment NAME --pretend N [--block K]
    spectrain inspect netcdf --input FILE
    spectrain detect --job JOB_DIR --input FILES_OR_FOLDERS --output DIR
    spectrain clips --annotations PATH --output DIR [--clip-length 20] [--target-sr HZ] [--dev]
    spectrain explain --job JOB_DIR --method gradcam|saliency|smoothgrad|ig|lime|nmf
        [--index N ... | --all] [--layer NAME] [--train]
    spectrain preprocess | t-rae | f-rae | ft-rae | mlp | svm | fuse | export | import | pack
        (auDeep's representation-learning workflow: see modules/commands/preprocess.py)

Each command is a module of :mod:`modules.commands` that registers its parser and handler; this
module only builds the parser from them, parses and dispatches.
"""

from __future__ import annotations

import argparse
import sys

from modules.commands import register_commands
from modules.commands.convert import convert_checkpoint
from modules.commands.jobs import list_jobs_table
from modules.commands.train import DEFAULT_MODE, find_trainer, run_trainer

__all__ = ["DEFAULT_MODE", "build_parser", "convert_checkpoint", "find_trainer",
           "list_jobs_table", "main", "run_trainer"]


def build_parser() -> argparse.ArgumentParser:
    """``spectrain``'s parser: every command of :data:`modules.commands.COMMAND_MODULES`."""
    parser = argparse.ArgumentParser(prog="spectrain", description=__doc__.split("\n\n")[0])
    register_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv=None) -> int:
    """Parse ``argv`` and run the command's handler; returns its exit code."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
