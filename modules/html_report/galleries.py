"""The job report's example galleries: true positives, false positives and false negatives
(``tp/``, ``fp/``, ``fn/``), Grad-CAM overlays (``gradcam/``) and a sound event detection job's
activity plots (``examples/``), each a thumbnail linking to the full image, with a player for
the window the model was evaluated on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modules.html_report.example_audio import (ExampleIndex, SourceRecord, WindowUnavailable,
                                               evaluated_windows, sed_window, source_exists,
                                               window_of, write_ogg)
from modules.html_report.page import audio, escape, figure, missing, section
from modules.html_report.report_files import ReportFiles

OUTCOMES = {"tp": "True positives", "fp": "False positives", "fn": "False negatives"}
DECODED_KEPT = 16  # recordings kept decoded while a page is built (examples repeat files)


class WindowPlayers:
    """Players for examples' windows, their audio written once under ``report_files/audio``
    (again only when the recording or the job's parameters are newer)."""

    def __init__(self, files: ReportFiles, params):
        self.files, self.params = files, params
        self.record = SourceRecord(files.job_dir)
        self.decoded: dict[str, np.ndarray | WindowUnavailable] = {}

    def for_row(self, row) -> str:
        """The player of a predictions.csv row's window, or a note saying why there is none."""
        if row is None:
            return missing("audio (no matching row in predictions.csv)")
        path, chunk = str(row["path"]), int(row["chunk_index"])
        target = self.files.named_path("audio", f"{row['file_index']}-{Path(path).stem}"
                                                f"-chunk{chunk}", ".ogg")
        label = f"{Path(path).name}, window {chunk}"
        player = self._player(target, label, path, lambda: window_of(self._windows(path), path,
                                                                      chunk))
        if self.params is None:
            return player
        return player + f'<p class="muted">{escape(self.span(chunk))}</p>'

    def span(self, chunk: int) -> str:
        """Where window ``chunk`` lies in its recording, as the job cut it."""
        params = self.params
        start = 0.0 if params.chunking == "fixed" else chunk * params.step_size
        trimmed = (" of the recording trimmed of its silence"
                   if params.trim_silence_db is not None else "")
        return f"window {chunk}: {start:g}-{start + params.audio_length:g} s{trimmed}"

    def for_sed(self, path: str, start_s: float, index: int) -> str:
        target = self.files.named_path("audio", f"sed-{index:04d}-{Path(path).stem}", ".ogg")
        return self._player(target, f"{Path(path).name} from {start_s:.2f} s", path,
                            lambda: sed_window(self.params, path, start_s))

    def _player(self, target: Path, label: str, path: str, cut) -> str:
        if self.params is None:
            return missing(f"audio of {label} (params.json is missing)")
        if not source_exists(path):
            return missing(f"audio of {label} (source {path} is gone)")
        sources = [Path(path), self.files.job_dir / "params.json"]
        if not self.files.fresh(target, *sources):
            changed = self.record.change(path)
            if changed:
                return missing(f"audio of {label} (source changed since the job ran: "
                               f"{changed})")
            try:
                write_ogg(cut(), self.params.sr, target)
            except WindowUnavailable as reason:
                return missing(f"audio of {label} ({reason})")
        self.files.use(target)
        return audio(target, self.files.job_dir, label=label)

    def _windows(self, path: str) -> np.ndarray:
        if path not in self.decoded:
            if len(self.decoded) >= DECODED_KEPT:
                self.decoded.pop(next(iter(self.decoded)))
            try:
                self.decoded[path] = evaluated_windows(self.params, path)
            except WindowUnavailable as reason:
                self.decoded[path] = reason
        found = self.decoded[path]
        if isinstance(found, WindowUnavailable):
            raise found
        return found


def card(files: ReportFiles, image: Path, caption: str, player: str = "") -> str:
    """A thumbnail that opens the full image, its caption and (optionally) a player."""
    thumbnail = files.thumbnail(image)
    if thumbnail is None:
        return f'<div class="card">{missing(f"{image.name} (not a readable image)")}</div>'
    shown = figure(thumbnail, files.job_dir, caption, link=image)
    return f'<div class="card">{shown}{player}</div>'


def describe_row(row, kind: str = "") -> str:
    """A caption: recording, window, true and predicted class, the predicted probability."""
    if row is None:
        return kind
    predicted = row["predicted"]
    probability = row.get(f"p_{predicted}")
    chance = f" (p={float(probability):.2f})" if probability not in (None, "") else ""
    return (f"{kind + ': ' if kind else ''}{Path(str(row['path'])).name} window "
            f"{row['chunk_index']}; true {row['true']}, predicted {predicted}{chance}")


def outcome_galleries(files: ReportFiles, index: ExampleIndex, players: WindowPlayers,
                      class_names, per_class: int) -> str:
    """tp/fp/fn, one gallery each: the examples the job drew (``per_class`` of each class, as
    the job chose them), a deleted image shown as missing, then any other image found."""
    job_dir = files.job_dir
    if (job_dir / "examples.txt").is_file():  # a job on feature vectors draws no spectrograms
        note = escape((job_dir / "examples.txt").read_text(encoding="utf-8"))
        return section("Examples", f"<p>{note}</p>", _tns_note(job_dir), anchor="examples")
    expected = index.expected_outcomes(class_names, per_class)
    parts = [_tns_note(job_dir)]
    for kind, title in OUTCOMES.items():
        folder, cards = job_dir / kind, []
        drawn = expected.get(kind, [])
        for name, row in drawn:
            label = name.partition("__")[0].replace("_", " ")
            if (folder / name).is_file():
                cards.append(card(files, folder / name, describe_row(row, label),
                                  players.for_row(row)))
            else:
                cards.append(f'<div class="card">{missing(f"{kind}/{name}")}'
                             f'<p class="muted">{escape(describe_row(row, label))}</p>'
                             f"{players.for_row(row)}</div>")
        known = {name for name, _ in drawn}
        for image in sorted(folder.glob("*.png")) if folder.is_dir() else []:
            if image.name not in known:
                row = index.outcome_example(kind, image) if index.table is not None else None
                label = image.stem.partition("__")[0].replace("_", " ")
                cards.append(card(files, image, describe_row(row, label), players.for_row(row)))
        count = len(cards)
        if not folder.is_dir():
            cards.insert(0, missing(f"{kind}/"))
        elif not cards:
            cards.append('<p class="muted">none</p>')
        parts.append(f'<h3 id="{kind}">{escape(title)} ({count})</h3>'
                     f'<div class="gallery">{"".join(cards)}</div>')
    return section("Examples", *parts, anchor="examples")


def _tns_note(job_dir: Path) -> str:
    path = job_dir / "tns.txt"
    if not path.is_file():
        return missing("tns.txt (true negatives)")
    count = sum(1 for line in path.read_text(encoding="utf-8").splitlines()
                if line and not line.startswith("#"))
    return (f'<p>Thumbnails open the full spectrogram; each player holds the window the model '
            f'was evaluated on. {count} true negatives are listed in '
            f'<a href="tns.txt">tns.txt</a>.</p>')


def gradcam_gallery(files: ReportFiles, index: ExampleIndex, players: WindowPlayers) -> str:
    folder = files.job_dir / "gradcam"
    if not folder.is_dir() and players.params is not None and players.params.n_gradcam == 0:
        return section("Grad-CAM", '<p class="muted">none asked for (n_gradcam = 0)</p>',
                       anchor="gradcam")
    if not folder.is_dir():
        return section("Grad-CAM", missing("gradcam/"), anchor="gradcam")
    cards = []
    for image in sorted(folder.glob("*.png")):
        row = index.gradcam_example(image) if index.table is not None else None
        cards.append(card(files, image, describe_row(row) or image.name, players.for_row(row)))
    unavailable = folder / "unavailable.txt"
    note = (f"<p>{escape(unavailable.read_text(encoding='utf-8'))}</p>"
            if unavailable.is_file() else "")
    body = f'<div class="gallery">{"".join(cards)}</div>' if cards else '<p class="muted">none</p>'
    return section("Grad-CAM", note, body, anchor="gradcam")


def sed_gallery(files: ReportFiles, players: WindowPlayers) -> str:
    """A sound event detection job's ``examples/`` plots, each with its validation window."""
    folder = files.job_dir / "examples"
    if not folder.is_dir():
        return section("Activity examples", missing("examples/"), anchor="sed-examples")
    windows = _sed_windows(files.job_dir)
    cards = []
    for image in sorted(folder.glob("*.png")):
        position = int(image.stem.split("-", 1)[0]) if image.stem[:4].isdigit() else -1
        player = missing("audio (predictions.npz has no such window)")
        caption = image.name
        if 0 <= position < len(windows):
            path, start = windows[position]
            caption = f"{Path(path).name} from {start:.2f} s"
            player = players.for_sed(path, start, position)
        cards.append(card(files, image, caption, player))
    body = f'<div class="gallery">{"".join(cards)}</div>' if cards else '<p class="muted">none</p>'
    return section("Activity examples", "<p>Activity curves over the spectrogram, true events "
                   "marked; each player holds the window shown.</p>", body, anchor="sed-examples")


def _sed_windows(job_dir: Path) -> list[tuple[str, float]]:
    path = job_dir / "predictions.npz"
    if not path.is_file():
        return []
    with np.load(path) as saved:
        return [(str(clip), float(start)) for clip, start in zip(saved["clips"],
                                                                 saved["starts"])]
