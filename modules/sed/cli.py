"""``spectrain clips``: training clips from long annotated recordings.

    spectrain clips --annotations PATH (a table or a folder of tables) [--audio-root DIR]
        --output DIR [--clip-length 20] [--event-offset SECONDS|random] [--target-sr HZ]
        [--backgrounds N] [--dev] [--seed 0] [--label-column NAME] [--recording R]
        [--no-progress]

Annotation rows that cannot be used (an empty label, a bad time, BirdNET's ``nocall``) are
skipped, and printed with their table, line and reason before the clips are cut.

:mod:`modules.commands.clips` registers the command: its parser from :func:`add_clips_command`,
its handler :func:`run_clips`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_clips_command(subparsers) -> argparse.ArgumentParser:
    """Add ``clips`` to ``spectrain``'s sub-parsers; returns its parser."""
    clips = subparsers.add_parser(
        "clips", help="cut training clips around annotated events of long recordings",
        description="Cut one clip per annotated event (and background clips with no event) "
                    "from long recordings; writes WAVs and metadata.tsv.")
    clips.add_argument("--annotations", required=True, type=Path,
                       help="a Raven selection table, a CSV/TSV (file, onset, offset, label), "
                            "or a folder of them")
    clips.add_argument("--audio-root", type=Path,
                       help="relative recording names resolve against this folder (default: "
                            "each table's folder)")
    clips.add_argument("--output", required=True, type=Path,
                       help="a new folder for the clips and metadata.tsv")
    clips.add_argument("--clip-length", type=float, default=20.0, help="seconds (default 20)")
    clips.add_argument("--event-offset", metavar="SECONDS|random",
                       help="where the event starts in its clip (default: centred)")
    clips.add_argument("--target-sr", type=int, metavar="HZ",
                       help="resample the clips (default: each recording's rate)")
    clips.add_argument("--backgrounds", type=int, metavar="N",
                       help="background clips without events (default: as many as events)")
    clips.add_argument("--dev", action="store_true",
                       help="a small subset for development: at most 20 events per label")
    clips.add_argument("--seed", type=int, default=0)
    clips.add_argument("--label-column", metavar="NAME",
                       help="the annotation tables' label column, if not a usual name")
    clips.add_argument("--recording", metavar="R",
                       help="the recording of a table without a file column (one table only)")
    clips.add_argument("--max-files-per-folder", type=int, default=1000,
                       help="clips per sub-folder 0000/, 0001/, ... (default 1000)")
    clips.add_argument("--no-progress", action="store_true", help="no progress bar")
    return clips


def _event_offset(text):
    if text is None or text.strip().lower() == "random":
        return None if text is None else "random"
    try:
        return float(text)
    except ValueError:
        raise SystemExit(f"spectrain clips: --event-offset must be a number of seconds or "
                         f"'random', got {text!r}") from None


def summary(metadata, output_dir: Path) -> str:
    """The text ``spectrain clips`` prints after a run."""
    attrs = metadata.attrs
    per_label = attrs.get("clips_per_label", {})
    n_clips = metadata["clip"].nunique() if len(metadata) else 0
    lines = [f"{n_clips} clips in {output_dir}"]
    names = list(per_label) + ["background"]
    width = max(len(name) for name in names)
    for label, count in per_label.items():
        lines.append(f"  {label:<{width}}  {count}")
    lines.append(f"  {'background':<{width}}  {attrs.get('backgrounds', 0)}")
    skipped = attrs.get("skipped", [])
    if skipped:
        lines.append(f"skipped {sum(entry['events'] for entry in skipped)} event(s) of "
                     f"{len({entry['source'] for entry in skipped})} recording(s) (listed in "
                     f"{output_dir / 'skipped.tsv'}):")
        lines += [f"  {entry['source']}: {entry['reason']} ({entry['events']} events)"
                  for entry in skipped]
    else:
        lines.append("skipped files: none")
    lines.append(f"metadata: {output_dir / 'metadata.tsv'}")
    return "\n".join(lines)


def skipped_rows_text(events) -> str:
    """What ``spectrain clips`` prints about the annotation rows it left out (none: "")."""
    from .annotation_summary import format_skipped

    skipped = events.attrs.get("skipped", [])
    if not skipped:
        return ""
    return "annotation " + "\n".join(format_skipped(skipped, limit=20))


def run_clips(args: argparse.Namespace) -> int:
    """Run ``spectrain clips`` with parsed arguments; 0 when clips were written, else 1."""
    from .annotation_summary import read_events
    from .clips import make_clips

    event_offset = _event_offset(args.event_offset)
    source = Path(args.annotations)
    try:
        if not source.exists():
            raise SystemExit(f"spectrain clips: --annotations {source} does not exist")
        events = read_events(source, audio_root=args.audio_root, label_column=args.label_column,
                             recording=getattr(args, "recording", None))
        if skipped_rows_text(events):
            print(skipped_rows_text(events))
        metadata = make_clips(
            events, args.output, clip_length=args.clip_length, event_offset=event_offset,
            target_sr=args.target_sr, n_background=args.backgrounds, seed=args.seed,
            dev=args.dev, max_files_per_folder=getattr(args, "max_files_per_folder", 1000),
            progress=not args.no_progress)
    except (ValueError, FileExistsError, FileNotFoundError) as error:
        raise SystemExit(f"spectrain clips: {error}") from None
    print(summary(metadata, Path(args.output)))
    return 0 if len(metadata) else 1
