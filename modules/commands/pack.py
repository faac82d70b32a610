"""``spectrain pack --basedir DIR | --dataset NAME --output clips.h5``: a dataset as a PANNs-style
HDF5 waveform pack (:mod:`modules.data.packs`)::

    spectrain pack --basedir DIR --output clips.h5 --sample-rate 32000 --clip-length 5
"""

from __future__ import annotations

from pathlib import Path

from modules.commands.common import feature_set_errors


def register(subparsers) -> None:
    pack = subparsers.add_parser("pack", help="a dataset as a PANNs-style HDF5 waveform pack")
    source = pack.add_mutually_exclusive_group(required=True)
    source.add_argument("--basedir", type=Path, help="a dataset folder (layout detected)")
    source.add_argument("--dataset", help="a registered dataset name, e.g. Esc10")
    pack.add_argument("--output", type=Path, required=True)
    pack.add_argument("--sample-rate", type=int, default=32000)
    pack.add_argument("--clip-length", type=float, default=5.0)
    pack.add_argument("--overwrite", action="store_true")
    pack.set_defaults(handler=run)


@feature_set_errors
def run(args) -> int:
    from modules.data import load_auto, load_datasets
    from modules.data.packs import write_pack

    if args.dataset:
        table, class_names = load_datasets({args.dataset: 1})
        root = None
    else:
        table = load_auto(args.basedir)
        class_names, root = None, args.basedir
    result = write_pack(table, args.output, args.sample_rate, args.clip_length,
                        class_names=class_names, root=root, overwrite=args.overwrite)
    print(f"{result['written']} clips -> {args.output}; {len(result['skipped'])} skipped")
    return 0
