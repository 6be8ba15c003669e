"""Tiled inference of a fixed-scale super-resolution net, resized on the fly to any output scale.

The input is cut into ``tile``×``tile`` cores; each is run with ``pad`` pixels of context on every
side (zero padding only at the true image border, as the untiled net sees it) and only the core
of the result is kept, so a net whose receptive-field radius is at most ``pad`` gives exactly the
untiled result, and deeper nets (RRDBNet) differ only slightly at core borders. Each core is
resampled to its share of the target grid right away and written into the preallocated output:
memory is bounded by one tile's activations plus the output, for any photo size.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

__all__ = ["tile_grid", "tiled_upscale", "target_size"]


def target_size(h: int, w: int, factor: float) -> tuple[int, int]:
    """Output (height, width) for ``factor``: the same rounding as ``faces.paste.upscale_image``."""
    return int(round(h * factor)), int(round(w * factor))


def tile_grid(h: int, w: int, tile: int) -> list[tuple[int, int, int, int]]:
    """Cores (y0, y1, x0, x1) covering an h×w image in raster order."""
    return [(y, min(y + tile, h), x, min(x + tile, w)) for y in range(0, h, tile) for x in range(0, w, tile)]


def _area_weights(n_out: int, out0: int, ratio: float, src0: int, n_src: int) -> np.ndarray:
    """(n_out, n_src) box-filter weights: output pixel ``out0 + i`` averages the source interval
    [(out0+i)·ratio, (out0+i+1)·ratio) (what cv2's INTER_AREA does), source pixels from ``src0``."""
    lo = (out0 + np.arange(n_out))[:, None] * ratio
    j = src0 + np.arange(n_src)[None, :]
    return (np.clip(np.minimum(lo + ratio, j + 1) - np.maximum(lo, j), 0, None) / ratio).astype(np.float32)


def _lanczos_weights(n_out: int, out0: int, ratio: float, src0: int, n_src: int, n_total: int) -> np.ndarray:
    """(n_out, n_src) Lanczos-4 weights (8 taps, normalised, replicated border: cv2's
    INTER_LANCZOS4 for enlargement), output pixel ``out0 + i`` at source position
    (out0 + i + 0.5)·ratio - 0.5; source pixels from ``src0``, ``n_total`` in the whole row."""
    pos = (out0 + np.arange(n_out) + 0.5) * ratio - 0.5
    base = np.floor(pos).astype(int)
    taps = base[:, None] + np.arange(-3, 5)[None, :]
    t = pos[:, None] - taps
    k = np.sinc(t) * np.sinc(t / 4)
    k /= k.sum(1, keepdims=True)
    W = np.zeros((n_out, n_src), np.float64)
    cols = np.clip(taps, 0, n_total - 1) - src0
    if cols.min() < 0 or cols.max() >= n_src:
        raise ValueError("tile padding too small for the resampling kernel")
    np.add.at(W, (np.repeat(np.arange(n_out), 8), cols.ravel()), k.ravel())
    return W.astype(np.float32)


def tiled_upscale(run: Callable, image: np.ndarray, factor: float, *, scale: int = 4, tile: int = 256,
                  pad: int = 16, progress: Callable[[Iterable], Iterable] | None = None) -> np.ndarray:
    """Up-scale ``image`` (H, W, C) float32 [0, 1] by ``factor`` with ``run``, a function taking a
    (h, w, C) float32 tile and returning its (scale·h, scale·w, C) super-resolved version.

    The output is (round(H·factor), round(W·factor)). Any other size than ×scale is resampled from
    each padded tile with separable weights of the *global* output->source mapping (box filter
    when shrinking, as cv2's INTER_AREA; Lanczos-4 when enlarging, as INTER_LANCZOS4), so the
    tiles add no seams of their own. Output
    clipped to [0, 1]."""
    h, w, c = image.shape
    oh, ow = target_size(h, w, factor)
    out = np.empty((oh, ow, c), np.float32)
    ry, rx = scale * h / oh, scale * w / ow  # source (xscale) pixels per output pixel
    cores = tile_grid(h, w, max(int(tile), 8))
    it = progress(cores) if progress is not None else cores
    for y0, y1, x0, x1 in it:
        py0, py1, px0, px1 = max(y0 - pad, 0), min(y1 + pad, h), max(x0 - pad, 0), min(x1 + pad, w)
        sr = run(image[py0:py1, px0:px1])
        if (oh, ow) == (scale * h, scale * w):
            out[y0 * scale:y1 * scale, x0 * scale:x1 * scale] = \
                sr[(y0 - py0) * scale:(y1 - py0) * scale, (x0 - px0) * scale:(x1 - px0) * scale]
            continue
        Y0, Y1 = int(round(y0 * oh / h)), int(round(y1 * oh / h))
        X0, X1 = int(round(x0 * ow / w)), int(round(x1 * ow / w))
        if Y1 <= Y0 or X1 <= X0:
            continue
        sy0, sx0 = py0 * scale, px0 * scale
        if ry >= 1 and rx >= 1:
            Ay = _area_weights(Y1 - Y0, Y0, ry, sy0, sr.shape[0])
            Ax = _area_weights(X1 - X0, X0, rx, sx0, sr.shape[1])
        else:
            Ay = _lanczos_weights(Y1 - Y0, Y0, ry, sy0, sr.shape[0], scale * h)
            Ax = _lanczos_weights(X1 - X0, X0, rx, sx0, sr.shape[1], scale * w)
        rows = (Ay @ sr.reshape(sr.shape[0], -1)).reshape(Y1 - Y0, sr.shape[1], c)
        out[Y0:Y1, X0:X1] = np.einsum("xw,ywc->yxc", Ax, rows, optimize=True)
    np.minimum(out, 1.0, out=out)
    return np.maximum(out, 0.0, out=out)
