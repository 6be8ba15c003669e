"""Peak memory of `hiface restore PHOTO --bg-upsampler realesrgan --upscale 2` on a 4000×3000
(here 3000×4000: the selfie is portrait) photo (issue 17 target: < 4 GB).

    PYTHONPATH=src python bench/upscale_memory.py [--real-tiles 2] [--model realesrgan]

RealESRGAN_x4plus needs hours for 12 MP on a 2-core CPU, so by default only the first
``--real-tiles`` tiles run the real net (their activations are the per-tile peak; the 8000×6000
output is already allocated then) and the remaining tiles return a nearest-neighbour ×4 of the
tile (the same shapes and copies, none of the compute). Everything else is the real command:
detection, restoration (hifacegan-lite), face-shaped paste with colour transfer, 8-bit write.
``--real-tiles 0`` runs the real net on every tile. Peak resident memory from getrusage.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--real-tiles", type=int, default=2)
    ap.add_argument("--model", default="realesrgan")
    ap.add_argument("--photo", default=str(SHARED / "data/realworld/whole/gpen_selfie_3.jpg"))
    a = ap.parse_args()
    from hiface.io import read_image, write_image
    from hiface.upscale import upsampler as U

    tmp = Path(tempfile.mkdtemp())
    src = read_image(a.photo).pixels
    h, w = (3000, 4000) if src.shape[1] >= src.shape[0] else (4000, 3000)  # 12 MP, the photo's orientation
    write_image(tmp / "photo.jpg", np.ascontiguousarray(src[:h, :w]), quality=95)
    n = [0]
    real = U.RealESRGANUpsampler._run

    def run(self, tile):
        n[0] += 1
        if a.real_tiles and n[0] > a.real_tiles:
            return np.repeat(np.repeat(tile, self.scale, 0), self.scale, 1)
        t = time.time()
        out = real(self, tile)
        print(f"\nreal tile {n[0]} {tile.shape[1]}x{tile.shape[0]}: {time.time() - t:.1f} s, "
              f"peak so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB", flush=True)
        return out

    U.RealESRGANUpsampler._run = run
    from hiface.cli.main import main as hiface

    t = time.time()
    rc = hiface(["restore", str(tmp / "photo.jpg"), "-o", str(tmp / "out"), "--bg-upsampler", a.model,
                 "--upscale", "2", "--overwrite"])
    out = read_image(tmp / "out" / "photo.jpg").pixels
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"exit {rc}, output {out.shape[1]}x{out.shape[0]}, {n[0]} tiles ({a.real_tiles or 'all'} real), "
          f"{time.time() - t:.0f} s, peak RSS {peak:.2f} GiB")


if __name__ == "__main__":
    main()
