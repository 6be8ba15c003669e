"""GFRNet: guided face restoration (Li et al., "Learning Warped Guidance for Blind Face
Restoration", ECCV 2018).

Two sub-networks (paper §3, Fig. 2):

* :class:`WarpNet` predicts a dense sampling grid Φ that warps a high-quality *reference* photo
  of the same person (the "guidance" I^g) onto the pose and expression of the degraded face I^d:
  ``I^w = grid_sample(I^g, Φ)``. Encoder-decoder of 4×4 stride-2 convolutions down to 1×1
  (widths ngf×[1, 2, 4, 8, 8, 8, 8, 8] at 256², paper §3.1), mirrored transposed convolutions,
  a 2-channel tanh output. We start it at the identity grid (see :class:`WarpNet`).
* :class:`RecNet` is a U-Net on concat(I^d, I^w) with skip connections (paper §3.2) that
  outputs the restored face in [0, 1].

:class:`GFRNet` chains them; :class:`hiface.restorers.gfrnet.GFRNetRestorer` plugs the pair into
hiface's restorer interface (``restore(faces, guide=...)``).

Coordinates: a sampling grid is (B, H, W, 2) in ``grid_sample``'s normalised convention
(x then y, ``align_corners=False``: pixel centre i maps to (2i + 1) / S - 1).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import HifaceError

__all__ = ["identity_grid", "warp", "grid_to_flow", "flow_to_grid", "WarpNet", "RecNet", "GFRNet",
           "gfrnet"]

_WIDTHS = (1, 2, 4, 8, 8, 8, 8, 8)


# --------------------------------------------------------------------------------------
# grid helpers (pure functions)
# --------------------------------------------------------------------------------------
def identity_grid(b: int, h: int, w: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """The sampling grid (B, H, W, 2) that leaves an image unchanged (``align_corners=False``)."""
    ys = (torch.arange(h, device=device, dtype=dtype) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=device, dtype=dtype) * 2 + 1) / w - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=-1)[None].expand(b, h, w, 2)


def warp(image: torch.Tensor, grid: torch.Tensor, *, padding_mode: str = "border") -> torch.Tensor:
    """Bilinearly sample ``image`` (B, C, H, W) at ``grid`` (B, H', W', 2): I^w = I^g ∘ Φ."""
    return F.grid_sample(image, grid.to(image.dtype), mode="bilinear", padding_mode=padding_mode,
                         align_corners=False)


def grid_to_flow(grid: torch.Tensor) -> torch.Tensor:
    """Displacement (B, 2, H, W) of a sampling grid from the identity, in normalised units."""
    b, h, w, _ = grid.shape
    return (grid - identity_grid(b, h, w, device=grid.device, dtype=grid.dtype)).permute(0, 3, 1, 2)


def flow_to_grid(flow: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`grid_to_flow`: displacement (B, 2, H, W) -> sampling grid (B, H, W, 2)."""
    b, _, h, w = flow.shape
    return identity_grid(b, h, w, device=flow.device, dtype=flow.dtype) + flow.permute(0, 2, 3, 1)


# --------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------
def _n_levels(size: int) -> int:
    n = int(round(math.log2(size)))
    if 2 ** n != size or n < 3:
        raise HifaceError(f"GFRNet needs a power-of-two input size >= 8, got {size}")
    return n


def _widths(ngf: int, n: int, max_mult: int = 8) -> list[int]:
    mults = list(_WIDTHS[:n]) + [8] * max(0, n - len(_WIDTHS))
    return [ngf * min(m, max_mult) for m in mults]


