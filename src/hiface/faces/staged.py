"""The photo pipeline in stages: restore the faces of *many* images in shared model calls, then
paste each image back through the ordinary :class:`~hiface.faces.pipeline.FacePipeline`.

:func:`restore_many` runs the restorer once over the aligned crops of several photos or frames
(what :meth:`FacePipeline.restore_crops` does for one photo); :func:`replaying` gives a copy of
a pipeline whose restorer *replays* those outputs, so ``pipe(image, faces=...)`` pastes them
with every option of the pipeline (masks, colour match, gray, alpha, strips) unchanged. Used by
the Ray engine (:mod:`hiface.cluster`, stages on different machines) and by videos (faces of
several frames per model call, :mod:`hiface.faces.video`).
"""
from __future__ import annotations

import copy

import numpy as np

from ..errors import HifaceError
from ..restorers.base import Restorer

__all__ = ["ReplayDetector", "ReplayRestorer", "restore_many", "replaying"]


class ReplayDetector:
    """A detector that returns the faces found earlier (another stage, another machine)."""

    def __init__(self, faces):
        self.faces = list(faces)

    def __call__(self, image):
        return list(self.faces)


class ReplayRestorer(Restorer):
    """A :class:`Restorer` without a network: the model's metadata (size, template, fidelity
    semantics) and, from :meth:`restore`, outputs computed earlier (``(N, 3, S, S)`` float32, as
    the real restorer returned them) with their per-face ``info``."""

    def __init__(self, config, outputs: np.ndarray | None = None, info: list | None = None):
        super().__init__(None, config)
        self.outputs, self.info = outputs, list(info or [])

    def restore(self, faces, fidelity=None, batch_size=None, *, info=None, **kwargs):  # type: ignore[override]
        import torch

        if self.outputs is None or len(self.outputs) != faces.shape[0]:
            raise HifaceError(f"{len(self.outputs) if self.outputs is not None else 0} restored faces were "
                              f"handed over for {faces.shape[0]} faces")
        if info is not None:
            info += self.info
        return torch.from_numpy(np.ascontiguousarray(self.outputs))


def restore_many(pipe, crops: list[np.ndarray]) -> tuple[np.ndarray | None, list]:
    """Run ``pipe``'s restorer over ``crops`` (aligned, float32 (S, S, 3), from any number of
    images) in chunks of ``pipe.batch_size``; returns the outputs ``(N, 3, S, S)`` float32 and
    the per-face info (blend weight, severity). ``(None, [])`` for no crops."""
    from .pipeline import _to_batch

    if not crops:
        return None, []
    info: list = []
    y = pipe.restorer.restore(_to_batch(crops), fidelity=pipe.fidelity, batch_size=pipe.batch_size, info=info)
    return y.detach().float().cpu().numpy(), info


def replaying(pipe, outputs: np.ndarray | None, info: list, faces=None):
    """A shallow copy of ``pipe`` whose restorer returns ``outputs`` (one image's share of
    :func:`restore_many`) and, when ``faces`` is given, whose detector returns ``faces``."""
    p = copy.copy(pipe)
    p.restorer = ReplayRestorer(pipe.restorer.config, outputs, info)
    if faces is not None:
        p._detector = ReplayDetector(faces)
    return p
