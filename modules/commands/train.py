"""``spectrain train NAME [--testing] [--description TEXT] [--validation-only [--job N]]
[--block N] [--cross-validate] [--resume]``: run a trainer file's job blocks."""

from __future__ import annotations

import runpy
import signal
import sys
from pathlib import Path

from modules import PROJECT_ROOT

# A plain trainer name found in several modes means this mode's: the README's main job is
# `bash launch.sh train1`, the ESC-10 baseline.
DEFAULT_MODE = "esc10"


def _trainer_names(paths) -> list[str]:
    return [p.relative_to(PROJECT_ROOT / "trainers").with_suffix("").as_posix() for p in paths]


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
        others = ", ".join(_trainer_names(p for p in matches if p not in default))
        print(f"{stem}: running {DEFAULT_MODE}/{stem} (also {others}: name it as MODE/{stem})",
              file=sys.stderr)
        return default[0]
    if not matches:
        known = sorted(_trainer_names((PROJECT_ROOT / "trainers").glob("*/train*.py")))
        raise SystemExit(f"no trainer {name!r} under trainers/; known: {', '.join(known) or 'none'}")
    names = ", ".join(_trainer_names(matches))
    raise SystemExit(f"{name!r} is ambiguous ({names}); name it as MODE/{stem}")


def run_trainer(path: Path, testing=False, description=None, validation_only=False, job=None,
                cache_root=None, data_root=None, progress=True, pretend=None,
                pretend_block=None, block=None, cross_validate=False, resume=False,
                plan=None, fold=None) -> list:
    """Run a trainer file's job blocks with the command line's options. Returns replayed jobs
    (or, with ``pretend``, the folders of before/after augmentation examples). ``plan``: a
    list that the blocks fill with what they would run, training nothing (``--parallel``);
    ``fold``: with ``block``, only that fold of a cross-validated block."""
    from modules import training

    options = training.launch_options
    options.testing, options.description = testing, description
    options.validation_only, options.job = validation_only, job
    options.cache_root, options.data_root, options.progress = cache_root, data_root, progress
    options.pretend, options.pretend_block = pretend, pretend_block
    options.block, options.cross_validate, options.resume = block, cross_validate, resume
    options.plan, options.fold = plan, fold
    options.replayed, options.pretended = [], []
    training.forget_blocks(path)
    from modules.parameters import parameters

    parameters.reset()  # each run starts from the defaults, whatever ran before in this process
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        options.pretend = options.pretend_block = options.block = None
        options.cross_validate = options.resume = False
        options.plan = options.fold = None
    if pretend is not None:
        if not options.pretended:
            raise SystemExit(f"no job block of {path} has augmentation to show"
                             + (f" (block {pretend_block})" if pretend_block else ""))
        return list(options.pretended)
    if block is not None and block > training.blocks_launched(path):
        raise SystemExit(f"{path} has {training.blocks_launched(path)} job block(s), "
                         f"not {block}")
    if validation_only and not options.replayed:
        raise SystemExit(f"no job block of {path} produced the job to replay; "
                         "use `spectrain replay JOB_DIR`")
    return list(options.replayed)


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="run a trainer file's job blocks")
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
    train.add_argument("--block", type=int, help="run only this job block (1-based)")
    train.add_argument("--cross-validate", action="store_true",
                       help="run each job block as a k-fold cross-validation (every fold)")
    train.add_argument("--resume", action="store_true",
                       help="go on with the trainer's unfinished jobs (killed, interrupted, "
                            "failed) from their last completed epoch; finished jobs are skipped")
    train.add_argument("--parallel", type=int, metavar="K",
                       help="run the job blocks (and the folds of cross-validated ones) as "
                            "Ray tasks, K at once, on a local Ray cluster")
    train.add_argument("--ray-address", metavar="ADDRESS",
                       help="with --parallel (or alone): submit the jobs to this existing Ray "
                            "cluster (HEAD_IP:6379, or auto on one of its machines) instead")
    train.set_defaults(handler=run)


def _interrupt(signum, frame):
    # A job killed by a scheduler or `kill` records "interrupted" like Ctrl-C does.
    raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")


def run(args) -> int:
    if args.job is not None and not args.validation_only:
        raise SystemExit("--job only goes with --validation-only")
    if args.resume and args.validation_only:
        raise SystemExit("--resume trains; it does not go with --validation-only")
    signal.signal(signal.SIGTERM, _interrupt)
    if args.parallel is not None or args.ray_address:
        return _run_parallel(args)
    run_trainer(find_trainer(args.name), testing=args.testing, description=args.description,
                validation_only=args.validation_only, job=args.job,
                cache_root=args.cache_root, data_root=args.data_root,
                progress=not args.no_progress, block=args.block,
                cross_validate=args.cross_validate, resume=args.resume)
    return 0


def _run_parallel(args) -> int:
    from modules.parallel import run_parallel

    if args.validation_only:
        raise SystemExit("--parallel and --ray-address train; they do not go with "
                         "--validation-only")
    if args.parallel is not None and args.parallel < 1:
        raise SystemExit(f"--parallel takes a number of jobs at once (1 or more), not "
                         f"{args.parallel}")
    options = {"testing": args.testing, "description": args.description,
               "cache_root": args.cache_root, "data_root": args.data_root,
               "cross_validate": args.cross_validate, "resume": args.resume}
    if args.block is not None:
        options["block"] = args.block
    return run_parallel(run_trainer, find_trainer(args.name), options, args.parallel,
                        args.ray_address)
