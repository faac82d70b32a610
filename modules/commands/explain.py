"""``spectrain explain --job JOB_DIR --method gradcam|saliency|smoothgrad|ig|lime|nmf
[--index N ... | --all] [--layer NAME] [--train]``: why a job's model decides."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    explain = subparsers.add_parser(
        "explain", help="why a job's model decides: Grad-CAM, gradients, LIME, NMF components")
    explain.add_argument("--job", required=True, type=Path, help="a finished job folder")
    explain.add_argument("--method", required=True,
                         help="gradcam, saliency, smoothgrad, ig (integrated gradients), lime "
                              "or nmf")
    explain.add_argument("--index", type=int, nargs="+", metavar="N",
                         help="validation example(s): rows of the job's predictions.csv "
                              "(default: the first example of each class)")
    explain.add_argument("--all", action="store_true", help="every validation example")
    explain.add_argument("--layer", help="Grad-CAM / NMF-interpreter layer (default: the "
                                         "model's last convolutional maps)")
    explain.add_argument("--train", action="store_true",
                         help="nmf: learn the dictionary and train the interpreter first")
    explain.add_argument("--baseline", default="silence",
                         help="ig: 'silence' (default), 'zeros' or a reference audio file")
    explain.add_argument("--steps", type=int, default=64, help="ig: interpolation steps")
    explain.add_argument("--fill", default="floor", choices=("floor", "silence"),
                         help="what a removed cell or patch becomes (deletion curves, lime): "
                              "the example's quietest level (default) or digital silence")
    explain.add_argument("--patches", type=int, nargs=2, default=(4, 6),
                         metavar=("BANDS", "SEGMENTS"),
                         help="lime: frequency bands x time segments (default 4 6)")
    explain.add_argument("--over", default="patches", choices=("patches", "nmf"),
                         help="lime: switch time-frequency patches (default) or the job's NMF "
                              "components (after --method nmf --train) on and off")
    explain.add_argument("--samples", type=int,
                         help="smoothgrad noisy copies (25) / lime perturbations (1000)")
    explain.add_argument("--components", type=int, default=100, help="nmf: dictionary size")
    explain.add_argument("--epochs", type=int, default=30, help="nmf: interpreter epochs")
    explain.add_argument("--threshold", type=float, default=0.1,
                         help="nmf: relevance above which a component counts as relevant")
    explain.add_argument("--seed", type=int, default=0)
    explain.add_argument("--no-progress", action="store_true")
    explain.set_defaults(handler=run)


def run(args) -> int:
    from modules.interpret.explain import ExplainOptions, explain
    from modules.interpret.job import ExplainError

    try:
        options = ExplainOptions(
            method=args.method, positions=args.index, all_examples=args.all,
            layer=args.layer, baseline=args.baseline, steps=args.steps, fill=args.fill,
            patch_grid=tuple(args.patches), lime_over=args.over,
            n_samples=args.samples, train=args.train, n_components=args.components,
            epochs=args.epochs, relevance_threshold=args.threshold, seed=args.seed)
        explain(args.job, options, progress=not args.no_progress)
    except ExplainError as error:
        raise SystemExit(f"spectrain explain: {error}") from None
    return 0
