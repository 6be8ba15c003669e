"""Similarity alignment of faces: a robust 4-DoF estimate (rotation, uniform scale,
translation) from detected landmarks to a template, the warp into the aligned crop, and
its inverse.

Affine matrices are (2, 3) float64 in pixel coordinates with pixel centres at integers
(the convention of ``cv2.warpAffine`` and dlib), mapping *source* points to *destination*
points: ``dst = M[:, :2] @ src + M[:, 2]``.
"""
from __future__ import annotations

import itertools

import numpy as np

__all__ = ["estimate_similarity", "estimate_similarity_robust", "invert_affine", "transform_points",
           "compose_affine", "similarity_scale", "warp_face", "align_face", "face_transform",
           "scale_affine_output"]


def transform_points(M: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to (N, 2) points."""
    pts = np.asarray(pts, dtype=np.float64)
    return pts @ M[:, :2].T + M[:, 2]


def invert_affine(M: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine."""
    A = np.asarray(M, dtype=np.float64)[:, :2]
    Ai = np.linalg.inv(A)
    return np.hstack([Ai, -Ai @ M[:, 2:3]])


def compose_affine(M2: np.ndarray, M1: np.ndarray) -> np.ndarray:
    """``M2 o M1`` (apply M1 first)."""
    A = M2[:, :2] @ M1[:, :2]
    return np.hstack([A, (M2[:, :2] @ M1[:, 2:3]) + M2[:, 2:3]])


def similarity_scale(M: np.ndarray) -> float:
    """Uniform scale factor of a similarity (sqrt of |det|)."""
    return float(np.sqrt(abs(np.linalg.det(np.asarray(M)[:, :2]))))


def estimate_similarity(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares similarity ``src -> dst`` (Umeyama 1991, no reflection).

    Minimises ``sum_i w_i |s R src_i + t - dst_i|^2``; closed form with 4 unknowns
    ``(a, b, tx, ty)``, ``M = [[a, -b, tx], [b, a, ty]]``."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two matching (N>=2, 2) point sets, got {src.shape} and {dst.shape}")
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    ms, md = w @ src, w @ dst
    s, d = src - ms, dst - md
    den = float(w @ (s ** 2).sum(1))
    if den <= 1e-12:
        raise ValueError("degenerate source points (all equal)")
    a = float(w @ (s[:, 0] * d[:, 0] + s[:, 1] * d[:, 1])) / den
    b = float(w @ (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0])) / den
    A = np.array([[a, -b], [b, a]])
    return np.hstack([A, (md - A @ ms)[:, None]])


