"""Choose the ``--fidelity auto`` curve (severity -> blend weight) on validation faces.

The estimator (``hiface.fidelity``) predicts the PSNR-optimal blend weight, the *severity*; the
weight used is ``smoothstep((severity - lo) / (hi - lo))``. This script restores each face once
at full strength, then scores the blend for several ``(lo, hi)`` curves with the
``hiface benchmark`` protocol (same faces, seed, 256², uint8 outputs, same metric code), so the
curve can be chosen on every column, not only PSNR.

    PYTHONPATH=src python bench/fidelity_curve.py --preset hifacegan-fr --limit 60 \\
        --curve 0.15,0.65 --curve 0.15,0.45 --curve raw
"""
from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
UTK = ROOT.parent / "shared" / "data" / "faces" / "utk200"
VAL = ROOT / "src" / "hiface" / "weights" / "hifacegan-lite.val.txt"
METRICS = ("psnr", "ssim", "niqe", "fed", "lle")


def val_faces(limit: int, every: int = 3) -> list[Path]:
    """The validation subset of bench/README's no-harm tables: every 3rd val face in sorted order."""
    names = sorted(n.strip() for n in VAL.read_text().split() if n.strip())
    return [UTK / n for n in names[::every]][:limit]


def _split_blend(x, r, w: float, knee: float, sigma: float):
    """x + w (r - x)_low + w_hi (r - x)_high, w_hi = smoothstep(w / knee): the low frequencies
    (Gaussian sigma) blended by the estimator's weight, the details restored sooner."""
    from hiface.fidelity import _gauss, smoothstep

    w_hi = smoothstep(min(1.0, w / knee) if knee > 0 else 1.0)
    d = r - x
    lo = _gauss(d, sigma)
    return (x + w * lo + w_hi * (d - lo)).clamp(0, 1)


def main() -> None:
    import torch

    import hiface
    from hiface.degrade import benchmark_pair
    from hiface.fidelity import blend, load_auto_fidelity
    from hiface.io import from_tensor, read_image, to_tensor
    from hiface.metrics.evaluator import EvalSettings, Evaluator

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="hifacegan-fr")
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--model", default="hifacegan-lite")
    ap.add_argument("--curve", action="append", default=[],
                    help="lo,hi of the smoothstep; 'raw' (weight 1), 'input' (weight 0), 'file' (the "
                         "estimator file's own curve); 'split:KNEE:SIGMA' (the file's weight on the "
                         "change's low frequencies, smoothstep(w / KNEE) on its details above Gaussian "
                         "SIGMA px); 'niqe:MARGIN:SCALE' (at least clip((NIQE(input) - NIQE(restored) - "
                         "MARGIN) / SCALE, 0, 1))")
    ap.add_argument("--weights", default=None, help="estimator file (default: the shipped fidelity-auto.json)")
    a = ap.parse_args()
    curves = a.curve or ["input", "0.15,0.65", "raw"]
    est = load_auto_fidelity(a.weights)
    curves_est = {"file": est}  # the estimator with each --curve lo,hi instead of its own
    for c in curves:
        if c not in ("raw", "input", "file") and not c.startswith(("split", "niqe")):
            curves_est[c] = copy.copy(est)
            curves_est[c].curve = tuple(float(v) for v in c.split(","))
    restorer = hiface.create_restorer(a.model)
    ev = Evaluator(EvalSettings(metrics=METRICS))
    if ev.unavailable:
        raise SystemExit(f"metrics unavailable: {ev.unavailable}")
    vals: dict[str, dict[str, list[float]]] = {c: {m: [] for m in METRICS} for c in curves}
    weights: dict[str, list[float]] = {c: [] for c in curves}
    t0 = time.time()
    files = val_faces(a.limit)
    for i, f in enumerate(files):
        clean, res = benchmark_pair(read_image(f).pixels, f.name, a.preset, seed=0, size=256)
        x = to_tensor(res.image)[None]
        with torch.inference_mode():
            r = restorer.restore(x, fidelity=1.0)
        sev = float(est.severity(x, r)[0])
        w_file = float(est.weight(np.array([sev]))[0])   # the estimator file's own curve
        outs, nq = {}, None
        for c in curves:
            if c in ("raw", "input"):
                w = 1.0 if c == "raw" else 0.0
            elif c.startswith("split"):
                w = w_file
            elif c.startswith("niqe"):  # niqe:MARGIN:SCALE -- at least clip((NIQE(X) - NIQE(R) - m) / s, 0, 1)
                m_, s_ = (float(v) for v in c.split(":")[1:3])
                if nq is None:  # NIQE of the input and of the full restoration, once per face
                    from hiface.metrics.niqe import niqe

                    nq = (niqe(from_tensor(x[0])), niqe(from_tensor(r[0])))
                w = max(w_file, float(np.clip((nq[0] - nq[1] - m_) / s_, 0, 1)))
            else:
                w = float(curves_est[c].weight(np.array([sev]))[0])
            weights[c].append(w)
            if c.startswith("split"):   # split:KNEE:SIGMA -- the details get weight smoothstep(w / KNEE)
                knee, sig = (float(v) for v in c.split(":")[1:3])
                outs[c] = from_tensor(_split_blend(x, r, w, knee, sig)[0])
            else:
                outs[c] = from_tensor(blend(x, r, [w])[0])
        for c, ps in ev.score_group(outs, clean).items():
            for m in METRICS:
                v = ps.values.get(m)
                if v is not None and np.isfinite(v):
                    vals[c][m].append(float(v))
        print(f"{i + 1}/{len(files)} {f.name}: severity {sev:.3f} ({time.time() - t0:.0f} s)", flush=True)
    print(f"\npreset {a.preset}, {len(files)} faces, {a.model}\n")
    print("| curve | mean weight | " + " | ".join(m.upper() for m in METRICS) + " | FED/LLE faces |")
    print("|---|---:|" + "---:|" * len(METRICS) + "---|")
    for c in curves:
        row = [f"{np.mean(vals[c][m]):.4f}" if m in ("ssim", "fed") else f"{np.mean(vals[c][m]):.2f}"
               for m in METRICS]
        print(f"| {c} | {np.mean(weights[c]):.3f} | " + " | ".join(row) + f" | {len(vals[c]['fed'])}/{len(files)} |")


if __name__ == "__main__":
    main()
