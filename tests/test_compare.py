"""``spectrain compare``: the comparison page of real small ESC-10 jobs, read back with
``html.parser``.

One trainer, trained once for the module: two jobs that differ in ``lr`` and ``n_mels`` (and so
in the input ``shape``), a 2-fold cross-validated block, and a job whose model builder fails.
"""

import json
import shutil
import textwrap
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from modules.cli import main, run_trainer
from tests.small_trainers import HEAD, esc10_or_skip

TRAINER = HEAD + textwrap.dedent("""
    common(2)
    parameters.lr = 1e-3
    parameters.description = "baseline: lr 1e-3, 32 mels"
    launch_job({"Esc10": 1}, small_cnn, [], [], spec_parser)

    common(2)
    parameters.lr = 3e-3
    parameters.n_mels = 24
    parameters.description = "a higher learning rate and fewer mel bands, to compare"
    specaugment = [["specaugment", {"quantity": 0.5, "time_masks": 1, "freq_masks": 1}]]
    launch_job({"Esc10": 1}, small_cnn, specaugment, [], spec_parser)

    common(2)
    parameters.cross_validate = True
    parameters.split = "group"
    parameters.n_folds = 2
    launch_job({"Esc10": 1}, small_cnn, [], [], spec_parser)


    def broken_model(input_shape, n_classes):
        raise RuntimeError("this model cannot be built")


    common(2)
    launch_job({"Esc10": 1}, broken_model, [], [], spec_parser)
""")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The trainer's job folders: {"plain": [job 1, job 2], "folds": [...], "failed": job,
    "cv": cv folder, "cache": cache root}."""
    esc10_or_skip()
    folder = tmp_path_factory.mktemp("compare")
    trainer = folder / "train_cmp.py"
    trainer.write_text(TRAINER)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="cannot be built"):
        run_trainer(trainer, testing=True, cache_root=str(folder / "cache"), progress=False)
    print(f"4 blocks trained in {time.monotonic() - started:.0f} s")
    jobs = {"plain": [], "folds": [], "cache": folder / "cache"}
    for job in sorted((folder / "cache" / "esc10" / "train_cmp").glob("*_testing")):
        if not (job / "job.json").is_file():
            continue  # the cv1_testing summary folder
        info = json.loads((job / "job.json").read_text())
        if info["status"] == "failed":
            jobs["failed"] = job
        elif info.get("cross_validation"):
            jobs["folds"].append(job)
            jobs["cv"] = job.parent / info["cross_validation"]["run"]
        else:
            jobs["plain"].append(job)
    assert len(jobs["plain"]) == 2 and len(jobs["folds"]) == 2 and "failed" in jobs
    return jobs


class Page(HTMLParser):
    """What the tests read of a page: tables by section, image sources, links, summaries."""

    def __init__(self, path: Path):
        super().__init__()
        self.path, self.text = path, path.read_text()
        self.section, self.tables, self.images, self.links, self.summaries = None, [], [], [], []
        self._row = self._cell = self._summary = None
        self.feed(self.text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.section = attrs.get("id")
        elif tag == "table":
            self.tables.append({"section": self.section, "rows": []})
        elif tag == "tr":
            self._row = {"class": attrs.get("class", ""), "cells": []}
            self.tables[-1]["rows"].append(self._row)
        elif tag in ("td", "th"):
            self._cell = {"text": "", "sort": attrs.get("data-sort"), "links": [], "span": ""}
            self._row["cells"].append(self._cell)
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a":
            self.links.append(attrs["href"])
            if self._cell is not None:
                self._cell["links"].append(attrs["href"])
        elif tag == "span" and self._cell is not None:
            self._cell["span"] += attrs.get("class", "")
        elif tag == "summary":
            self._summary = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = None
        elif tag == "summary":
            self.summaries.append(self._summary)
            self._summary = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._summary is not None:
            self._summary += data

    def table(self, section: str, index: int = 0) -> tuple[list, list]:
        """(header texts, body rows) of the index-th table of a section."""
        rows = [table for table in self.tables if table["section"] == section][index]["rows"]
        return [cell["text"] for cell in rows[0]["cells"]], rows[1:]

    def jobs(self) -> dict:
        """The jobs table: job label -> {column: cell}."""
        header, rows = self.table("jobs")
        return {row["cells"][0]["text"]: dict(zip(header, row["cells"])) for row in rows}


def check_self_contained(page: Page, root: Path) -> None:
    """Every image and link resolves relative to the page; nothing absolute or online
    (``root``: the folder above every test folder, whose path must not be in the page)."""
    for reference in page.images + [link for link in page.links if not link.startswith("#")]:
        assert not reference.startswith(("/", "file:", "http:", "https:")), reference
        assert (page.path.parent / reference).exists(), reference
    for word in ("http://", "https://", "file://", str(root)):
        assert word not in page.text


def test_two_jobs(trained, tmp_path):
    first, second = trained["plain"]
    started = time.monotonic()
    assert main(["compare", str(first), str(second), "--output", str(tmp_path / "c.html")]) == 0
    print(f"page written in {time.monotonic() - started:.1f} s")
    page = Page(tmp_path / "c.html")
    rows = page.jobs()
    assert list(rows) == ["train_cmp/1_testing", "train_cmp/2_testing"]
    for job in (first, second):
        row = rows[f"train_cmp/{job.name}"]
        examples = json.loads((job / "metrics.json").read_text())["examples"]
        assert float(row["accuracy"]["sort"]) == examples["accuracy"]
        assert float(row["balanced"]["sort"]) == examples["balanced_accuracy"]
        info = json.loads((job / "job.json").read_text())
        assert row["best epoch"]["text"] == str(info["best_epoch"])
        assert "status-finished" in row["status"]["span"]
        (link,) = row["job"]["links"]  # the job's report.html, else its folder
        report = job / "report.html"
        assert (page.path.parent / link).resolve() == (report if report.is_file() else job)
    assert rows["train_cmp/2_testing"]["description"]["text"].startswith("a higher learning")

    params = [json.loads((job / "params.json").read_text()) for job in (first, second)]
    expected = {name for name in params[0] if params[0][name] != params[1].get(name)} - {
        "job_id", "description", "cache_root"}
    assert {"lr", "n_mels"} <= expected and "sr" not in expected
    expected.add("augmentation")  # job 2's SpecAugment (augmentation.json)
    header, changed = page.table("parameters", 0)
    assert header == ["parameter", "train_cmp/1_testing", "train_cmp/2_testing"]
    assert {row["cells"][0]["text"] for row in changed} == expected
    assert all(row["class"] == "changed" for row in changed)
    values = {row["cells"][0]["text"]: [c["text"] for c in row["cells"][1:]] for row in changed}
    assert values["lr"] == ["0.001", "0.003"] and values["n_mels"] == ["32", "24"]
    assert values["augmentation"][0] == "[]" and "specaugment" in values["augmentation"][1]
    _, equal = page.table("parameters", 1)
    equal_names = {row["cells"][0]["text"] for row in equal}
    assert "sr" in equal_names and "model" in equal_names and not equal_names & expected
    assert page.summaries == [f"{len(equal)} parameters equal in every job"]

    history = [f"c_files/history_{metric}.png" for metric in ("loss", "val_loss",
                                                             "val_accuracy")]
    for src in history:
        assert (tmp_path / src).stat().st_size > 10_000
    confusion = [src for src in page.images if src not in history]
    assert [(tmp_path / src).resolve() for src in confusion] == [
        job / "confusion_matrix.png" for job in (first, second)]
    assert len(page.images) == len(history) + len(confusion)
    check_self_contained(page, tmp_path.parent)


def test_whole_trainer(trained):
    cache = trained["cache"]
    main(["compare", "--trainer", "esc10/train_cmp", "--cache-root", str(cache)])
    main(["compare", "--trainer", "esc10/train_cmp", "--cache-root", str(cache)])
    pages = sorted((cache / "esc10").glob("compare-*.html"))
    assert len(pages) == 2  # the second run wrote a new page beside the first
    page = Page(pages[0])
    rows = page.jobs()
    every = trained["plain"] + trained["folds"] + [trained["failed"]]
    assert sorted(rows) == sorted(f"train_cmp/{job.name}" for job in every)
    failed = rows[f"train_cmp/{trained['failed'].name}"]
    assert "status-failed" in failed["status"]["span"] and failed["accuracy"]["text"] == "-"
    assert failed["status"]["links"] and failed["status"]["links"][0].endswith("error.txt")
    assert "RuntimeError: this model cannot be built" in failed["status"]["text"]
    for job in trained["folds"]:
        fold = json.loads((job / "job.json").read_text())["cross_validation"]["fold"]
        assert rows[f"train_cmp/{job.name}"]["cv"]["text"] == f"cv1_testing fold {fold}"

    summary = json.loads((trained["cv"] / "summary.json").read_text())
    header, folds = page.table("cross-validation")
    assert header == ["fold", "job", "accuracy", "balanced_accuracy", "macro_f1"]
    for row, recorded in zip(folds, summary["folds"]):
        assert [c["text"] for c in row["cells"][:2]] == [str(recorded["fold"]), recorded["job"]]
        assert float(row["cells"][2]["sort"]) == recorded["best_accuracy"]
    mean = [c["text"] for c in folds[-1]["cells"]]
    assert mean[0] == "mean \u00b1 std" and len(folds) == len(summary["folds"]) + 1
    assert mean[2] == (f"{summary['mean']['best_accuracy']:.4f} \u00b1 "
                       f"{summary['std']['best_accuracy']:.4f}")
    _, changed = page.table("parameters", 0)
    values = {row["cells"][0]["text"]: [c["text"] for c in row["cells"][1:]] for row in changed}
    assert {"lr", "n_mels", "validation_fold", "cross_validate", "augmentation"} <= set(values)
    assert values["model"] == ["__main__:small_cnn"] * 4 + ["__main__:broken_model"]
    assert f"train_cmp/{trained['failed'].name}: confusion_matrix.png: missing" in page.text
    assert sum(src.endswith("/confusion_matrix.png") for src in page.images) == len(every) - 1
    check_self_contained(page, cache.parents[1])


def test_job_without_history(trained, tmp_path):
    """A copy of job 1 (in another cache) without history.csv and metrics.json still gets a
    row, told apart from job 1 itself, and the page is written."""
    first, second = trained["plain"]
    copy = tmp_path / "cache" / "esc10" / "train_cmp" / first.name
    shutil.copytree(first, copy)
    (copy / "history.csv").unlink()
    (copy / "metrics.json").unlink()
    (copy / "report.html").unlink(missing_ok=True)  # then the row links to the folder
    output = tmp_path / "page.html"
    main(["compare", str(copy), str(first), str(second), "--output", str(output)])
    page = Page(output)
    rows = page.jobs()
    assert list(rows) == ["train_cmp/1_testing (#1)", "train_cmp/1_testing (#2)",
                          "train_cmp/2_testing"]
    damaged = rows["train_cmp/1_testing (#1)"]
    (link,) = damaged["job"]["links"]
    assert link.endswith("/") and (output.parent / link).resolve() == copy
    assert damaged["accuracy"]["text"] == "-" and damaged["best epoch"]["text"] == "2"
    assert "no metrics.json" in damaged["status"]["text"]
    assert "no history.csv" in damaged["status"]["text"]
    assert float(rows["train_cmp/1_testing (#2)"]["accuracy"]["sort"]) >= 0
    assert "history of train_cmp/1_testing (#1): missing" in page.text
    assert (tmp_path / "page_files" / "history_val_loss.png").is_file()
    check_self_contained(page, tmp_path.parent)


def test_bad_input(trained, tmp_path):
    first = trained["plain"][0]
    with pytest.raises(SystemExit, match="needs at least two job folders"):
        main(["compare", str(first)])
    with pytest.raises(SystemExit, match="needs at least two job folders"):
        main(["compare", str(first), str(first)])
    with pytest.raises(SystemExit, match=r"not-a-job is not a job folder \(no such folder\)"):
        main(["compare", str(first), str(tmp_path / "not-a-job")])
    with pytest.raises(SystemExit, match=r"is not a job folder \(no job.json\)"):
        main(["compare", str(first), str(first.parent)])
    existing = tmp_path / "taken.html"
    existing.write_text("mine")
    with pytest.raises(SystemExit, match="exists; choose another --output") as error:
        main(["compare", str(first), str(trained["plain"][1]), "--output", str(existing)])
    assert existing.read_text() == "mine" and not (tmp_path / "taken_files").exists()
    assert "\n" not in str(error.value)
    with pytest.raises(SystemExit, match="MODE/TRAINER"):
        main(["compare", "--trainer", "train_cmp", "--cache-root", str(trained["cache"])])
    with pytest.raises(SystemExit, match="no job folders of esc10/nothing"):
        main(["compare", "--trainer", "esc10/nothing", "--cache-root", str(trained["cache"])])


def test_in_a_browser(trained, tmp_path):
    """The whole trainer's page in headless Chromium from file://: no console error, every
    image loads, and a click on a header sorts the jobs table by that column."""
    from tests.browser import Browser, chromium_available

    if not chromium_available():
        pytest.skip("headless Chromium missing: apt-get install chromium chromium-driver, "
                    "pip install selenium")
    from selenium.webdriver.common.by import By

    output = tmp_path / "page.html"
    main(["compare", "--trainer", "esc10/train_cmp", "--cache-root", str(trained["cache"]),
          "--output", str(output)])
    with Browser() as browser:
        check = browser.check_page(output, tmp_path / "page.png")
        assert check.ok, check.problems()
        assert len(check.images) == len(Page(output).images) >= 3 + 4 + 2
        header = browser.driver.find_element(By.CSS_SELECTOR, "#jobs th")
        for descending in (True, False):  # the first click sorts down, the second up
            header.click()
            links = browser.driver.find_elements(By.CSS_SELECTOR, "#jobs tbody td:first-child a")
            labels = [link.text for link in links]
            assert labels == sorted(labels, reverse=descending) and len(labels) == 5
