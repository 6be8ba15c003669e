"""Named five-point alignment templates.

A template gives, in the pixel coordinates of an aligned ``size x size`` face crop (pixel
centres at integer coordinates, OpenCV/dlib convention), where the five landmarks of
:class:`hiface.faces.detect.Face` must land: left eye centre, right eye centre, nose tip,
left mouth corner, right mouth corner -- left/right as seen in the image.

Landmark convention: RetinaFace's (eye centres at the pupils, nose tip, mouth corners), the
one the FFHQ template is defined in. dlib's predictors mark other points (eye corners, nose
base); :mod:`hiface.faces.dlib_detector` converts them with :data:`RETINAFACE_UNIT`.

The template is part of a model's pretrained config (``PretrainedConfig.template``), never
a pipeline setting: a model only restores faces aligned the way it was trained.

* ``"ffhq512"``: the FFHQ-style template of GFP-GAN / CodeFormer / facexlib, defined on a
  512 crop and scaled by ``size / 512``.
* ``"dlib-chip"``: dlib's ``get_face_chip_details(shape68, size, padding=0.2)`` (dlib's C++
  default padding), how the UTKFace "aligned & cropped" chips (``../shared/data/faces/utk200``)
  were made -- measured: re-fitting dlib's own 68 landmarks on 60 chips gives a median chip
  corner error of 0.99 px and scale 1.002 with padding 0.2, but 7.2 px and scale 0.935 with
  0.25 (the Python binding's default), see tests/test_faces_align.py.
  ``"dlib-chip-p25"`` is the same with padding 0.25. The chip frame is derived exactly
  from dlib's 68-point mean face (``get_face_chip_details`` in dlib/image_transforms/
  interpolation.h): a point ``p`` of the unit mean face lands at
  ``f = (padding + p) / (1 + 2 padding) * size`` in the frame dlib fits (least squares over
  the points in :data:`DLIB_CHIP_LANDMARKS`). ``extract_image_chip`` then samples chip pixel
  ``c`` at ``f = size/2 + (c - (size-1)/2) * (size - 1/s) / (size - 1)``, ``s`` being image
  pixels per chip pixel (the chip rectangle is ``size*s - 1`` wide and its corners go to pixel
  centres ``0`` and ``size-1``). We use ``s = 1``, i.e. ``c = f - 1/2``; for any ``s >= 1`` this
  is off by at most ``0.5 * (1 - 1/s) * (size/2) / (size - 1)`` px (< 0.25 px at the chip
  border) -- checked against dlib's own ``get_face_chip_details`` in tests/test_faces_align.py.
  The five template points are :data:`RETINAFACE_UNIT` in that frame; faces that carry raw
  dlib parts are aligned with dlib's exact fit instead (:func:`dlib_parts_template`).
"""
from __future__ import annotations

import numpy as np

__all__ = ["TEMPLATES", "FIT_FROM_TEMPLATE", "DLIB_TEMPLATES", "get_template", "dlib_mean_face",
           "DLIB_CHIP_PADDING", "DLIB_CHIP_LANDMARKS", "DLIB5_MEAN", "RETINAFACE_UNIT", "landmarks5_from_68",
           "unit_to_chip", "dlib_parts_template"]

#: FFHQ 512 template (facexlib ``face_template`` for 5 points).
FFHQ512 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                    [201.26117, 371.41043], [313.08905, 371.15118]], dtype=np.float64)

#: dlib's mean face, points 17..67 of the iBUG 68-point scheme, in a unit square
#: (copied from dlib's ``get_face_chip_details``).
_DLIB_MEAN_X = np.array([
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
    0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
    0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
    0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364, 0.490127, 0.42689])
_DLIB_MEAN_Y = np.array([
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
    0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
    0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
    0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
    0.784792, 0.824182, 0.831803, 0.824182])

#: dlib's 5-point predictor parts in the same unit frame (``get_face_chip_details``):
#: image-right eye outer/inner corner, image-left eye outer/inner corner, nose base.
DLIB5_MEAN = np.array([[0.8595674595992, 0.2134981538014], [0.6460604764104, 0.2289674387677],
                       [0.1205750620789, 0.2137274526848], [0.3340850613712, 0.2290642403242],
                       [0.4901123135679, 0.6277975316475]])

