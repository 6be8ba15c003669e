"""Safe weight files: `.safetensors`/`.pth` loading, strict state-dict matching with readable
errors, atomic `.safetensors` writing.

Never unpickles arbitrary code: `.pth` files go through ``torch.load(weights_only=True)``.
Where files come from (search order, cache, download, checksums) is :mod:`hiface.assets`; its
helpers are re-exported here for older imports.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .assets import (
    cache_dir,
    dlib_model_path,
    download,
    is_offline,
    sha256_file,
    verify_sha256,
)
from .errors import WeightsError

__all__ = [
    "sha256_file", "cache_dir", "is_offline", "download", "load_state_dict_file",
    "select_state_dict", "check_state_dict", "load_into", "save_safetensors",
    "dlib_model_path", "verify_sha256",
]


def load_state_dict_file(path: str | os.PathLike) -> dict:
    """Read a weight file into a dict (safetensors, or .pth via ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file not found: {path}")
    if path.stat().st_size == 0:
        raise WeightsError(f"weight file is empty: {path}")
    with open(path, "rb") as f:
        head = f.read(8)
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as e:
            raise WeightsError(f"{path} is not a valid .safetensors file: {e}") from e
    looks_text = bool(head) and all(32 <= b < 127 or b in (9, 10, 13) for b in head)
    is_zip, is_pickle = head.startswith(b"PK\x03\x04"), head[:1] == b"\x80" and 2 <= head[1:2][0] <= 5 \
        if len(head) > 1 else False
    if not (is_zip or is_pickle):
        raise WeightsError(f"{path} is not a readable checkpoint: neither a PyTorch zip archive nor a pickle"
                           + (" (it looks like a text file)" if looks_text else " (corrupt, or another format)"))
    import warnings

    try:
        with warnings.catch_warnings():  # torch's notes on old pickle protocols / TorchScript: our message says it
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        text = str(e)
        if "Unsupported global" in text or "unsupported GLOBAL" in text:
            import re

            m = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) (.+?) was not an allowed", text, re.S) \
                or re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) (\S+)", text)
            if m and not _global_exists(m.group(1)):  # a damaged name (bit flip, truncation), not code
                shown = m.group(1)[:48].encode("unicode_escape").decode() + ("..." if len(m.group(1)) > 48 else "")
                raise WeightsError(f"{path} is not a readable checkpoint: corrupt (it refers to {shown}, "
                                   "which does not exist)") from e
            what = f" (it references {m.group(1)})" if m else ""
            raise WeightsError(
                f"refusing to load {path}: besides tensors it pickles Python objects{what}, which could "
                "run arbitrary code when loaded; hiface never unpickles them. Only if you trust its "
                "origin, re-save its state dict in a separate throw-away environment "
                "(torch.load(..., weights_only=False), then safetensors.torch.save_file) and use that "
                "file.") from e
        if "TorchScript" in text:
            raise WeightsError(f"{path} is a TorchScript archive, not a checkpoint of weights: export its "
                               "state dict (model.state_dict()) and use that file") from e
        detail = text.split("WeightsUnpickler error:", 1)[-1] if "WeightsUnpickler error:" in text else text
        lines = [ln.strip() for ln in detail.splitlines() if ln.strip()]
        msg = lines[0] if lines else type(e).__name__
        if len(msg) > 160:
            msg = msg[:157] + "..."
        raise WeightsError(f"{path} is not a readable checkpoint: truncated, corrupt or not a PyTorch file "
                           f"({msg})") from e
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path} does not hold a state dict (found {type(obj).__name__})")
    return dict(obj)


def _global_exists(name: str) -> bool:
    """Whether a pickled global ``module.attr`` names something real, judged without importing
    anything new: a loaded module must have the attribute; an unloaded one must be installed."""
    import importlib.util
    import sys

    parts = name.split(".")
    if len(parts) < 2 or not all(p.isidentifier() for p in parts):
        return False
    for k in range(len(parts) - 1, 0, -1):
        mod = sys.modules.get(".".join(parts[:k]))
        if mod is not None:
            obj = mod
            for attr in parts[k:]:
                if not hasattr(obj, attr):
                    return False
                obj = getattr(obj, attr)
            return True
    try:
        return importlib.util.find_spec(parts[0]) is not None
    except (ImportError, ValueError):
        return False


def select_state_dict(obj: Mapping, keys: Sequence[str] = ("params_ema", "params"), *, source: str = "file") -> dict:
    """Pick the first of ``keys`` present (BasicSR layout), else the dict itself if it holds tensors."""
    import torch

    for k in keys:
        if k in obj and isinstance(obj[k], Mapping):
            return dict(obj[k])
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj)
    where = f"has no state dict under any of {list(keys)} and " if keys else ""
    raise WeightsError(
        f"{source} {where}is not a flat dict of tensors (top-level keys: {sorted(map(str, obj))[:8]})")


def check_state_dict(model, sd: Mapping, *, source: str = "weights", limit: int = 5) -> None:
    """Raise WeightsError naming the first missing, unexpected and mis-shaped tensors."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shape = [f"{k} {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if not (missing or unexpected or shape):
        return
    parts = []
    for label, items in (("shape mismatch", shape), ("missing", missing), ("unexpected", unexpected)):
        if items:
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            parts.append(f"{len(items)} {label}: " + ", ".join(items[:limit]) + more)
    raise WeightsError(
        f"{source} does not fit {type(model).__name__} "
        f"({len(sd)} tensors in file, {len(own)} in model): " + "; ".join(parts))


def load_into(model, sd: Mapping, *, source: str = "weights") -> None:
    """Strictly load ``sd`` into ``model`` after a readable compatibility check."""
    check_state_dict(model, sd, source=source)
    model.load_state_dict(dict(sd), strict=True)


def export_arch_kwargs(path: str | os.PathLike, arch: str) -> dict:
    """The generator keyword arguments a ``hiface train --export`` file records (metadata
    ``arch_kwargs``), when it was exported for ``arch``; ``{}`` for any other file. Variants
    with identical state-dict layouts (e.g. ``residual``) can only be told apart this way."""
    import json

    if Path(path).suffix != ".safetensors":
        return {}
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != "hiface-train" or meta.get("arch") != arch:
            return {}
        kw = json.loads(meta.get("arch_kwargs", "{}"))
    except Exception:  # unreadable metadata: the loader reports the file itself
        return {}
    return kw if isinstance(kw, dict) else {}


def save_safetensors(sd: Mapping, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Atomically write a state dict as .safetensors (contiguous, shared storage de-duplicated)."""
    from safetensors.torch import save_file

    from .io import atomic_path

    tensors = {k: v.detach().contiguous().clone() for k, v in sd.items()}
    with atomic_path(path, suffix=".part") as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)

