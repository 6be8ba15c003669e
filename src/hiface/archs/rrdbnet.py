"""RRDBNet: the ESRGAN generator (Wang et al., "ESRGAN", ECCV-W 2018, §3.1, Fig. 4) that
Real-ESRGAN (Wang et al., ICCV-W 2021) trains for ×4 blind super-resolution.

Residual-in-residual dense blocks (RRDB): three residual dense blocks (5 densely connected 3×3
convolutions, LeakyReLU 0.2), each scaled by 0.2 before its skip (residual scaling, §3.1),
then the whole RRDB again scaled by 0.2. Up-sampling: two nearest ×2 + conv stages. Parameter
names follow the usual BasicSR layout (``conv_first``, ``body.N.rdbK.convJ``, ``conv_body``,
``conv_up1/2``, ``conv_hr``, ``conv_last``) so released state dicts load as they are.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RRDBNet", "ResidualDenseBlock", "RRDB"]


class ResidualDenseBlock(nn.Module):
    """Five 3×3 convolutions, each seeing the block input and all previous outputs."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        for j in range(1, 5):
            setattr(self, f"conv{j}", nn.Conv2d(num_feat + (j - 1) * num_grow_ch, num_grow_ch, 3, 1, 1))
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for j in range(1, 5):
            feats.append(F.leaky_relu(getattr(self, f"conv{j}")(torch.cat(feats, 1)), 0.2))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Residual in residual dense block: three dense blocks, residual scaling 0.2."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """×4 RRDB generator (``num_block`` = 23 for RealESRGAN_x4plus, 6 for the anime variant).

    Input and output: (N, 3, H, W) RGB in [0, 1] -> (N, 3, 4H, 4W) (not clamped)."""

    scale = 4

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 23,
                 num_grow_ch: int = 32):
        super().__init__()
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = F.leaky_relu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        feat = F.leaky_relu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))
