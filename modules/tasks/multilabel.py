"""The "multilabel" task: every class of a clip (audio tagging), from clip-level labels.

Its data are multi-label tables (:mod:`modules.data.schema`, column ``labels``): DCASE-style
weak-label lists (:mod:`modules.data.weak_labels`), PANNs packs with multi-label targets
(:mod:`modules.data.packs`); single-label datasets may be mixed in (each file has its one class).
A clip with none of the classes is a negative example. Every chunk of a file is labelled with
the file's classes (weak labels do not say when a class is heard).

The model needs a sigmoid head (``baseline_cnn(..., multi_label=True)``, ``mixednet(...,
multi_label=True)``, PANNs, HTS-AT); it is trained with binary cross-entropy per class and
scored by :mod:`modules.multilabel_metrics` (mAP, F1 at ``parameters.multilabel_threshold``,
per-class numbers, per chunk and per recording). Decoding, augmentation (mixup mixes the label
vectors) and the front end are those of classification.
"""

from __future__ import annotations

import datetime as dt

from modules.jobs import atomic_write_text
from modules.tasks.base import JobContext, ReplayComparison, Task
from modules.tasks.classification import (Classification, compared_levels, describe_split,
                                          describe_test, largest_probability_difference)
from modules.tasks.common import load_and_split, testing_subsets
from modules.tasks.registry import register_task

SUMMARY_KEYS = {"best_map": "mean_average_precision", "best_micro_f1": "micro_f1",
                "best_macro_f1": "macro_f1", "best_macro_roc_auc": "macro_roc_auc"}


