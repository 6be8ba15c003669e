"""The HiFaceGAN trainer (paper §4.1 and the official SPADE-based recipe).

One iteration = one generator step then one discriminator step:

* G: ``λ_gan·LSGAN(D(x, G(x)), real) + λ_fm·FM(D(x,G(x)), D(x,y)) + λ_perc·P(G(x), y) [+ λ_l1·|G(x)−y|]``;
  during ``loss.warmup_steps`` only the reconstruction terms (L1 + perceptual) are used and D rests.
* D: ``LSGAN(D(x, y), real) + LSGAN(D(x, G(x).detach()), fake)`` — D is conditional: it sees
  the degraded input concatenated with the real/restored face (6 channels), as in pix2pixHD/SPADE.
* Adam β=(0, 0.9), TTUR (G 1e-4, D 4e-4), constant then linear decay to 0; an EMA of G.

``task: hifacegan`` of ``hiface train`` (the loop, run folder, checkpoints and logs are
:mod:`hiface.train.loop`'s). The run folder also holds the data lists (quality filter, split);
``metrics.csv`` has the validation PSNR/SSIM. A checkpoint holds G, G_ema, D, both optimisers,
both schedulers and the AMP scalers (plus the shared step, RNG states and config); the data order
and degradations are a pure function of (seed, epoch, index), so ``--resume`` continues
bit-exactly on CPU.
"""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ...data import (
    PairedFaceDataset,
    QualityResult,
    hash_split,
    list_images,
    quality_filter,
    read_list,
    write_list,
)
from ...errors import ConfigError
from ...io import from_tensor, write_image
from ...metrics import psnr, ssim
from ...registry import import_ref as _import
from ...weights import load_into, load_state_dict_file, select_state_dict
from ..config import ModelConfig, TrainConfig
from ..distributed import broadcast_object, sync_batchnorm_stats
from ..ema import make_ema, update_ema
from ..logs import append_csv, append_jsonl
from ..loop import BaseTrainer, unused_parameters

__all__ = ["HiFaceGANTrainer", "Trainer", "prepare_data", "generator_spec", "build_generator",
           "build_discriminator", "lr_lambda", "LOG_COLUMNS"]

LOG_COLUMNS = ["step", "time_s", "lr_g", "lr_d", "loss_g", "g_gan", "g_fm", "g_perc", "g_l1",
               "loss_d", "d_real", "d_fake", "g_id"]


# --------------------------------------------------------------------------- models
def generator_spec(cfg: TrainConfig) -> tuple[str, dict[str, Any]]:
    """("module:factory", kwargs) building the generator of ``cfg`` (stored in exports)."""
    return model_spec(cfg.model)


def model_spec(mc: ModelConfig) -> tuple[str, dict[str, Any]]:
    """("module:factory", kwargs) of the generator variant ``mc``."""
    return "hiface.archs.hifacegan:HiFaceGANGenerator", {
        "ngf": mc.ngf, "suppression": mc.suppression, "replenishment": mc.replenishment,
        "spectral": mc.spectral, "spade_hidden": mc.spade_hidden, "residual": mc.residual,
        "lowfreq_sigma": mc.lowfreq_sigma}


def build_generator(mc: ModelConfig):
    """The HiFaceGAN generator variant of ``mc`` (suppression × replenishment ablation), with
    the official xavier(0.02) initialisation."""
    spec, kw = model_spec(mc)
    return _import(spec)(**kw)


def build_discriminator(mc: ModelConfig):
    """Conditional multi-scale discriminator: input = concat(degraded, face) → 6 channels."""
    from ...archs.discriminator import MultiscaleDiscriminator

    return MultiscaleDiscriminator(in_channels=6, ndf=mc.ndf, num_D=mc.num_d, n_layers=mc.d_layers)


def lr_lambda(total_steps: int, decay_start: float):
    """Multiplier of the base learning rate: 1 until ``decay_start·total``, then linear to 0
    at ``total`` (the official "niter + niter_decay" schedule, counted in steps)."""
    start = int(round(decay_start * total_steps))
    span = max(1, total_steps - start)

    def f(step: int) -> float:
        return 1.0 if step < start else max(0.0, 1.0 - (step - start) / span)

    return f


