"""Compact GFRNet training (Li et al., ECCV 2018, §3.3-§4.1) on synthetic guided triples.

Two phases, as in the paper:

1. **WarpNet pre-training** (``warp_steps``): only the landmark loss (flow at the ground-truth
   landmarks must point to the reference's landmarks) + TV (+ optional symmetry) loss.
2. **End to end** (``steps``): reconstruction MSE + perceptual loss on the restored face, the
   flow losses kept on WarpNet, and -- when ``hiface.archs.discriminator`` is available and
   the weights are non-zero -- a global conditional GAN (on concat(degraded, restored)) and
   a local GAN on the face region (landmark bounding box), paper §3.3 (least-squares GAN
   losses from ``hiface.losses.gan_loss``).

Usage::

    python -m hiface.train.gfrnet --config configs/gfrnet-cpu.yaml
    python -m hiface.train.gfrnet --config configs/gfrnet-cpu.yaml --set steps=50 --set out_dir=runs/try

Writes ``out_dir/last.pt`` (resumable: model, optimisers, step), ``out_dir/best.safetensors``
(fp16 generator weights of the best validation PSNR), ``out_dir/log.jsonl`` and a
``out_dir/preview.png`` strip (degraded | reference | warped | restored | ground truth).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..io import atomic_path

__all__ = ["GFRNetTrainConfig", "train", "build_data", "evaluate_psnr", "main"]


@dataclass
class LossWeights:
    mse: float = 1.0
    perceptual: float = 0.01
    landmark: float = 100.0   # normalised coords: 10 px at 256² costs ~0.6
    tv: float = 1000.0        # on the displacement Φ - Φ_id in normalised units
    symmetry: float = 0.0
    gan_global: float = 0.0
    gan_local: float = 0.0


@dataclass
class GFRNetTrainConfig:
    data_root: str = "../shared/data/faces/utk200"
    train_limit: int = 400
    val_limit: int = 24
    val_fraction: float = 0.1
    template: str = "dlib-chip"
    size: int = 256
    ngf: int = 16
    warp_ngf: int = 16
    warp_skips: bool = True
    warp_size: int = 0        # 0: = size (paper); e.g. 128: WarpNet on a half-size pair (4x cheaper)
    ndf_disc: int = 32
    perceptual_backbone: str = "auto"   # hiface.losses.PerceptualLoss: vgg19 if found, else mobilenetv2
    batch_size: int = 4
    lr: float = 2e-4
    warp_lr: float = 5e-4     # phase 1 (WarpNet alone)
    warp_steps: int = 300
    steps: int = 3000
    loss: LossWeights = field(default_factory=LossWeights)
    val_every: int = 100
    ckpt_every: int = 50
    out_dir: str = "runs/gfrnet"
    landmark_cache: str = "runs/gfrnet-landmarks-utk200.json"
    seed: int = 0
    threads: int = 1
    time_limit_min: float = 0.0   # 0: no limit; else stop (and keep the best) after this long


def build_data(cfg: GFRNetTrainConfig, progress: bool = True):
    """(train dataset, fixed validation batch) of synthetic triples."""
    import torch

    from ..data.guided import GuidedTriples, LandmarkCache, list_split, load_aligned_faces

    cache = LandmarkCache(cfg.landmark_cache)
    tr = list_split(cfg.data_root, "train", cfg.train_limit, cfg.val_fraction)
    va = list_split(cfg.data_root, "val", cfg.val_limit, cfg.val_fraction)
    ti, tl, _ = load_aligned_faces(tr, cfg.size, cache, cfg.template, progress)
    vi, vl, _ = load_aligned_faces(va, cfg.size, cache, cfg.template, progress)
    train_ds = GuidedTriples(ti, tl, seed=None)
    val_ds = GuidedTriples(vi, vl, seed=1234)
    val = collate([val_ds[i] for i in range(len(val_ds))])
    torch.manual_seed(cfg.seed)
    return train_ds, val


def collate(items: list[dict]) -> dict:
    import torch

    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def evaluate_psnr(net, val: dict, bs: int = 8) -> dict:
    """Validation: restored / degraded PSNR and the landmark error (px) of the warp."""
    import torch

    from ..losses.gfrnet import grid_to_pixel, sample_grid_at
    from ..metrics import psnr

    net.eval()
    out = {"psnr": [], "psnr_degraded": [], "lm_px": [], "lm_px_identity": []}
    with torch.inference_mode():
        for i in range(0, len(val["gt"]), bs):
            d, r, g = val["degraded"][i:i + bs], val["reference"][i:i + bs], val["gt"][i:i + bs]
            y, _, grid = net(d, r)
            out["psnr"].append(psnr(y, g))
            out["psnr_degraded"].append(psnr(d, g))
            pts = grid_to_pixel(sample_grid_at(grid, val["gt_landmarks"][i:i + bs]), grid.shape[1])
            out["lm_px"].append((pts - val["ref_landmarks"][i:i + bs]).norm(dim=-1).mean(1))
            out["lm_px_identity"].append((val["gt_landmarks"][i:i + bs] - val["ref_landmarks"][i:i + bs])
                                         .norm(dim=-1).mean(1))
    net.train()
    return {k: float(torch.cat(v).mean()) for k, v in out.items()}


class _Perceptual:
    """``hiface.losses.PerceptualLoss`` (VGG19 when its weights are found, else the offline
    ImageNet MobileNetV2), used as a plain ``loss(fake, real)`` callable."""

    def __init__(self, backbone: str = "auto"):
        from ..losses import PerceptualLoss

        self.fn = PerceptualLoss(backbone=backbone)
        self.kind = f"hiface.losses.PerceptualLoss({self.fn.backbone_name})"

    def __call__(self, x, y):
        return self.fn(x, y)


def _face_crop(img, lm, size: int = 64):
    """Local-GAN input: the landmark bounding box (with a 10 % margin) resized to size²."""
    import torch
    import torch.nn.functional as F

    from ..losses.gfrnet import pixel_to_grid

    lo, hi = lm.min(1).values, lm.max(1).values
    c, half = (lo + hi) / 2, (hi - lo).max(1).values[:, None] * 0.55
    t = torch.linspace(-1, 1, size, device=img.device)
    gy, gx = torch.meshgrid(t, t, indexing="ij")
    pts = c[:, None, None, :] + torch.stack((gx, gy), -1)[None] * half[:, None, None, :]
    return F.grid_sample(img, pixel_to_grid(pts, img.shape[-2:]), align_corners=False, padding_mode="border")


def _make_discriminators(cfg: GFRNetTrainConfig):
    """Global conditional discriminator on concat(degraded, image) and a local one on the face
    crop (paper §3.3): ``hiface.archs.discriminator`` PatchGANs, narrow for CPU budgets."""
    if cfg.loss.gan_global <= 0 and cfg.loss.gan_local <= 0:
        return None
    from ..archs.discriminator import MultiscaleDiscriminator

    return (MultiscaleDiscriminator(in_channels=6, ndf=cfg.ndf_disc, num_D=2, n_layers=3),
            MultiscaleDiscriminator(in_channels=3, ndf=cfg.ndf_disc, num_D=1, n_layers=3))


def save_generator(net, path: str | os.PathLike, meta: dict) -> Path:
    from .. import weights as W

    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in net.state_dict().items()}
    return W.save_safetensors(sd, path, metadata={k: str(v) for k, v in meta.items()})


def _preview(net, val: dict, path: Path, n: int = 4) -> None:
    import numpy as np
    import torch
    from PIL import Image

    net.eval()
    with torch.inference_mode():
        d, r, g = val["degraded"][:n], val["reference"][:n], val["gt"][:n]
        y, w, _ = net(d, r)
    net.train()
    rows = torch.cat([torch.cat(list(t), dim=2) for t in (d, r, w, y, g)], dim=1)   # 5 rows x n cols
    arr = (rows.permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(arr).save(tmp)


def train(cfg: GFRNetTrainConfig, progress: bool = True) -> dict:
    """Run (or resume) a training; returns the best validation metrics."""
    import torch

    from ..archs.gfrnet import gfrnet
    from ..losses.gfrnet import landmark_loss, symmetry_loss, tv_loss

    torch.set_num_threads(max(1, cfg.threads))
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    train_ds, val = build_data(cfg, progress)
    net = gfrnet(size=cfg.size, ngf=cfg.ngf, warp_ngf=cfg.warp_ngf, warp_skips=cfg.warp_skips,
                 warp_size=cfg.warp_size or None)
    opt_w = torch.optim.Adam(net.warpnet.parameters(), lr=cfg.warp_lr, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    discs = _make_discriminators(cfg)
    opt_d = torch.optim.Adam([p for d in discs for p in d.parameters()], lr=cfg.lr, betas=(0.5, 0.999)) if discs else None
    step, best = 0, {"psnr": -math.inf}
    ck = out / "last.pt"
    if ck.is_file():
        s = torch.load(ck, map_location="cpu", weights_only=True)
        net.load_state_dict(s["net"])
        opt_w.load_state_dict(s["opt_w"])
        opt_g.load_state_dict(s["opt_g"])
        if discs and "discs" in s:
            for d, sd in zip(discs, s["discs"]):
                d.load_state_dict(sd)
            opt_d.load_state_dict(s["opt_d"])
        step, best = int(s["step"]), json.loads(s["best"])
        print(f"resumed from {ck} at step {step}")
    perc = _Perceptual(cfg.perceptual_backbone) if cfg.loss.perceptual > 0 else None
    if discs:
        from ..losses import gan_loss
    if perc:
        print(f"perceptual loss: {perc.kind}")
    log = open(out / "log.jsonl", "a")
    total = cfg.warp_steps + cfg.steps
    gen = torch.Generator().manual_seed(cfg.seed + step)
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=step, desc="gfrnet", disable=not progress)
    net.train()
    W = cfg.loss
    while step < total:
        if cfg.time_limit_min and time.time() - t0 > cfg.time_limit_min * 60:
            print(f"time limit reached at step {step}")
            break
        idx = torch.randint(0, len(train_ds.images), (cfg.batch_size,), generator=gen).tolist()
        b = collate([train_ds[i] for i in idx])
        d, r, g = b["degraded"], b["reference"], b["gt"]
        warm = step < cfg.warp_steps
        logs: dict[str, float] = {}
        if warm:  # phase 1: WarpNet alone, landmark + TV (+ symmetry)
            grid = net.predict_grid(d, r)
            l_lm, l_tv = landmark_loss(grid, b["gt_landmarks"], b["ref_landmarks"]), tv_loss(grid)
            loss = W.landmark * l_lm + W.tv * l_tv
            if W.symmetry:
                loss = loss + W.symmetry * symmetry_loss(grid)
            opt_w.zero_grad(set_to_none=True)
            loss.backward()
            opt_w.step()
            logs.update(lm=l_lm.item(), tv=l_tv.item())
        else:  # phase 2: end to end
            y, warped, grid = net(d, r)
            l_mse = (y - g).pow(2).mean()
            l_lm, l_tv = landmark_loss(grid, b["gt_landmarks"], b["ref_landmarks"]), tv_loss(grid)
            loss = W.mse * l_mse + W.landmark * l_lm + W.tv * l_tv
            if W.symmetry:
                loss = loss + W.symmetry * symmetry_loss(grid)
            if perc:
                l_p = perc(y, g)
                loss = loss + W.perceptual * l_p
                logs["perc"] = l_p.item()
            if discs:
                dg, dl = discs
                fake_g, fake_l = torch.cat((d, y), 1), _face_crop(y, b["gt_landmarks"])
                adv = (W.gan_global * gan_loss(dg(fake_g), True, "lsgan", for_discriminator=False)
                       + W.gan_local * gan_loss(dl(fake_l), True, "lsgan", for_discriminator=False))
                loss = loss + adv
                logs["adv"] = adv.item()
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            if discs:
                real_g, real_l = torch.cat((d, g), 1), _face_crop(g, b["gt_landmarks"])
                fg, fl = fake_g.detach(), fake_l.detach()
                ld = sum(gan_loss(m(rx), True) + gan_loss(m(fx), False)
                         for m, rx, fx in ((dg, real_g, fg), (dl, real_l, fl)))
                opt_d.zero_grad(set_to_none=True)
                ld.backward()
                opt_d.step()
                logs["d"] = ld.item()
            logs.update(mse=l_mse.item(), lm=l_lm.item(), tv=l_tv.item())
        step += 1
        bar.update(1)
        bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()})
        rec = {"step": step, "phase": "warp" if warm else "e2e", "t": round(time.time() - t0, 1), **logs}
        if step % cfg.val_every == 0 or step == total:
            m = evaluate_psnr(net, val)
            rec["val"] = m
            if not warm and m["psnr"] > best["psnr"]:
                best = {**m, "step": step}
                save_generator(net, out / "best.safetensors",
                               {"step": step, "val_psnr": f"{m['psnr']:.3f}", "size": cfg.size, "ngf": cfg.ngf,
                                "warp_ngf": cfg.warp_ngf, "warp_size": net.warp_size})
            _preview(net, val, out / "preview.png")
            print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if step % cfg.ckpt_every == 0 or step == total:
            state = {"net": net.state_dict(), "opt_w": opt_w.state_dict(), "opt_g": opt_g.state_dict(),
                     "step": step, "best": json.dumps(best)}
            if discs:
                state["discs"] = [dd.state_dict() for dd in discs]
                state["opt_d"] = opt_d.state_dict()
            with atomic_path(ck, suffix=".part") as tmp:
                torch.save(state, tmp)
    bar.close()
    log.close()
    save_generator(net, out / "last.safetensors", {"step": step})
    return best


def main(argv: list[str] | None = None) -> None:
    import argparse

    from ..config import from_dict, apply_overrides, load_yaml

    ap = argparse.ArgumentParser(
        prog="python -m hiface.train.gfrnet",
        description="Train GFRNet (WarpNet pre-training, then end to end) on synthetic guided triples.",
        epilog="example: python -m hiface.train.gfrnet --config configs/gfrnet-cpu.yaml --set steps=100")
    ap.add_argument("--config", help="YAML file (keys of GFRNetTrainConfig)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    a = ap.parse_args(argv)
    cfg = load_yaml(GFRNetTrainConfig, a.config, a.set) if a.config else apply_overrides(
        from_dict(GFRNetTrainConfig, {}), a.set)
    print(json.dumps(train(cfg)))


if __name__ == "__main__":
    main()
