"""The task registry: task names -> :class:`~modules.tasks.base.Task` instances.

``parameters.task`` names a job's task: "" is plain classification (the datasets' labels); every
other value is a registered name ("pneumonia", "cw", "sed"...) or, for a task defined outside
the library, a "module:attribute" path resolved the way parse functions are
(:func:`modules.parsers.resolve`). Replays resolve the recorded value the same way, so a job
folder names its own task.

Register a task with the decorator, in the module that defines it, and add that module to
:mod:`modules.tasks` (``__init__``), which imports every built-in task::

    @register_task("sed")
    class SoundEventDetection(Task): ...
"""

from __future__ import annotations

import difflib

from modules.tasks.base import Task

DEFAULT_TASK = "classification"  # what parameters.task "" means
TASKS: dict[str, Task] = {}


def register_task(name: str, **options):
    """Class decorator: register an instance of the class (built with ``options``) as ``name``."""

    def add(cls):
        if name in TASKS:
            raise ValueError(f"task {name!r} is registered twice ({type(TASKS[name]).__name__} "
                             f"and {cls.__name__})")
        task = cls(**options)
        task.name = name
        TASKS[name] = task
        return cls

    return add


def registered_tasks() -> list[str]:
    return sorted(TASKS)


def task_name(value: str | None) -> str:
    """The registry name a ``parameters.task`` value stands for."""
    return value or DEFAULT_TASK


def get_task(value: str | None) -> Task:
    """The task ``parameters.task`` names (see the module docstring).

    Raises:
        ValueError: an unknown name, with the closest registered one.
    """
    name = task_name(value)
    if name in TASKS:
        return TASKS[name]
    if ":" in name:
        from modules.parsers import resolve

        target = resolve(name)
        task = target() if isinstance(target, type) else target
        if not isinstance(task, Task):
            raise ValueError(f"task {name!r} is a {type(task).__name__}, not a Task")
        return task
    close = difflib.get_close_matches(name, TASKS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown task {name!r}{hint} Expected '' (the datasets' labels) or one of "
                     f"{', '.join(repr(t) for t in registered_tasks())}, or 'module:Task' for "
                     f"a task of your own")
