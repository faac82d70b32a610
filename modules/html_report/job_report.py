"""``report.html`` in a job folder: one self-contained page (inline CSS and script, relative
links, opens from ``file://``) with everything the folder holds, built from the
:class:`~modules.job_folder.Job` view. What exists is shown; what is missing is named, never a
broken element; a failed or interrupted job's page says so first, then shows what it left.

The page writes only ``report.html`` (atomically) and its own ``report_files/`` (thumbnails,
the examples' windows as Ogg Vorbis). ``spectrain report JOB_DIR`` rebuilds it, e.g. after
``spectrain explain``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from modules.html_report.example_audio import ExampleIndex
from modules.html_report.galleries import (WindowPlayers, gradcam_gallery, outcome_galleries,
                                           sed_gallery)
from modules.html_report.interpret_section import interpret_section
from modules.html_report.metrics_sections import headline, results_section
from modules.html_report.page import document, escape, figure, missing, section
from modules.html_report.parameter_groups import (changed_parameters, parameters_section,
                                                  recorded_parameters)
from modules.html_report.records import (files_section, history_table, replays_section,
                                         skipped_section)
from modules.html_report.report_files import ReportFiles
from modules.job_folder import Job
from modules.jobs import job_block_of

PAGE = "report.html"
UNFINISHED = {"failed": "This job failed", "interrupted": "This job was interrupted",
              "died": "This job's process died", "running": "This job is still running"}
EXTRA_STYLE = """
.failure { border: 2px solid var(--bad); background: #fdf0ef; border-radius: .4rem;
           padding: .6rem 1rem; margin: 1rem 0; }
