"""A finished job's best model as a file that runs without spectrain: SavedModel, LiteRT or
ONNX, its front end inside, checked by each format's own runtime.

The exported model takes ``(batch, samples)`` float32 mono waveforms at the job's rate (one
window of ``audio_length`` seconds each) and gives ``(batch, classes)`` probabilities. Its front
end is the job's own (a ``spec_parser`` job's log-mel settings, or the LogMelSpectrogram layer
inside a PANNs / HTS-AT model) in its *portable* form: the STFT as a product with a DFT matrix,
so the graph holds no FFT and no complex tensor. LiteRT's builtin RFFT takes only power-of-two
lengths and tf2onnx converts an FFT only before a magnitude; the portable STFT needs neither, so
every ``n_fft`` exports to every format with builtin ops only (no Flex delegate: checked in the
written file).

Beside the model: ``labels.txt`` (one class per line, in output order) and ``model.json``
(format, file, input and output, rate, window and hop, classes, the job's numbers, spectrain
version, job id, Flex, quantisation, and the verification). After writing, the model is run by
its own runtime (TensorFlow for the SavedModel, ``ai_edge_litert`` for LiteRT, ``onnxruntime``
for ONNX) on the job's validation windows and compared with the job's Keras pipeline: the
largest difference in any probability and the validation accuracy (micro F1 for multi-label
jobs) of each. A float32 export must agree within :data:`FLOAT32_TOLERANCE`, or the export is
refused (and removed).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from modules import __version__
from modules.errors import UserError
from modules.job_folder import Job, JobFolderError

FORMATS = {"savedmodel": "savedmodel", "litert": "model.tflite", "onnx": "model.onnx"}
KERAS_FORMATS = {"litert": "litert", "onnx": "onnx"}
QUANTIZATIONS = ("float16", "int8")
FLOAT32_TOLERANCE = 1e-4
RUNTIMES = {"savedmodel": "tensorflow", "litert": "ai_edge_litert", "onnx": "onnxruntime"}


class ExportError(UserError, ValueError):
    """An export that cannot be made or does not verify; the message says why, in one line."""


# float16 cannot hold a power floor of 1e-10 (librosa's amin): it becomes 0, and a silent window
# then gives log(0) and NaN. A float16 export floors power at float16's smallest value instead.
FLOAT16_TINY = 6.0e-8


def portable_settings(config: dict, quantize: str | None = None) -> dict:
    """A LogMelSpectrogram config in its portable form (and float16-safe for ``float16``)."""
    config = {**config, "portable": True}
    if quantize == "float16":
        config["amin"] = max(config["amin"], FLOAT16_TINY)
    return config


def portable_copy(model, quantize: str | None = None):
    """``model`` with every LogMelSpectrogram layer in its portable form, same weights."""
    import keras

    from modules.frontend import LogMelSpectrogram

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, LogMelSpectrogram):
            config = portable_settings(config, quantize)
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def exportable_network(job: Job, quantize: str | None = None):
    """waveform window -> probabilities: the job's front end (portable) and best model."""
    import keras

    from modules.frontend import LogMelSpectrogram, frontend_from_parameters

    parse_name, params = job.info.get("parse_function", ""), job.params
    samples = int(round(params.audio_length * params.sr))
    waveform = keras.Input((samples,), name="waveform")
    if parse_name.endswith(":spec_parser"):
        front = LogMelSpectrogram.from_config(
            portable_settings(frontend_from_parameters(params).get_config(), quantize))
        outputs = job.model(front(waveform))
    elif parse_name.endswith(":waveform_parser"):
        outputs = portable_copy(job.model, quantize)(waveform)
    else:
        raise ExportError(f"{job.path}: parse function {parse_name or '?'}: export holds the "
                          f"front ends of spec_parser and waveform_parser jobs only")
    return keras.Model(waveform, outputs, name=f"{job.model.name}_exported")


def _converter_options(quantize: str | None) -> dict:
    import tensorflow as tf

    if quantize is None:
        return {}
    options = {"optimizations": [tf.lite.Optimize.DEFAULT]}  # int8: dynamic-range weights
    if quantize == "float16":
        options["target_spec"] = {"supported_types": [tf.float16]}
    return options


