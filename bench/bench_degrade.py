"""Time per 512×512 image for each degradation preset (sampling + applying, uint8 in/out).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_degrade.py [--n 40] [--size 512] [--threads 1]

Prints a Markdown table: median and mean ms per image over ``--n`` images (seeds 0..n-1), after
one warm-up. The input is a fixed synthetic 512² RGB image (gradients + texture); timings do not
depend on content except through JPEG entropy coding.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads (cv2.setNumThreads)")
    a = ap.parse_args()

    import cv2

    from hiface.degrade import PRESETS, degrade

    cv2.setNumThreads(a.threads)
    s = a.size
    y, x = np.mgrid[0:s, 0:s].astype(np.float32)
    base = np.stack([x / s, y / s, 0.5 + 0.3 * np.sin(x / 9) * np.cos(y / 13)], -1)
    img = np.clip((0.8 * base + 0.2 * np.random.default_rng(0).random((s, s, 3))) * 255, 0, 255).astype(np.uint8)

    print(f"# {a.size}x{a.size} uint8, n={a.n}, cv2 threads={a.threads}, OpenCV {cv2.__version__}, "
          f"numpy {np.__version__}, {platform.processor() or platform.machine()}")
    print("| preset | median ms/img | mean ms/img | images/s |")
    print("|---|---:|---:|---:|")
    for name in PRESETS:
        degrade(img, name, seed=10_000)  # warm-up
        ts = []
        for seed in range(a.n):
            t0 = time.perf_counter()
            degrade(img, name, seed=seed)
            ts.append((time.perf_counter() - t0) * 1000)
        med, mean = statistics.median(ts), statistics.fmean(ts)
        print(f"| `{name}` | {med:.1f} | {mean:.1f} | {1000 / mean:.1f} |")


if __name__ == "__main__":
    main()
