"""``spectrain inspect raw --basedir DIR`` and ``spectrain inspect netcdf --input FILE``: look at
data before training on it."""

from __future__ import annotations

from pathlib import Path

from modules.commands.common import CommandError


def register(subparsers) -> None:
    inspect = subparsers.add_parser("inspect", help="look at data before training on it")
    what = inspect.add_subparsers(dest="what", required=True)
    raw = what.add_parser("raw", help="a table of audio files: durations, rates, channels, errors")
    raw.add_argument("--basedir", required=True, type=Path)
    raw.add_argument("--output", type=Path, help="also write the per-file table as CSV")
    raw.set_defaults(handler=run_raw)
    netcdf = what.add_parser("netcdf", help="a feature set (.nc): instances, labels, folds")
    netcdf.add_argument("--input", required=True, type=Path)
    netcdf.set_defaults(handler=run_netcdf)


def run_raw(args) -> int:
    from modules.data.inspect import inspect_raw

    files, text = inspect_raw(args.basedir)
    print(text)
    if args.output:
        files.to_csv(args.output, index=False)
        print(f"per-file table: {args.output}")
    return 0


def run_netcdf(args) -> int:
    from modules.representation.dataset import FeatureSetError
    from modules.representation.inspect_netcdf import inspect_netcdf

    try:
        print(inspect_netcdf(args.input))
    except FeatureSetError as error:
        raise CommandError(f"spectrain inspect netcdf: {error}") from None
    return 0
