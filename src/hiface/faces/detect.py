"""Face detection with five landmarks: the common :class:`Face` record, the detector
interface and post-processing (score threshold, minimum eye distance, de-duplication),
and :func:`create_detector` by name (``dlib``, ``dlib-cnn``, ``retinaface``).

Landmark order everywhere in hiface: left eye centre, right eye centre, nose tip, left
mouth corner, right mouth corner -- "left" meaning the image's left (the subject's right).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import ConfigError

__all__ = ["Face", "Detector", "DETECTORS", "create_detector", "nms", "to_uint8_rgb", "select_center_face"]


@dataclass
class Face:
    """One detected face, in the pixel coordinates of the image it was found in."""

    box: np.ndarray          #: (4,) x0, y0, x1, y1
    landmarks: np.ndarray    #: (5, 2) see module doc for the order
    score: float             #: detector confidence (detector-specific scale, higher is surer)
    points: np.ndarray | None = field(default=None, repr=False)  #: raw landmarks of the detector (dlib: 5 or 68)

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.landmarks[1] - self.landmarks[0]))

    @property
    def area(self) -> float:
        w, h = self.box[2] - self.box[0], self.box[3] - self.box[1]
        return float(max(w, 0) * max(h, 0))

    def scaled(self, factor: float) -> "Face":
        """The same face in an image resized by ``factor`` (pixel-centre convention)."""
        off = (factor - 1) / 2
        return replace(self, box=self.box * factor + off, landmarks=self.landmarks * factor + off,
                       points=None if self.points is None else self.points * factor + off)


def to_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W[, 1|3|4]) uint8/uint16/float [0,1] -> contiguous (H, W, 3) uint8 RGB."""
    a = np.asarray(image)
    if a.dtype == np.uint16:
        a = (a.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif a.dtype == np.float32 and (a.ndim == 2 or a.shape[2] <= 4):
        import cv2

        # one pass, no float temporaries: saturating round(a * 255) (ties to even, which values
        # read from 8- or 16-bit files never hit) = clip, * 255, + 0.5 below
        a = cv2.addWeighted(a, 255.0, a, 0.0, 0.0, dtype=cv2.CV_8U)
    elif a.dtype != np.uint8:  # in row blocks: no full-size float temporaries on big photos
        src, a = a, np.empty(a.shape, np.uint8)
        for y in range(0, src.shape[0], 256):
            a[y:y + 256] = np.clip(src[y:y + 256], 0, 1) * 255.0 + 0.5
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]
    return np.ascontiguousarray(a)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best first."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    x0, y0, x1, y1 = boxes.T
    areas = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
        h = np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None)
        inter = w * h
        ov = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[ov <= iou]
    return np.asarray(keep, dtype=np.int64)


def select_center_face(faces: list[Face], shape: tuple[int, int]) -> list[Face]:
    """The face whose centre is nearest the image centre (ties: the larger one)."""
    if not faces:
        return []
    c = np.array([shape[1] / 2, shape[0] / 2])
    d = [np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - c) - 1e-3 * np.sqrt(f.area) for f in faces]
    return [faces[int(np.argmin(d))]]


