"""The auDeep-style commands of ``spectrain``: same names and options as auDeep's.

    spectrain inspect netcdf --input FILE
    spectrain preprocess --basedir DIR --window-width 0.08 --window-overlap 0.04
        --mel-spectrum 128 --fixed-length 5 --clip-below -60 --output spectrograms/esc-10.nc
    spectrain t-rae train --input FILE --run-name DIR [--num-epochs 64 ...]   (also f-rae, ft-rae)
    spectrain t-rae generate --model-dir DIR --input FILE --output representations.nc
    spectrain mlp evaluate --input FILE --cross-validate [--num-epochs 400 ...]
    spectrain svm evaluate --input FILE --cross-validate --complexity C
    spectrain mlp|svm predict --train-input FILE --input FILE --output predictions.tsv
    spectrain fuse --input A.nc B.nc --output F.nc
    spectrain export --input R.nc --output DIR --format csv|arff
    spectrain import --input DIR --output R.nc
    spectrain pack --basedir DIR --output clips.h5 --sample-rate 32000 --clip-length 5

Each command is a thin layer over :mod:`modules.representation` and :mod:`modules.data.packs`.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

RAE_KINDS = {"t-rae": "t", "f-rae": "f", "ft-rae": "ft"}


class CommandError(SystemExit):
    """A one-line error for the user (bad input), printed without a traceback."""


def add_commands(commands) -> None:
    """Add the representation-learning sub-commands to ``spectrain``'s sub-parsers."""
    preprocess = commands.add_parser(
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

    for name in RAE_KINDS:
        rae = commands.add_parser(name, help=f"recurrent autoencoder ({name}): train, generate")
        action = rae.add_subparsers(dest="action", required=True)
        train = action.add_parser("train")
        train.add_argument("--input", type=Path, nargs="+", required=True,
                           help="one or more feature sets of the same shape")
        train.add_argument("--run-name", type=Path, required=True)
        train.add_argument("--num-epochs", type=int, default=10)
        train.add_argument("--batch-size", type=int, default=64)
        train.add_argument("--learning-rate", type=float, default=0.001)
        train.add_argument("--keep-prob", type=float, default=0.8)
        train.add_argument("--num-layers", type=int, default=1)  # auDeep's defaults throughout
        train.add_argument("--num-units", type=int, default=16)
        train.add_argument("--cell", default="GRU", choices=("GRU", "LSTM"))
        train.add_argument("--bidirectional-encoder", action="store_true")
        train.add_argument("--bidirectional-decoder", action="store_true")
        train.add_argument("--encoder-noise", type=float, default=0.0)
        train.add_argument("--feed-previous-prob", type=float, default=0.0)
        train.add_argument("--seed", type=int, default=42)
        train.add_argument("--continue", dest="continue_training", action="store_true",
                           help="resume the run from its latest checkpoint")
        if name != "t-rae":
            train.add_argument("--freq-window-width", type=int, default=32)
            train.add_argument("--freq-window-overlap", type=int, default=24)
        generate = action.add_parser("generate")
        generate.add_argument("--model-dir", type=Path, required=True)
        generate.add_argument("--input", type=Path, required=True)
        generate.add_argument("--output", type=Path, required=True)
        generate.add_argument("--batch-size", type=int, default=500)

    for name in ("mlp", "svm"):
        learner = commands.add_parser(name, help=f"{name.upper()} on a feature set: evaluate, "
                                                 "predict")
        action = learner.add_subparsers(dest="action", required=True)
        evaluate = action.add_parser("evaluate")
        evaluate.add_argument("--input", type=Path, required=True)
        evaluate.add_argument("--cross-validate", action="store_true")
        evaluate.add_argument("--train-partitions", nargs="+")
        evaluate.add_argument("--eval-partitions", nargs="+")
        evaluate.add_argument("--repeat", type=int, default=1)
        evaluate.add_argument("--majority-vote", action="store_true")
        predict = action.add_parser("predict")
        predict.add_argument("--train-input", type=Path, required=True)
        predict.add_argument("--input", type=Path, required=True)
        predict.add_argument("--output", type=Path, required=True)
        predict.add_argument("--train-partitions", nargs="+")
        for sub in (evaluate, predict):
            sub.add_argument("--seed", type=int, default=42)
            if name == "mlp":
                sub.add_argument("--num-epochs", type=int, default=400)
                sub.add_argument("--learning-rate", type=float, default=0.001)
                sub.add_argument("--keep-prob", type=float, default=0.6)
                sub.add_argument("--num-layers", type=int, default=2)
                sub.add_argument("--num-units", type=int, default=150)
                sub.add_argument("--batch-size", type=int)
                sub.add_argument("--shuffle", action="store_true",
                                 help="shuffle minibatches (full-batch training ignores it)")
            else:
                sub.add_argument("--complexity", type=float, default=1.0)

    fuse = commands.add_parser("fuse", help="join feature sets of the same instances")
    fuse.add_argument("--input", type=Path, nargs="+", required=True)
    fuse.add_argument("--output", type=Path, required=True)
    export = commands.add_parser("export", help="a feature set as CSV or ARFF files")
    export.add_argument("--input", type=Path, required=True)
    export.add_argument("--output", type=Path, required=True)
    export.add_argument("--format", default="csv", choices=("csv", "arff"))
    export.add_argument("--labels-last", action="store_true")
    imported = commands.add_parser("import", help="CSV or ARFF files (as exported) -> netCDF")
    imported.add_argument("--input", type=Path, required=True)
    imported.add_argument("--output", type=Path, required=True)

    pack = commands.add_parser("pack", help="a dataset as a PANNs-style HDF5 waveform pack")
    source = pack.add_mutually_exclusive_group(required=True)
    source.add_argument("--basedir", type=Path, help="a dataset folder (layout detected)")
    source.add_argument("--dataset", help="a registered dataset name, e.g. Esc10")
    pack.add_argument("--output", type=Path, required=True)
    pack.add_argument("--sample-rate", type=int, default=32000)
    pack.add_argument("--clip-length", type=float, default=5.0)
    pack.add_argument("--overwrite", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Run a command added by :func:`add_commands`; bad input ends in a one-line error."""
    from modules.representation.dataset import FeatureSetError

    try:
        return _run(args)
    except (FeatureSetError, FileNotFoundError, FileExistsError, ValueError) as error:
        raise CommandError(f"spectrain {args.command}: {error}") from None


def _load(path: Path):
    from modules.representation.dataset import FeatureSet

    return FeatureSet.load(path)


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise FileExistsError(f"{path} exists; choose another --output (results are never "
                              "overwritten)")


def _run(args: argparse.Namespace) -> int:
    command = args.command
    if command == "preprocess":
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
        _refuse_existing(args.output)
        features = preprocess(args.basedir, settings, args.output, parser=args.parser)
        print(f"{len(features)} instances, features {features.feature_dims} "
              f"{features.feature_shape} -> {args.output}")
    elif command in RAE_KINDS:
        from modules.representation import autoencoders

        if args.action == "train":
            settings = autoencoders.RaeSettings(
                kind=RAE_KINDS[command], num_layers=args.num_layers, num_units=args.num_units,
                cell=args.cell, bidirectional_encoder=args.bidirectional_encoder,
                bidirectional_decoder=args.bidirectional_decoder, keep_prob=args.keep_prob,
                encoder_noise=args.encoder_noise, feed_previous_prob=args.feed_previous_prob,
                learning_rate=args.learning_rate, batch_size=args.batch_size,
                num_epochs=args.num_epochs, seed=args.seed,
                **({"freq_window_width": args.freq_window_width,
                    "freq_window_overlap": args.freq_window_overlap}
                   if command != "t-rae" else {}))
            from modules.representation.dataset import concatenate

            inputs = [_load(path) for path in args.input]
            features = inputs[0] if len(inputs) == 1 else concatenate(
                inputs, sources=[str(path) for path in args.input])
            autoencoders.train(features, settings, args.run_name,
                               continue_training=args.continue_training)
            print(f"model: {args.run_name}")
        else:
            _refuse_existing(args.output)
            representations = autoencoders.generate(args.model_dir, _load(args.input),
                                                    batch_size=args.batch_size)
            representations.save(args.output)
            print(f"{len(representations)} representations of size "
                  f"{representations.feature_shape[-1]} -> {args.output}")
    elif command in ("mlp", "svm"):
        return _learner(args)
    elif command == "fuse":
        from modules.representation.exchange import fuse

        _refuse_existing(args.output)
        fused = fuse([_load(p) for p in args.input], sources=[str(p) for p in args.input])
        fused.save(args.output)
        print(f"fused {len(args.input)} sets: features {fused.feature_shape} -> {args.output}")
    elif command == "export":
        from modules.representation.exchange import export

        files = export(_load(args.input), args.output, fmt=args.format, name=args.input.stem,
                       labels_last=args.labels_last)
        print(f"{len(files)} file(s) under {args.output}")
    elif command == "import":
        from modules.representation.exchange import import_features

        _refuse_existing(args.output)
        features = import_features(args.input)
        features.save(args.output)
        print(f"{len(features)} instances -> {args.output}")
    elif command == "pack":
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


def _learner(args: argparse.Namespace) -> int:
    from modules.representation import classifiers

    if args.command == "mlp":
        factory = functools.partial(
            classifiers.MLPLearner, num_layers=args.num_layers, num_units=args.num_units,
            keep_prob=args.keep_prob, learning_rate=args.learning_rate,
            num_epochs=args.num_epochs, batch_size=args.batch_size, shuffle=args.shuffle)
    else:
        factory = functools.partial(classifiers.SVMLearner, complexity=args.complexity)
    if args.action == "predict":
        _refuse_existing(args.output)
        predictions = classifiers.predict(_load(args.train_input), _load(args.input), factory,
                                          args.output, train_partitions=args.train_partitions,
                                          seed=args.seed)
        print(f"{len(predictions)} predictions -> {args.output}")
        return 0
    features = _load(args.input)
    results = classifiers.evaluate(
        features, factory, cross_validate=args.cross_validate or None,
        train_partitions=args.train_partitions, eval_partitions=args.eval_partitions,
        repeat=args.repeat, majority_vote=args.majority_vote, seed=args.seed)
    print(classifiers.format_results(results, features.label_map))
    return 0
