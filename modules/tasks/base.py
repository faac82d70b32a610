"""What a task is: the small hooks by which one kind of job differs from another.

The job skeleton (:func:`modules.training.train_job`, :func:`modules.replay.replay_job`) runs
every job the same way: it makes the job folder and takes its id, seeds, writes the split files,
the parameters snapshot and ``job.json``, starts tracking, fits with the common callbacks, picks
the best epoch, writes the report and artifacts and records the status, and it replays a
finished job and compares. At each step that
depends on *what* is learnt it calls a hook of the job's :class:`Task`:

============================  ==================================================================
hook                          what the task decides
============================  ==================================================================
``check``                     its parameters and augmentation lists, before a folder exists
``load_data``                 its label source and data table: train / validation / classes
``frontend``                  whether the model's own front end sets the audio settings
``example_samples``           values per example (the parse function gives the input shape)
``prepare``                   bind its augmentations to the classes and the input shape
``datasets``                  the training and validation ``tf.data`` pipelines
``network``                   the network adapted to the task, compiled with its loss, metrics
``callbacks``                 its own Keras callbacks (e.g. file-level validation metrics)
``evaluate``                  the best model on the validation part: metrics and predictions
``evaluate_test``             the best model, once, on the held-out test part (when there is
                              one): its metrics, stored as ``metrics["test"]``
``report``                    its report text
``write_outputs``             its plots and examples
``summary``                   the few numbers that summarise the job (MLflow, job lists)
``replay``                    the best model again, compared with what the job recorded
``detect`` (``detects``)      events in new, long recordings (``spectrain detect``)
``window_predictor``          the best model as ``(windows) -> probabilities`` for new
(``predicts``)                recordings of any length (``spectrain predict``)
============================  ==================================================================

Class attributes say what else a task's jobs support: ``explains`` (``spectrain explain``),
``detects``, ``predicts`` and ``multi_label`` (several classes per example); ``metric_names`` lists what its compiled metrics log, so ``target_metric`` is
checked against them.
============================  ==================================================================

Room left for what later issues add to every task (each a new hook with a default here, so the
skeleton, not each task, gains the feature):

* an export signature (``export_signature(job)``: the input spec and named outputs a LiteRT /
  ONNX / SavedModel export serves);
* a distribution strategy (the skeleton builds ``network`` and ``datasets`` inside the strategy's
  scope; a task only says whether its batches can be split across replicas).

Resuming needs no hook: a task's training set draws each epoch from (seed, epoch) alone, the
epoch read from ``ctx.epoch_clock`` (set by the skeleton as Keras starts each epoch), and the
skeleton restores the rest (:mod:`modules.resume`).

A task holds no state of its own: everything about one job is on its :class:`JobContext`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pandas as pd


@dataclass
class JobContext:
    """One job while it trains: what the skeleton and the task's hooks share.

    ``run`` is the job's own copy of the parameters until the skeleton freezes it into
    ``params`` (after ``prepare``); hooks before that may set derived values on ``run``."""

    run: Any                    # Parameters, mutable until frozen
    job: Any                    # modules.jobs.JobRef
    info: dict                  # what job.json records
    cache_root: Path
    datasets: dict
    model_spec: Any             # a builder f(input_shape, n_classes) or a keras.Model
    parse_function: Callable    # a parse-function builder (modules.parsers)
    augmentations: list
    progress: bool = True
    verbose: int = 2            # Keras fit verbosity
    params: Any = None          # the frozen snapshot, from ``prepare`` on
    parse: Optional[Callable] = None
    tracker: Any = None
    train: Optional[pd.DataFrame] = None
    validation: Optional[pd.DataFrame] = None
    test: Optional[pd.DataFrame] = None  # held out: only evaluate_test reads it, after training
    class_names: list = field(default_factory=list)
    skipped: list = field(default_factory=list)   # (path, reason) of files left out
    network: Any = None
    state: dict = field(default_factory=dict)     # the task's own values for this job
    initial_epoch: int = 0      # a resumed job: the first epoch (0-based) still to train
    epoch_clock: Any = None     # modules.resume.EpochClock: the epoch training sets draw
    resumed: Any = None         # a resumed job: its modules.resume.ResumeState (or None)

    @property
    def path(self) -> Path:
        return self.job.path


@dataclass
class ReplayComparison:
    """What a task's replay found: its metrics against the recorded ones."""

    metrics: dict
    recorded: dict
    identical: bool
    difference: float       # largest difference in any recorded output (0.0 when identical)
    text: str               # the replay report


