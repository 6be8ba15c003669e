"""Seam step of the paste mask on the shared whole photos: box vs face-shaped mask, with and
without the low-frequency colour transfer (issue 17).

    PYTHONPATH=src python bench/seam.py [--model hifacegan-lite] [--detector dlib]

For every photo the faces are detected, aligned and restored once; each configuration then
pastes the same restored crops (upscale 1, so the background is the input itself). The seam
is measured along each configuration's own blend boundary (alpha = 0.5 contour of its pasted
mask): at each boundary pixel the luminance (8-bit levels) is sampled on both sides, just
beyond the feather ramp along the mask's normal, in the output and in the input at the same
points; seam = mean |step_out - step_in|, the intensity step the paste added.
"""
from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import numpy as np

import hiface
from hiface.faces.paste import face_mask, paste_faces
from hiface.faces.pipeline import FacePipeline
from hiface.io import read_image

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CONFIGS = [("box", False), ("box", True), ("face", False), ("face", True)]


def luma(x: np.ndarray) -> np.ndarray:
    return (x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114) * 255.0


def pasted_alpha(shape, masks, Ms, size) -> np.ndarray:
    a = np.zeros((*shape, 1), np.float32)
    ones = [np.ones((size, size, 1), np.float32)] * len(Ms)
    paste_faces(a, ones, Ms, upscale=1, masks=masks)
    return a[..., 0]


def seam_step(out: np.ndarray, inp: np.ndarray, alpha: np.ndarray, cell: int = 16) -> tuple[float, float]:
    """(step, pixel): the paste's added intensity step across the alpha = 0.5 boundary, 8-bit
    levels. ``pixel``: mean over boundary pixels of |step_out - step_in| (counts texture the
    restorer changed as well); ``step``: the signed per-pixel differences averaged over
    ``cell``×``cell`` stretches of boundary first, then |.| averaged over stretches -- a
    consistent tone step (a visible frame) counts fully, random texture differences cancel."""
    gy, gx = np.gradient(alpha)
    g = np.hypot(gx, gy)
    sel = (np.abs(alpha - 0.5) < 0.08) & (g > 1e-3)
    ys, xs = np.nonzero(sel)
    if len(ys) == 0:
        return float("nan"), float("nan")
    n = np.stack([gx[ys, xs], gy[ys, xs]], 1) / g[ys, xs, None]  # points inwards (alpha grows)
    r = 0.75 / g[ys, xs] + 1.5  # half the smoothstep ramp width (slope 1.5/width at the centre) + margin
    p = np.stack([xs, ys], 1).astype(np.float32)
    p_in, p_out = p + n * r[:, None], p - n * r[:, None]

    def sample(img, pts):
        from scipy.ndimage import map_coordinates

        return map_coordinates(img, [pts[:, 1], pts[:, 0]], order=1, mode="nearest")

    lo, li = luma(out).astype(np.float32), luma(inp).astype(np.float32)
    d = (sample(lo, p_in) - sample(lo, p_out)) - (sample(li, p_in) - sample(li, p_out))
    key = (ys // cell) * (alpha.shape[1] // cell + 1) + xs // cell
    _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    cell_mean = np.bincount(inv, weights=d) / cnt
    return float((np.abs(cell_mean) * cnt).sum() / cnt.sum()), float(np.abs(d).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="hifacegan-lite")
    ap.add_argument("--detector", default="dlib")
    ap.add_argument("--photos", default=str(SHARED / "data/realworld/whole"))
    ap.add_argument("--cache", default=None, help="folder to keep detections + restorations in (re-runs)")
    a = ap.parse_args()
    restorer = hiface.create_restorer(a.model)
    base = FacePipeline(restorer, a.detector, upscale=1)
    rows = []
    for path in sorted(Path(a.photos).glob("*")):
        if path.suffix.lower() not in (".jpg", ".png"):
            continue
        t0 = time.time()
        x = read_image(path).pixels.astype(np.float32) / 255
        cf = Path(a.cache) / f"{path.stem}.pkl" if a.cache else None
        if cf is not None and cf.is_file():
            faces, Ms, restored = pickle.loads(cf.read_bytes())
        else:
            faces = base.detect(x)
            crops, Ms = base.align(x, faces)
            restored, _ = base.restore_crops(crops)
            if cf is not None:
                cf.parent.mkdir(parents=True, exist_ok=True)
                cf.write_bytes(pickle.dumps((faces, Ms, restored)))
        if not faces:
            continue
        row, pix = [path.name, len(faces)], []
        for mask, colour in CONFIGS:
            p = FacePipeline(restorer, base.detector, upscale=1, paste_mask=mask, color_match=colour)
            p.restore_crops = lambda c, g=None: ([r.copy() for r in restored], [])  # the same restoration
            out = p(x, faces=faces).image
            masks = p.paste_masks(faces, Ms) or [face_mask(p.size)] * len(Ms)
            s, sp = seam_step(out, x, pasted_alpha(x.shape[:2], masks, Ms, p.size))
            row.append(s)
            pix.append(sp)
        rows.append(row + pix)
        print(f"{path.name}: {len(faces)} faces, step/pixel " + ", ".join(
              f"{m}{'+colour' if c else ''} {v:.2f}/{w:.2f}" for (m, c), v, w in zip(CONFIGS, row[2:], pix))
              + f" ({time.time() - t0:.0f} s)", flush=True)
    hdr = " | ".join(f"{m}{' + colour' if c else ''}" for m, c in CONFIGS)
    for title, sl in (("step (16 px stretches)", slice(2, 6)), ("per-pixel |difference|", slice(6, 10))):
        print(f"\n{title}\n\n| photo | faces | {hdr} |\n|---|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | " + " | ".join(f"{v:.2f}" for v in r[sl]) + " |")
        m = np.nanmean(np.array([r[sl] for r in rows], float), 0)
        print(f"| **mean** | {sum(r[1] for r in rows)} | " + " | ".join(f"**{v:.2f}**" for v in m) + " |")


if __name__ == "__main__":
    main()
