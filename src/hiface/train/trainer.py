"""The HiFaceGAN trainer (paper §4.1 and the official SPADE-based recipe).

One iteration = one generator step then one discriminator step:

* G: ``λ_gan·LSGAN(D(x, G(x)), real) + λ_fm·FM(D(x,G(x)), D(x,y)) + λ_perc·P(G(x), y) [+ λ_l1·|G(x)−y|]``;
  during ``loss.warmup_steps`` only the reconstruction terms (L1 + perceptual) are used and D rests.
* D: ``LSGAN(D(x, y), real) + LSGAN(D(x, G(x).detach()), fake)`` — D is conditional: it sees
  the degraded input concatenated with the real/restored face (6 channels), as in pix2pixHD/SPADE.
* Adam β=(0, 0.9), TTUR (G 1e-4, D 4e-4), constant then linear decay to 0; an EMA of G.

The run folder holds ``config.yaml``, the data lists (quality filter, split), ``log.csv`` and
``log.jsonl`` (losses), ``metrics.csv`` (validation PSNR/SSIM), ``samples/step_*.png`` and
``checkpoints/step_*.pt``. A checkpoint holds G, G_ema, D, both optimisers, both schedulers,
the AMP scalers, the step and the RNG states (torch, CUDA, numpy, python); the data order and
degradations are a pure function of (seed, epoch, index), so ``--resume`` continues bit-exactly
on CPU.
"""
from __future__ import annotations

import csv
import json
import os
import random
import re
import shutil
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..config import dump_yaml, from_dict, to_dict, to_yaml
from ..errors import ConfigError, HifaceError
from . import data as D
from .config import ModelConfig, TrainConfig
from .distributed import (all_reduce_mean, barrier, broadcast_object, cleanup, init_distributed,
                          sync_batchnorm_stats)
from .ema import make_ema, update_ema

__all__ = ["Trainer", "prepare_data", "build_generator", "build_discriminator", "lr_lambda", "find_checkpoints",
           "latest_checkpoint", "load_checkpoint", "export_generator", "INTERRUPTED"]

INTERRUPTED = 130  # exit code after SIGINT/SIGTERM (checkpoint saved)
CKPT_RE = re.compile(r"step_(\d+)\.pt$")
LOG_COLUMNS = ["step", "time_s", "lr_g", "lr_d", "loss_g", "g_gan", "g_fm", "g_perc", "g_l1",
               "loss_d", "d_real", "d_fake", "g_id"]


# --------------------------------------------------------------------------- models
def generator_spec(mc: ModelConfig) -> tuple[str, dict[str, Any]]:
    """("module:factory", kwargs) building the generator of ``mc`` (stored in exports)."""
    return "hiface.archs.hifacegan:HiFaceGANGenerator", {
        "ngf": mc.ngf, "suppression": mc.suppression, "replenishment": mc.replenishment,
        "spectral": mc.spectral, "spade_hidden": mc.spade_hidden, "residual": mc.residual,
        "lowfreq_sigma": mc.lowfreq_sigma}


def build_generator(mc: ModelConfig):
    """The HiFaceGAN generator variant of ``mc`` (suppression × replenishment ablation), with
    the official xavier(0.02) initialisation."""
    from ..registry import import_ref

    spec, kw = generator_spec(mc)
    return import_ref(spec)(**kw)


def build_discriminator(mc: ModelConfig):
    """Conditional multi-scale discriminator: input = concat(degraded, face) → 6 channels."""
    from ..archs.discriminator import MultiscaleDiscriminator

    return MultiscaleDiscriminator(in_channels=6, ndf=mc.ndf, num_D=mc.num_d, n_layers=mc.d_layers)


def lr_lambda(total_steps: int, decay_start: float):
    """Multiplier of the base learning rate: 1 until ``decay_start·total``, then linear to 0
    at ``total`` (the official "niter + niter_decay" schedule, counted in steps)."""
    start = int(round(decay_start * total_steps))
    span = max(1, total_steps - start)

    def f(step: int) -> float:
        return 1.0 if step < start else max(0.0, 1.0 - (step - start) / span)

    return f