.failure pre { background: #fff; } nav a { margin-right: .8rem; }
.card { width: 360px; } .facts th { width: 11rem; }
"""
SHOWN_PLOTS = ("history.png", "confusion_matrix.png", "patient_confusion_matrix.png",
               "test_confusion_matrix.png")  # the last one in Results, with the test part


def write_job_report(job_dir) -> Path:
    """Write ``<job_dir>/report.html`` (and ``report_files/``); returns the page's path.
    Raises :class:`~modules.job_folder.JobFolderError` for a folder without ``job.json``."""
    job = Job(job_dir, required=())
    files = ReportFiles(job.path)
    html = document(page_title(job), job_page(job, files))
    html = html.replace("</head>", f"<style>{EXTRA_STYLE}</style>\n</head>", 1)
    path = job.path / PAGE
    temporary = path.with_name(f".{PAGE}.{os.getpid()}.tmp")
    temporary.write_bytes(html.encode("utf-8"))
    os.replace(temporary, path)  # a reader sees the old page or the new one, never half
    files.prune()
    return path


def report_size(job_dir) -> int:
    """Bytes of ``report.html`` and ``report_files/`` together."""
    page = Path(job_dir) / PAGE
    return (page.stat().st_size if page.is_file() else 0) + ReportFiles(job_dir).size()


def page_title(job: Job) -> str:
    return f"{job.info.get('trainer', '?')} job {job.info.get('job_id', job.path.name)}"


def job_page(job: Job, files: ReportFiles) -> list[str]:
    """The page's body: header, then one section per part of the job folder."""
    params = job.params if (job.path / "params.json").is_file() else None
    task = readable(lambda: job.task) if params is not None else None
    index = readable(lambda: ExampleIndex.of_job(job.path)) or ExampleIndex(None)
    players = WindowPlayers(files, params)
    body = [header(job)]
    parts: list[tuple[str, Callable[[], str]]] = [
        ("Training", lambda: training_section(job.path, job.recorded_metrics())),
        ("Results", lambda: results_section(job.recorded_metrics(), job.class_names, job.path)),
    ]
    finished = job.status == "finished"
    evaluated = finished or (job.path / "metrics.json").is_file()
    if task is not None and task.detects and evaluated:
        parts.append(("Activity examples", lambda: sed_gallery(files, players)))
    elif task is not None and not task.multi_label and evaluated:  # tagging: no tp/fp/fn
        per_class = params.n_example_plots
        parts.append(("Examples", lambda: outcome_galleries(files, index, players,
                                                            job.class_names, per_class)))
        if not job.feature_vectors:  # feature vectors: no map to draw, nothing to explain
            parts += [("Grad-CAM", lambda: gradcam_gallery(files, index, players)),
                      ("Explanations", lambda: interpret_section(files, index, players))]
    parts += [("Replays", lambda: replays_section(job.path, finished)),
              ("Skipped files", lambda: skipped_section(job.path)),
              ("Parameters", lambda: parameters_section(job.path)),
              ("Files", lambda: files_section(job.path, finished))]
    body.append("<nav>" + "".join(f'<a href="#{_anchor(title)}">{escape(title)}</a>'
                                  for title, _ in parts) + "</nav>")
    body += [guarded(title, build) for title, build in parts]
    return body


def readable(read: Callable):
    """``read()``, or None when what it reads is damaged (a truncated predictions.csv, a task
    this version no longer has): the sections that need it then say what is missing."""
    try:
        return read()
    except Exception:  # noqa: BLE001 - any reader's error; the page is built without it
        return None


def _anchor(title: str) -> str:
    return {"Training": "training", "Results": "results", "Activity examples": "sed-examples",
            "Examples": "examples", "Grad-CAM": "gradcam", "Explanations": "interpret",
            "Replays": "replays", "Skipped files": "skipped", "Parameters": "parameters",
            "Files": "files"}[title]


def guarded(title: str, build: Callable[[], str]) -> str:
    """A section, or a note saying why it could not be shown: one damaged file (a truncated
    metrics.json...) costs its section, not the page."""
    try:
        return build()
    except Exception as error:  # noqa: BLE001 - any reader's error, shown in place
        return section(title, f'<p class="missing">could not be shown: '
                       f"{escape(type(error).__name__)}: {escape(error)}</p>",
                       anchor=_anchor(title))


def header(job: Job) -> str:
    """Title with the status, description, the failure box, headline numbers and facts."""
    info, status = job.info, job.status
    recorded = recorded_parameters(job.path) or {}
    title = (f'<h1>{escape(page_title(job))} <span class="status status-{escape(status)}" '
             f'data-status="{escape(status)}">{escape(status)}</span></h1>')
    where = f"{info.get('mode', '?')}/{info.get('trainer', '?')}/{job.path.name}"
    parts = [title, f'<p class="muted">{escape(where)}</p>']
    if recorded.get("description"):
        parts.append(f'<p class="description">{escape(recorded["description"])}</p>')
    if status in UNFINISHED:
        parts.append(unfinished_box(job, status))
    try:
        parts.append(headline_numbers(job))
    except Exception as error:  # noqa: BLE001 - e.g. a truncated metrics.json: say so here
        parts.append(f'<p class="missing">headline numbers could not be read: '
                     f"{escape(type(error).__name__)}: {escape(error)}</p>")
    parts.append(facts_table(job))
    parts.append(set_in_trainer(recorded))
    return "\n".join(part for part in parts if part)


def set_in_trainer(recorded: dict) -> str:
    """One line of the parameters that differ from the default, those the job derives itself
    (its folder, id, input shape, class count) and the description (shown above) left out."""
    derived = ("cache_root", "job_id", "shape", "n_classes", "description")
    changed = [name for name in changed_parameters(recorded) if name not in derived]
    if not changed:
        return ""
    return ("<p>Set in the trainer: " + ", ".join(
        f"<code>{escape(name)} = {escape(recorded[name])}</code>" for name in changed)
        + ' (<a href="#parameters">all parameters</a>)</p>')


def unfinished_box(job: Job, status: str) -> str:
    """What stopped the job, its error and traceback link, and how to go on."""
    error = job.info.get("error")
    lines = [f"<b>{escape(UNFINISHED[status])}.</b>"]
    if error:
        lines.append(f"<pre>{escape(error)}</pre>")
    if (job.path / "error.txt").is_file():
        lines.append('<p>The traceback is in <a href="error.txt">error.txt</a>.</p>')
    elif status in ("failed", "interrupted"):
        lines.append(missing("error.txt"))
    if status in ("died", "interrupted", "failed"):
        testing = " --testing" if job.path.name.endswith("_testing") else ""
        lines.append(f"<p>Go on from its last completed epoch with <code>bash launch.sh "
                     f"{escape(job.info.get('mode', '?'))}/{escape(job.info.get('trainer', '?'))}"
                     f" --resume{testing}</code>. Everything it wrote is shown below.</p>")
    return f'<div class="failure" data-unfinished="{escape(status)}">{"".join(lines)}</div>'


def headline_numbers(job: Job) -> str:
    metrics = job.recorded_metrics()
    if not metrics and job.status != "finished":
        return ""  # the box above says why; Results names metrics.json as missing
    if not metrics or not (job.path / "params.json").is_file():
        return missing("headline numbers (metrics.json)")
    task = job.task
    return headline({**task.summary(metrics), **task.test_summary(metrics)}, task.listed,
                    job.info.get("best_epoch"))


def facts_table(job: Job) -> str:
    info = job.info
    number = job_block_of(info)
    block = f" (job block {number})" if number else ""
    datasets = ", ".join(name for name, flag in info.get("datasets", {}).items() if flag)
    model = info.get("model_name") or info.get("model")
    if info.get("model_parameters") is not None:
        model = f"{model} ({info['model_parameters']:,} parameters; {info.get('model', '')})"
    epochs = (f"best {info['best_epoch']} of {info.get('epochs_run', '?')} run"
              if info.get("best_epoch") is not None else None)
    cv = info.get("cross_validation")
    facts = [("trainer", f"{info.get('trainer_file', '?')}{block}"), ("datasets", datasets),
             ("task", info.get("task")), ("classes", ", ".join(job.class_names)),
             ("model", model), ("input", info.get("parse_function")),
             ("started", info.get("started")), ("finished", info.get("finished")),
             ("duration", _duration(info.get("duration_s"))), ("epochs", epochs),
             ("devices", ", ".join(info.get("devices", [])) or None),
             ("host", info.get("host")),
             ("test part", f"{info['test_files']} files, held out: evaluated once with the best "
                           "model, after training" if info.get("test_files") else None),
             ("split note", info.get("split_note")),
             ("cross-validation", f"{cv['run']} fold {cv['fold']}" if cv else None),
             ("resumed", "; ".join(f"after {r.get('after')} at epoch {r.get('from_epoch')}"
                                   for r in info.get("resumed", [])) or None)]
    rows = "".join(f"<tr><th>{escape(name)}</th><td>{escape(value)}</td></tr>"
                   for name, value in facts if value not in (None, ""))
    return f'<table class="facts"><tbody>{rows}</tbody></table>'


def _duration(seconds) -> str | None:
    if seconds is None:
        return None
    minutes, rest = divmod(float(seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return (f"{hours} h {minutes} min" if hours else
            f"{minutes} min {rest:.0f} s" if minutes else f"{rest:.1f} s")


def training_section(job_dir: Path, metrics: dict) -> str:
    """History curves, the confusion matrix and any other plot the job drew."""
    parts = [figure(job_dir / "history.png", job_dir, "history.png: loss, accuracy and "
                    "learning rate per epoch", link=job_dir / "history.png"),
             history_table(job_dir)]
    if "confusion_matrix" in metrics.get("examples", {}):  # a classification job draws one
        parts.append(figure(job_dir / "confusion_matrix.png", job_dir,
                            "confusion_matrix.png (rows: true class)", width=560,
                            link=job_dir / "confusion_matrix.png"))
    others = [path for path in sorted(job_dir.glob("*.png")) if path.name not in SHOWN_PLOTS]
    parts += [figure(path, job_dir, path.name, width=560, link=path) for path in others]
    return section("Training", *parts, anchor="training")