# --------------------------------------------------------------------------- data
def prepare_data(cfg: TrainConfig, run_dir: str | os.PathLike, *, progress: bool = True
                 ) -> tuple[list[str], list[str], QualityResult | None]:
    """The clean pool of ``cfg.data`` → quality filter → hash split; writes the lists
    (quality_kept/dropped.txt, quality_scores.tsv, split_train/val.txt) to ``run_dir``."""
    dc, rd = cfg.data, Path(run_dir)
    if dc.synthetic > 0:
        pool = [f"synthetic:{i}" for i in range(dc.synthetic)]
    elif dc.root:
        pool = list_images(dc.root)
    else:
        raise ConfigError("set data.root (a folder or file list of clean faces) or data.synthetic")
    q = None
    if dc.quality.enabled and dc.synthetic == 0:
        q = quality_filter(pool, dc.quality.threshold, dc.quality.measure_size, progress=progress,
                             max_niqe=dc.quality.max_niqe)
        q.write(rd)
        print(f"quality filter: kept {len(q.kept)}, dropped {len(q.dropped)} of {len(pool)} "
              f"(laplacian variance < {dc.quality.threshold}"
              f"{f' or NIQE > {dc.quality.max_niqe}' if dc.quality.max_niqe > 0 else ''}); lists in {rd}", file=sys.stderr)
        pool = q.kept
    train, val = hash_split(pool, dc.val_fraction)
    if not train:
        raise ConfigError("the training split is empty (all images filtered out or in val)")
    write_list(rd / "split_train.txt", train)
    write_list(rd / "split_val.txt", val)
    return train, val, q


