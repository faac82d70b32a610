"""Training-set augmentations named in job blocks: ``[[name, {arguments}], ...]``.

Every augmentation *adds* examples: ``quantity`` is the number of extra training examples it
creates each epoch, as a fraction of the training examples (0.2 on 400 chunks: 80 more). Each
extra example is built from original training examples only (never from another augmented
one), with a fresh random draw every epoch.

An extra example is described by a :class:`Recipe`: a few waveforms, each turned into a model
input by the job's parse function, then summed with per-element weights, and optionally a mask
whose elements are replaced by the result's mean (SpecAugment). That one form covers:

* ``mixup``: two inputs, weights lambda and 1 - lambda (labels mixed the same way);
* ``cutmix``: two inputs, complementary 0/1 weights over a band of frames (labels by area);
* ``augmix``: the clean input and ``width`` augmentation chains, Dirichlet-weighted;
* ``specaugment``: one input and a time/frequency mask;
* ``waveform``: one input made from a transformed waveform.

In ``audio_aug_params``, ``mixup`` mixes the waveforms instead of the spectrograms.
Labels name classes by index or by name; -1 means any class.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np

from modules.augment.waveform import WaveformTransform, resolve_transform
from modules.errors import UserError

ANY_LABEL = -1
DOMAINS = ("spec", "audio")
_LIST_NAMES = {"spec": "spec_aug_params", "audio": "audio_aug_params"}


class AugmentationError(UserError, ValueError):
    """A misspelt augmentation, a bad argument, or an augmentation that cannot apply here."""


@dataclass
class ExamplePool:
    """The original training examples an augmentation draws from.

    audio: (n, samples) float32 decoded chunks; labels: (n, n_classes) float32 (one-hot, or
    multi-hot); padded: (n,) bool, True for chunks holding zero padding; input_shape: the model
    input shape the parse function produces, e.g. (mels, frames, 1) or (samples,).
    """

    audio: np.ndarray
    labels: np.ndarray
    padded: np.ndarray
    sr: int
    input_shape: tuple

    def __post_init__(self) -> None:
        self.audio = np.asarray(self.audio, np.float32)
        self.labels = np.asarray(self.labels, np.float32)
        self.padded = np.asarray(self.padded, bool)
        self.input_shape = tuple(int(d) for d in self.input_shape)
        if not (len(self.audio) == len(self.labels) == len(self.padded)):
            raise ValueError(f"pool arrays disagree in length: audio {len(self.audio)}, labels "
                             f"{len(self.labels)}, padded {len(self.padded)}")
        self.label_index = self.labels.argmax(axis=1) if len(self.labels) else np.zeros(0, int)

    def __len__(self) -> int:
        return len(self.audio)

    @property
    def is_spectrogram(self) -> bool:
        """(bins, frames, 1) images, as opposed to waveforms."""
        return len(self.input_shape) == 3

    def eligible(self, label: int, no_pad: bool) -> np.ndarray:
        """Indices of examples of class ``label`` (-1: any), without padded ones if ``no_pad``."""
        keep = np.ones(len(self), bool)
        if label != ANY_LABEL and len(self):
            keep &= self.labels[:, label] > 0.5
        if no_pad:
            keep &= ~self.padded
        return np.flatnonzero(keep)


@dataclass
class Recipe:
    """How to build one training example.

    waveforms: (m, samples); weights: (m, *input_shape), the weight of each parsed waveform at
    every element of the input; mask: input_shape, 1 where the result is replaced by its mean;
    label: (n_classes,); drawn: what was drawn, for reports and ``spectrain augment --pretend``.
    """

    waveforms: np.ndarray
    weights: np.ndarray
    mask: np.ndarray
    label: np.ndarray
    drawn: dict = field(default_factory=dict)


def constant_weights(values: Sequence[float], input_shape: tuple) -> np.ndarray:
    values = np.asarray(values, np.float32).reshape((-1,) + (1,) * len(input_shape))
    return np.broadcast_to(values, (len(values),) + tuple(input_shape)).astype(np.float32)


def plain_recipe(pool: ExamplePool, index: int) -> Recipe:
    """An original example, unchanged."""
    return Recipe(pool.audio[index][None], constant_weights([1.0], pool.input_shape),
                  np.zeros(pool.input_shape, np.float32), pool.labels[index].copy(),
                  {"source": int(index)})


# ----------------------------------------------------------------------------------------------
def _check_number(owner: str, name: str, value, low=None, high=None, integer=False) -> None:
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise AugmentationError(f"{owner}: {name} must be {'an integer' if integer else 'a number'}"
                                f", got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise AugmentationError(f"{owner}: {name} must be {bounds}, got {value!r}")


def _check_range(owner: str, low_name: str, low, high_name: str, high, bounds=(0.0, 1.0)) -> None:
    _check_number(owner, low_name, low, *bounds)
    _check_number(owner, high_name, high, *bounds)
    if low > high:
        raise AugmentationError(f"{owner}: {low_name} ({low}) is larger than {high_name} ({high})")


def _check_label(owner: str, name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, str)):
        raise AugmentationError(f"{owner}: {name} must be a class index, a class name or -1 "
                                f"(any class), got {value!r}")
    if isinstance(value, (int, np.integer)) and value < ANY_LABEL:
        raise AugmentationError(f"{owner}: {name} must be -1 (any class) or a class index >= 0, "
                                f"got {value}")


class Augmentation:
    """Base class: validated arguments, ``bind`` to the job's classes, ``make`` one recipe."""

    name: ClassVar[str]
    domains: ClassVar[tuple] = DOMAINS
    needs_spectrogram: ClassVar[bool] = False
    label_arguments: ClassVar[tuple] = ("label",)

    def __init__(self, quantity: float, no_pad: bool = False):
        _check_number(self.name, "quantity", quantity, 0.0, None)
        if not isinstance(no_pad, bool):
            raise AugmentationError(f"{self.name}: no_pad must be True or False, got {no_pad!r}")
        self.quantity = float(quantity)
        self.no_pad = no_pad
        self.domain = "spec"
        self._labels: dict[str, int] = {}

    # -- configuration ---------------------------------------------------------------------
    def get_config(self) -> dict:
        config = {}
        for name in inspect.signature(type(self).__init__).parameters:
            if name == "self":
                continue
            value = getattr(self, name)
            if isinstance(value, WaveformTransform):
                value = repr(value)
            elif isinstance(value, (list, tuple)):
                value = [repr(v) if isinstance(v, WaveformTransform) else v for v in value]
            config[name] = value
        return config

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{self.name}({arguments})"

    def bind(self, class_names: Sequence[str]) -> None:
        """Resolve label arguments (index or class name) against the job's classes."""
        names = list(class_names)
        for argument in self.label_arguments:
            value = getattr(self, argument)
            if isinstance(value, str):
                if value not in names:
                    close = difflib.get_close_matches(value, names, n=3, cutoff=0.5)
                    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
                    raise AugmentationError(f"{self.name}: {argument}={value!r} is not a class "
                                            f"of this job{hint} Classes: {', '.join(names)}")
                index = names.index(value)
            else:
                index = int(value)
                if index >= len(names):
                    raise AugmentationError(
                        f"{self.name}: {argument}={index} but the job has {len(names)} classes "
                        f"(0..{len(names) - 1}: {', '.join(names)}); -1 means any class")
            self._labels[argument] = index

    def label_of(self, argument: str) -> int:
        if argument not in self._labels:
            raise RuntimeError(f"{self.name}: bind(class_names) before drawing examples")
        return self._labels[argument]

    def check_input(self, input_shape: tuple) -> None:
        if self.needs_spectrogram and len(input_shape) != 3:
            raise AugmentationError(
                f"{self.name} masks time-frequency regions, so it needs spectrogram inputs "
                f"(bins, frames, 1); this job's parse function gives {tuple(input_shape)}. "
                "(Models with their own front end, such as PANNs, have a SpecAugmentation layer.)")

    # -- drawing ---------------------------------------------------------------------------
    def sources(self, pool: ExamplePool) -> np.ndarray:
        """Examples an extra example may start from."""
        return pool.eligible(self.label_of(self.label_arguments[0]), self.no_pad)

    def make(self, pool: ExamplePool, source: int, rng: np.random.Generator) -> Recipe:
        raise NotImplementedError


