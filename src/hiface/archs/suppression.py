"""Suppression path of HiFaceGAN (Yang et al., ACM MM 2020, §3.2): content-adaptive 2x
downsampling that keeps informative features and suppresses degradation.

Three interchangeable downsamplers (same call: ``(B,C,H,W) -> (B,C,ceil(H/2),ceil(W/2))``):

- :class:`LIP`            local importance pooling (Gao et al., ICCV 2019), what the official
                          code and released checkpoints use (``SimplifiedLIP`` there).
- :class:`PairwiseSuppression`  the paper's own formulation, Eq. 2-3 (never released):
                          ``S(F;W)_i = sum_j phi(f_j, f_i) w_{Δji} f_j`` with
                          ``phi(f_i, f_j) = D(g(f_i)^T g(f_j))``.
- :class:`StridedConvDown`      "none": a plain 3x3 stride-2 convolution, the non-adaptive baseline
                          for ablations.

:class:`SuppressionEncoder` stacks them into the multi-scale encoder whose 6 feature maps guide
the replenishment path.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["lip2d", "LIP", "pairwise_conv2d", "PairwiseSuppression", "StridedConvDown",
           "make_downsample", "SuppressionEncoder", "LIPEncoder", "SUPPRESSION_TYPES"]

SUPPRESSION_TYPES = ("lip", "pairwise", "none")


# ----------------------------------------------------------------------------------------------
# LIP
# ----------------------------------------------------------------------------------------------
def lip2d(x: Tensor, logit: Tensor, kernel: int = 3, stride: int = 2, padding: int = 1) -> Tensor:
    """Local importance pooling: ``avgpool(x * e^logit) / avgpool(e^logit)``.

    A weighted average over each window whose weights ``e^logit`` are predicted from the
    content; constant logits reduce it to the plain average over the (unpadded) window."""
    w = logit.exp()
    return F.avg_pool2d(x * w, kernel, stride, padding) / F.avg_pool2d(w, kernel, stride, padding)


class SoftGate(nn.Module):
    """``12 * sigmoid(x)``: bounded logits (official ``SoftGate``, COEFF = 12)."""

    COEFF = 12.0

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(x).mul(self.COEFF)


class LIP(nn.Module):
    """Content-adaptive 2x downsample: logit = 12·sigmoid(IN_affine(conv3x3(x))), then :func:`lip2d`.

    State-dict names follow the official ``SimplifiedLIP``: ``logit.0.weight`` (conv, no bias),
    ``logit.1.{weight,bias}`` (affine InstanceNorm)."""

    def __init__(self, channels: int):
        super().__init__()
        self.logit = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
            SoftGate(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return lip2d(x, self.logit(x))


# ----------------------------------------------------------------------------------------------
# Pairwise suppression (paper Eq. 2-3)
# ----------------------------------------------------------------------------------------------
def pairwise_conv2d(x: Tensor, phi: Tensor, weight: Tensor, bias: Tensor | None = None,
                    stride: int = 1, padding: int = 0) -> Tensor:
    """Convolution whose every tap is scaled by a per-position affinity (paper Eq. 2).

    ``out[:, :, o] = sum_{Δ} phi[:, Δ, o] * (weight[:, :, Δ] @ x[:, :, o*stride - padding + Δ]) + bias``

    Args:
        x: (B, Cin, H, W) input.
        phi: (B, k*k, Ho, Wo) affinity between each output centre and each tap of its window
            (taps in row-major order); all-ones gives ``F.conv2d(x, weight, bias, stride, padding)``.
        weight: (Cout, Cin, k, k) shared spatial kernel ``w_Δ``.
    Zero padding contributes nothing whatever ``phi`` is. Memory: one shifted copy of ``x`` at
    a time (a loop over the k*k taps), not the full unfolded tensor.
    """
    cout, cin, kh, kw = weight.shape
    b, c, h, w = x.shape
    if c != cin:
        raise ValueError(f"x has {c} channels, weight expects {cin}")
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (w + 2 * padding - kw) // stride + 1
    if phi.shape != (b, kh * kw, ho, wo):
        raise ValueError(f"phi must have shape {(b, kh * kw, ho, wo)}, got {tuple(phi.shape)}")
    xp = F.pad(x, (padding, padding, padding, padding))
    out = None
    for dy in range(kh):
        for dx in range(kw):
            tap = xp[:, :, dy: dy + stride * (ho - 1) + 1: stride, dx: dx + stride * (wo - 1) + 1: stride]
            t = dy * kw + dx
            y = F.conv2d(tap * phi[:, t: t + 1], weight[:, :, dy: dy + 1, dx: dx + 1])
            out = y if out is None else out + y
    assert out is not None
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


def window_affinity(e: Tensor, kernel: int, stride: int, padding: int) -> Tensor:
    """Dot products ``g(f_i)^T g(f_j)`` between each window centre i and its k*k taps j.

    e: (B, D, H, W) embeddings ``g(F)``. Returns (B, k*k, Ho, Wo). The centre of output o is
    input ``o*stride - padding + k//2``; for odd k with padding = k//2 that is ``o*stride``."""
    b, d, h, w = e.shape
    ho = (h + 2 * padding - kernel) // stride + 1
    wo = (w + 2 * padding - kernel) // stride + 1
    ep = F.pad(e, (padding, padding, padding, padding))
    c = kernel // 2
    centre = ep[:, :, c: c + stride * (ho - 1) + 1: stride, c: c + stride * (wo - 1) + 1: stride]
    out = []
    for dy in range(kernel):
        for dx in range(kernel):
            tap = ep[:, :, dy: dy + stride * (ho - 1) + 1: stride, dx: dx + stride * (wo - 1) + 1: stride]
            out.append((centre * tap).sum(1))
    return torch.stack(out, 1)


