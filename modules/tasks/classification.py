"""Classification tasks: one class per example (a chunk of a file, or a feature vector).

* "classification" (``parameters.task = ""``): the classes are the datasets' own labels;
* "pneumonia" and "cw": respiratory label sources (:mod:`modules.data.respiratory`): a
  patient's diagnosis, or none/crackle/wheeze/both per chunk from the annotated cycles; they add
  the ICBHI numbers (sensitivity, specificity, score) and a per-patient table.

Files are decoded once into fixed-length chunks (:mod:`modules.pipeline`); augmentation lists
add examples to each training epoch (:mod:`modules.augment`). The best model's validation
predictions go to ``predictions.csv``; a replay decodes and predicts the same way and must give
the same probabilities. Feature-set datasets (learned representations) train the same way on
feature vectors, without a front end, augmentation of audio, spectrogram examples or Grad-CAM.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from modules.jobs import atomic_write_text
from modules.tasks.base import JobContext, ReplayComparison, Task
from modules.tasks.common import load_and_split, resolve_path, testing_subsets
from modules.tasks.registry import register_task

PREDICTION_FILES = ("predictions.csv", "confusion_matrix.png", "augmentation.json",
                    "patient_confusion_matrix.png", "test_predictions.csv",
                    "test_confusion_matrix.png")
TEST_PREDICTIONS = "test_predictions.csv"


# --- decoding: the one setup that training, replay, explain and pretend share ------------------
def chunk_labeler(table: pd.DataFrame, params, class_names, audio=None):
    """Per-chunk labels of ``table``'s files for the job's task (task "cw"), else None."""
    from modules.data.respiratory import make_chunk_labeler

    sr, length = (audio.sr, audio.audio_length) if audio else (params.sr, params.audio_length)
    return make_chunk_labeler(table, params.task, class_names, sr, length, params.step_size,
                              params.chunking, params.overlap_threshold)


def decode_part(table: pd.DataFrame, params, class_names, skipped, cache: str,
                audio=None):
    """A ``tf.data`` dataset of ``table``'s files decoded into labelled chunks, as every job,
    replay and explanation decodes them (``audio``: the job's AudioConfig)."""
    from modules.data.schema import is_multi_label, row_labels
    from modules.pipeline import AudioConfig, decoded_dataset, multi_hot_labels, one_hot_labels

    audio = audio or AudioConfig.from_parameters(params, table["path"])
    # A multi-label file is labelled with every class it has (task "multilabel").
    labels = (multi_hot_labels(row_labels(table), class_names) if is_multi_label(table)
              else one_hot_labels(table["label"], class_names))
    return decoded_dataset(table["path"], labels, audio, skipped, cache=cache,
                           chunk_labels=chunk_labeler(table, params, class_names, audio))


def random_crop_set(table: pd.DataFrame, params, class_names, skipped, audio, progress: bool):
    """The training files decoded whole (through the decoded-audio cache), for one random
    window per file and epoch (``parameters.random_crops``)."""
    from tqdm import tqdm

    from modules.data.audio import BadAudioError
    from modules.pipeline import RandomCrops, job_reader, one_hot_labels

    if audio.features or params.task == "cw":
        raise ValueError("random_crops takes audio files labelled as a whole (not feature "
                         "vectors, not the per-cycle labels of task 'cw')")
    waveforms, labels, read = [], [], job_reader(audio)
    for path, label in tqdm(zip(table["path"], table["label"]), total=len(table),
                            desc="decoding training audio", unit="file", disable=not progress):
        try:
            waveforms.append(read(path, audio.sr, audio.silence_threshold_db))
            labels.append(label)
        except BadAudioError as error:
            skipped.add(path, error.reason)
    if not waveforms:
        raise ValueError(f"decoding training audio: none of the {len(table)} files gave a "
                         f"usable example")
    return RandomCrops(waveforms, one_hot_labels(labels, class_names), audio.samples,
                       params.seed)


def check_feature_job(augmentations: list) -> None:
    """A job on feature vectors has no audio to augment."""
    from modules.augment import AugmentationError

    audio_domain = [a.name for a in augmentations if a.domain == "audio"]
    if audio_domain:
        raise AugmentationError(
            f"{', '.join(audio_domain)} in audio_aug_params: this job trains on feature vectors "
            f"(a feature set), which have no audio to augment; leave audio_aug_params empty "
            f"(mixup in spec_aug_params mixes feature vectors)")


def _describe_pretrained(params, pretrained: dict | None) -> str:
    if not params.pretrained_path:
        return "none"
    return (f"{params.pretrained_path} ({pretrained['layers_loaded']} layers; new head: "
            f"{', '.join(pretrained['new_head']) or 'none'}; "
            f"{'base frozen' if params.freeze_base else 'all layers trained'})")


def describe_test(ctx: JobContext) -> dict:
    """The report's "test" line, for a job with a held-out test part."""
    if ctx.test is None or ctx.test.empty:
        return {"test": "none (no held-out test part; see README, Data: splits)"}
    return {"test": f"{len(ctx.test)} files -> {ctx.state['test_examples']} examples, held "
                    f"out: evaluated once, with the best model, after training"}


def describe_split(params) -> str:
    folds = params.n_folds or round(1 / params.validation_size)
    fold = f"validation fold {params.validation_fold or 1} of {folds}"
    test = "" if params.test_fold is None else f", test fold {params.test_fold}"
    if params.split in ("fold", "auto"):
        return f"{params.split} (validation fold {params.validation_fold}{test})"
    if params.split == "group":
        return f"group (no group, e.g. patient, on both sides; {fold}{test})"
    if params.split == "split":
        return "split (the table's split column: train / validation / test rows)"
    if params.split == "official":
        return (f"official (the dataset's own split as published, patients on both sides "
                f"kept; its test files are the validation part, as published results use "
                f"them; files without one split by group, {fold})")
    if params.split == "official_patients":
        return (f"official_patients (the dataset's own split, each patient on both sides moved "
                f"to the side holding most of its recordings, ties to train; files without one "
                f"split by group, {fold})")
    return params.split


class Classification(Task):
    """The datasets' labels, or a respiratory ``label_source`` (see the module docstring)."""

    explains = True
    predicts = True
    artifacts = PREDICTION_FILES
    # "file accuracy": the per-recording level, when files were cut into several windows
    listed = {"best_accuracy": "accuracy", "best_balanced_accuracy": "balanced",
              "best_file_accuracy": "file accuracy", "best_icbhi_score": "icbhi score"}

    def __init__(self, label_source: str | None = None):
        self.label_source = label_source

    def metric_names(self) -> list[str]:
        from modules.training_metrics import metric_names

        return metric_names(self.label_source)

    def check(self, params, augmentations: list) -> None:
        from modules.training_metrics import FILE_LEVEL_METRICS

        if params.target_metric not in FILE_LEVEL_METRICS:
            super().check(params, augmentations)

    def callbacks(self, ctx: JobContext) -> list:
        """File-level validation metrics, when the target metric is one."""
        from modules.training_metrics import FILE_LEVEL_METRICS, FileLevelValidation

        if ctx.params.target_metric not in FILE_LEVEL_METRICS:
            return []
        meta = ctx.state["val_meta"]
        return [FileLevelValidation(ctx.state["val_ds"], meta["file_index"], meta["label"])]

    # --- data ---------------------------------------------------------------------------------
    def load_data(self, ctx: JobContext) -> None:
        from modules.data.splits import split_notes_of

        run = ctx.run
        parts, class_names = load_and_split(run, ctx.datasets, self.label_source)
        if split_notes_of(parts.train):
            ctx.info["split_notes"] = split_notes_of(parts.train)
        if parts.note:
            ctx.info["split_note"] = parts.note
        if run.n_classes is None:
            run.n_classes = len(class_names)
        elif run.n_classes != len(class_names):
            raise ValueError(f"parameters.n_classes is {run.n_classes}, but the data has "
                             f"{len(class_names)} classes: {', '.join(class_names)}")
        if run.testing:
            run.n_example_plots = min(run.n_example_plots, 1)  # matplotlib: ~0.15 s a figure
        ctx.train, ctx.validation, ctx.test = testing_subsets(run, parts.train, parts.validation,
                                                              parts.test)
        ctx.class_names = class_names

    def frontend(self, ctx: JobContext) -> bool:
        from modules.data.feature_sets import feature_reference

        return not any(feature_reference(path) for path in ctx.train["path"][:1])

    def example_samples(self, ctx: JobContext) -> int:
        from modules.pipeline import AudioConfig

        audio = AudioConfig.from_parameters(ctx.run, [*ctx.train["path"],
                                                      *ctx.validation["path"]])
        if audio.features:
            check_feature_job(ctx.augmentations)
            ctx.info["inputs"] = "feature vectors"
        ctx.state["audio"] = audio
        return audio.samples

    def prepare(self, ctx: JobContext) -> None:
        from modules.augment import describe

        for augmentation in ctx.augmentations:
            augmentation.bind(ctx.class_names)
            augmentation.check_input(ctx.run.shape)
        ctx.info["augmentation"] = describe(ctx.augmentations)
        atomic_write_text(ctx.path / "augmentation.json",
                          json.dumps(ctx.info["augmentation"], indent=2, default=str) + "\n")

    def datasets(self, ctx: JobContext):
        from modules.pipeline import SkippedFiles, evaluation_dataset, fill_cache

        params, audio = ctx.params, ctx.state["audio"]
        skipped = ctx.state["skipped"] = SkippedFiles()
        # "disk": tf.data cache files inside the job folder, removed when the job has finished.
        cache = params.data_cache if params.data_cache != "disk" else None
        # Augmentation keeps the decoded training examples in memory itself (examples are
        # paired at random), so tf.data does not cache a second copy.
        augmenting = bool(ctx.augmentations) or params.oversample
        if params.random_crops:
            crops = ctx.state["crops"] = random_crop_set(ctx.train, params, ctx.class_names,
                                                         skipped, audio, ctx.progress)
            train_decoded, train_meta = None, {"label": crops.labels}
        else:
            train_decoded = decode_part(ctx.train, params, ctx.class_names, skipped,
                                        "none" if augmenting
                                        else cache or str(ctx.path / ".decoded_train"), audio)
            train_meta = fill_cache(train_decoded, len(ctx.train), "decoding training audio",
                                    ctx.progress, keep_audio=augmenting)
        val_decoded = decode_part(ctx.validation, params, ctx.class_names, skipped,
                                  cache or str(ctx.path / ".decoded_validation"), audio)
        val_meta = fill_cache(val_decoded, len(ctx.validation), "decoding validation audio",
                              ctx.progress)
        print(f"training: {len(ctx.train)} files -> {len(train_meta['label'])} examples; "
              f"validation: {len(ctx.validation)} files -> {len(val_meta['label'])} examples; "
              f"{len(ctx.class_names)} classes; {len(skipped)} files skipped")
        ctx.state.update(train_decoded=train_decoded, train_meta=train_meta, val_meta=val_meta)
        train_ds = self._training_dataset(ctx, train_decoded, train_meta, augmenting)
        val_ds = evaluation_dataset(val_decoded, ctx.parse, params.batch_size,
                                    len(val_meta["label"]))
        ctx.state["val_ds"] = val_ds
        return train_ds, val_ds

    @staticmethod
    def _training_dataset(ctx: JobContext, decoded, meta: dict, augmenting: bool):
        from modules.augment import AugmentedTrainingSet, ExamplePool
        from modules.pipeline import balanced_class_weights, training_dataset
        from modules.resume import epoch_source

        params = ctx.params
        class_weights = balanced_class_weights(meta["label"]) if params.class_weights else None
        crops = ctx.state.get("crops") if params.random_crops else None
        clock = ctx.epoch_clock  # which epoch a pass draws (a resumed job starts later)
        if crops is not None:
            crops.current_epoch = epoch_source(clock)
        if crops is not None and not augmenting:
            return crops.dataset(ctx.parse, params.batch_size, class_weights)
        if crops is not None:  # the pool holds epoch 0's windows; each epoch its own
            meta["audio"] = np.stack([crops.crop(0, i) for i in range(len(crops))])
            meta["padded"] = crops.padded
        if not augmenting:
            return training_dataset(decoded, ctx.parse, params.batch_size, params.seed,
                                    len(meta["label"]), class_weights, clock)
        pool = ExamplePool(meta.pop("audio"), meta["label"], meta["padded"],
                           ctx.state["audio"].sr, params.shape)
        augmented = AugmentedTrainingSet(pool, ctx.augmentations, params.seed,
                                         params.oversample, warn=print, crops=crops,
                                         clock=clock)
        print(augmented.summary())
        ctx.info["training_examples_per_epoch"] = augmented.summary()
        return augmented.dataset(ctx.parse, params.batch_size, class_weights)

    # --- the network --------------------------------------------------------------------------
    def network(self, ctx: JobContext):
        import keras

        from modules.models.feature_mlp import adapt_standardization
        from modules.models.finetune import output_activation
        from modules.pipeline import evaluation_dataset
        from modules.training_metrics import class_accuracy_wanted, training_metrics

        params = ctx.params
        network = self._built_network(ctx)
        # A sigmoid head is a multi-label head (PANNs, HTS-AT): binary cross-entropy per class.
        multi_label = output_activation(network) == "sigmoid"
        loss = (keras.losses.BinaryCrossentropy() if multi_label
                else keras.losses.CategoricalCrossentropy())
        # Standardisation layers (feature_mlp) learn their statistics from the training
        # examples as they are, before any augmentation.
        standardized = adapt_standardization(network, lambda: (
            inputs.numpy() for inputs, _ in evaluation_dataset(ctx.state["train_decoded"],
                                                               ctx.parse, 256)))
        if standardized:
            print(f"standardised the inputs ({', '.join(standardized)}) on the "
                  f"{len(ctx.state['train_meta']['label'])} training examples")
        # class_accuracy only where it is not accuracy again (imbalanced classes) or is followed
        wanted = class_accuracy_wanted(ctx.state["train_meta"]["label"], params.target_metric)
        network.compile(optimizer=keras.optimizers.Adam(params.lr), loss=loss,
                        metrics=training_metrics(params.task, params.n_classes, multi_label,
                                                 class_accuracy=wanted))
        return network

    @staticmethod
    def _built_network(ctx: JobContext):
        from modules.models.finetune import build_network

        params = ctx.params
        network, transfer = build_network(
            ctx.model_spec, params.shape, params.n_classes,
            resolve_path(params.pretrained_path) if params.pretrained_path else None,
            params.freeze_base)
        if transfer:
            print(transfer.summary())
            ctx.info["pretrained"] = {"path": transfer.source,
                                      "layers_loaded": len(transfer.copied),
                                      "new_head": transfer.new_head,
                                      "frozen": len(transfer.frozen)}
        expected = tuple(network.input_shape[1:])
        if expected != tuple(params.shape):
            hint = (" (a model with its own front end takes waveforms: use waveform_parser)"
                    if len(expected) == 1 else "")
            raise ValueError(f"the model takes inputs of shape {expected}, the parse function "
                             f"gives {tuple(params.shape)}{hint}")
        return network

    # --- evaluation and report ----------------------------------------------------------------
    def evaluate(self, ctx: JobContext, model) -> dict:
        table, metrics = self.scored(model, ctx.state["val_ds"], ctx.state["val_meta"],
                                     ctx.validation, ctx.class_names, ctx.params,
                                     "validating best model", ctx.progress)
        table.to_csv(ctx.path / "predictions.csv", index=False, float_format="%.9g")
        ctx.state["predictions"] = table
        return metrics

    def scored(self, model, dataset, meta: dict, table: pd.DataFrame, class_names, params,
               description: str, progress: bool) -> tuple[pd.DataFrame, dict]:
        """(predictions, metrics) of ``model`` on one decoded part (``table``'s files)."""
        from modules import evaluation

        return evaluation.evaluate_model(model, dataset, meta, table["path"], class_names,
                                         description, progress,
                                         groups=evaluation.file_groups(table),
                                         task=params.task or None)

    def evaluate_test(self, ctx: JobContext, model) -> dict:
        """The held-out test files, decoded only now (after training), through the best model
        once; ``test_predictions.csv`` beside ``predictions.csv``."""
        table, metrics, n_examples = self.evaluate_part(
            model, ctx.test, ctx.params, ctx.class_names, ctx.parse, ctx.state["skipped"],
            "test", "testing best model", ctx.progress, ctx.state["audio"])
        table.to_csv(ctx.path / TEST_PREDICTIONS, index=False, float_format="%.9g")
        ctx.state["test_examples"] = n_examples
        return metrics

    def evaluate_part(self, model, table: pd.DataFrame, params, class_names, parse, skipped,
                      part: str, description: str, progress: bool, audio=None):
        """(predictions, metrics, examples) of ``model`` on ``table``'s files, decoded and
        parsed as the job decodes its validation files (a job's test part, and its replay)."""
        from modules.pipeline import evaluation_dataset, fill_cache

        decoded = decode_part(table, params, class_names, skipped, "memory", audio)
        meta = fill_cache(decoded, len(table), f"decoding {part} audio", progress)
        dataset = evaluation_dataset(decoded, parse, params.batch_size, len(meta["label"]))
        predictions, metrics = self.scored(model, dataset, meta, table, class_names, params,
                                           description, progress)
        return predictions, metrics, len(meta["label"])

    def report(self, ctx: JobContext, metrics: dict, header: dict) -> str:
        from modules import reports
        from modules.data.splits import describe_split_notes

        params, info = ctx.params, ctx.info
        per_epoch = info.get("training_examples_per_epoch")
        lines = {key: header[key] for key in ("job", "trainer", "description", "started",
                                              "reported", "datasets")}
        lines.update({
            "classes": f"{len(ctx.class_names)}: {', '.join(ctx.class_names)}",
            "split": describe_split(params),
            **({"split notes": describe_split_notes(info["split_notes"])}
               if info.get("split_notes") else {}),
            **({"split note": info["split_note"]} if info.get("split_note") else {}),
            "training": f"{len(ctx.train)} files -> {len(ctx.state['train_meta']['label'])} "
                        f"examples" + (f" ({per_epoch})" if per_epoch else ""),
            "augmentation": "; ".join(f"{a.domain}: {a!r}" for a in ctx.augmentations) or "none",
            "task": params.task or "labels of the datasets",
            "validation": f"{len(ctx.validation)} files -> "
                          f"{len(ctx.state['val_meta']['label'])} examples",
            **describe_test(ctx),
            "model": header["model"],
            "pretrained": _describe_pretrained(params, info.get("pretrained")),
            "input": f"{params.shape} from {info['parse_function']}",
        })
        lines.update({key: header[key] for key in ("epochs", "mlflow")})
        skipped = ctx.state["skipped"].items()
        atomic_write_text(ctx.path / "skipped.txt", "".join(f"{p}\t{r}\n" for p, r in skipped))
        return reports.format_report(lines, metrics, ctx.class_names, skipped)

    def write_outputs(self, ctx: JobContext, model, metrics: dict) -> None:
        from modules import reports
        from modules.tasks.examples import write_examples

        params, info, path = ctx.params, ctx.info, ctx.path
        title = f"{params.mode}/{info['trainer']} job {ctx.job.job_id}"
        reports.plot_confusion_matrix(metrics["examples"]["confusion_matrix"], ctx.class_names,
                                      path / "confusion_matrix.png",
                                      title=f"{title}: accuracy "
                                            f"{metrics['examples']['accuracy']:.3f}")
        if "test" in metrics:
            test = metrics["test"]["examples"]
            reports.plot_confusion_matrix(test["confusion_matrix"], ctx.class_names,
                                          path / "test_confusion_matrix.png",
                                          title=f"{title}: test accuracy {test['accuracy']:.3f}")
        if "patients" in metrics["examples"]:
            reports.plot_patient_confusion(metrics["examples"]["patients"],
                                           path / "patient_confusion_matrix.png",
                                           title=f"{title}: patients")
        table = ctx.state["predictions"]
        if ctx.state["audio"].features:
            # Feature vectors have no time-frequency layout to draw or to attribute.
            atomic_write_text(path / "examples.txt", "no spectrogram examples or Grad-CAM maps: "
                              "this job's inputs are feature vectors, not spectrograms\n")
            reports.write_true_negatives(table, reports.outcome_sets(table, ctx.class_names),
                                         path / "tns.txt")
        else:
            write_examples(path, model, ctx.state["val_ds"], table, ctx.class_names, params,
                           ctx.progress)

    def summary(self, metrics: dict) -> dict:
        examples = metrics["examples"]
        summary = {"best_accuracy": examples["accuracy"],
                   "best_balanced_accuracy": examples["balanced_accuracy"],
                   "best_macro_f1": examples["macro_f1"]}
        for key in ("sensitivity", "specificity", "icbhi_score", "roc_auc"):  # respiratory
            value = examples.get(key)
            if isinstance(value, float) and np.isfinite(value):
                summary[f"best_{key}"] = value
        clips = metrics.get("clips")
        if clips:  # files cut into several windows: the per-recording numbers too
            summary["best_file_accuracy"] = clips["accuracy"]
            summary["best_file_balanced_accuracy"] = clips["balanced_accuracy"]
        return summary

    def window_predictor(self, job, embeddings: bool = False):
        """The job's parse function and best model over a batch of waveform windows, or of
        feature vectors for a job on a feature set (and the input of its classification head,
        with ``embeddings``)."""
        from modules.prediction import model_window_predictor

        if job.feature_vectors and embeddings:
            raise ValueError(f"{job.path} trained on feature vectors: its inputs are "
                             f"embeddings already")
        return model_window_predictor(job.model, job.parse, len(job.class_names), embeddings)

    # --- replay -------------------------------------------------------------------------------
    @staticmethod
    def replay_inputs(job, parse_function, progress: bool):
        """(validation table, chunk metadata, evaluation dataset, skipped files) of ``job``'s
        validation files, decoded and parsed as the job did."""
        from modules.pipeline import SkippedFiles, evaluation_dataset, fill_cache

        params = job.params
        validation = job.table("validation")
        test = f" and {len(job.table('test'))} held-out test" if job.has_test else ""
        print(f"replaying {job.path} ({len(validation)} validation{test} files, "
              f"recorded best epoch {job.info.get('best_epoch', '?')})")
        parse = job.parse_builder(parse_function)(params)
        skipped = SkippedFiles()
        decoded = decode_part(validation, params, job.class_names, skipped, "memory")
        meta = fill_cache(decoded, len(validation), "decoding validation audio", progress)
        eval_ds = evaluation_dataset(decoded, parse, params.batch_size, len(meta["label"]))
        return validation, meta, eval_ds, skipped

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
        text = _replay_text(job, metrics, recorded, difference, identical, skipped,
                            len(validation))
        return ReplayComparison(metrics, recorded, identical, difference, text)

    def replay_test(self, job, parse_function, skipped, metrics: dict, recorded: dict,
                    progress: bool) -> tuple[float, bool]:
        """Replay ``job``'s test part into ``metrics["test"]``: (largest probability
        difference from ``test_predictions.csv``, whether its metrics equal the recorded)."""
        test = job.table("test")
        parse = job.parse_builder(parse_function)(job.params)
        table, metrics["test"], _ = self.evaluate_part(
            job.model, test, job.params, job.class_names, parse, skipped, "test",
            "replaying test", progress)
        difference = largest_probability_difference(job, table, job.class_names,
                                                    TEST_PREDICTIONS)
        same = isinstance(recorded.get("test"), dict) and self.same_metrics(recorded["test"],
                                                                            metrics["test"])
        return difference, same

    @staticmethod
    def same_metrics(recorded: dict, replayed: dict) -> bool:
        """Whether every level's headline numbers and confusion matrix are as recorded."""
        return all(recorded.get(level, {}).get(key) == replayed[level][key]
                   for level in replayed if level != "test"
                   for key in ("accuracy", "balanced_accuracy", "macro_f1", "confusion_matrix"))


def largest_probability_difference(job, table: pd.DataFrame, class_names,
                                   name: str = "predictions.csv") -> float:
    """Largest difference between recorded (``name``) and replayed class probabilities (NaN:
    none kept)."""
    path = job.path / name
    if not path.exists():
        return float("nan")
    before = pd.read_csv(path)
    if len(before) != len(table):
        return float("nan")
    columns = [f"p_{name}" for name in class_names]
    # 9 significant digits round-trip float32 exactly when read back as float32.
    return float(np.abs(before[columns].to_numpy(np.float32)
                        - table[columns].to_numpy(np.float32)).max())


def compared_levels(metrics: dict, recorded: dict) -> list[tuple[str, dict, dict]]:
    """(name, replayed level, recorded level) of every level, the test part's named "test
    examples", "test clips"... after the validation ones."""
    levels = [(name, level, recorded.get(name) or {}) for name, level in metrics.items()
              if name != "test" and isinstance(level, dict)]
    test, was = metrics.get("test") or {}, recorded.get("test") or {}
    return levels + [(f"test {name}", level, was.get(name) or {}) for name, level in test.items()]


def _replay_text(job, metrics, recorded, difference, identical, skipped, n_files) -> str:
    from modules import reports

    header = {"replay of": str(job.path),
              "replayed": dt.datetime.now().isoformat(timespec="seconds"),
              "model": str(job.path / "best_model.keras"), "validation files": n_files,
              **({"test files": len(job.table("test"))} if job.has_test else {})}
    text = reports.format_report(header, metrics, job.class_names, skipped.items())
    lines = ["Comparison with the recorded job", "--------------------------------"]
    for name, level, was_level in compared_levels(metrics, recorded):
        was = was_level.get("accuracy")
        lines.append(f"{name}: recorded accuracy {was if was is None else f'{was:.6f}'}, "
                     f"replayed {level['accuracy']:.6f}")
    lines.append(f"largest difference in any class probability: {difference:.3g}")
    lines.append("IDENTICAL to the recorded metrics" if identical
                 else "DIFFERENT from the recorded metrics")
    return text + "\n" + "\n".join(lines) + "\n"


register_task("classification")(Classification)


@register_task("pneumonia", label_source="pneumonia")
class Pneumonia(Classification):
    """Respiratory recordings labelled by the patient's diagnosis: no_pneumonia / pneumonia."""


@register_task("cw", label_source="cw")
class CracklesWheezes(Classification):
    """Respiratory chunks labelled from the annotated cycles: none / crackle / wheeze / both."""