class Detector:
    """Base class: subclasses implement :meth:`_detect` on an RGB uint8 image.

    ``__call__`` runs the detector on the image resized so its longer side is at most
    ``max_side`` (bounds the time on 12 MP photos) and, for detectors with a bounded anchor
    range (``coarse_side`` set), once more at ``coarse_side`` so close-up faces far larger than
    the biggest anchor are found whole. It then drops faces under ``threshold`` or with eyes
    closer than ``min_eye_distance`` px (original image), removes duplicates (box IoU above
    ``dedup_iou``, intersection over the smaller box above ``dedup_ios``, or a box mostly inside
    a bigger face's box: faces do not nest) and returns
    the faces sorted left to right (by box centre)."""

    name = "base"
    default_threshold = 0.0
    default_coarse_side: int | None = None

    def __init__(self, threshold: float | None = None, min_eye_distance: float = 8.0,
                 max_side: int | None = 1600, coarse_side: int | None = -1, dedup_iou: float = 0.3,
                 dedup_ios: float = 0.4):
        self.threshold = self.default_threshold if threshold is None else float(threshold)
        self.min_eye_distance = float(min_eye_distance)
        self.max_side = max_side
        self.coarse_side = self.default_coarse_side if coarse_side == -1 else coarse_side
        self.dedup_iou = float(dedup_iou)
        self.dedup_ios = float(dedup_ios)

    def _detect(self, rgb: np.ndarray) -> list[Face]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, image: np.ndarray) -> list[Face]:
        import cv2

        rgb = to_uint8_rgb(image)
        h, w = rgb.shape[:2]
        long = max(h, w)
        sides = [min(long, self.max_side or long)]
        if self.coarse_side and sides[0] > 1.5 * self.coarse_side:
            sides.append(self.coarse_side)
        faces: list[Face] = []
        for side in sides:
            f = side / long
            im = rgb if f == 1.0 else cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))),
                                                 interpolation=cv2.INTER_AREA)
            found = self._detect(im)
            faces += found if f == 1.0 else [fc.scaled(1 / f) for fc in found]
        return self.postprocess(faces)

    def postprocess(self, faces: list[Face]) -> list[Face]:
        faces = [fc for fc in faces if fc.score >= self.threshold and fc.eye_distance >= self.min_eye_distance
                 and np.isfinite(fc.landmarks).all()]
        if len(faces) > 1:
            keep = nms(np.stack([fc.box for fc in faces]), np.array([fc.score for fc in faces]), self.dedup_iou)
            faces = _drop_overlapping([faces[i] for i in keep], self.dedup_ios)
            faces = _drop_nested(faces)
        faces.sort(key=lambda fc: (float(fc.box[0] + fc.box[2]), float(fc.box[1] + fc.box[3])))
        return faces


def _drop_overlapping(faces: list[Face], ios: float) -> list[Face]:
    """Greedy (best first): drop a face whose box overlaps a kept one by more than ``ios`` of the
    smaller box. Catches the 2-3 shifted boxes RetinaFace returns for one close-up face, whose
    IoU stays under the NMS threshold (measured: bench/detectors.py)."""
    kept: list[Face] = []
    for f in faces:
        dup = False
        for k in kept:
            w = min(k.box[2], f.box[2]) - max(k.box[0], f.box[0])
            h = min(k.box[3], f.box[3]) - max(k.box[1], f.box[1])
            if w > 0 and h > 0 and w * h > ios * max(min(k.area, f.area), 1e-9):
                dup = True
                break
        if not dup:
            kept.append(f)
    return kept


def _drop_nested(faces: list[Face], cover: float = 0.5, ratio: float = 2.0) -> list[Face]:
    """Drop faces whose box lies mostly (``cover``) inside a face box ``ratio`` times bigger:
    part-of-face false positives on close-ups (an eye taken for a small face)."""
    out = []
    for i, b in enumerate(faces):
        nested = False
        for j, a in enumerate(faces):
            if i == j or a.area < ratio * b.area:
                continue
            w = min(a.box[2], b.box[2]) - max(a.box[0], b.box[0])
            h = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])
            if w > 0 and h > 0 and w * h >= cover * max(b.area, 1e-9):
                nested = True
                break
        if not nested:
            out.append(b)
    return out


def _dlib(**kw):
    from .dlib_detector import DlibDetector
    return DlibDetector(cnn=False, **kw)


def _dlib_cnn(**kw):
    from .dlib_detector import DlibDetector
    return DlibDetector(cnn=True, **kw)


def _retinaface(**kw):
    from .retinaface import RetinaFaceDetector
    return RetinaFaceDetector(**kw)


DETECTORS = {"dlib": _dlib, "dlib-cnn": _dlib_cnn, "retinaface": _retinaface}


def create_detector(name: str = "dlib", **kwargs) -> Detector:
    """Build a detector: ``dlib`` (HOG + 5-point landmarks, offline, default), ``dlib-cnn``
    (dlib's MMOD CNN, slower, finds harder faces), ``retinaface`` (MobileNet-0.25; needs its
    weights, see :mod:`hiface.faces.retinaface`)."""
    try:
        fn = DETECTORS[name]
    except KeyError:
        raise ConfigError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}") from None
    return fn(**kwargs)
