"""Contact sheet of the shared real-world 512² crops (FFHQ-style, ``realworld/cropped``) restored three
ways by ``hiface restore``: detect mode (no --aligned), ``--aligned`` (default ``--crop-template
ffhq512``: mapped to the model's template and pasted back) and ``--aligned --crop-template model``
(the whole crop squeezed into the model's template: hiface before --crop-template).

    PYTHONPATH=src python bench/aligned_sheet.py -o docs/aligned-crops.jpg
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
CROPPED = ROOT.parent / "shared" / "data" / "realworld" / "cropped"

RUNS = [("detect (no --aligned)", []), ("--aligned (ffhq512)", ["--aligned"]),
        ("--aligned --crop-template model", ["--aligned", "--crop-template", "model"])]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="hifacegan-lite")
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "docs" / "aligned-crops.jpg")
    ap.add_argument("--tile", type=int, default=150)
    ap.add_argument("--groups", type=int, default=2, help="side-by-side groups of rows")
    ap.add_argument("--limit", type=int, default=None, help="only every k-th crop, to this many")
    a = ap.parse_args()
    files = sorted(CROPPED.iterdir())
    if a.limit and a.limit < len(files):
        files = files[::len(files) // a.limit][:a.limit]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for k, (_, extra) in enumerate(RUNS):
            subprocess.run([sys.executable, "-m", "hiface.cli.main", "restore", *map(str, files), "-o", str(tmp / str(k)),
                            "--model", a.model, "--upscale", "1", "--overwrite", *extra], check=True)
        t, cols = a.tile, 1 + len(RUNS)
        per = -(-len(files) // a.groups)
        gw = cols * t + 12
        sheet = Image.new("RGB", (a.groups * gw, 40 + per * t), "white")
        draw = ImageDraw.Draw(sheet)
        draw.text((4, 4), f"{a.model} on realworld/cropped (512² FFHQ-style crops), --upscale 1, --fidelity auto", fill="black")
        for g in range(a.groups):
            for j, lab in enumerate(["input", *[r[0] for r in RUNS]]):
                draw.text((g * gw + j * t + 2, 22), lab[:26], fill="black")
        for i, f in enumerate(files):
            g, r = divmod(i, per)
            ims = [f] + [tmp / str(k) / f.name for k in range(len(RUNS))]
            for j, p in enumerate(ims):
                sheet.paste(Image.open(p).convert("RGB").resize((t, t), Image.LANCZOS), (g * gw + j * t, 40 + r * t))
        a.out.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(a.out, quality=85)
    print(f"wrote {a.out} ({a.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
