"""One job on several devices: ``parameters.distribute``.

``"mirrored"`` builds, compiles and fits the job's model under ``tf.distribute.MirroredStrategy``
over every visible GPU (or the logical devices a test sets up): each step's global batch of
``batch_size`` examples is split across the replicas and their gradients are summed.
``"multi_worker"`` is refused: Keras 3 ``fit`` under ``MultiWorkerMirroredStrategy`` is broken
upstream (keras-team/keras#20585); to use several machines, run many jobs at once on Ray
(``--parallel`` / ``--ray-address``).
"""

from __future__ import annotations

import contextlib

MULTI_WORKER_REFUSAL = (
    "parameters.distribute = 'multi_worker' is not supported: Keras 3 fit under "
    "MultiWorkerMirroredStrategy is broken upstream (keras-team/keras#20585); use 'mirrored' "
    "for the GPUs of one machine, and run many jobs across machines with --parallel / "
    "--ray-address")


def check_distribute(distribute: str) -> None:
    """Refuse a distribution this suite does not support, before a job folder exists."""
    if distribute == "multi_worker":
        raise ValueError(MULTI_WORKER_REFUSAL)


def distribution_scope(distribute: str):
    """The context in which a job builds, compiles and fits its model."""
    check_distribute(distribute)
    if distribute != "mirrored":
        return contextlib.nullcontext()
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy()
    print(f"distribute: mirrored over {strategy.num_replicas_in_sync} device(s)")
    return strategy.scope()
