"""``hiface serve``: a local web page for restoring photos without a terminal.

* :mod:`hiface.web.choices` -- what the page offers (models and how to get their weights,
  detectors, background up-samplers) and how a choice maps to :class:`hiface.photo.RestoreOptions`;
  no gradio import.
* :mod:`hiface.web.jobs` -- limits, upload checks and one restore job (the library's whole-photo
  API :func:`hiface.photo.restore_file`, exactly what ``hiface restore`` runs), with per-face
  progress, timings and cancellation; no gradio import.
* :mod:`hiface.web.app` -- the gradio page and the offline ASGI app (needs ``pip install hiface[web]``);
* :mod:`hiface.web.server` -- :func:`serve`: temp folder, gradio's environment, then the app.
"""
from __future__ import annotations

__all__ = ["serve"]


def __getattr__(name: str):  # lazy: gradio is an optional extra, imported by serve()
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(f"module 'hiface.web' has no attribute {name!r}")
