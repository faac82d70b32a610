"""``report.html`` in a job folder (modules/html_report/job_report.py), on a real small testing
job: ESC-10 at 8 kHz, 2.5 s windows every 1.25 s of each silence-trimmed clip (so recordings
give several windows, and file-level numbers), one example plot per class and outcome, three
Grad-CAM maps. The job is trained once for the module; tests that change a folder work on a
copy. Every link of the page must resolve inside the job folder, the headline must be
metrics.json's numbers, and each example's player must hold the very window the pipeline fed
the model."""

import json
import shutil
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from PIL import Image

from modules.cli import main, run_trainer
from modules.html_report.example_audio import evaluated_window, write_ogg
from modules.html_report.job_report import report_size, write_job_report
from modules.html_report.parameter_groups import parameter_groups
from modules.html_report.report_files import THUMBNAIL_WIDTH
from modules.job_folder import Job
from tests.small_trainers import HEAD, esc10_or_skip

pytestmark = pytest.mark.slow

FINISHED = HEAD + textwrap.dedent("""
    common(2)
    parameters.description = "report: 2.5 s windows every 1.25 s of trimmed clips"
    parameters.audio_length = 2.5
    parameters.step_size = 1.25
    parameters.trim_silence_db = -60.0
    parameters.n_example_plots = 1
    parameters.n_gradcam = 3
    launch_job({"Esc10": 1}, small_cnn, [], [], spec_parser)
""")


def broken_trainer(exception: str) -> str:
    """A trainer whose model cannot be built: the job stops after its data are decoded."""
    return HEAD + textwrap.dedent(f"""
        def unbuildable(input_shape, n_classes):
            raise {exception}

        common(2)
        launch_job({{"Esc10": 1}}, unbuildable, [], [], spec_parser)
    """)