# ----------------------------------------------------------------------------------------------
class _PairAugmentation(Augmentation):
    """Draws a partner of ``label_two`` for a source of ``label_one``."""

    label_arguments = ("label_one", "label_two")

    def __init__(self, quantity, label_one, label_two, minval, maxval, no_pad):
        super().__init__(quantity, no_pad)
        _check_label(self.name, "label_one", label_one)
        _check_label(self.name, "label_two", label_two)
        _check_range(self.name, "minval", minval, "maxval", maxval)
        self.label_one, self.label_two = label_one, label_two
        self.minval, self.maxval = float(minval), float(maxval)

    def partner(self, pool: ExamplePool, source: int, rng: np.random.Generator) -> int:
        candidates = pool.eligible(self.label_of("label_two"), self.no_pad)
        others = candidates[candidates != source]
        if len(others):
            candidates = others
        if not len(candidates):
            raise AugmentationError(f"{self.name}: no training example matches label_two="
                                    f"{self.label_two!r}" + (" (no_pad=True)" if self.no_pad else ""))
        return int(rng.choice(candidates))


class Mixup(_PairAugmentation):
    """Mix an example of ``label_one`` with one of ``label_two``: lambda * a + (1 - lambda) * b
    for inputs and labels alike, lambda drawn uniformly from [minval, maxval]."""

    name = "mixup"

    def __init__(self, quantity: float, label_one=-1, label_two=-1, minval: float = 0.3,
                 maxval: float = 0.7, no_pad: bool = False):
        super().__init__(quantity, label_one, label_two, minval, maxval, no_pad)

    def make(self, pool, source, rng):
        other = self.partner(pool, source, rng)
        lam = float(rng.uniform(self.minval, self.maxval))
        label = lam * pool.labels[source] + (1.0 - lam) * pool.labels[other]
        drawn = {"source": int(source), "partner": int(other), "lambda": lam}
        if self.domain == "audio":  # mix the waveforms, then compute one input
            audio = lam * pool.audio[source] + (1.0 - lam) * pool.audio[other]
            return Recipe(audio[None].astype(np.float32),
                          constant_weights([1.0], pool.input_shape),
                          np.zeros(pool.input_shape, np.float32), label, drawn)
        return Recipe(pool.audio[[source, other]],
                      constant_weights([lam, 1.0 - lam], pool.input_shape),
                      np.zeros(pool.input_shape, np.float32), label, drawn)


