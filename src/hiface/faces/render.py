"""Build a large restored photo in bounded memory: the up-scaled background and the pasted faces
are made one horizontal strip at a time, straight into a preallocated uint8/uint16 output.

The float path (``upscale_image`` then ``paste_faces`` on the whole picture, then quantise) needs
about 4 bytes per output sample for the picture plus as much again for temporaries: 12000 x 12000
at 2x passed 12 GB. Here the only full-size array is the integer output; each strip of about
``rows`` output rows is up-scaled from its source rows (plus a margin for the Lanczos support),
gets every face that overlaps it through :func:`~hiface.faces.paste.paste_faces` (with the face's
transform shifted to the strip, so per-pixel values are those of the whole-picture paste), and is
quantised into the output.

Strips tile exactly when a strip's first output row maps onto a whole source row (always for
integer factors; for others when ``gcd(H, H')`` allows strips of at most ``rows`` rows): OpenCV's
resize then uses the same scale and sample positions as for the whole picture. Otherwise the
background is up-scaled whole (as before) and only the pasting and quantising go by strips.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from .paste import paste_faces, upscale_image

__all__ = ["output_size", "background_strips", "render"]


def output_size(height: int, width: int, factor: float) -> tuple[int, int]:
    """(H', W') of an image up-scaled by ``factor`` (as :func:`~hiface.faces.paste.upscale_image`)."""
    return int(round(height * factor)), int(round(width * factor))


def _resize(a: np.ndarray, ow: int, oh: int) -> np.ndarray:
    import cv2

    if a.shape[0] == oh and a.shape[1] == ow:
        out = a.astype(np.float32, copy=True)
    else:
        out = cv2.resize(a, (ow, oh), interpolation=cv2.INTER_LANCZOS4)
    if out.ndim == 2 and a.ndim == 3:
        out = out[:, :, None]
    return out


def background_strips(image: np.ndarray, factor: float, rows: int = 512,
                      margin: int = 8) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(y0, y1, strip)``: output rows y0..y1 of ``image`` (float (H, W[, C])) up-scaled
    by ``factor`` with Lanczos, float32, not yet clipped."""
    h, w = image.shape[:2]
    oh, ow = output_size(h, w, factor)
    g = math.gcd(h, oh)
    step_s, step_d = h // g, oh // g  # source rows <-> output rows that map onto each other exactly
    if step_d > rows:  # no exact tiling: up-scale whole (float), hand it out in strips
        full = upscale_image(image, factor)
        for y0 in range(0, oh, rows):
            yield y0, min(oh, y0 + rows), full[y0:y0 + rows]
        return
    k = max(1, rows // step_d)           # steps per strip
    m = step_s * math.ceil(margin / step_s)  # source margin, a whole number of steps
    for s0 in range(0, h, k * step_s):
        s1 = min(h, s0 + k * step_s)
        c0, c1 = max(0, s0 - m), min(h, s1 + m)
        crop_oh = (c1 - c0) * oh // h       # exact: c0, c1 are multiples of step_s (or h)
        strip = _resize(image[c0:c1], ow, crop_oh)
        d0, d1 = s0 * oh // h, s1 * oh // h
        off = c0 * oh // h
        yield d0, d1, strip[d0 - off:d1 - off]


def _quantise_into(dst: np.ndarray, strip: np.ndarray) -> None:
    scale = 65535.0 if dst.dtype == np.uint16 else 255.0
    np.clip(strip, 0.0, 1.0, out=strip)
    strip *= scale
    strip += 0.5
    if dst.ndim == 2:
        dst[...] = strip[..., 0] if strip.ndim == 3 else strip
    else:
        dst[...] = strip


def _face_rois(faces, transforms, upscale: float, oh: int, ow: int, masks=None,
               keep_detail: bool = False, **mask_kw) -> list[tuple[int, int, int, int, float]]:
    """Each face's output region (x0, y0, x1, y1), computed as paste_faces does, and its scale.
    ``mask_kw``: paste_faces' ``erode``/``feather`` for the default mask, where given."""
    from .align import invert_affine, scale_affine_output, similarity_scale
    from .paste import face_mask, paste_region

    out = []
    for i, (face, M) in enumerate(zip(faces, transforms)):
        S = face.shape[0]
        A = scale_affine_output(invert_affine(M), upscale)
        m = face_mask(S, **mask_kw) if masks is None else masks[i]
        x0, y0, x1, y1 = paste_region(M, S, upscale, ow, oh, m, keep_detail)
        out.append((x0, y0, x1, y1, float(similarity_scale(A))))
    return out


def render(image: np.ndarray, faces: list[np.ndarray], transforms: list[np.ndarray], upscale: float,
           dtype=np.uint8, *, rows: int = 512, whole_face_rows: int = 2048, masks: list | None = None,
           inputs: list[np.ndarray] | None = None, **paste_kw) -> np.ndarray:
    """The up-scaled ``image`` with ``faces`` pasted (see :func:`~hiface.faces.paste.paste_faces`,
    ``paste_kw`` passed on), as a new ``dtype`` array (uint8 or uint16), built strip by strip.

    ``image``: float (H, W, C) or (H, W) in [0, 1]; ``transforms``: image -> crop similarities in
    the coordinates of ``image``. Values are rounded like ``to_dtype`` (clip, scale, +0.5).
    ``masks``: per-face paste masks (default: the feathered box); ``inputs``: the faces' input
    crops (paste_faces' detail-keeping delta paste), one per face.

    Each face is pasted into a buffer of its own region's columns and of rows that make the
    result independent of the strip: the face's whole region when it is at most
    ``whole_face_rows`` tall, else the strip plus a margin wider than the interpolation's reach
    (such faces are enlarged, so the warp is a plain per-pixel map)."""
    h, w = image.shape[:2]
    oh, ow = output_size(h, w, upscale)
    shape = (oh, ow) if image.ndim == 2 else (oh, ow, image.shape[2])
    out = np.empty(shape, dtype=dtype)
    # the delta paste of a face left unchanged (the auto fidelity's no-harm weight 0) adds nothing
    same = [inputs is not None and np.array_equal(f, x) for f, x in zip(faces, inputs or [None] * len(faces))]
    rois = _face_rois(faces, transforms, upscale, oh, ow, masks, bool(paste_kw.get("keep_detail")),
                      **{k: v for k, v in paste_kw.items() if k in ("erode", "feather")})
    for y0, y1, strip in background_strips(image, upscale, rows=rows):
        s3 = strip if strip.ndim == 3 else strip[..., None]
        for i, (face, M, (fx0, fy0, fx1, fy1, sc)) in enumerate(zip(faces, transforms, rois)):
            if fy1 <= y0 or fy0 >= y1 or fx1 <= fx0 or same[i]:
                continue
            if fy1 - fy0 <= whole_face_rows or sc < 2.5:  # (shrunk faces are pre-filtered per region)
                by0, by1 = fy0, fy1
            else:  # (the margin also covers keep_detail's low-pass: 4 sigma = 2 sc at most)
                pad = int(math.ceil(6 * sc)) + 8
                by0, by1 = max(fy0, y0 - pad), min(fy1, y1 + pad)
            ky0, ky1 = max(y0, by0), min(y1, by1)  # the rows of this strip the face touches
            buf = np.zeros((by1 - by0, fx1 - fx0, s3.shape[2]), np.float32)
            # as upscale_image: faces blend over the clipped background (the rest is clipped by _quantise_into)
            np.clip(s3[ky0 - y0:ky1 - y0, fx0:fx1], 0.0, 1.0, out=buf[ky0 - by0:ky1 - by0])
            # move the face's map so buf's (0, 0) is output pixel (fx0, by0): output = u * image + (u - 1) / 2,
            # so shifting the output by -d shifts the image by -d / u
            T = np.array([[1.0, 0.0, fx0 / upscale], [0.0, 1.0, by0 / upscale], [0.0, 0.0, 1.0]])
            paste_faces(buf, [face], [np.asarray(M, dtype=np.float64)[:2] @ T], upscale=upscale,
                        masks=None if masks is None else [masks[i]],
                        inputs=None if inputs is None else [inputs[i]], **paste_kw)
            s3[ky0 - y0:ky1 - y0, fx0:fx1] = buf[ky0 - by0:ky1 - by0]
        _quantise_into(out[y0:y1], strip)
    return out
