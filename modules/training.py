"""``launch_job``: one job block of a trainer file -> one job folder under ``cache/``; and the one
job skeleton every task runs in.

A trainer sets fields on the global ``parameters`` and calls ``launch_job``; this is the only
library function that reads the global object. It freezes a snapshot and hands that down.

The skeleton (:func:`train_job`) makes the folder and takes its id, records the status, and in
between calls the hooks of the job's task (:mod:`modules.tasks`) around the steps every job
shares: split files, seeding, the model's front end, the input shape, the parameters snapshot,
tracking, fitting with the common callbacks, the best epoch, metrics, report and artifacts.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from modules.distribute import check_distribute, distribution_scope
from modules.jobs import (atomic_write_text, create_job_dir, find_job, job_block_of,
                          read_history)
from modules.parameters import Parameters, parameters
from modules.parsers import qualified_name, spec_parser
from modules.resume import (RESUME_FILE, EpochClock, Heartbeat, ResumeError,
                            check_same_parameters, check_same_table, find_resumable,
                            process_record, reopen_job, truncate_history, write_job_record)
from modules.tasks import JobContext, Task, get_task
from modules.tasks.common import (adopt_model_frontend, best_history_row, job_callbacks,
                                  json_default, load_and_split, resolve_path, seed_everything,
                                  start_tracker)
from modules.tasks.registry import task_name

__all__ = ["LaunchOptions", "forget_blocks", "launch_job", "launch_options", "load_and_split",
           "resolve_path", "train_job"]


@dataclass
class LaunchOptions:
    """What the command line asked for; it wins over what a trainer file sets."""

    testing: bool = False
    description: str | None = None
    validation_only: bool = False
    job: int | None = None
    cache_root: str | None = None
    data_root: str | None = None
    progress: bool = True
    replayed: list = field(default_factory=list)  # job folders replayed in this process
    pretend: int | None = None  # `spectrain augment --pretend N`: show clip N, train nothing
    pretend_block: int | None = None  # with pretend: only this job block (1-based)
    pretended: list = field(default_factory=list)  # folders `augment --pretend` wrote
    block: int | None = None  # `--block N`: run only this job block (1-based)
    cross_validate: bool = False  # `--cross-validate`: every block as a k-fold run
    resume: bool = False  # `--resume`: go on with unfinished jobs, skip finished ones
    # `--parallel`: the blocks only say what they would run (modules.parallel.plan_block)
    plan: list | None = None
    fold: int | None = None  # with --block and --cross-validate: train only this fold


launch_options = LaunchOptions()
_blocks_launched: dict[str, int] = {}  # trainer file -> launch_job calls so far in this process


def blocks_launched(trainer_file) -> int:
    """How many job blocks of ``trainer_file`` have called launch_job since it started."""
    return _blocks_launched.get(str(trainer_file), 0)


def forget_blocks(trainer_file) -> None:
    """Count a trainer file's job blocks afresh: each run of a trainer starts at block 1."""
    _blocks_launched.pop(str(trainer_file), None)


@dataclass(frozen=True)
class JobBlock:
    """What one ``launch_job`` call asks for."""

    datasets: dict
    model: object
    parse_function: Callable
    augmentations: list
    trainer_file: Path
    number: int  # the job block: 1 for the first launch_job call of its trainer file

    @property
    def trainer(self) -> str:
        return self.trainer_file.stem


def _calling_trainer() -> Path:
    """The file that called launch_job (the first frame outside the library)."""
    library = Path(__file__).resolve().parent
    for frame in inspect.stack()[2:]:
        filename = Path(frame.filename).resolve()
        if library not in filename.parents and filename.suffix == ".py":
            return filename
    return Path("interactive.py")


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


