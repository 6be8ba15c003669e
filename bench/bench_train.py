"""Training speed of `hiface train` on this machine: seconds per iteration (one G step + one D
step, median over timed iterations after warm-up; wall and process CPU time), GFLOPs per iteration (counted with
``torch.utils.flop_counter``: forward + backward of G, D and the perceptual network), the data
pipeline's time per batch, and optionally the effect of ``train.compile``.

Usage (from the repository root):
    python bench/bench_train.py                          # lite config, 128² and 256², batch 4
    python bench/bench_train.py --sizes 128 --batch 2 --iters 10 --compile
    python bench/bench_train.py --quality ../shared/data/faces/utk200   # quality-filter counts

Prints one Markdown table row per setting.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def make_trainer(size: int, batch: int, compile_g: bool, run_dir: Path, ngf: int):
    from hiface.config import load_yaml
    from hiface.train.config import TrainConfig
    from hiface.train.tasks.hifacegan import Trainer

    cfg = load_yaml(TrainConfig, ROOT / "configs" / "hifacegan-lite256.yaml", [
        "data.root=", "data.synthetic=32", f"data.size={size}", "data.num_workers=0", "data.val_fraction=0",
        f"model.ngf={ngf}", f"train.batch_size={batch}", f"train.compile={str(compile_g).lower()}",
        "train.device=cpu", "log.progress=false", "loss.warmup_steps=0"])
    return Trainer(cfg, run_dir, overwrite=True)


def bench_one(size: int, batch: int, iters: int, warmup: int, compile_g: bool, ngf: int) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with tempfile.TemporaryDirectory() as tmp:
        tr = make_trainer(size, batch, compile_g, Path(tmp) / "run", ngf)
        items = [tr.train_set[(0, i % len(tr.train_set))] for i in range(batch)]
        t0 = time.perf_counter()
        for i in range(batch):
            tr.train_set[(1, i % len(tr.train_set))]
        data_s = time.perf_counter() - t0
        lq = torch.stack([b["lq"] for b in items])
        hq = torch.stack([b["hq"] for b in items])
        tr.G.train()
        tr.D.train()
        t0 = time.perf_counter()
        tr.train_step(lq, hq)  # first step (includes compilation when enabled)
        first_s = time.perf_counter() - t0
        for _ in range(max(0, warmup - 1)):
            tr.train_step(lq, hq)
        times, cpu = [], []
        for _ in range(iters):
            t0, c0 = time.perf_counter(), time.process_time()
            tr.train_step(lq, hq)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        gflops = None
        if not compile_g:
            counter = FlopCounterMode(display=False)
            with counter:
                tr.train_step(lq, hq)
            gflops = counter.get_total_flops() / 1e9
        tr.close()
    return {"size": size, "batch": batch, "compile": compile_g, "median_s": statistics.median(times) if times else float("nan"),
            "min_s": min(times, default=float("nan")),
            "cpu_s": statistics.median(cpu) if cpu else float("nan"), "first_s": first_s, "gflops": gflops, "data_s": data_s, "iters": iters}


def flops_breakdown(size: int, ngf: int) -> str:
    """GFLOPs of one forward pass per image: G, D (one 6-channel input, all scales), perceptual."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from hiface.losses import PerceptualLoss
    from hiface.train.config import ModelConfig
    from hiface.train.tasks.hifacegan import build_discriminator, build_generator

    mc = ModelConfig(ngf=ngf)
    nets = {"G": (build_generator(mc), torch.rand(1, 3, size, size)),
            "D": (build_discriminator(mc), torch.rand(1, 6, size, size))}
    perc = PerceptualLoss()
    out = []
    with torch.no_grad():
        for name, (net, x) in nets.items():
            c = FlopCounterMode(display=False)
            with c:
                net(x)
            out.append(f"{name} {c.get_total_flops() / 1e9:.2f}")
        c = FlopCounterMode(display=False)
        x = torch.rand(1, 3, size, size)
        with c:
            perc(x, x)
        out.append(f"perceptual ({perc.backbone_name}, fake+real) {c.get_total_flops() / 1e9:.2f}")
    return f"{size}²: forward GFLOPs per image: " + ", ".join(out)


def quality_counts(root: str, threshold: float | None, write: bool) -> None:
    from hiface import data as D
    from hiface.train.config import QualityConfig

    qc = QualityConfig()
    thr = qc.threshold if threshold is None else threshold
    paths = D.list_images(root)
    t0 = time.perf_counter()
    res = D.quality_filter(paths, thr, qc.measure_size, progress=sys.stderr.isatty())
    dt = time.perf_counter() - t0
    n = len(paths)
    print(f"quality filter on {root}: {n} images, threshold {thr} (laplacian variance at "
          f"{qc.measure_size}²): kept {len(res.kept)} ({len(res.kept) / n:.1%}), dropped "
          f"{len(res.dropped)} ({len(res.dropped) / n:.1%}); {dt:.1f} s")
    if write:
        res.write(Path("runs") / "quality-utk200")
        print("lists written to runs/quality-utk200/")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--ngf", type=int, default=16)
    ap.add_argument("--iters", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="also time train.compile=true (G compiled)")
    ap.add_argument("--quality", metavar="FOLDER", help="only count the quality filter's kept/dropped images")
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--write", action="store_true", help="with --quality: write the lists to runs/quality-utk200")
    args = ap.parse_args()
    if args.quality:
        quality_counts(args.quality, args.threshold, args.write)
        return
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, ngf {args.ngf}")
    print("| size | batch | compile | s/iter (median) | min | CPU s/iter (median, all threads) | first iter | "
          "GFLOPs/iter | data s/batch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        print(flops_breakdown(size, args.ngf), flush=True)
    for size in args.sizes:
        for comp in ([False, True] if args.compile else [False]):
            r = bench_one(size, args.batch, args.iters, args.warmup, comp, args.ngf)
            gf = f"{r['gflops']:.1f}" if r["gflops"] is not None else "–"
            print(f"| {size}² | {r['batch']} | {'yes' if comp else 'no'} | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['cpu_s']:.2f} | "
                  f"{r['first_s']:.1f} | {gf} | {r['data_s']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
