"""Pictures for the Real-ESRGAN background up-sampler (issue 17), written as small JPEGs:

* ``docs/images/upscale_ffhq_sheet.jpg``: the 10 shared FFHQ faces (resized to --size), down-scaled
  ×4 (area) and up-scaled ×4 again with bicubic, Lanczos and each Real-ESRGAN model, with NIQE
  per method (lower is better; also printed as a Markdown table);
* ``docs/images/upscale_bg_before_after.jpg``: a shared whole photo restored at --upscale 2 with
  the Lanczos background vs the Real-ESRGAN one, a background region at 1:1 (no resize).

    PYTHONPATH=src python bench/upscale_pictures.py [--size 512] [--models realesrgan,realesrgan-fast]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from hiface.io import read_image, write_image
from hiface.metrics.niqe import niqe
from hiface.upscale.upsampler import RealESRGANUpsampler

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def to8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def sheet(a, ups) -> None:
    files = sorted((SHARED / "data/faces/ffhq1024").glob("*.png"))
    s, lo = a.size, a.size // 4
    methods = ["bicubic", "lanczos", *ups]
    scores = {m: [] for m in methods}
    rows = []
    for f in files:
        gt = cv2.resize(read_image(f).pixels, (s, s), interpolation=cv2.INTER_AREA)
        lq = cv2.resize(gt, (lo, lo), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        outs = {"bicubic": cv2.resize(lq, (s, s), interpolation=cv2.INTER_CUBIC),
                "lanczos": cv2.resize(lq, (s, s), interpolation=cv2.INTER_LANCZOS4)}
        for m, up in ups.items():
            t = time.time()
            outs[m] = up(lq, 4)
            print(f"{f.name} {m}: {time.time() - t:.1f} s", flush=True)
        row = []
        for m in methods:
            o = to8(outs[m])
            scores[m].append(niqe(o))
            row.append(label(cv2.resize(o, (192, 192), interpolation=cv2.INTER_AREA) if s != 192 else o,
                             f"{m} {scores[m][-1]:.2f}"))
        rows.append(np.concatenate([label(cv2.resize(gt, (192, 192), interpolation=cv2.INTER_AREA), "ground truth"), *row], 1))
    print(f"\n| method | NIQE mean (10 faces, {s}² from {lo}²) | per face |\n|---|---:|---|")
    for m in methods:
        print(f"| {m} | {np.mean(scores[m]):.2f} | {' '.join(f'{v:.2f}' for v in scores[m])} |")
    img = np.concatenate(rows, 0)
    dst = ROOT / "docs/images/upscale_ffhq_sheet.jpg"
    write_image(dst, img, overwrite=True, quality=85)
    print(dst, dst.stat().st_size // 1024, "KiB")


def before_after(a, up) -> None:
    import hiface
    from hiface.faces.pipeline import FacePipeline

    x = read_image(SHARED / "data/realworld/whole" / a.photo).pixels.astype(np.float32) / 255
    restorer = hiface.create_restorer("hifacegan-lite")
    outs = {}
    for name, bg in (("lanczos", None), ("realesrgan", up)):
        t = time.time()
        outs[name] = FacePipeline(restorer, "dlib", upscale=2, bg_upsampler=bg)(x).image
        print(f"{a.photo} --bg-upsampler {name}: {time.time() - t:.0f} s", flush=True)
    y0, x0, h, w = a.region
    tiles = [label(to8(outs[n][y0:y0 + h, x0:x0 + w]), f"{n} background, 1:1 of the x2 output") for n in outs]
    img = np.concatenate(tiles, 1)
    dst = ROOT / "docs/images/upscale_bg_before_after.jpg"
    write_image(dst, img, overwrite=True, quality=88)
    print(dst, dst.stat().st_size // 1024, "KiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--models", default="realesrgan,realesrgan-fast")
    ap.add_argument("--photo", default="codeformer_03.jpg")
    ap.add_argument("--region", type=int, nargs=4, default=[0, 300, 450, 500], metavar=("Y", "X", "H", "W"))
    ap.add_argument("--skip-sheet", action="store_true")
    ap.add_argument("--skip-photo", action="store_true")
    a = ap.parse_args()
    ups = {m: RealESRGANUpsampler(m, progress=False) for m in a.models.split(",")}
    (ROOT / "docs/images").mkdir(parents=True, exist_ok=True)
    if not a.skip_photo:
        before_after(a, ups[a.models.split(",")[0]])
    if not a.skip_sheet:
        sheet(a, ups)


if __name__ == "__main__":
    main()
