"""Cost of each metric for one (restored, ground truth) pair, 1 thread.

Input: shared FFHQ 00000.png resized to each size (synthetic texture when ../shared is absent),
the "restored" image a Gaussian blur of it. For each metric: median wall time and median
process CPU time over --n runs after one warm-up (model loading excluded). LPIPS and FID run
with random weights (their official weights are not available here): same compute, timing only.

Usage: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_metrics.py [--n 5] [--sizes 256,512]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np


def _image(size: int) -> np.ndarray:
    import cv2

    p = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces" / "ffhq1024" / "00000.png"
    if p.is_file():
        from hiface.io import read_image

        return cv2.resize(read_image(p).pixels, (size, size), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (0, 0), 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--sizes", default="256,512")
    args = ap.parse_args()

    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from hiface.io import to_tensor
    from hiface.metrics import face, proxies
    from hiface.metrics import psnr_ssim as P
    from hiface.metrics.fid import FIDInceptionV3
    from hiface.metrics.lpips import LPIPS
    from hiface.metrics.niqe import load_pristine, niqe

    pris = load_pristine()
    lp = LPIPS().eval()
    inc = FIDInceptionV3().eval()
    net = proxies.mobilenet()
    face._models()

    print("| metric | " + " | ".join(f"{s}² wall ms | {s}² CPU ms" for s in args.sizes.split(",")) + " |")
    print("|---|" + "---:|---:|" * len(args.sizes.split(",")))
    rows: dict[str, list[str]] = {}
    for size in map(int, args.sizes.split(",")):
        gt = _image(size)
        rs = cv2.GaussianBlur(gt, (0, 0), 1.5)
        x, y = to_tensor(rs)[None], to_tensor(gt)[None]
        cases = {
            "PSNR": lambda: P.psnr(x, y),
            "SSIM": lambda: P.ssim(x, y),
            "MS-SSIM": lambda: P.ms_ssim(x, y),
            "NIQE": lambda: niqe(rs, pristine=pris),
            "FED + LLE (both images analysed)": lambda: face.face_pair_scores(rs, gt),
            "MNV2-dist proxy (both images)": lambda: proxies.mnv2_dist(x, y, net),
            "LPIPS (random weights)": lambda: lp(x, y),
            "FID features, 1 image (random weights)": lambda: inc(x),
        }
        for name, fn in cases.items():
            with torch.inference_mode():
                fn()
                walls, cpus = [], []
                for _ in range(args.n):
                    w0, c0 = time.perf_counter(), time.process_time()
                    fn()
                    walls.append(time.perf_counter() - w0)
                    cpus.append(time.process_time() - c0)
            rows.setdefault(name, []).extend([f"{1e3 * statistics.median(walls):.0f}",
                                              f"{1e3 * statistics.median(cpus):.0f}"])
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
