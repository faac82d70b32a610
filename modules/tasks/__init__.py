"""Tasks: what kind of job a job block is (classification, respiratory labels, sound event
detection), as plug-ins of one job skeleton.

* :mod:`.base`: the :class:`Task` hooks and the :class:`JobContext` they share;
* :mod:`.registry`: ``register_task`` and name resolution (``parameters.task``);
* :mod:`.classification`: "classification" (the datasets' labels), "pneumonia" and "cw"
  (respiratory label sources);
* :mod:`.multilabel`: "multilabel", every class of a clip (weak labels, multi-label packs);
* :mod:`.sed`: "sed", sound event detection on ``spectrain clips`` folders;
* :mod:`.common`: job pieces every task uses (split, testing subsets, seeds, callbacks...).

Every task runs in one skeleton: :func:`modules.training.train_job` trains, and
:func:`modules.replay.replay_job` replays a finished job opened as a
:class:`modules.job_folder.Job`.

A new task is one module: a :class:`Task` subclass decorated with ``@register_task("name")``,
imported below.
"""

from modules.tasks import classification, multilabel, sed  # noqa: F401  (registers the built-in tasks)
from modules.tasks.base import JobContext, ReplayComparison, Task
from modules.tasks.registry import (DEFAULT_TASK, get_task, register_task, registered_tasks,
                                    task_name)

__all__ = ["DEFAULT_TASK", "JobContext", "ReplayComparison", "Task", "get_task",
           "register_task", "registered_tasks", "task_name"]
