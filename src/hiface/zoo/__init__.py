"""Pretrained configs of every registered model (data only: importing this loads no torch).

One module per family; each calls :func:`hiface.registry.register`.
"""
import importlib

for _m in ("builtin", "hifacegan", "gfpgan", "codeformer", "gfrnet"):
    try:
        importlib.import_module(f"{__name__}.{_m}")
    except ModuleNotFoundError as e:  # family not present in this build
        if e.name != f"{__name__}.{_m}":
            raise
