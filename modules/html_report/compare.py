"""``spectrain compare``: one HTML page that compares job folders.

The page has the jobs (status, the task's headline numbers, best epoch, duration, description;
each linked to its ``report.html`` or its folder), only the parameters that differ between them
(the equal ones counted in a collapsed list), their histories overlaid (one PNG per metric in
``<page stem>_files/``), their confusion matrices side by side, and, for cross-validated runs,
the per-fold numbers with their mean +/- std from the run's ``summary.json``. Everything is
linked relatively, so the page opens offline from ``file://``. A job folder that misses files
(``history.csv``, ``metrics.json``, ``params.json``) is shown with what it has.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from modules.errors import UserError
from modules.html_report import page
from modules.job_folder import Job, JobFolderError, test_listed
from modules.jobs import CV_DIR, list_jobs, publish_new_file, read_history, stamped_path
from modules.plot_text import save_figure

# Parameters that name the job or where it lies rather than what it learnt: never compared
# (the description is a column of the jobs table).
NOT_COMPARED = ("job_id", "description", "cache_root")
NOT_RECORDED = "(not recorded)"
LEGEND_DESCRIPTION = 32  # characters of a description in a figure legend


class CompareError(UserError, ValueError):
    """Bad input to ``spectrain compare`` (too few jobs, an existing output...)."""


@dataclass
class Compared:
    """One job of the page, with what its folder holds (``notes``: what it lacks)."""

    job: Job
    label: str
    params: dict
    metrics: dict
    history: pd.DataFrame | None
    notes: list = field(default_factory=list)

    @property
    def description(self) -> str:
        return str(self.params.get("description", ""))

    @property
    def fold(self) -> dict:
        return self.job.info.get("cross_validation") or {}


def _read_json(path: Path, notes: list) -> dict:
    """A JSON file of the job folder; {} (and a note) when it is missing or unreadable."""
    if not path.is_file():
        notes.append(f"no {path.name}")
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # a damaged file is shown as missing, not a failed page
        notes.append(f"{path.name} unreadable")
        return {}


def _read_history(path: Path, notes: list) -> pd.DataFrame | None:
    if not path.is_file():
        notes.append("no history.csv")
        return None
    try:
        history = read_history(path)
    except (OSError, ValueError):  # empty or cut short by a kill
        notes.append("history.csv unreadable")
        return None
    return history if len(history) else None


def open_jobs(job_dirs) -> list[Compared]:
    """The job folders, each once, in the order given; a path that is not a job folder is a
    :class:`~modules.job_folder.JobFolderError`."""
    jobs, seen = [], set()
    for path in map(Path, job_dirs):
        if not (path / "job.json").is_file():
            reason = "no such folder" if not path.is_dir() else "no job.json"
            raise JobFolderError(f"{path} is not a job folder ({reason})")
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        job = Job(path.resolve(), required=())
        notes: list = []
        params = _read_json(job.path / "params.json", notes)
        metrics = _read_json(job.path / "metrics.json", notes)
        history = _read_history(job.path / "history.csv", notes)
        label = f"{job.path.parent.name}/{job.path.name}"
        jobs.append(Compared(job, label, params, metrics, history, notes))
    labels = [c.label for c in jobs]
    for number, c in enumerate(jobs, 1):  # the same trainer/job from two cache roots
        if labels.count(c.label) > 1:
            c.label = f"{c.label} (#{number})"
    return jobs


def headline(c: Compared) -> dict:
    """The task's listed numbers (label -> value), as ``spectrain jobs`` shows them."""
    if not c.metrics or not (c.job.path / "params.json").is_file():
        return {}
    try:
        task = c.job.task
        summary = task.summary(c.metrics)
    except (KeyError, ValueError) as error:  # an old or foreign metrics.json: no numbers
        c.notes.append(f"metrics.json not read ({type(error).__name__}: {error})")
        return {}
    test = task.test_summary(c.metrics)
    return {**{label: summary[name] for name, label in task.listed.items() if name in summary},
            **{f"test {label}": test[name] for name, label in test_listed(task) if name in test}}


