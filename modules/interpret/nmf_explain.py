"""``spectrain explain --method nmf``: the Listen-to-Interpret method (:mod:`.nmf`) on a job.

``--train`` learns the NMF dictionary on the job's *training* clips (log1p|STFT| with the job's
own n_fft and hop, so H has one frame per spectrogram frame) and trains the interpreter on the
classifier's feature maps of the same clips; it is saved in a new folder
``<job>/interpret/nmf-interpreter-<time>/`` (dictionary, interpreter, settings, loss history).
Without ``--train`` the newest interpreter of the job is used.

Per explained example: ``<example>-input.wav``, ``<example>-explanation.wav`` (the components
relevant to the predicted class, with the input's phase) and a PNG (input, explanation,
relevance of the top components). Fidelity is measured over *all* validation examples of the
job; faithfulness over the explained examples.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from modules.interpret.job import ExplainableJob, ExplainError
from modules.interpret.outputs import example_name
from modules.jobs import stamped_path
from modules.plot_text import save_figure

INTERPRETER_PREFIX = "nmf-interpreter-"


def interpreter_folders(job_dir: Path) -> list[Path]:
    """The job's trained interpreters, oldest first."""
    return sorted((Path(job_dir) / "interpret").glob(f"{INTERPRETER_PREFIX}*/interpreter.json"),
                  key=lambda p: p.parent.name)


def _stft_settings(job: ExplainableJob):
    from modules.interpret.nmf import StftSettings

    params = job.params
    return StftSettings(n_fft=params.n_fft, hop_length=params.hop_length, sr=params.sr)


def log_magnitudes(audio: np.ndarray, settings, progress: bool = False) -> np.ndarray:
    """(n, freq, frames) log1p|STFT| of waveform chunks (n, samples)."""
    from tqdm.auto import tqdm

    from modules.interpret.nmf import log_magnitude

    return np.stack([log_magnitude(clip, settings)[0]
                     for clip in tqdm(audio, desc="STFT", unit="clip", disable=not progress)])


def train_for_job(job: ExplainableJob, options, progress: bool = True):
    """Learn the dictionary and train the interpreter on the job's training clips; save both."""
    from modules.interpret.gradcam import default_gradcam_layer
    from modules.interpret.nmf import learn_dictionary, train_interpreter

    layer = options.layer or default_gradcam_layer(job.model)
    settings = _stft_settings(job)
    train = job.examples("train", None, "decoding training audio")
    spectrograms = log_magnitudes(train.audio, settings, progress)
    print(f"NMF dictionary: {options.n_components} components from {len(train)} training "
          f"clips ({spectrograms.shape[1]} bins x {spectrograms.shape[2]} frames each)")
    W = learn_dictionary(list(spectrograms), n_components=options.n_components,
                         seed=options.seed, progress=progress)
    print(f"interpreter: reads {layer!r}, {options.epochs} epochs")
    interpreter = train_interpreter(job.model, layer, train.inputs, spectrograms, W,
                                    epochs=options.epochs, stft_settings=settings,
                                    seed=options.seed, progress=progress)
    folder = stamped_path(job.path / "interpret", INTERPRETER_PREFIX)
    interpreter.save(folder)
    (folder / "training.json").write_text(json.dumps({
        "job": str(job.path), "layer": layer, "n_components": options.n_components,
        "epochs": options.epochs, "seed": options.seed, "training_clips": len(train),
        "history": interpreter.history}, indent=2, default=float) + "\n")
    return interpreter, folder


def load_for_job(job: ExplainableJob):
    from modules.interpret.nmf import Interpreter

    folders = interpreter_folders(job.path)
    if not folders:
        raise ExplainError(f"no trained NMF interpreter in {job.path / 'interpret'}: run "
                           f"`spectrain explain --job {job.path} --method nmf --train` first")
    folder = folders[-1].parent
    return Interpreter.load(folder, job.model), folder