class CutMix(_PairAugmentation):
    """Replace a band of frames (``axis="time"``) or a time-frequency box (``"both"``) of an
    example of ``label_one`` with the same region of one of ``label_two``; the region's share
    of the input, drawn from [minval, maxval], is the partner's share of the label."""

    name = "cutmix"
    domains = ("spec",)
    needs_spectrogram = True

    def __init__(self, quantity: float, label_one=-1, label_two=-1, minval: float = 0.1,
                 maxval: float = 0.4, axis: str = "time", no_pad: bool = False):
        super().__init__(quantity, label_one, label_two, minval, maxval, no_pad)
        if axis not in ("time", "both"):
            raise AugmentationError(f"cutmix: axis must be 'time' or 'both', got {axis!r}")
        self.axis = axis

    def make(self, pool, source, rng):
        other = self.partner(pool, source, rng)
        bins, frames = pool.input_shape[:2]
        share = float(rng.uniform(self.minval, self.maxval))
        side = share if self.axis == "time" else np.sqrt(share)
        width = int(np.clip(round(side * frames), 1, frames))
        height = bins if self.axis == "time" else int(np.clip(round(side * bins), 1, bins))
        t0 = int(rng.integers(0, frames - width + 1))
        f0 = int(rng.integers(0, bins - height + 1))
        region = np.zeros(pool.input_shape, np.float32)
        region[f0:f0 + height, t0:t0 + width] = 1.0
        area = float(region.mean())  # the exact share after rounding to whole frames and bins
        label = (1.0 - area) * pool.labels[source] + area * pool.labels[other]
        weights = np.stack([1.0 - region, region])
        return Recipe(pool.audio[[source, other]], weights, np.zeros(pool.input_shape, np.float32),
                      label, {"source": int(source), "partner": int(other), "share": area,
                              "frames": [t0, t0 + width], "bins": [f0, f0 + height]})


