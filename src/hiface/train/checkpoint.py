"""Training checkpoints, shared by every task of ``hiface train``.

A run folder keeps ``checkpoints/step_N.pt`` (the last ``log.keep_last``) and, with
``log.keep_best``, ``checkpoints/best.pt``. A checkpoint is a dict of tensors and plain data
(read back with ``weights_only=True``): the task's networks and optimisers, ``task``, ``step``,
``config`` (the resolved config as a dict), ``world_size`` and ``rng`` (torch, CUDA, numpy and
python states, so a resumed CPU run continues bit-exactly).
"""
from __future__ import annotations

import os
import random
import re
from pathlib import Path

import numpy as np

from ..errors import HifaceError
from ..io import atomic_path

__all__ = ["CKPT_RE", "find_checkpoints", "latest_checkpoint", "load_checkpoint", "save_checkpoint",
           "rng_state", "set_rng_state", "BEST"]

CKPT_RE = re.compile(r"step_(\d+)\.pt$")
BEST = "best.pt"


def find_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """``step_N.pt`` checkpoints of a run, oldest first (``best.pt`` is not one of them)."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CKPT_RE.search(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    ck = find_checkpoints(run_dir)
    return ck[-1] if ck else None


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a training checkpoint (tensors and plain data only: ``weights_only=True``)."""
    import torch

    try:
        return torch.load(str(path), map_location=map_location, weights_only=True)
    except Exception as e:
        raise HifaceError(f"cannot read checkpoint {path}: {e}") from e


def save_checkpoint(state: dict, run_dir: str | os.PathLike, step: int, *, keep_last: int = 3,
                    name: str | None = None) -> Path:
    """Write ``checkpoints/step_N.pt`` (or ``checkpoints/<name>``) atomically -- a crash never
    leaves a truncated checkpoint -- then prune the step checkpoints to the last ``keep_last``."""
    import torch

    path = Path(run_dir) / "checkpoints" / (name or f"step_{step:08d}.pt")
    with atomic_path(path, suffix=".part") as tmp:
        torch.save(state, tmp)
    if name is None:
        for old in find_checkpoints(run_dir)[:-max(1, keep_last)]:
            old.unlink(missing_ok=True)
    return path


def rng_state() -> dict:
    """Every random generator's state, as tensors and plain data."""
    import torch

    np_state = np.random.get_state()
    version, internal, gauss = random.getstate()
    st = {"torch": torch.get_rng_state(),
          "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
          "python": [version, torch.tensor(internal, dtype=torch.int64), gauss]}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict) -> None:
    import torch

    torch.set_rng_state(st["torch"])
    name, key, pos, has_gauss, cached = st["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    version, internal, gauss = st["python"]
    random.setstate((version, tuple(int(v) for v in internal.tolist()), gauss))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
