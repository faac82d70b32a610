"""``spectrain detect --job JOB_DIR --input FILES_OR_FOLDERS --output DIR``: events in long
recordings, found by a sound event detection job."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    detect = subparsers.add_parser(
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
    detect.set_defaults(handler=run)


def per_class_option(values, kind, option: str, command: str = "detect"):
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
        raise SystemExit(f"spectrain {command}: {option} takes one number or CLASS=NUMBER pairs, "
                         f"got {' '.join(values)}") from None


def run(args) -> int:
    from modules.inference import detect_with_job

    try:
        events = detect_with_job(args.job, args.input, args.output, args.hop,
                                 per_class_option(args.threshold, float, "--threshold"),
                                 per_class_option(args.median_filter, int, "--median-filter"),
                                 args.min_duration, args.min_gap,
                                 progress=not args.no_progress)
    except (ValueError, FileExistsError) as error:
        raise SystemExit(f"spectrain detect: {error}") from None
    print(f"{len(events)} events -> {args.output}")
    return 0
