"""The ``spectrain`` command line.

    spectrain [--debug] COMMAND ...
    spectrain train NAME [--testing] [--description TEXT] [--validation-only [--job N]] [--resume]
    spectrain replay JOB_DIR
    spectrain report JOB_DIR   (rebuild the job folder's report.html, e.g. after explain)
    spectrain jobs [MODE[/TRAINER]]
    spectrain compare JOB_DIR JOB_DIR ... | --trainer MODE/TRAINER [--output FILE]
    spectrain inspect raw --basedir DIR
    spectrain augment NAME --pretend N [--block K]
    spectrain inspect netcdf --input FILE
    spectrain detect --job JOB_DIR --input FILES_OR_FOLDERS --output DIR
    spectrain clips --annotations PATH --output DIR [--clip-length 20] [--target-sr HZ] [--dev]
    spectrain explain --job JOB_DIR --method gradcam|saliency|smoothgrad|ig|lime|nmf
        [--index N ... | --all] [--layer NAME] [--train]
    spectrain sync-tracking JOB_DIR   (a job's local MLflow run to its server, once it is back)
    spectrain preprocess | t-rae | f-rae | ft-rae | mlp | svm | fuse | export | import | pack
        (auDeep's representation-learning workflow: see modules/commands/preprocess.py)

Each command is a module of :mod:`modules.commands` that registers its parser and handler; this
module only builds the parser from them, parses and dispatches. TensorFlow is imported first,
without its start-up lines (:mod:`modules.startup`), unless a command registers
``uses_tensorflow=False`` (listing jobs, inspecting data and annotations, comparing jobs and
rebuilding a job page start in a second).

Errors: an error the user can fix (a :class:`modules.errors.UserError`, e.g. an unknown dataset
or parameter in a trainer file, a job folder that cannot be replayed, a checkpoint refused as
unsafe; or a command's own ``SystemExit("message")``) ends in one line on stderr,
``spectrain COMMAND: message``, and exit code 1, without a traceback. ``--debug`` shows the
traceback too. Any other exception is a bug and shows its traceback as Python does (exit code
1). Exit code 2: arguments the parser refuses (argparse's usage message); 0: success.
Called in-process, :func:`main` raises ``SystemExit`` with that one line.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from modules.commands import register_commands
from modules.commands.common import CommandError
from modules.commands.convert import convert_checkpoint
from modules.commands.jobs import list_jobs_table
from modules.commands.train import DEFAULT_MODE, find_trainer, run_trainer
from modules.startup import import_tensorflow_quietly

__all__ = ["DEFAULT_MODE", "build_parser", "convert_checkpoint", "find_trainer",
           "list_jobs_table", "main", "run_trainer"]


def build_parser() -> argparse.ArgumentParser:
    """``spectrain``'s parser: every command of :data:`modules.commands.COMMAND_MODULES`."""
    parser = argparse.ArgumentParser(prog="spectrain", description=__doc__.split("\n\n")[0])
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of user errors too (they are one line)")
    register_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv=None) -> int:
    """Parse ``argv`` and run the command's handler; returns its exit code. A user error
    raises ``SystemExit("spectrain COMMAND: message")`` (see the module docstring)."""
    from modules.errors import UserError, one_line

    args = build_parser().parse_args(argv)
    if getattr(args, "uses_tensorflow", True):  # light commands say they do not
        import_tensorflow_quietly()
    try:
        return args.handler(args)
    except UserError as error:
        if args.debug:
            raise
        raise CommandError(f"spectrain {args.command}: {one_line(error)}"
                           f"{_where_in_user_code(error)}") from None
    except SystemExit as error:
        if args.debug and isinstance(error.code, str):
            traceback.print_exc()  # where the command gave up; the message follows
        raise


def _where_in_user_code(error: BaseException) -> str:
    """`` (FILE, line N)`` of the innermost frame of ``error`` in a file outside the library
    and the Python installation (a trainer file), else ""; a misspelt parameter in a trainer
    is then found without a traceback."""
    library = Path(__file__).resolve().parent
    installed = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        path = Path(frame.filename)
        if not path.is_file() or path.suffix != ".py":
            continue  # <frozen runpy> and the like
        parents = set(path.resolve().parents)
        if library not in parents and not parents & installed:
            return f" ({frame.filename}, line {frame.lineno})"
    return ""


if __name__ == "__main__":
    sys.exit(main())
