"""Parameters and compute of every HiFaceGAN generator variant, plus CPU time of the lite one.

Convention: MACs = multiply-accumulates of convolutions and linear layers (forward hooks),
plus the pairwise module's taps and affinity dot products; GFLOPs = 2 x GMACs. Normalisation,
activations, pooling and resizing are not counted. Shapes are traced on PyTorch's meta device
(no memory, no arithmetic), so the 130 M-parameter models are measured instantly; the total is
cross-checked against ``torch.utils.flop_counter.FlopCounterMode``.

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_archs.py            # table (markdown)
    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_archs.py --no-time  # skip the CPU timing
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from torch import nn

from hiface.archs.hifacegan import HiFaceGANGenerator, LIPSPADEGenerator, count_parameters, hifacegan_lite
from hiface.archs.suppression import PairwiseSuppression

VARIANTS = {
    "hifacegan (paper: lip + spade, ngf 64)": lambda: HiFaceGANGenerator(64),
    "ablation: pairwise + spade, ngf 64": lambda: HiFaceGANGenerator(64, suppression="pairwise"),
    "ablation: none (strided conv) + spade, ngf 64": lambda: HiFaceGANGenerator(64, suppression="none"),
    "ablation: lip + plain decoder, ngf 64": lambda: HiFaceGANGenerator(64, replenishment="plain"),
    "hifacegan-released (LIPSPADE, ngf 48)": lambda: LIPSPADEGenerator(48),
    "lite (lip + spade, ngf 16)": lambda: hifacegan_lite(16),
    "lite ngf 24": lambda: hifacegan_lite(24),
    "(option) lite ngf 16, spade_hidden 32": lambda: hifacegan_lite(16, spade_hidden=32),
}


def count_macs(net: nn.Module, size: int) -> int:
    """MACs of one forward pass on a (1, 3, size, size) input (shape-traced on the meta device)."""
    total = 0

    def conv_hook(m, inp, out):
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += out.numel() * m.in_features

    def pairwise_hook(m: PairwiseSuppression, inp, out):
        nonlocal total
        cout, cin, k, _ = m.weight.shape
        pos = out.shape[0] * out.shape[2] * out.shape[3]
        d = m.g[-1].out_channels
        total += pos * k * k * (cout * cin + d + cin)  # taps, affinity dot products, φ·f scaling

    hooks = [m.register_forward_hook(conv_hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    hooks += [m.register_forward_hook(pairwise_hook) for m in net.modules() if isinstance(m, PairwiseSuppression)]
    try:
        with torch.no_grad():
            net(torch.empty(1, 3, size, size, device="meta"))
    finally:
        for h in hooks:
            h.remove()
    return total


def flop_counter_gflops(net: nn.Module, size: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        net(torch.empty(1, 3, size, size, device="meta"))
    return fc.get_total_flops() / 1e9


def cpu_time(net: nn.Module, size: int, repeat: int = 3) -> tuple[float, float]:
    """Median (wall seconds, process CPU seconds) of a batch-1 forward pass after one warm-up.
    CPU seconds sum over threads; on a shared machine they are less affected by other jobs."""
    net = net.eval()
    x = torch.rand(1, 3, size, size)
    with torch.inference_mode():
        net(x)  # warm-up
        walls, cpus = [], []
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            net(x)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-time", action="store_true", help="skip the CPU forward timing of the lite model")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads\n")
    print("| variant | params | GMACs 256² | GFLOPs 256² | GMACs 512² | GFLOPs 512² | FlopCounter GFLOPs 512² |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, build in VARIANTS.items():
        with torch.device("meta"):
            net = build().eval()
        m256, m512 = count_macs(net, 256) / 1e9, count_macs(net, 512) / 1e9
        fc512 = flop_counter_gflops(net, 512)
        print(f"| {name} | {count_parameters(net):,} | {m256:.1f} | {2 * m256:.1f} | {m512:.1f} | {2 * m512:.1f} "
              f"| {fc512:.1f} |")
    if not args.no_time:
        torch.manual_seed(0)
        lite = hifacegan_lite(16)
        (w256, c256), (w512, c512) = cpu_time(lite, 256, args.repeat), cpu_time(lite, 512, args.repeat)
        print(f"\n| lite (ngf 16), batch 1, eval, inference_mode, median of {args.repeat} | 256² | 512² |")
        print("|---|---:|---:|")
        print(f"| wall time (s) | {w256:.2f} | {w512:.2f} |")
        print(f"| process CPU time (s, all threads) | {c256:.2f} | {c512:.2f} |")
        print(f"| load average (1 min) after the run | {os.getloadavg()[0]:.1f} | |")

if __name__ == "__main__":
    main()
