"""``hiface train``: one entry point for every trainable restorer; the YAML's ``task:`` key picks it.

* :mod:`hiface.train.config` -- typed configs per task (:class:`TrainConfig` for ``task: hifacegan``,
  :class:`GFRNetTrainConfig` for ``task: gfrnet``), :func:`load_train_config`;
* :mod:`hiface.train.loop` -- :class:`~hiface.train.loop.BaseTrainer`: run folder, resume,
  signals, logging cadence, validation, samples, checkpoints, time limit (shared by all tasks);
* :mod:`hiface.train.tasks` -- one module per task (networks, losses, one iteration, validation);
* :mod:`hiface.train.checkpoint`, :mod:`hiface.train.logs`, :mod:`hiface.train.export`
  (``--export``), :mod:`hiface.train.ema`, :mod:`hiface.train.distributed` (torchrun: gloo on
  CPU, NCCL on GPU) -- the shared helpers.

Training data (pool, quality filter, splits, datasets) is :mod:`hiface.data`.
Submodules import torch lazily; importing this package is cheap.
"""
from __future__ import annotations

from . import config
from .config import load_train_config
from .tasks import get_task, trainer_class

__all__ = ["TrainConfig", "GFRNetTrainConfig", "load_train_config", "make_trainer", "Trainer", "GFRNetTrainer",
           "export_generator", "prepare_data", "INTERRUPTED"]


def make_trainer(cfg, run_dir, *, resume: bool = False, overwrite: bool = False, overrides=()):
    """The trainer of ``cfg``'s task (on ``resume``: of the run folder's ``config.yaml``)."""
    from pathlib import Path

    task = load_train_config(Path(run_dir) / "config.yaml").task if resume else cfg.task
    return trainer_class(task)(None if resume else cfg, run_dir, resume=resume, overwrite=overwrite,
                               overrides=overrides)


def prepare_data(cfg, run_dir, *, progress: bool = True):
    """``hiface train --prepare-data``: the task's data lists in ``run_dir`` -> (train, val, quality result or None)."""
    return get_task(cfg.task).prepare_data(cfg, run_dir, progress=progress)


def __getattr__(name: str):  # PEP 562: lazy
    if name in ("TrainConfig", "GFRNetTrainConfig", "load_train_config"):
        return getattr(config, name)
    if name == "Trainer":
        from .tasks.hifacegan import Trainer

        return Trainer
    if name == "GFRNetTrainer":
        from .tasks.gfrnet import GFRNetTrainer

        return GFRNetTrainer
    if name == "export_generator":
        from .export import export_generator

        return export_generator
    if name == "INTERRUPTED":
        from .loop import INTERRUPTED

        return INTERRUPTED
    raise AttributeError(f"module 'hiface.train' has no attribute {name!r}")
