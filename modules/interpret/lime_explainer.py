"""LIME (Ribeiro et al., 2016) over components of a sound: spectrogram patches, NMF components.

The core, :func:`lime_components`, knows nothing about images: a *component* is anything that
can be switched on or off, and ``make_inputs`` turns a binary on/off matrix into model inputs.
:func:`lime_spectrogram` is the time-frequency case: the components are patches of a
spectrogram (:func:`patch_segments`), and a switched-off patch is filled with silence.

The sampling, the distance and the kernel follow ``lime_image`` (uniform random on/off
vectors, cosine distance to the all-on vector, exponential kernel); the local model is fitted by
``lime.lime_base.LimeBase`` (weighted ridge regression after feature selection).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import matplotlib

matplotlib.use("Agg")  # files only; no display on training machines
# Figures use the object API, not pyplot: no global figure registry to leak or to close.
from matplotlib import patheffects  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
import numpy as np  # noqa: E402
from modules.plot_text import save_figure


POSITIVE_COLOR = "lime"         # evidence for the class; stands out on magma's purples and oranges
NEGATIVE_COLOR = "deepskyblue"  # evidence against it


@dataclass
class LimeExplanation:
    """A local linear explanation of one prediction.

    ``weights[k]`` is the ridge coefficient of component ``k`` for ``class_index`` (how much
    keeping the component adds to that class's probability), 0 for components the feature
    selection left out. ``top`` lists the selected components as (component, weight), weight
    descending, so evidence for the class comes first and evidence against it last.
    ``score`` is the weighted R^2 of the local fit on the perturbations: a low score means the
    linear surrogate, and so the weights, describe the model poorly around this input.
    """
    class_index: int
    weights: np.ndarray
    top: list[tuple[int, float]] = field(default_factory=list)
    intercept: float = 0.0
    score: float = 0.0
    local_prediction: float = 0.0
    original_probability: float = 0.0


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------------- the core
def lime_components(predict_fn: Callable[[object], object], n_components: int,
                    make_inputs: Callable[[np.ndarray], object], class_index: int | None = None,
                    n_samples: int = 1000, n_features: int = 10, kernel_width: float = 0.25,
                    seed: int = 0, batch_size: int = 64, progress: bool = False
                    ) -> LimeExplanation:
    """Explain one prediction by switching components on and off.

    ``make_inputs(z)`` gets a binary matrix ``z`` of shape (n, n_components), 1 = component
    kept, and returns a batch of n model inputs; ``predict_fn(inputs)`` returns (n, classes)
    probabilities (numpy or a tensor; e.g. ``lambda x: model(x, training=False)``). Inputs are
    made and predicted ``batch_size`` rows at a time, so memory does not grow with
    ``n_samples``. The first perturbation is all ones, the original input.

    ``class_index``: the class to explain; None = the class predicted for the original.
    ``n_features``: at most this many components get a non-zero weight (LIME's "auto" feature
    selection: forward selection up to 6, else the largest ridge weights). ``kernel_width``
    scales the exponential kernel over cosine distance (``lime_image``'s default 0.25).
    Deterministic for a given ``seed``.
    """
    n_components = _check_int("n_components", n_components, 1)
    n_samples = _check_int("n_samples", n_samples, 2)  # the original plus at least one other
    n_features = _check_int("n_features", n_features, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    seed = _check_int("seed", seed, 0)
    if not (isinstance(kernel_width, (int, float, np.floating)) and kernel_width > 0
            and math.isfinite(kernel_width)):
        raise ValueError(f"kernel_width must be a positive number, got {kernel_width!r}")
    if not callable(predict_fn) or not callable(make_inputs):
        raise ValueError("predict_fn and make_inputs must be callables")
    # Imported here so that modules.interpret imports without lime installed.
    from lime.lime_base import LimeBase
    from sklearn.metrics import pairwise_distances

    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, size=(n_samples, n_components), dtype=np.int8)
    z[0] = 1  # LimeBase takes row 0 as the instance being explained
    probabilities = _perturbation_probabilities(predict_fn, make_inputs, z, batch_size, progress)
    class_index = _explained_class(class_index, probabilities)

    # As lime_image: distance to the original by how many components were removed (cosine;
    # an all-zero row counts as distance 1), and a kernel that decays with it.
    distances = pairwise_distances(z, z[:1], metric="cosine").ravel()

    def kernel(d):
        return np.sqrt(np.exp(-(d ** 2) / kernel_width ** 2))

    base = LimeBase(kernel, random_state=seed)
    intercept, selected, score, local_prediction = base.explain_instance_with_data(
        z.astype(np.float64), probabilities, distances, class_index,
        min(n_features, n_components), feature_selection="auto")

    weights = np.zeros(n_components)
    for component, weight in selected:
        weights[int(component)] = float(weight)
    top = sorted(((int(c), float(w)) for c, w in selected), key=lambda item: -item[1])
    return LimeExplanation(class_index=class_index, weights=weights, top=top,
                           intercept=float(intercept), score=float(score),
                           local_prediction=float(np.ravel(local_prediction)[0]),
                           original_probability=float(probabilities[0, class_index]))


def _perturbation_probabilities(predict_fn, make_inputs, z: np.ndarray, batch_size: int,
                                progress: bool) -> np.ndarray:
    """(n, classes) float64 probabilities of the perturbations ``z``, ``batch_size`` at a time."""
    from tqdm.auto import tqdm

    chunks = []
    with tqdm(total=len(z), desc="LIME", unit="sample", disable=not progress) as bar:
        for start in range(0, len(z), batch_size):
            rows = z[start:start + batch_size]
            out = np.asarray(predict_fn(make_inputs(rows.copy())), dtype=np.float64)
            if out.ndim != 2 or out.shape[0] != len(rows):
                raise ValueError(f"predict_fn must return (n, classes) for n = {len(rows)} "
                                 f"inputs, got shape {out.shape}")
            chunks.append(out)
            bar.update(len(rows))
    probabilities = np.concatenate(chunks)
    if not np.all(np.isfinite(probabilities)):
        raise ValueError("predict_fn returned non-finite values")
    return probabilities


def _explained_class(class_index, probabilities: np.ndarray) -> int:
    """``class_index`` checked against the class count; None: the original's predicted class."""
    n_classes = probabilities.shape[1]
    if class_index is None:
        return int(np.argmax(probabilities[0]))
    if (isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer))
            or not 0 <= class_index < n_classes):
        raise ValueError(f"class_index must be an integer in [0, {n_classes}), "
                         f"got {class_index!r}")
    return int(class_index)