def launch_job(datasets: dict, model, spec_aug_params: Sequence = (),
               audio_aug_params: Sequence = (),
               parse_function: Callable | None = None) -> Path | None:
    """Train ``model`` on the flagged ``datasets`` (e.g. ``{"Esc10": 1}``) as one job.

    ``model``: a builder ``f(input_shape, n_classes) -> keras.Model`` (use functools.partial for
    options) or a built ``keras.Model``. ``parse_function``: a parse-function builder from
    ``modules.parsers`` (default ``spec_parser``). ``spec_aug_params`` / ``audio_aug_params``:
    lists of ``[name, {arguments}]`` (see :mod:`modules.augment`), applied to training
    examples only; they are checked here, before anything else runs.
    Returns the job folder (or, in a validation-only run, the replayed job's folder or None).
    """
    from modules.augment import build_augmentations

    trainer_file = _calling_trainer()
    block = _blocks_launched.get(str(trainer_file), 0)
    _blocks_launched[str(trainer_file)] = block + 1
    augmentations = build_augmentations(spec_aug_params, audio_aug_params)
    task = get_task(parameters.task)
    task.check(parameters, augmentations)
    check_distribute(parameters.distribute)
    if not isinstance(datasets, dict) or not datasets:
        raise TypeError('datasets takes a dict of dataset names to 0/1 flags, e.g. {"Esc10": 1}')
    if launch_options.block is not None and launch_options.block != block + 1:
        print(f"job block {block + 1}: skipped (--block {launch_options.block})")
        return None

    # A per-job copy: values derived for this job (shape, n_classes...) must not leak into the
    # trainer's next job block through the global object.
    run = Parameters.from_snapshot(parameters.snapshot())
    _apply_launch_options(run)
    if not run.mode:
        run.mode = trainer_file.parent.name
    spec = JobBlock(datasets, model, parse_function or spec_parser, augmentations, trainer_file,
                    block + 1)
    if launch_options.pretend is not None:
        from modules.augment.pretend import pretend_block

        folder = pretend_block(run, datasets, augmentations, spec.parse_function, spec.trainer,
                               block, launch_options.pretend, model=model,
                               only_block=launch_options.pretend_block)
        if folder:
            launch_options.pretended.append(folder)
        return folder
    if launch_options.validation_only:
        return _replay_block(run, spec)
    if launch_options.plan is not None:
        from modules.parallel import plan_block

        launch_options.plan.extend(plan_block(task, run, spec))
        return None
    if run.cross_validate:
        from modules.cross_validation import run_cross_validation

        return run_cross_validation(task, run, spec, train_job, launch_options.progress,
                                    resume=launch_options.resume,
                                    only_fold=launch_options.fold)
    resume_dir = None
    if launch_options.resume:
        what, folder = find_resumable(resolve_path(run.cache_root), run.mode, spec.trainer,
                                      spec.number, run.testing)
        if what in ("finished", "running"):
            print(f"job block {spec.number}: job {folder.name} is {what}; not trained again "
                  "(--resume)")
            return folder
        resume_dir = folder  # None: the block has no job yet, so a new one starts
    return train_job(task, run, spec, progress=launch_options.progress, resume_dir=resume_dir)


def _apply_launch_options(params: Parameters) -> None:
    if launch_options.testing:
        params.testing = True
    if launch_options.description is not None:
        params.description = launch_options.description
    if launch_options.cache_root is not None:
        params.cache_root = launch_options.cache_root
    if launch_options.data_root is not None:
        params.data_root = launch_options.data_root
    if launch_options.cross_validate:
        params.cross_validate = True


def _replay_block(run: Parameters, spec: JobBlock) -> Path | None:
    from modules.replay import replay_job

    from modules.job_folder import Job

    job = find_job(resolve_path(run.cache_root), run.mode, spec.trainer,
                   job_id=launch_options.job, testing=True if launch_options.testing else None)
    recorded_block = job_block_of(Job(job.path).info) or 1
    if recorded_block != spec.number or launch_options.replayed:
        print(f"job block {spec.number}: not replayed (job {job.path.name} came from block "
              f"{recorded_block})")
        return None
    replay_job(job.path, parse_function=spec.parse_function, progress=launch_options.progress)
    launch_options.replayed.append(job.path)
    return job.path


