"""SRVGGNetCompact: the small plain-VGG super-resolution net of Real-ESRGAN's
``realesr-animevideov3`` / ``realesr-general`` models (Wang et al., Real-ESRGAN, 2021).

A stack of 3×3 convolutions with per-channel PReLU at low resolution, a final convolution to
``3·s²`` channels, pixel shuffle, plus the nearest-up-sampled input as a global residual: all
compute happens at input resolution, hence ~30× cheaper than RRDBNet. Parameter names follow the
released layout: ``body.0`` (first conv), ``body.1`` (PReLU), ..., ``body.{2·num_conv+2}`` (last conv).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SRVGGNetCompact"]


class SRVGGNetCompact(nn.Module):
    """Input (N, 3, H, W) RGB in [0, 1] -> (N, 3, sH, sW) (not clamped)."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_conv: int = 16,
                 upscale: int = 4):
        super().__init__()
        self.scale = upscale
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), nn.PReLU(num_parameters=num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.PReLU(num_parameters=num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        return self.upsampler(out) + F.interpolate(x, scale_factor=self.scale, mode="nearest")
