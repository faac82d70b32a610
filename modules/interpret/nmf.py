"""Listen to Interpret (Parekh et al., NeurIPS 2022): listenable post-hoc explanations with NMF.

A frozen audio classifier is explained in terms of a dictionary of spectral patterns:

1. ``learn_dictionary`` learns an NMF dictionary ``W`` (freq, K) on training log-magnitude
   spectrograms ``X = log1p|STFT|`` (scikit-learn, Frobenius loss, ``nndsvda`` initialisation).
2. ``train_interpreter`` trains a small network on the classifier's hidden feature maps (the output
   of one named layer) to predict non-negative time activations ``H`` (K, frames) of those
   components. ``H`` is pooled over time with attention into ``pooled`` (K,), and one linear layer
   ``interpreter_logits`` (K -> classes) must reproduce the classifier's output. Loss:
   ``reconstruction_weight * mean((X - W H)^2) + fidelity_weight * CE(interpreter, classifier)
   + sparsity_weight * mean|H|``.
3. ``Interpreter.relevance``: relevance of component k for class c is ``pooled_k * weight[k, c]``,
   clipped at 0 and divided by its maximum over k (the most relevant component scores 1).
4. ``resynthesize`` / ``write_explanation`` turn the relevant components into audio with a soft
   mask on the input's magnitude and the input's phase.
5. ``fidelity`` (does the interpreter agree with the classifier?) and ``faithfulness`` (does
   removing the relevant components hurt the classifier more than removing random ones?).

Conventions: spectrograms are (freq, frames); ``W`` is (freq, K) with unit-L2-norm columns (the
activations absorb the scale); ``H`` is (K, frames), and batches of it (batch, K, frames), the same
layout as ``activations`` returns, so a row ``H[k]`` is component k's activation over time.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

__all__ = [
    "Interpreter",
    "StftSettings",
    "activations",
    "build_interpreter",
    "component_relevance",
    "faithfulness",
    "fidelity",
    "istft",
    "learn_dictionary",
    "log_magnitude",
    "relevant_components",
    "resynthesize",
    "soft_mask",
    "train_interpreter",
    "write_explanation",
]

MODEL_FILE = "interpreter.keras"
DICTIONARY_FILE = "W.npy"
SETTINGS_FILE = "interpreter.json"
TIME_MAJOR_LAYER = "time_major"  # the Permute the zoo's waveform models add: maps are (time, mel)
MASK_EPS = 1e-8  # keeps the soft mask finite where the NMF model explains no energy at all


# ----------------------------------------------------------------------------------------------
# STFT
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StftSettings:
    """STFT of the NMF spectrograms: Hann window of ``n_fft`` samples, ``center=True``.

    ``center=True`` gives ``1 + n_samples // hop_length`` frames, the count the project's log-mel
    front end (``modules.frontend.LogMelSpectrogram``) gives for the same ``n_fft`` / hop, so the
    activations line up frame for frame with the classifier's input. Edges are zero-padded
    (librosa's default ``pad_mode="constant"``; the front end reflects, which changes the first and
    last frames' values, never the frame count).
    """

    n_fft: int
    hop_length: int
    sr: int

    def __post_init__(self):
        for name in ("n_fft", "hop_length", "sr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"StftSettings.{name} must be a positive int, got {value!r}")
        if self.hop_length > self.n_fft:
            # Frames would skip samples, and the inverse STFT could not rebuild them.
            raise ValueError(f"hop_length ({self.hop_length}) must not exceed n_fft ({self.n_fft})")

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def n_frames(self, n_samples: int) -> int:
        return 1 + int(n_samples) // self.hop_length


def _check_audio(audio, name: str = "audio") -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of samples, got shape "
                         f"{audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise ValueError(f"{name} contains NaN or infinite samples")
    return audio.astype(np.float32, copy=False)


def _stft(audio: np.ndarray, settings: StftSettings) -> np.ndarray:
    import librosa

    return librosa.stft(audio, n_fft=settings.n_fft, hop_length=settings.hop_length,
                        window="hann", center=True, pad_mode="constant")


def log_magnitude(audio, settings: StftSettings):
    """``(X, phase)`` of a clip: ``X = log1p|STFT|`` (freq, frames) float32 and the phase as unit
    complex phasors ``STFT / |STFT|`` (freq, frames) complex64 (1 where the STFT is 0).

    ``log1p`` rather than dB: it is non-negative (NMF needs that) and 0 for silence, without a
    floor parameter.
    """
    spectrum = _stft(_check_audio(audio), settings)
    magnitude = np.abs(spectrum)
    phase = np.where(magnitude > 0, spectrum / np.maximum(magnitude, 1e-30), 1.0)
    return np.log1p(magnitude).astype(np.float32), phase.astype(np.complex64)


def istft(magnitude, phase, settings: StftSettings, length: int) -> np.ndarray:
    """Audio (length,) float32 from a *linear* magnitude (freq, frames) and a phase.

    ``phase``: unit complex phasors as ``log_magnitude`` returns, or real angles in radians.
    ``length`` trims / pads the output to the original clip's sample count.
    """
    import librosa

    magnitude = np.asarray(magnitude)
    phase = np.asarray(phase)
    if magnitude.ndim != 2 or magnitude.shape[0] != settings.n_bins:
        raise ValueError(f"magnitude must be (freq={settings.n_bins}, frames), got "
                         f"{magnitude.shape}")
    if phase.shape != magnitude.shape:
        raise ValueError(f"phase shape {phase.shape} differs from magnitude shape "
                         f"{magnitude.shape}")
    if np.any(magnitude < 0):
        raise ValueError("magnitude must be non-negative: pass the linear |STFT| (undo "
                         "log1p with np.expm1)")
    if int(length) <= 0:
        raise ValueError(f"length must be positive, got {length}")
    phasor = phase if np.iscomplexobj(phase) else np.exp(1j * phase)
    audio = librosa.istft(magnitude * phasor, hop_length=settings.hop_length, n_fft=settings.n_fft,
                          window="hann", center=True, length=int(length))
    return audio.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# NMF dictionary and activations
# ----------------------------------------------------------------------------------------------
def _check_spectrogram(x, n_bins: Optional[int], name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a (freq, frames) array, got shape {x.shape}")
    if n_bins is not None and x.shape[0] != n_bins:
        raise ValueError(f"{name} has {x.shape[0]} frequency bins, the dictionary has {n_bins}")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ValueError(f"{name} must be finite and non-negative (log1p|STFT|), NMF needs it")
    return x


def _squared_error(V: np.ndarray, W: np.ndarray, H: np.ndarray) -> float:
    """||V - W H||_F^2 without forming the (samples, features) residual: V can be large."""
    V, W, H = (a.astype(np.float64, copy=False) for a in (V, W, H))
    value = (np.einsum("ij,ij->", V, V) - 2.0 * np.einsum("ik,ik->", V @ H.T, W)
             + np.einsum("kl,kl->", W.T @ W, H @ H.T))
    return max(float(value), 0.0)


def learn_dictionary(spectrograms: Sequence[np.ndarray], n_components: int = 100, seed: int = 0,
                     max_iter: int = 400, tol: float = 1e-4, progress: bool = False) -> np.ndarray:
    """NMF dictionary ``W`` (freq, n_components) float32 of training log-magnitude spectrograms.

    The spectrograms' frames are concatenated and factorised as ``X ~= W H`` (Frobenius loss,
    scikit-learn's coordinate-descent solver, ``init="nndsvda"``, whose randomised SVD is seeded
    with ``seed``). The iterations run in chunks of 10 (each continuing from the last with
    ``init="custom"``) so a progress bar can follow them; the fit stops after ``max_iter``
    iterations or when a chunk lowers the reconstruction error by less than ``tol`` (relative).
    Chunking is always on, so ``progress`` never changes the result.

    Columns are scaled to unit L2 norm (the activations absorb the scale, and ``activations``
    recomputes them for this ``W``); an all-zero column (a dead component) stays zero.
    """
    if isinstance(spectrograms, np.ndarray) and spectrograms.ndim == 2:
        spectrograms = [spectrograms]
    spectrograms = list(spectrograms)
    if not spectrograms:
        raise ValueError("learn_dictionary needs at least one spectrogram")
    first = _check_spectrogram(spectrograms[0], None, "spectrograms[0]")
    X = np.concatenate([first] + [_check_spectrogram(x, first.shape[0], f"spectrograms[{i}]")
                                  for i, x in enumerate(spectrograms[1:], start=1)], axis=1)
    n_components = int(n_components)
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    if n_components > min(X.shape):
        # nndsvda takes an SVD of rank n_components; it cannot exceed the data's dimensions.
        raise ValueError(f"n_components ({n_components}) must not exceed min(freq, total frames) "
                         f"= {min(X.shape)}")
    if int(max_iter) < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    if not np.any(X > 0):
        raise ValueError("the spectrograms are all zero (silence): nothing to factorise")
    from sklearn.decomposition import non_negative_factorization

    V = np.ascontiguousarray(X.T)  # scikit-learn factorises (samples, features): frames x freq
    chunk, done, previous = 10, 0, None
    Hs = Ws = None  # scikit-learn's naming: V ~= Ws @ Hs, Ws (frames, K), Hs (K, freq) = W.T
    bar = tqdm(total=int(max_iter), desc="NMF dictionary", unit="it", disable=not progress)
    with warnings.catch_warnings():
        # tol=0 inside a chunk: scikit-learn would warn at every chunk end that it "did not
        # converge"; convergence is judged here, between chunks.
        warnings.simplefilter("ignore", category=Warning)
        while done < max_iter:
            steps = min(chunk, int(max_iter) - done)
            if Hs is None:
                Ws, Hs, _ = non_negative_factorization(
                    V, n_components=n_components, init="nndsvda", solver="cd",
                    beta_loss="frobenius", max_iter=steps, tol=0.0, random_state=seed)
            else:
                Ws, Hs, _ = non_negative_factorization(
                    V, W=Ws, H=Hs, n_components=n_components, init="custom", solver="cd",
                    beta_loss="frobenius", max_iter=steps, tol=0.0, random_state=seed)
            done += steps
            bar.update(steps)
            error = _squared_error(V, Ws, Hs)
            bar.set_postfix(rel_error=f"{np.sqrt(error) / np.linalg.norm(V):.4f}")
            if previous is not None and previous - error <= tol * previous:
                break
            previous = error
    bar.close()
    W = Hs.T.astype(np.float32)
    norms = np.linalg.norm(W, axis=0)
    return (W / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _check_dictionary(W) -> np.ndarray:
    W = np.asarray(W, dtype=np.float32)
    if W.ndim != 2 or 0 in W.shape:
        raise ValueError(f"W must be a (freq, n_components) array, got shape {W.shape}")
    if not np.all(np.isfinite(W)) or np.any(W < 0):
        raise ValueError("W must be finite and non-negative")
    return W


def activations(W, X, max_iter: int = 400, tol: float = 1e-4) -> np.ndarray:
    """Non-negative activations ``H`` (K, frames) float32 with ``X ~= W H`` for the fixed ``W``.

    Non-negative least squares per frame by scikit-learn's coordinate descent
    (``non_negative_factorization(X.T, H=W.T, update_H=False)``: scikit-learn's "H" is our
    ``W.T``, and its "W" our ``H.T``). Deterministic (starts from zeros).
    """
    from sklearn.decomposition import non_negative_factorization

    W = _check_dictionary(W)
    X = _check_spectrogram(X, W.shape[0], "X")
    if int(max_iter) < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)  # max_iter reached: fine for NNLS
        Ht, _, _ = non_negative_factorization(
            np.ascontiguousarray(X.T, dtype=np.float64), H=np.ascontiguousarray(W.T, np.float64),
            n_components=W.shape[1], update_H=False, solver="cd", beta_loss="frobenius",
            max_iter=int(max_iter), tol=tol)
    return Ht.T.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Listenable explanations
# ----------------------------------------------------------------------------------------------
def _selection(components, n_components: int) -> np.ndarray:
    """Boolean (K,) selection of component indices (duplicates count once)."""
    components = np.asarray(components if components is not None else [])
    if components.dtype == bool:
        if components.shape != (n_components,):
            raise ValueError(f"a boolean component selection must have shape ({n_components},), "
                             f"got {components.shape}")
        return components.copy()
    components = components.reshape(-1)
    if components.size and not np.issubdtype(components.dtype, np.integer):
        raise ValueError(f"components must be integer indices, got dtype {components.dtype}")
    if components.size and (components.min() < 0 or components.max() >= n_components):
        raise ValueError(f"component indices must lie in [0, {n_components}), got "
                         f"{components.min()}..{components.max()}")
    selected = np.zeros(n_components, dtype=bool)
    selected[components.astype(int)] = True
    return selected


def soft_mask(W, H, components) -> np.ndarray:
    """Soft mask (freq, frames) in [0, 1]: ``(sum_{k in S} W_k H_k + eps |S|/K) / (W H + eps)``.

    The ``eps |S| / K`` share in the numerator makes the masks of complementary sets sum to
    exactly 1 everywhere (all components: mask 1, no component: mask 0), even in bins the model
    explains with zero energy, so "keep S" plus "remove S" is the input itself.
    """
    W = _check_dictionary(W)
    H = np.asarray(H, dtype=np.float32)
    if H.ndim != 2 or H.shape[0] != W.shape[1]:
        raise ValueError(f"H must be (K={W.shape[1]}, frames), got shape {H.shape}")
    if not np.all(np.isfinite(H)) or np.any(H < 0):
        raise ValueError("H must be finite and non-negative")
    selected = _selection(components, W.shape[1])
    W64, H64 = W.astype(np.float64), H.astype(np.float64)
    total = W64 @ H64
    part = W64[:, selected] @ H64[selected]
    mask = (part + MASK_EPS * selected.sum() / W.shape[1]) / (total + MASK_EPS)
    return np.clip(mask, 0.0, 1.0)


def resynthesize(audio, W, H, components, settings: StftSettings) -> np.ndarray:
    """Audio (same length as ``audio``) keeping only the NMF ``components`` (indices or a boolean
    (K,) selection): soft mask of the model's share, input phase, inverse STFT.

    Masking domain: the mask is the *ratio* of the selected components' part of the NMF model to
    the whole model, computed where the model lives (log1p magnitude), and it multiplies the
    *linear* magnitude |STFT|. Masking the log1p values and undoing the log instead
    (``expm1(mask * log1p|S|)``) would not be a partition: ``(1 + |S|)^m - 1`` compresses loud
    bins far more than quiet ones (m = 0.5 on a bin of 1000 keeps ~3 %, not 50 %), and the
    masks of complementary sets would no longer add up to the input. In the linear domain they
    do exactly, so keeping every component returns the input up to the STFT round trip, and
    keeping none returns silence.

    ``H`` (K, frames) must have the clip's frame count (``settings.n_frames(len(audio))``):
    use ``activations(W, log_magnitude(audio)[0])`` or the interpreter's predicted ``H``.
    """
    audio = _check_audio(audio)
    spectrum = _stft(audio, settings)
    H = np.asarray(H)
    if H.ndim != 2 or H.shape[1] != spectrum.shape[1]:
        raise ValueError(f"H must be (K, frames={spectrum.shape[1]}) for this clip, got {H.shape}")
    W = _check_dictionary(W)
    if W.shape[0] != spectrum.shape[0]:
        raise ValueError(f"W has {W.shape[0]} frequency bins, the STFT has {spectrum.shape[0]} "
                         f"(n_fft={settings.n_fft})")
    mask = soft_mask(W, H, components)
    magnitude = np.abs(spectrum)
    phase = np.where(magnitude > 0, spectrum / np.maximum(magnitude, 1e-30), 1.0)
    return istft(mask * magnitude, phase, settings, length=audio.shape[0])


def relevant_components(relevance, threshold: float = 0.1) -> np.ndarray:
    """Indices of the components whose relevance (K,) exceeds ``threshold``, most relevant first."""
    relevance = np.asarray(relevance, dtype=np.float64)
    if relevance.ndim != 1:
        raise ValueError(f"relevance must be (K,), got shape {relevance.shape}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must lie in [0, 1) (relevances are normalised to max 1), "
                         f"got {threshold}")
    order = np.argsort(-relevance, kind="stable")
    return order[relevance[order] > threshold]


def write_explanation(path, audio, W, H, relevance, settings: StftSettings,
                      threshold: float = 0.1) -> np.ndarray:
    """Write the listenable explanation of one clip as a WAV file and return its audio.

    Keeps the components with relevance (for the explained class) above ``threshold``.
    """
    import soundfile

    explanation = resynthesize(audio, W, H, relevant_components(relevance, threshold), settings)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), explanation, settings.sr)
    return explanation


# ----------------------------------------------------------------------------------------------
# Interpreter network
# ----------------------------------------------------------------------------------------------
def build_interpreter(feature_shape, n_components: int, n_frames: int, n_classes: int,
                      multi_label: bool = False, attention_units: int = 32,
                      hidden_units: int = 64, time_axis: int = 2,
                      non_negative_weights: bool = True, seed: int = 0) -> keras.Model:
    """The interpreter: classifier feature maps -> NMF activations -> attention pool -> logits.

    Input ``classifier_features`` (batch, h, w, c). ``time_axis`` says which of h (1) or w (2)
    follows time: 2 for spectrogram-image models, whose maps are (bins-like, frames-like, c);
    1 for the zoo's time-major waveform models, whose maps are transposed first
    (``interpreter_to_bins_by_frames``). Then:

    - ``interpreter_mix``: 1x1 conv + ReLU (``hidden_units`` channels);
    - ``interpreter_collapse_bins``: a conv spanning all the bins-like rows, so the frequency
      layout of the maps (which the NMF components need) is learnt, not averaged away;
    - ``interpreter_upsample``: bilinear resize of the time axis to ``n_frames``;
    - ``interpreter_smooth``: 1x3 conv + ReLU along time;
    - ``interpreter_components``: 1x1 conv to ``n_components`` + softplus, so H > 0. Softplus,
      not ReLU: a ReLU component whose input turns negative for every clip never recovers (no
      gradient): on a quieter variant of the tests' toy task, 2 seeds of 5 ended with dead
      components and a relative reconstruction error of 0.44 and 0.66, against 0.13-0.18 with
      softplus for all 5. The L1 penalty still drives unused activations close to 0;
    - ``interpreter_activations``: H, shape **(batch, n_components, n_frames)**;
    - attention pooling over time (``interpreter_attention_hidden`` tanh, ``_scores``, softmax
      ``interpreter_attention``) -> ``interpreter_pooled`` (batch, n_components);
    - ``interpreter_logits``: Dense(n_classes); its kernel (K, classes) gives the relevances.
      ``non_negative_weights`` (default) constrains that kernel to >= 0. The relevance keeps only
      positive contributions ``pooled_k * weight[k, c]``, so with free weights part of the
      decision ("class c because component k is *absent*", or "k votes against the other
      classes") is invisible to the explanation. On the tests' toy task, free weights reached
      full fidelity through components unrelated to the class in 3 seeds of 5 (removing the
      "relevant" components moved the classifier's probability by <= 0.01); constrained, all 5
      seeds gave median drops of 0.36-0.77. Pass False for the paper's unconstrained head.

    Outputs a dict ``{"H", "pooled", "logits", "attention"}`` (attention: (batch, n_frames),
    the pooling weights, summing to 1 over time). ``multi_label`` is recorded in the model name
    only (the loss, not the graph, differs). Initialisers are seeded from ``seed``.
    """
    feature_shape = _check_interpreter_shape(feature_shape, n_components, n_frames, n_classes,
                                             attention_units, hidden_units, time_axis)
    n_components, n_frames, n_classes = int(n_components), int(n_frames), int(n_classes)
    counter = iter(range(1000))

    def init():
        return keras.initializers.GlorotUniform(seed=seed * 1000 + next(counter))

    inputs = keras.Input(feature_shape, name="classifier_features")
    frames = _interpreter_frames(inputs, time_axis, hidden_units, n_components, n_frames, init)
    H = keras.layers.Permute((2, 1), name="interpreter_activations")(frames)
    weights, pooled = _attention_pool(frames, attention_units, n_components, init)
    logits = _interpreter_logits(pooled, n_classes, non_negative_weights, seed, init)
    attention = keras.layers.Reshape((n_frames,), name="interpreter_attention_weights")(weights)
    kind = "multi_label" if multi_label else "multi_class"
    return keras.Model(inputs, {"H": H, "pooled": pooled, "logits": logits,
                                "attention": attention}, name=f"l2i_interpreter_{kind}")


def _check_interpreter_shape(feature_shape, n_components, n_frames, n_classes, attention_units,
                             hidden_units, time_axis) -> tuple:
    """``feature_shape`` as a tuple of ints; raise on a bad size or time axis."""
    feature_shape = tuple(int(d) if d is not None else -1 for d in feature_shape)
    if len(feature_shape) != 3 or min(feature_shape) < 1:
        raise ValueError(f"feature_shape must be a known (h, w, c), got {feature_shape}")
    for name, value in (("n_components", n_components), ("n_frames", n_frames),
                        ("n_classes", n_classes), ("attention_units", attention_units),
                        ("hidden_units", hidden_units)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if time_axis not in (1, 2):
        raise ValueError(f"time_axis must be 1 (h is time) or 2 (w is time), got {time_axis}")
    return feature_shape


def _interpreter_frames(x, time_axis: int, hidden_units: int, n_components: int,
                        n_frames: int, init):
    """Feature maps -> (batch, n_frames, n_components) non-negative component activations."""
    if time_axis == 1:
        x = keras.layers.Permute((2, 1, 3), name="interpreter_to_bins_by_frames")(x)
    n_rows = int(x.shape[1])
    x = keras.layers.Conv2D(hidden_units, 1, activation="relu", kernel_initializer=init(),
                            name="interpreter_mix")(x)
    x = keras.layers.Conv2D(hidden_units, (n_rows, 1), padding="valid", activation="relu",
                            kernel_initializer=init(), name="interpreter_collapse_bins")(x)
    x = keras.layers.Resizing(1, n_frames, interpolation="bilinear",
                              name="interpreter_upsample")(x)  # (batch, 1, n_frames, hidden)
    x = keras.layers.Conv2D(hidden_units, (1, 3), padding="same", activation="relu",
                            kernel_initializer=init(), name="interpreter_smooth")(x)
    x = keras.layers.Conv2D(n_components, 1, activation="softplus", kernel_initializer=init(),
                            name="interpreter_components")(x)
    return keras.layers.Reshape((n_frames, n_components), name="interpreter_frames")(x)


def _attention_pool(frames, attention_units: int, n_components: int, init):
    """Attention over time: (weights (batch, n_frames, 1), pooled (batch, n_components))."""
    scores = keras.layers.Dense(attention_units, activation="tanh", kernel_initializer=init(),
                                name="interpreter_attention_hidden")(frames)
    scores = keras.layers.Dense(1, kernel_initializer=init(),
                                name="interpreter_attention_scores")(scores)
    weights = keras.layers.Softmax(axis=1, name="interpreter_attention")(scores)  # over time
    pooled = keras.layers.Dot(axes=1, name="interpreter_weighted_sum")([weights, frames])
    return weights, keras.layers.Reshape((n_components,), name="interpreter_pooled")(pooled)


def _interpreter_logits(pooled, n_classes: int, non_negative_weights: bool, seed: int, init):
    """``interpreter_logits``: Dense(n_classes), its kernel kept >= 0 if asked."""
    if non_negative_weights:
        # A small positive start: the constraint would clip Glorot's negative half to 0 at the
        # first step, leaving those weights with no say until a gradient pushed them back up.
        logit_init, constraint = keras.initializers.RandomUniform(0.0, 0.1, seed=seed), "non_neg"
    else:
        logit_init, constraint = init(), None
    return keras.layers.Dense(n_classes, kernel_initializer=logit_init,
                              kernel_constraint=constraint, name="interpreter_logits")(pooled)


def component_relevance(pooled, logit_weights, class_index) -> np.ndarray:
    """Relevance of each component for a class: ``max(pooled_k * weight[k, c], 0)`` divided by
    its maximum over k, so the most relevant component scores 1 (all 0 when none is positive).

    ``pooled``: (K,) or (batch, K); ``logit_weights``: (K, classes) kernel of
    ``interpreter_logits``; ``class_index``: an int, or one per example for a batch.
    Returns (K,) or (batch, K) float32 in [0, 1].
    """
    pooled = np.asarray(pooled, dtype=np.float64)
    logit_weights = np.asarray(logit_weights, dtype=np.float64)
    single = pooled.ndim == 1
    pooled = np.atleast_2d(pooled)
    if pooled.ndim != 2 or logit_weights.ndim != 2 or pooled.shape[1] != logit_weights.shape[0]:
        raise ValueError(f"pooled (K,) or (batch, K) must match logit weights (K, classes); got "
                         f"{pooled.shape} and {logit_weights.shape}")
    classes = np.asarray(class_index)
    if not np.issubdtype(classes.dtype, np.integer):
        raise ValueError(f"class_index must be an int or ints, got {class_index!r}")
    classes = np.broadcast_to(classes, (pooled.shape[0],)) if classes.ndim == 0 else classes
    if classes.shape != (pooled.shape[0],):
        raise ValueError(f"class_index needs one class per example ({pooled.shape[0]}), got "
                         f"shape {classes.shape}")
    if classes.min() < 0 or classes.max() >= logit_weights.shape[1]:
        raise ValueError(f"class_index must lie in [0, {logit_weights.shape[1]}), got {classes}")
    scores = np.maximum(pooled * logit_weights[:, classes].T, 0.0)
    peak = scores.max(axis=1, keepdims=True)
    relevance = np.where(peak > 0, scores / np.where(peak > 0, peak, 1.0), 0.0).astype(np.float32)
    return relevance[0] if single else relevance


@dataclass
class Interpreter:
    """A trained interpreter with everything needed to reuse it.

    ``model``: the Keras interpreter (``build_interpreter``); ``W``: the dictionary (freq, K);
    ``layer_name``: the classifier layer it reads; ``classifier``: the frozen classifier;
    ``settings``: JSON-able dict (feature_shape, n_components, n_frames, n_classes, multi_label,
    attention_units, hidden_units, time_axis, seed, stft); ``history``: per-epoch mean losses.
    """

    model: keras.Model
    W: np.ndarray
    layer_name: str
    classifier: keras.Model
    settings: dict
    history: list = field(default_factory=list)

    @property
    def multi_label(self) -> bool:
        return bool(self.settings["multi_label"])

    @property
    def stft_settings(self) -> Optional[StftSettings]:
        """The STFT the spectrograms were made with, when ``train_interpreter`` was told it."""
        stft = self.settings.get("stft")
        return StftSettings(**stft) if stft else None

    @property
    def logit_weights(self) -> np.ndarray:
        """Kernel (K, classes) of ``interpreter_logits``."""
        return np.asarray(self.model.get_layer("interpreter_logits").kernel)

    def features(self, inputs, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """The classifier's ``layer_name`` maps for model inputs (inference mode)."""
        return _feature_maps(self.classifier, self.layer_name, inputs, batch_size, progress)

    def predict_features(self, features, batch_size: int = 64) -> dict:
        """``predict`` from already computed feature maps (batch, h, w, c)."""
        features = np.asarray(features, dtype=np.float32)
        expected = tuple(self.settings["feature_shape"])
        if features.ndim != 4 or features.shape[1:] != expected or len(features) == 0:
            raise ValueError(f"features must be (batch > 0, {expected}), got {features.shape}")
        parts = [self.model(features[i:i + batch_size], training=False)
                 for i in range(0, len(features), batch_size)]
        out = {key: np.concatenate([np.asarray(p[key]) for p in parts]) for key in parts[0]}
        logits = tf.constant(out["logits"])
        out["probabilities"] = np.asarray(tf.sigmoid(logits) if self.multi_label
                                          else tf.nn.softmax(logits, axis=-1))
        return out

    def predict(self, inputs, batch_size: int = 32) -> dict:
        """``{"H": (n, K, frames), "pooled": (n, K), "logits": (n, classes),
        "attention": (n, frames), "probabilities": (n, classes)}`` for classifier inputs
        (probabilities: softmax of the logits, or sigmoid when multi-label)."""
        return self.predict_features(self.features(inputs, batch_size), batch_size)

    def relevance(self, pooled, class_index) -> np.ndarray:
        """``component_relevance`` with this interpreter's logit weights."""
        return component_relevance(pooled, self.logit_weights, class_index)

    def save(self, folder) -> Path:
        """``interpreter.keras``, ``W.npy`` and ``interpreter.json`` (settings, layer name)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(folder / MODEL_FILE)
        np.save(folder / DICTIONARY_FILE, self.W)
        record = {"layer_name": self.layer_name, "settings": self.settings,
                  "history": self.history}
        (folder / SETTINGS_FILE).write_text(json.dumps(record, indent=2))
        return folder

    @classmethod
    def load(cls, folder, classifier: keras.Model) -> "Interpreter":
        """Load a saved interpreter for ``classifier``; the classifier must have the layer the
        interpreter was trained on, with the same feature-map shape."""
        folder = Path(folder)
        missing = [name for name in (MODEL_FILE, DICTIONARY_FILE, SETTINGS_FILE)
                   if not (folder / name).is_file()]
        if missing:
            raise ValueError(f"{folder} is not a saved interpreter: missing {', '.join(missing)}")
        record = json.loads((folder / SETTINGS_FILE).read_text())
        layer_name, settings = record["layer_name"], record["settings"]
        shape = _layer_feature_shape(classifier, layer_name)
        if shape != tuple(settings["feature_shape"]):
            raise ValueError(f"classifier layer {layer_name!r} outputs {shape}, the interpreter "
                             f"was trained on {tuple(settings['feature_shape'])}")
        W = np.load(folder / DICTIONARY_FILE)
        if W.shape[1] != settings["n_components"]:
            raise ValueError(f"W.npy has {W.shape[1]} components, settings say "
                             f"{settings['n_components']}")
        model = keras.saving.load_model(folder / MODEL_FILE, compile=False)
        return cls(model=model, W=W, layer_name=layer_name, classifier=classifier,
                   settings=settings, history=record.get("history", []))


def _layer_feature_shape(classifier: keras.Model, layer_name: str) -> tuple:
    names = [layer.name for layer in classifier.layers]
    if layer_name not in names:
        raise ValueError(f"classifier {classifier.name!r} has no layer {layer_name!r}")
    shape = classifier.get_layer(layer_name).output.shape
    if len(shape) != 4 or any(d is None for d in shape[1:]):
        raise ValueError(f"layer {layer_name!r} must output known (batch, h, w, c) maps, got "
                         f"{tuple(shape)}")
    return tuple(int(d) for d in shape[1:])


def _feature_maps(classifier, layer_name, inputs, batch_size=32, progress=False) -> np.ndarray:
    _layer_feature_shape(classifier, layer_name)
    # A single input as a tensor, not a one-element list: Keras warns on structure mismatches.
    model_inputs = classifier.inputs[0] if len(classifier.inputs) == 1 else classifier.inputs
    probe = keras.Model(model_inputs, classifier.get_layer(layer_name).output)
    inputs = np.asarray(inputs)
    if len(inputs) == 0:
        raise ValueError("no inputs: the classifier needs at least one clip")
    parts = [np.asarray(probe(inputs[i:i + batch_size], training=False))
             for i in tqdm(range(0, len(inputs), batch_size), desc="feature maps",
                           disable=not progress)]
    return np.concatenate(parts).astype(np.float32)


def _classification_output(classifier: keras.Model) -> keras.Model:
    from modules.models.finetune import classification_model

    return classification_model(classifier)


def _infer_multi_label(classifier: keras.Model) -> bool:
    from modules.models.finetune import output_activation

    activation = output_activation(classifier)
    if activation in ("sigmoid", "softmax"):
        return activation == "sigmoid"
    raise ValueError(f"cannot tell from the output activation {activation!r} of classifier "
                     f"{classifier.name!r} whether it is multi-label; pass multi_label=")


def train_interpreter(classifier: keras.Model, layer_name: str, inputs, spectrograms, W,
                      epochs: int = 100, batch_size: int = 16, learning_rate: float = 1e-3,
                      reconstruction_weight: float = 10.0, fidelity_weight: float = 1.0,
                      sparsity_weight: float = 0.01, multi_label: Optional[bool] = None,
                      attention_units: int = 32, hidden_units: int = 64,
                      time_axis: Optional[int] = None, non_negative_weights: bool = True,
                      stft_settings: Optional[StftSettings] = None, seed: int = 0,
                      progress: bool = False) -> Interpreter:
    """Train an interpreter of the frozen ``classifier`` from its ``layer_name`` feature maps.

    ``inputs``: (n, ...) the classifier's inputs (e.g. (n, bins, frames, 1) images);
    ``spectrograms``: (n, freq, frames) ``log1p|STFT|`` of the same clips (``log_magnitude``),
    ``freq`` = ``W.shape[0]``; ``frames`` sets the length of ``H``.

    The classifier is frozen: its feature maps and its probabilities (the fidelity targets) are
    computed once, in inference mode, before training. Loss per batch:
    ``reconstruction_weight * mean((X - W H)^2) + fidelity_weight * CE + sparsity_weight *
    mean|H|`` with CE the cross-entropy between the interpreter's softmax and the classifier's
    probabilities, or, when multi-label, the mean per-class binary cross-entropy of its sigmoid.
    The reconstruction term is a mean over bins and frames, hence small (~0.01-0.1 for log1p
    spectrograms) next to the cross-entropy: the default weight 10 keeps H tied to the audio
    (on the tests' toy task, weight 1 left a relative reconstruction error of 0.41-0.45 over 5
    seeds, against 0.28 with 10, at the same fidelity). The L1 weight 0.01 is a gentle push
    towards few active components; raise it for sparser explanations.
    ``multi_label=None`` infers it from the classifier's output activation (sigmoid: multi-label).
    ``time_axis=None``: 1 when the classifier has a ``time_major`` layer (the zoo's waveform
    models), else 2. ``stft_settings`` is only recorded, for resynthesis later.
    Deterministic for a given ``seed`` (seeded initialisers and batch order).
    """
    W = _check_dictionary(W)
    feature_shape = _layer_feature_shape(classifier, layer_name)
    inputs = np.asarray(inputs)
    spectrograms = _check_training_clips(inputs, spectrograms, W)
    _check_training_options(epochs, batch_size, learning_rate, reconstruction_weight,
                            fidelity_weight, sparsity_weight)
    if multi_label is None:
        multi_label = _infer_multi_label(classifier)
    if time_axis is None:
        time_axis = 1 if TIME_MAJOR_LAYER in {layer.name for layer in classifier.layers} else 2

    features = _feature_maps(classifier, layer_name, inputs, progress=progress)
    targets = _classifier_probabilities(classifier, inputs)
    n_frames, n_classes = spectrograms.shape[2], targets.shape[1]
    settings = dict(feature_shape=list(feature_shape), n_components=int(W.shape[1]),
                    n_frames=int(n_frames), n_classes=int(n_classes),
                    multi_label=bool(multi_label), attention_units=int(attention_units),
                    hidden_units=int(hidden_units), time_axis=int(time_axis),
                    non_negative_weights=bool(non_negative_weights), seed=int(seed),
                    stft=asdict(stft_settings) if stft_settings else None,
                    loss_weights=dict(reconstruction=float(reconstruction_weight),
                                      fidelity=float(fidelity_weight),
                                      sparsity=float(sparsity_weight)))
    model = build_interpreter(feature_shape, W.shape[1], n_frames, n_classes,
                              multi_label=multi_label, attention_units=attention_units,
                              hidden_units=hidden_units, time_axis=time_axis,
                              non_negative_weights=non_negative_weights, seed=seed)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    step = _training_step(model, optimizer, W, multi_label, (reconstruction_weight,
                                                             fidelity_weight, sparsity_weight))
    history = _fit(step, features, spectrograms, targets, epochs, batch_size, seed, progress)
    return Interpreter(model=model, W=W, layer_name=layer_name, classifier=classifier,
                       settings=settings, history=history)


def _check_training_clips(inputs: np.ndarray, spectrograms, W: np.ndarray) -> np.ndarray:
    """``spectrograms`` as float32 (n, freq, frames); raise unless they match W and inputs."""
    spectrograms = np.asarray(spectrograms, dtype=np.float32)
    if spectrograms.ndim != 3 or spectrograms.shape[1] != W.shape[0]:
        raise ValueError(f"spectrograms must be (n, freq={W.shape[0]}, frames), got "
                         f"{spectrograms.shape}")
    if len(inputs) != len(spectrograms) or len(inputs) == 0:
        raise ValueError(f"inputs ({len(inputs)}) and spectrograms ({len(spectrograms)}) must hold "
                         "the same, non-zero number of clips")
    if not np.all(np.isfinite(spectrograms)) or np.any(spectrograms < 0):
        raise ValueError("spectrograms must be finite and non-negative (log1p|STFT|)")
    return spectrograms


def _check_training_options(epochs, batch_size, learning_rate, reconstruction_weight,
                            fidelity_weight, sparsity_weight) -> None:
    """Raise on a non-positive epoch count, batch size or learning rate, or a negative weight."""
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}")
    for name, value in (("reconstruction_weight", reconstruction_weight),
                        ("fidelity_weight", fidelity_weight), ("sparsity_weight", sparsity_weight)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def _classifier_probabilities(classifier: keras.Model, inputs: np.ndarray) -> np.ndarray:
    """The frozen classifier's (n, classes) probabilities, in inference mode: the fidelity
    targets."""
    output_model = _classification_output(classifier)
    targets = np.concatenate([np.asarray(output_model(inputs[i:i + 64], training=False))
                              for i in range(0, len(inputs), 64)]).astype(np.float32)
    if targets.ndim != 2:
        raise ValueError(f"the classifier's output must be (batch, classes), got {targets.shape}")
    return targets


def _training_step(model: keras.Model, optimizer, W: np.ndarray, multi_label: bool,
                   loss_weights: tuple):
    """One optimiser step on a batch (features, spectrograms, targets); returns the losses
    (total, reconstruction, fidelity, sparsity)."""
    W_t = tf.constant(W)
    weights = [tf.constant(float(w)) for w in loss_weights]

    @tf.function(reduce_retracing=True)
    def step(f, x, p):
        with tf.GradientTape() as tape:
            out = model(f, training=True)
            H = out["H"]  # (batch, K, frames)
            reconstruction = tf.reduce_mean(tf.square(x - tf.einsum("fk,bkt->bft", W_t, H)))
            if multi_label:
                fidelity_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
                    labels=p, logits=out["logits"]))
            else:
                fidelity_loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
                    labels=p, logits=out["logits"]))
            sparsity = tf.reduce_mean(tf.abs(H))
            total = (weights[0] * reconstruction + weights[1] * fidelity_loss
                     + weights[2] * sparsity)
        gradients = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return tf.stack([total, reconstruction, fidelity_loss, sparsity])

    return step


def _fit(step, features: np.ndarray, spectrograms: np.ndarray, targets: np.ndarray, epochs,
         batch_size, seed: int, progress: bool) -> list[dict]:
    """``epochs`` passes in a seeded random order; the history of mean losses per epoch."""
    rng = np.random.default_rng(seed)
    history = []
    bar = tqdm(range(int(epochs)), desc="interpreter", unit="epoch", disable=not progress)
    for _ in bar:
        order = rng.permutation(len(features))
        sums, count = np.zeros(4), 0
        for start in range(0, len(order), int(batch_size)):
            batch = order[start:start + int(batch_size)]
            losses = step(tf.constant(features[batch]), tf.constant(spectrograms[batch]),
                          tf.constant(targets[batch]))
            sums += np.asarray(losses) * len(batch)
            count += len(batch)
        record = dict(zip(("loss", "reconstruction", "fidelity", "sparsity"),
                          (float(v) for v in sums / count)))
        history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.4f}")
    return history


# ----------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------
def _check_probability_pair(a, b, names) -> tuple:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape or a.shape[0] == 0:
        raise ValueError(f"{names[0]} {a.shape} and {names[1]} {b.shape} must both be "
                         "(n_clips > 0, n_classes)")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("probabilities must be finite")
    return a, b


def fidelity(interpreter_probabilities, classifier_probabilities, multi_label: bool = False,
             threshold: float = 0.5) -> dict:
    """How well the interpreter reproduces the classifier, on (n, classes) arrays.

    Multi-class: ``{"top1", "top3", "top5"}``, the fraction of clips whose classifier-predicted
    class (argmax) is among the interpreter's k best classes (k capped at the class count; a
    class tied with the k-th counts as inside).
    Multi-label: ``{"auprc", "n_classes_scored"}``: macro average precision of the interpreter's
    scores against the classifier's predictions (probability >= ``threshold``), over the classes
    the classifier predicts at least once (NaN when it predicts none).
    """
    interp, classif = _check_probability_pair(interpreter_probabilities, classifier_probabilities,
                                              ("interpreter_probabilities",
                                               "classifier_probabilities"))
    if multi_label:
        from sklearn.metrics import average_precision_score

        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
        labels = classif >= threshold
        scored = np.flatnonzero(labels.any(axis=0))
        if scored.size == 0:
            return {"auprc": float("nan"), "n_classes_scored": 0}
        ap = [average_precision_score(labels[:, c], interp[:, c]) for c in scored]
        return {"auprc": float(np.mean(ap)), "n_classes_scored": int(scored.size)}
    predicted = classif.argmax(axis=1)
    own_score = interp[np.arange(len(interp)), predicted]
    rank = (interp > own_score[:, None]).sum(axis=1)  # classes strictly better than the target
    return {f"top{k}": float(np.mean(rank < k)) for k in (1, 3, 5)}


def faithfulness(classify: Callable, audio_clips, H, relevances, W, settings: StftSettings,
                 class_indices, relevance_threshold: float = 0.1, seed: int = 0,
                 batch_size: int = 32, progress: bool = False) -> dict:
    """Does removing the relevant components hurt the classifier more than removing random ones?

    Args:
        classify: ``classify(audio_batch (m, samples)) -> (logits, probabilities)``, each
            (m, classes): the caller's own front end and classifier.
        audio_clips: (n, samples) clips of equal length.
        H: (n, K, frames) activations used for the masks, e.g. ``interpreter.predict(...)["H"]``.
        relevances: (n, K) relevance of each component for each clip's explained class, e.g.
            ``interpreter.relevance(pooled, class_indices)``.
        W: dictionary (freq, K); ``settings``: the STFT of the spectrograms.
        class_indices: (n,) the class to check per clip, normally the classifier's prediction.
        relevance_threshold: components with relevance above it are "relevant" (S_i).
        seed: the random baseline removes ``|S_i|`` components drawn uniformly from all K.

    For each clip, the audio is re-synthesised without S_i (``resynthesize`` with the other
    components) and without the random set, and re-classified. A drop is the original clip's
    value minus the modified clip's value for ``class_indices[i]`` (positive: the class lost
    evidence).

    Returns ``{"median": {"relevant_logit", "relevant_probability", "random_logit",
    "random_probability"}, "per_clip": {the same four (n,) arrays, "n_removed" (n,)}}``.
    """
    audio_clips = np.asarray(audio_clips, dtype=np.float32)
    if audio_clips.ndim != 2 or audio_clips.shape[0] == 0:
        raise ValueError(f"audio_clips must be (n_clips > 0, samples), got {audio_clips.shape}")
    W = _check_dictionary(W)
    n, K = audio_clips.shape[0], W.shape[1]
    H = np.asarray(H, dtype=np.float32)
    frames = settings.n_frames(audio_clips.shape[1])
    if H.shape != (n, K, frames):
        raise ValueError(f"H must be (n={n}, K={K}, frames={frames}), got {H.shape}")
    relevances = np.asarray(relevances, dtype=np.float64)
    if relevances.shape != (n, K):
        raise ValueError(f"relevances must be (n={n}, K={K}), got {relevances.shape}")
    class_indices = np.asarray(class_indices)
    if class_indices.shape != (n,) or not np.issubdtype(class_indices.dtype, np.integer):
        raise ValueError(f"class_indices must be (n={n},) ints, got {class_indices!r}")
    if not 0.0 <= relevance_threshold < 1.0:
        raise ValueError(f"relevance_threshold must lie in [0, 1), got {relevance_threshold}")

    rng = np.random.default_rng(seed)
    without_relevant, without_random, n_removed = [], [], np.zeros(n, dtype=int)
    for i in tqdm(range(n), desc="faithfulness", disable=not progress):
        relevant = relevances[i] > relevance_threshold
        n_removed[i] = int(relevant.sum())
        random_set = np.zeros(K, dtype=bool)
        random_set[rng.choice(K, size=n_removed[i], replace=False)] = True
        without_relevant.append(resynthesize(audio_clips[i], W, H[i], ~relevant, settings))
        without_random.append(resynthesize(audio_clips[i], W, H[i], ~random_set, settings))

    def run(batch):
        logits, probabilities = [], []
        for start in range(0, len(batch), batch_size):
            out_logits, out_probabilities = classify(np.asarray(batch[start:start + batch_size]))
            logits.append(np.asarray(out_logits, dtype=np.float64))
            probabilities.append(np.asarray(out_probabilities, dtype=np.float64))
        logits, probabilities = np.concatenate(logits), np.concatenate(probabilities)
        if logits.shape[0] != len(batch) or probabilities.shape != logits.shape:
            raise ValueError("classify must return (logits, probabilities), each (batch, classes)")
        if class_indices.max() >= logits.shape[1] or class_indices.min() < 0:
            raise ValueError(f"class_indices must lie in [0, {logits.shape[1]})")
        rows = np.arange(len(batch))
        return logits[rows, class_indices], probabilities[rows, class_indices]

    base_logit, base_probability = run(audio_clips)
    relevant_logit, relevant_probability = run(np.stack(without_relevant))
    random_logit, random_probability = run(np.stack(without_random))
    per_clip = {
        "relevant_logit": base_logit - relevant_logit,
        "relevant_probability": base_probability - relevant_probability,
        "random_logit": base_logit - random_logit,
        "random_probability": base_probability - random_probability,
    }
    median = {key: float(np.median(value)) for key, value in per_clip.items()}
    per_clip["n_removed"] = n_removed
    return {"median": median, "per_clip": per_clip}