# ------------------------------------------------------------------------------ the skeleton
def _write_info(ctx: JobContext) -> None:
    write_job_record(ctx.path, ctx.info)


def _new_job(run: Parameters, spec: JobBlock, cache_root: Path,
             extra_info: dict | None):
    """A new job folder (its id taken atomically) and what its job.json starts with."""
    job = create_job_dir(cache_root, run.mode, spec.trainer, run.testing)
    info = {
        "job_id": job.job_id, "job_dir": str(job.path), "trainer": spec.trainer,
        "trainer_file": str(spec.trainer_file), "job_block": spec.number, "mode": run.mode,
        "testing": run.testing, "datasets": spec.datasets, "status": "running",
        "started": _now(), "parse_function": qualified_name(spec.parse_function),
        "model": qualified_name(spec.model), "task": task_name(run.task), **(extra_info or {}),
    }
    return job, info


def train_job(task: Task, run: Parameters, spec: JobBlock, progress: bool = True,
              extra_info: dict | None = None, resume_dir: Path | None = None) -> Path:
    """Run one job of ``task`` in a new job folder (or go on with the unfinished job in
    ``resume_dir`` from its last completed epoch); its status is recorded whatever happens,
    and a failure keeps everything written so far (``error.txt`` says what went wrong).
    ``extra_info`` goes into job.json (e.g. the cross-validation run and fold)."""
    cache_root = resolve_path(run.cache_root)
    if resume_dir is None:
        job, info = _new_job(run, spec, cache_root, extra_info)
        resumed = None
    else:
        recorded = json.loads((Path(resume_dir) / "job.json").read_text())
        from modules.augment import describe

        job, info, resumed = reopen_job(resume_dir, spec, describe(spec.augmentations))
    run.job_id = job.job_id
    clock = time.time()
    info.update(process_record())
    ctx = JobContext(run, job, info, cache_root, spec.datasets, spec.model, spec.parse_function,
                     spec.augmentations, progress=progress,
                     verbose=1 if progress and _interactive() else 2,
                     initial_epoch=resumed.epochs_done if resumed else 0, resumed=resumed,
                     epoch_clock=EpochClock(resumed.epochs_done if resumed else 0))
    _write_info(ctx)
    title = f"job {job.job_id}{' (testing)' if run.testing else ''}: {job.path}"
    print(f"\n{'=' * len(title)}\n{title}\n{'=' * len(title)}")
    if run.description:
        print(f"description: {run.description}")
    try:
        with Heartbeat(job.path):
            _run_job(task, ctx)
        info.update(status="finished", finished=_now(),
                    duration_s=round(info.pop("earlier_s", 0.0) + time.time() - clock, 1))
        _write_info(ctx)
        (job.path / RESUME_FILE).unlink(missing_ok=True)  # only an unfinished job needs it
        ctx.tracker.log_artifact(job.path / "job.json")
        ctx.tracker.end("FINISHED")
    except ResumeError:
        write_job_record(job.path, recorded)  # refused before anything changed: as it was
        raise
    except BaseException as error:
        # Keep everything written so far; say what happened where the results would have been.
        status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        info.update(status=status, finished=_now(), error=f"{type(error).__name__}: {error}")
        _write_info(ctx)
        atomic_write_text(job.path / "error.txt", traceback.format_exc())
        if ctx.tracker:
            ctx.tracker.end("KILLED" if status == "interrupted" else "FAILED")
        print(f"job {job.job_id} {status}: {info['error']} (details in {job.path / 'error.txt'})")
        _write_report(job.path)  # what the job left, with the error first
        raise
    # Outside the guarded block: nothing after this point can turn a finished job into a failed one.
    print(f"job {job.job_id} finished in {info['duration_s']:.0f} s: {job.path}")
    _write_report(job.path)  # once job.json says "finished", with its time and duration
    return job.path


