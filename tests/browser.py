"""Open spectrain's HTML pages in a real browser: headless Chromium driven by Selenium.

A page is opened from ``file://``, as a user opens a job folder's ``report.html``, and checked for
what a reader would see go wrong: console errors (an uncaught exception, a resource that failed
to load), images that did not load, audio players with nothing to play. A full-page screenshot
is saved for a person to look at.

Debian's ``chromium`` and ``chromium-driver`` packages provide the browser and its driver
(``.ci/run`` installs them); the driver is always given to Selenium explicitly, so Selenium
Manager never runs (it would try to download one). One :class:`Browser` serves many pages::

    with Browser() as browser:
        check = browser.check_page(page, tmp_path / "page.png")
        assert check.ok, check.problems()
"""

from __future__ import annotations

import base64
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

# The real binary first: Debian's /usr/bin/chromium is a shell wrapper that adds extension and
# GPU flags of its own.
BROWSERS = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")
DRIVERS = ("/usr/bin/chromedriver", "chromedriver")
WINDOW_HEIGHT = 900  # CSS pixels; screenshots take the whole page whatever its height
ARGUMENTS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--allow-file-access-from-files", "--hide-scrollbars", "--mute-audio",
             "--disable-extensions", "--no-first-run", "--disable-background-networking",
             f"--window-size=1280,{WINDOW_HEIGHT}")
PAGE_LOAD_TIMEOUT = 30  # seconds
HAVE_METADATA = 1
NETWORK_NO_SOURCE = 3  # HTMLMediaElement.networkState: no source it can play, it gave up

# The state of every image and audio element, after making lazy ones load now.
MEDIA_STATE = """
document.querySelectorAll("img").forEach(function (img) {
  if (img.loading === "lazy") { img.loading = "eager"; }
});
document.querySelectorAll("audio, video").forEach(function (media) {
  if (media.preload === "none") { media.preload = "metadata"; media.load(); }
});
function source(element) {  // as the page wrote it (relative), like an image's src
  var first = element.querySelector("source");
  return element.getAttribute("src") || (first ? first.getAttribute("src") : "") || "";
}
return {
  images: Array.prototype.map.call(document.images, function (img) {
    return {src: img.getAttribute("src") || "", complete: img.complete,
            width: img.naturalWidth};
  }),
  audio: Array.prototype.map.call(document.querySelectorAll("audio"), function (media) {
    return {src: source(media), ready: media.readyState, network: media.networkState,
            failed: media.error !== null};
  })
};
"""


def _find(candidates) -> str | None:
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_binary() -> str | None:
    return _find(BROWSERS)


def chromedriver_binary() -> str | None:
    return _find(DRIVERS)


def chromium_available() -> bool:
    """Chromium, its driver and Selenium are all here (skip browser tests otherwise)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return chromium_binary() is not None and chromedriver_binary() is not None


@dataclass
class PageCheck:
    """What a browser saw on one page."""

    title: str
    screenshot: Path
    console_errors: list[str] = field(default_factory=list)  # SEVERE entries of the console
    broken_images: list[str] = field(default_factory=list)  # src of each <img> not loaded
    silent_audio: list[str] = field(default_factory=list)  # src of each <audio> without data
    console: list[str] = field(default_factory=list)  # every console entry, "LEVEL message"
    images: list[str] = field(default_factory=list)  # src of every <img> checked
    audio: list[str] = field(default_factory=list)  # src of every <audio> checked

    @property
    def ok(self) -> bool:
        return not (self.console_errors or self.broken_images or self.silent_audio)

    def problems(self) -> str:
        return (f"console errors: {self.console_errors}; images not loaded: "
                f"{self.broken_images}; audio without data: {self.silent_audio}")


class Browser:
    """One headless Chromium (about a second to start); pages are checked one after another."""

    def __init__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        binary, driver = chromium_binary(), chromedriver_binary()
        if binary is None or driver is None:
            raise RuntimeError("Chromium or chromedriver is missing (apt-get install chromium "
                               "chromium-driver)")
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for argument in ARGUMENTS:
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # an explicit driver path: Selenium Manager (which downloads drivers) never runs
        self.driver = webdriver.Chrome(options=options, service=Service(driver))
        self.driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.driver.quit()

    def open(self, path: Path, width: int = 1280) -> None:
        """Load ``path`` from ``file://`` in a window ``width`` CSS pixels wide."""
        self.driver.get_log("browser")  # drop what the previous page left in the console
        self.driver.set_window_size(width, WINDOW_HEIGHT)
        self.driver.get(Path(path).resolve().as_uri())

    def check_page(self, path: Path, screenshot: Path, width: int = 1280,
                   timeout: float = 10.0) -> PageCheck:
        """Open ``path``, wait (at most ``timeout`` seconds) for every image and audio element
        to load or fail, and save a full-page PNG screenshot."""
        self.open(path, width)
        state = self.wait_for_media(timeout)
        self.full_page_screenshot(screenshot)
        console = self.driver.get_log("browser")
        return PageCheck(
            title=self.driver.title, screenshot=Path(screenshot),
            console_errors=[entry["message"] for entry in console if entry["level"] == "SEVERE"],
            broken_images=[image["src"] for image in state["images"]
                           if not (image["complete"] and image["width"] > 0)],
            silent_audio=[media["src"] for media in state["audio"]
                          if media["ready"] < HAVE_METADATA],
            console=[f"{entry['level']} {entry['message']}" for entry in console],
            images=[image["src"] for image in state["images"]],
            audio=[media["src"] for media in state["audio"]])

    def wait_for_media(self, timeout: float) -> dict:
        """Scroll every image into view (pages load them lazily) and poll until each image has
        finished and each audio element has its metadata or has given up, or ``timeout``."""
        self.driver.execute_script(
            "document.querySelectorAll('img').forEach(function (img) {"
            " img.scrollIntoView(); });  window.scrollTo(0, 0);")
        deadline = time.monotonic() + timeout
        while True:
            state = self.driver.execute_script(MEDIA_STATE)
            images_done = all(image["complete"] for image in state["images"])
            audio_done = all(media["ready"] >= HAVE_METADATA or media["failed"]
                             or media["network"] == NETWORK_NO_SOURCE
                             for media in state["audio"])
            if (images_done and audio_done) or time.monotonic() > deadline:
                return state
            time.sleep(0.05)

    def full_page_screenshot(self, path: Path) -> Path:
        """The whole document, not just the window, as PNG (Chromium's DevTools protocol)."""
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                       "clip": clip})
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(base64.b64decode(shot["data"]))
        return Path(path)
