"""Paste restored faces back into the (upscaled) photo.

Each restored crop is mapped back with the inverse of its alignment similarity, composed with
the pixel-centre-correct upscale of the output, and blended through a soft mask built in *face*
space: a square eroded by ``erode * size`` with a smooth ramp of ``feather * size`` -- so the
feather is proportional to the face size in the photo and no seam or box edge is visible. Only
each face's bounding region of the output is touched.
"""
from __future__ import annotations

import functools

import numpy as np

from .align import (
    invert_affine,
    scale_affine_output,
    similarity_scale,
    transform_points,
    warp_face,
)

__all__ = ["face_mask", "upscale_image", "paste_faces", "paste_region", "detail_sigma", "to_gray", "is_grayscale"]


@functools.lru_cache(maxsize=8)
def face_mask(size: int, erode: float = 0.03, feather: float = 0.12) -> np.ndarray:
    """(size, size) float32 blend weight: 0 at the crop border, 1 inside, smoothstep ramp."""
    d = np.arange(size, dtype=np.float32) + 0.5
    edge = np.minimum(d, size - d)  # distance to the nearest border, per axis
    t = np.clip((edge - erode * size) / max(feather * size, 1e-6), 0.0, 1.0)
    r = t * t * (3 - 2 * t)
    m = np.minimum(r[:, None], r[None, :]).astype(np.float32)
    m.setflags(write=False)
    return m


def upscale_image(image: np.ndarray, factor: float) -> np.ndarray:
    """Lanczos resize of a float image by ``factor`` (values clipped to [0, 1])."""
    import cv2

    if factor == 1:
        return image.copy()
    h, w = image.shape[:2]
    out = cv2.resize(image, (int(round(w * factor)), int(round(h * factor))), interpolation=cv2.INTER_LANCZOS4)
    if out.ndim == 2 and image.ndim == 3:
        out = out[:, :, None]
    np.minimum(out, 1.0, out=out)  # Lanczos overshoot (np.clip is slow on big images)
    return np.maximum(out, 0.0, out=out)


def is_grayscale(image: np.ndarray, tol: float = 2.0 / 255) -> bool:
    """True when an RGB float image has (nearly) equal channels everywhere (old photos stored as RGB)."""
    if image.ndim == 2 or image.shape[2] == 1:
        return True
    step = max(1, int(np.sqrt(image.shape[0] * image.shape[1] / 250_000)))
    s = image[::step, ::step, :3]
    return bool(np.abs(s[..., 0] - s[..., 1]).max() <= tol and np.abs(s[..., 1] - s[..., 2]).max() <= tol)