def _write_report(job_dir: Path) -> Path | None:
    """The job folder's report.html, best effort: a page that cannot be written costs one
    warning line, never the job's status or the error that stopped it."""
    try:
        from modules.html_report.job_report import write_job_report

        page = write_job_report(job_dir)
    except Exception as error:  # noqa: BLE001 - the report is a view; the job stands as it is
        print(f"warning: {Path(job_dir) / 'report.html'} not written: "
              f"{type(error).__name__}: {error}")
        return None
    print(f"report: {page}")
    return page


def _fit(network, train_ds, val_ds, callbacks: list, ctx: JobContext) -> None:
    """``network.fit``, or for a resumed job the rest of it, from its saved state."""
    resumed, n_epochs = ctx.resumed, ctx.params.n_epochs
    if resumed is not None:
        resumed.restore_model(network)
        truncate_history(ctx.path / "history.csv", resumed.epochs_done)
        if resumed.stopped or resumed.epochs_done >= n_epochs:
            print(f"job {ctx.job.job_id}: training had ended after epoch "
                  f"{resumed.epochs_done}; going on with the evaluation")
            return
        print(f"job {ctx.job.job_id}: resuming at epoch {resumed.epochs_done + 1} of {n_epochs}")
    network.fit(train_ds, validation_data=val_ds, epochs=n_epochs,
                initial_epoch=ctx.initial_epoch, callbacks=callbacks,
                shuffle=False,  # the datasets shuffle themselves, from the job's seed
                verbose=ctx.verbose)


def _run_job(task: Task, ctx: JobContext) -> None:
    from modules.models import load_model

    _prepare(task, ctx)
    ctx.tracker = start_tracker(ctx.params, ctx.cache_root, ctx.info, ctx.path)
    train_ds, val_ds = task.datasets(ctx)
    with distribution_scope(ctx.params.distribute) as replicas:
        ctx.info["devices"] = replicas.devices  # one replica each
        train_ds = replicas.training_data(train_ds)
        network = ctx.network = task.network(ctx)
        ctx.info["model_name"] = network.name
        ctx.info["model_parameters"] = int(network.count_params())
        _write_info(ctx)
        _fit(network, train_ds, val_ds,
             job_callbacks(ctx.params, ctx.path, ctx.tracker, task.callbacks(ctx),
                           resumed=ctx.resumed, clock=ctx.epoch_clock), ctx)
    network.save(ctx.path / "last_model.keras")
    for leftover in ctx.path.glob(".decoded_*"):
        leftover.unlink()

    # ---- evaluate the best model exactly as a replay will ------------------------------------
    history = read_history(ctx.path / "history.csv")
    best_row = best_history_row(history, ctx.params.target_metric)
    ctx.info["best_epoch"] = int(history["epoch"].iloc[best_row])
    ctx.info["epochs_run"] = len(history)
    best = load_model(ctx.path / "best_model.keras", compile=False)  # predicting only
    metrics = task.evaluate(ctx, best)
    metrics["best_epoch"] = ctx.info["best_epoch"]
    if has_test_part(ctx):  # decoded and seen only now: nothing above depended on it
        metrics["test"] = task.evaluate_test(ctx, best)
    atomic_write_text(ctx.path / "metrics.json",
                      json.dumps(metrics, indent=2, default=json_default) + "\n")
    _report(task, ctx, best, metrics, history[ctx.params.target_metric].iloc[best_row])


