"""GFP-GAN v1.3 / v1.4 ("clean" architecture); its restorer is :class:`hiface.restorers.gfpgan.GFPGANRestorer`.

GFP-GAN (Wang et al., CVPR 2021, "Towards Real-World Blind Face Restoration with Generative
Facial Prior"): a U-Net degradation-removal module (Sec. 3.2) predicts latent codes and
multi-resolution spatial features; a pretrained StyleGAN2 (the generative facial prior) is
decoded from those latents while channel-split spatial feature transforms (CS-SFT, Sec. 3.3,
Eq. 5) modulate half of its features with the U-Net features.

Names and shapes match ``GFPGANv1Clean`` of TencentARC/GFPGAN with the released
configuration (out 512, num_style_feat 512, channel_multiplier 2, 8-layer mapping MLP,
input_is_latent, different_w, narrow 1, sft_half), so ``GFPGANv1.3.pth``/``GFPGANv1.4.pth``
load with ``strict=True`` (285 tensors including the 15 noise buffers).

Differences from the official inference code, on purpose:

* deterministic by default: the stored noise maps are used (the official default draws fresh
  noise on every call, so repeated runs flicker). ``randomize_noise=True`` (constructor or
  per call) restores the official behaviour;
* the official ``weight`` argument is ignored by that model; here ``fidelity`` is a real
  output blend, ``out = input + fidelity * (restored - input)``;
* the U-Net's intermediate RGB outputs (``toRGB``, training-only) are not computed at inference.
"""
from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from .stylegan2 import StyleGAN2GeneratorClean, stylegan2_channels

__all__ = ["GFPGANv1Clean", "gfpgan_v1_clean", "ResUpDownBlock"]


