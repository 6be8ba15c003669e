#!/usr/bin/env python
"""Seconds per face of a restorer on the CPU: PyTorch vs ONNX Runtime, 1 vs 2 threads (issue 18).

Every variant runs the same random 256² (or native-size) face batch through the restorer
(``fidelity=1``: the network's output, normalisation and clamp included), one warm-up each,
then ``--repeats`` rounds in which every variant runs once, in turn (interleaved, so a change in
the machine's load hits all variants alike); the median per variant is reported, with the
process CPU time per face (summed over threads) and the load average before/after.

Variants: ``torch`` (the restorer as shipped), ``torch-folded`` (spectral norm folded into the
weights, as the ONNX export does), ``torch-folded-cl`` (plus channels-last layout),
``onnxruntime`` (:mod:`hiface.onnxrt`, exported once, cached). ``--busy N`` starts N busy-loop
processes for the run (a machine whose cores are taken by other jobs: oversubscription).

Examples:
  python bench/bench_speed.py                           # hifacegan-lite, threads 1 and 2
  python bench/bench_speed.py --busy 1 --repeats 7
  python bench/bench_speed.py -m gfpgan-1.4 --variants torch,onnxruntime --threads 1
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time


def _spin() -> None:  # pragma: no cover - a busy process
    while True:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", default="hifacegan-lite")
    ap.add_argument("--weights", default="default", help="weight file, 'default', or 'none' (random)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--variants", default="torch,torch-folded,torch-folded-cl,onnxruntime")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--busy", type=int, default=0, help="busy-loop processes to run alongside")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    import hiface  # noqa: I001 -- first: its OMP_WAIT_POLICY=PASSIVE default must be set before torch loads libgomp
    import torch
    from hiface.onnxrt import OnnxRestorer, _strip_for_export, onnx_restorer
    from hiface.restorers.base import use_channels_last

    threads = [int(t) for t in a.threads.split(",")]
    torch.set_num_threads(max(threads))
    cfg = hiface.get_model_config(a.model)
    w = None if a.weights == "none" or not cfg.has_weights else a.weights
    torch.manual_seed(0)
    base = hiface.create_restorer(a.model, weights=w)
    s = base.native_size
    x = torch.rand(a.batch, 3, s, s, generator=torch.Generator().manual_seed(0))
    fid = 1.0 if not base.supports_fidelity else None

    def torch_variant(net, cl: bool):
        import copy

        r = copy.copy(base)
        r.net = net
        if cl:
            use_channels_last(net)
            r.channels_last = True
        return lambda n: (torch.set_num_threads(n), r(x, fidelity=fid))

    variants = {}
    names = a.variants.split(",")
    if "torch" in names:
        variants["torch"] = torch_variant(base.net, False)
    if "torch-folded" in names:
        variants["torch-folded"] = torch_variant(_strip_for_export(base.net), False)
    if "torch-folded-cl" in names:
        variants["torch-folded-cl"] = torch_variant(_strip_for_export(base.net), True)
    if "onnxruntime" in names:
        t0 = time.perf_counter()
        path = onnx_restorer(base).path
        print(f"onnx file {path} ({time.perf_counter() - t0:.1f} s incl. export if not cached)")
        ort = {n: OnnxRestorer(path, base.config, threads=n) for n in threads}
        variants["onnxruntime"] = lambda n: ort[n](x, fidelity=fid)

    busy = [mp.Process(target=_spin, daemon=True) for _ in range(a.busy)]
    for p in busy:
        p.start()
    try:
        load0 = os.getloadavg()
        for f in variants.values():
            for n in threads:
                f(n)  # warm-up
        wall = {(v, n): [] for v in variants for n in threads}
        cpu = {(v, n): [] for v in variants for n in threads}
        for _ in range(a.repeats):
            for v, f in variants.items():
                for n in threads:
                    t, c = time.perf_counter(), time.process_time()
                    f(n)
                    wall[(v, n)].append((time.perf_counter() - t) / a.batch)
                    cpu[(v, n)].append((time.process_time() - c) / a.batch)
        load1 = os.getloadavg()
    finally:
        for p in busy:
            p.terminate()
    print(f"model {a.model}, {s}² batch {a.batch}, {a.repeats} interleaved repeats, busy loops {a.busy}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
          f"load average before {load0[0]:.2f} after {load1[0]:.2f}, torch {torch.__version__}")
    print("| variant | threads | median wall s/face | min wall s/face | median CPU s/face |")
    print("|---|---:|---:|---:|---:|")
    rows = []
    for (v, n), ts in wall.items():
        row = {"variant": v, "threads": n, "median_s": statistics.median(ts), "min_s": min(ts),
               "cpu_s": statistics.median(cpu[(v, n)])}
        rows.append(row)
        print(f"| {v} | {n} | {row['median_s']:.3f} | {row['min_s']:.3f} | {row['cpu_s']:.3f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"model": a.model, "size": s, "batch": a.batch, "busy": a.busy, "load": [load0, load1],
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
