"""ESC-10, 5-fold cross-validation: the from-scratch recipe (train8) beside train6's block 2
(baseline CNN + mixup + SpecAugment), in the same run, on this machine.

    .venv/bin/python tests/benchmarks/esc10_cv.py [--cache-root DIR] [--testing]
    .venv/bin/python tests/benchmarks/esc10_cv.py --ablation      # the recipe's ingredients
    .venv/bin/python tests/benchmarks/esc10_cv.py --ablation --rows 1 3   # some rows of it

Prints each fold's window-level and recording-level accuracy, their mean +/- std and each
run's wall time (the recipe's target: mean >= 0.92 within 60 minutes on 2 cores). The jobs are
ordinary job folders under ``--cache-root`` (default: a new folder under cache/benchmarks/).

``--ablation`` never touches fold 1: it trains on folds 2-4 and validates on fold 5, once with
the whole recipe and once without each ingredient, and prints a table of what each gave.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# name -> what the ablation changes after recipe_settings() (Python lines in a trainer file)
ABLATIONS = {
    "recipe": "",
    "without silence trimming": "parameters.trim_silence_db = None",
    "baseline_cnn for compact_vgg": "MODEL = baseline_cnn",
    "without mixup": "AUG = augmentations(mixup=0)",
    "without SpecAugment": "AUG = augmentations(specaugment=0)",
    "fixed windows, no random crops": "parameters.random_crops = False",
    "plateau schedule": "parameters.lr_schedule = 'plateau'",
    "half the epochs": "parameters.n_epochs = parameters.es_patience = parameters.n_epochs // 2",
}


def spectrain(*arguments, cache_root: Path) -> float:
    """Run ``spectrain train ...`` in a fresh process; its wall time in seconds."""
    command = [sys.executable, "-m", "modules.cli", "train", *arguments,
               "--cache-root", str(cache_root), "--no-progress"]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    return time.perf_counter() - start


def cv_summary(cache_root: Path, trainer: str) -> dict:
    folders = sorted((cache_root / "esc10" / trainer).glob("cv*"), key=os.path.getmtime)
    return json.loads((folders[-1] / "summary.json").read_text())


def print_cv(name: str, summary: dict, seconds: float) -> None:
    print(f"\n{name}: {seconds / 60:.1f} min")
    for row in summary["folds"]:
        print(f"  fold {row['fold']}: windows {row['best_accuracy']:.4f}   "
              f"recordings {row.get('best_file_accuracy', row['best_accuracy']):.4f}")
    for key in ("best_accuracy", "best_file_accuracy"):
        if key in summary["mean"]:
            print(f"  mean {key}: {summary['mean'][key]:.4f} +/- {summary['std'][key]:.4f}")
    if summary["missing"]:
        print(f"  MISSING folds: {summary['missing']}")


def inner_split_dataset(cache_root: Path) -> Path:
    """ESC-10 without fold 1, as symbolic links: the ablation's data."""
    from modules.data.fetch import locate_esc10

    source, target = locate_esc10(ROOT / "data", ROOT), cache_root / "esc10_folds_2_to_5"
    for clip in source.glob("*/*.ogg"):
        if not clip.name.startswith("1-"):
            link = target / clip.parent.name / clip.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(clip)
    return target


def ablation_trainer(folder: Path, index: int, change: str, dataset: Path) -> Path:
    path = folder / "trainers" / "esc10" / f"ablation{index}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(f"""\
        from modules.data import register_dataset
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.parsers import spec_parser
        from modules.training import launch_job
        from trainers.esc10.train8 import MODEL, augmentations, recipe_settings

        register_dataset("Esc10Folds2to5", {str(dataset)!r}, layout="esc_folders")
        recipe_settings()
        parameters.validation_fold = 5
        AUG, AUDIO_AUG = augmentations(), []
        {textwrap.indent(change, "        ").strip()}
        launch_job({{"Esc10Folds2to5": 1}}, MODEL, AUG, AUDIO_AUG, spec_parser)
        """))
    return path


def run_ablation(cache_root: Path, testing: bool, only: list[int] | None = None) -> None:
    dataset = inner_split_dataset(cache_root)
    rows = []
    for index, (name, change) in enumerate(ABLATIONS.items(), start=1):
        if only and index not in only:
            continue
        trainer = ablation_trainer(cache_root, index, change, dataset)
        seconds = spectrain(str(trainer), *(["--testing"] if testing else []),
                            cache_root=cache_root)
        job = max((cache_root / "esc10" / trainer.stem).iterdir(), key=os.path.getmtime)
        metrics = json.loads((job / "metrics.json").read_text())
        rows.append((name, metrics["examples"]["accuracy"],
                     metrics.get("clips", metrics["examples"])["accuracy"], seconds))
    print("\nablation: train folds 2-4, validate fold 5 (80 recordings)")
    print(f"  {'':34s} {'windows':>8s} {'recordings':>11s} {'minutes':>8s}")
    for name, windows, recordings, seconds in rows:
        print(f"  {name:34s} {windows:8.4f} {recordings:11.4f} {seconds / 60:8.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-root", type=Path)
    parser.add_argument("--testing", action="store_true", help="check the script: tiny jobs")
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument("--rows", type=int, nargs="+", metavar="N",
                        help="with --ablation: only these rows (1 is the whole recipe)")
    args = parser.parse_args()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    cache_root = (args.cache_root or ROOT / "cache" / "benchmarks" / f"esc10_cv-{stamp}").resolve()
    testing = ["--testing"] if args.testing else []
    print(f"jobs under {cache_root}; {os.cpu_count()} CPU cores")
    if args.ablation:
        run_ablation(cache_root, args.testing, args.rows)
        return 0
    recipe = spectrain("trainers/esc10/train8.py", *testing, cache_root=cache_root)
    train6 = spectrain("trainers/esc10/train6.py", "--block", "2", "--cross-validate", *testing,
                       cache_root=cache_root)
    print_cv("train8 (the recipe)", cv_summary(cache_root, "train8"), recipe)
    print_cv("train6 block 2, 5 folds", cv_summary(cache_root, "train6"), train6)
    print("\n(train6 chooses its best epoch on val_loss, i.e. on the held-out fold; train8 on "
          "the training loss)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
