"""GFRNet training (Li et al., ECCV 2018, §3.3-§4.1) on synthetic guided triples: ``task: gfrnet``.

Two phases, as in the paper:

1. **WarpNet pre-training** (``train.warp_steps``): only the landmark loss (the flow at the
   ground-truth landmarks must point to the reference's landmarks) + TV (+ optional symmetry)
   loss, Adam on WarpNet at ``optim.warp_lr``.
2. **End to end** (``train.steps``): reconstruction MSE + perceptual loss on the restored face,
   the flow losses kept on WarpNet, and -- when ``loss.gan_global`` / ``loss.gan_local`` > 0 --
   a global conditional GAN (on concat(degraded, restored)) and a local GAN on the face region
   (landmark bounding box), paper §3.3 (least-squares GAN losses from ``hiface.losses.gan_loss``).

Triples come from :class:`hiface.data.guided.GuidedTriples` keyed by ``(epoch, index)`` through
the shared resumable sampler, so ``--resume`` continues on the triples an uninterrupted run sees.
The loop, run folder, checkpoints (G, G_ema, the discriminators and every optimiser), logs,
``--export`` (the EMA generator; ``optim.ema_decay: 0`` makes it the trained one) and the time
limit are :mod:`hiface.train.loop`'s. Under torchrun the gradients are averaged over ranks after
each backward (what DDP does; done by hand because phase 1 trains WarpNet through
``GFRNet.predict_grid``, which a DDP wrapper would not see).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ...data import list_split, read_list, write_list
from ...data.guided import GuidedTriples, LandmarkCache, load_aligned_faces
from ...errors import ConfigError
from ...io import from_tensor, write_image
from ...metrics import psnr
from ...weights import load_into
from ..config import GFRNetTrainConfig
from ..distributed import average_gradients, barrier, sync_batchnorm_stats
from ..ema import make_ema, update_ema
from ..logs import append_csv, append_jsonl
from ..loop import BaseTrainer

__all__ = ["GFRNetTrainer", "TRAINER", "prepare_data", "generator_spec", "evaluate_psnr", "collate", "LOG_COLUMNS"]

LOG_COLUMNS = ["step", "time_s", "phase", "lr", "loss", "mse", "lm", "tv", "perc", "adv", "d"]
VAL_COLUMNS = ["step", "psnr", "psnr_degraded", "lm_px", "lm_px_identity", "n"]


def generator_spec(cfg: GFRNetTrainConfig) -> tuple[str, dict[str, Any]]:
    """("module:factory", kwargs) building the GFRNet of ``cfg`` (stored in exports)."""
    m = cfg.model
    return "hiface.archs.gfrnet:gfrnet", {"size": cfg.data.size, "ngf": m.ngf, "warp_ngf": m.warp_ngf,
                                          "warp_skips": m.warp_skips, "warp_size": m.warp_size or None}


def prepare_data(cfg: GFRNetTrainConfig, run_dir: str | os.PathLike, *, progress: bool = True):
    """Hash split of ``data.root`` by file name (:func:`hiface.data.list_split`), lists written to
    ``run_dir`` (split_train/val.txt); the landmarks of both are detected and cached. Returns
    (train files, val files, None)."""
    dc, rd = cfg.data, Path(run_dir)
    train = list_split(dc.root, "train", dc.train_limit or None, dc.val_fraction)
    val = list_split(dc.root, "val", dc.val_limit or None, dc.val_fraction)
    if not train or not val:
        raise ConfigError(f"data.root {dc.root}: the train or val split is empty ({len(train)} / {len(val)} faces)")
    rd.mkdir(parents=True, exist_ok=True)
    write_list(rd / "split_train.txt", [str(p) for p in train])
    write_list(rd / "split_val.txt", [str(p) for p in val])
    cache = LandmarkCache(dc.landmark_cache)
    from tqdm.auto import tqdm

    for f in tqdm(train + val, desc="landmarks", disable=not progress, file=sys.stderr):
        cache.get(f)
    cache.save()
    return [str(p) for p in train], [str(p) for p in val], None


def collate(items: list[dict]) -> dict:
    import torch

    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def evaluate_psnr(net, val: dict, bs: int = 8) -> dict[str, float]:
    """Restored / degraded PSNR and the landmark error (px) of the warp, identity warp for scale."""
    import torch

    from ...losses.gfrnet import grid_to_pixel, sample_grid_at

    was_training = net.training
    net.eval()
    out: dict[str, list] = {"psnr": [], "psnr_degraded": [], "lm_px": [], "lm_px_identity": []}
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
    net.train(was_training)
    return {k: float(torch.cat(v).mean()) for k, v in out.items()}


def _face_crop(img, lm, size: int = 64):
    """Local-GAN input: the landmark bounding box (with a 10 % margin) resized to size²."""
    import torch
    import torch.nn.functional as F

    from ...losses.gfrnet import pixel_to_grid

    lo, hi = lm.min(1).values, lm.max(1).values
    c, half = (lo + hi) / 2, (hi - lo).max(1).values[:, None] * 0.55
    t = torch.linspace(-1, 1, size, device=img.device)
    gy, gx = torch.meshgrid(t, t, indexing="ij")
    pts = c[:, None, None, :] + torch.stack((gx, gy), -1)[None] * half[:, None, None, :]
    return F.grid_sample(img, pixel_to_grid(pts, img.shape[-2:]), align_corners=False, padding_mode="border")


class GFRNetTrainer(BaseTrainer):
    """``task: gfrnet`` (module doc); the constructor and :meth:`run` are
    :class:`hiface.train.loop.BaseTrainer`'s."""

    task = "gfrnet"
    config_class = GFRNetTrainConfig
    log_columns = LOG_COLUMNS
    postfix_keys = ("loss", "mse", "lm")

    @property
    def total_steps(self) -> int:
        return self.cfg.train.warp_steps + self.cfg.train.steps

    def _check_config(self) -> None:
        tc = self.cfg.train
        if tc.compile:
            raise ConfigError("train.compile is not supported for task gfrnet")
        if self.amp_dtype is not None:
            raise ConfigError("train.amp is not supported for task gfrnet; use train.amp=none")
        if self.cfg.model.warp_size > self.cfg.data.size:
            raise ConfigError(f"model.warp_size ({self.cfg.model.warp_size}) cannot exceed data.size "
                              f"({self.cfg.data.size})")

    # ----------------------------------------------------------------- set-up
    def _setup_data(self, resume: bool) -> None:
        dc = self.cfg.data
        if self.main:  # rank 0 detects and caches the landmarks; the others then read the cache
            train, val, _ = prepare_data(self.cfg, self.run_dir, progress=self.cfg.log.progress)
        barrier(self.info)
        if not self.main:
            train, val = read_list(self.run_dir / "split_train.txt"), read_list(self.run_dir / "split_val.txt")
        cache = LandmarkCache(dc.landmark_cache)
        progress = self.cfg.log.progress and self.main
        ti, tl, _ = load_aligned_faces(train, dc.size, cache, dc.template, progress)
        vi, vl, _ = load_aligned_faces(val, dc.size, cache, dc.template, progress)
        self.train_set = GuidedTriples(ti, tl, seed=self.cfg.train.seed)
        self.val_set = GuidedTriples(vi, vl, seed=1234)  # fixed validation triples
        self.val = {k: v.to(self.device) for k, v in collate([self.val_set[i] for i in range(len(self.val_set))]).items()}

    def _setup_models(self) -> None:
        import torch

        from ...archs.gfrnet import gfrnet

        cfg, oc = self.cfg, self.cfg.optim
        torch.manual_seed(cfg.train.seed)
        arch, kw = generator_spec(cfg)
        self.G = gfrnet(**kw).to(self.device)
        self.G_ema = make_ema(self.G)
        self.opt_w = torch.optim.Adam(self.G.warpnet.parameters(), lr=oc.warp_lr, betas=oc.betas)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=oc.lr, betas=oc.betas)
        self.discs = None
        self.opt_d = None
        lc = cfg.loss
        if lc.gan_global > 0 or lc.gan_local > 0:
            from ...archs.discriminator import MultiscaleDiscriminator

            # global conditional D on concat(degraded, image), local D on the face crop (§3.3)
            self.discs = torch.nn.ModuleList([
                MultiscaleDiscriminator(in_channels=6, ndf=cfg.model.ndf, num_D=2, n_layers=3),
                MultiscaleDiscriminator(in_channels=3, ndf=cfg.model.ndf, num_D=1, n_layers=3)]).to(self.device)
            self.opt_d = torch.optim.Adam(self.discs.parameters(), lr=oc.lr, betas=oc.betas)
        self.perceptual = None
        if lc.perceptual > 0:
            from ...losses import PerceptualLoss

            self.perceptual = PerceptualLoss(backbone=lc.perceptual_backbone).to(self.device)
            if self.main:
                print(f"perceptual loss: hiface.losses.PerceptualLoss({self.perceptual.backbone_name})",
                      file=sys.stderr)
        self.G_raw = self.G

    def loader(self):
        return self._loader(self.train_set, self.cfg.train.batch_size, self.cfg.data.num_workers)

    def _train_mode(self) -> None:
        self.G.train()
        if self.discs is not None:
            self.discs.train()

    # ----------------------------------------------------------------- checkpoints
    def _task_state(self) -> dict:
        st = {"G": self.G.state_dict(), "G_ema": self.G_ema.state_dict(), "opt_w": self.opt_w.state_dict(),
              "opt_g": self.opt_g.state_dict()}
        if self.discs is not None:
            st.update(D=self.discs.state_dict(), opt_d=self.opt_d.state_dict())
        return st

    def _load_task_state(self, st: dict) -> None:
        load_into(self.G, st["G"], source=f"{self._ckpt_path} [G]")
        load_into(self.G_ema, st["G_ema"], source=f"{self._ckpt_path} [G_ema]")
        self.opt_w.load_state_dict(st["opt_w"])
        self.opt_g.load_state_dict(st["opt_g"])
        if self.discs is not None and "D" in st:
            load_into(self.discs, st["D"], source=f"{self._ckpt_path} [D]")
            self.opt_d.load_state_dict(st["opt_d"])

    # ----------------------------------------------------------------- one iteration
    def _backward_step(self, loss, opt, params) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(params, self.info)
        opt.step()

    def _step_batch(self, batch: dict) -> dict[str, float]:
        return self.train_step({k: v.to(self.device, non_blocking=True) for k, v in batch.items()})

    def train_step(self, b: dict) -> dict[str, float]:
        """One iteration on a batch of triples (phase 1 before ``train.warp_steps``, else phase 2)."""
        import torch

        from ...losses.gfrnet import landmark_loss, symmetry_loss, tv_loss

        W, net = self.cfg.loss, self.G
        d, r, g = b["degraded"], b["reference"], b["gt"]
        warm = self.step < self.cfg.train.warp_steps
        logs: dict[str, Any] = {"phase": 1.0 if warm else 2.0}
        if warm:  # phase 1: WarpNet alone, landmark + TV (+ symmetry)
            grid = net.predict_grid(d, r)
            l_lm, l_tv = landmark_loss(grid, b["gt_landmarks"], b["ref_landmarks"]), tv_loss(grid)
            loss = W.landmark * l_lm + W.tv * l_tv
            if W.symmetry:
                loss = loss + W.symmetry * symmetry_loss(grid)
            self._backward_step(loss, self.opt_w, list(net.warpnet.parameters()))
            logs.update(lr=self.opt_w.param_groups[0]["lr"], loss=loss, lm=l_lm, tv=l_tv)
        else:  # phase 2: end to end
            y, _, grid = net(d, r)
            l_mse = (y - g).pow(2).mean()
            l_lm, l_tv = landmark_loss(grid, b["gt_landmarks"], b["ref_landmarks"]), tv_loss(grid)
            loss = W.mse * l_mse + W.landmark * l_lm + W.tv * l_tv
            if W.symmetry:
                loss = loss + W.symmetry * symmetry_loss(grid)
            if self.perceptual is not None:
                l_p = self.perceptual(y, g)
                loss = loss + W.perceptual * l_p
                logs["perc"] = l_p
            if self.discs is not None:
                from ...losses import gan_loss

                dg, dl = self.discs
                dg.requires_grad_(False)
                dl.requires_grad_(False)
                fake_g, fake_l = torch.cat((d, y), 1), _face_crop(y, b["gt_landmarks"])
                adv = (W.gan_global * gan_loss(dg(fake_g), True, "lsgan", for_discriminator=False)
                       + W.gan_local * gan_loss(dl(fake_l), True, "lsgan", for_discriminator=False))
                loss = loss + adv
                logs["adv"] = adv
            self._backward_step(loss, self.opt_g, list(net.parameters()))
            if self.discs is not None:
                self.discs.requires_grad_(True)
                real_g, real_l = torch.cat((d, g), 1), _face_crop(g, b["gt_landmarks"])
                fg, fl = fake_g.detach(), fake_l.detach()
                ld = sum(gan_loss(m(rx), True) + gan_loss(m(fx), False)
                         for m, rx, fx in ((dg, real_g, fg), (dl, real_l, fl)))
                self._backward_step(ld, self.opt_d, list(self.discs.parameters()))
                logs["d"] = ld
            logs.update(lr=self.opt_g.param_groups[0]["lr"], loss=loss, mse=l_mse, lm=l_lm, tv=l_tv)
        sync_batchnorm_stats(self.G, self.info)
        self.step += 1
        oc = self.cfg.optim
        update_ema(self.G_ema, self.G, oc.ema_decay if self.step > oc.ema_start else 0.0)
        return {k: float(v.detach()) if hasattr(v, "detach") else float(v) for k, v in logs.items()}

    # ----------------------------------------------------------------- evaluation
    def _can_be_best(self) -> bool:  # WarpNet alone restores nothing: best.pt is an end-to-end model
        return self.step > self.cfg.train.warp_steps

    def validate(self) -> dict[str, float]:
        """PSNR of G_ema's restorations (and of the degraded inputs) and the warp's landmark
        error on the fixed validation triples (rank 0 only)."""
        if not self.main:
            return {}
        res = evaluate_psnr(self.G_ema, self.val)
        append_csv(self.run_dir / "metrics.csv", VAL_COLUMNS, {"step": self.step, **res, "n": len(self.val["gt"])})
        append_jsonl(self.run_dir / "log.jsonl", {"step": self.step, "val": res})
        return res

    def format_val(self, res: dict[str, float]) -> str:
        return (f"PSNR {res['psnr']:.2f} dB (degraded {res['psnr_degraded']:.2f}), landmark error "
                f"{res['lm_px']:.2f} px (unwarped {res['lm_px_identity']:.2f})")

    def write_samples(self, n: int = 4) -> Path | None:
        """PNG grid, one column per validation face; rows: degraded | reference | warped reference
        | restored | ground truth (G_ema)."""
        import torch

        if not self.main:
            return None
        v = self.val
        d, r, g = v["degraded"][:n], v["reference"][:n], v["gt"][:n]
        with torch.inference_mode():
            y, w, _ = self.G_ema(d, r)
        rows = torch.cat([torch.cat(list(t.clamp(0, 1)), dim=2) for t in (d, r, w, y, g)], dim=1)
        return write_image(self.run_dir / "samples" / f"step_{self.step:08d}.png", from_tensor(rows), overwrite=True)


TRAINER = GFRNetTrainer