class SpecAugment(Augmentation):
    """Time and frequency masking (Park et al., 2019): ``time_masks`` bands of up to
    ``time_width`` of the frames and ``freq_masks`` bands of up to ``freq_width`` of the bins
    are replaced by the example's mean value (for dB spectrograms, 0 would be loud, not quiet)."""

    name = "specaugment"
    domains = ("spec",)
    needs_spectrogram = True

    def __init__(self, quantity: float, label=-1, time_masks: int = 2, time_width: float = 0.1,
                 freq_masks: int = 2, freq_width: float = 0.15, no_pad: bool = False):
        super().__init__(quantity, no_pad)
        _check_label(self.name, "label", label)
        _check_number(self.name, "time_masks", time_masks, 0, None, integer=True)
        _check_number(self.name, "freq_masks", freq_masks, 0, None, integer=True)
        _check_number(self.name, "time_width", time_width, 0.0, 1.0)
        _check_number(self.name, "freq_width", freq_width, 0.0, 1.0)
        if time_masks == 0 and freq_masks == 0:
            raise AugmentationError("specaugment: time_masks and freq_masks are both 0, so it "
                                    "would change nothing")
        self.label = label
        self.time_masks, self.time_width = int(time_masks), float(time_width)
        self.freq_masks, self.freq_width = int(freq_masks), float(freq_width)

    def make(self, pool, source, rng):
        bins, frames = pool.input_shape[:2]
        mask = np.zeros(pool.input_shape, np.float32)
        bands = []
        for axis, count, width, size in ((1, self.time_masks, self.time_width, frames),
                                         (0, self.freq_masks, self.freq_width, bins)):
            for _ in range(count):
                length = int(rng.integers(0, int(width * size) + 1))
                start = int(rng.integers(0, size - length + 1))
                if axis == 1:
                    mask[:, start:start + length] = 1.0
                else:
                    mask[start:start + length] = 1.0
                bands.append(["time" if axis == 1 else "freq", start, start + length])
        return Recipe(pool.audio[source][None], constant_weights([1.0], pool.input_shape), mask,
                      pool.labels[source].copy(), {"source": int(source), "masks": bands})


def _resolve_transforms(owner: str, items) -> list[WaveformTransform]:
    if isinstance(items, (str, WaveformTransform, type)) or not isinstance(items, (list, tuple)):
        items = [items]
    if not items:
        raise AugmentationError(f"{owner}: aug_functions is empty; give waveform transforms "
                                "such as [shift_pitch, stretch_time]")
    try:
        return [resolve_transform(item) for item in items]
    except (TypeError, ValueError) as error:
        raise AugmentationError(f"{owner}: aug_functions: {error}") from None


