"""Large faces: does the restored photo keep the detail the input has?

For every face above 256 px (the default model's crop) in the shared whole photos
(``../shared/data/realworld/whole``), restored by ``hiface restore``'s pipeline (default upscale 2):
Laplacian variance (high-frequency energy) and NIQE of the face region at 1:1 for the Lanczos-
upscaled input, the restored photo, and the restored photo without the detail-keeping paste-back
(``keep_detail=False``, what hiface did before). Writes a Markdown table to stdout and a picture of
three faces (input | Lanczos | restored, 1:1 crops of the output).

    PYTHONPATH=src python bench/large_faces.py --picture docs/large-faces.jpg
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WHOLE = ROOT.parent / "shared" / "data" / "realworld" / "whole"


def lap_var(img: np.ndarray) -> float:
    import cv2

    g = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_RGB2GRAY) * 255
    return float(cv2.Laplacian(g, cv2.CV_32F).var())


def main() -> int:
    import cv2

    import hiface
    from hiface.faces.paste import upscale_image
    from hiface.faces.pipeline import FacePipeline
    from hiface.io import read_image
    from hiface.metrics.niqe import niqe

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="hifacegan-lite")
    ap.add_argument("--upscale", type=float, default=2)
    ap.add_argument("--min-face", type=int, default=256, help="faces larger than this (input px)")
    ap.add_argument("--picture", type=Path, default=None)
    ap.add_argument("--photos", default=None, help="comma list of file names (default: every whole photo)")
    ap.add_argument("--tile", type=int, default=384, help="side of each 1:1 crop in the picture (output px)")
    a = ap.parse_args()
    r = hiface.create_restorer(a.model)
    u = a.upscale
    rows, tiles = [], []
    print("| photo | face | face px | scale | weight | severity | σ px | LapVar Lanczos | LapVar restored | "
          "LapVar old paste | NIQE Lanczos | NIQE restored | NIQE old paste |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    t0 = time.time()
    paths = sorted(WHOLE.iterdir()) if not a.photos else [WHOLE / n for n in a.photos.split(",")]
    for path in paths:
        x = read_image(path).pixels.astype(np.float32) / 255
        new = FacePipeline(r, "dlib", upscale=u)
        res = new(x)
        big = [k for k, d in enumerate(res.decisions) if d["scale"] / u * r.native_size > a.min_face]
        if not big:
            continue
        old = FacePipeline(r, "dlib", upscale=u, keep_detail=False)(x, faces=res.faces)
        lz = upscale_image(x, u)
        for k in big:
            d = res.decisions[k]
            f = res.faces[d["face"]]
            x0, y0, x1, y1 = (f.box * u + (u - 1) / 2).round().astype(int)
            x0, y0 = max(x0, 0), max(y0, 0)
            reg = (slice(y0, y1), slice(x0, x1))
            vals = [lap_var(im[reg]) for im in (lz, res.image, old.image)]
            nq = [niqe(np.clip(im[reg] * 255 + 0.5, 0, 255).astype(np.uint8)) for im in (lz, res.image, old.image)]
            face_px = d["scale"] / u * r.native_size
            rows.append((path.name, vals, nq))
            print(f"| {path.name} | {d['face']} | {face_px:.0f} | {d['scale']:.2f} | {d['weight']:.3f} | "
                  f"{d['severity']:.3f} | {d['detail_sigma']:.2f} | {vals[0]:.1f} | {vals[1]:.1f} | {vals[2]:.1f} | "
                  f"{nq[0]:.2f} | {nq[1]:.2f} | {nq[2]:.2f} |", flush=True)
            if a.picture is not None and len(tiles) < 3 and path.name not in [t[0] for t in tiles]:
                cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
                h = a.tile // 2
                sy = slice(max(cy - h, 0), max(cy - h, 0) + a.tile)
                sx = slice(max(cx - h, 0), max(cx - h, 0) + a.tile)
                # the input at 1:1 (its own pixels, each shown u x u: no interpolation)
                inp = cv2.resize(x, None, fx=u, fy=u, interpolation=cv2.INTER_NEAREST)
                tiles.append((path.name, [im[sy, sx] for im in (inp, lz, res.image)]))
    ok_lap = sum(v[1] >= v[0] for _, v, _ in rows)
    ok_niqe = sum(n[1] <= n[0] for _, _, n in rows)
    print(f"\n{len(rows)} faces above {a.min_face} px: restored LapVar >= Lanczos on {ok_lap}, "
          f"NIQE <= Lanczos on {ok_niqe}; mean LapVar {np.mean([v[0] for _, v, _ in rows]):.1f} (Lanczos) / "
          f"{np.mean([v[1] for _, v, _ in rows]):.1f} (restored) / {np.mean([v[2] for _, v, _ in rows]):.1f} (old); "
          f"mean NIQE {np.mean([n[0] for _, _, n in rows]):.2f} / {np.mean([n[1] for _, _, n in rows]):.2f} / "
          f"{np.mean([n[2] for _, _, n in rows]):.2f} ({time.time() - t0:.0f} s)")
    if a.picture is not None and tiles:
        from PIL import Image, ImageDraw

        t = a.tile
        sheet = Image.new("RGB", (3 * t + 16, len(tiles) * (t + 20) + 4), "white")
        draw = ImageDraw.Draw(sheet)
        for i, (name, ims) in enumerate(tiles):
            y = i * (t + 20) + 18
            for j, (im, lab) in enumerate(zip(ims, ["input (1:1, nearest)", f"Lanczos x{u:g}", f"restored ({a.model})"])):
                sheet.paste(Image.fromarray(np.clip(im * 255 + 0.5, 0, 255).astype(np.uint8)), (j * (t + 8), y))
                draw.text((j * (t + 8) + 2, y - 15), f"{name}: {lab}" if j == 0 else lab, fill="black")
        a.picture.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(a.picture, quality=88)
        print(f"wrote {a.picture} ({a.picture.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