def _prepare(task: Task, ctx: JobContext) -> None:
    """Data, seeds, front end and input shape; then the frozen parameters snapshot."""
    from modules.data import TABLE_COLUMNS
    from modules.data.fingerprints import record_validation_files

    run = ctx.run
    resuming = "resumed" in ctx.info
    if run.testing:
        run.n_epochs = run.testing_epochs
    task.load_data(ctx)
    parts = {"train": ctx.train, "validation": ctx.validation}
    if has_test_part(ctx):
        parts["test"] = ctx.test
        ctx.info["test_files"] = len(ctx.test)
    for name, part in parts.items():
        text = part.reindex(columns=TABLE_COLUMNS).to_csv(index=False)
        if resuming:
            check_same_table(ctx.path / f"{name}.csv", text)
        atomic_write_text(ctx.path / f"{name}.csv", text)
    # so that a replay can tell a missing or changed validation (or test) file from a changed
    # model
    evaluated = [ctx.validation, *([ctx.test] if "test" in parts else [])]
    record_validation_files(pd.concat(evaluated, ignore_index=True), ctx.path)
    seed_everything(run)
    if task.frontend(ctx):
        adopt_model_frontend(run, ctx.model_spec)  # first: it may change the sample rate
    samples = task.example_samples(ctx)
    ctx.parse = ctx.parse_function(run.freeze())
    derived = _input_shape(ctx.parse, samples, len(ctx.class_names))
    if run.shape is None:
        run.shape = derived
    elif tuple(run.shape) != derived:
        raise ValueError(f"parameters.shape is {tuple(run.shape)}, but the parse function "
                         f"gives {derived} for these front-end settings; set shape = None")
    task.prepare(ctx)
    ctx.params = run.freeze()
    if resuming:
        check_same_parameters(ctx.path, ctx.params.snapshot())
    ctx.params.save(ctx.path / "params.json")
    ctx.info["class_names"] = ctx.class_names
    _write_info(ctx)


def has_test_part(ctx: JobContext) -> bool:
    """Whether the job holds out a test part (the split gave one)."""
    return ctx.test is not None and not ctx.test.empty


def _input_shape(parse, samples: int, n_classes: int) -> tuple:
    import tensorflow as tf

    example = parse(tf.zeros([1, samples]), tf.zeros([1, n_classes]))[0]
    return tuple(int(d) for d in example.shape[1:])


def _report(task: Task, ctx: JobContext, best, metrics: dict, best_value: float) -> None:
    """The report, plots and tracked results of a finished job."""
    from modules import reports

    params, info, tracker = ctx.params, ctx.info, ctx.tracker
    header = {
        "job": str(ctx.path),
        # job_block_of: a job resumed from a folder written before job_block was recorded
        "trainer": f"{info['trainer_file']} (job block {job_block_of(info)})",
        "description": params.description or "-", "started": info["started"], "reported": _now(),
        "datasets": ", ".join(name for name, flag in info["datasets"].items() if flag),
        "model": f"{ctx.network.name} ({info['model_parameters']:,} parameters)",
        "epochs": f"{info['epochs_run']} run, best {info['best_epoch']} "
                  f"({params.target_metric} = {best_value:.4f})",
        "mlflow": f"{tracker.uri} run {tracker.run_id}" if tracker.run_id else "off",
    }
    report = task.report(ctx, metrics, header)
    atomic_write_text(ctx.path / "report.txt", report)
    print(report)
    reports.plot_history(read_history(ctx.path / "history.csv"), ctx.path / "history.png",
                         best_epoch=info["best_epoch"])
    task.write_outputs(ctx, best, metrics)
    tracker.log_metrics({**task.summary(metrics), **task.test_summary(metrics),
                         "best_epoch": info["best_epoch"]}, step=info["best_epoch"])
    for name in ("report.txt", "params.json", "metrics.json", "history.csv", "history.png",
                 "train.csv", "validation.csv", "test.csv", *task.artifacts):
        if (ctx.path / name).exists():
            tracker.log_artifact(ctx.path / name)
    tracker.log_artifact(ctx.path / "best_model.keras", "model")
    tracker.log_artifacts(ctx.path / "gradcam", "gradcam")


def _interactive() -> bool:
    return sys.stdout.isatty() or os.environ.get("SPECTRAIN_INTERACTIVE") == "1"