def to_gray(image: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma replicated to 3 channels (what grayscale photos get back)."""
    y = image[..., 0] * 0.299 + image[..., 1] * 0.587 + image[..., 2] * 0.114
    return np.repeat(y[..., None], 3, axis=-1).astype(image.dtype, copy=False)


def detail_sigma(scale: float) -> float:
    """Gaussian sigma (output px) of the correction low-pass when a crop is enlarged ``scale``x.

    A crop pixel covers ``scale`` output pixels, so the model cannot represent periods below
    ~``2 scale`` px (its Nyquist). Low-passing the change (restored - background) at that cutoff
    keeps the background's finer detail; the output grid itself already limits to a 2 px period,
    so the extra blur adds in quadrature: ``0.5 sqrt(scale^2 - 1)`` (response ~0.3 at the model's
    Nyquist, ~0.75 at half of it). Zero for faces at or below the model's size."""
    return 0.5 * float(np.sqrt(max(scale * scale - 1.0, 0.0)))


def _support(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), end exclusive: the crop pixels where ``mask`` > 0."""
    cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if not len(cols):
        return 0, 0, 0, 0
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def paste_region(M: np.ndarray, size: int, upscale: float, width: int, height: int,
                 mask: np.ndarray | None = None, keep_detail: bool = False) -> tuple[int, int, int, int]:
    """Output pixels (x0, y0, x1, y1), end exclusive, that :func:`paste_faces` touches for a
    ``size`` crop with image->crop similarity ``M``, in a ``width`` x ``height`` output.

    Where ``mask`` (crop-space blend weights) is given, only the region its non-zero part can
    reach is worked on -- the face outline covers about a third of the crop's bounding box --
    plus, with ``keep_detail``, the reach of the low-pass (OpenCV's float Gaussian kernel ends at
    4 sigma), so every pixel the mask lets through gets exactly the value it would get from the
    whole crop's region. Faces shrunk below 1/2.5 keep the whole region (``warp_face``
    area-reduces the region it is given before warping)."""
    A = scale_affine_output(invert_affine(M), upscale)  # crop -> output
    S = size
    corners = transform_points(A, np.array([[-0.5, -0.5], [S - 0.5, -0.5], [-0.5, S - 0.5], [S - 0.5, S - 0.5]]))
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 2, [width, height])
    sc = similarity_scale(A)
    if mask is not None and sc >= 1 / 2.5:  # (shrunk faces are area-reduced per region first: whole crop)
        sx0, sy0, sx1, sy1 = _support(mask)
        if sx1 <= sx0:
            return 0, 0, 0, 0
        # linear interpolation of the mask reaches one crop pixel beyond its support (one more for safety)
        c = transform_points(A, np.array([[sx0 - 2, sy0 - 2], [sx1 + 1, sy0 - 2], [sx0 - 2, sy1 + 1],
                                          [sx1 + 1, sy1 + 1]], dtype=np.float64))
        pad = 2 + (int(np.ceil(4 * detail_sigma(sc))) + 2 if keep_detail else 0)
        x0, y0 = max(x0, int(np.floor(c[:, 0].min())) - pad), max(y0, int(np.floor(c[:, 1].min())) - pad)
        x1, y1 = min(x1, int(np.ceil(c[:, 0].max())) + pad), min(y1, int(np.ceil(c[:, 1].max())) + pad)
    return int(x0), int(y0), int(x1), int(y1)


def paste_faces(background: np.ndarray, faces: list[np.ndarray], transforms: list[np.ndarray], *,
                upscale: float = 1.0, erode: float = 0.03, feather: float = 0.12,
                masks: list[np.ndarray] | None = None, keep_detail: bool = False,
                inputs: list[np.ndarray] | None = None) -> np.ndarray:
    """Blend restored crops into ``background`` (already upscaled by ``upscale``), in order.

    background: (H, W, C) float32 in [0, 1], modified and returned.
    faces: restored (S, S, C) float32 crops; transforms: their image->crop similarities in the
    coordinates of the *original* (not upscaled) image. masks: per-face (S, S) blend weights in
    crop space (e.g. ``faces.masks.paste_masks``); default the feathered box. ``keep_detail``:
    faces larger than the crop take only the frequencies the crop can hold from it
    (``background + lowpass(restored - background)``, :func:`detail_sigma`); the background's
    finer detail stays."""
    H, W = background.shape[:2]
    for i, (face, M) in enumerate(zip(faces, transforms)):
        S = face.shape[0]
        mask = face_mask(S, erode, feather) if masks is None else masks[i]
        x0, y0, x1, y1 = paste_region(M, S, upscale, W, H, mask, keep_detail)
        if x1 <= x0 or y1 <= y0:
            continue
        delta = inputs is not None
        if delta:
            face = face - inputs[i]
            if not face.any():  # nothing changed (e.g. a large face the auto fidelity left as it was)
                continue
        A = scale_affine_output(invert_affine(M), upscale)  # crop -> output
        # crop -> ROI: translate the output by (-x0, -y0); warp_face wants the source->dest map
        T = A.copy()
        T[:, 2] -= (x0, y0)
        roi_size = (int(x1 - x0), int(y1 - y0))
        # Lanczos keeps the identity round trip near-lossless; beyond 2x enlargement cubic looks
        # the same and is 4x cheaper (16 vs 64 taps) on 12 MP selfies
        interp = "lanczos" if similarity_scale(T) <= 2.0 else "cubic"
        f = warp_face(face, T, roi_size, border="replicate", interpolation=interp)
        m = warp_face(mask, T, roi_size, border="constant", border_value=0.0, interpolation="linear")
        if not delta:
            np.minimum(f, 1.0, out=f)  # cubic/Lanczos overshoot (in place: np.clip is slow on 10+ MP)
            np.maximum(f, 0.0, out=f)
        if m.ndim == 2:  # linear interpolation of a [0, 1] mask stays in [0, 1]
            m = m[..., None]
        roi = background[y0:y1, x0:x1]
        if not delta:
            f -= roi  # roi += m * (f - roi), without temporaries
        sig = detail_sigma(similarity_scale(T)) if keep_detail else 0.0
        if sig > 0.05:
            import cv2

            f = cv2.GaussianBlur(f, (0, 0), sig, borderType=cv2.BORDER_REPLICATE).reshape(f.shape)
        f *= m
        roi += f
        if delta:
            np.minimum(roi, 1.0, out=roi)
            np.maximum(roi, 0.0, out=roi)
    return background