class _EncoderDecoder(nn.Module):
    """pix2pix-style encoder-decoder: n 4×4/2 convs to 1×1, n 4×4/2 transposed convs back.

    With ``skips`` it is a U-Net (decoder level i also sees encoder level i). Batch norm
    everywhere except the first encoder and innermost layers (pix2pix, Isola et al. 2017);
    LeakyReLU(0.2) in the encoder, ReLU in the decoder.
    """

    def __init__(self, in_ch: int, out_ch: int, size: int, ngf: int, skips: bool, norm: bool = True):
        super().__init__()
        n = _n_levels(size)
        ws = _widths(ngf, n)
        self.skips = skips
        self.down = nn.ModuleList()
        c = in_ch
        for i, w in enumerate(ws):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2, inplace=False)]
            layers.append(nn.Conv2d(c, w, 4, 2, 1, bias=not norm or i in (0, n - 1)))
            if norm and i not in (0, n - 1):
                layers.append(nn.BatchNorm2d(w))
            self.down.append(nn.Sequential(*layers))
            c = w
        self.up = nn.ModuleList()
        for i in reversed(range(n)):
            w_out = ws[i - 1] if i > 0 else ngf
            c_in = ws[i] if (i == n - 1 or not skips) else ws[i] * 2
            layers = [nn.ReLU(inplace=False), nn.ConvTranspose2d(c_in, w_out, 4, 2, 1, bias=not norm or i == 0)]
            if norm and i > 0:
                layers.append(nn.BatchNorm2d(w_out))
            self.up.append(nn.Sequential(*layers))
        self.head = nn.Conv2d(ngf + (in_ch if skips else 0), out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = []
        h = x
        for d in self.down:
            h = d(h)
            feats.append(h)
        for j, u in enumerate(self.up):
            if j > 0 and self.skips:
                h = torch.cat((h, feats[-1 - j]), dim=1)
            h = u(h)
        if self.skips:
            h = torch.cat((h, x), dim=1)
        return self.head(h)


class WarpNet(nn.Module):
    """Predicts the sampling grid Φ = F_w(I^d, I^g) (paper §3.1).

    The output is ``Φ = tanh(atanh(Φ_id) + δ)``: a tanh-bounded grid in (-1, 1) whose head
    is zero-initialised, so the network starts at the identity grid Φ_id (the reference is
    passed through unchanged) and learns a residual deformation.

    Args:
        size: input side (power of two); the encoder goes down to 1×1 (8 levels at 256²).
        ngf: base width; level widths are ngf×[1, 2, 4, 8, 8, 8, 8, 8].
        skips: U-Net skip connections (the paper's WarpNet is a plain encoder-decoder;
            skips make the CPU-sized model converge much faster).
    """

    def __init__(self, size: int = 256, ngf: int = 64, skips: bool = True, norm: bool = True):
        super().__init__()
        self.size = size
        self.body = _EncoderDecoder(6, 2, size, ngf, skips, norm)
        nn.init.zeros_(self.body.head.weight)
        nn.init.zeros_(self.body.head.bias)

    def forward(self, degraded: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """(B,3,S,S) degraded and reference in [0,1] -> grid (B,S,S,2)."""
        x = torch.cat((degraded, reference), dim=1) * 2 - 1
        delta = self.body(x).permute(0, 2, 3, 1)
        b, h, w, _ = delta.shape
        base = identity_grid(b, h, w, device=x.device, dtype=delta.dtype)
        return torch.tanh(torch.atanh(base) + delta)


class RecNet(nn.Module):
    """U-Net reconstruction network Î = F_r(I^d, I^w) (paper §3.2).

    Residual in logit space: ``Î = sigmoid(logit(I^d) + r)`` keeps the output in (0, 1) and
    starts (zero-initialised head) at the degraded input, which speeds up short trainings.
    """

    def __init__(self, size: int = 256, ngf: int = 64, norm: bool = True):
        super().__init__()
        self.size = size
        self.body = _EncoderDecoder(6, 3, size, ngf, True, norm)
        nn.init.zeros_(self.body.head.weight)
        nn.init.zeros_(self.body.head.bias)

    def forward(self, degraded: torch.Tensor, warped: torch.Tensor) -> torch.Tensor:
        x = torch.cat((degraded, warped), dim=1) * 2 - 1
        r = self.body(x)
        return torch.sigmoid(torch.logit(degraded.clamp(1e-3, 1 - 1e-3)) + r)


class GFRNet(nn.Module):
    """WarpNet + RecNet. ``forward`` returns (restored, warped_reference, grid).

    ``warp_size`` (default: ``size``, the paper) lets WarpNet run on a down-sampled pair; its
    displacement is then bilinearly up-sampled to ``size`` (flows are smooth, paper's TV
    prior), which cuts WarpNet's cost 4x per halving for CPU-sized models.
    """

    def __init__(self, size: int = 256, ngf: int = 64, warp_ngf: int | None = None, warp_skips: bool = True,
                 norm: bool = True, warp_size: int | None = None):
        super().__init__()
        self.size = size
        self.warp_size = warp_size or size
        if self.warp_size > size:
            raise HifaceError(f"warp_size ({self.warp_size}) cannot exceed size ({size})")
        self.warpnet = WarpNet(self.warp_size, warp_ngf or ngf, warp_skips, norm)
        self.recnet = RecNet(size, ngf, norm)

    def predict_grid(self, degraded: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Sampling grid Φ (B, size, size, 2) for the pair."""
        if self.warp_size == self.size:
            return self.warpnet(degraded, reference)
        ws = (self.warp_size, self.warp_size)
        small = [F.interpolate(t, size=ws, mode="bilinear", align_corners=False, antialias=True)
                 for t in (degraded, reference)]
        flow = grid_to_flow(self.warpnet(*small))
        flow = F.interpolate(flow, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return flow_to_grid(flow)

    def forward(self, degraded: torch.Tensor, reference: torch.Tensor):
        if degraded.shape[-2:] != (self.size, self.size) or reference.shape != degraded.shape:
            raise HifaceError(f"GFRNet({self.size}) needs degraded and reference of shape (B, 3, {self.size}, "
                              f"{self.size}), got {tuple(degraded.shape)} and {tuple(reference.shape)}")
        grid = self.predict_grid(degraded, reference)
        warped = warp(reference, grid)
        return self.recnet(degraded, warped), warped, grid


def gfrnet(size: int = 256, ngf: int = 64, warp_ngf: int | None = None, warp_skips: bool = True,
           norm: bool = True, warp_size: int | None = None) -> GFRNet:
    """Factory used by the model registry (``arch="hiface.archs.gfrnet:gfrnet"``)."""
    return GFRNet(size=size, ngf=ngf, warp_ngf=warp_ngf, warp_skips=warp_skips, norm=norm, warp_size=warp_size)