class Task:
    """One kind of job; subclasses override the hooks (see the module docstring)."""

    name = ""
    explains = False        # `spectrain explain` works on its jobs
    detects = False         # `spectrain detect` works on its jobs
    predicts = False        # `spectrain predict` works on its jobs (window_predictor)
    multi_label = False     # an example may have several classes (or none)
    artifacts: tuple = ()   # job-folder files, beside the common ones, logged to MLflow
    listed: dict = {}       # summary() key -> column of `spectrain jobs`

    def metric_names(self) -> list[str]:
        """What the compiled metrics log (history columns without ``val_``)."""
        return []

    def check(self, params, augmentations: list) -> None:
        """Refuse what cannot work, before a job folder exists (by default: a
        ``target_metric`` that the task's metrics do not log)."""
        from modules.training_metrics import check_target_metric

        check_target_metric(params.target_metric, params.task, params.n_classes,
                            names=self.metric_names())

    def load_data(self, ctx: JobContext) -> None:
        """Set ``ctx.train``, ``ctx.validation`` and ``ctx.class_names``."""
        raise NotImplementedError

    def frontend(self, ctx: JobContext) -> bool:
        """True when a model with its own front end may set the audio settings."""
        return True

    def example_samples(self, ctx: JobContext) -> int:
        """Values per example, for the parse function to turn into the input shape."""
        return int(round(ctx.run.audio_length * ctx.run.sr))

    def prepare(self, ctx: JobContext) -> None:
        """Last changes to ``ctx.run`` before it is frozen (its shape is known here)."""

    def datasets(self, ctx: JobContext):
        """(training, validation) ``tf.data`` datasets of (inputs, targets)."""
        raise NotImplementedError

    def network(self, ctx: JobContext):
        """The model for this task, compiled with its loss and metrics."""
        raise NotImplementedError

    def callbacks(self, ctx: JobContext) -> list:
        """Keras callbacks of the task's own, run first each epoch (before the checkpoint and
        early stopping read the target metric)."""
        return []

    def evaluate(self, ctx: JobContext, model) -> dict:
        """Metrics of the best ``model`` on the validation part; writes its predictions."""
        raise NotImplementedError

    def evaluate_test(self, ctx: JobContext, model) -> dict:
        """Metrics of the best ``model`` on the held-out test part (``ctx.test``), evaluated
        once after training; writes its predictions. A task without it refuses test rows in
        ``load_data``."""
        raise NotImplementedError(f"task {self.name!r} does not evaluate a test part")

    def report(self, ctx: JobContext, metrics: dict, header: dict) -> str:
        """The report text; ``header`` holds the lines every job's report has (job, trainer,
        description, started, reported, datasets, model, epochs, mlflow)."""
        raise NotImplementedError

    def write_outputs(self, ctx: JobContext, model, metrics: dict) -> None:
        """Plots and examples of the best ``model`` beside the report."""

    def summary(self, metrics: dict) -> dict:
        """The few numbers that summarise a job (MLflow, ``spectrain jobs``)."""
        return {}

    def test_summary(self, metrics: dict) -> dict:
        """:meth:`summary` of the test part (``metrics["test"]``), each ``best_x`` as
        ``test_x``; {} for a job without one."""
        test = metrics.get("test")
        if not isinstance(test, dict) or not test:
            return {}
        return {f"test_{key.removeprefix('best_')}": value
                for key, value in self.summary(test).items()}

    def replay(self, job, parse_function: Optional[Callable], progress: bool) -> ReplayComparison:
        """Evaluate ``job``'s best model again (``job``: a :class:`modules.job_folder.Job`)."""
        raise NotImplementedError

    def window_predictor(self, job, embeddings: bool = False) -> Callable:
        """``f(windows) -> probabilities``: (n, samples) float32 waveforms at the job's rate
        through the job's front end and best model, (n, classes) out; with ``embeddings``
        ``(probabilities, (n, dim) embeddings)`` (only where ``predicts``)."""
        raise NotImplementedError(f"task {self.name!r} does not predict windows")

    def detect(self, job, inputs, output_dir, *options):
        """Events in new recordings (only where ``detects``)."""
        raise NotImplementedError(f"task {self.name!r} does not detect events")
