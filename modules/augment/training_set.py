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


def combine_batch(parsed, weights, owner, masks):
    """Build a batch of examples from the parsed waveforms of their recipes.

    parsed, weights: (total, *input_shape), every recipe's waveforms one after the other;
    owner: (total,) the example each row belongs to; masks: (batch, *input_shape). Each example
    is the weighted sum of its rows, with masked elements replaced by that sum's mean. An
    original example (one row, weight 1, mask 0) comes out exactly as parsed.
    """
    import tensorflow as tf

    mixed = tf.math.unsorted_segment_sum(weights * parsed, owner, tf.shape(masks)[0])
    axes = list(range(1, len(masks.shape)))
    mean = tf.reduce_mean(mixed, axis=axes, keepdims=True)
    return mixed * (1.0 - masks) + mean * masks


def combine(parsed, weights, mask):
    """:func:`combine_batch` for the rows of a single recipe."""
    import tensorflow as tf

    owner = tf.zeros([tf.shape(parsed)[0]], tf.int32)
    return combine_batch(parsed, weights, owner, tf.convert_to_tensor(mask)[None])[0]


class AugmentedTrainingSet:
    """Builds training batches from an :class:`ExamplePool` and the job's augmentations."""

    def __init__(self, pool: ExamplePool, augmentations: Sequence[Augmentation], seed: int,
                 oversample: bool = False, warn: Callable[[str], None] = print, crops=None,
                 clock=None):
        """``crops``: random crops (:class:`modules.pipeline.RandomCrops`, one window per file
        and epoch); the pool's waveforms are then each epoch's windows (``pool`` gives the
        labels and epoch 0's windows). ``clock``: a :class:`modules.resume.EpochClock`
        saying which epoch a pass over :meth:`dataset` draws; without one, each pass is the
        next epoch."""
        from modules.resume import epoch_source

        self.pool = pool
        self.crops = crops
        self._pools: dict[int, ExamplePool] = {}
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
        self.current_epoch = epoch_source(clock)
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
    def pool_for(self, epoch: int) -> ExamplePool:
        """The examples of ``epoch``: the pool, or with random crops that epoch's windows."""
        if self.crops is None or epoch == 0:  # the pool holds the first epoch's windows
            return self.pool
        with self._lock:
            if epoch not in self._pools:
                audio = np.stack([self.crops.crop(epoch, i) for i in range(len(self.crops))])
                self._pools[epoch] = ExamplePool(audio, self.pool.labels, self.pool.padded,
                                                 self.pool.sr, self.pool.input_shape)
                for old in [e for e in self._pools if e < epoch - 1]:
                    del self._pools[old]
            return self._pools[epoch]

    def recipe(self, epoch: int, position: int) -> Recipe:
        kind, source = self.plan(epoch)
        kind, source = int(kind[position]), int(source[position])
        pool = self.pool_for(epoch)
        if kind < 0:
            return plain_recipe(pool, source)
        augmentation = self.augmentations[kind]
        rng = np.random.default_rng([self.seed, 2, epoch, position])
        try:
            return augmentation.make(pool, source, rng)
        except Exception as error:  # noqa: BLE001 - e.g. an unreadable background-noise file
            message = f"{augmentation.name} failed on training example {source}: {error}"
            if message not in self._warned:
                self._warned.add(message)
                self.warn(f"warning: {message}; that example is used unaugmented")
            return plain_recipe(pool, source)

    def _batch_arrays(self, epochs, positions):
        """One batch's recipes, their waveforms stacked (see :func:`combine_batch`)."""
        recipes = [self.recipe(int(e), int(p)) for e, p in zip(epochs, positions)]
        rows = [len(r.waveforms) for r in recipes]
        return (np.concatenate([r.waveforms for r in recipes]).astype(np.float32, copy=False),
                np.concatenate([r.weights for r in recipes]).astype(np.float32, copy=False),
                np.repeat(np.arange(len(recipes), dtype=np.int32), rows),
                np.stack([r.mask for r in recipes]).astype(np.float32, copy=False),
                np.stack([r.label for r in recipes]).astype(np.float32, copy=False))

    def dataset(self, parse, batch_size: int, class_weights: np.ndarray | None = None):
        """Batches of (inputs, labels[, sample weights]) for ``model.fit``; every iteration of
        the dataset (one per epoch) draws that epoch's plan. Recipes are drawn per batch, in
        parallel across batches, and all waveforms of a batch go through the parse function
        (the front end) at once."""
        import tensorflow as tf

        n_classes = self.pool.labels.shape[1]
        samples = self.pool.audio.shape[1]
        input_shape = list(self.pool.input_shape)
        total = len(self)

        def positions():
            epoch = self.current_epoch()
            for position in range(total):
                yield epoch, position

        def build(epochs, positions):
            waveforms, weights, owner, masks, labels = tf.numpy_function(
                self._batch_arrays, [epochs, positions],
                [tf.float32, tf.float32, tf.int32, tf.float32, tf.float32], stateful=False)
            waveforms.set_shape([None, samples])
            weights.set_shape([None] + input_shape)
            owner.set_shape([None])
            masks.set_shape([None] + input_shape)
            labels.set_shape([None, n_classes])
            parsed, _ = parse(waveforms, tf.zeros([tf.shape(waveforms)[0], n_classes]))
            return combine_batch(parsed, weights, owner, masks), labels

        spec = tf.TensorSpec([], tf.int64)
        ds = tf.data.Dataset.from_generator(positions, output_signature=(spec, spec))
        ds = ds.batch(batch_size)
        ds = ds.map(build, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.apply(tf.data.experimental.assert_cardinality(-(-total // batch_size)))
        if class_weights is not None:
            weights = tf.constant(class_weights, tf.float32)
            ds = ds.map(lambda x, y: (x, y, tf.gather(weights, tf.argmax(y, axis=-1))))
        return ds.prefetch(tf.data.AUTOTUNE)
