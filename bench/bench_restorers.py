#!/usr/bin/env python
"""CPU cost of the face restorers: seconds per face, peak RSS, FLOPs per forward.

Each model is measured in its own subprocess (so ``ru_maxrss`` is that model's peak):
random weights (timing does not depend on values), one aligned 512² face through the
``Restorer`` interface (normalisation, clamping included), ``--warmup`` untimed runs, then
the median of ``--runs`` timed runs (wall time, and process CPU time summed over threads:
on a shared machine CPU time is the better estimate of the cost on an idle one). FLOPs are
counted on one forward of the network with
``torch.utils.flop_counter.FlopCounterMode`` (dispatcher-level: aten convolution,
mm/addmm/bmm/baddbmm and scaled-dot-product attention; element-wise ops, norms and
interpolation are not counted); 1 MAC = 2 FLOPs.

Examples:
  python bench/bench_restorers.py                          # gfpgan-1.4 and codeformer, 2 threads
  python bench/bench_restorers.py -m codeformer --fidelity 0 --runs 5
  python bench/bench_restorers.py --threads 1 --json out/bench.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time


def _worker(args: argparse.Namespace) -> dict:
    import resource

    import torch

    import hiface
    from hiface.models import get_model_config

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cfg = get_model_config(args.model)
    fid = cfg.default_fidelity if args.fidelity is None else args.fidelity
    restorer = hiface.create_restorer(args.model, weights=None)
    n_params = sum(p.numel() for p in restorer.net.parameters())
    s = cfg.native_size
    x = torch.rand(args.batch, 3, s, s)
    for _ in range(args.warmup):
        restorer(x, fidelity=fid)
    times, cpu = [], []
    for _ in range(args.runs):
        t, c = time.perf_counter(), time.process_time()
        restorer(x, fidelity=fid)
        times.append((time.perf_counter() - t) / args.batch)
        cpu.append((time.process_time() - c) / args.batch)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    from torch.utils.flop_counter import FlopCounterMode

    net = restorer.net.requires_grad_(False)
    kwargs = {"w": fid} if args.model.startswith("codeformer") else {}
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        net(torch.rand(1, 3, s, s) * 2 - 1, **kwargs)
    # attribute FLOPs to the network's top-level children: every tracked module whose
    # ancestors (below the root) were not tracked themselves (ModuleList/Dict are never called)
    counts = {n: sum(c.values()) for n, c in fc.get_flop_counts().items() if n != "Global" and "." in n}
    per_module: dict[str, int] = {}
    for name, n in counts.items():
        parts = name.split(".")
        if not any(".".join(parts[:i]) in counts for i in range(2, len(parts))):
            per_module[parts[1]] = per_module.get(parts[1], 0) + n
    per_module["(other)"] = fc.get_total_flops() - sum(per_module.values())
    return {
        "model": args.model, "fidelity": fid, "size": s, "batch": args.batch, "threads": args.threads,
        "params_M": n_params / 1e6, "sec_per_face_median": statistics.median(times),
        "sec_per_face_all": times, "cpu_sec_per_face_median": statistics.median(cpu),
        "cpu_sec_per_face_all": cpu, "peak_rss_MiB": peak_kib / 1024, "rss_before_import_MiB": rss0 / 1024,
        "gflops": fc.get_total_flops() / 1e9, "gmacs": fc.get_total_flops() / 2e9,
        "gflops_by_module": {k: v / 1e9 for k, v in sorted(per_module.items(), key=lambda kv: -kv[1])},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-m", "--models", nargs="+", default=["gfpgan-1.4", "codeformer"])
    p.add_argument("--fidelity", type=float, default=None, help="default: each model's default")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: measure one model in this process
    args = p.parse_args(argv)

    if args.worker:
        args.model = args.worker
        print(json.dumps(_worker(args)))
        return 0

    results = []
    for m in args.models:
        cmd = [sys.executable, __file__, "--worker", m, "--runs", str(args.runs), "--warmup", str(args.warmup),
               "--batch", str(args.batch), "--threads", str(args.threads)]
        if args.fidelity is not None:
            cmd += ["--fidelity", str(args.fidelity)]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HIFACE_OFFLINE": "1"}
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        r = json.loads(out.strip().splitlines()[-1])
        results.append(r)
        print(f"{r['model']:<12} fidelity={r['fidelity']}: wall {r['sec_per_face_median']:.2f} s/face "
              f"(runs {', '.join(f'{t:.2f}' for t in r['sec_per_face_all'])}), process CPU "
              f"{r['cpu_sec_per_face_median']:.2f} s/face, peak RSS {r['peak_rss_MiB']:.0f} MiB, "
              f"{r['gflops']:.1f} GFLOPs ({r['gmacs']:.1f} GMACs), {r['params_M']:.1f} M params", flush=True)
        print("    by module (GFLOPs): " + ", ".join(f"{k} {v:.1f}" for k, v in r["gflops_by_module"].items()))
    import torch

    meta = {"python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "processor": platform.processor()}
    print(json.dumps(meta))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
