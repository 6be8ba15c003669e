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

import os as _os

__version__ = "0.1.0"

# OpenMP threads waiting for work sleep instead of spinning. On a machine whose cores are busy with
# other jobs, spinning made the default model ~10x slower with 2 threads than with 1 (issue 18,
# bench/README.md "Threads and backends"). libgomp reads this when torch is loaded, so it takes
# effect when hiface is imported before torch (the CLI, the web page); a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