class Page(HTMLParser):
    """What a test needs of a page: sources, links, headline numbers, parameter rows."""

    def __init__(self, path: Path):
        super().__init__()
        self.path, self.text = path, path.read_text(encoding="utf-8")
        self.images, self.sounds, self.links, self.metrics = [], [], [], {}
        self.changed, self.groups, self.missing, self.status = set(), {}, [], None
        self._heading, self._group, self._in_missing = None, None, False
        self.feed(self.text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "source":
            self.sounds.append(attrs["src"])
        elif tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        elif tag == "h3":
            self._heading = ""
        if "data-value" in attrs:
            self.metrics[attrs["data-metric"]] = float(attrs["data-value"])
        if "data-status" in attrs:
            self.status = attrs["data-status"]
        if "data-parameter" in attrs:
            self.groups[attrs["data-parameter"]] = self._group
            if attrs.get("data-changed"):
                self.changed.add(attrs["data-parameter"])
        self._in_missing = attrs.get("class") == "missing"

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data
        if self._in_missing:
            self.missing.append(data)

    def handle_endtag(self, tag):
        if tag == "h3" and self._heading is not None:
            self._group, self._heading = self._heading, None
        self._in_missing = False

    def local_targets(self) -> list[str]:
        return self.images + self.sounds + [link for link in self.links
                                            if not link.startswith("#")]


def assert_self_contained(page: Page) -> None:
    """Every image, sound and link resolves inside the page's folder; nothing leaves it."""
    from urllib.parse import unquote

    assert "http://" not in page.text and "https://" not in page.text
    assert "could not be shown" not in page.text  # no section lost to an error
    for target in page.local_targets():
        assert not target.startswith(("/", "file:")) and ".." not in target.split("/"), target
        assert (page.path.parent / unquote(target)).exists(), target


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    esc10_or_skip()
    root = tmp_path_factory.mktemp("html_report")
    trainer = root / "train_report.py"
    trainer.write_text(FINISHED)
    run_trainer(trainer, testing=True, cache_root=str(root / "cache"), progress=False)
    return root, root / "cache" / "esc10" / "train_report" / "1_testing"


@pytest.fixture
def copy(trained, tmp_path):
    """A copy of the finished job, in the same layout (cache/<mode>/<trainer>/<job>)."""
    folder = tmp_path / "cache" / "esc10" / "train_report" / "1_testing"
    shutil.copytree(trained[1], folder)
    return folder


def test_a_finished_job_writes_its_page_and_every_link_stays_inside(trained):
    _, job = trained
    page = Page(job / "report.html")  # written by the job itself, as it finished
    assert page.status == "finished"
    assert_self_contained(page)
    drawn = [p for kind in ("tp", "fp", "fn", "gradcam") for p in (job / kind).glob("*.png")]
    assert drawn and len(page.sounds) >= len(drawn)  # a player for every example
    cards = page.text.split('<div class="card">')
    for image in drawn:  # each image with the player of its own recording and window
        [found] = [c for c in cards if f'href="{image.parent.name}/{image.name}"' in c]
        recording, _, chunk = image.stem.rpartition("__")[2].rpartition("_chunk")
        assert f'title="{recording}.ogg, window {chunk}"' in found
    thumbnails = [src for src in page.images if src.startswith("report_files/thumbnails/")]
    assert len(thumbnails) == len(drawn)
    for src in thumbnails:
        with Image.open(job / src) as thumbnail:
            assert thumbnail.format == "JPEG" and thumbnail.width <= THUMBNAIL_WIDTH
    assert all(src.endswith(".ogg") for src in page.sounds)
    assert "history.png" in page.images and "confusion_matrix.png" in page.images
    assert not page.missing, page.missing
    size = report_size(job)
    print(f"report.html + report_files/: {size / 1024:.0f} kB for {len(drawn)} examples")
    assert size < 1_000_000


def test_the_headline_numbers_are_those_of_metrics_json(trained):
    _, job = trained
    metrics = json.loads((job / "metrics.json").read_text())
    page = Page(job / "report.html")
    windows, files = metrics["examples"], metrics["clips"]  # several windows per recording
    assert page.metrics == {"best_accuracy": windows["accuracy"],
                            "best_balanced_accuracy": windows["balanced_accuracy"],
                            "best_macro_f1": windows["macro_f1"],
                            "best_file_accuracy": files["accuracy"],
                            "best_file_balanced_accuracy": files["balanced_accuracy"]}
    for name, row in windows["per_class"].items():  # the per-class table, class in full
        assert f"<tr><td>{name}</td>" in page.text
        assert f'data-sort="{row["recall"]}"' in page.text


def test_parameters_are_grouped_and_those_that_differ_highlighted(trained):
    _, job = trained
    page = Page(job / "report.html")
    assert {"sr", "audio_length", "step_size", "trim_silence_db", "n_mels",
            "n_example_plots", "n_gradcam", "description"} <= page.changed
    assert not {"spectrogram", "lr", "seed", "split", "fmin"} & page.changed
    assert page.groups["sr"] == page.groups["trim_silence_db"] == "audio"
    assert page.groups["n_mels"] == "front end" and page.groups["n_gradcam"] == "reports"


def test_parameter_groups_follow_the_comment_lines_of_the_dataclass():
    source = (Path(__file__).resolve().parents[1] / "modules" / "parameters.py").read_text()
    body = source[source.index("class Parameters:"):source.index("def __setattr__")]
    expected, group = {}, None
    for line in body.splitlines():
        if line.strip().startswith("# ---") and line.strip("# -"):
            group = line.strip("# -").strip()
        elif line.startswith("    ") and not line.startswith("     ") and ":" in line \
                and not line.strip().startswith("#"):
            expected[line.split(":")[0].strip()] = group
    found = {name: group for group, members in parameter_groups().items()
             for name, _ in members}
    assert found == expected and len(found) == 66


def test_a_player_holds_the_window_the_pipeline_fed_the_model(trained, tmp_path):
    from modules.pipeline import SkippedFiles
    from modules.tasks.classification import decode_part

    _, folder = trained
    job = Job(folder)
    validation = job.table("validation")
    decoded = decode_part(validation, job.params, job.class_names, SkippedFiles(), "none")
    fed = {(int(e["file_index"]), int(e["chunk_index"])): e["audio"]
           for e in decoded.as_numpy_iterator()}
    later = [key for key in fed if key[1] > 0]
    assert later  # 2.5 s windows every 1.25 s: later windows exist, and are checked
    for file_index, chunk in [min(fed), *later[:3]]:
        window = evaluated_window(job.params, validation["path"][file_index], chunk)
        np.testing.assert_array_equal(window, fed[(file_index, chunk)])
    # the page's file is that window Vorbis-encoded: it decodes as a fresh encoding of it does
    page = Page(folder / "report.html")
    predictions = pd.read_csv(folder / "predictions.csv")
    row = predictions.iloc[0]
    [source] = {s for s in page.sounds if s.endswith(f"/0-{Path(row['path']).stem}-chunk0.ogg")}
    played, sr = soundfile.read(folder / source, dtype="float32")
    write_ogg(fed[(0, 0)], job.params.sr, tmp_path / "fresh.ogg")
    fresh, _ = soundfile.read(tmp_path / "fresh.ogg", dtype="float32")
    assert sr == job.params.sr and len(played) == len(fed[(0, 0)])
    np.testing.assert_array_equal(played, fresh)
    error = np.sqrt(np.mean((played - fed[(0, 0)]) ** 2) / np.mean(fed[(0, 0)] ** 2))
    assert error < 0.5  # lossy, but the same sound (a wrong window is ~1.4)


def test_a_sound_event_window_is_the_one_the_detector_was_scored_on(tmp_path):
    from types import SimpleNamespace

    from modules.html_report.example_audio import sed_window
    from modules.sed.windows import RandomWindows
    from tests.conftest import write_tone

    # clips at 16 kHz read at 8 kHz: one event near the end (the window is pushed back to fit),
    # one without events (centred), one shorter than a window (zero-padded)
    clips = pd.DataFrame({
        "path": [str(write_tone(tmp_path / f"{name}.wav", seconds, frequency=300 + 100 * i))
                 for i, (name, seconds) in enumerate([("late", 6.0), ("quiet", 5.0),
                                                      ("short", 1.5)])],
        "events": [[(4.5, 5.5, "Tone")], [], [(0.2, 0.8, "Tone")]]})
    windows = RandomWindows(clips, ["Tone"], sr=8000, window_seconds=2.0, event_bins=4,
                            validation=True, verbose=False)
    params = SimpleNamespace(sr=8000, audio_length=2.0)
    starts = windows.starts(0) / params.sr  # as the job saves them in predictions.npz
    assert len(set(starts)) == 3
    for index, (path, start) in enumerate(zip(clips["path"], starts)):
        np.testing.assert_array_equal(sed_window(params, path, start), windows.item(index, 0)[0])


def test_deleted_files_show_as_missing_and_nothing_breaks(copy):
    tp_image = next((copy / "tp").glob("*.png"))
    thumbnail = copy / "report_files" / "thumbnails" / f"tp__{tp_image.stem}.jpg"
    assert thumbnail.is_file()
    (copy / "history.png").unlink()
    tp_image.unlink()
    page = Page(write_job_report(copy))
    assert_self_contained(page)
    assert "history.png: loss, accuracy and learning rate per epoch: missing" in page.missing
    assert f"tp/{tp_image.name}: missing" in page.missing
    assert "history.png" not in page.images
    assert not thumbnail.exists()  # report_files/ keeps only what the page shows
    assert page.status == "finished"


def test_a_moved_recording_gets_a_note_instead_of_a_player(copy):
    for name in ("predictions.csv", "validation.csv"):
        table = (copy / name).read_text()
        (copy / name).write_text(table.replace(str(Path(table.splitlines()[1].split(",")[0])
                                                   .parents[1]), "/nonexistent/ESC-10"))
    shutil.rmtree(copy / "report_files")
    page = Page(write_job_report(copy))
    assert_self_contained(page)
    assert not page.sounds
    assert any("source /nonexistent/ESC-10/" in note and "is gone" in note
               for note in page.missing)


def test_a_recording_changed_since_the_job_is_not_played_as_the_one_it_heard(copy):
    record = pd.read_csv(copy / "validation_files.csv")
    changed = record["path"][0]
    record.loc[0, "size"] += 1  # as if the file had been edited since
    record.to_csv(copy / "validation_files.csv", index=False)
    shutil.rmtree(copy / "report_files")
    page = Page(write_job_report(copy))
    assert_self_contained(page)
    notes = [note for note in page.missing if "source changed since the job ran" in note]
    assert notes and all(Path(changed).name in note for note in notes)
    assert not [s for s in page.sounds if f"-{Path(changed).stem}-chunk" in s]
    assert page.sounds  # the other recordings still play


@pytest.mark.parametrize("exception, status", [
    ("ValueError('no model for this test')", "failed"),
    ("KeyboardInterrupt()", "interrupted"),
])
def test_a_job_that_did_not_finish_gets_a_page_that_says_so(trained, exception, status):
    root, _ = trained
    trainer = root / f"train_{status}.py"
    trainer.write_text(broken_trainer(exception))
    with pytest.raises(BaseException) as raised:
        run_trainer(trainer, testing=True, cache_root=str(root / "cache"), progress=False)
    assert type(raised.value).__name__ == exception.split("(")[0]  # the original error
    job = root / "cache" / "esc10" / f"train_{status}" / "1_testing"
    assert json.loads((job / "job.json").read_text())["status"] == status
    page = Page(job / "report.html")  # written by the job as it stopped
    assert page.status == status
    assert_self_contained(page)
    assert f'data-unfinished="{status}"' in page.text
    assert "error.txt" in page.links and (job / "error.txt").is_file()
    if status == "failed":
        assert "ValueError: no model for this test" in page.text
    assert "sr" in page.changed  # what the job left (its parameters) is shown
    assert "metrics.json: missing" in page.missing


def test_explanations_and_replays_show_after_spectrain_report(copy, capsys):
    from modules.replay import replay_job

    assert main(["explain", "--job", str(copy), "--method", "saliency", "--index", "0", "4",
                 "--no-progress"]) == 0
    assert main(["explain", "--job", str(copy), "--method", "nmf", "--train", "--index", "0",
                 "--components", "8", "--epochs", "2", "--no-progress"]) == 0
    assert replay_job(copy, progress=False).identical
    capsys.readouterr()
    assert main(["report", str(copy)]) == 0
    assert str(copy / "report.html") in capsys.readouterr().out
    page = Page(copy / "report.html")
    assert_self_contained(page)
    runs = sorted(path.name for path in (copy / "interpret").iterdir() if path.is_dir())
    for run in runs:
        assert f'id="run-{run}"' in page.text
    wavs = [s for s in page.sounds if s.startswith("interpret/") and s.endswith(".wav")]
    assert len(wavs) == 2  # NMF: the input and its explanation
    assert any(s.startswith("report_files/thumbnails/interpret__saliency") for s in page.images)
    assert '<span class="status status-finished">identical</span>' in page.text
    summary = pd.read_csv(copy / "interpret" / "summary.csv")
    assert len(summary) == 2 and "fidelity_top1" in page.text


def test_the_command_refuses_a_folder_that_is_not_a_job(tmp_path):
    with pytest.raises(SystemExit, match="spectrain report: .*not a finished job folder"):
        main(["report", str(tmp_path)])


def test_the_page_loads_in_a_browser_with_every_image_and_sound(trained, tmp_path):
    from tests.browser import Browser, chromium_available

    if not chromium_available():
        pytest.skip("Chromium, chromedriver or Selenium is not installed")
    _, job = trained
    page = Page(job / "report.html")
    with Browser() as browser:
        check = browser.check_page(job / "report.html", tmp_path / "report.png")
    assert check.ok, check.problems()
    assert check.title == "train_report job 1"
    assert sorted(check.images) == sorted(page.images) and len(check.audio) == len(page.sounds)


def test_a_page_that_cannot_be_written_costs_a_job_one_warning_line(tmp_path, capsys):
    from modules.training import _write_report

    assert _write_report(tmp_path) is None  # no job.json: the page cannot be built
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"warning: {tmp_path / 'report.html'} not written")
    assert not (tmp_path / "report.html").exists()