def _apply_chain(chain, audio: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    drawn = []
    for transform in chain:
        parameters = transform.draw(rng, audio, sr)
        if parameters.get("should_apply", True):
            audio = transform.apply(audio, sr, parameters)
        drawn.append([transform.name, {k: v for k, v in parameters.items()
                                       if isinstance(v, (int, float, bool, str))}])
    return np.asarray(audio, np.float32), drawn


class AugMix(Augmentation):
    """AugMix (Hendrycks et al., 2020) for audio: ``width`` chains of 1..``depth`` waveform
    transforms picked from ``aug_functions``; their inputs are summed with Dirichlet(``alpha``)
    weights and mixed with the clean input, whose weight is drawn from [minval, maxval]."""

    name = "augmix"

    def __init__(self, quantity: float, label=-1, minval: float = 0.3, maxval: float = 0.7,
                 aug_functions=("shift_pitch", "stretch_time"), width: int = 3, depth: int = 3,
                 alpha: float = 1.0, no_pad: bool = False):
        super().__init__(quantity, no_pad)
        _check_label(self.name, "label", label)
        _check_range(self.name, "minval", minval, "maxval", maxval)
        _check_number(self.name, "width", width, 1, None, integer=True)
        _check_number(self.name, "depth", depth, 1, None, integer=True)
        _check_number(self.name, "alpha", alpha, 1e-6, None)
        self.label = label
        self.minval, self.maxval = float(minval), float(maxval)
        self.aug_functions = _resolve_transforms(self.name, aug_functions)
        self.width, self.depth, self.alpha = int(width), int(depth), float(alpha)

    def make(self, pool, source, rng):
        clean = pool.audio[source]
        weight_clean = float(rng.uniform(self.minval, self.maxval))
        mix = rng.dirichlet([self.alpha] * self.width)
        waveforms, chains = [clean], []
        for _ in range(self.width):
            chain = [self.aug_functions[i] for i in
                     rng.integers(0, len(self.aug_functions), int(rng.integers(1, self.depth + 1)))]
            audio, drawn = _apply_chain(chain, clean, pool.sr, rng)
            waveforms.append(audio)
            chains.append(drawn)
        weights = [weight_clean] + list((1.0 - weight_clean) * mix)
        return Recipe(np.stack(waveforms), constant_weights(weights, pool.input_shape),
                      np.zeros(pool.input_shape, np.float32), pool.labels[source].copy(),
                      {"source": int(source), "clean_weight": weight_clean,
                       "chain_weights": [float(w) for w in mix], "chains": chains})


class WaveformAugment(Augmentation):
    """Transform the waveform: every one of ``aug_functions`` in order (each with its own
    probability ``p``), or ``mode="one_of"`` one of them picked at random."""

    name = "waveform"
    domains = ("audio",)

    def __init__(self, quantity: float, label=-1, aug_functions=("shift_pitch",),
                 mode: str = "sequence", no_pad: bool = False):
        super().__init__(quantity, no_pad)
        _check_label(self.name, "label", label)
        if mode not in ("sequence", "one_of"):
            raise AugmentationError(f"waveform: mode must be 'sequence' or 'one_of', got {mode!r}")
        self.label = label
        self.aug_functions = _resolve_transforms(self.name, aug_functions)
        self.mode = mode

    def make(self, pool, source, rng):
        chain = self.aug_functions
        if self.mode == "one_of":
            chain = [chain[int(rng.integers(0, len(chain)))]]
        audio, drawn = _apply_chain(chain, pool.audio[source], pool.sr, rng)
        return Recipe(audio[None], constant_weights([1.0], pool.input_shape),
                      np.zeros(pool.input_shape, np.float32), pool.labels[source].copy(),
                      {"source": int(source), "chain": drawn})


AUGMENTATIONS: dict[str, type] = {cls.name: cls for cls in
                                  (Mixup, CutMix, SpecAugment, AugMix, WaveformAugment)}


# ----------------------------------------------------------------------------------------------
def build_augmentation(entry: Any, domain: str) -> Augmentation:
    """One ``[name, {arguments}]`` entry of a job block's list -> an Augmentation."""
    list_name = _LIST_NAMES[domain]
    if (not isinstance(entry, (list, tuple)) or len(entry) != 2 or not isinstance(entry[0], str)
            or not isinstance(entry[1], dict)):
        raise AugmentationError(f"{list_name}: each entry is [name, {{arguments}}], e.g. "
                                f'["mixup", {{"quantity": 0.2}}]; got {entry!r}')
    name, arguments = entry
    valid = [n for n, cls in AUGMENTATIONS.items() if domain in cls.domains]
    if name not in AUGMENTATIONS:
        close = difflib.get_close_matches(name.lower(), list(AUGMENTATIONS), n=2, cutoff=0.5)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise AugmentationError(f"{list_name}: unknown augmentation {name!r}{hint} Valid in "
                                f"{list_name}: {', '.join(valid)}")
    cls = AUGMENTATIONS[name]
    if domain not in cls.domains:
        other = _LIST_NAMES[cls.domains[0]]
        raise AugmentationError(f"{name} belongs in {other}, not {list_name} (valid here: "
                                f"{', '.join(valid)})")
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for argument in arguments:
        if argument not in accepted:
            close = difflib.get_close_matches(argument, accepted, n=2, cutoff=0.5)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise AugmentationError(f"{name}: unknown argument {argument!r}{hint} Valid "
                                    f"arguments: {', '.join(accepted)}")
    if "quantity" not in arguments:
        raise AugmentationError(f"{name}: quantity is required (the fraction of extra training "
                                "examples to create, e.g. 0.2)")
    augmentation = cls(**arguments)
    augmentation.domain = domain
    return augmentation


def build_augmentations(spec_aug_params: Sequence = (), audio_aug_params: Sequence = ()
                        ) -> list[Augmentation]:
    """Both lists of a job block, validated (names, arguments, values) before anything runs."""
    built = []
    for domain, entries in (("spec", spec_aug_params), ("audio", audio_aug_params)):
        if entries is None:
            continue
        if not isinstance(entries, (list, tuple)):
            raise AugmentationError(f"{_LIST_NAMES[domain]} takes a list of [name, {{arguments}}]"
                                    f" entries, got {entries!r}")
        built.extend(build_augmentation(entry, domain) for entry in entries)
    return built


def describe(augmentations: Sequence[Augmentation]) -> list[dict]:
    """JSON-ready description, saved with each job."""
    return [{"list": _LIST_NAMES[a.domain], "name": a.name, "arguments": a.get_config()}
            for a in augmentations]