# ------------------------------------------------------------------- time-frequency patches
def patch_segments(n_bins: int, n_frames: int, patch_bins: int = 8,
                   patch_frames: int = 16) -> np.ndarray:
    """A grid of rectangular patches, labels 0..n-1 in row-major order (low bins first).

    Returns an int array (n_bins, n_frames). When the sizes do not divide evenly, the last row
    and column of patches are smaller.
    """
    n_bins = _check_int("n_bins", n_bins, 1)
    n_frames = _check_int("n_frames", n_frames, 1)
    patch_bins = _check_int("patch_bins", patch_bins, 1)
    patch_frames = _check_int("patch_frames", patch_frames, 1)
    rows = np.arange(n_bins) // patch_bins
    columns = np.arange(n_frames) // patch_frames
    per_row = -(-n_frames // patch_frames)  # ceil
    return (rows[:, None] * per_row + columns[None, :]).astype(np.int64)


def _as_2d(image, name: str = "image") -> np.ndarray:
    """(bins, frames) from (bins, frames) or (bins, frames, 1); finite values only."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"{name} must have shape (bins, frames) or (bins, frames, 1), "
                         f"got {image.shape}")
    if not np.all(np.isfinite(image)):
        raise ValueError(f"{name} has non-finite values (clip -inf dB before explaining)")
    return image


def _check_segments(segments, shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Segments as an int array of the image's (bins, frames), labels exactly 0..n-1."""
    segments = np.asarray(segments)
    if segments.shape != shape:
        raise ValueError(f"segments must have the image's shape {shape}, got {segments.shape}")
    if not np.issubdtype(segments.dtype, np.integer):
        raise ValueError(f"segments must be integer labels, got dtype {segments.dtype}")
    n = int(segments.max()) + 1
    # A missing label would be a component whose switch changes nothing: always weight 0.
    if segments.min() < 0 or len(np.unique(segments)) != n:
        raise ValueError("segment labels must be exactly 0..n-1, each present at least once")
    return segments, n


def _fill_2d(image: np.ndarray, fill) -> np.ndarray | float:
    """What a switched-off cell becomes: the image's minimum (silence in dB) by default."""
    if fill is None:
        return float(image.min())
    if np.ndim(fill) == 0:
        value = float(fill)
        if not math.isfinite(value):
            raise ValueError(f"fill must be finite, got {fill!r}")
        return value
    if np.ndim(fill) > 3 or np.shape(fill)[:2] != image.shape:
        raise ValueError(f"fill must be None, a scalar or an array of the image's shape "
                         f"{image.shape} (optionally with a channel axis), got {np.shape(fill)}")
    return _as_2d(fill, "fill")


def lime_spectrogram(predict_fn: Callable[[object], object], image, segments,
                     class_index: int | None = None, fill=None, **kwargs) -> LimeExplanation:
    """LIME over the patches (or any segments) of one spectrogram.

    ``image``: (bins, frames, 1) or (bins, frames). The model always gets
    (n, bins, frames, 1) float32 batches, the project's spectrogram input. ``segments``: int
    labels 0..n-1 of the image's (bins, frames), e.g. :func:`patch_segments`. A switched-off
    segment is replaced by ``fill``: None = the image's minimum (its quietest level, silence in
    dB), a scalar, or an array of the image's shape (e.g. the job's silence spectrogram).
    ``kwargs`` go to :func:`lime_components` (n_samples, n_features, seed, ...).
    """
    picture = _as_2d(image)
    segments, n_components = _check_segments(segments, picture.shape)
    background = _fill_2d(picture, fill)

    def make_inputs(z: np.ndarray) -> np.ndarray:
        off = z[:, segments] == 0  # (n, bins, frames): cells whose segment is switched off
        return np.where(off, background, picture)[..., None].astype(np.float32)

    return lime_components(predict_fn, n_components, make_inputs, class_index=class_index,
                           **kwargs)


def masked_spectrogram(image, segments, keep: Iterable[int], fill=None) -> np.ndarray:
    """The image with only the segments in ``keep``; the rest becomes ``fill`` (as in
    :func:`lime_spectrogram`). Returns an array of the image's own shape."""
    original_shape = np.shape(image)  # (bins, frames) or (bins, frames, 1)
    picture = _as_2d(image)
    segments, n_components = _check_segments(segments, picture.shape)
    keep = np.asarray(list(keep))
    if keep.size == 0:
        keep = keep.astype(np.int64)  # an empty list would come out as floats
    if (keep.ndim != 1 or not np.issubdtype(keep.dtype, np.integer)
            or (keep.size and (keep.min() < 0 or keep.max() >= n_components))):
        raise ValueError(f"keep must hold segment labels in [0, {n_components}), got {keep!r}")
    kept = np.isin(segments, keep)
    out = np.where(kept, picture, _fill_2d(picture, fill))
    dtype = np.asarray(image).dtype
    return out.reshape(original_shape).astype(dtype if np.issubdtype(dtype, np.floating)
                                              else np.float64)


# --------------------------------------------------------------------------------- the plot
def _runs(positions: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive integers as (first, last) runs: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    breaks = np.nonzero(np.diff(positions) != 1)[0]
    starts = np.r_[positions[0], positions[breaks + 1]]
    ends = np.r_[positions[breaks], positions[-1]]
    return list(zip(starts.tolist(), ends.tolist()))


def _outline(mask: np.ndarray) -> list[list[tuple[float, float]]]:
    """The exact outline of a region along cell edges, in imshow's coordinates (cell (i, j)
    centred at x = j, y = i). Collinear edges are joined so that a dashed line stays dashed."""
    padded = np.pad(mask, 1)
    lines = []
    # Vertical edges where left and right neighbours differ: padded column c vs c + 1 is the
    # edge x = c - 0.5, padded row r is image row r - 1.
    vertical = padded[:, 1:] != padded[:, :-1]
    for c in np.nonzero(vertical.any(axis=0))[0].tolist():
        for first, last in _runs(np.nonzero(vertical[:, c])[0]):
            lines.append([(c - 0.5, first - 1.5), (c - 0.5, last - 0.5)])
    horizontal = padded[1:, :] != padded[:-1, :]
    for r in np.nonzero(horizontal.any(axis=1))[0].tolist():
        for first, last in _runs(np.nonzero(horizontal[r])[0]):
            lines.append([(first - 1.5, r - 0.5), (last - 0.5, r - 0.5)])
    return lines


def _describe(segments: np.ndarray, label: int, rank: str) -> str:
    rows, columns = np.nonzero(segments == label)
    return (f"{rank}  #{label}: bins {rows.min()}-{rows.max()}, "
            f"frames {columns.min()}-{columns.max()}")


def plot_lime(image, segments, explanation: LimeExplanation, path, title: str,
              n_top: int = 5, fill=None) -> None:
    """A PNG: the spectrogram with the ``n_top`` strongest positive segments outlined (and the
    ``n_top`` strongest negative ones, dashed, in another colour), the spectrogram showing only
    the positive ones (the rest ``fill``, as the model saw it), and a bar chart of the weights.
    """
    picture = _as_2d(image)
    segments, n_components = _check_segments(segments, picture.shape)
    n_top = _check_int("n_top", n_top, 1)
    if np.shape(explanation.weights) != (n_components,):
        raise ValueError(f"the explanation has {np.shape(explanation.weights)} weights but the "
                         f"segments have {n_components} labels")
    positive = [(c, w) for c, w in explanation.top if w > 0][:n_top]
    negative = [(c, w) for c, w in reversed(explanation.top) if w < 0][:n_top]  # most negative 1st

    fig = Figure(figsize=(11, 6.4), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(3, 1.25))
    top_ax = fig.add_subplot(grid[0, 0])
    masked_ax = fig.add_subplot(grid[1, 0], sharex=top_ax, sharey=top_ax)
    bar_ax = fig.add_subplot(grid[:, 1])
    # One colour scale for both panels, so the masked one reads as the same sound.
    limits = dict(vmin=float(picture.min()), vmax=float(picture.max()))
    shown = top_ax.imshow(picture, origin="lower", aspect="auto", cmap="magma",
                          interpolation="nearest", **limits)
    fig.colorbar(shown, ax=[top_ax, masked_ax], label="dB")
    masked = masked_spectrogram(picture, segments, [c for c, _ in positive], fill=fill)
    masked_ax.imshow(masked, origin="lower", aspect="auto", cmap="magma",
                     interpolation="nearest", **limits)

    for items, color, style, sign in ((positive, POSITIVE_COLOR, "solid", "+"),
                                      (negative, NEGATIVE_COLOR, "dashed", "\u2212")):
        for rank, (component, _) in enumerate(items, start=1):
            region = segments == component
            top_ax.add_collection(LineCollection(_outline(region), colors=color, linewidths=1.6,
                                                 linestyles=style))
            rows, columns = np.nonzero(region)
            top_ax.text(columns.mean(), rows.mean(), f"{sign}{rank}", color=color, fontsize=9,
                        ha="center", va="center", fontweight="bold",
                        path_effects=[patheffects.withStroke(linewidth=2, foreground="black")])
    top_ax.legend(handles=[Line2D([], [], color=POSITIVE_COLOR, label="for the class"),
                           Line2D([], [], color=NEGATIVE_COLOR, linestyle="dashed",
                                  label="against it")],
                  loc="upper right", fontsize=7, framealpha=0.6)
    top_ax.set_title("strongest segments", fontsize=9)
    masked_ax.set_title(f"only the top {len(positive)} positive segment(s)", fontsize=9)
    for ax in (top_ax, masked_ax):
        ax.set_ylabel("bin")
    masked_ax.set_xlabel("frame")

    bars = positive + negative[::-1]  # strongest for at the top, strongest against at the bottom
    if bars:
        heights = [w for _, w in bars]
        positions = np.arange(len(bars))[::-1]
        bar_ax.barh(positions, heights, color=[POSITIVE_COLOR if w > 0 else NEGATIVE_COLOR
                                               for w in heights], edgecolor="black",
                    linewidth=0.5)
        ranks = ([f"+{i}" for i in range(1, len(positive) + 1)]
                 + [f"\u2212{i}" for i in range(len(negative), 0, -1)])
        bar_ax.set_yticks(positions, [_describe(segments, c, rank)
                                      for (c, _), rank in zip(bars, ranks)], fontsize=7)
        bar_ax.axvline(0, color="black", linewidth=0.8)
    else:
        bar_ax.text(0.5, 0.5, "no non-zero weights", ha="center", va="center",
                    transform=bar_ax.transAxes)
        bar_ax.set_yticks([])
    bar_ax.set_xlabel("LIME weight (probability)")
    bar_ax.set_title("segment weights", fontsize=9)
    fig.suptitle(f"{title}\nclass {explanation.class_index}: "
                 f"p = {explanation.original_probability:.3f}, "
                 f"local fit {explanation.local_prediction:.3f}, "
                 f"R\u00b2 = {explanation.score:.3f}", fontsize=9)
    save_figure(fig, Path(path), dpi=100)
