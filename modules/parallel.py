"""Many jobs at once: a trainer's job blocks (and the folds of a cross-validated block) as Ray
tasks, on a local Ray cluster started for the launch or on an existing one (``--ray-address``).

The launch first runs the trainer file in *plan* mode: each ``launch_job`` says what it would
run (one job, or one job per unfinished fold) and what it asks of the cluster
(``parameters.ray_cpus`` / ``ray_gpus``), and trains nothing. Each job then runs as a Ray task
in a fresh worker process (``max_calls=1``: the global parameters, Keras' layer names and
TensorFlow's state start clean, as in a serial launch), which runs the trainer file with
``--block N`` (and the fold); Ray places the tasks. Job ids are taken under a file lock, so
parallel jobs never share a folder. A job that fails does not stop the others; the launch ends
with a line per job and a non-zero exit status when any failed. Ctrl-C cancels every job: each
records ``interrupted``, and ``--resume`` goes on with them later.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from modules import PROJECT_ROOT
from modules.errors import UserError, one_line


class ClusterError(UserError, ConnectionError):
    """The Ray cluster named by ``--ray-address`` cannot be reached."""


@dataclass(frozen=True)
class JobUnit:
    """One job to run as a Ray task."""

    block: int  # the job block, 1-based as --block counts
    fold: int | None  # the fold of a cross-validated block
    cpus: float
    gpus: float

    @property
    def label(self) -> str:
        return f"block {self.block}" + ("" if self.fold is None else f", fold {self.fold}")

    @property
    def log_name(self) -> str:
        return f"block{self.block}" + ("" if self.fold is None else f"-fold{self.fold}")


@dataclass(frozen=True)
class BlockFinisher:
    """What runs once a block's jobs have ended (a cross-validation summary)."""

    block: int
    finish: Callable[[bool], object]  # finish(failed)


def plan_block(task, run, spec) -> list:
    """What one ``launch_job`` would run, as :class:`JobUnit` (and a :class:`BlockFinisher`
    for a cross-validated block, whose cv folder and MLflow parent run are opened here, once,
    before its folds start side by side)."""
    if not run.cross_validate:
        return [JobUnit(spec.number, None, run.ray_cpus, run.ray_gpus)]
    from modules.cross_validation import (close_cross_validation, finished_folds,
                                          open_cross_validation)

    cv = open_cross_validation(run, spec)
    done = finished_folds(cv.jobs(run, spec))
    units = [JobUnit(spec.number, fold, run.ray_cpus, run.ray_gpus)
             for fold in cv.folds if fold not in done]
    return [*units, BlockFinisher(spec.number, lambda failed: close_cross_validation(
        cv, task, run, spec, failed))]


def run_unit(run_trainer: Callable, trainer: str, options: dict, unit: JobUnit,
             log_path: str) -> None:
    """The Ray task: the trainer's job block (and fold), its console in ``log_path``
    (``run_trainer``: :func:`modules.commands.train.run_trainer`)."""
    # ray.cancel interrupts the task with SIGINT: it must raise KeyboardInterrupt here (so the
    # job records "interrupted") even when the cluster was started from a shell that ignores
    # SIGINT, as a background job's does.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with open(log_path, "a", buffering=1) as log:
        # File descriptors, not sys.stdout: TensorFlow's own lines go to them as well.
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        run_trainer(Path(trainer), **{**options, "block": unit.block, "fold": unit.fold,
                                      "progress": False})


