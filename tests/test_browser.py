"""The browser checker (tests/browser.py) on small real pages made of modules/html_report's
pieces: a good page passes, and each kind of breakage a reader would see (a missing image, a
missing or undecodable audio file, a JavaScript error) is caught. One Chromium serves the module.
"""

from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from modules.html_report.page import audio, document, figure, section, table
from tests.browser import WINDOW_HEIGHT, Browser, chromium_available

RED = (200, 30, 30)
IMAGE_SIZE = (320, 200)
# one second of tone in each format a page plays: libsndfile container, codec, sample rate
CLIP_FORMATS = {"wav": ("WAV", "PCM_16", 16000), "ogg": ("OGG", "VORBIS", 16000),
                "opus": ("OGG", "OPUS", 48000)}


@pytest.fixture(scope="module")
def browser():
    if not chromium_available():
        pytest.skip("headless Chromium missing: apt-get install chromium chromium-driver, "
                    "pip install selenium")
    with Browser() as opened:
        yield opened


def write_png(path: Path) -> Path:
    """A red plate with a white stripe: a real PNG whose colour is found in a screenshot."""
    pixels = np.zeros((IMAGE_SIZE[1], IMAGE_SIZE[0], 3), np.uint8) + np.array(RED, np.uint8)
    pixels[90:110] = 255
    Image.fromarray(pixels).save(path)
    return path


def tall_table(rows: int = 60) -> str:
    """Enough rows to push what follows below the first screen (where lazy images wait)."""
    return table(["clip", "score"], [(f"clip {i}", i / 7) for i in range(rows)])


def write_page(folder: Path, title: str, *parts: str) -> Path:
    page = folder / "report.html"
    page.write_text(document(title, parts), encoding="utf-8")
    return page


def job_folder(tmp_path: Path) -> dict[str, Path]:
    """A job-folder-like tree: a plot and clips in the formats the pages play."""
    (tmp_path / "plots").mkdir()
    (tmp_path / "clips").mkdir()
    files = {"png": write_png(tmp_path / "plots" / "confusion matrix.png")}
    for name, (kind, subtype, rate) in CLIP_FORMATS.items():
        path = tmp_path / "clips" / f"dog bark.{name}"
        tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)
        soundfile.write(path, tone.astype(np.float32), rate, format=kind, subtype=subtype)
        files[name] = path
    return files


def test_good_page_passes_and_is_screenshotted(browser, tmp_path):
    files = job_folder(tmp_path)
    page = write_page(
        tmp_path, "job 3: esc10",
        section("Scores", tall_table()),
        section("Plots", figure(files["png"], tmp_path, caption="confusion matrix")),
        section("Clips", *(audio(files[kind], tmp_path, label=kind) for kind in
                           ("wav", "ogg", "opus"))))
    check = browser.check_page(page, tmp_path / "shots" / "report.png")

    assert check.ok, check.problems()
    assert check.title == "job 3: esc10"
    assert check.console_errors == []
    # the checker looked at every element (a page with none would pass vacuously)
    assert check.images == ["plots/confusion%20matrix.png"]
    assert check.audio == [f"clips/dog%20bark.{kind}" for kind in ("wav", "ogg", "opus")]

    shot = Image.open(check.screenshot)
    height = browser.driver.execute_script("return document.documentElement.scrollHeight")
    assert shot.size == (1280, height)
    assert height > 2 * WINDOW_HEIGHT  # the whole page, not the window
    # the image (below the first screen, loaded lazily) was drawn: its red is in the screenshot
    colours = dict((colour, count) for count, colour in shot.convert("RGB").getcolors(1 << 20))
    assert colours.get(RED, 0) >= 0.8 * IMAGE_SIZE[0] * 180


def test_missing_image_is_caught(browser, tmp_path):
    files = job_folder(tmp_path)
    plot = figure(files["png"], tmp_path, caption="confusion matrix")
    files["png"].unlink()  # the page was written, then the file went away
    page = write_page(tmp_path, "missing image", tall_table(), plot)  # below the first screen
    check = browser.check_page(page, tmp_path / "shot.png")

    assert not check.ok
    assert check.broken_images == ["plots/confusion%20matrix.png"]
    assert check.silent_audio == []
    assert len(check.console_errors) == 1
    assert "confusion%20matrix.png" in check.console_errors[0]
    assert "ERR_FILE_NOT_FOUND" in check.console_errors[0]


def test_missing_audio_is_caught(browser, tmp_path):
    files = job_folder(tmp_path)
    players = [audio(files[kind], tmp_path, label=kind) for kind in ("wav", "ogg")]
    files["ogg"].unlink()
    check = browser.check_page(write_page(tmp_path, "missing audio", *players),
                               tmp_path / "shot.png")

    assert not check.ok
    assert check.silent_audio == ["clips/dog%20bark.ogg"]
    assert len(check.console_errors) == 1
    assert "dog%20bark.ogg" in check.console_errors[0]
    assert "ERR_FILE_NOT_FOUND" in check.console_errors[0]


def test_audio_that_does_not_decode_is_caught(browser, tmp_path):
    """A file that is there but is no audio: no network error, only its readyState tells."""
    broken = tmp_path / "clips" / "broken.ogg"
    broken.parent.mkdir()
    broken.write_text("not an ogg file\n" * 100)
    check = browser.check_page(write_page(tmp_path, "bad audio", audio(broken, tmp_path)),
                               tmp_path / "shot.png")

    assert not check.ok
    assert check.silent_audio == ["clips/broken.ogg"]


@pytest.mark.parametrize("script, message", [
    ('throw new Error("broken on purpose");', "Uncaught Error: broken on purpose"),
    ('console.error("logged on purpose");', "logged on purpose"),
    ("undefinedFunction();", "undefinedFunction is not defined"),
])
def test_javascript_error_is_caught(browser, tmp_path, script, message):
    page = write_page(tmp_path, "script error", "<p>text</p>", f"<script>{script}</script>")
    check = browser.check_page(page, tmp_path / "shot.png")

    assert not check.ok
    assert len(check.console_errors) == 1
    assert message in check.console_errors[0]
    assert check.broken_images == [] and check.silent_audio == []


def column(browser, index: int) -> list[str]:
    from selenium.webdriver.common.by import By

    return [row.find_elements(By.TAG_NAME, "td")[index].text
            for row in browser.driver.find_elements(By.CSS_SELECTOR, "table.sortable tbody tr")]


def test_click_on_a_header_sorts_numerically(browser, tmp_path):
    from selenium.webdriver.common.by import By

    # as text, "9" > "2.5" > "100" > "10": a text sort would give b, d, c, a
    rows = [("a", 10), ("b", 9), ("c", 100), ("d", 2.5)]
    page = write_page(tmp_path, "sortable", table(["clip", "score"], rows, sortable=True))
    check = browser.check_page(page, tmp_path / "shot.png")
    assert check.ok, check.problems()
    assert column(browser, 0) == ["a", "b", "c", "d"]

    header = browser.driver.find_elements(By.CSS_SELECTOR, "table.sortable th")[1]
    header.click()
    assert column(browser, 0) == ["c", "a", "b", "d"]  # largest first
    assert column(browser, 1) == ["100", "10", "9", "2.5000"]
    header.click()
    assert column(browser, 0) == ["d", "b", "a", "c"]  # a second click reverses
    assert browser.driver.get_log("browser") == []