# --------------------------------------------------------------------------- checkpoints
def find_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Checkpoints of a run, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CKPT_RE.search(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    ck = find_checkpoints(run_dir)
    return ck[-1] if ck else None


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a training checkpoint (tensors and plain data only: ``weights_only=True``)."""
    import torch

    try:
        return torch.load(str(path), map_location=map_location, weights_only=True)
    except Exception as e:
        raise HifaceError(f"cannot read checkpoint {path}: {e}") from e


def _rng_state() -> dict:
    import torch

    np_state = np.random.get_state()
    st = {"torch": torch.get_rng_state(),
          "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
          "python": _py_state_to_tensor(random.getstate())}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _py_state_to_tensor(state):
    import torch

    version, internal, gauss = state
    return [version, torch.tensor(internal, dtype=torch.int64), gauss]


def _set_rng_state(st: dict) -> None:
    import torch

    torch.set_rng_state(st["torch"])
    name, key, pos, has_gauss, cached = st["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    version, internal, gauss = st["python"]
    random.setstate((version, tuple(int(v) for v in internal.tolist()), gauss))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def export_generator(source: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False,
                     use_ema: bool = True, half: bool = False) -> Path:
    """Write the (EMA) generator of a run folder's latest checkpoint (or of a checkpoint file)
    to ``.safetensors`` with metadata: arch, arch_kwargs (JSON), step, config (YAML).
    ``half``: store floating tensors as fp16 (half the size; loads into an fp32 model)."""
    from ..weights import save_safetensors

    src = Path(source)
    ckpt = latest_checkpoint(src) if src.is_dir() else src
    if ckpt is None or not Path(ckpt).is_file():
        raise HifaceError(f"no checkpoint found in {src} (expected {src}/checkpoints/step_*.pt)")
    out = Path(out)
    if out.suffix != ".safetensors":
        raise HifaceError(f"export target must end in .safetensors, got {out}")
    if out.exists() and not overwrite:
        raise HifaceError(f"{out} exists; pass --overwrite to replace it")
    st = load_checkpoint(ckpt)
    cfg = from_dict(TrainConfig, st["config"])
    arch, kw = generator_spec(cfg.model)
    meta = {"format": "hiface-train", "arch": arch, "arch_kwargs": json.dumps(kw),
            "weights": "G_ema" if use_ema else "G", "step": str(int(st["step"])),
            "value_range": "0,1", "train_size": str(cfg.data.size), "config": to_yaml(cfg),
            "dtype": "float16" if half else "float32"}
    sd = st["G_ema" if use_ema else "G"]
    if half:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    return save_safetensors(sd, out, metadata=meta)


# --------------------------------------------------------------------------- data
def prepare_data(cfg: TrainConfig, run_dir: str | os.PathLike, *, progress: bool = True
                 ) -> tuple[list[str], list[str], D.QualityResult | None]:
    """The clean pool of ``cfg.data`` → quality filter → hash split; writes the lists
    (quality_kept/dropped.txt, quality_scores.tsv, split_train/val.txt) to ``run_dir``."""
    dc, rd = cfg.data, Path(run_dir)
    if dc.synthetic > 0:
        pool = [f"synthetic:{i}" for i in range(dc.synthetic)]
    elif dc.root:
        pool = D.list_images(dc.root)
    else:
        raise ConfigError("set data.root (a folder or file list of clean faces) or data.synthetic")
    q = None
    if dc.quality.enabled and dc.synthetic == 0:
        q = D.quality_filter(pool, dc.quality.threshold, dc.quality.measure_size, progress=progress,
                             max_niqe=dc.quality.max_niqe)
        q.write(rd)
        print(f"quality filter: kept {len(q.kept)}, dropped {len(q.dropped)} of {len(pool)} "
              f"(laplacian variance < {dc.quality.threshold}"
              f"{f' or NIQE > {dc.quality.max_niqe}' if dc.quality.max_niqe > 0 else ''}); lists in {rd}", file=sys.stderr)
        pool = q.kept
    train, val = D.hash_split(pool, dc.val_fraction)
    if not train:
        raise ConfigError("the training split is empty (all images filtered out or in val)")
    D.write_list(rd / "split_train.txt", train)
    D.write_list(rd / "split_val.txt", val)
    return train, val, q


# --------------------------------------------------------------------------- trainer
class Trainer:
    """Build everything from a :class:`TrainConfig` and run the loop (``run()`` → exit code).

    Args:
        cfg: the configuration (ignored on ``resume``: the run folder's ``config.yaml`` is used,
            with ``overrides`` applied — e.g. a larger ``train.steps``).
        run_dir: the run folder.
        resume: continue from the latest checkpoint in ``run_dir``.
        overwrite: start over in an existing run folder (its checkpoints are deleted).
    """

    def __init__(self, cfg: TrainConfig | None, run_dir: str | os.PathLike, *, resume: bool = False,
                 overwrite: bool = False, overrides: tuple[str, ...] | list[str] = ()):
        import torch

        self.run_dir = Path(run_dir)
        self.info, self.device = init_distributed(cfg.train.device if cfg else "auto")
        self._ckpt: dict | None = None
        if resume:
            from ..config import apply_overrides, load_yaml

            cfg_path = self.run_dir / "config.yaml"
            if not cfg_path.is_file():
                raise HifaceError(f"cannot resume: {cfg_path} not found (is {self.run_dir} a run folder?)")
            cfg = apply_overrides(load_yaml(TrainConfig, cfg_path), overrides)
            ck = latest_checkpoint(self.run_dir)
            if ck is None:
                raise HifaceError(f"cannot resume: no checkpoint in {self.run_dir / 'checkpoints'}")
            self._ckpt = load_checkpoint(ck, map_location="cpu")
            self._ckpt_path = ck
        assert cfg is not None
        self.cfg = cfg
        tc = cfg.train
        if tc.threads > 0 and self.device.type == "cpu":
            torch.set_num_threads(tc.threads)
        self.amp_dtype = None
        if tc.amp != "none":
            if self.device.type != "cuda":
                warnings.warn(f"train.amp={tc.amp} ignored on {self.device.type}: mixed precision is "
                              "CUDA-only (CPU bf16 is emulated and far slower); training in float32",
                              stacklevel=2)
            else:
                self.amp_dtype = torch.bfloat16 if tc.amp == "bf16" else torch.float16
        for key, v in (("data.size", cfg.data.size), ("data.crop", cfg.data.crop)):
            if v % 32:  # the generator works down to 1/32
                raise ConfigError(f"{key} must be a multiple of 32 (HiFaceGAN downsamples 5 times), got {v}")
        if (cfg.data.crop or cfg.data.size) < 64:  # 1/32 must keep >1 pixel for instance norms
            raise ConfigError(f"training images must be at least 64² (data.size / data.crop), "
                              f"got {cfg.data.crop or cfg.data.size}")
        if not resume:
            self._prepare_run_dir(overwrite)
        self._setup_data(resume)
        self._setup_models()
        self.step = 0
        if self._ckpt is not None:
            self._load_state(self._ckpt)
            self._ckpt = None
            if overrides and self.main:  # a later --resume keeps them; the log says from when
                dump_yaml(cfg, self.run_dir / "config.yaml")
                _append_jsonl(self.run_dir / "log.jsonl", {"step": self.step, "resumed_with": list(overrides)})
        self._wrap()
        self._stop = False

    # ----------------------------------------------------------------- set-up
    @property
    def main(self) -> bool:
        return self.info.is_main

    def _prepare_run_dir(self, overwrite: bool) -> None:
        rd = self.run_dir
        if self.main:
            if rd.exists() and any(rd.iterdir()):
                if not (rd / "config.yaml").is_file():
                    raise HifaceError(f"{rd} exists and is not a hiface run folder; choose another --run-dir")
                if not overwrite:
                    raise HifaceError(f"run folder {rd} exists; pass --resume to continue it or "
                                      "--overwrite to start over")
                for sub in ("checkpoints", "samples"):
                    shutil.rmtree(rd / sub, ignore_errors=True)
                for f in rd.iterdir():
                    if f.is_file():
                        f.unlink()
            rd.mkdir(parents=True, exist_ok=True)
            dump_yaml(self.cfg, rd / "config.yaml")
        barrier(self.info)

    def _setup_data(self, resume: bool) -> None:
        dc, rd = self.cfg.data, self.run_dir
        if resume and (rd / "split_train.txt").is_file():
            train, val = D.read_list(rd / "split_train.txt"), D.read_list(rd / "split_val.txt")
        else:
            lists = prepare_data(self.cfg, rd, progress=self.cfg.log.progress)[:2] if self.main else None
            train, val = broadcast_object(lists, self.info)
        self.train_items, self.val_items = train, val[: dc.val_max]
        self.train_set = D.PairedFaceDataset(train, dc.size, dc.preset, seed=self.cfg.train.seed,
                                             flip=dc.flip, crop=dc.crop,
                                             face_chips=self.cfg.loss.lambda_identity > 0)
        # validation: fixed degradations (epoch 0 of a separate seed), no augmentation, full size
        self.val_set = D.PairedFaceDataset(self.val_items, dc.size, dc.preset, seed=self.cfg.train.seed + 1,
                                           augment=False) if self.val_items else None

    def _setup_models(self) -> None:
        import torch

        from ..losses import GANLoss, PerceptualLoss

        cfg = self.cfg
        torch.manual_seed(cfg.train.seed)
        self.G = build_generator(cfg.model).to(self.device)
        if cfg.model.init_weights:  # fine-tuning from an exported / shipped generator
            from ..weights import load_into, load_state_dict_file, select_state_dict

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
            from ..losses.identity import IdentityLoss

            self.identity = IdentityLoss(weights=lc.identity_weights or None).to(self.device)

    def _wrap(self) -> None:
        """DDP (after loading a checkpoint, so every rank starts from the same state) and compile."""
        import torch

        self.G_raw, self.D_raw = self.G, self.D
        if self.info.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            # DDP waits for a gradient of every trainable parameter; freeze those the forward
            # never uses (e.g. the progressive-growing to_rgbs of inactive phases)
            unused = _unused_parameters(self.G, self.device)
            for name, p in self.G.named_parameters():
                if name in unused:
                    p.requires_grad_(False)

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G = DDP(self.G, device_ids=ids)
            self.D = DDP(self.D, device_ids=ids)
        if self.cfg.train.compile:
            self.G = torch.compile(self.G)

    def _state(self) -> dict:
        return {"step": self.step, "G": self.G_raw.state_dict(), "G_ema": self.G_ema.state_dict(),
                "D": self.D_raw.state_dict(), "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "sched_g": self.sched_g.state_dict(), "sched_d": self.sched_d.state_dict(),
                "scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict(),
                "rng": _rng_state(), "config": to_dict(self.cfg), "world_size": self.info.world_size}

    def _load_state(self, st: dict) -> None:
        from ..weights import load_into

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
        _set_rng_state(st["rng"])
        self.step = int(st["step"])
        # the schedule follows the (possibly changed) train.steps from the resumed step on
        f = lr_lambda(self.cfg.train.steps, self.cfg.optim.decay_start)
        for sched in (self.sched_g, self.sched_d):
            for group, base in zip(sched.optimizer.param_groups, sched.base_lrs):
                group["lr"] = base * f(sched.last_epoch)
        if int(st.get("world_size", 1)) != self.info.world_size:
            warnings.warn(f"resuming a run saved with {st.get('world_size')} processes on "
                          f"{self.info.world_size}: the data order differs from an uninterrupted run",
                          stacklevel=2)

    def save_checkpoint(self) -> Path | None:
        """Rank 0 writes checkpoints/step_N.pt atomically and prunes to ``log.keep_last``."""
        import torch

        if not self.main:
            return None
        from ..io import atomic_path

        path = self.run_dir / "checkpoints" / f"step_{self.step:08d}.pt"
        with atomic_path(path, suffix=".part") as tmp:  # a crash never leaves a truncated checkpoint
            torch.save(self._state(), tmp)
        keep = max(1, self.cfg.log.keep_last)
        for old in find_checkpoints(self.run_dir)[:-keep]:
            old.unlink(missing_ok=True)
        return path

    # ----------------------------------------------------------------- one iteration
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
                    from ..losses import feature_matching_loss

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

        from ..io import from_tensor, write_image

        if not self.main or self.val_set is None:
            return None
        lq, hq = self._val_batch(4)
        with torch.no_grad():
            out = self.G_ema(lq).clamp(0, 1)
        rows = torch.cat([torch.cat([a, b, c], 2) for a, b, c in zip(lq, out, hq)], 1)
        path = self.run_dir / "samples" / f"step_{self.step:08d}.png"
        return write_image(path, from_tensor(rows), overwrite=True)

    def validate(self, batch_size: int = 8) -> dict[str, float]:
        """Mean PSNR/SSIM (RGB, :mod:`hiface.metrics`) of G_ema on the validation split, on
        8-bit-quantised outputs as they would be saved (rank 0 only)."""
        import torch

        from ..metrics import psnr, ssim

        if not self.main or self.val_set is None:
            return {}
        scores: dict[str, list[float]] = {"psnr": [], "ssim": []}
        with torch.no_grad():
            for start in range(0, len(self.val_set), batch_size):
                items = [self.val_set[i] for i in range(start, min(start + batch_size, len(self.val_set)))]
                lq = torch.stack([b["lq"] for b in items]).to(self.device)
                hq = torch.stack([b["hq"] for b in items]).to(self.device)
                out = self.G_ema(lq).clamp(0, 1).mul(255).round().div(255)
                scores["psnr"] += psnr(out, hq).tolist()
                scores["ssim"] += ssim(out, hq).tolist()
        res = {k: float(np.mean(v)) for k, v in scores.items()}
        _append_csv(self.run_dir / "metrics.csv", ["step", "psnr", "ssim", "n"],
                    {"step": self.step, **res, "n": len(self.val_set)})
        _append_jsonl(self.run_dir / "log.jsonl", {"step": self.step, "val": res})
        return res

    # ----------------------------------------------------------------- loop
    def _loader(self):
        import torch
        from torch.utils.data import DataLoader

        bs = self.cfg.train.batch_size
        sampler = D.ResumableSampler(len(self.train_set), seed=self.cfg.train.seed, rank=self.info.rank,
                                     world_size=self.info.world_size, start=self.step * bs)
        nw = self.cfg.data.num_workers
        return DataLoader(self.train_set, batch_size=bs, sampler=sampler, num_workers=nw,
                          pin_memory=self.device.type == "cuda", drop_last=False,
                          persistent_workers=False, prefetch_factor=2 if nw else None,
                          generator=torch.Generator().manual_seed(0))

    def _handle_signal(self, signum, frame) -> None:
        if self._stop:  # second Ctrl-C: give up immediately
            raise KeyboardInterrupt
        self._stop = True
        if self.main:
            print(f"\n{signal.Signals(signum).name}: finishing step {self.step + 1}, then saving a "
                  "checkpoint (press Ctrl-C again to abort without saving)", file=sys.stderr)

    def _should_stop(self) -> bool:
        if not self.info.enabled:
            return self._stop
        import torch
        import torch.distributed as dist

        t = torch.tensor([1.0 if self._stop else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def _trim_logs(self) -> None:
        """On resume, drop log rows written after the checkpoint (they will be redone)."""
        for name in ("log.csv", "metrics.csv"):
            p = self.run_dir / name
            if p.is_file():
                lines = p.read_text().splitlines(keepends=True)
                keep = lines[:1] + [ln for ln in lines[1:] if int(ln.split(",", 1)[0]) <= self.step]
                p.write_text("".join(keep))
        p = self.run_dir / "log.jsonl"
        if p.is_file():
            keep = [ln for ln in p.read_text().splitlines(keepends=True) if json.loads(ln)["step"] <= self.step]
            p.write_text("".join(keep))

    def run(self, stop_at: int | None = None) -> int:
        """Train until ``train.steps``; returns 0, or 130 after SIGINT/SIGTERM (checkpoint saved).

        ``stop_at``: behave as if interrupted once that step is done (tests, time-boxed jobs)."""
        from tqdm.auto import tqdm

        cfg, lc = self.cfg, self.cfg.log
        total = cfg.train.steps
        if self.main and self.step:
            self._trim_logs()
        old = {}
        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                old[s] = signal.signal(s, self._handle_signal)
            except ValueError:  # not the main thread
                pass
        bar = tqdm(total=total, initial=self.step, desc="train", unit="it", dynamic_ncols=True,
                   disable=not (self.main and lc.progress), file=sys.stderr)
        t0 = time.perf_counter()
        interrupted = False
        try:
            self.G.train()
            self.D.train()
            batches = iter(self._loader())
            while self.step < total:
                batch = next(batches)
                lq = batch["lq"].to(self.device, non_blocking=True)
                hq = batch["hq"].to(self.device, non_blocking=True)
                chips = (batch["chip_theta"].to(self.device), batch["has_face"].to(self.device)) \
                    if "chip_theta" in batch else None
                logs = self.train_step(lq, hq, chips)
                bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items() if k in ("loss_g", "loss_d", "g_perc")},
                                refresh=False)
                bar.update(1)
                if (lc.log_every and self.step % lc.log_every == 0) or self.step == total:
                    logs = all_reduce_mean(logs, self.info, self.device)
                    if self.main:
                        now = time.perf_counter()
                        row = {"step": self.step, "time_s": round(now - t0, 3), **logs}
                        _append_csv(self.run_dir / "log.csv", LOG_COLUMNS, row)
                        _append_jsonl(self.run_dir / "log.jsonl", row)
                if lc.sample_every and (self.step % lc.sample_every == 0 or self.step == total):
                    self.write_samples()
                if lc.val_every and (self.step % lc.val_every == 0 or self.step == total):
                    res = self.validate()
                    if res:
                        bar.write(f"step {self.step}: val PSNR {res['psnr']:.2f} dB, SSIM {res['ssim']:.4f}")
                if stop_at is not None and self.step >= stop_at:
                    self._stop = True
                stop = self._should_stop()
                if (lc.ckpt_every and self.step % lc.ckpt_every == 0) or self.step == total or stop:
                    path = self.save_checkpoint()
                    barrier(self.info)
                if stop and self.step < total:
                    interrupted = True
                    break
        finally:
            bar.close()
            for s, h in old.items():
                signal.signal(s, h)
        if interrupted:
            if self.main:
                print(f"Interrupted at step {self.step}/{total}; checkpoint saved to {path}. "
                      f"Continue with: hiface train --resume {self.run_dir}", file=sys.stderr)
            return INTERRUPTED
        if self.main:
            print(f"Done: {self.step} steps; checkpoints in {self.run_dir / 'checkpoints'}. Export with: "
                  f"hiface train --export {self.run_dir} generator.safetensors", file=sys.stderr)
        return 0

    def close(self) -> None:
        cleanup()


def _unused_parameters(model, device, size: int = 64) -> set[str]:
    """Names of trainable parameters that get no gradient from a forward pass (probed on a
    size² zero image; the model's state, e.g. spectral-norm vectors, is restored after)."""
    import copy

    import torch

    state = copy.deepcopy(model.state_dict())
    model(torch.zeros(1, 3, size, size, device=device)).float().mean().backward()
    unused = {n for n, p in model.named_parameters() if p.requires_grad and p.grad is None}
    model.zero_grad(set_to_none=True)
    model.load_state_dict(state)
    return unused


# --------------------------------------------------------------------------- logs
def _append_csv(path: Path, columns: list[str], row: dict) -> None:
    new = not path.is_file()
    if not new:  # keep an existing file's columns (a run resumed across a column change)
        with open(path, newline="") as f:
            columns = next(csv.reader(f), None) or columns
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def _append_jsonl(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