def estimate_similarity_robust(src: np.ndarray, dst: np.ndarray, *, inlier_k: float = 3.0,
                               min_inliers: int = 3) -> np.ndarray:
    """Least-median-of-squares similarity, refined by least squares on its inliers.

    Every pair of points defines a similarity exactly; the one with the smallest median
    residual is kept (robust to up to half of the landmarks being wrong, e.g. a mouth corner
    hidden by a hand), then refitted on the points whose residual is within ``inlier_k`` robust
    standard deviations. Deterministic (all pairs are tried; five points give ten)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = len(src)
    if n < 3:
        return estimate_similarity(src, dst)
    best, best_med = None, np.inf
    for i, j in itertools.combinations(range(n), 2):
        if np.allclose(src[i], src[j]):
            continue
        M = estimate_similarity(src[[i, j]], dst[[i, j]])
        med = float(np.median(((transform_points(M, src) - dst) ** 2).sum(1)))
        if med < best_med:
            best, best_med = M, med
    if best is None:
        raise ValueError("degenerate source points")
    r2 = ((transform_points(best, src) - dst) ** 2).sum(1)
    # robust sigma from the median (Rousseeuw & Leroy), floor at 1e-3 of the point spread
    spread = float(np.sqrt(((dst - dst.mean(0)) ** 2).sum(1).mean()))
    sigma2 = max(1.4826 ** 2 * (1 + 5.0 / max(n - 2, 1)) ** 2 * best_med, (1e-3 * spread) ** 2)
    inl = r2 <= inlier_k ** 2 * sigma2
    if inl.sum() < min(min_inliers, n):
        inl = np.argsort(r2)[:min(min_inliers, n)]
    return estimate_similarity(src[inl], dst[inl])


def scale_affine_output(M: np.ndarray, factor: float) -> np.ndarray:
    """Compose M with the pixel-centre-correct rescaling of its *output* by ``factor``
    (``x' = f x + (f - 1) / 2``), e.g. to paste into an image upscaled by ``factor``."""
    S = np.array([[factor, 0, (factor - 1) / 2], [0, factor, (factor - 1) / 2]])
    return compose_affine(S, M)


def warp_face(image: np.ndarray, M: np.ndarray, size: int | tuple[int, int], *,
              border: str = "constant", border_value: float | tuple = 0.0,
              antialias: bool = True, interpolation: str = "lanczos") -> np.ndarray:
    """Warp ``image`` (H, W[, C]) float32/uint8 with ``M`` (image -> crop) into a ``size`` crop.

    Only the region of the image that lands in the crop is touched. When ``M`` shrinks by
    more than 2.5x, that region is first reduced with area averaging to twice the final
    scale (``antialias``), so big faces are not aliased (plain warps skip pixels) while the
    final warp keeps its sharpness."""
    import cv2

    w, h = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    M = np.asarray(M, dtype=np.float64)
    bmode = {"constant": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT_101,
             "replicate": cv2.BORDER_REPLICATE}[border]
    interp = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4,
              "nearest": cv2.INTER_NEAREST}[interpolation]
    Mi = invert_affine(M)
    corners = transform_points(Mi, np.array([[-1, -1], [w, -1], [-1, h], [w, h]], dtype=np.float64))
    x0, y0 = np.floor(corners.min(0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 3
    H, W = image.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if isinstance(border_value, (int, float)):
        nch = 1 if image.ndim == 2 else image.shape[2]
        border_value = (float(border_value),) * nch
    if cx1 <= cx0 or cy1 <= cy0:  # crop entirely outside the image
        shape = (h, w) + image.shape[2:]
        out = np.empty(shape, dtype=image.dtype)
        out[...] = np.asarray(border_value[: (1 if image.ndim == 2 else image.shape[2])], dtype=image.dtype)
        return out
    roi = image[cy0:cy1, cx0:cx1]
    T = np.array([[1, 0, cx0], [0, 1, cy0]], dtype=np.float64)  # roi -> image
    Mr = compose_affine(M, T)
    s = similarity_scale(M)
    if antialias and s < 1 / 2.5:
        rw = max(1, int(round(roi.shape[1] * s * 2)))
        rh = max(1, int(round(roi.shape[0] * s * 2)))
        fx, fy = rw / roi.shape[1], rh / roi.shape[0]
        roi = cv2.resize(roi, (rw, rh), interpolation=cv2.INTER_AREA)
        # small -> roi pixel centres: x = (x' + 0.5) / f - 0.5
        D = np.array([[1 / fx, 0, 0.5 / fx - 0.5], [0, 1 / fy, 0.5 / fy - 0.5]])
        Mr = compose_affine(Mr, D)
    out = cv2.warpAffine(np.ascontiguousarray(roi), Mr, (w, h), flags=interp, borderMode=bmode,
                         borderValue=border_value)
    if out.ndim == 2 and image.ndim == 3:
        out = out[:, :, None]
    return out


def face_transform(face, template: str, size: int, *, robust: bool = True) -> np.ndarray:
    """Image -> aligned-crop similarity for a :class:`~hiface.faces.detect.Face` and a template name.

    Faces that carry raw dlib parts (5 or 68) and a dlib-chip template get dlib's exact
    ``get_face_chip_details`` fit (template -> parts, inverted). Otherwise the five landmarks
    are fitted robustly, in the direction of the template's reference implementation."""
    from .templates import (
        DLIB_TEMPLATES,
        FIT_FROM_TEMPLATE,
        dlib_parts_template,
        get_template,
    )

    pts = getattr(face, "points", None)
    if template in DLIB_TEMPLATES and pts is not None and len(pts) in (5, 68):
        idx, T = dlib_parts_template(len(pts), size, DLIB_TEMPLATES[template])
        return invert_affine(estimate_similarity(T, np.asarray(pts)[idx]))
    lm = face.landmarks if hasattr(face, "landmarks") else np.asarray(face)
    T = get_template(template, size)
    est = estimate_similarity_robust if robust else estimate_similarity
    if FIT_FROM_TEMPLATE.get(template, False):
        return invert_affine(est(T, lm))
    return est(lm, T)


def align_face(image: np.ndarray, face, template: str, size: int, *, robust: bool = True,
               **warp_kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Aligned ``size x size`` crop of ``face`` (a Face or (5, 2) landmarks) and the image->crop affine."""
    M = face_transform(face, template, size, robust=robust)
    return warp_face(image, M, size, **warp_kwargs), M
