"""``spectrain augment NAME --pretend N [--block K]``: before/after spectrograms and WAVs of a
training clip through a job block's augmentation."""

from __future__ import annotations

from modules.commands.train import find_trainer, run_trainer


def register(subparsers) -> None:
    augment = subparsers.add_parser(
        "augment", help="write before/after spectrograms and WAVs of a job block's augmentation")
    augment.add_argument("name", help="trainer: train2356, pneumonia/train2356 or a path")
    augment.add_argument("--pretend", type=int, required=True, metavar="N",
                         help="training clip N (0-based row of the training part)")
    augment.add_argument("--block", type=int, help="only job block K (1-based; default: all "
                                                   "blocks with augmentation)")
    augment.add_argument("--cache-root", help="where the example folders go (default: cache/)")
    augment.add_argument("--data-root", help="where datasets are (default: data/)")
    augment.set_defaults(handler=run)


def run(args) -> int:
    folders = run_trainer(find_trainer(args.name), cache_root=args.cache_root,
                          data_root=args.data_root, pretend=args.pretend,
                          pretend_block=args.block, progress=False)
    for folder in folders:
        print(folder)
    return 0
