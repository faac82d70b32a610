"""``spectrain inspect raw --basedir DIR``, ``spectrain inspect netcdf --input FILE`` and
``spectrain inspect annotations FILE|FOLDER``: look at data before training on it."""

from __future__ import annotations

from pathlib import Path

from modules.commands.common import CommandError


def register(subparsers) -> None:
    inspect = subparsers.add_parser("inspect", help="look at data before training on it")
    what = inspect.add_subparsers(dest="what", required=True)
    raw = what.add_parser("raw", help="a table of audio files: durations, rates, channels, errors")
    raw.add_argument("--basedir", required=True, type=Path)
    raw.add_argument("--output", type=Path, help="also write the per-file table as CSV")
    raw.add_argument("--layout", metavar="NAME",
                     help="read the folder as this layout instead of detecting it (the names "
                          "are listed when detection is unsure)")
    raw.set_defaults(handler=run_raw, uses_tensorflow=False)
    netcdf = what.add_parser("netcdf", help="a feature set (.nc): instances, labels, folds")
    netcdf.add_argument("--input", required=True, type=Path)
    netcdf.set_defaults(handler=run_netcdf, uses_tensorflow=False)
    annotations = what.add_parser(
        "annotations", help="annotation tables: events per label and recording, skipped rows",
        description="Read an annotation table (Raven / BirdNET / Koogu selection table, "
                    "CSV/TSV, DCASE or sed_eval event list, weak-label list) or every table "
                    "under a folder; print events per label and per recording, the total "
                    "duration, recordings listed without events, and every row skipped with "
                    "its file, line and reason.")
    annotations.add_argument("path", type=Path, metavar="FILE|FOLDER")
    annotations.add_argument("--label-column", metavar="C",
                             help="the tables' label column, if not a usual name")
    annotations.add_argument("--recording", metavar="R",
                             help="the recording of a table without a file column")
    annotations.add_argument("--audio-root", type=Path, metavar="DIR",
                             help="relative recording names resolve against this folder "
                                  "(default: each table's folder)")
    annotations.set_defaults(handler=run_annotations, uses_tensorflow=False)


def run_raw(args) -> int:
    from modules.data.inspect import inspect_raw

    try:
        files, text = inspect_raw(args.basedir, layout=args.layout)
    except (ValueError, FileNotFoundError) as error:  # LayoutError is a ValueError
        raise CommandError(f"spectrain inspect raw: {error}") from None
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


def run_annotations(args) -> int:
    from modules.sed.annotation_summary import inspect_annotations

    try:
        _, text = inspect_annotations(args.path, audio_root=args.audio_root,
                                      label_column=args.label_column, recording=args.recording)
    except (ValueError, FileNotFoundError) as error:
        raise CommandError(f"spectrain inspect annotations: {error}") from None
    print(text)
    return 0
