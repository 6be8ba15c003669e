"""Contact sheet of a restorer on the shared real-world material (no ground truth).

Runs `hiface restore` (detect -> align -> restore -> paste back) on a dozen real degraded face
crops and on whole photos, then writes one JPEG: for the crops, rows of input | restored pairs;
below, each whole photo as input | restored. Usage (from the repo root):

    .venv/bin/python bench/default_model_sheet.py --model hifacegan-lite -o docs/hifacegan-lite-realworld.jpg

``--before-after FILE`` also writes README's picture: ``examples/portrait_old.jpg`` | restored.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "realworld"
CROPS = ["codeformer_0143.png", "codeformer_0240.png", "codeformer_0342.png", "codeformer_0368.png",
         "codeformer_0412.png", "codeformer_0500.png", "codeformer_0717.png", "codeformer_0934.png",
         "codeformer_Solvay_conference_1927_0018.png", "codeformer_Solvay_conference_1927_2_16.png",
         "gfpgan_Adele_crop.png", "gfpgan_Julia_Roberts_crop.png"]
WHOLE = ["gpen_solvay_conference_1927.png", "gfpgan_00.jpg"]


def restore(model: str, files: list[Path], out: Path) -> None:
    cmd = [sys.executable, "-m", "hiface.cli.main", "restore", *map(str, files), "-o", str(out),
           "--model", model, "--upscale", "1", "--overwrite"]
    subprocess.run(cmd, check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="hifacegan-lite")
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "docs" / "hifacegan-lite-realworld.jpg")
    ap.add_argument("--tile", type=int, default=160, help="side of each crop tile")
    ap.add_argument("--width", type=int, default=1280, help="sheet width")
    ap.add_argument("--before-after", type=Path, help="also write examples/portrait_old.jpg | restored here")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if a.before_after:
            src = ROOT / "examples" / "portrait_old.jpg"
            restore(a.model, [src], tmp)
            pair = [Image.open(p).convert("RGB").resize((384, 384), Image.LANCZOS) for p in (src, tmp / src.name)]
            out = Image.new("RGB", (768, 384))
            out.paste(pair[0], (0, 0))
            out.paste(pair[1], (384, 0))
            out.save(a.before_after, quality=90)
            print(f"wrote {a.before_after}")
        crops = [SHARED / "cropped" / n for n in CROPS]
        whole = [SHARED / "whole" / n for n in WHOLE]
        restore(a.model, crops + whole, tmp)
        t, pairs_per_row = a.tile, a.width // (2 * a.tile)
        rows = -(-len(crops) // pairs_per_row)
        blocks = []
        for w in whole:
            src, dst = Image.open(w).convert("RGB"), Image.open(tmp / w.name).convert("RGB")
            h = round(src.height * (a.width // 2) / src.width)
            blocks.append((src.resize((a.width // 2, h), Image.LANCZOS), dst.resize((a.width // 2, h), Image.LANCZOS)))
        height = 24 + rows * t + sum(b[0].height + 8 for b in blocks)
        sheet = Image.new("RGB", (a.width, height), "white")
        ImageDraw.Draw(sheet).text((4, 6), f"{a.model}: input | restored (shared real-world crops and whole photos)", fill="black")
        for i, c in enumerate(crops):
            r, k = divmod(i, pairs_per_row)
            x, y = k * 2 * t, 24 + r * t
            sheet.paste(Image.open(c).convert("RGB").resize((t, t), Image.LANCZOS), (x, y))
            sheet.paste(Image.open(tmp / c.name).convert("RGB").resize((t, t), Image.LANCZOS), (x + t, y))
        y = 24 + rows * t + 8
        for src, dst in blocks:
            sheet.paste(src, (0, y))
            sheet.paste(dst, (a.width // 2, y))
            y += src.height + 8
        a.out.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(a.out, quality=85)
    print(f"wrote {a.out} ({a.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