#: Where RetinaFace-convention landmarks fall in dlib's unit mean-face frame (median over
#: 249 UTKFace chips, ../shared/data/faces/utk200 every 37th file from the 8th, detected with
#: RetinaFace MobileNet-0.25 on the edge-padded chip and mapped back through the chip frame
#: with padding 0.2). dlib's own mean face puts the eye centres 0.016 lower, the nose tip
#: 0.039 higher and the mouth corners 0.025 lower: those points are not the same anatomy.
RETINAFACE_UNIT = np.array([[0.21422, 0.19599], [0.76938, 0.19152], [0.49116, 0.55458],
                            [0.24075, 0.75507], [0.74249, 0.75275]])

#: indices (iBUG 68) dlib fits the chip to: 27..67 without the lower lip (55-59, 65-67)
DLIB_CHIP_LANDMARKS = tuple(i for i in range(27, 68) if not (55 <= i <= 59 or 65 <= i <= 67))
DLIB_CHIP_PADDING = 0.2


def dlib_mean_face() -> np.ndarray:
    """dlib's unit mean face as a (68, 2) array; rows 0..16 (jaw, unused by dlib) are NaN."""
    out = np.full((68, 2), np.nan)
    out[17:, 0], out[17:, 1] = _DLIB_MEAN_X, _DLIB_MEAN_Y
    return out


def landmarks5_from_68(pts68: np.ndarray) -> np.ndarray:
    """The five template landmarks from iBUG-68 points: eye centres (mean of the 6 eye-contour
    points), nose tip (30), mouth corners (48, 54). Image left comes first."""
    p = np.asarray(pts68, dtype=np.float64)
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


def unit_to_chip(unit: np.ndarray, size: int, padding: float = DLIB_CHIP_PADDING) -> np.ndarray:
    """dlib unit mean-face coordinates -> chip pixel coordinates (see module doc)."""
    return (padding + np.asarray(unit, dtype=np.float64)) / (1 + 2 * padding) * size - 0.5


def dlib_parts_template(n_parts: int, size: int, padding: float = DLIB_CHIP_PADDING) -> tuple[np.ndarray, np.ndarray]:
    """(indices, chip points) dlib itself fits a 5- or 68-part detection to."""
    if n_parts == 5:
        return np.arange(5), unit_to_chip(DLIB5_MEAN, size, padding)
    if n_parts == 68:
        idx = np.array(DLIB_CHIP_LANDMARKS)
        return idx, unit_to_chip(dlib_mean_face()[idx], size, padding)
    raise ValueError(f"dlib detections have 5 or 68 parts, got {n_parts}")


def _dlib_chip(size: int, padding: float = DLIB_CHIP_PADDING) -> np.ndarray:
    return unit_to_chip(RETINAFACE_UNIT, size, padding)


def _ffhq(size: int) -> np.ndarray:
    return FFHQ512 * (size / 512.0)


def _dlib_chip_p25(size: int) -> np.ndarray:
    return _dlib_chip(size, 0.25)


TEMPLATES = {"ffhq512": _ffhq, "dlib-chip": _dlib_chip, "dlib-chip-p25": _dlib_chip_p25}
#: padding of the dlib-style templates (exact dlib fit used when raw dlib parts are known)
DLIB_TEMPLATES = {"dlib-chip": DLIB_CHIP_PADDING, "dlib-chip-p25": 0.25}

#: direction the template's reference implementation fits the similarity in. Least squares is
#: not symmetric: dlib fits template -> image points and inverts (``find_similarity_transform``
#: in ``chip_details``), facexlib fits image -> template (``estimateAffinePartial2D``).
FIT_FROM_TEMPLATE = {"ffhq512": False, "dlib-chip": True, "dlib-chip-p25": True}


def get_template(name: str, size: int) -> np.ndarray:
    """Five template points (5, 2) float64 for an aligned crop of ``size x size`` pixels.

    >>> get_template("ffhq512", 512)[0].round(2).tolist()
    [192.98, 239.95]
    """
    from ..errors import ConfigError

    if int(size) <= 0:
        raise ConfigError(f"template size must be positive, got {size}")
    try:
        fn = TEMPLATES[name]
    except KeyError:
        raise ConfigError(f"unknown alignment template {name!r}; known: {', '.join(TEMPLATES)}") from None
    return fn(int(size))
