"""``spectrain predict --job JOB_DIR --input FILES_OR_FOLDERS --output DIR``: a finished job's
best model over new recordings of any length (windows.csv, files.csv, a Raven table)."""

from __future__ import annotations

from pathlib import Path

from modules.commands.detect import per_class_option


def register(subparsers) -> None:
    predict = subparsers.add_parser(
        "predict", help="run a finished job's best model over new recordings of any length")
    predict.add_argument("--job", required=True, type=Path, help="a finished job folder")
    predict.add_argument("--input", required=True, nargs="+", type=Path,
                         help="audio files and/or folders of them")
    predict.add_argument("--output", required=True, type=Path,
                         help="a folder for windows.csv, files.csv, windows.selections.txt "
                              "(Raven) and skipped.tsv; existing files are never replaced")
    predict.add_argument("--hop", type=float,
                         help="seconds between window starts (default: the job's step_size)")
    predict.add_argument("--aggregate", choices=("mean", "max"), default="mean",
                         help="how a file's window probabilities combine (default: mean)")
    predict.add_argument("--top-k", type=int, default=3,
                         help="classes listed per file in files.csv (single-label jobs)")
    predict.add_argument("--threshold", nargs="+", metavar="VALUE|CLASS=VALUE",
                         help="probability from which a class counts as heard (Raven table; "
                              "multi-label decisions), one or per class, e.g. Dog=0.6 Rain=0.4 "
                              "(default: 0.5, or the job's multilabel_threshold)")
    predict.add_argument("--batch-size", type=int, help="windows per batch (default: the job's)")
    predict.add_argument("--embeddings", action="store_true",
                         help="also write each window's embedding (the input of the model's "
                              "classification head) to embeddings.nc, an auDeep feature set")
    predict.add_argument("--labels-from", type=Path, metavar="DATASET",
                         help="with --embeddings: a dataset (folder or manifest, any layout) "
                              "whose labels and folds the embeddings of its files get")
    predict.add_argument("--no-progress", action="store_true")
    predict.set_defaults(handler=run)


def run(args) -> int:
    from modules.inference import predict_with_job

    if args.labels_from is not None and not args.embeddings:
        raise SystemExit("spectrain predict: --labels-from labels the embeddings: add "
                         "--embeddings")

    try:
        files = predict_with_job(args.job, args.input, args.output, args.hop, args.aggregate,
                                 args.top_k, per_class_option(args.threshold, float,
                                                              "--threshold", "predict"),
                                 args.batch_size, progress=not args.no_progress,
                                 embeddings=args.embeddings, labels_from=args.labels_from)
    except (ValueError, FileExistsError) as error:
        raise SystemExit(f"spectrain predict: {error}") from None
    skipped = len(getattr(files, "attrs", {}).get("skipped", []))
    print(f"{len(files)} files predicted, {skipped} skipped -> {args.output}")
    return 0