def _start_ray(address: str | None, parallel: int, units: list):
    try:
        import ray
    except ImportError:
        raise ClusterError("Ray is not installed in this environment: `bash launch.sh TRAINER "
                           "--parallel K` installs it on first use (or pip install -e "
                           "'.[parallel]')") from None

    if address:
        try:
            ray.init(address=address, log_to_driver=False, logging_level="WARNING")
        except ConnectionError as error:
            raise ClusterError(
                f"cannot connect to the Ray cluster at {address} ({one_line(error)}); a "
                "cluster with token authentication needs RAY_AUTH_MODE=token in this shell "
                "(and RAY_AUTH_TOKEN, from `ray get-auth-token` on its head node, where "
                "~/.ray/auth_token is not the cluster's)") from None
    else:
        # A local cluster for this launch, large enough for `parallel` jobs at once.
        wanted = parallel * max(unit.cpus for unit in units)
        # address="local": a new cluster, never one a `ray start` left on this machine.
        ray.init(address="local", num_cpus=max(os.cpu_count() or 1, math.ceil(wanted)),
                 include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    return ray


def _failure_reason(error: Exception) -> str:
    cause = getattr(error, "cause", None) or error
    return " ".join(f"{type(cause).__name__}: {cause}".split())[:300]


def _cancel_all(ray, pending: dict) -> None:
    """Ctrl-C: a KeyboardInterrupt in every running job (which records it as interrupted),
    then, after a grace period, the processes themselves."""
    print(f"\ninterrupted: cancelling {len(pending)} job(s)", file=sys.stderr)
    for ref in pending:
        ray.cancel(ref)
    _, still = ray.wait(list(pending), num_returns=len(pending), timeout=60)
    for ref in still:
        ray.cancel(ref, force=True)


def run_units(ray, run_trainer: Callable, units: list, trainer: Path, options: dict,
              parallel: int, log_dir: Path) -> dict:
    """Run ``units`` with at most ``parallel`` at once; unit -> None (finished) or the reason
    it failed."""
    task = ray.remote(max_calls=1)(run_unit)
    queue, pending, outcome = list(units), {}, {}
    try:
        while queue or pending:
            while queue and len(pending) < parallel:
                unit = queue.pop(0)
                log = log_dir / f"{unit.log_name}.log"
                ref = task.options(num_cpus=unit.cpus, num_gpus=unit.gpus).remote(
                    run_trainer, str(trainer), options, unit, str(log))
                pending[ref] = unit
                print(f"{unit.label}: started (console: {log})")
            # A short timeout hands control back to Python often, so Ctrl-C is seen at once.
            done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in done:
                unit = pending.pop(ref)
                try:
                    ray.get(ref)
                    outcome[unit] = None
                except Exception as error:  # noqa: BLE001 - one failed job, the others go on
                    outcome[unit] = _failure_reason(error)
                print(f"{unit.label}: {'finished' if outcome[unit] is None else 'FAILED'} "
                      f"({len(outcome)} of {len(units)} done)")
    except KeyboardInterrupt:
        _cancel_all(ray, pending)
        raise
    return outcome


def run_parallel(run_trainer: Callable, trainer: Path, options: dict, parallel: int | None,
                 address: str | None = None) -> int:
    """``spectrain train NAME --parallel K [--ray-address ADDRESS]``; returns the exit code.
    ``run_trainer``: :func:`modules.commands.train.run_trainer` (passed in: that module
    imports this one)."""
    plan = []
    run_trainer(trainer, plan=plan, **options)
    units = [item for item in plan if isinstance(item, JobUnit)]
    finishers = [item for item in plan if isinstance(item, BlockFinisher)]
    parallel = parallel or max(len(units), 1)
    print(f"{trainer.name}: {len(units)} job(s) to run, at most {parallel} at once"
          + (f" on the Ray cluster at {address}" if address else " on a local Ray cluster"))
    # beside launch.sh's console logs (jobs/), or where SPECTRAIN_LOG_DIR says
    log_root = Path(os.environ.get("SPECTRAIN_LOG_DIR") or PROJECT_ROOT / "jobs")
    log_dir = log_root / f"{trainer.stem}-{dt.datetime.now():%Y%m%d-%H%M%S}-parallel"
    log_dir.mkdir(parents=True, exist_ok=True)
    outcome = {}
    if units:
        ray = _start_ray(address, parallel, units)
        # Ctrl-C must reach the loop as KeyboardInterrupt, whatever the launching shell or
        # Ray's start-up left as SIGINT's handler.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            outcome = run_units(ray, run_trainer, units, trainer, options, parallel, log_dir)
        finally:
            signal.signal(signal.SIGINT, previous)
            ray.shutdown()
    for finisher in finishers:
        finisher.finish(any(outcome.get(u) for u in units if u.block == finisher.block))
    failed = {unit: reason for unit, reason in outcome.items() if reason}
    for unit, reason in failed.items():
        print(f"FAILED {unit.label}: {reason} (console: {log_dir / (unit.log_name + '.log')})",
              file=sys.stderr)
    print(f"{len(outcome) - len(failed)} of {len(units)} job(s) finished; consoles in {log_dir}")
    return 1 if failed else 0
