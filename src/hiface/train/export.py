"""``hiface train --export``: a run's (EMA) generator as ``.safetensors`` for any task.

Metadata (read back by :func:`hiface.weights.export_arch_kwargs` and ``create_restorer``):
``format`` = ``hiface-train``, ``task``, ``arch`` (``module:factory``) and ``arch_kwargs`` (JSON)
that rebuild the network, ``weights`` (G_ema or G), ``step``, ``value_range``, ``train_size``,
``config`` (YAML) and ``dtype``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..config import from_dict, to_yaml
from ..errors import HifaceError
from ..weights import save_safetensors
from .checkpoint import latest_checkpoint, load_checkpoint
from .config import TASKS
from .tasks import get_task

__all__ = ["export_generator"]


def export_generator(source: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False,
                     use_ema: bool = True, half: bool = False) -> Path:
    """Write the (EMA) generator of a run folder's latest checkpoint (or of a checkpoint file,
    e.g. ``RUN/checkpoints/best.pt``) to ``.safetensors`` with metadata.
    ``half``: store floating tensors as fp16 (half the size; loads into an fp32 model)."""
    src = Path(source)
    ckpt = latest_checkpoint(src) if src.is_dir() else src
    if ckpt is None or not Path(ckpt).is_file():
        raise HifaceError(f"no checkpoint found in {src} (expected {src}/checkpoints/step_*.pt)")
    out = Path(out)
    if out.suffix != ".safetensors":
        raise HifaceError(f"export target must end in .safetensors, got {out}")
    if out.exists() and not overwrite:
        raise HifaceError(f"{out} exists; pass --overwrite to replace it")
    st = load_checkpoint(ckpt)
    task = st.get("task") or st["config"].get("task") or "hifacegan"
    cfg = from_dict(TASKS[task], st["config"])
    arch, kw = get_task(task).generator_spec(cfg)
    meta = {"format": "hiface-train", "task": task, "arch": arch, "arch_kwargs": json.dumps(kw),
            "weights": "G_ema" if use_ema else "G", "step": str(int(st["step"])),
            "value_range": "0,1", "train_size": str(cfg.data.size), "config": to_yaml(cfg),
            "dtype": "float16" if half else "float32"}
    sd = st["G_ema" if use_ema else "G"]
    if half:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    return save_safetensors(sd, out, metadata=meta)
