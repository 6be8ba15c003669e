"""The model registry: pretrained configs (plain data, timm-style) keyed by name.

Each model family in :mod:`hiface.zoo` calls :func:`register`; nothing here imports torch or the
zoo, so this module sits below both :mod:`hiface.zoo` and :mod:`hiface.models` (no import loop).
"""
from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import HifaceError

__all__ = ["PretrainedConfig", "register", "list_models", "get_model_config", "import_ref"]


@dataclass(frozen=True)
class PretrainedConfig:
    """Everything needed to build a model and find its weights."""

    name: str
    arch: str                       # "module:factory" building the nn.Module from arch_kwargs
    restorer: str                   # "module:Class", a Restorer subclass
    native_size: int                # side of the aligned face the model expects
    template: str                   # alignment template name ("ffhq512", "dlib-chip")
    arch_kwargs: dict = field(default_factory=dict)
    description: str = ""
    filename: str | None = None     # cache file name for downloads
    url: str | None = None          # official download location
    sha256: str | None = None       # checksum of the file at url / package_file
    package_file: str | None = None  # weights shipped inside hiface/weights/
    state_keys: tuple[str, ...] = ("params_ema", "params")  # tried in order, else the whole file
    license: str = ""
    source: str = ""
    supports_fidelity: bool = False  # whether --fidelity means anything for this model
    default_fidelity: float | None = None
    guided: bool = False            # needs a reference face (GFRNet)
    has_weights: bool = True        # False for parameter-free restorers (identity, baselines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_REGISTRY: dict[str, PretrainedConfig] = {}
_LOADED = False


def register(cfg: PretrainedConfig) -> PretrainedConfig:
    if cfg.name in _REGISTRY and _REGISTRY[cfg.name] != cfg:
        raise ValueError(f"model {cfg.name!r} registered twice with different configs")
    _REGISTRY[cfg.name] = cfg
    return cfg


def _ensure_loaded() -> None:
    global _LOADED
    if not _LOADED:
        from . import zoo  # noqa: F401  (registers every entry)

        _LOADED = True


def list_models() -> list[str]:
    _ensure_loaded()
    return sorted(_REGISTRY)


def get_model_config(name: str) -> PretrainedConfig:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise HifaceError(f"unknown model {name!r}.{hint} Known models: {', '.join(sorted(_REGISTRY))}") from None


def import_ref(spec: str):
    """The object a ``"module:attr"`` reference names (registry ``arch`` and ``restorer`` fields)."""
    mod, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as e:
        raise HifaceError(f"broken registry reference {spec!r}: {e}") from e
