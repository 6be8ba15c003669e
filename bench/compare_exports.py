"""Compare generator exports (``hiface train --export``) on degraded validation faces.

A quick check between training stretches, before the full ``hiface benchmark``: the first N
faces of a file list, degraded with the benchmark's protocol (``--preset``, per-image seeds
from ``--seed`` and the file name, faces resized to ``--size``), restored by each export as
``hifacegan-lite`` (its recorded generator options win). Prints mean PSNR / SSIM / FED / LLE /
NIQE per export.

    python bench/compare_exports.py --list src/hiface/weights/hifacegan-lite.val.txt \
        --root ../shared/data/faces/utk200 -n 48 runs/a.safetensors runs/b.safetensors
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("exports", nargs="*", help="generator .safetensors files ('default' = the shipped model)")
    ap.add_argument("--list", required=True, help="file with one face file name per line")
    ap.add_argument("--root", required=True, help="folder of the clean faces")
    ap.add_argument("-n", type=int, default=48, help="number of faces (first N of the list)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--preset", default="hifacegan-fr")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="hifacegan-lite")
    a = ap.parse_args()

    import hiface
    from hiface.degrade import benchmark_pair
    from hiface.io import from_tensor, read_image, to_tensor
    from hiface.metrics import psnr, ssim
    from hiface.metrics.face import analyze_face, face_pair_scores
    from hiface.metrics.niqe import niqe

    names = Path(a.list).read_text().split()[: a.n]
    pairs = [benchmark_pair(read_image(Path(a.root) / Path(n).name).pixels, Path(n).name, a.preset,
                            seed=a.seed, size=a.size) for n in names]
    gts, lqs = [g for g, _ in pairs], [r.image for _, r in pairs]
    gt_t = torch.stack([to_tensor(g) for g in gts])
    gt_faces = [analyze_face(g) for g in gts]

    def score(label: str, out_t: torch.Tensor, secs: float = 0.0) -> None:
        outs = [from_tensor(o) for o in out_t]
        pairs = [face_pair_scores(o, g, gt_face=f) for o, g, f in zip(outs, gts, gt_faces)]
        feds = [p.fed for p in pairs if p.fed is not None]
        lles = [p.lle for p in pairs if p.lle is not None]
        print(f"{label:48s} PSNR {float(psnr(out_t, gt_t).mean()):6.2f}  SSIM {float(ssim(out_t, gt_t).mean()):.3f}"
              f"  FED {np.mean(feds):.3f}  LLE {np.mean(lles):.2f} ({len(feds)}/{len(outs)} faces)"
              f"  NIQE {np.mean([niqe(o) for o in outs]):5.2f}  {secs / len(outs):.2f} s/face", flush=True)

    lq_t = torch.stack([to_tensor(q) for q in lqs])
    score("degraded", lq_t)
    score("ground truth", gt_t)
    for exp in a.exports:
        r = hiface.create_restorer(a.model, weights=exp)
        t0 = time.perf_counter()
        with torch.no_grad():
            out = torch.cat([r(lq_t[i:i + 8]) for i in range(0, len(lq_t), 8)])
        score(Path(exp).name, out, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