def save_savedmodel(network, path: Path) -> None:
    """A SavedModel with one ``serve`` function (also the ``serving_default`` signature).
    tf.saved_model.save, not Keras' ExportArchive: that one stored every variable twice (642
    against 305 MB for CNN14)."""
    import tensorflow as tf

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            self.network = network

        @tf.function(input_signature=[tf.TensorSpec([None, *network.input_shape[1:]],
                                                    tf.float32, name="waveform")])
        @tf.autograph.experimental.do_not_convert
        def serve(self, waveform):
            return self.network(waveform, training=False)

    module = Serving()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


def write_format(network, fmt: str, folder: Path, quantize: str | None = None) -> Path:
    """The exported model in ``folder`` (``FORMATS[fmt]``), written by TensorFlow (SavedModel)
    or Keras' exporters (LiteRT, ONNX)."""
    path = folder / FORMATS[fmt]
    if fmt == "savedmodel":
        save_savedmodel(network, path)
        return path
    network(np.zeros((1, *network.input_shape[1:]), np.float32))  # ONNX export needs a call
    network.export(str(path), format=KERAS_FORMATS[fmt], verbose=False,
                   **(_converter_options(quantize) if fmt == "litert" else {}))
    return path


def runtime_predictor(fmt: str, path: Path):
    """``f(windows) -> probabilities`` that runs the exported file with its own runtime."""
    if fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))  # kept: its functions use its variables
        return lambda windows: np.asarray(loaded.serve(tf.constant(windows)))
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda windows: session.run(None, {name: windows})[0]
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def predict(windows):
        interpreter.resize_tensor_input(source["index"], list(windows.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(source["index"], windows)
        interpreter.invoke()
        return interpreter.get_tensor(target["index"]).copy()

    return predict


def validation_windows(job: Job, limit: int | None = None):
    """(windows, targets) of the job's validation files, decoded as the job decoded them."""
    from modules.pipeline import SkippedFiles
    from modules.tasks.classification import decode_part

    decoded = decode_part(job.table("validation"), job.params, job.class_names, SkippedFiles(),
                          "none")
    windows, targets = [], []
    for element in decoded.take(limit) if limit else decoded:
        windows.append(element["audio"].numpy())
        targets.append(element["label"].numpy())
    if not windows:
        raise ExportError(f"{job.path}: none of its validation files could be read, so the "
                          f"export cannot be verified")
    return np.stack(windows).astype(np.float32), np.stack(targets)


def _batched(predict, windows: np.ndarray, batch: int = 32) -> np.ndarray:
    return np.concatenate([np.asarray(predict(windows[i:i + batch]), np.float32)
                           for i in range(0, len(windows), batch)])


def _score(probabilities, targets, multi_label: bool, threshold: float) -> float:
    if not multi_label:
        return float(np.mean(probabilities.argmax(axis=1) == targets.argmax(axis=1)))
    from sklearn.metrics import f1_score

    return float(f1_score(targets > 0.5, probabilities >= threshold, average="micro",
                          zero_division=0))


def verify(job: Job, fmt: str, path: Path, limit: int | None = None) -> dict:
    """The exported file through its own runtime against the job's Keras pipeline, on the
    job's validation windows: the largest difference and each one's score."""
    windows, targets = validation_windows(job, limit)
    keras_probabilities = _batched(job.task.window_predictor(job), windows)
    try:
        exported = _batched(runtime_predictor(fmt, path), windows)
    except Exception as error:  # a file its own runtime cannot load or run
        first = next((line for line in str(error).splitlines() if line.strip()), "")
        raise ExportError(f"the {fmt} export of model {job.model.name!r} does not run in "
                          f"{RUNTIMES[fmt]} ({type(error).__name__}: {first[:300]})") from None
    multi_label, threshold = job.task.multi_label, job.params.multilabel_threshold
    return {"runtime": RUNTIMES[fmt], "windows": int(len(windows)),
            "metric": "micro F1" if multi_label else "accuracy",
            "keras": _score(keras_probabilities, targets, multi_label, threshold),
            "exported": _score(exported, targets, multi_label, threshold),
            "largest_difference": float(np.abs(exported - keras_probabilities).max()),
            "non_finite_windows": int((~np.isfinite(exported)).any(axis=1).sum())}


def needs_flex(path: Path) -> bool:
    """Whether a LiteRT file holds TensorFlow ops that only the Flex delegate runs."""
    return b"Flex" in path.read_bytes()


def _open_job(job_dir) -> Job:
    job = Job(job_dir, required=("params.json", "job.json", "best_model.keras",
                                 "validation.csv"))
    if job.status != "finished":
        raise JobFolderError(f"{job.path}: the job did not finish (status {job.status!r}); "
                             f"export a finished job")
    if not job.task.predicts:
        raise ExportError(f"{job.path}: task {job.params.task!r}: export serves window "
                          f"classifiers (classification, respiratory, multi-label jobs)")
    if job.feature_vectors:
        raise ExportError(f"{job.path} trained on feature vectors (a feature set), not audio: "
                          f"there is no waveform model to export")
    return job


def model_card(job: Job, fmt: str, path: Path, quantize, check: dict) -> dict:
    """What model.json says of an export (see the module docstring)."""
    params = job.params
    return {
        "format": fmt, "file": path.name, "quantize": quantize or "none",
        "needs_flex_delegate": needs_flex(path) if fmt == "litert" else None,
        "input": {"name": "waveform", "shape": [None, int(round(params.audio_length *
                                                                params.sr))],
                  "dtype": "float32", "sample_rate": params.sr, "mono": True,
                  "window_seconds": params.audio_length, "hop_seconds": params.step_size},
        "output": {"shape": [None, len(job.class_names)], "dtype": "float32",
                   "multi_label": job.task.multi_label,
                   "threshold": params.multilabel_threshold if job.task.multi_label else None},
        "class_names": job.class_names,
        "front_end": "portable STFT (DFT matrix) + the job's log-mel settings, inside the model",
        "job": {"path": str(job.path), "job_id": job.path.name, "trainer":
                job.info.get("trainer"), "task": params.task or "classification"},
        "metrics": {**job.task.summary(job.recorded_metrics()),
                    **job.task.test_summary(job.recorded_metrics())},
        "spectrain_version": __version__,
        "verification": check,
    }


def export_job(job_dir, fmt: str, output_dir, quantize: str | None = None,
               limit: int | None = None) -> dict:
    """Export ``job_dir``'s best model to ``output_dir`` (a new folder), verify it, and write
    ``labels.txt`` and ``model.json``; returns the model card.

    Raises:
        JobFolderError, ExportError: not a finished job of a kind that exports; a format or
            quantisation that does not exist; an export that does not verify (removed).
        FileExistsError: ``output_dir`` exists and is not empty.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose {', '.join(FORMATS)}")
    if quantize is not None and (fmt != "litert" or quantize not in QUANTIZATIONS):
        raise ExportError(f"--quantize {quantize}: LiteRT exports take "
                          f"{' or '.join(QUANTIZATIONS)}")
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()):
        raise FileExistsError(f"refusing to overwrite {output_dir}: choose a new --output")
    job = _open_job(job_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        network = exportable_network(job, quantize)
        try:
            path = write_format(network, fmt, output_dir, quantize)
        except Exception as error:  # each converter fails in its own way: one line for all
            first = next((line for line in str(error).splitlines() if line.strip()), "")
            raise ExportError(f"the {fmt} converter cannot hold model {job.model.name!r} "
                              f"({type(error).__name__}: {first[:300]})") from None
        check = verify(job, fmt, path, limit)
        if check["non_finite_windows"]:
            raise ExportError(f"the {fmt} export gives NaN or infinite probabilities for "
                              f"{check['non_finite_windows']} of {check['windows']} validation "
                              f"windows")
        if quantize is None and not check["largest_difference"] <= FLOAT32_TOLERANCE:
            raise ExportError(f"the {fmt} export differs from the Keras model by "
                              f"{check['largest_difference']:.3g} (more than "
                              f"{FLOAT32_TOLERANCE:g}) on the validation windows")
    except Exception:
        shutil.rmtree(output_dir, ignore_errors=True)
        raise
    card = model_card(job, fmt, path, quantize, check)
    (output_dir / "labels.txt").write_text("".join(f"{name}\n" for name in job.class_names))
    (output_dir / "model.json").write_text(json.dumps(card, indent=2) + "\n")
    return card
