"""hiface: face photo restoration (HiFaceGAN and friends).

Import policy (the one place it is written down; ``tests/test_import_policy.py`` checks it):

- ``import hiface``, the model registry, ``hiface --help`` and every ``hiface CMD --help`` load
  no torch, cv2, dlib or scipy (``hiface models`` itself builds the networks to count
  parameters). So the public names here, the CLI's command modules and the registry import
  lazily (PEP 562 ``__getattr__``, imports inside the command's body).
- Inside the library, hiface's own modules are imported at module top. An import stays inside
  a function only where it would otherwise pull torch/cv2/dlib into a module that the light
  paths above (or inference start-up) load, or where it loads an optional metric or
  dependency (LPIPS, FID, dlib-based FED/LLE) only when that feature is asked for.
- Package ``__init__`` files: a docstring naming the modules, then re-exports of the public
  names from light submodules, or a lazy ``__getattr__`` (or nothing: "import the module you
  need") where the submodules are heavy.
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
