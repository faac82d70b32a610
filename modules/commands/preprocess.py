"""``spectrain preprocess --basedir DIR --output FILE.nc``: audio files -> spectrograms in a
netCDF feature set, with auDeep's option names (step 2 of its workflow)::

    spectrain preprocess --basedir DIR --window-width 0.08 --window-overlap 0.04
        --mel-spectrum 128 --fixed-length 5 --clip-below -60 --output spectrograms/esc-10.nc
"""

from __future__ import annotations

from pathlib import Path

from modules.commands.common import feature_set_errors, refuse_existing


def register(subparsers) -> None:
    preprocess = subparsers.add_parser(
        "preprocess", help="audio files -> spectrograms in a netCDF feature set (auDeep step 2)")
    preprocess.add_argument("--basedir", type=Path, required=True)
    preprocess.add_argument("--parser", help="dataset layout (default: detected)")
    preprocess.add_argument("--output", type=Path)
    preprocess.add_argument("--window-width", type=float, default=0.04)
    preprocess.add_argument("--window-overlap", type=float, default=0.02)
    preprocess.add_argument("--mel-spectrum", type=int, help="mel bands (default: linear)")
    preprocess.add_argument("--fixed-length", type=float, help="pad or cut clips to seconds")
    preprocess.add_argument("--center-fixed", action="store_true")
    preprocess.add_argument("--clip-below", type=float, help="dB floor (relative to the max)")
    preprocess.add_argument("--clip-above", type=float, help="dB ceiling")
    preprocess.add_argument("--chunk-length", type=float)
    preprocess.add_argument("--chunk-count", type=int)
    preprocess.add_argument("--channels", default="MEAN", choices=("MEAN", "LEFT", "RIGHT", "DIFF"))
    preprocess.add_argument("--target-sample-rate", type=int)
    preprocess.add_argument("--pretend", type=int, metavar="N",
                            help="write clip N's spectrogram and histogram instead (a PNG)")
    preprocess.set_defaults(handler=run)


@feature_set_errors
def run(args) -> int:
    from modules.representation.preprocess import SpectrogramSettings, pretend, preprocess

    settings = SpectrogramSettings(
        window_width=args.window_width, window_overlap=args.window_overlap,
        mel_bands=args.mel_spectrum, fixed_length=args.fixed_length,
        center_fixed=args.center_fixed, clip_below=args.clip_below,
        clip_above=args.clip_above, chunk_length=args.chunk_length,
        chunk_count=args.chunk_count, channels=args.channels,
        target_sample_rate=args.target_sample_rate)
    if args.pretend is not None:
        output = args.output or Path(f"pretend-{args.pretend}.png")
        print(pretend(args.basedir, args.pretend, settings, output, parser=args.parser))
        return 0
    if args.output is None:
        raise ValueError("--output is required (or --pretend N)")
    refuse_existing(args.output)
    features = preprocess(args.basedir, settings, args.output, parser=args.parser)
    print(f"{len(features)} instances, features {features.feature_dims} "
          f"{features.feature_shape} -> {args.output}")
    return 0
