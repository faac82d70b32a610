"""``spectrain t-rae|f-rae|ft-rae train|generate``: auDeep's recurrent sequence-to-sequence
autoencoders over time (t), frequency (f) or both (ft), with auDeep's option names::

    spectrain t-rae train --input FILE --run-name DIR [--num-epochs 64 ...]
    spectrain t-rae generate --model-dir DIR --input FILE --output representations.nc
"""

from __future__ import annotations

from pathlib import Path

from modules.commands.common import feature_set_errors, load_features, refuse_existing

RAE_KINDS = {"t-rae": "t", "f-rae": "f", "ft-rae": "ft"}


def _add_train(action, name: str) -> None:
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
    train.set_defaults(handler=run_train)


def register(subparsers) -> None:
    for name in RAE_KINDS:
        rae = subparsers.add_parser(name, help=f"recurrent autoencoder ({name}): train, generate")
        action = rae.add_subparsers(dest="action", required=True)
        _add_train(action, name)
        generate = action.add_parser("generate")
        generate.add_argument("--model-dir", type=Path, required=True)
        generate.add_argument("--input", type=Path, required=True)
        generate.add_argument("--output", type=Path, required=True)
        generate.add_argument("--batch-size", type=int, default=500)
        generate.set_defaults(handler=run_generate)


@feature_set_errors
def run_train(args) -> int:
    from modules.representation import autoencoders
    from modules.representation.dataset import concatenate

    settings = autoencoders.RaeSettings(
        kind=RAE_KINDS[args.command], num_layers=args.num_layers, num_units=args.num_units,
        cell=args.cell, bidirectional_encoder=args.bidirectional_encoder,
        bidirectional_decoder=args.bidirectional_decoder, keep_prob=args.keep_prob,
        encoder_noise=args.encoder_noise, feed_previous_prob=args.feed_previous_prob,
        learning_rate=args.learning_rate, batch_size=args.batch_size,
        num_epochs=args.num_epochs, seed=args.seed,
        **({"freq_window_width": args.freq_window_width,
            "freq_window_overlap": args.freq_window_overlap}
           if args.command != "t-rae" else {}))
    inputs = [load_features(path) for path in args.input]
    features = inputs[0] if len(inputs) == 1 else concatenate(
        inputs, sources=[str(path) for path in args.input])
    autoencoders.train(features, settings, args.run_name,
                       continue_training=args.continue_training)
    print(f"model: {args.run_name}")
    return 0


@feature_set_errors
def run_generate(args) -> int:
    from modules.representation import autoencoders

    refuse_existing(args.output)
    representations = autoencoders.generate(args.model_dir, load_features(args.input),
                                            batch_size=args.batch_size)
    representations.save(args.output)
    print(f"{len(representations)} representations of size "
          f"{representations.feature_shape[-1]} -> {args.output}")
    return 0
