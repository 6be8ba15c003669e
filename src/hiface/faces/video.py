"""Faces in video: frames restored in order, a few at a time, with steady alignment.

:func:`restore_frames` turns a stream of frames into a stream of restored frames holding at most
``frames_per_batch`` frames (memory does not grow with the length of the video); the faces of
those frames go through the model together (:func:`hiface.faces.staged.restore_many`: one call
for several frames instead of one per frame), and each face's landmarks are smoothed over time
(:class:`hiface.faces.smooth.FaceTracker`) so its aligned crop -- and the pasted face -- does not
jitter with the detector's noise.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from .smooth import FaceTracker
from .staged import replaying, restore_many

__all__ = ["restore_frames"]


def restore_frames(pipe, frames: Iterable[np.ndarray], *, smooth: bool = True, frames_per_batch: int = 8,
                   counter: list | None = None) -> Iterator[np.ndarray]:
    """Restore uint8 RGB frames with ``pipe`` (a :class:`~hiface.faces.pipeline.FacePipeline`);
    yields uint8 frames in order. ``smooth``: landmarks smoothed per face track; ``counter``: a
    one-item list that receives the number of faces restored."""
    from ..photo import to_dtype

    tracker = FaceTracker() if smooth else None
    buf: list[np.ndarray] = []

    def flush() -> Iterator[np.ndarray]:
        staged, crops = [], []
        for frame in buf:
            x = np.asarray(frame, dtype=np.float32) / np.float32(255.0)
            faces = pipe.detect(x)
            if tracker is not None:
                faces = tracker(faces)
            c, _ = pipe.align(x, faces)
            staged.append((x, faces, len(c)))
            crops += c
        buf.clear()
        y, info = restore_many(pipe, crops)
        start = 0
        for x, faces, n in staged:
            p = replaying(pipe, None if y is None else y[start:start + n], info[start:start + n])
            res = p(x, faces=faces)
            start += n
            if counter is not None:
                counter[0] += len(res.restored)
            yield to_dtype(res.image, np.uint8)

    for frame in frames:
        buf.append(frame)
        if len(buf) >= frames_per_batch:
            yield from flush()
    if buf:
        yield from flush()
