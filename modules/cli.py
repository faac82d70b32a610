"""The ``spectrain`` command line.

    spectrain train NAME [--testing] [--description TEXT] [--validation-only [--job N]]
    spectrain replay JOB_DIR
    spectrain jobs [MODE[/TRAINER]]
    spectrain inspect raw --basedir DIR
    spectrain augment NAME --pretend N [--block K]
    spectrain inspect netcdf --input FILE
    spectrain detect --job JOB_DIR --input FILES_OR_FOLDERS --output DIR
    spectrain clips --annotations PATH --output DIR [--clip-length 20] [--target-sr HZ] [--dev]
    spectrain explain --job JOB_DIR --method gradcam|saliency|smoothgrad|ig|lime|nmf
        [--index N ... | --all] [--layer NAME] [--train]
    spectrain preprocess | t-rae | f-rae | ft-rae | mlp | svm | fuse | export | import | pack
        (auDeep's representation-learning workflow: see modules/representation/cli.py)
"""

from __future__ import annotations

import argparse
import json
import runpy
import signal
import sys
from pathlib import Path

from modules import PROJECT_ROOT

# A plain trainer name found in several modes means this mode's: the README's main job is
# `bash launch.sh train1`, the ESC-10 baseline.
DEFAULT_MODE = "esc10"
REPRESENTATION_COMMANDS = {"preprocess", "t-rae", "f-rae", "ft-rae", "mlp", "svm", "fuse",
                           "export", "import", "pack"}


def find_trainer(name: str) -> Path:
    """``train1``, ``esc10/train1`` or a path -> the trainer file."""
    candidate = Path(name)
    if candidate.suffix == ".py" and candidate.exists():
        return candidate.resolve()
    stem = name[:-3] if name.endswith(".py") else name
    pattern = f"{stem}.py" if "/" in stem else f"*/{stem}.py"
    matches = sorted((PROJECT_ROOT / "trainers").glob(pattern))
    if len(matches) == 1:
        return matches[0]
    default = [p for p in matches if p.parent.name == DEFAULT_MODE]
    if default and "/" not in stem:
        others = ", ".join(p.relative_to(PROJECT_ROOT / "trainers").with_suffix("").as_posix()
                           for p in matches if p not in default)
        print(f"{stem}: running {DEFAULT_MODE}/{stem} (also {others}: name it as MODE/{stem})",
              file=sys.stderr)
        return default[0]
    if not matches:
        known = sorted(p.relative_to(PROJECT_ROOT / "trainers").with_suffix("").as_posix()
                       for p in (PROJECT_ROOT / "trainers").glob("*/train*.py"))
        raise SystemExit(f"no trainer {name!r} under trainers/; known: {', '.join(known) or 'none'}")
    names = ", ".join(p.relative_to(PROJECT_ROOT / "trainers").with_suffix("").as_posix()
                      for p in matches)
    raise SystemExit(f"{name!r} is ambiguous ({names}); name it as MODE/{stem}")


def run_trainer(path: Path, testing=False, description=None, validation_only=False, job=None,
                cache_root=None, data_root=None, progress=True, pretend=None,
                pretend_block=None) -> list:
    """Run a trainer file's job blocks with the command line's options. Returns replayed jobs
    (or, with ``pretend``, the folders of before/after augmentation examples)."""
    from modules import training

    options = training.launch_options
    options.testing, options.description = testing, description
    options.validation_only, options.job = validation_only, job
    options.cache_root, options.data_root, options.progress = cache_root, data_root, progress
    options.pretend, options.pretend_block = pretend, pretend_block
    options.replayed, options.pretended = [], []
    training._blocks_launched.pop(str(path), None)
    from modules.parameters import parameters

    parameters.reset()  # each run starts from the defaults, whatever ran before in this process
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        options.pretend = options.pretend_block = None
    if pretend is not None:
        if not options.pretended:
            raise SystemExit(f"no job block of {path} has augmentation to show"
                             + (f" (block {pretend_block})" if pretend_block else ""))
        return list(options.pretended)
    if validation_only and not options.replayed:
        raise SystemExit(f"no job block of {path} produced the job to replay; "
                         "use `spectrain replay JOB_DIR`")
    return list(options.replayed)


