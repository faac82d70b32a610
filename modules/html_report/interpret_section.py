"""The job report's ``spectrain explain`` part: ``interpret/summary.csv`` as a table, then every
run folder, newest first, with its summary, its per-example metrics, its images as thumbnails
(deletion curves, LIME patches, attribution maps) and its WAVs (NMF explanations) as players."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from modules.html_report.galleries import WindowPlayers, card, describe_row
from modules.html_report.example_audio import ExampleIndex
from modules.html_report.page import audio, escape, missing, relative, section, table

STAMP = re.compile(r"(\d{8}-\d{6})(?:-(\d+))?$")


def newest_first(paths) -> list[Path]:
    """Folders or files named ``<prefix><YYYYmmdd-HHMMSS>[-N]``, newest first."""
    def key(path: Path):
        match = STAMP.search(path.stem if path.is_file() else path.name)
        return (match[1], int(match[2] or 1)) if match else ("", 0)

    return sorted(paths, key=key, reverse=True)


def csv_table(path: Path, sortable: bool = True) -> str:
    """A CSV file as a table, its all-blank columns left out (the missing note if absent)."""
    if not path.is_file():
        return missing(path.name)
    frame = pd.read_csv(path).dropna(axis=1, how="all")
    rows = [[_plain(v) for v in row] for row in frame.itertuples(index=False)]
    return table(list(frame.columns), rows, sortable=sortable)


def _plain(value):
    """A CSV value for a table cell: None for blank, whole numbers as int (a column with
    blanks reads as float)."""
    if pd.isna(value):
        return None
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def interpret_section(files, index: ExampleIndex, players: WindowPlayers) -> str:
    folder = files.job_dir / "interpret"
    if not folder.is_dir():
        return section("Explanations", '<p class="muted">No <code>spectrain explain</code> run '
                       "yet (<code>interpret/</code> does not exist).</p>", anchor="interpret")
    runs = newest_first([path for path in folder.iterdir() if path.is_dir()])
    parts = ["<h3>All runs (interpret/summary.csv)</h3>", csv_table(folder / "summary.csv")]
    parts += [run_part(files, run, index, players) for run in runs]
    return section("Explanations", *parts, anchor="interpret")


def run_part(files, run: Path, index: ExampleIndex, players: WindowPlayers) -> str:
    """One run folder: summary, per-example metrics, images with their sounds."""
    page_dir = files.job_dir
    parts = [f'<h3 id="run-{escape(run.name)}">{escape(run.name)}</h3>']
    summary = run / "summary.txt"
    if summary.is_file():
        parts.append(f"<pre>{escape(summary.read_text(encoding='utf-8'))}</pre>")
    if (run / "metrics.csv").is_file():
        parts.append("<details><summary>per-example metrics (metrics.csv)</summary>"
                     f"{csv_table(run / 'metrics.csv')}</details>")
    cards = []
    for image in sorted(run.glob("*.png")):
        row = index.explained_example(image) if index.table is not None else None
        sounds = sorted(run.glob(f"{image.stem}-*.wav"))
        player = "".join(f'<p class="muted">{escape(wav.stem[len(image.stem) + 1:])}</p>'
                         + audio(wav, page_dir, label=wav.name) for wav in sounds)
        if not sounds and row is not None:
            player = players.for_row(row)  # the window the map is about
        caption = describe_row(row) if row is not None else image.stem.replace("-", " ")
        cards.append(card(files, image, caption, player))
    shown = {wav for image in run.glob("*.png") for wav in run.glob(f"{image.stem}-*.wav")}
    for wav in sorted(set(run.glob("*.wav")) - shown):
        cards.append(f'<div class="card"><p>{escape(wav.name)}</p>'
                     f"{audio(wav, page_dir, label=wav.name)}</div>")
    if cards:
        parts.append(f'<div class="gallery">{"".join(cards)}</div>')
    if not summary.is_file() and not cards:  # e.g. an NMF interpreter: its files, linked
        links = ", ".join(f'<a href="{relative(path, page_dir)}">{escape(path.name)}</a>'
                          for path in sorted(run.iterdir()) if path.is_file())
        parts.append(f"<p>files: {links or 'none'}</p>")
    return "\n".join(parts)
