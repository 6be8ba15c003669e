"""Full-reference pixel metrics: PSNR, SSIM and MS-SSIM (kornia-style, on tensors).

Conventions (the same as BasicSR / the MATLAB SSIM release, which HiFaceGAN's tables follow):

* inputs are float tensors ``(B, C, H, W)`` (or ``(C, H, W)``) with values in ``[0, 1]``;
* ``y_channel=True`` scores the luma Y of ITU-R BT.601 YCbCr as MATLAB's ``rgb2ycbcr`` defines it
  (``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` for R, G, B in [0, 1]), divided by 255;
  otherwise every RGB channel is scored and the per-channel values are averaged;
* ``crop_border=N`` drops ``N`` pixels on every side before scoring;
* SSIM uses an 11x11 Gaussian window with sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03`` and no padding
  ("valid" filtering, like MATLAB's ``filter2(..., 'valid')``).

All functions return a float64 tensor of shape ``(B,)``.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

__all__ = ["rgb_to_y", "prepare", "psnr", "ssim", "ms_ssim", "gaussian_window", "MS_SSIM_WEIGHTS"]

#: Per-scale exponents of MS-SSIM (Wang, Simoncelli & Bovik 2003, Table / Eq. 7).
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _batch(x: "Tensor") -> "Tensor":
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4:
        raise ValueError(f"expected an image tensor (B, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    return x.to(torch.float64)


def rgb_to_y(x: "Tensor") -> "Tensor":
    """Luma of MATLAB's ``rgb2ycbcr`` (BT.601, studio swing), in [16/255, 235/255].

    ``x``: (B, 3, H, W) RGB in [0, 1]. Returns (B, 1, H, W)."""
    x = _batch(x)
    if x.shape[1] != 3:
        raise ValueError(f"rgb_to_y needs 3 channels, got {x.shape[1]}")
    w = x.new_tensor([65.481, 128.553, 24.966]).view(1, 3, 1, 1)
    return ((x * w).sum(1, keepdim=True) + 16.0) / 255.0


def prepare(x: "Tensor", *, y_channel: bool = False, crop_border: int = 0) -> "Tensor":
    """Batch, cast to float64, optionally take Y and crop ``crop_border`` pixels on each side."""
    x = _batch(x)
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        if 2 * crop_border >= min(x.shape[-2:]):
            raise ValueError(f"crop_border {crop_border} removes the whole {tuple(x.shape[-2:])} image")
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        x = rgb_to_y(x) if x.shape[1] == 3 else x
    return x


def _pair(x: "Tensor", y: "Tensor", y_channel: bool, crop_border: int) -> tuple["Tensor", "Tensor"]:
    x = prepare(x, y_channel=y_channel, crop_border=crop_border)
    y = prepare(y, y_channel=y_channel, crop_border=crop_border)
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    return x, y


def psnr(x: "Tensor", y: "Tensor", *, y_channel: bool = False, crop_border: int = 0,
         data_range: float = 1.0) -> "Tensor":
    """Peak signal-to-noise ratio ``10 log10(data_range^2 / MSE)`` in dB (higher is better).

    The MSE is taken over all channels and pixels of each image; identical images give ``inf``.
    """
    import torch

    x, y = _pair(x, y, y_channel, crop_border)
    mse = ((x - y) ** 2).flatten(1).mean(1)
    with torch.no_grad():
        out = 10.0 * torch.log10(data_range ** 2 / mse)
    return torch.where(mse == 0, torch.full_like(mse, math.inf), out)


def gaussian_window(size: int = 11, sigma: float = 1.5, *, dtype=None) -> "Tensor":
    """Normalised 2-D Gaussian ``(size, size)`` (MATLAB ``fspecial('gaussian', size, sigma)``)."""
    import torch

    r = torch.arange(size, dtype=dtype or torch.float64) - (size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def _filter(x: "Tensor", win: "Tensor") -> "Tensor":
    """Depthwise "valid" filtering with a separable window (outer product of its marginals)."""
    import torch.nn.functional as F

    c = x.shape[1]
    g = win.sum(1).to(x)  # the 1-D Gaussian: win = g g^T
    kv = g.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    kh = g.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    return F.conv2d(F.conv2d(x, kv, groups=c), kh, groups=c)


def _ssim_maps(x: "Tensor", y: "Tensor", win: "Tensor", data_range: float) -> tuple["Tensor", "Tensor"]:
    """SSIM map and contrast-structure map (Wang et al. 2004, Eq. 13), valid filtering."""
    import torch

    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    c = x.shape[1]
    f = _filter(torch.cat([x, y, x * x, y * y, x * y], 1), win)  # one pass for the five moments
    mu_x, mu_y, exx, eyy, exy = f.split(c, 1)
    sxx = exx - mu_x ** 2
    syy = eyy - mu_y ** 2
    sxy = exy - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1)
    return lum * cs, cs


def ssim(x: "Tensor", y: "Tensor", *, y_channel: bool = False, crop_border: int = 0,
         window_size: int = 11, sigma: float = 1.5, data_range: float = 1.0) -> "Tensor":
    """Structural similarity (Wang et al. 2004), mean over the map and over channels (higher is better).

    Matches BasicSR's ``calculate_ssim`` / the MATLAB release: Gaussian window 11, sigma 1.5,
    valid filtering, per-channel SSIM averaged. SSIM(x, x) = 1.
    """
    x, y = _pair(x, y, y_channel, crop_border)
    if min(x.shape[-2:]) < window_size:
        raise ValueError(f"SSIM needs images of at least {window_size}x{window_size}, got {tuple(x.shape[-2:])}")
    s, _ = _ssim_maps(x, y, gaussian_window(window_size, sigma), data_range)
    return s.flatten(1).mean(1)


def ms_ssim(x: "Tensor", y: "Tensor", *, y_channel: bool = False, crop_border: int = 0,
            weights: tuple[float, ...] = MS_SSIM_WEIGHTS, window_size: int = 11, sigma: float = 1.5,
            data_range: float = 1.0) -> "Tensor":
    """Multi-scale SSIM (Wang, Simoncelli & Bovik 2003, Eq. 7), higher is better.

    ``prod_j cs_j^w_j (j < M) * ssim_M^w_M`` over ``M = len(weights)`` scales, each scale a 2x2
    average-pool of the previous one; contrast-structure terms are clamped at 0 (as in
    ``pytorch_msssim``) and each channel is scored separately, then averaged. The image's
    shorter side must exceed ``(window_size - 1) * 2^(M-1)`` (160 px for the defaults).
    """
    import torch
    import torch.nn.functional as F

    x, y = _pair(x, y, y_channel, crop_border)
    m = len(weights)
    need = (window_size - 1) * 2 ** (m - 1)
    if min(x.shape[-2:]) <= need:
        raise ValueError(f"MS-SSIM with {m} scales needs images larger than {need}x{need}, "
                         f"got {tuple(x.shape[-2:])}")
    win = gaussian_window(window_size, sigma)
    w = torch.tensor(weights, dtype=torch.float64)
    vals = []
    for j in range(m):
        s, cs = _ssim_maps(x, y, win, data_range)
        vals.append((s if j == m - 1 else cs).flatten(2).mean(2).clamp_min(0))  # (B, C)
        if j < m - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    v = torch.stack(vals, 0)  # (M, B, C)
    return (v ** w.view(-1, 1, 1)).prod(0).mean(1)
