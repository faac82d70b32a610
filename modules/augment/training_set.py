"""The augmented training set: original examples, oversampled repeats and augmented extras.

Each epoch gets a *plan*: every original example once, repeats of minority-class examples when
oversampling, and ``round(quantity * n)`` extra examples per augmentation, shuffled. The plan and
every random draw of an example come from ``(seed, epoch, position)`` alone, so a job is
reproducible even though examples are built on several tf.data threads at once.
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence

import numpy as np

from modules.augment.augmentations import Augmentation, ExamplePool, Recipe, plain_recipe

ORIGINAL, OVERSAMPLED = -1, -2


def combine(parsed, weights, mask):
    """Sum of the weighted parsed inputs; masked elements replaced by the result's mean.

    parsed, weights: (m, *input_shape); mask: input_shape. An original example (weights 1, mask
    0) comes out exactly as parsed.
    """
    import tensorflow as tf

    mixed = tf.reduce_sum(weights * parsed, axis=0)
    return mixed * (1.0 - mask) + tf.reduce_mean(mixed) * mask


class AugmentedTrainingSet:
    """Builds training batches from an :class:`ExamplePool` and the job's augmentations."""

    def __init__(self, pool: ExamplePool, augmentations: Sequence[Augmentation], seed: int,
                 oversample: bool = False, warn: Callable[[str], None] = print):
        self.pool = pool
        self.augmentations = list(augmentations)
        self.seed = int(seed)
        self.oversample = oversample
        self.warn = warn
        n = len(pool)
        self.sources = []
        for augmentation in self.augmentations:
            augmentation.check_input(pool.input_shape)
            eligible = augmentation.sources(pool)
            if augmentation.quantity > 0 and not len(eligible):
                first = augmentation.label_arguments[0]
                raise ValueError(f"{augmentation.name}: no training example matches "
                                 f"{first}={getattr(augmentation, first)!r}"
                                 + (" among unpadded chunks (no_pad=True)"
                                    if augmentation.no_pad else ""))
            self.sources.append(eligible)
        self.extra_counts = [int(round(a.quantity * n)) for a in self.augmentations]
        counts = np.bincount(pool.label_index, minlength=pool.labels.shape[1])
        present = counts[counts > 0]
        self.oversampled_count = int((present.max() - present).sum()) if oversample else 0
        self._class_positions = [np.flatnonzero(pool.label_index == c) for c in range(len(counts))]
        self._class_deficit = [int(counts.max() - c) if c else 0 for c in counts]
        self._plans: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()
        self._epochs_started = 0
        self._warned: set[str] = set()

    def __len__(self) -> int:
        """Examples per epoch."""
        return len(self.pool) + self.oversampled_count + sum(self.extra_counts)

    def summary(self) -> str:
        parts = [f"{len(self.pool)} original"]
        if self.oversampled_count:
            parts.append(f"{self.oversampled_count} oversampled")
        parts += [f"{count} {a.name}" for a, count in zip(self.augmentations, self.extra_counts)]
        return f"{len(self)} training examples per epoch: " + " + ".join(parts)

    # -- plan ------------------------------------------------------------------------------
    def plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(kind, source) per position of the epoch; kind: augmentation index, ORIGINAL or
        OVERSAMPLED."""
        with self._lock:
            if epoch not in self._plans:
                self._plans[epoch] = self._make_plan(epoch)
                for old in [e for e in self._plans if e < epoch - 1]:
                    del self._plans[old]
            return self._plans[epoch]

    def _make_plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, 1, epoch])
        kinds = [np.full(len(self.pool), ORIGINAL)]
        sources = [np.arange(len(self.pool))]
        if self.oversample:
            for positions, deficit in zip(self._class_positions, self._class_deficit):
                if deficit and len(positions):
                    kinds.append(np.full(deficit, OVERSAMPLED))
                    sources.append(rng.choice(positions, deficit, replace=True))
        for index, (eligible, count) in enumerate(zip(self.sources, self.extra_counts)):
            if count:
                kinds.append(np.full(count, index))
                sources.append(rng.choice(eligible, count, replace=True))
        kind, source = np.concatenate(kinds), np.concatenate(sources)
        order = rng.permutation(len(kind))
        return kind[order], source[order]

    # -- examples --------------------------------------------------------------------------
    def recipe(self, epoch: int, position: int) -> Recipe:
        kind, source = self.plan(epoch)
        kind, source = int(kind[position]), int(source[position])
        if kind < 0:
            return plain_recipe(self.pool, source)
        augmentation = self.augmentations[kind]
        rng = np.random.default_rng([self.seed, 2, epoch, position])
        try:
            return augmentation.make(self.pool, source, rng)
        except Exception as error:  # noqa: BLE001 - e.g. an unreadable background-noise file
            message = f"{augmentation.name} failed on training example {source}: {error}"
            if message not in self._warned:
                self._warned.add(message)
                self.warn(f"warning: {message}; that example is used unaugmented")
            return plain_recipe(self.pool, source)

    def _arrays(self, epoch, position):
        recipe = self.recipe(int(epoch), int(position))
        return (recipe.waveforms.astype(np.float32, copy=False),
                recipe.weights.astype(np.float32, copy=False),
                recipe.mask.astype(np.float32, copy=False),
                recipe.label.astype(np.float32, copy=False))

    def dataset(self, parse, batch_size: int, class_weights: np.ndarray | None = None):
        """Batches of (inputs, labels[, sample weights]) for ``model.fit``; every iteration of
        the dataset (one per epoch) draws that epoch's plan."""
        import tensorflow as tf

        n_classes = self.pool.labels.shape[1]
        samples = self.pool.audio.shape[1]
        input_shape = list(self.pool.input_shape)
        total = len(self)

        def positions():
            with self._lock:
                epoch = self._epochs_started
                self._epochs_started += 1
            for position in range(total):
                yield epoch, position

        def build(epoch, position):
            waveforms, weights, mask, label = tf.numpy_function(
                self._arrays, [epoch, position], [tf.float32] * 4, stateful=False)
            waveforms.set_shape([None, samples])
            weights.set_shape([None] + input_shape)
            mask.set_shape(input_shape)
            label.set_shape([n_classes])
            parsed, _ = parse(waveforms, tf.zeros([tf.shape(waveforms)[0], n_classes]))
            return combine(parsed, weights, mask), label

        spec = tf.TensorSpec([], tf.int64)
        ds = tf.data.Dataset.from_generator(positions, output_signature=(spec, spec))
        ds = ds.map(build, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.batch(batch_size)
        ds = ds.apply(tf.data.experimental.assert_cardinality(-(-total // batch_size)))
        if class_weights is not None:
            weights = tf.constant(class_weights, tf.float32)
            ds = ds.map(lambda x, y: (x, y, tf.gather(weights, tf.argmax(y, axis=-1))))
        return ds.prefetch(tf.data.AUTOTUNE)
