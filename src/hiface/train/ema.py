"""Exponential moving average of model weights (the generator used for evaluation/export)."""
from __future__ import annotations

import copy

__all__ = ["make_ema", "update_ema"]


def make_ema(model):
    """A frozen deep copy of ``model`` (eval mode, no gradients) to hold the averaged weights."""
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


def update_ema(ema, model, decay: float) -> None:
    """``ema ← decay·ema + (1−decay)·model`` for floating parameters; buffers (e.g. BatchNorm
    statistics, spectral-norm vectors) and integer tensors are copied. ``decay=0`` copies."""
    import torch

    with torch.no_grad():
        src = dict(model.named_parameters())
        for name, p in ema.named_parameters():
            q = src[name].detach()
            if decay == 0.0 or not p.is_floating_point():
                p.copy_(q)
            else:
                p.lerp_(q.to(p.dtype), 1.0 - decay)
        src_b = dict(model.named_buffers())
        for name, b in ema.named_buffers():
            b.copy_(src_b[name])
