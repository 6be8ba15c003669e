"""Replenishment path of HiFaceGAN (§3.3): SPADE (Park et al., CVPR 2019) residual blocks that
re-inject details, modulated by the suppression features (or the input image itself in the
released LIP-SPADE checkpoints).

Parameter-free normalisation and inference
-----------------------------------------
Each :class:`SPADE` holds a ``BatchNorm2d(affine=False)`` named ``param_free_norm`` so official
checkpoints (with running statistics) load strictly. The official test script runs the
generator in **train mode** (batch statistics; "eval mode gives almost no enhancement") with
batch size 1, which is per-image statistics. In ``eval()`` mode the statistics used are chosen
by ``inference_norm``:

- ``"instance"`` (default): per-image statistics (= official train-mode output at batch size 1,
  independent of how images are batched);
- ``"batch"``: statistics over the whole batch, as train-mode BatchNorm (buffers not updated);
- ``"running"``: the stored running averages (plain PyTorch eval mode; degrades the released
  weights, as the authors observed).

In ``train()`` mode the layer is an ordinary BatchNorm (batch statistics, running averages
updated), as in official training.
"""
from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

__all__ = ["SPADE", "SPADEResBlock", "PlainResBlock", "INFERENCE_NORMS", "REPLENISHMENT_TYPES",
           "set_inference_norm", "make_block"]

INFERENCE_NORMS = ("instance", "batch", "running")
REPLENISHMENT_TYPES = ("spade", "plain")
InferenceNorm = Literal["instance", "batch", "running"]


def _check_mode(mode: str) -> str:
    if mode not in INFERENCE_NORMS:
        raise ValueError(f"inference_norm must be one of {INFERENCE_NORMS}, got {mode!r}")
    return mode


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: ``out = norm(x)·γ(m) + β(m)``.

    ``m`` is the guidance map nearest-resized to ``x``; ``γ, β`` come from a shared
    3x3 conv (hidden = ``max_hidden`` if ``channels > max_hidden`` else ``channels``) + ReLU,
    then two 3x3 convs without bias (Face-Renovation's variant: no ``1 +`` on γ, no bias).
    """

    def __init__(self, channels: int, guide_channels: int, max_hidden: int = 128, kernel: int = 3,
                 inference_norm: InferenceNorm = "instance"):
        super().__init__()
        self.param_free_norm = nn.BatchNorm2d(channels, affine=False)
        hidden = max_hidden if channels > max_hidden else channels
        pw = kernel // 2
        self.mlp_shared = nn.Sequential(nn.Conv2d(guide_channels, hidden, kernel, padding=pw), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, channels, kernel, padding=pw, bias=False)
        self.mlp_beta = nn.Conv2d(hidden, channels, kernel, padding=pw, bias=False)
        self.inference_norm = _check_mode(inference_norm)

    def normalize(self, x: Tensor) -> Tensor:
        bn = self.param_free_norm
        if self.training or self.inference_norm == "running":
            return bn(x)
        if self.inference_norm == "instance":
            return F.instance_norm(x, eps=bn.eps)
        return F.batch_norm(x, None, None, training=True, eps=bn.eps)

    def forward(self, x: Tensor, guide: Tensor) -> Tensor:
        guide = F.interpolate(guide, size=x.shape[-2:], mode="nearest")
        actv = self.mlp_shared(guide)
        return self.normalize(x) * self.mlp_gamma(actv) + self.mlp_beta(actv)


def _sn(conv: nn.Conv2d, use: bool) -> nn.Module:
    return spectral_norm(conv) if use else conv


class SPADEResBlock(nn.Module):
    """SPADE residual block: ``[SPADE -> LReLU(0.2) -> conv3x3] x2`` with ``fmid = min(fin, fout)``
    plus a learned shortcut ``SPADE -> conv1x1 (no bias)`` when ``fin != fout``; spectral norm on
    the convs (state-dict names ``conv_0/conv_1/conv_s.weight_orig/_u/_v``, ``norm_0/1/s``)."""

    def __init__(self, fin: int, fout: int, guide_channels: int, spectral: bool = True,
                 max_hidden: int = 128, inference_norm: InferenceNorm = "instance"):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmid = min(fin, fout)
        self.conv_0 = _sn(nn.Conv2d(fin, fmid, 3, padding=1), spectral)
        self.conv_1 = _sn(nn.Conv2d(fmid, fout, 3, padding=1), spectral)
        if self.learned_shortcut:
            self.conv_s = _sn(nn.Conv2d(fin, fout, 1, bias=False), spectral)
        kw = dict(max_hidden=max_hidden, inference_norm=inference_norm)
        self.norm_0 = SPADE(fin, guide_channels, **kw)
        self.norm_1 = SPADE(fmid, guide_channels, **kw)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, guide_channels, **kw)

    def forward(self, x: Tensor, guide: Tensor) -> Tensor:
        xs = self.conv_s(self.norm_s(x, guide)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, guide), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, guide), 0.2))
        return xs + dx


class PlainResBlock(nn.Module):
    """Ablation of the replenishment path: the same residual block without spatially-adaptive
    modulation. The guidance enters once, by addition after a 1x1 projection (a U-Net-style
    skip), then ``[IN -> LReLU(0.2) -> conv3x3] x2`` + (1x1 conv) shortcut."""

    def __init__(self, fin: int, fout: int, guide_channels: int, spectral: bool = True, **_ignored):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmid = min(fin, fout)
        self.inject = nn.Conv2d(guide_channels, fin, 1)
        self.norm_0 = nn.InstanceNorm2d(fin)
        self.norm_1 = nn.InstanceNorm2d(fmid)
        self.conv_0 = _sn(nn.Conv2d(fin, fmid, 3, padding=1), spectral)
        self.conv_1 = _sn(nn.Conv2d(fmid, fout, 3, padding=1), spectral)
        if self.learned_shortcut:
            self.conv_s = _sn(nn.Conv2d(fin, fout, 1, bias=False), spectral)

    def forward(self, x: Tensor, guide: Tensor) -> Tensor:
        x = x + self.inject(F.interpolate(guide, size=x.shape[-2:], mode="nearest"))
        xs = self.conv_s(x) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx), 0.2))
        return xs + dx


def make_block(kind: str, fin: int, fout: int, guide_channels: int, **kwargs) -> nn.Module:
    """Residual block of the replenishment path, ``kind`` in ``REPLENISHMENT_TYPES``."""
    if kind == "spade":
        return SPADEResBlock(fin, fout, guide_channels, **kwargs)
    if kind == "plain":
        return PlainResBlock(fin, fout, guide_channels, **kwargs)
    raise ValueError(f"unknown replenishment {kind!r}; choose one of {REPLENISHMENT_TYPES}")


def set_inference_norm(module: nn.Module, mode: InferenceNorm) -> nn.Module:
    """Set the eval-mode statistics of every :class:`SPADE` inside ``module`` (see module doc)."""
    _check_mode(mode)
    for m in module.modules():
        if isinstance(m, SPADE):
            m.inference_norm = mode
    return module
