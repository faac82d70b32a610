"""The "sed" task: sound event detection on ``spectrain clips`` folders.

Its pieces (loss, framewise network, window metrics, plots) are in :mod:`modules.sed.job`; this
module is the task's hooks, ``detect`` among them: a finished job's best model over long
recordings (``spectrain detect``, through :func:`modules.inference.detect_with_job`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modules.tasks.base import JobContext, ReplayComparison, Task
from modules.tasks.common import (json_default, load_and_split, per_class_setting,
                                  testing_subsets)
from modules.tasks.registry import register_task


def validation_windows(clips: pd.DataFrame, classes, params):
    """The fixed validation windows of ``clips``, as the job and its replays cut them."""
    from modules.sed.windows import RandomWindows

    return RandomWindows(clips, classes, sr=params.sr, window_seconds=params.audio_length,
                         event_bins=params.event_bins, seed=params.seed, validation=True)


def save_windows_result(job_dir, result: dict, windows, part: str) -> None:
    """A part's window activity (``predictions.npz``, ``test_predictions.npz``) and estimated
    events (``validation_events.csv``, ``test_events.csv``)."""
    prefix = "test_" if part == "test" else ""
    np.savez_compressed(job_dir / f"{prefix}predictions.npz", activity=result["activity"],
                        targets=result["targets"], starts=result["starts"],
                        clips=np.array(windows.clips["path"].tolist()))
    result["estimated"].to_csv(job_dir / f"{part}_events.csv", index=False)


def replay_part(job, part: str, parse, recorded: dict) -> tuple[dict, float, bool]:
    """(metrics, largest activity difference, identical) of the best model on ``part``'s
    windows ("validation" or "test"), against ``recorded`` (that part's metrics)."""
    import json

    from modules.sed.job import clips_of, evaluate_on_windows

    params, classes = job.params, job.class_names
    windows = validation_windows(clips_of(job.table(part)), classes, params)
    result = evaluate_on_windows(job.model, params, classes, windows, parse)
    saved = job.path / ("test_predictions.npz" if part == "test" else "predictions.npz")
    before = np.load(saved)["activity"]
    difference = (float(np.abs(before - result["activity"]).max())
                  if before.shape == result["activity"].shape else float("inf"))
    now = json.loads(json.dumps(result["metrics"], default=json_default))
    identical = difference == 0.0 and all(
        recorded.get(level, {}).get(key) == now[level][key] for level in ("frames", "events")
        for key in ("micro", "overall") if key in now[level])
    return now, difference, identical


def _f1_lines(part: str, recorded: dict, now: dict) -> list[str]:
    def f1(metrics, level, key):
        value = metrics.get(level, {}).get(key, {}).get("f1")
        return "n/a" if value is None else f"{value:.6f}"

    return [f"{part}frame F1 (micro): recorded {f1(recorded, 'frames', 'micro')}, replayed "
            f"{f1(now, 'frames', 'micro')}",
            f"{part}event F1: recorded {f1(recorded, 'events', 'overall')}, replayed "
            f"{f1(now, 'events', 'overall')}"]


@register_task("sed")
class SoundEventDetection(Task):
    """Framewise targets (classes x ``event_bins``) per window; frame and event metrics."""

    detects = True
    listed = {"best_frame_f1": "frame F1", "best_event_f1": "event F1"}

    def metric_names(self) -> list[str]:
        return ["binary_accuracy", "pr_auc"]

    def check(self, params, augmentations: list) -> None:
        if augmentations:
            raise ValueError("augmentation lists are not supported in sound event detection "
                             "jobs yet: the random window per clip and epoch is the "
                             "augmentation")
        super().check(params, augmentations)

    def load_data(self, ctx: JobContext) -> None:
        from modules.data import check_no_group_leak
        from modules.sed.job import clips_of

        run = ctx.run
        if run.split == "auto":
            run.split = "group"  # clips of one recording never on both sides
        parts, _ = load_and_split(run, ctx.datasets)
        check_no_group_leak(parts.train, parts.validation)
        ctx.train, ctx.validation, ctx.test = testing_subsets(run, parts.train, parts.validation,
                                                              parts.test)
        clips = ctx.state["clips"] = (clips_of(ctx.train), clips_of(ctx.validation))
        if not ctx.test.empty:  # held out: only evaluate_test cuts windows of it
            ctx.state["test_clips"] = clips_of(ctx.test)
        # every part's classes, as a classification job's come from the whole table
        classes = sorted({label for part in (*clips, ctx.state.get("test_clips"))
                          if part is not None for events in part["events"]
                          for _, _, label in events})
        if not classes:
            raise ValueError("the clips hold no annotated event: nothing to detect")
        if run.n_classes not in (None, len(classes)):
            raise ValueError(f"parameters.n_classes is {run.n_classes}, the clips have "
                             f"{len(classes)} event classes: {', '.join(classes)}")
        run.n_classes = len(classes)
        ctx.class_names = classes

    def prepare(self, ctx: JobContext) -> None:
        ctx.info.update(event_bins=ctx.run.event_bins, window_seconds=ctx.run.audio_length)

    def datasets(self, ctx: JobContext):
        import tensorflow as tf

        from modules.sed.windows import RandomWindows

        params, classes = ctx.params, ctx.class_names
        train_clips, validation_clips = ctx.state["clips"]
        train = RandomWindows(train_clips, classes, sr=params.sr,
                              window_seconds=params.audio_length, event_bins=params.event_bins,
                              seed=params.seed)
        train.clock = ctx.epoch_clock  # which epoch a pass draws (a resumed job starts later)
        validation = ctx.state["windows"] = validation_windows(validation_clips, classes, params)
        ctx.state["skipped"] = train.skipped + validation.skipped
        print(f"training: {len(train.clips)} clips, validation: {len(validation.clips)} clips; "
              f"{len(classes)} event classes ({', '.join(classes)}); windows of "
              f"{params.audio_length:g} s, {params.event_bins} event bins; "
              f"{len(ctx.state['skipped'])} clips skipped")
        parse = ctx.parse

        def to_model(audio, labels):
            inputs, _ = parse(audio, tf.zeros([tf.shape(audio)[0], len(classes)]))
            return inputs, tf.transpose(labels, [0, 2, 1])  # (batch, event_bins, classes)

        return (train.dataset(params.batch_size).map(to_model),
                validation.dataset(params.batch_size).map(to_model))

    def network(self, ctx: JobContext):
        import keras

        from modules.sed.job import frame_clip_loss, framewise_network

        params = ctx.params
        network = framewise_network(ctx.model_spec, params.shape, len(ctx.class_names),
                                    params.event_bins)
        network.compile(optimizer=keras.optimizers.Adam(params.lr),
                        loss=frame_clip_loss(params.sed_clip_weight),
                        metrics=[keras.metrics.BinaryAccuracy(name="binary_accuracy"),
                                 keras.metrics.AUC(curve="PR", name="pr_auc")])
        return network

    def evaluate(self, ctx: JobContext, model) -> dict:
        from modules.sed.job import evaluate_on_windows

        windows = ctx.state["windows"]
        result = ctx.state["result"] = evaluate_on_windows(model, ctx.params, ctx.class_names,
                                                           windows, ctx.parse)
        save_windows_result(ctx.path, result, windows, "validation")
        return result["metrics"]

    def evaluate_test(self, ctx: JobContext, model) -> dict:
        """The held-out clips' fixed windows, cut only now, through the best model once."""
        from modules.sed.job import evaluate_on_windows

        windows = validation_windows(ctx.state["test_clips"], ctx.class_names, ctx.params)
        ctx.state["skipped"] = ctx.state["skipped"] + windows.skipped
        ctx.state["test_windows"] = windows
        result = evaluate_on_windows(model, ctx.params, ctx.class_names, windows, ctx.parse)
        save_windows_result(ctx.path, result, windows, "test")
        return result["metrics"]

    def report(self, ctx: JobContext, metrics: dict, header: dict) -> str:
        from modules.sed.metrics import format_sed_report

        params, classes, windows = ctx.params, ctx.class_names, ctx.state["windows"]
        lines = {key: header[key] for key in ("job", "trainer", "description", "started",
                                              "datasets")}
        lines.update({
            "task": f"sound event detection, {len(classes)} classes: {', '.join(classes)}",
            "windows": f"{params.audio_length:g} s, {params.event_bins} event bins "
                       f"({params.audio_length / params.event_bins:g} s each)",
            "split": f"{params.split} (validation {len(windows.clips)} clips, training "
                     f"{len(ctx.state['clips'][0])})",
        })
        test = ctx.state.get("test_windows")
        if test is not None:
            lines["test"] = (f"{len(test.clips)} clips, held out: evaluated once, with the "
                             f"best model, after training")
        lines.update({key: header[key] for key in ("model", "epochs", "mlflow")})
        skipped = ctx.state["skipped"]
        width = max(map(len, lines)) + 2
        results = format_sed_report(metrics["frames"], metrics["events"], classes)
        if "test" in metrics:
            title = "Test (held out, best model evaluated once after training)"
            results += (f"\n{title}\n{'-' * len(title)}\n"
                        + format_sed_report(metrics["test"]["frames"], metrics["test"]["events"],
                                            classes))
        return ("spectrain sound event detection report\n" + "=" * 38 + "\n\n"
                + "\n".join(f"{key + ':':<{width}}{value}" for key, value in lines.items())
                + "\n\n" + results + "\nSkipped clips (" + str(len(skipped)) + ")\n"
                + "".join(f"{path}\t{reason}\n" for path, reason in skipped))

    def write_outputs(self, ctx: JobContext, model, metrics: dict) -> None:
        from modules.sed.job import plot_examples

        plot_examples(ctx.path, ctx.state["result"], ctx.state["windows"], ctx.class_names,
                      ctx.params)

    def summary(self, metrics: dict) -> dict:
        return {"best_frame_f1": float(metrics["frames"]["micro"]["f1"]),
                "best_event_f1": float(metrics["events"]["overall"]["f1"])}

    def replay(self, job, parse_function, progress: bool) -> ReplayComparison:
        """The best model on the same validation (and held-out test) windows: the activity and
        metrics must equal the recorded ones."""
        parse = job.parse_builder(parse_function)(job.params)
        recorded = job.recorded_metrics()
        now, difference, identical = replay_part(job, "validation", parse, recorded)
        lines = [f"replay of {job.path}", *_f1_lines("", recorded, now)]
        if job.has_test:
            now["test"], test_difference, same = replay_part(job, "test", parse,
                                                             recorded.get("test") or {})
            lines += _f1_lines("test ", recorded.get("test") or {}, now["test"])
            difference, identical = max(difference, test_difference), identical and same
        lines += [f"largest difference in any frame activity: {difference:.3g}",
                  "IDENTICAL to the recorded metrics" if identical
                  else "DIFFERENT from the recorded metrics"]
        return ReplayComparison(now, recorded, identical, difference, "\n".join(lines) + "\n")

    def detect(self, job, inputs, output_dir, hop_seconds=None, threshold=None,
               median_filter=None, min_duration: float = 0.0, min_gap: float = 0.0,
               progress: bool = True) -> pd.DataFrame:
        """``job``'s best model over long recordings (:func:`modules.inference.detect_with_job`)."""
        import tensorflow as tf

        from modules.sed.detect import detect

        params, classes = job.params, job.class_names
        frame_hop = params.audio_length / params.event_bins
        if hop_seconds is None:
            hop_seconds = frame_hop * max(1, params.event_bins // 2)
        threshold = per_class_setting(threshold, classes, params.sed_threshold, "threshold")
        median_filter = per_class_setting(median_filter, classes, 1, "median filter")
        model, parse = job.model, job.parse

        def predict_fn(batch):
            batch = tf.constant(np.asarray(batch, np.float32))
            model_inputs, _ = parse(batch, tf.zeros([batch.shape[0], len(classes)]))
            return np.asarray(model(model_inputs, training=False))

        return detect(list(inputs), predict_fn, sr=params.sr,
                      window_seconds=params.audio_length, hop_seconds=hop_seconds,
                      frame_hop_seconds=frame_hop, classes=classes, output_dir=output_dir,
                      thresholds=params.sed_threshold if threshold is None else threshold,
                      median_filter=median_filter, min_duration=min_duration,
                      min_gap=min_gap, progress=progress)
