"""``spectrain explain``: run one explanation method on a job's saved model and examples.

Every run writes a new folder ``<job>/interpret/<method>-<time>/`` (nothing earlier is replaced)
with ``settings.json`` (what was asked), one PNG per example (WAVs too for ``nmf``),
``metrics.csv`` (one row per example) and ``summary.txt``, and appends one line per run to
``<job>/interpret/summary.csv`` so methods can be compared on the same job:

* attribution methods (``gradcam``, ``saliency``, ``smoothgrad``, ``ig``): the deletion curve of
  every example (the most salient time-frequency cells removed first, i.e. set to the example's
  quietest level; the predicted class's probability tracked) and its area, beside the area for
  a random order: a faithful map has the smaller area. ``deletion.png`` shows the mean curves.
* ``lime``: the top patches and their weights, the local fit's R^2.
* ``nmf``: the interpreter's fidelity (top-1/3/5, or AUPRC for multi-label models) and
  faithfulness (median probability and logit drops when the relevant components are removed,
  beside as many random components), and per example a WAV of the relevant components.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from modules.interpret.job import ExplainableJob, ExplainError, JobExamples
from modules.interpret.outputs import (SUMMARY_COLUMNS, append_summary, example_name,
                                       new_run_folder, summary_text)
from modules.plot_text import save_figure

__all__ = ["ATTRIBUTION_METHODS", "METHODS", "SUMMARY_COLUMNS", "ExplainOptions", "explain"]

METHODS = ("gradcam", "saliency", "smoothgrad", "ig", "lime", "nmf")
ATTRIBUTION_METHODS = ("gradcam", "saliency", "smoothgrad", "ig")


@dataclass
class ExplainOptions:
    """What to explain and how (the command line's options)."""

    method: str
    positions: Optional[list] = None  # validation examples; None: the first of each class
    all_examples: bool = False
    layer: Optional[str] = None        # Grad-CAM / NMF interpreter layer (None: the default)
    baseline: str = "silence"          # ig: "silence", "zeros" or a reference audio file
    steps: int = 64                    # ig interpolation steps
    n_samples: Optional[int] = None    # smoothgrad (25) / lime (1000) samples
    noise_level: float = 0.15          # smoothgrad
    deletion_steps: int = 20
    fill: str = "floor"                # what removes a cell/patch: "floor" or "silence"
    patch_grid: tuple = (4, 6)         # lime: frequency bands x time segments
    lime_over: str = "patches"         # lime: "patches" or "nmf" (the job's NMF components)
    train: bool = False                # nmf: train the interpreter first
    n_components: int = 100            # nmf dictionary size
    epochs: int = 30                   # nmf interpreter training
    relevance_threshold: float = 0.1   # nmf: components at least this relevant are "relevant"
    seed: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            import difflib

            close = difflib.get_close_matches(self.method, METHODS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ExplainError(f"unknown method {self.method!r}{hint} Methods: "
                               f"{', '.join(METHODS)}")
        if self.all_examples and self.positions:
            raise ExplainError("--index and --all exclude each other")
        if self.lime_over not in ("patches", "nmf"):
            raise ExplainError(f"lime explains 'patches' or 'nmf' components, got "
                               f"{self.lime_over!r}")
        if self.fill not in ("floor", "silence"):
            raise ExplainError(f"fill must be 'floor' or 'silence', got {self.fill!r}")
        if len(self.patch_grid) != 2 or min(self.patch_grid) < 1:
            raise ExplainError(f"patch grid must be two positive numbers (bands, segments), "
                               f"got {self.patch_grid}")


def _display_images(job: ExplainableJob, examples: JobExamples) -> np.ndarray:
    """(n, bins, frames) spectrograms to draw: the input itself, or the log-mel of a waveform."""
    if job.takes_images:
        return examples.inputs[..., 0]
    from modules.frontend import frontend_from_parameters

    return np.asarray(frontend_from_parameters(job.params)(examples.audio))[..., 0]


def explain(job_dir, options: ExplainOptions, progress: bool = True) -> Path:
    """Run ``options.method`` on the job at ``job_dir``; returns the output folder."""
    job = ExplainableJob(job_dir, progress=progress)
    if options.method != "gradcam":
        job.require_images(options.method)
    if (options.method == "nmf" and not options.train) or (
            options.method == "lime" and options.lime_over == "nmf"):
        from modules.interpret.nmf_explain import load_for_job

        load_for_job(job)  # no interpreter yet: say so before decoding anything
    predictions = job.predictions()
    if options.all_examples:
        positions = list(range(len(predictions)))
    else:
        positions = list(options.positions or job.default_positions())
    started = time.time()
    examples = job.examples("validation", positions, "decoding the examples")
    scores, probabilities = job.scores_and_probabilities(examples.inputs)
    predicted = np.argmax(scores, axis=1)
    folder = new_run_folder(job.path, options.method)
    settings = {"job": str(job.path), "method": options.method, "started":
                dt.datetime.now().isoformat(timespec="seconds"), "examples": positions,
                "options": asdict(options)}
    (folder / "settings.json").write_text(json.dumps(settings, indent=2, default=str) + "\n")

    rows = [{"position": int(p), "path": path, "chunk_index": int(c),
             "true": job.class_names[int(np.argmax(label))],
             "predicted": job.class_names[int(k)], "probability": float(probabilities[i, k])}
            for i, (p, path, c, label, k) in enumerate(zip(
                examples.positions, examples.paths, examples.chunk_index, examples.labels,
                predicted))]
    try:
        if options.method in ATTRIBUTION_METHODS:
            summary = _attribution(job, examples, predicted, options, folder, rows, progress)
        elif options.method == "lime":
            summary = _lime(job, examples, predicted, options, folder, rows, progress)
        else:
            summary = _nmf(job, examples, predicted, probabilities, options, folder, rows,
                           progress)
    except BaseException:
        # Keep what the run wrote (plots of the examples done so far) and say why it stopped.
        import traceback

        (folder / "error.txt").write_text(traceback.format_exc())
        raise
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False, float_format="%.6g")
    summary = {"method": options.method, "folder": folder.name, "examples": len(rows),
               **summary, "seconds": round(time.time() - started, 1)}
    text = summary_text(summary)
    (folder / "summary.txt").write_text(text)
    append_summary(job.path / "interpret" / "summary.csv", summary)
    print(text + f"outputs: {folder}")
    return folder


# ------------------------------------------------------------------------- attribution methods
def _attribution(job, examples, predicted, options, folder, rows, progress) -> dict:
    from tqdm.auto import tqdm

    from modules import reports
    from modules.interpret import gradients
    from modules.interpret.gradcam import default_gradcam_layer, grad_cam

    images = _display_images(job, examples)
    method = options.method
    extra = {}
    with tqdm(total=len(examples), desc=method, unit="example", disable=not progress) as bar:
        maps, deltas = [], []
        for start in range(0, len(examples), 8):
            batch = examples.inputs[start:start + 8]
            classes = predicted[start:start + 8]
            if method == "gradcam":
                layer = options.layer or default_gradcam_layer(job.model)
                extra["layer"] = layer
                maps.append(grad_cam(job.model, batch, classes, layer,
                                     output_size=images.shape[1:3]))
            elif method == "saliency":
                maps.append(gradients.attribution_map(
                    gradients.saliency(job.model, batch, classes)))
            elif method == "smoothgrad":
                maps.append(gradients.attribution_map(gradients.smoothgrad(
                    job.model, batch, classes, n_samples=options.n_samples or 25,
                    noise_level=options.noise_level, seed=options.seed + start)))
            else:
                baseline = _ig_baseline(job, options.baseline)
                attributions, delta = gradients.integrated_gradients(
                    job.model, batch, classes, baseline=baseline, steps=options.steps)
                maps.append(gradients.attribution_map(attributions))
                deltas.append(delta)
            bar.update(len(batch))
    maps = np.concatenate(maps)
    if deltas:
        deltas = np.concatenate(deltas)
        for row, delta in zip(rows, deltas):
            row["ig_completeness_delta"] = float(delta)
        extra["baseline"] = options.baseline
        extra["median_abs_completeness_delta"] = float(np.median(np.abs(deltas)))
    for i, row in enumerate(rows):
        name = example_name(row["position"], row["path"], row["chunk_index"])
        reports.plot_spectrogram(images[i], folder / f"{name}.png",
                                 f"{method} for predicted {row['predicted']} "
                                 f"({row['probability']:.2f}): {Path(row['path']).name} "
                                 f"chunk {row['chunk_index']} (true {row['true']})", maps[i],
                                 heatmap_label=method)
    if not job.takes_images:
        extra["deletion"] = "not computed: the model reads waveforms"
        return extra
    fill = _fill(job, options)
    curve = gradients.deletion_curve(job.model, examples.inputs, maps, predicted,
                                     steps=options.deletion_steps, fill=fill)
    random_curve = gradients.deletion_curve(
        job.model, examples.inputs, gradients.random_maps(maps.shape, options.seed), predicted,
        steps=options.deletion_steps, fill=fill)
    for row, area, random_area in zip(rows, curve["area"], random_curve["area"]):
        row["deletion_area"] = float(area)
        row["random_deletion_area"] = float(random_area)
    _plot_deletion(curve, random_curve, folder / "deletion.png",
                   f"{job.path.name}: deletion curves, {method} vs random order "
                   f"({len(rows)} examples)", method)
    extra.update(fill=options.fill, mean_deletion_area=float(np.mean(curve["area"])),
                 mean_random_deletion_area=float(np.mean(random_curve["area"])))
    return extra


def _fill(job: ExplainableJob, options: ExplainOptions):
    """What a removed cell becomes. "floor" (None to the methods): the example's own quietest
    level, a value the model met in training. "silence": the input of a silent clip; in dB
    that is far below any recording's floor (-100 dB against about -80), and replacing even 5%
    of random cells with it takes the ESC-10 baseline CNN to chance, which swamps the
    comparison between methods."""
    return job.silence_input() if options.fill == "silence" else None


def _ig_baseline(job: ExplainableJob, baseline: str):
    if baseline == "silence":
        return job.silence_input()
    if baseline == "zeros":
        return None
    from modules.data.audio import decode_to_chunks

    path = Path(baseline)
    if not path.is_file():
        raise ExplainError(f"--baseline {baseline!r}: expected 'silence', 'zeros' or an audio "
                           f"file")
    params = job.params
    chunks, _, error = decode_to_chunks(path, params.sr, params.audio_length, params.step_size,
                                        params.chunking, params.silence_threshold_db)
    if error or not len(chunks):
        raise ExplainError(f"--baseline {path}: {error or 'no usable chunk'}")
    return job.model_inputs(chunks[:1])[0]


def _plot_deletion(curve: dict, random_curve: dict, path: Path, title: str, label: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for data, name, colour in ((curve, label, "tab:red"), (random_curve, "random order", "grey")):
        mean = data["probabilities"].mean(axis=0)
        ax.plot(data["fractions"], mean, color=colour,
                label=f"{name} (area {data['area'].mean():.3f})")
        ax.fill_between(data["fractions"], np.percentile(data["probabilities"], 25, axis=0),
                        np.percentile(data["probabilities"], 75, axis=0), color=colour, alpha=0.15)
    ax.set_xlabel("fraction of time-frequency cells removed (most salient first)")
    ax.set_ylabel("probability of the predicted class")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title(title, fontsize=9)
    save_figure(fig, path, dpi=100)


# ---------------------------------------------------------------------------------------- LIME
def _lime(job, examples, predicted, options, folder, rows, progress) -> dict:
    from tqdm.auto import tqdm

    if options.lime_over == "nmf":
        return _lime_nmf(job, examples, predicted, options, folder, rows, progress)

    from modules.interpret.lime_explainer import lime_spectrogram, patch_segments, plot_lime

    images = examples.inputs
    bands, time_segments = options.patch_grid
    segments = patch_segments(images.shape[1], images.shape[2], -(-images.shape[1] // bands),
                              -(-images.shape[2] // time_segments))
    fill = _fill(job, options)

    def predict(inputs):
        return job.scores_and_probabilities(inputs, batch_size=64)[1]

    scores = []
    for i, row in enumerate(tqdm(rows, desc="lime", unit="example", disable=not progress)):
        explanation = lime_spectrogram(predict, images[i], segments, int(predicted[i]),
                                       fill=fill, n_samples=options.n_samples or 1000,
                                       seed=options.seed)
        name = example_name(row["position"], row["path"], row["chunk_index"])
        plot_lime(images[i][..., 0], segments, explanation, folder / f"{name}.png",
                  f"LIME for predicted {row['predicted']}: {Path(row['path']).name} "
                  f"chunk {row['chunk_index']} (true {row['true']})",
                  fill=None if fill is None else fill[..., 0])
        top = explanation.top[:5]
        row["lime_r2"] = float(explanation.score)
        row["top_patches"] = " ".join(f"{int(k)}:{w:+.3f}" for k, w in top)
        scores.append(explanation.score)
    return {"patches": int(segments.max()) + 1, "fill": options.fill,
            "median_lime_r2": float(np.median(scores))}


def _lime_nmf(job, examples, predicted, options, folder, rows, progress) -> dict:
    """LIME over the NMF components of each clip: a perturbation keeps some components (soft
    mask, the clip's phase), and the job's front end and model classify the re-synthesised
    audio. The dictionary is the job's newest NMF interpreter's; each clip's activations are its
    own NMF decomposition with that dictionary, so keeping every component gives the clip."""
    import soundfile
    from tqdm.auto import tqdm

    from modules.interpret.lime_explainer import lime_components
    from modules.interpret.nmf import activations, log_magnitude, resynthesize
    from modules.interpret.nmf_explain import plot_nmf_explanation, load_for_job

    interpreter, source = load_for_job(job)
    W, settings = interpreter.W, interpreter.stft_settings
    scores = []
    for i, row in enumerate(tqdm(rows, desc="lime over nmf", unit="example",
                                 disable=not progress)):
        audio = examples.audio[i]
        H = activations(W, log_magnitude(audio, settings)[0])

        def make_inputs(z, audio=audio, H=H):
            return job.model_inputs(np.stack([resynthesize(audio, W, H, np.flatnonzero(keep),
                                                           settings) for keep in z]))

        explanation = lime_components(
            lambda inputs: job.scores_and_probabilities(inputs, batch_size=64)[1], W.shape[1],
            make_inputs, int(predicted[i]), n_samples=options.n_samples or 1000,
            seed=options.seed)
        positive = np.clip(explanation.weights, 0, None)
        relevance = positive / positive.max() if positive.max() > 0 else positive
        kept = [int(k) for k, w in explanation.top if w > 0]
        name = example_name(row["position"], row["path"], row["chunk_index"])
        kept_audio = resynthesize(audio, W, H, kept, settings)
        soundfile.write(str(folder / f"{name}-explanation.wav"), kept_audio, settings.sr)
        plot_nmf_explanation(log_magnitude(audio, settings)[0],
                             log_magnitude(kept_audio, settings)[0],
                             relevance, folder / f"{name}.png",
                             f"LIME over NMF components for {row['predicted']}: "
                             f"{Path(row['path']).name} chunk {row['chunk_index']} (true "
                             f"{row['true']}); R^2 {explanation.score:.2f}", settings)
        row["lime_r2"] = float(explanation.score)
        row["top_components"] = " ".join(f"{int(k)}:{w:+.3f}" for k, w in explanation.top[:5])
        scores.append(explanation.score)
    return {"interpreter": source.name, "components": int(W.shape[1]),
            "median_lime_r2": float(np.median(scores))}


# ----------------------------------------------------------------------------------------- NMF
def _nmf(job, examples, predicted, probabilities, options, folder, rows, progress) -> dict:
    from modules.interpret.nmf_explain import explain_with_nmf

    return explain_with_nmf(job, examples, predicted, probabilities, options, folder, rows,
                            progress)