class ResUpDownBlock(nn.Module):
    """U-Net residual block: conv3x3 -> lrelu -> bilinear x2 / x0.5 -> conv3x3 -> lrelu, plus a
    bilinearly resampled 1x1-conv skip (no bias). Parameter names follow the checkpoints."""

    def __init__(self, in_channels: int, out_channels: int, mode: str = "down"):
        super().__init__()
        if mode not in ("down", "up"):
            raise ValueError(f"mode must be 'down' or 'up', got {mode!r}")
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.scale_factor = 0.5 if mode == "down" else 2.0

    def forward(self, x: Tensor) -> Tensor:
        out = F.leaky_relu(self.conv1(x), 0.2, inplace=True)
        out = F.interpolate(out, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
        out = F.leaky_relu(self.conv2(out), 0.2, inplace=True)
        x = F.interpolate(x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
        return out + self.skip(x)


def _sft_branch(channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
                         nn.Conv2d(channels, out_channels, 3, 1, 1))


class GFPGANv1Clean(nn.Module):
    """U-Net encoder/decoder + StyleGAN2 decoder with CS-SFT (GFP-GAN Sec. 3.2-3.3).

    Args:
        out_size: output side (512 for the released models; 64/128 for small tests).
        num_style_feat: latent width.
        channel_multiplier: StyleGAN2 channel multiplier (2 = config F).
        num_mlp: mapping-network depth (present in the weights; unused with ``input_is_latent``).
        input_is_latent: the U-Net predicts w (True in the releases) rather than z.
        different_w: one latent per generator layer (``2 log2(out) - 2`` latents).
        narrow: channel width ratio; the U-Net uses half of the decoder's widths.
        sft_half: CS-SFT, modulate only the second half of the channels.
        randomize_noise: default noise mode of :meth:`forward` (False: stored noise maps).
    """

    def __init__(self, out_size: int = 512, num_style_feat: int = 512, channel_multiplier: int = 2,
                 num_mlp: int = 8, input_is_latent: bool = True, different_w: bool = True,
                 narrow: float = 1.0, sft_half: bool = True, randomize_noise: bool = False):
        super().__init__()
        self.out_size, self.num_style_feat = out_size, num_style_feat
        self.input_is_latent, self.different_w, self.sft_half = input_is_latent, different_w, sft_half
        self.randomize_noise = randomize_noise
        self.log_size = int(math.log2(out_size))
        if 2 ** self.log_size != out_size or out_size < 8:
            raise ValueError(f"out_size must be a power of two >= 8, got {out_size}")
        ch = stylegan2_channels(channel_multiplier, narrow * 0.5)  # U-Net: half the decoder width

        self.conv_body_first = nn.Conv2d(3, ch[out_size], 1)
        self.conv_body_down = nn.ModuleList()
        cin = ch[out_size]
        for lvl in range(self.log_size, 2, -1):
            self.conv_body_down.append(ResUpDownBlock(cin, ch[2 ** (lvl - 1)], "down"))
            cin = ch[2 ** (lvl - 1)]
        self.final_conv = nn.Conv2d(cin, ch[4], 3, 1, 1)
        self.conv_body_up = nn.ModuleList()
        cin = ch[4]
        for lvl in range(3, self.log_size + 1):
            self.conv_body_up.append(ResUpDownBlock(cin, ch[2 ** lvl], "up"))
            cin = ch[2 ** lvl]
        # intermediate RGB heads (multi-scale restoration loss during training only)
        self.toRGB = nn.ModuleList(nn.Conv2d(ch[2 ** lvl], 3, 1) for lvl in range(3, self.log_size + 1))

        n_w = (2 * self.log_size - 2) if different_w else 1
        self.final_linear = nn.Linear(ch[4] * 16, n_w * num_style_feat)
        self.stylegan_decoder = StyleGAN2GeneratorClean(out_size, num_style_feat, num_mlp,
                                                        channel_multiplier, narrow)
        self.condition_scale = nn.ModuleList()
        self.condition_shift = nn.ModuleList()
        for lvl in range(3, self.log_size + 1):
            c = ch[2 ** lvl]
            c_out = c if sft_half else 2 * c
            self.condition_scale.append(_sft_branch(c, c_out))
            self.condition_shift.append(_sft_branch(c, c_out))

    def encode(self, x: Tensor, *, return_rgbs: bool = False) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """U-Net pass: latents (B, n_w, C), SFT conditions [scale, shift per level], RGB heads."""
        feat = F.leaky_relu(self.conv_body_first(x), 0.2, inplace=True)
        skips = []
        for block in self.conv_body_down:
            feat = block(feat)
            skips.append(feat)
        feat = F.leaky_relu(self.final_conv(feat), 0.2, inplace=True)
        latent = self.final_linear(feat.flatten(1))
        latent = latent.view(latent.shape[0], -1, self.num_style_feat)
        if not self.input_is_latent:  # as the official code: the MLP on the (B, n_w, C) codes, whose
            latent = self.stylegan_decoder.get_latent(latent)  # pixel norm then runs over dim 1
        conditions, rgbs = [], []
        for i, block in enumerate(self.conv_body_up):
            feat = block(feat + skips[-1 - i])
            conditions += [self.condition_scale[i](feat), self.condition_shift[i](feat)]
            if return_rgbs:
                rgbs.append(self.toRGB[i](feat))
        return latent, conditions, rgbs

    def forward(self, x: Tensor, *, randomize_noise: bool | None = None,
                return_rgbs: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        """x: (B, 3, S, S) RGB in [-1, 1]. Returns the restored image in [-1, 1] (unclamped);
        with ``return_rgbs`` also the U-Net's intermediate RGB predictions (training)."""
        if x.shape[-2:] != (self.out_size, self.out_size):
            raise ValueError(f"GFPGANv1Clean({self.out_size}) needs {self.out_size}x{self.out_size} "
                             f"inputs, got {tuple(x.shape[-2:])}")
        rn = self.randomize_noise if randomize_noise is None else randomize_noise
        latent, conditions, rgbs = self.encode(x, return_rgbs=return_rgbs)
        image = self.stylegan_decoder(latent, conditions, randomize_noise=rn, sft_half=self.sft_half)
        return (image, rgbs) if return_rgbs else image


def gfpgan_v1_clean(**kwargs) -> GFPGANv1Clean:
    """Factory used by the registry (defaults = the released v1.3/v1.4 configuration)."""
    return GFPGANv1Clean(**kwargs)
