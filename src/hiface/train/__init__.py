"""Training of HiFaceGAN and its ablation variants (`hiface train`).

* :mod:`hiface.train.config`: the typed :class:`TrainConfig` (YAML via :mod:`hiface.config`).
* :mod:`hiface.train.data`: clean pool, quality filter, hash split, paired on-the-fly dataset.
* :mod:`hiface.train.trainer`: :class:`Trainer` (G then D step, EMA, checkpoints, resume),
  :func:`export_generator`.
* :mod:`hiface.train.distributed`: torchrun / DDP set-up (gloo on CPU, NCCL on GPU).

Submodules import torch lazily; importing this package is cheap.
"""
from __future__ import annotations

__all__ = ["TrainConfig", "Trainer", "export_generator"]


def __getattr__(name: str):  # PEP 562: lazy
    if name == "TrainConfig":
        from .config import TrainConfig

        return TrainConfig
    if name in ("Trainer", "export_generator"):
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'hiface.train' has no attribute {name!r}")
