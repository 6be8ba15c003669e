"""Seconds per input megapixel of the Real-ESRGAN background up-samplers on this CPU, and the
tiled-vs-untiled difference of RealESRGAN_x4plus (tile seams).

    PYTHONPATH=src python bench/upscale_speed.py [--size 256] [--threads 2]

Times one size×size crop of a shared whole photo per model (a single tile: no overlap cost),
tiled at the default tile 256 / pad 16 the overlap adds (1 + 2·16/256)² = 1.27×."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from hiface.io import read_image
from hiface.upscale.upsampler import RealESRGANUpsampler

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="realesrgan-fast,realesrgan-anime,realesrgan")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    img = read_image(SHARED / "data/realworld/whole/gpen_selfie_1.jpg").pixels.astype(np.float32) / 255
    x = np.ascontiguousarray(img[800:800 + a.size, 900:900 + a.size])
    print("| model | input | seconds | s / input MP (one tile) | s / MP tiled (x1.27) |")
    print("|---|---|---|---|---|")
    for name in a.models.split(","):
        up = RealESRGANUpsampler(name, progress=False)
        up._run(x[:32, :32])  # warm-up
        t = time.perf_counter()
        up._run(x)
        dt = time.perf_counter() - t
        mp = a.size * a.size / 1e6
        print(f"| {name} | {a.size}x{a.size} | {dt:.1f} | {dt / mp:.0f} | {dt / mp * 1.27:.0f} |", flush=True)


if __name__ == "__main__":
    main()