# ------------------------------------------------------------------------------- job table
def _duration(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def _job_link(c: Compared, page_dir: Path) -> str:
    report = c.job.path / "report.html"
    href = (page.relative(report, page_dir) if report.is_file()
            else page.relative(c.job.path, page_dir) + "/")
    return (f'<td data-sort="{page.escape(c.label)}"><a href="{href}">'
            f"{page.escape(c.label)}</a></td>")


def _status_cell(c: Compared, page_dir: Path) -> str:
    status = c.job.status
    text = (f'<span class="status status-{page.escape(status)}">{page.escape(status)}</span>')
    error = c.job.path / "error.txt"
    if error.is_file():  # why it failed, one click away
        text += f' <a href="{page.relative(error, page_dir)}">error.txt</a>'
    error_text = str(c.job.info.get("error", ""))
    notes = c.notes + ([error_text[:160]] if error_text else [])
    if notes:
        text += f'<br><span class="muted">{page.escape("; ".join(notes))}</span>'
    return f'<td data-sort="{page.escape(status)}">{text}</td>'


def jobs_section(jobs: list[Compared], page_dir: Path) -> str:
    """A sortable table, one row per job; unfinished jobs are in it, their status in red."""
    numbers = [headline(c) for c in jobs]
    labels = list(dict.fromkeys(label for row in numbers for label in row))
    folds = any(c.fold for c in jobs)
    header = ["job", *(["cv"] if folds else []), "status", *labels, "best epoch", "epochs",
              "duration", "description"]
    lines = ['<table class="sortable"><thead><tr>'
             + "".join(f"<th>{page.escape(name)}</th>" for name in header) + "</tr></thead>",
             "<tbody>"]
    for c, row in zip(jobs, numbers):
        info = c.job.info
        cells = [_job_link(c, page_dir)]
        if folds:
            cells.append(page.cell(f"{c.fold['run']} fold {c.fold['fold']}" if c.fold else ""))
        cells.append(_status_cell(c, page_dir))
        cells += [page.cell(row.get(label)) for label in labels]
        cells += [page.cell(info.get("best_epoch")), page.cell(info.get("epochs_run"))]
        seconds = info.get("duration_s")
        sort = f' data-sort="{seconds}"' if isinstance(seconds, (int, float)) else ""
        cells.append(f'<td class="number"{sort}>{page.escape(_duration(seconds))}</td>')
        cells.append(page.cell(c.description))
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</tbody></table>")
    return page.section("Jobs", "\n".join(lines), anchor="jobs")


# ------------------------------------------------------------------------------ parameters
def _text(value) -> str:
    """A parameter's value as the table shows it (and compares it): JSON, strings bare."""
    if value is NOT_RECORDED or isinstance(value, str):
        return str(value)
    return json.dumps(value, sort_keys=True)


def _settings(c: Compared) -> dict:
    """What is compared: the model, parse function, datasets and augmentation (job.json,
    augmentation.json), then every parameter of params.json."""
    info = c.job.info
    augmentation_file = c.job.path / "augmentation.json"
    augmentation = (_read_json(augmentation_file, []) if augmentation_file.is_file()
                    else info.get("augmentation", NOT_RECORDED))
    settings = {"model": info.get("model", NOT_RECORDED),
                "parse function": info.get("parse_function", NOT_RECORDED),
                "datasets": info.get("datasets", NOT_RECORDED),
                "augmentation": augmentation}
    settings.update({name: value for name, value in sorted(c.params.items())
                     if name not in NOT_COMPARED})
    return settings


def compare_settings(jobs: list[Compared]) -> tuple[list, list]:
    """(differing, equal): [(name, [each job's value as text])] and [(name, value text)]."""
    settings = [_settings(c) for c in jobs]
    names = list(dict.fromkeys(name for s in settings for name in s))
    differing, equal = [], []
    for name in names:
        values = [_text(s.get(name, NOT_RECORDED)) for s in settings]
        if len(set(values)) > 1:
            differing.append((name, values))
        else:
            equal.append((name, values[0]))
    return differing, equal


def parameters_section(jobs: list[Compared]) -> str:
    differing, equal = compare_settings(jobs)
    if differing:
        changed = page.table(["parameter", *(c.label for c in jobs)],
                             [[name, *values] for name, values in differing],
                             row_classes=["changed"] * len(differing))
    else:
        changed = '<p class="muted">No parameter differs between these jobs.</p>'
    same = page.table(["parameter", "value"], equal)
    details = (f"<details><summary>{len(equal)} parameters equal in every job</summary>\n"
               f"{same}\n</details>")
    intro = (f'<p class="muted">{len(differing)} differ (highlighted); job id, cache root and '
             "description are not compared.</p>")
    return page.section("Parameters that differ", intro, changed, details, anchor="parameters")


# -------------------------------------------------------------------------------- figures
def history_metrics(jobs: list[Compared]) -> list[str]:
    """loss, val_loss, each job's target metric, and val_accuracy where it was logged (the
    number most read when the target is a loss); only those some history has."""
    wanted = ["loss", "val_loss"]
    wanted += [str(c.params["target_metric"]) for c in jobs if c.params.get("target_metric")]
    wanted.append("val_accuracy")
    logged = {column for c in jobs if c.history is not None for column in c.history}
    return [name for name in dict.fromkeys(wanted) if name in logged]


def _legend(c: Compared) -> str:
    """The job, its cv fold and its description, shortened: the legend stays readable."""
    text = c.description
    if len(text) > LEGEND_DESCRIPTION:
        text = text[:LEGEND_DESCRIPTION - 3].rstrip() + "..."
    fold = f" ({c.fold['run']} fold {c.fold['fold']})" if c.fold else ""
    return f"{c.label}{fold}: {text}" if text else c.label + fold


def plot_metric(jobs: list[Compared], metric: str, path: Path) -> None:
    """One figure: ``metric`` per epoch (1-based), one line per job, its best epoch starred."""
    import matplotlib

    matplotlib.use("Agg")  # files only, as modules.reports
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.subplots()
    for index, c in enumerate(jobs):
        if c.history is None or metric not in c.history:
            continue
        history = c.history
        epochs = history["epoch"]  # read_history: counted from 1
        style = ("-", "--", ":", "-.")[index // 10 % 4]  # the 10 colours repeat: lines differ
        (line,) = ax.plot(epochs, history[metric], marker="o", markersize=3, linestyle=style,
                          color=f"C{index % 10}", label=_legend(c))
        best = c.job.info.get("best_epoch")
        at = history[metric][epochs == best] if isinstance(best, int) else []
        if len(at):  # where the kept model came from
            ax.plot([best], [at.iloc[0]], marker="*", markersize=11, color=line.get_color())
    better = "lower" if "loss" in metric else "higher"
    ax.set_title(f"{metric} ({better} is better; * the best epoch)")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=8)
    save_figure(fig, path, dpi=110)


def history_section(jobs: list[Compared], files_dir: Path, page_dir: Path) -> str:
    parts = []
    for metric in history_metrics(jobs):
        path = files_dir / f"history_{re.sub(r'[^A-Za-z0-9_]+', '_', metric)}.png"
        plot_metric(jobs, metric, path)
        parts.append(page.figure(path, page_dir, caption=f"{metric}, one line per job"))
    without = [c.label for c in jobs if c.history is None]
    if without:
        parts.append(page.missing(f"history of {', '.join(without)}"))
    if not parts:
        parts.append(page.missing("history.csv of every job"))
    return page.section("History", *parts, anchor="history")


def confusion_section(jobs: list[Compared], page_dir: Path) -> str:
    items = []
    for c in jobs:
        image = c.job.path / "confusion_matrix.png"
        items.append(page.figure(image, page_dir, caption=c.label, width=300, link=image)
                     if image.is_file() else page.missing(f"{c.label}: confusion_matrix.png"))
    return page.section("Confusion matrices", '<div class="gallery">' + "\n".join(items)
                        + "</div>", anchor="confusion")


# ------------------------------------------------------------------------ cross-validation
def cv_folders(jobs: list[Compared]) -> list[Path]:
    """The summary folders of the cv runs whose fold jobs are on the page."""
    found = {c.job.path.parent / c.fold["run"] for c in jobs if c.fold.get("run")}
    return sorted(found, key=lambda folder: (folder.parent.as_posix(), folder.name))


def _mean_std(summary: dict, key: str) -> str:
    if key not in summary.get("mean", {}):
        return "-"
    return f"{summary['mean'][key]:.4f} \u00b1 {summary['std'].get(key, 0.0):.4f}"


def cv_run(folder: Path, page_dir: Path) -> str:
    """One cv run: each fold's headline numbers and their mean +/- std (summary.json)."""
    title = f"<h3>{page.escape(folder.parent.name + '/' + folder.name)}</h3>"
    summary = _read_json(folder / "summary.json", []) if folder.is_dir() else {}
    record = _read_json(folder / "cv.json", []) if folder.is_dir() else {}
    if not summary:
        return title + page.missing(f"{folder.name}/summary.json (the run has no finished "
                                    "fold, or it is still running)")
    rows = summary.get("folds", [])
    keys = list(dict.fromkeys(k for row in rows for k in row if k not in ("fold", "job")))
    names = [key.removeprefix("best_") for key in keys]
    table = page.table(["fold", "job", *names],
                       [[row.get("fold"), row.get("job"), *(row.get(k) for k in keys)]
                        for row in rows]
                       + [["mean \u00b1 std", f"{len(rows)} folds",
                           *(_mean_std(summary, k) for k in keys)]])
    missing = summary.get("missing") or []
    facts = (f'<p class="muted">split: {page.escape(record.get("split", "?"))}; folds missing: '
             f'{page.escape(", ".join(map(str, missing)) or "none")}</p>')
    figures = "".join(page.figure(folder / name, page_dir, caption=f"{folder.name}: {name}",
                                  width=360, link=folder / name)
                      for name in ("summary.png", "summary_confusion.png")
                      if (folder / name).is_file())
    return title + facts + table + f'<div class="gallery">{figures}</div>'


def cv_section(jobs: list[Compared], page_dir: Path) -> str:
    folders = cv_folders(jobs)
    if not folders:
        return ""
    return page.section("Cross-validation", *(cv_run(folder, page_dir) for folder in folders),
                        anchor="cross-validation")


# ----------------------------------------------------------------------------------- page
def _heading(jobs: list[Compared]) -> str:
    trainers = list(dict.fromkeys(f"{c.job.path.parents[1].name}/{c.job.path.parent.name}"
                                  for c in jobs))
    unfinished = sum(c.job.status != "finished" for c in jobs)
    written = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    links = " | ".join(f'<a href="#{anchor}">{name}</a>' for anchor, name in (
        ("jobs", "jobs"), ("parameters", "parameters"), ("history", "history"),
        ("confusion", "confusion matrices"), ("cross-validation", "cross-validation")))
    return (f"<h1>Comparing {len(jobs)} jobs</h1>\n<p class=\"muted\">"
            f"{page.escape(', '.join(trainers))}; {unfinished} did not finish; written "
            f"{written} by spectrain compare</p>\n<p>{links}</p>")


def write_comparison(job_dirs, output: Path) -> Path:
    """Write the comparison page of ``job_dirs`` to ``output`` (figures in ``<output
    stem>_files/``); returns ``output``. An existing page or figure folder is never replaced."""
    import shutil

    output = Path(output).resolve()
    files_dir = output.with_name(f"{output.stem}_files")
    for path in (output, files_dir):
        if path.exists():
            raise CompareError(f"{path} exists; choose another --output (pages are never "
                               "overwritten)")
    jobs = open_jobs(expand_job_dirs(job_dirs))  # a cv<N> folder stands for its fold jobs
    if not jobs:
        raise CompareError("no job folders to compare")
    output.parent.mkdir(parents=True, exist_ok=True)
    files_dir.mkdir()
    try:
        body = [_heading(jobs), jobs_section(jobs, output.parent), parameters_section(jobs),
                history_section(jobs, files_dir, output.parent),
                confusion_section(jobs, output.parent), cv_section(jobs, output.parent)]
        text = page.document(f"spectrain compare: {len(jobs)} jobs", body)
        publish_new_file(lambda temporary: temporary.write_text(text), output)
    except BaseException:
        shutil.rmtree(files_dir, ignore_errors=True)  # ours, made above: no half page left
        raise
    if not any(files_dir.iterdir()):
        files_dir.rmdir()
    return output


# ------------------------------------------------------------------------- what to compare
def trainer_job_dirs(cache_root: Path, selector: str) -> list[Path]:
    """Every job folder of ``MODE/TRAINER`` under ``cache_root`` (with its cv fold jobs), in
    id order; folders without job.json (a job killed at its first step) are left out."""
    mode, _, trainer = selector.strip("/").partition("/")
    if not mode or not trainer or "/" in trainer:
        raise CompareError(f"--trainer wants MODE/TRAINER (e.g. esc10/train6), not {selector!r}")
    folder = Path(cache_root) / mode / trainer
    jobs = [ref.path for ref in list_jobs(cache_root, mode, trainer)
            if (ref.path / "job.json").is_file()]
    if not jobs:
        raise CompareError(f"no job folders of {mode}/{trainer} in {folder}")
    return jobs


def default_output(job_dirs) -> Path:
    """A new stamped ``compare-<time>.html`` in the jobs' mode folder (``<cache_root>/<mode>``)
    when they share one, else in their common cache root, else in the current folder."""
    paths = [Path(p).resolve() for p in job_dirs]
    for level in (1, 2):  # the mode folder, then the cache root
        places = {p.parents[level] if len(p.parents) > level else None for p in paths}
        if len(places) == 1 and None not in places:
            return stamped_path(places.pop(), "compare-", ".html")
    return stamped_path(Path.cwd(), "compare-", ".html")


def expand_job_dirs(paths) -> list[Path]:
    """``paths`` with each cross-validation summary folder (``cv<N>``, with its cv.json)
    replaced by its fold jobs, every job of each fold in id order."""
    from modules.cross_validation import fold_jobs

    expanded = []
    for path in map(Path, paths):
        if CV_DIR.match(path.name) and (path / "cv.json").is_file():
            trainer = path.resolve().parent
            folds = fold_jobs(trainer.parents[1], trainer.parent.name, trainer.name, path.name)
            expanded += [job for _, entries in sorted(folds.items()) for job, _ in entries]
        else:
            expanded.append(path)
    return expanded