def list_jobs_table(cache_root: Path, selector: str | None) -> str:
    from modules.jobs import all_jobs

    rows = []
    for mode, trainer, job in all_jobs(cache_root):
        key = f"{mode}/{trainer}"
        info_path = job.path / "job.json"
        if (selector and selector not in (key, mode)) or not info_path.exists():
            continue
        info = json.loads(info_path.read_text())
        metrics_path = info_path.parent / "metrics.json"
        accuracy = balanced = score = "-"
        if metrics_path.exists():
            examples = json.loads(metrics_path.read_text())["examples"]
            accuracy = f"{examples['accuracy']:.4f}"
            balanced = f"{examples['balanced_accuracy']:.4f}"
            if examples.get("icbhi_score") is not None:  # respiratory tasks
                score = f"{examples['icbhi_score']:.4f}"
        description = json.loads((info_path.parent / "params.json").read_text()).get(
            "description", "") if (info_path.parent / "params.json").exists() else ""
        rows.append((key, info_path.parent.name, info.get("status", "?"), accuracy, balanced,
                     score, info.get("best_epoch", "-"), description[:50]))
    if not rows:
        return "no jobs found"
    head = ("trainer", "job", "status", "accuracy", "balanced", "icbhi score", "best epoch",
            "description")
    if all(row[5] == "-" for row in rows):  # no respiratory job listed: no score column
        head = head[:5] + head[6:]
        rows = [row[:5] + row[6:] for row in rows]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(head, widths))]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spectrain", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="run a trainer file's job blocks")
    train.add_argument("name", help="trainer: train1, esc10/train1 or a path")
    train.add_argument("--testing", action="store_true",
                       help="2 epochs on a small subset; job folder suffix _testing")
    train.add_argument("--description", help="describe the job(s) in reports and MLflow")
    train.add_argument("--validation-only", action="store_true",
                       help="replay a job's best model on its validation files")
    train.add_argument("--job", type=int, help="with --validation-only: the job id (default latest)")
    train.add_argument("--cache-root", help="where job folders go (default: cache/)")
    train.add_argument("--data-root", help="where datasets are fetched to (default: data/)")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")

    replay = commands.add_parser("replay", help="replay a job folder validation-only")
    replay.add_argument("job_dir", type=Path)
    replay.add_argument("--no-progress", action="store_true")

    jobs = commands.add_parser("jobs", help="list jobs with their status and validation accuracy")
    jobs.add_argument("selector", nargs="?", help="MODE or MODE/TRAINER")
    jobs.add_argument("--cache-root", default=str(PROJECT_ROOT / "cache"))

    inspect = commands.add_parser("inspect", help="look at data before training on it")
    what = inspect.add_subparsers(dest="what", required=True)
    raw = what.add_parser("raw", help="a table of audio files: durations, rates, channels, errors")
    raw.add_argument("--basedir", required=True, type=Path)
    raw.add_argument("--output", type=Path, help="also write the per-file table as CSV")
    netcdf = what.add_parser("netcdf", help="a feature set (.nc): instances, labels, folds")
    netcdf.add_argument("--input", required=True, type=Path)

    augment = commands.add_parser(
        "augment", help="write before/after spectrograms and WAVs of a job block's augmentation")
    augment.add_argument("name", help="trainer: train2356, pneumonia/train2356 or a path")
    augment.add_argument("--pretend", type=int, required=True, metavar="N",
                         help="training clip N (0-based row of the training part)")
    augment.add_argument("--block", type=int, help="only job block K (1-based; default: all "
                                                   "blocks with augmentation)")
    augment.add_argument("--cache-root", help="where the example folders go (default: cache/)")
    augment.add_argument("--data-root", help="where datasets are (default: data/)")

    detect = commands.add_parser(
        "detect", help="find events in long recordings with a sound event detection job")
    detect.add_argument("--job", required=True, type=Path, help="a finished task='sed' job")
    detect.add_argument("--input", required=True, nargs="+", type=Path,
                        help="audio files and/or folders of them")
    detect.add_argument("--output", required=True, type=Path,
                        help="a folder for events.csv and events.selections.txt (Raven)")
    detect.add_argument("--hop", type=float, help="seconds between windows (default: half a "
                                                  "window)")
    detect.add_argument("--threshold", nargs="+", metavar="VALUE|CLASS=VALUE",
                        help="activity threshold, one for all classes or per class, e.g. "
                             "Rumble=0.6 Gunshot=0.4 (default: the job's sed_threshold)")
    detect.add_argument("--median-filter", nargs="+", metavar="FRAMES|CLASS=FRAMES",
                        help="median filter length in frames (odd), one or per class")
    detect.add_argument("--min-duration", type=float, default=0.0)
    detect.add_argument("--min-gap", type=float, default=0.0)
    detect.add_argument("--no-progress", action="store_true")

    explain = commands.add_parser(
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

    convert = commands.add_parser(
        "convert", help="convert an official PyTorch checkpoint to a .keras model (strict)")
    family = convert.add_subparsers(dest="family", required=True)
    panns = family.add_parser("panns", help="a PANNs checkpoint (.pth), e.g. Cnn14_mAP=0.431.pth")
    panns.add_argument("checkpoint", type=Path)
    panns.add_argument("output", type=Path, help="the .keras file to write")
    panns.add_argument("--model", default="Cnn14",
                       help="Cnn6, Cnn10, Cnn14, Cnn14_DecisionLevelMax/Avg/Att (default Cnn14)")
    htsat = family.add_parser("htsat", help="an HTS-AT checkpoint (.ckpt), e.g. HTSAT_AudioSet_Saved_1.ckpt")
    htsat.add_argument("checkpoint", type=Path)
    htsat.add_argument("output", type=Path, help="the .keras file to write")
    for sub in (panns, htsat):
        sub.add_argument("--overwrite", action="store_true", help="replace an existing output file")
        sub.add_argument("--trust-checkpoint", action="store_true",
                         help="unpickle a checkpoint that holds more than tensors (runs code from "
                              "the file: only for files you trust)")
    from modules.representation.cli import add_commands
    from modules.sed.cli import add_clips_command

    add_clips_command(commands)  # sound event detection: training clips around annotated events
    add_commands(commands)  # preprocess, t-rae/f-rae/ft-rae, mlp, svm, fuse, export, import, pack
    return parser


def convert_checkpoint(family: str, checkpoint: Path, output: Path, model: str = "Cnn14",
                       overwrite: bool = False, trust_checkpoint: bool = False):
    """`spectrain convert`: checkpoint -> .keras, refusing to replace a file unless asked."""
    if not checkpoint.is_file():
        raise SystemExit(f"checkpoint {checkpoint} does not exist")
    if output.suffix != ".keras":
        raise SystemExit(f"the output must be a .keras file, got {output}")
    if output.exists() and not overwrite:
        raise SystemExit(f"{output} exists; pass --overwrite to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    if family == "panns":
        from modules.models.panns.convert import convert_checkpoint as convert
        network = convert(checkpoint, output, model, allow_pickle=trust_checkpoint)
    else:
        from modules.models.htsat.convert import convert_checkpoint as convert
        network = convert(checkpoint, output, allow_pickle=trust_checkpoint)
    print(f"{checkpoint} -> {output}: {network.name}, {network.count_params():,} parameters")
    return network


def _per_class(values, kind, option: str):
    """``["0.5"]`` -> 0.5; ``["Rumble=0.6", "Gunshot=0.4"]`` -> {"Rumble": 0.6, ...}."""
    if not values:
        return None
    try:
        if len(values) == 1 and "=" not in values[0]:
            return kind(values[0])
        pairs = [value.split("=", 1) for value in values]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError
        return {name: kind(value) for name, value in pairs}
    except ValueError:
        raise SystemExit(f"spectrain detect: {option} takes one number or CLASS=NUMBER pairs, "
                         f"got {' '.join(values)}") from None


def _interrupt(signum, frame):
    # A job killed by a scheduler or `kill` records "interrupted" like Ctrl-C does.
    raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        if args.job is not None and not args.validation_only:
            raise SystemExit("--job only goes with --validation-only")
        signal.signal(signal.SIGTERM, _interrupt)
        run_trainer(find_trainer(args.name), testing=args.testing, description=args.description,
                    validation_only=args.validation_only, job=args.job,
                    cache_root=args.cache_root, data_root=args.data_root,
                    progress=not args.no_progress)
    elif args.command == "augment":
        folders = run_trainer(find_trainer(args.name), cache_root=args.cache_root,
                              data_root=args.data_root, pretend=args.pretend,
                              pretend_block=args.block, progress=False)
        for folder in folders:
            print(folder)
    elif args.command == "replay":
        from modules.replay import replay_job

        result = replay_job(args.job_dir, progress=not args.no_progress)
        return 0 if result.identical else 1
    elif args.command == "convert":
        convert_checkpoint(args.family, args.checkpoint, args.output,
                           getattr(args, "model", "Cnn14"), args.overwrite,
                           args.trust_checkpoint)
    elif args.command == "jobs":
        print(list_jobs_table(Path(args.cache_root), args.selector))
    elif args.command == "detect":
        from modules.sed.job import detect_with_job

        try:
            events = detect_with_job(args.job, args.input, args.output, args.hop,
                                     _per_class(args.threshold, float, "--threshold"),
                                     _per_class(args.median_filter, int, "--median-filter"),
                                     args.min_duration, args.min_gap,
                                     progress=not args.no_progress)
        except (ValueError, FileExistsError) as error:
            raise SystemExit(f"spectrain detect: {error}") from None
        print(f"{len(events)} events -> {args.output}")
    elif args.command == "clips":
        from modules.sed.cli import run_clips

        return run_clips(args)
    elif args.command == "explain":
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
    elif args.command == "inspect" and args.what == "netcdf":
        from modules.representation.cli import CommandError
        from modules.representation.dataset import FeatureSetError
        from modules.representation.inspect_netcdf import inspect_netcdf

        try:
            print(inspect_netcdf(args.input))
        except FeatureSetError as error:
            raise CommandError(f"spectrain inspect netcdf: {error}") from None
    elif args.command in REPRESENTATION_COMMANDS:
        from modules.representation.cli import run

        return run(args)
    elif args.command == "inspect" and args.what == "raw":
        from modules.data.inspect import inspect_raw

        files, text = inspect_raw(args.basedir)
        print(text)
        if args.output:
            files.to_csv(args.output, index=False)
            print(f"per-file table: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
