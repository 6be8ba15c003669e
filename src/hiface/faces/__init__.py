"""Whole-photo face handling: detection with five landmarks, similarity alignment to a
model's template, paste-back, and the photo pipeline.

Submodules import torch / cv2 / dlib only when used.
"""
from __future__ import annotations

__all__ = ["Face", "create_detector", "get_template", "estimate_similarity_robust", "align_face",
           "paste_faces", "FacePipeline"]

_LAZY = {
    "Face": "detect", "create_detector": "detect", "get_template": "templates",
    "estimate_similarity_robust": "align", "align_face": "align", "paste_faces": "paste",
    "FacePipeline": "pipeline",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