@register_task("multilabel")
class MultiLabel(Classification):
    """Independent presence of every class (see the module docstring)."""

    explains = False
    multi_label = True
    artifacts = ("predictions.csv", "per_class.png", "augmentation.json",
                 "test_predictions.csv")
    listed = {"best_map": "mAP", "best_micro_f1": "micro F1"}

    def __init__(self):
        super().__init__(label_source=None)

    def metric_names(self) -> list[str]:
        return ["binary_accuracy", "auc", "pr_auc"]

    def check(self, params, augmentations: list) -> None:
        refused = [name for name in ("class_weights", "oversample") if getattr(params, name)]
        if refused:
            raise ValueError(f"parameters.{refused[0]} balances one class per example; a "
                             f"multi-label example has several: leave it False for task "
                             f"\"multilabel\"")
        if not 0.0 < params.multilabel_threshold < 1.0:
            raise ValueError(f"parameters.multilabel_threshold must be between 0 and 1, got "
                             f"{params.multilabel_threshold}")
        Task.check(self, params, augmentations)  # not classification's file-level metrics

    def callbacks(self, ctx: JobContext) -> list:
        return []

    def load_data(self, ctx: JobContext) -> None:
        run = ctx.run
        parts, class_names = load_and_split(run, ctx.datasets, multi_label=True)
        if parts.note:
            ctx.info["split_note"] = parts.note
        if run.n_classes not in (None, len(class_names)):
            raise ValueError(f"parameters.n_classes is {run.n_classes}, but the data has "
                             f"{len(class_names)} classes: {', '.join(class_names)}")
        run.n_classes = len(class_names)
        if run.testing:
            run.n_example_plots = 0
        ctx.train, ctx.validation, ctx.test = testing_subsets(run, parts.train, parts.validation,
                                                              parts.test)
        ctx.class_names = class_names

    def network(self, ctx: JobContext):
        import keras

        from modules.models.finetune import output_activation

        network = self._built_network(ctx)
        activation = output_activation(network)
        if activation != "sigmoid":
            raise ValueError(f"model {network.name!r} ends in {activation}: a multi-label job "
                             f"needs a sigmoid head (one probability per class), e.g. "
                             f"functools.partial(baseline_cnn, multi_label=True)")
        n = ctx.params.n_classes
        network.compile(optimizer=keras.optimizers.Adam(ctx.params.lr),
                        loss=keras.losses.BinaryCrossentropy(),
                        metrics=[keras.metrics.BinaryAccuracy(name="binary_accuracy"),
                                 keras.metrics.AUC(name="auc", multi_label=True, num_labels=n),
                                 keras.metrics.AUC(name="pr_auc", curve="PR", multi_label=True,
                                                   num_labels=n)])
        return network

    def evaluate(self, ctx: JobContext, model) -> dict:
        table, metrics = self.scored(model, ctx.state["val_ds"], ctx.state["val_meta"],
                                     ctx.validation, ctx.class_names, ctx.params,
                                     "validating best model", ctx.progress)
        table.to_csv(ctx.path / "predictions.csv", index=False, float_format="%.9g")
        return metrics

    def scored(self, model, dataset, meta: dict, table, class_names, params, description: str,
               progress: bool):
        from modules.multilabel_metrics import evaluate_multilabel

        return evaluate_multilabel(model, dataset, meta, table["path"], class_names,
                                   params.multilabel_threshold, description, progress)

    def report(self, ctx: JobContext, metrics: dict, header: dict) -> str:
        from modules.multilabel_metrics import format_report

        params = ctx.params
        lines = {key: header[key] for key in ("job", "trainer", "description", "started",
                                              "reported", "datasets")}
        lines.update({
            "task": "multilabel (every class of a clip; sigmoid head, binary cross-entropy)",
            "classes": f"{len(ctx.class_names)}: {', '.join(ctx.class_names)}",
            "split": describe_split(params),
            **({"split note": ctx.info["split_note"]} if ctx.info.get("split_note") else {}),
            "training": f"{len(ctx.train)} files -> "
                        f"{len(ctx.state['train_meta']['label'])} examples",
            "validation": f"{len(ctx.validation)} files -> "
                          f"{len(ctx.state['val_meta']['label'])} examples",
            **describe_test(ctx),
            "augmentation": "; ".join(f"{a.domain}: {a!r}" for a in ctx.augmentations) or "none",
            "threshold": f"{params.multilabel_threshold:g} (a class is present from this "
                         f"probability on)",
            "model": header["model"],
            "input": f"{params.shape} from {ctx.info['parse_function']}",
        })
        lines.update({key: header[key] for key in ("epochs", "mlflow")})
        skipped = ctx.state["skipped"].items()
        atomic_write_text(ctx.path / "skipped.txt", "".join(f"{p}\t{r}\n" for p, r in skipped))
        return format_report(lines, metrics, ctx.class_names, skipped)

    def write_outputs(self, ctx: JobContext, model, metrics: dict) -> None:
        from modules.multilabel_metrics import plot_per_class

        level = metrics.get("clips", metrics["examples"])
        plot_per_class(level, ctx.class_names, ctx.path / "per_class.png",
                       f"{ctx.params.mode}/{ctx.info['trainer']} job {ctx.job.job_id}")

    def summary(self, metrics: dict) -> dict:
        level = metrics.get("clips", metrics["examples"])
        return {key: level[name] for key, name in SUMMARY_KEYS.items()
                if level.get(name) is not None}

    def replay(self, job, parse_function, progress: bool) -> ReplayComparison:
        params, class_names = job.params, job.class_names
        validation, meta, eval_ds, skipped = self.replay_inputs(job, parse_function, progress)
        table, metrics = self.scored(job.model, eval_ds, meta, validation, class_names, params,
                                     "replaying", progress)
        recorded = job.recorded_metrics()
        difference = largest_probability_difference(job, table, class_names)
        identical = bool(recorded) and self.same_metrics(recorded, metrics)
        if job.has_test:  # the held-out part again, compared on its own
            test_difference, same = self.replay_test(job, parse_function, skipped, metrics,
                                                     recorded, progress)
            difference, identical = max(difference, test_difference), identical and same
        text = _replay_text(job, metrics, recorded, difference, identical, skipped)
        return ReplayComparison(metrics, recorded, identical, difference, text)


    @staticmethod
    def same_metrics(recorded: dict, replayed: dict) -> bool:
        """Whether every level is exactly as recorded."""
        return all(recorded.get(level) == _plain(replayed[level])
                   for level in replayed if level != "test")


def _plain(level: dict) -> dict:
    """A level as metrics.json holds it (numpy numbers as Python ones)."""
    import json

    from modules.tasks.common import json_default

    return json.loads(json.dumps(level, default=json_default))


def _replay_text(job, metrics, recorded, difference, identical, skipped) -> str:
    from modules.multilabel_metrics import format_report

    header = {"replay of": str(job.path),
              "replayed": dt.datetime.now().isoformat(timespec="seconds"),
              "model": str(job.path / "best_model.keras")}
    text = format_report(header, metrics, job.class_names, skipped.items())
    lines = ["Comparison with the recorded job", "--------------------------------"]
    for name, level, was_level in compared_levels(metrics, recorded):
        was, now = was_level.get("mean_average_precision"), level["mean_average_precision"]
        lines.append(f"{name}: recorded mAP {'n/a' if was is None else f'{was:.6f}'}, "
                     f"replayed {'n/a' if now is None else f'{now:.6f}'}")
    lines.append(f"largest difference in any class probability: {difference:.3g}")
    lines.append("IDENTICAL to the recorded metrics" if identical
                 else "DIFFERENT from the recorded metrics")
    return text + "\n" + "\n".join(lines) + "\n"
