"""``spectrain fuse``, ``spectrain export`` and ``spectrain import``: feature sets joined, written
as CSV or ARFF files, and read back::

    spectrain fuse --input A.nc B.nc --output F.nc
    spectrain export --input R.nc --output DIR --format csv|arff
    spectrain import --input DIR --output R.nc
"""

from __future__ import annotations

from pathlib import Path

from modules.commands.common import feature_set_errors, load_features, refuse_existing


def register(subparsers) -> None:
    fuse = subparsers.add_parser("fuse", help="join feature sets of the same instances")
    fuse.add_argument("--input", type=Path, nargs="+", required=True)
    fuse.add_argument("--output", type=Path, required=True)
    fuse.set_defaults(handler=run_fuse)
    export = subparsers.add_parser("export", help="a feature set as CSV or ARFF files")
    export.add_argument("--input", type=Path, required=True)
    export.add_argument("--output", type=Path, required=True)
    export.add_argument("--format", default="csv", choices=("csv", "arff"))
    export.add_argument("--labels-last", action="store_true")
    export.set_defaults(handler=run_export)
    imported = subparsers.add_parser("import", help="CSV or ARFF files (as exported) -> netCDF")
    imported.add_argument("--input", type=Path, required=True)
    imported.add_argument("--output", type=Path, required=True)
    imported.set_defaults(handler=run_import)


@feature_set_errors
def run_fuse(args) -> int:
    from modules.representation.exchange import fuse

    refuse_existing(args.output)
    fused = fuse([load_features(p) for p in args.input], sources=[str(p) for p in args.input])
    fused.save(args.output)
    print(f"fused {len(args.input)} sets: features {fused.feature_shape} -> {args.output}")
    return 0


@feature_set_errors
def run_export(args) -> int:
    from modules.representation.exchange import export

    files = export(load_features(args.input), args.output, fmt=args.format,
                   name=args.input.stem, labels_last=args.labels_last)
    print(f"{len(files)} file(s) under {args.output}")
    return 0


@feature_set_errors
def run_import(args) -> int:
    from modules.representation.exchange import import_features

    refuse_existing(args.output)
    features = import_features(args.input)
    features.save(args.output)
    print(f"{len(features)} instances -> {args.output}")
    return 0