def explain_with_nmf(job: ExplainableJob, examples, predicted, probabilities, options, folder,
                     rows, progress) -> dict:
    import soundfile

    from modules.interpret.nmf import (faithfulness, fidelity, log_magnitude,
                                       relevant_components, write_explanation)

    if options.train:
        interpreter, source = train_for_job(job, options, progress)
    else:
        interpreter, source = load_for_job(job)
    settings = interpreter.stft_settings or _stft_settings(job)

    # fidelity over the whole validation part: does the interpreter agree with the classifier?
    all_examples = len(examples) == len(job.predictions())  # --all: decoded already
    validation = (examples if all_examples
                  else job.examples("validation", None, "decoding validation audio"))
    _, classifier_probabilities = job.scores_and_probabilities(validation.inputs)
    agreement = fidelity(interpreter.predict(validation.inputs)["probabilities"],
                         classifier_probabilities, multi_label=interpreter.multi_label)

    out = interpreter.predict(examples.inputs)
    relevances = interpreter.relevance(out["pooled"], predicted)
    faithful = faithfulness(job.classify_audio, examples.audio, out["H"], relevances,
                            interpreter.W, settings, predicted,
                            relevance_threshold=options.relevance_threshold, seed=options.seed,
                            progress=progress)
    input_spectrograms = log_magnitudes(examples.audio, settings)
    for i, row in enumerate(rows):
        name = example_name(row["position"], row["path"], row["chunk_index"])
        soundfile.write(str(folder / f"{name}-input.wav"), examples.audio[i], settings.sr)
        explanation = write_explanation(folder / f"{name}-explanation.wav", examples.audio[i],
                                        interpreter.W, out["H"][i], relevances[i], settings,
                                        options.relevance_threshold)
        relevant = relevant_components(relevances[i], options.relevance_threshold)
        row["interpreter_predicted"] = job.class_names[int(np.argmax(out["logits"][i]))]
        row["relevant_components"] = " ".join(f"{int(k)}:{relevances[i][k]:.2f}"
                                              for k in relevant[:10])
        row["n_relevant"] = len(relevant)
        for key, values in faithful["per_clip"].items():
            row[key] = float(values[i])
        plot_nmf_explanation(input_spectrograms[i], log_magnitude(explanation, settings)[0],
                             relevances[i], folder / f"{name}.png",
                             f"NMF explanation of {row['predicted']} "
                             f"({row['probability']:.2f}): {Path(row['path']).name} chunk "
                             f"{row['chunk_index']} (true {row['true']}); {len(relevant)} "
                             f"relevant components", settings)
    medians = faithful["median"]
    summary = {"layer": interpreter.layer_name, "components": int(interpreter.W.shape[1]),
               "interpreter": source.name, "fidelity_examples": len(validation)}
    for key, value in agreement.items():
        summary[f"fidelity_{key}"] = float(value)
    summary.update(
        median_probability_drop_relevant=float(medians["relevant_probability"]),
        median_probability_drop_random=float(medians["random_probability"]),
        median_logit_drop_relevant=float(medians["relevant_logit"]),
        median_logit_drop_random=float(medians["random_logit"]))
    return summary


def plot_nmf_explanation(spectrogram, explanation, relevance, path: Path, title: str,
                         settings) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 5.5), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(3, 1))
    top = fig.add_subplot(grid[0, 0])
    bottom = fig.add_subplot(grid[1, 0], sharex=top, sharey=top)
    bars = fig.add_subplot(grid[:, 1])
    limit = max(float(spectrogram.max()), 1e-6)
    extent = (0, spectrogram.shape[1] * settings.hop_length / settings.sr, 0, settings.sr / 2000)
    for ax, image, name in ((top, spectrogram, "input"),
                            (bottom, explanation, "explanation: the relevant components")):
        shown = ax.imshow(image, origin="lower", aspect="auto", cmap="magma", vmin=0,
                          vmax=limit, extent=extent, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("kHz")
    bottom.set_xlabel("s")
    fig.colorbar(shown, ax=[top, bottom], label="log(1 + |STFT|)")
    order = np.argsort(-relevance, kind="stable")[:15][::-1]
    bars.barh([f"#{int(k)}" for k in order], relevance[order], color="tab:orange")
    bars.set_xlim(0, 1)
    bars.set_xlabel("relevance (max 1)")
    bars.set_title("top components", fontsize=9)
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path, dpi=100)
