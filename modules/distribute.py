"""One job on several devices: ``parameters.distribute``.

``"mirrored"`` builds, compiles and fits the job's model under ``tf.distribute.MirroredStrategy``
over every visible GPU, or, on a machine without one, over every logical CPU device (one unless
a test splits the CPU into several): each step's global batch of ``batch_size`` examples is split
across the replicas and their gradients are averaged. ``"multi_worker"`` is refused: Keras 3
``fit`` under ``MultiWorkerMirroredStrategy`` is broken upstream (keras-team/keras#20585); to use
several machines, run many jobs at once on Ray (``--parallel`` / ``--ray-address``).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

from modules.errors import UserError

MULTI_WORKER_REFUSAL = (
    "parameters.distribute = 'multi_worker' is not supported: Keras 3 fit under "
    "MultiWorkerMirroredStrategy is broken upstream (keras-team/keras#20585); use 'mirrored' "
    "for the GPUs of one machine, and run many jobs across machines with --parallel / "
    "--ray-address")
_STRATEGIES: dict = {}  # the devices -> this process's one MirroredStrategy over them


class DistributeError(UserError, ValueError):
    """A distribution this suite does not support."""


def check_distribute(distribute: str) -> None:
    """Refuse a distribution this suite does not support, before a job folder exists."""
    if distribute == "multi_worker":
        raise DistributeError(MULTI_WORKER_REFUSAL)


def short_device_name(name: str) -> str:
    """``/job:localhost/replica:0/task:0/device:GPU:1`` -> ``/GPU:1``."""
    return "/" + name.rsplit("device:", 1)[-1]


def mirrored_devices() -> list[str]:
    """Every visible GPU; with none, every logical CPU device. MirroredStrategy() on its own
    takes only CPU:0 when there is no GPU, so a machine (or test) that splits its CPU into
    several logical devices would silently train on one replica."""
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [device.name for device in devices]


def mirrored_strategy(devices: list[str]):
    """This process's MirroredStrategy over ``devices``, made once. A new strategy starts its
    collective keys over, and its first all-reduce then collides with an earlier strategy's
    ("Shape mismatch in the collective instance 100", tensorflow/tensorflow#62790): a trainer's
    second mirrored job block, or a cross-validation's second fold, would fail."""
    import tensorflow as tf

    key = tuple(devices)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = tf.distribute.MirroredStrategy(list(devices))
    return _STRATEGIES[key]


@dataclass(frozen=True)
class Replicas:
    """The devices a job's model trains on, one replica each (short names, e.g.
    ``["/GPU:0", "/GPU:1"]``)."""

    devices: list

    def training_data(self, dataset):
        """The training batches as ``fit`` must get them on these replicas."""
        return fill_short_batches(dataset, len(self.devices))


@contextlib.contextmanager
def distribution_scope(distribute: str):
    """The context in which a job builds, compiles and fits its model; it yields the
    :class:`Replicas` the model trains on."""
    check_distribute(distribute)
    import tensorflow as tf

    if distribute != "mirrored":
        # Where TensorFlow places the job's ops without a strategy: the first GPU, else the CPU.
        default = (tf.config.list_logical_devices("GPU") or
                   tf.config.list_logical_devices("CPU"))[:1]
        yield Replicas([short_device_name(device.name) for device in default])
        return
    strategy = mirrored_strategy(mirrored_devices())
    names = [short_device_name(name) for name in strategy.extended.worker_devices]
    print(f"distribute: mirrored over {strategy.num_replicas_in_sync} replica(s): "
          f"{', '.join(names)}")
    if strategy.num_replicas_in_sync == 1:
        print(f"distribute: only one device ({names[0]}) is visible, so 'mirrored' trains "
              f"exactly as 'none' would, on one replica")
    with strategy.scope():
        yield Replicas(names)


def fill_short_batches(dataset, replicas: int):
    """``dataset`` (batches for ``fit``) with every batch of fewer examples than ``replicas``
    repeated until it splits into equal, non-empty per-replica shares.

    MirroredStrategy splits an epoch's last batch as it comes, so one smaller than the replica
    count leaves a replica an empty batch: batch normalisation then takes the mean of nothing
    and the weights turn to NaN (and on CPUs, oneDNN's convolution gives an empty batch the
    wrong shape and the step fails). Keras averages each replica's loss over its own share,
    so k examples repeated until the count is a multiple of the replicas give exactly the
    gradient of the k examples; only that step's training metrics count them more than once.
    """
    if replicas <= 1:
        return dataset
    import tensorflow as tf

    # copies[k] for a batch of k: replicas / gcd(k, replicas) below the replica count, else 1.
    copies = tf.constant([1] + [replicas // math.gcd(k, replicas) for k in range(1, replicas)]
                         + [1], tf.int32)

    def fill(*element):
        size = tf.shape(tf.nest.flatten(element)[0])[0]
        index = tf.tile(tf.range(size), [tf.gather(copies, tf.minimum(size, replicas))])
        filled = tf.nest.map_structure(lambda part: tf.gather(part, index), element)
        return filled if len(filled) > 1 else filled[0]

    return dataset.map(fill).prefetch(tf.data.AUTOTUNE)
