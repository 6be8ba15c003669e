"""The tasks of ``hiface train`` (the YAML's ``task:`` key), one module each.

A task module defines ``TRAINER`` (a :class:`hiface.train.loop.BaseTrainer` subclass), ``prepare_data``
(``hiface train --prepare-data``) and ``generator_spec(cfg)`` -> ("module:factory", kwargs) for
exports. Modules import torch lazily, but are only imported when a task runs.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from ...errors import ConfigError

__all__ = ["TASK_MODULES", "get_task", "trainer_class"]

#: ``task:`` value -> module
TASK_MODULES = {"hifacegan": f"{__name__}.hifacegan", "gfrnet": f"{__name__}.gfrnet"}


def get_task(task: str) -> ModuleType:
    if task not in TASK_MODULES:
        raise ConfigError(f"unknown task {task!r}; one of: {', '.join(TASK_MODULES)}")
    return importlib.import_module(TASK_MODULES[task])


def trainer_class(task: str) -> type:
    """The task's :class:`~hiface.train.loop.BaseTrainer` subclass."""
    return get_task(task).TRAINER
