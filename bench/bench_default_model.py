"""Speed of the shipped default restorer: seconds per aligned face at its native size.

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_default_model.py [--model hifacegan-lite]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import hiface


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="hifacegan-lite")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    r = hiface.create_restorer(a.model)
    x = torch.rand(1, 3, r.native_size, r.native_size)
    r(x)  # warm-up
    wall, cpu = [], []
    for _ in range(a.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        r(x)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(f"{a.model} at {r.native_size}², {a.threads} threads, batch 1: median wall "
          f"{statistics.median(wall):.3f} s/face, median process CPU {statistics.median(cpu):.3f} s/face")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
