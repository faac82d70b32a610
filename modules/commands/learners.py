"""``spectrain mlp|svm evaluate|predict``: auDeep's classifiers on a feature set::

    spectrain mlp evaluate --input FILE --cross-validate [--num-epochs 400 ...]
    spectrain svm evaluate --input FILE --cross-validate --complexity C
    spectrain mlp|svm predict --train-input FILE --input FILE --output predictions.tsv
"""

from __future__ import annotations

import functools
from pathlib import Path

from modules.commands.common import feature_set_errors, load_features, refuse_existing


def _add_learner_options(sub, name: str) -> None:
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


def register(subparsers) -> None:
    for name in ("mlp", "svm"):
        learner = subparsers.add_parser(name, help=f"{name.upper()} on a feature set: evaluate, "
                                                   "predict")
        action = learner.add_subparsers(dest="action", required=True)
        evaluate = action.add_parser("evaluate")
        evaluate.add_argument("--input", type=Path, required=True)
        evaluate.add_argument("--cross-validate", action="store_true")
        evaluate.add_argument("--train-partitions", nargs="+")
        evaluate.add_argument("--eval-partitions", nargs="+")
        evaluate.add_argument("--repeat", type=int, default=1)
        evaluate.add_argument("--majority-vote", action="store_true")
        evaluate.set_defaults(handler=run_evaluate)
        predict = action.add_parser("predict")
        predict.add_argument("--train-input", type=Path, required=True)
        predict.add_argument("--input", type=Path, required=True)
        predict.add_argument("--output", type=Path, required=True)
        predict.add_argument("--train-partitions", nargs="+")
        predict.set_defaults(handler=run_predict)
        for sub in (evaluate, predict):
            _add_learner_options(sub, name)


def _learner_factory(args):
    from modules.representation import classifiers

    if args.command == "mlp":
        return functools.partial(
            classifiers.MLPLearner, num_layers=args.num_layers, num_units=args.num_units,
            keep_prob=args.keep_prob, learning_rate=args.learning_rate,
            num_epochs=args.num_epochs, batch_size=args.batch_size, shuffle=args.shuffle)
    return functools.partial(classifiers.SVMLearner, complexity=args.complexity)


@feature_set_errors
def run_predict(args) -> int:
    from modules.representation import classifiers

    factory = _learner_factory(args)
    refuse_existing(args.output)
    predictions = classifiers.predict(load_features(args.train_input), load_features(args.input),
                                      factory, args.output,
                                      train_partitions=args.train_partitions, seed=args.seed)
    print(f"{len(predictions)} predictions -> {args.output}")
    return 0


@feature_set_errors
def run_evaluate(args) -> int:
    from modules.representation import classifiers

    factory = _learner_factory(args)
    features = load_features(args.input)
    results = classifiers.evaluate(
        features, factory, cross_validate=args.cross_validate or None,
        train_partitions=args.train_partitions, eval_partitions=args.eval_partitions,
        repeat=args.repeat, majority_vote=args.majority_vote, seed=args.seed)
    print(classifiers.format_results(results, features.label_map))
    return 0
