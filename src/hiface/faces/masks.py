"""Face-shaped paste masks and the low-frequency colour transfer applied before blending.

A square soft box (``paste.face_mask``) blends hair, ears and background of the restored crop
too, and leaves a visible frame when the restored tone differs (GFP-GAN issues #259/#590).
CodeFormer blends through a face-parsing mask; hiface has no offline parser, so the mask
follows the landmarks the detector already gives, in aligned-crop space:

* 68 points (dlib with the 68-point predictor): convex hull of the jaw line (0-16) and the
  eyebrows (17-26) lifted by ``forehead`` × the eye-to-mouth distance, so the forehead is in;
* 5 points (RetinaFace, dlib's 5-point predictor): an ellipse around dlib's unit mean face
  (forehead to chin, jaw to jaw), placed by the similarity that maps the mean face's five
  points onto the detected ones.

The shape is then feathered inwards: a smoothstep of the distance to its outline over
``feather`` × crop size, and multiplied by the box mask so nothing reaches the crop border.
"""
from __future__ import annotations

import numpy as np

from .align import estimate_similarity, transform_points
from .paste import face_mask as box_mask
from .templates import RETINAFACE_UNIT

__all__ = ["landmark_outline", "face_shape_mask", "paste_masks", "match_colour"]

#: ellipse in dlib's unit mean-face frame (eyebrows at y≈0.02-0.1, mouth at ≈0.78, chin ≈1.0):
#: centre, semi-axes -- spans forehead (y=-0.24) to under the chin (1.16), jaw to jaw
_ELLIPSE_C, _ELLIPSE_AX = np.array([0.49, 0.46]), np.array([0.62, 0.70])


def landmark_outline(points: np.ndarray, forehead: float = 0.6, n_ellipse: int = 72) -> np.ndarray:
    """Face outline polygon (K, 2) in the coordinates of ``points`` (68 iBUG points or the 5
    hiface landmarks: eye centres, nose tip, mouth corners)."""
    p = np.asarray(points, np.float64)
    if len(p) == 68:
        eyes, mouth = p[36:48].mean(0), (p[48] + p[54]) / 2
        up = eyes - mouth
        brows = p[17:27] + forehead * up  # lift the eyebrows: the forehead is skin too
        import cv2

        hull = cv2.convexHull(np.concatenate([p[:17], brows]).astype(np.float32))
        return hull[:, 0].astype(np.float64)
    if len(p) != 5:
        raise ValueError(f"face outline needs 5 or 68 landmarks, got {len(p)}")
    t = np.linspace(0, 2 * np.pi, n_ellipse, endpoint=False)
    unit = _ELLIPSE_C + _ELLIPSE_AX * np.stack([np.cos(t), np.sin(t)], 1)
    M = estimate_similarity(RETINAFACE_UNIT, p)  # unit mean face -> these landmarks
    return transform_points(M, unit)


def face_shape_mask(outline: np.ndarray, size: int, feather: float = 0.06, erode: float = 0.03,
                    box_feather: float = 0.12) -> np.ndarray:
    """(size, size) float32 blend weight: 1 well inside ``outline`` (crop pixel coordinates),
    smoothstep ramp of ``feather * size`` inside its edge, times the box mask."""
    import cv2

    shift = 4  # sub-pixel polygon
    inside = np.zeros((size, size), np.uint8)
    cv2.fillPoly(inside, [np.round((outline + 0.5) * (1 << shift) - 0.5).astype(np.int32)], 1,
                 lineType=cv2.LINE_8, shift=shift)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    t = np.clip(dist / max(feather * size, 1e-6), 0.0, 1.0)
    m = t * t * (3 - 2 * t)
    return (m * box_mask(size, erode, box_feather)).astype(np.float32)


def paste_masks(faces, transforms, size: int, feather: float = 0.06) -> list[np.ndarray]:
    """Face-shaped masks in crop space for each face (``Face.points`` when it has 68 points,
    else its 5 landmarks) and its image->crop similarity."""
    out = []
    for f, M in zip(faces, transforms):
        pts = f.points if f.points is not None and len(f.points) == 68 else f.landmarks
        out.append(face_shape_mask(landmark_outline(transform_points(M, pts)), size, feather))
    return out


def match_colour(restored: np.ndarray, source: np.ndarray, mask: np.ndarray, sigma: float = 1 / 16,
                 edge_sigma: float = 1 / 128, band: float = 0.06) -> np.ndarray:
    """Low-frequency colour transfer before blending: add to ``restored`` the mask-weighted
    Gaussian low-pass of ``source - restored`` -- σ = ``sigma`` × crop size inside the face (its
    tone becomes the input's, its detail stays), and the finer σ = ``edge_sigma`` × size over the
    blend ramp and a ``band`` × size strip inside it, so at the seam the restored face meets the
    surrounding input without a step (the two-scale idea of multi-band blending, Burt & Adelson
    1983). All (S, S, 3) float32 in [0, 1]; mask (S, S) in [0, 1]."""
    import cv2

    S = restored.shape[0]
    w = np.ascontiguousarray(mask, np.float32)
    diff = (source - restored) * w[..., None]

    def lowpass(s: float) -> np.ndarray:
        k = int(2 * round(3 * s) + 1)
        num = cv2.GaussianBlur(diff, (k, k), s, borderType=cv2.BORDER_CONSTANT)
        den = cv2.GaussianBlur(w, (k, k), s, borderType=cv2.BORDER_CONSTANT)
        return num / np.maximum(den, 1e-3)[..., None]

    d = lowpass(sigma * S)
    if edge_sigma:
        core = (w >= 0.999).astype(np.uint8)
        t = np.clip(cv2.distanceTransform(core, cv2.DIST_L2, 5) / max(band * S, 1e-6), 0, 1)
        edge = 1 - t * t * (3 - 2 * t)  # 1 on the ramp, fading to 0 a band inside it
        d += (lowpass(edge_sigma * S) - d) * edge[..., None]
    return np.clip(restored + d, 0.0, 1.0).astype(np.float32)
