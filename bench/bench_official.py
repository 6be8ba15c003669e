#!/usr/bin/env python
"""hiface vs the official GFP-GAN / CodeFormer code: same random weights, same input, outputs and time.

The official architecture files are NOT part of hiface (never vendored): this script takes them
from the released packages, installed ``--no-deps`` into a throw-away folder, and loads only the
arch modules (their ``basicsr`` registry/logger/init imports are stubbed, so neither basicsr's
torchvision import nor any compiled op is needed)::

    pip download --no-deps gfpgan==1.3.8 codeformer-pip==0.0.4 -d /tmp/official
    (cd /tmp/official && unzip -q gfpgan-1.3.8-py3-none-any.whl -d gfpgan && tar xzf codeformer-pip-0.0.4.tar.gz)
    python bench/bench_official.py --official /tmp/official

For each model: the official network with its own random init, its ``state_dict`` saved and
loaded into hiface's restorer (``create_restorer(name, weights=FILE)``: the same loader users' official
checkpoints go through), one 512² face; outputs compared in [0, 1] (official output mapped
from [-1, 1], clamped) and timed interleaved (official under ``torch.no_grad`` as its inference
scripts run it; hiface through its ``Restorer``, normalisation and clamp included), ``--repeats``
rounds, median. ``--backends torch,onnxruntime`` also times hiface's ONNX Runtime backend.

HiFaceGAN's official code (Lotayou/Face-Renovation) is not on PyPI, so it is not compared here.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path


def _stub(name: str, **attrs) -> types.ModuleType:
    m = sys.modules.get(name) or types.ModuleType(name)
    m.__path__ = []  # a package, so submodules can be registered under it
    for k, v in attrs.items():
        setattr(m, k, v)
    sys.modules[name] = m
    return m


class _Registry:
    def register(self, *a, **k):
        return (lambda obj: obj) if not a or not callable(a[0]) else a[0]


def _init_weights(module_list, scale: float = 1, bias_fill: float = 0, **kwargs) -> None:
    """basicsr's ``default_init_weights`` (Kaiming normal x scale, bias filled), re-stated so that
    basicsr itself (which imports torchvision) is not needed."""
    from torch import nn

    for module in module_list if isinstance(module_list, list) else [module_list]:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, **kwargs)
                m.weight.data *= scale
                if m.bias is not None:
                    m.bias.data.fill_(bias_fill)


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def official_gfpgan(root: Path):
    import logging

    for n in ("basicsr", "basicsr.utils", "basicsr.archs"):
        _stub(n)
    _stub("basicsr.utils.registry", ARCH_REGISTRY=_Registry())
    _stub("basicsr.archs.arch_util", default_init_weights=_init_weights)
    _stub("basicsr.utils", get_root_logger=logging.getLogger)
    arch = next(root.rglob("gfpgan/archs/gfpganv1_clean_arch.py")).parent
    for n in ("gfpgan", "gfpgan.archs"):
        _stub(n)
    _load("gfpgan.archs.stylegan2_clean_arch", arch / "stylegan2_clean_arch.py")
    mod = _load("gfpgan.archs.gfpganv1_clean_arch", arch / "gfpganv1_clean_arch.py")
    # the v1.4 release configuration (gfpgan/utils.py GFPGANer)
    net = mod.GFPGANv1Clean(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                            fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1,
                            sft_half=True)
    return net, lambda x: net(x, return_rgb=False, randomize_noise=False)[0]


def official_codeformer(root: Path):
    import logging

    pkg = next(root.rglob("codeformer/basicsr/archs/codeformer_arch.py")).parent
    for n in ("codeformer", "codeformer.basicsr", "codeformer.basicsr.archs"):
        _stub(n)
    _stub("codeformer.basicsr.utils", get_root_logger=logging.getLogger)
    _stub("codeformer.basicsr.utils.registry", ARCH_REGISTRY=_Registry())
    _load("codeformer.basicsr.archs.vqgan_arch", pkg / "vqgan_arch.py")
    mod = _load("codeformer.basicsr.archs.codeformer_arch", pkg / "codeformer_arch.py")
    net = mod.CodeFormer(dim_embd=512, codebook_size=1024, n_head=8, n_layers=9,
                         connect_list=["32", "64", "128", "256"])
    return net, lambda x: net(x, w=0.5, adain=True)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official", type=Path, required=True, help="folder with the unpacked official packages")
    ap.add_argument("--models", default="gfpgan-1.4,codeformer")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--backends", default="torch,onnxruntime")
    a = ap.parse_args()

    import hiface  # noqa: I001 -- first: OMP_WAIT_POLICY=PASSIVE before torch loads libgomp
    import torch

    threads = [int(t) for t in a.threads.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="hiface-official-"))
    x01 = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(0))
    print(f"load average {os.getloadavg()[0]:.2f}, torch {torch.__version__}, threads {threads}, "
          f"{a.repeats} interleaved repeats, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    print("| model | threads | official s | hiface torch s | ratio | hiface onnxruntime s | ratio | max abs diff torch / ort |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name in a.models.split(","):
        torch.manual_seed(0)
        net, fwd = (official_gfpgan if name.startswith("gfpgan") else official_codeformer)(a.official)
        net.eval()
        path = tmp / f"{name}.pth"
        torch.save({"params_ema": net.state_dict()}, path)
        r = hiface.create_restorer(name, weights=path)
        fid = 0.5 if name == "codeformer" else 1.0
        with torch.no_grad():
            ref = ((fwd(x01 * 2 - 1) + 1) / 2).clamp(0, 1)
        got = r(x01, fidelity=fid)
        diffs = [f"{(got - ref).abs().max().item():.1e}"]
        runs = {"official": lambda: torch.no_grad()(fwd)(x01 * 2 - 1), "torch": lambda: r(x01, fidelity=fid)}
        if "onnxruntime" in a.backends:
            from hiface.onnxrt import OnnxRestorer, onnx_restorer

            p = onnx_restorer(r, weights_file=path, fidelity=fid, cache=tmp, atol=1e-3).path  # measured below
            ort = {n: OnnxRestorer(p, r.config, threads=n) for n in threads}
            diffs.append(f"{(ort[threads[0]](x01, fidelity=fid) - ref).abs().max().item():.1e}")
        for n in threads:
            torch.set_num_threads(n)
            if "onnxruntime" in a.backends:
                runs["onnxruntime"] = lambda n=n: ort[n](x01, fidelity=fid)
            for f in runs.values():
                f()  # warm-up
            t = {k: [] for k in runs}
            for _ in range(a.repeats):
                for k, f in runs.items():
                    t0 = time.perf_counter()
                    f()
                    t[k].append(time.perf_counter() - t0)
            m = {k: statistics.median(v) for k, v in t.items()}
            o = m.get("onnxruntime")
            print(f"| {name} | {n} | {m['official']:.2f} | {m['torch']:.2f} | {m['torch'] / m['official']:.2f} | "
                  + (f"{o:.2f} | {o / m['official']:.2f}" if o else "– | –") + f" | {' / '.join(diffs)} |",
                  flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