class PairwiseSuppression(nn.Module):
    """The paper's content-adaptive suppression module (Eq. 2-3) as a 2x downsampler C -> C.

    ``S(F;W)_i = Σ_{j ∈ N(i)} φ(f_j, f_i) w_{Δji} f_j``, ``φ(f_i, f_j) = D(g(f_i)^T g(f_j) / √d)``,
    with ``g`` a 2-layer MLP of 1x1 convs C -> d -> d and ``D`` sigmoid (default) or tanh.
    The ``1/√d`` scaling (on by default, ``scale=False`` for the literal formula) keeps the
    affinities out of saturation; it is our choice, the paper leaves it open.
    Parameters: ``weight`` (C, C, k, k), ``bias`` (C), ``g.0``, ``g.2`` (1x1 convs).
    """

    def __init__(self, channels: int, kernel: int = 3, stride: int = 2, embed_dim: int | None = None,
                 activation: Literal["sigmoid", "tanh"] = "sigmoid", scale: bool = True):
        super().__init__()
        if activation not in ("sigmoid", "tanh"):
            raise ValueError(f"activation must be 'sigmoid' or 'tanh', got {activation!r}")
        d = embed_dim or max(8, channels // 8)
        self.kernel, self.stride, self.padding = kernel, stride, kernel // 2
        self.activation = activation
        self.temperature = math.sqrt(d) if scale else 1.0
        self.g = nn.Sequential(nn.Conv2d(channels, d, 1), nn.ReLU(inplace=True), nn.Conv2d(d, d, 1))
        self.weight = nn.Parameter(torch.empty(channels, channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(channels))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def affinity(self, x: Tensor) -> Tensor:
        """φ for every (output centre, tap) pair: (B, k*k, Ho, Wo), Eq. 3."""
        s = window_affinity(self.g(x), self.kernel, self.stride, self.padding) / self.temperature
        return torch.sigmoid(s) if self.activation == "sigmoid" else torch.tanh(s)

    def forward(self, x: Tensor) -> Tensor:
        return pairwise_conv2d(x, self.affinity(x), self.weight, self.bias, self.stride, self.padding)


class StridedConvDown(nn.Module):
    """Non-adaptive baseline ("none"): 3x3 stride-2 convolution C -> C without bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


def make_downsample(kind: str, channels: int, **kwargs) -> nn.Module:
    """Build the 2x content-adaptive downsampler ``kind`` in ``SUPPRESSION_TYPES``; ``kwargs``
    (``embed_dim``, ``activation``, ``scale``, ``kernel``) configure the pairwise module only."""
    if kwargs and kind != "pairwise":
        raise ValueError(f"options {sorted(kwargs)} only apply to suppression='pairwise', not {kind!r}")
    if kind == "lip":
        return LIP(channels)
    if kind == "pairwise":
        return PairwiseSuppression(channels, **kwargs)
    if kind == "none":
        return StridedConvDown(channels)
    raise ValueError(f"unknown suppression {kind!r}; choose one of {SUPPRESSION_TYPES}")


# ----------------------------------------------------------------------------------------------
# Encoders
# ----------------------------------------------------------------------------------------------
class SuppressionEncoder(nn.Module):
    """HiFaceGAN's suppression path (official ``ContentAdaptiveSuppresor``).

    head: conv3x3 3->ngf (no bias) -> IN -> ReLU; then ``n_down`` stages of
    [downsample -> conv3x3 C->min(2C, 16·ngf) -> IN (-> ReLU except on the last stage)].
    ``forward`` returns the ``n_down + 1`` feature maps **coarsest first** (1/32 ... 1/1),
    e.g. channels (16n, 16n, 8n, 4n, 2n, n) for n_down = 5.
    """

    def __init__(self, ngf: int = 64, in_channels: int = 3, n_down: int = 5, suppression: str = "lip",
                 max_ratio: int = 16, **down_kwargs):
        super().__init__()
        self.n_down = n_down
        self.head = nn.Sequential(nn.Conv2d(in_channels, ngf, 3, padding=1, bias=False),
                                  nn.InstanceNorm2d(ngf), nn.ReLU())
        ratio = 1
        self.channels = [ngf]
        for i in range(n_down):
            nxt = min(ratio * 2, max_ratio)
            layers = [make_downsample(suppression, ngf * ratio, **down_kwargs),
                      nn.Conv2d(ngf * ratio, ngf * nxt, 3, padding=1), nn.InstanceNorm2d(ngf * nxt)]
            if i < n_down - 1:
                layers.append(nn.ReLU(inplace=True))
            setattr(self, f"encoder_{i}", nn.Sequential(*layers))
            ratio = nxt
            self.channels.insert(0, ngf * ratio)

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = [self.head(x)]
        for i in range(self.n_down):
            feats.insert(0, getattr(self, f"encoder_{i}")(feats[0]))
        return feats


class LIPEncoder(nn.Module):
    """The released checkpoints' encoder: the same stack as :class:`SuppressionEncoder` (LIP only)
    as one ``nn.Sequential`` named ``model`` (indices 0,3,4,7,8,... as in the official file);
    returns only the coarsest map (16·ngf channels at 1/2^n_down)."""

    def __init__(self, ngf: int = 48, in_channels: int = 3, n_down: int = 5, max_ratio: int = 16):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ngf, 3, padding=1, bias=False),
                                   nn.InstanceNorm2d(ngf), nn.ReLU()]
        ratio = 1
        for i in range(n_down):
            nxt = min(ratio * 2, max_ratio)
            layers += [LIP(ngf * ratio), nn.Conv2d(ngf * ratio, ngf * nxt, 3, padding=1), nn.InstanceNorm2d(ngf * nxt)]
            if i < n_down - 1:
                layers.append(nn.ReLU(inplace=True))
            ratio = nxt
        self.model = nn.Sequential(*layers)
        self.out_channels = ngf * ratio

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
