"""``spectrain augment TRAINER --pretend N``: look at and listen to a job block's augmentation.

For training clip N (row N of the block's training table, first chunk) and each augmentation of
the block, one draw is made exactly as training would make it and written as

* ``NN_<name>.png``: the model input before and after, side by side, with what was drawn;
* ``NN_<name>.wav``: the augmented sound. Mixes and waveform transforms are exact; for masks
  (SpecAugment, cutmix regions) the STFT of the sound is masked the same way (each STFT bin
  takes the weight of the nearest mel band) and masked regions are silent rather than filled
  with the mean, so this WAV is an approximation made for listening;
* ``before.wav`` and ``draws.json`` (every drawn value).

Nothing is trained and no job folder is created; each call writes a new folder under
``cache/<mode>/<trainer>/augment/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from modules.augment.augmentations import ExamplePool, Recipe
from modules.jobs import stamped_path
from modules.plot_text import save_figure


def _linear_weights(maps: np.ndarray, params, n_bins: int) -> np.ndarray:
    """(m, bins, frames) weights over the model's input bins -> (m, n_bins, frames) over STFT
    bins."""
    import librosa

    if params.spectrogram == "stft" and maps.shape[1] == n_bins:
        return maps
    if params.spectrogram == "logmel":
        centres = librosa.mel_frequencies(params.n_mels + 2, fmin=params.fmin,
                                          fmax=params.fmax or params.sr / 2)[1:-1]
        frequencies = librosa.fft_frequencies(sr=params.sr, n_fft=params.n_fft)
        nearest = np.abs(frequencies[:, None] - centres[None, :]).argmin(axis=1)
        return maps[:, nearest, :]
    # MFCC bins are not frequencies: keep only what varies over time.
    return np.repeat(maps.mean(axis=1, keepdims=True), n_bins, axis=1)


def render_audio(recipe: Recipe, params, input_shape: tuple) -> np.ndarray:
    """The sound of an augmented example (see the module docstring for what is approximate)."""
    import librosa

    samples = recipe.waveforms.shape[1]
    if len(input_shape) != 3:  # waveform inputs: the recipe acts on samples directly
        audio = (recipe.weights * recipe.waveforms).sum(axis=0) * (1.0 - recipe.mask)
    else:
        window = params.window or params.n_fft
        stfts = np.stack([librosa.stft(w, n_fft=params.n_fft, hop_length=params.hop_length,
                                       win_length=window, center=True)
                          for w in recipe.waveforms])
        frames = min(stfts.shape[2], input_shape[1])
        weights = _linear_weights(recipe.weights[..., 0], params, stfts.shape[1])[..., :frames]
        keep = 1.0 - _linear_weights(recipe.mask[None, ..., 0], params, stfts.shape[1])[0]
        mixed = (weights * stfts[..., :frames]).sum(axis=0) * keep[:, :frames]
        audio = librosa.istft(mixed, hop_length=params.hop_length, win_length=window,
                              n_fft=params.n_fft, center=True, length=samples)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return (audio / peak * 0.99 if peak > 1.0 else audio).astype(np.float32)


def _describe(drawn: dict, pool_paths: list[str]) -> str:
    parts = []
    for key, value in drawn.items():
        if key in ("source", "partner"):
            value = Path(pool_paths[value]).name
        elif isinstance(value, float):
            value = f"{value:.3f}"
        elif isinstance(value, list) and value and isinstance(value[0], float):
            value = "[" + ", ".join(f"{v:.2f}" for v in value) + "]"
        parts.append(f"{key}={value}")
    text = ", ".join(parts)
    return text if len(text) < 160 else text[:157] + "..."


def pretend_block(run, datasets: dict, augmentations: list, parse_function, trainer: str,
                  block: int, clip: int, model=None, only_block: int | None = None
                  ) -> Path | None:
    """Write the before/after files of training clip ``clip`` for one job block; returns the
    folder (None when the block has no augmentation or is not the requested one)."""
    import soundfile

    from modules.tasks.common import resolve_path

    if only_block is not None and block + 1 != only_block:
        return None
    if not augmentations:
        print(f"job block {block + 1}: no augmentation to show")
        return None
    params, parse, pool, paths, class_names = _example_pool(run, datasets, parse_function,
                                                            block, clip, model)
    folder = stamped_path(resolve_path(params.cache_root) / params.mode / trainer / "augment",
                          f"clip{clip}-block{block + 1}-")  # never overwrite an earlier look
    folder.mkdir(parents=True)
    soundfile.write(folder / "before.wav", pool.audio[0], params.sr)
    look = AugmentationLook(params, parse, pool, paths, class_names)
    draws = {"clip": paths[0], "label": look.clip_label, "files": paths, "augmentations": []}
    for number, augmentation in enumerate(augmentations, start=1):
        augmentation.bind(class_names)
        augmentation.check_input(look.input_shape)
        if 0 not in augmentation.sources(pool):
            print(f"note: clip {clip} ({look.clip_label}) is not one {augmentation.name} "
                  "would start from in training; shown anyway")
        draws["augmentations"].append(look.write(folder, number, augmentation))
    (folder / "draws.json").write_text(json.dumps(draws, indent=2, default=str) + "\n")
    print(f"job block {block + 1}: before/after of training clip {clip} ({paths[0]}) in {folder}")
    return folder


def _example_pool(run, datasets: dict, parse_function, block: int, clip: int, model):
    """(params, parse, pool, paths, class_names): training clip ``clip`` and one file of each class
    as partners for mixup and cutmix, decoded as the job would decode them."""
    import tensorflow as tf

    from modules.data.audio import decode_to_chunks
    from modules.data.feature_sets import feature_reference
    from modules.pipeline import AudioConfig, job_reader, one_hot_labels
    from modules.tasks import get_task
    from modules.tasks.classification import chunk_labeler
    from modules.tasks.common import adopt_model_frontend, load_and_split

    # the job's own label source (respiratory tasks), as its task loads the data
    label_source = getattr(get_task(run.task), "label_source", None)
    parts, class_names = load_and_split(run, datasets, label_source)
    train = parts.train
    if any(feature_reference(path) for path in train["path"]):
        raise SystemExit(f"--pretend: job block {block + 1} trains on feature vectors (a feature "
                         f"set), which have no audio or spectrogram to show")
    if not 0 <= clip < len(train):
        raise SystemExit(f"--pretend {clip}: the training part of job block {block + 1} has "
                         f"{len(train)} files (0..{len(train) - 1})")
    if model is not None:
        adopt_model_frontend(run, model)
    params = run.freeze()
    rows = [clip]
    for label in class_names:
        others = [i for i in np.flatnonzero((train["label"] == label).to_numpy()) if i != clip]
        if others:
            rows.append(int(np.random.default_rng([params.seed, len(rows)]).choice(others)))
    subset = train.iloc[rows].reset_index(drop=True)
    labeler = chunk_labeler(subset, params, class_names)
    file_labels = one_hot_labels(subset["label"], class_names)
    audio, labels, padded, paths = [], [], [], []
    read = job_reader(AudioConfig.from_parameters(params))  # the job's cache and trimming
    for index, path in enumerate(subset["path"]):
        chunks, pads, error = decode_to_chunks(path, params.sr, params.audio_length,
                                               params.step_size, params.chunking,
                                               params.silence_threshold_db, read)
        if error:
            if index == 0:
                raise SystemExit(f"--pretend {clip}: {path}: {error}")
            print(f"skipped {path}: {error}")
            continue
        audio.append(chunks[0])
        labels.append(labeler(index, len(chunks))[0] if labeler else file_labels[index])
        padded.append(bool(pads[0]))
        paths.append(str(path))
    parse = parse_function(params)
    samples = int(round(params.audio_length * params.sr))
    example_input = parse(tf.zeros([1, samples]), tf.zeros([1, len(class_names)]))[0]
    input_shape = tuple(int(d) for d in example_input.shape[1:])
    pool = ExamplePool(np.stack(audio), np.stack(labels), np.array(padded), params.sr,
                       input_shape)
    return params, parse, pool, paths, class_names


class AugmentationLook:
    """Before/after pictures and sounds of one clip under a block's augmentations."""

    def __init__(self, params, parse, pool: ExamplePool, paths: list, class_names):
        from modules.frontend import frontend_from_parameters

        self.params, self.parse, self.pool = params, parse, pool
        self.paths, self.class_names = paths, class_names
        self.input_shape = pool.input_shape
        self.display = (frontend_from_parameters(params) if len(self.input_shape) != 3
                        else None)
        self.before = self.image(parse(pool.audio[:1], pool.labels[:1])[0][0])
        self.clip_label = self.label_text(pool.labels[0])  # first chunk's (cw: its cycles)

    def image(self, inputs) -> np.ndarray:
        inputs = np.asarray(inputs)
        if self.display is not None:
            inputs = np.asarray(self.display(inputs[None]))[0]
        return inputs[..., 0]

    def label_text(self, label: np.ndarray) -> str:
        return ", ".join(f"{self.class_names[i]} {w:.2f}" if w < 1 else self.class_names[i]
                         for i, w in enumerate(label) if w > 1e-6)

    def write(self, folder: Path, number: int, augmentation) -> dict:
        """One draw of ``augmentation`` as training makes it: PNG, WAV and what was drawn."""
        import soundfile
        import tensorflow as tf

        from modules.augment.training_set import combine

        recipe = augmentation.make(self.pool, 0,
                                   np.random.default_rng([self.params.seed, 3, number]))
        parsed, _ = self.parse(recipe.waveforms,
                               tf.zeros([len(recipe.waveforms), len(self.class_names)]))
        after = self.image(combine(parsed, recipe.weights, recipe.mask).numpy())
        name = f"{number:02d}_{augmentation.name}"
        soundfile.write(folder / f"{name}.wav",
                        render_audio(recipe, self.params, self.input_shape), self.params.sr)
        self.plot(folder / f"{name}.png", after,
                  f"after {augmentation.name}: {self.label_text(recipe.label)}",
                  _describe(recipe.drawn, self.paths))
        return {"name": augmentation.name, "list": augmentation.domain,
                "arguments": augmentation.get_config(), "drawn": recipe.drawn,
                "label": [float(v) for v in recipe.label]}

    def plot(self, path: Path, after: np.ndarray, after_title: str, drawn: str) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        before = self.before
        figure, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
        low, high = float(min(before.min(), after.min())), float(max(before.max(), after.max()))
        for axis, picture, title in ((axes[0], before, f"before: {self.clip_label}"),
                                     (axes[1], after, after_title)):
            shown = axis.imshow(picture, origin="lower", aspect="auto", vmin=low, vmax=high,
                                cmap="magma")
            axis.set_title(title, fontsize=9)
            axis.set_xlabel("frame")
        axes[0].set_ylabel("bin")
        figure.colorbar(shown, ax=axes, fraction=0.025)
        figure.suptitle(drawn, fontsize=8)
        save_figure(figure, path, dpi=100)
        plt.close(figure)