# --------------------------------------------------------------------------- trainer
class HiFaceGANTrainer(BaseTrainer):
    """``task: hifacegan``: one G step then one D step per iteration (module doc); the
    constructor and :meth:`run` are :class:`hiface.train.loop.BaseTrainer`'s."""

    task = "hifacegan"
    config_class = TrainConfig
    log_columns = LOG_COLUMNS
    postfix_keys = ("loss_g", "loss_d", "g_perc")

    def _check_config(self) -> None:
        cfg = self.cfg
        for key, v in (("data.size", cfg.data.size), ("data.crop", cfg.data.crop)):
            if v % 32:  # the generator works down to 1/32
                raise ConfigError(f"{key} must be a multiple of 32 (HiFaceGAN downsamples 5 times), got {v}")
        if (cfg.data.crop or cfg.data.size) < 64:  # 1/32 must keep >1 pixel for instance norms
            raise ConfigError(f"training images must be at least 64² (data.size / data.crop), "
                              f"got {cfg.data.crop or cfg.data.size}")

    def _setup_data(self, resume: bool) -> None:
        dc, rd = self.cfg.data, self.run_dir
        if resume and (rd / "split_train.txt").is_file():
            train, val = read_list(rd / "split_train.txt"), read_list(rd / "split_val.txt")
        else:
            lists = prepare_data(self.cfg, rd, progress=self.cfg.log.progress)[:2] if self.main else None
            train, val = broadcast_object(lists, self.info)
        self.train_items, self.val_items = train, val[: dc.val_max]
        self.train_set = PairedFaceDataset(train, dc.size, dc.preset, seed=self.cfg.train.seed,
                                           flip=dc.flip, crop=dc.crop,
                                           face_chips=self.cfg.loss.lambda_identity > 0)
        # validation: fixed degradations (epoch 0 of a separate seed), no augmentation, full size
        self.val_set = PairedFaceDataset(self.val_items, dc.size, dc.preset, seed=self.cfg.train.seed + 1,
                                         augment=False) if self.val_items else None

    def _setup_models(self) -> None:
        import torch

        from ...losses import GANLoss, PerceptualLoss

        cfg = self.cfg
        torch.manual_seed(cfg.train.seed)
        self.G = build_generator(cfg.model).to(self.device)
        if cfg.model.init_weights:  # fine-tuning from an exported / shipped generator

            src = cfg.model.init_weights
            load_into(self.G, select_state_dict(load_state_dict_file(src), ("params_ema", "params", "G_ema", "G"),
                                                source=src), source=src)
        self.D = build_discriminator(cfg.model).to(self.device)
        if self.info.enabled and cfg.train.sync_bn and self.device.type == "cuda":
            self.G = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.G)
            self.D = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.D)
        self.G_ema = make_ema(self.G)
        oc = cfg.optim
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=oc.lr_g, betas=oc.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=oc.lr_d, betas=oc.betas)
        f = lr_lambda(cfg.train.steps, oc.decay_start)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, f)
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, f)
        fp16 = self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=fp16)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=fp16)
        lc = cfg.loss
        self.gan_loss = GANLoss(lc.gan_mode).to(self.device)
        self.perceptual = PerceptualLoss(backbone=lc.perceptual_backbone).to(self.device) \
            if lc.lambda_perceptual > 0 else None
        self.identity = None
        if lc.lambda_identity > 0:
            from ...losses.identity import IdentityLoss

            self.identity = IdentityLoss(weights=lc.identity_weights or None).to(self.device)

    def _wrap(self) -> None:
        """DDP (after loading a checkpoint, so every rank starts from the same state) and compile."""
        import torch

        self.G_raw, self.D_raw = self.G, self.D
        if self.info.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            # DDP waits for a gradient of every trainable parameter; freeze those the forward
            # never uses (e.g. the progressive-growing to_rgbs of inactive phases)
            unused = unused_parameters(self.G, self.device)
            for name, p in self.G.named_parameters():
                if name in unused:
                    p.requires_grad_(False)

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G = DDP(self.G, device_ids=ids)
            self.D = DDP(self.D, device_ids=ids)
        if self.cfg.train.compile:
            self.G = torch.compile(self.G)

    def _task_state(self) -> dict:
        return {"G": self.G_raw.state_dict(), "G_ema": self.G_ema.state_dict(),
                "D": self.D_raw.state_dict(), "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "sched_g": self.sched_g.state_dict(), "sched_d": self.sched_d.state_dict(),
                "scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict()}

    def _load_task_state(self, st: dict) -> None:
        load_into(self.G, st["G"], source=f"{self._ckpt_path} [G]")
        load_into(self.G_ema, st["G_ema"], source=f"{self._ckpt_path} [G_ema]")
        load_into(self.D, st["D"], source=f"{self._ckpt_path} [D]")
        self.opt_g.load_state_dict(st["opt_g"])
        self.opt_d.load_state_dict(st["opt_d"])
        self.sched_g.load_state_dict(st["sched_g"])
        self.sched_d.load_state_dict(st["sched_d"])
        if st.get("scaler_g"):
            self.scaler_g.load_state_dict(st["scaler_g"])
            self.scaler_d.load_state_dict(st["scaler_d"])

    def _after_resume(self) -> None:
        # the schedule follows the (possibly changed) train.steps from the resumed step on
        f = lr_lambda(self.cfg.train.steps, self.cfg.optim.decay_start)
        for sched in (self.sched_g, self.sched_d):
            for group, base in zip(sched.optimizer.param_groups, sched.base_lrs):
                group["lr"] = base * f(sched.last_epoch)

    def loader(self):
        return self._loader(self.train_set, self.cfg.train.batch_size, self.cfg.data.num_workers)

    def _train_mode(self) -> None:
        self.G.train()
        self.D.train()

    def format_val(self, res: dict[str, float]) -> str:
        return f"PSNR {res['psnr']:.2f} dB, SSIM {res['ssim']:.4f}"

    # ----------------------------------------------------------------- one iteration
    def _step_batch(self, batch: dict) -> dict[str, float]:
        lq = batch["lq"].to(self.device, non_blocking=True)
        hq = batch["hq"].to(self.device, non_blocking=True)
        chips = (batch["chip_theta"].to(self.device), batch["has_face"].to(self.device)) \
            if "chip_theta" in batch else None
        return self.train_step(lq, hq, chips)

    def _autocast(self):
        import contextlib

        import torch

        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    @staticmethod
    def _requires_grad(model, flag: bool) -> None:
        for p in model.parameters():
            p.requires_grad_(flag)

    def train_step(self, lq, hq, chips: tuple | None = None) -> dict[str, float]:
        """One G step then one D step on a batch of (degraded, clean) faces in [0, 1].
        ``chips``: (chip_theta, has_face) of the batch, for the identity loss."""
        import torch

        lc = self.cfg.loss
        gan_phase = self.step >= lc.warmup_steps
        logs: dict[str, Any] = {"lr_g": self.opt_g.param_groups[0]["lr"], "lr_d": self.opt_d.param_groups[0]["lr"]}
        # ---- generator
        self._requires_grad(self.D_raw, False)
        with self._autocast():
            fake = self.G(lq)
            loss_g = fake.new_zeros(())
            if gan_phase and (lc.lambda_gan > 0 or lc.lambda_fm > 0):
                # D without the DDP wrapper: no gradient for D here, only through `fake` to G
                pred_fake, pred_real = self._discriminate(self.D_raw, lq, fake, hq)
                g_gan = self.gan_loss(pred_fake, True, for_discriminator=False)
                loss_g = loss_g + lc.lambda_gan * g_gan
                logs["g_gan"] = g_gan
                if lc.lambda_fm > 0:
                    from ...losses import feature_matching_loss

                    g_fm = feature_matching_loss(pred_fake, [[f.detach() for f in s] for s in pred_real])
                    loss_g = loss_g + lc.lambda_fm * g_fm
                    logs["g_fm"] = g_fm
            if self.perceptual is not None:
                g_perc = self.perceptual(fake.float(), hq)
                loss_g = loss_g + lc.lambda_perceptual * g_perc
                logs["g_perc"] = g_perc
            w_l1 = lc.lambda_l1 if (gan_phase or lc.lambda_l1 > 0) else lc.warmup_l1
            if w_l1 > 0:
                g_l1 = torch.nn.functional.l1_loss(fake.float(), hq)
                loss_g = loss_g + w_l1 * g_l1
                logs["g_l1"] = g_l1
            if self.identity is not None and chips is not None:
                g_id = self.identity(fake, hq, *chips)
                loss_g = loss_g + lc.lambda_identity * g_id
                logs["g_id"] = g_id
        logs["loss_g"] = loss_g
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(loss_g).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        # ---- discriminator
        if gan_phase:
            self._requires_grad(self.D_raw, True)
            with self._autocast():
                pred_fake, pred_real = self._discriminate(self.D, lq, fake.detach(), hq)
                d_fake = self.gan_loss(pred_fake, False, for_discriminator=True)
                d_real = self.gan_loss(pred_real, True, for_discriminator=True)
                loss_d = d_fake + d_real
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler_d.scale(loss_d).backward()
            self.scaler_d.step(self.opt_d)
            self.scaler_d.update()
            logs.update(loss_d=loss_d, d_real=d_real, d_fake=d_fake)
        self.sched_g.step()
        with warnings.catch_warnings():  # in warm-up D rests but its schedule keeps the global step
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            self.sched_d.step()
        sync_batchnorm_stats(self.G_raw, self.info)
        sync_batchnorm_stats(self.D_raw, self.info)
        self.step += 1
        oc = self.cfg.optim
        update_ema(self.G_ema, self.G_raw, oc.ema_decay if self.step > oc.ema_start else 0.0)
        return {k: float(v.detach()) if hasattr(v, "detach") else float(v) for k, v in logs.items()}

    @staticmethod
    def _discriminate(disc, lq, fake, hq):
        """Conditional D on fake and real in one batch (one forward: DDP-safe), split back."""
        import torch

        x = torch.cat([torch.cat([lq, fake], 1), torch.cat([lq, hq], 1)], 0)
        out = disc(x)
        n = lq.shape[0]
        pred_fake = [[f[:n] for f in scale] for scale in out]
        pred_real = [[f[n:] for f in scale] for scale in out]
        return pred_fake, pred_real

    # ----------------------------------------------------------------- evaluation
    def _val_batch(self, n: int):
        import torch

        items = [self.val_set[i] for i in range(min(n, len(self.val_set)))]
        return (torch.stack([b["lq"] for b in items]).to(self.device),
                torch.stack([b["hq"] for b in items]).to(self.device))

    def write_samples(self) -> Path | None:
        """PNG grid: one row per validation face, columns LQ | G_ema(LQ) | HQ."""
        import torch

        if not self.main or self.val_set is None:
            return None
        lq, hq = self._val_batch(4)
        with torch.no_grad():
            out = self.G_ema(lq).clamp(0, 1)
        rows = torch.cat([torch.cat([a, b, c], 2) for a, b, c in zip(lq, out, hq)], 1)
        path = self.run_dir / "samples" / f"step_{self.step:08d}.png"
        return write_image(path, from_tensor(rows), overwrite=True)

    def val_outputs(self, batch_size: int = 8):
        """(G_ema output quantised to 8 bits as it would be saved, ground truth) per batch of the
        validation split."""
        import torch

        with torch.no_grad():
            for start in range(0, len(self.val_set), batch_size):
                items = [self.val_set[i] for i in range(start, min(start + batch_size, len(self.val_set)))]
                lq = torch.stack([b["lq"] for b in items]).to(self.device)
                hq = torch.stack([b["hq"] for b in items]).to(self.device)
                yield self.G_ema(lq).clamp(0, 1).mul(255).round().div(255), hq

    def validate(self, batch_size: int = 8) -> dict[str, float]:
        """Mean PSNR/SSIM (RGB, :mod:`hiface.metrics`) of G_ema on the validation split, on
        8-bit-quantised outputs as they would be saved (rank 0 only)."""
        if not self.main or self.val_set is None:
            return {}
        scores: dict[str, list[float]] = {"psnr": [], "ssim": []}
        for out, hq in self.val_outputs(batch_size):
            scores["psnr"] += psnr(out, hq).tolist()
            scores["ssim"] += ssim(out, hq).tolist()
        res = {k: float(np.mean(v)) for k, v in scores.items()}
        append_csv(self.run_dir / "metrics.csv", ["step", "psnr", "ssim", "n"],
                    {"step": self.step, **res, "n": len(self.val_set)})
        append_jsonl(self.run_dir / "log.jsonl", {"step": self.step, "val": res})
        return res


#: the name tests, benches and older code use
Trainer = TRAINER = HiFaceGANTrainer
