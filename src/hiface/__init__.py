"""hiface: face photo restoration (HiFaceGAN and friends).

Imports stay light: heavy modules (torch, cv2, dlib) load only when a function that
needs them is called.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "create_restorer", "list_models", "get_model_config", "restore_image", "restore_file",
           "RestoreOptions", "load_pipeline"]


def __getattr__(name: str):  # PEP 562: lazy public API
    if name in ("create_restorer", "list_models", "get_model_config"):
        from . import models

        return getattr(models, name)
    if name in ("restore_image", "restore_file", "RestoreOptions", "load_pipeline"):
        from . import photo

        return getattr(photo, name)
    raise AttributeError(f"module 'hiface' has no attribute {name!r}")
