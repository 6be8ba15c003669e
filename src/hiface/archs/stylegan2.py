"""StyleGAN2 generator, "clean" variant (no custom CUDA ops), as the GFP-GAN decoder.

Layer and parameter names follow ``StyleGAN2GeneratorClean`` of TencentARC/GFPGAN so that
the released GFP-GAN v1.3/v1.4 checkpoints load strictly. Re-implemented from the
StyleGAN2 paper (Karras et al., CVPR 2020, Sec. 2.2 "weight demodulation") and the
layout of those checkpoints:

* modulated 3x3 convs with demodulation, noise injection with a learned per-layer
  strength, bias and leaky ReLU (gain sqrt(2));
* 1x1 ``ToRGB`` layers without demodulation, summed over resolutions (skip generator);
* bilinear 2x up-sampling everywhere (no ``upfirdn2d`` blur kernels);
* 15 fixed noise maps stored as buffers ``noises.noise{i}``.

Modulation is applied to the activations instead of the weights (``conv(x * s) * d`` rather
than a per-sample grouped conv with ``w * s * d``): the two are equal (paper Sec. 2.2,
"fused" vs. "non-fused"), but this form shares one weight tensor across the batch, so it
needs no per-sample weight copies and batches efficiently.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["NormStyleCode", "ModulatedConv2d", "StyleConv", "ToRGB", "ConstantInput",
           "StyleGAN2GeneratorClean", "stylegan2_channels", "modulated_conv2d"]


def stylegan2_channels(channel_multiplier: int = 2, narrow: float = 1.0) -> dict[int, int]:
    """Feature channels per resolution of the StyleGAN2 generator (config-F layout)."""
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier,
            128: 128 * channel_multiplier, 256: 64 * channel_multiplier,
            512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return {r: int(c * narrow) for r, c in base.items()}


def modulated_conv2d(x: Tensor, weight: Tensor, style: Tensor, *, demodulate: bool = True,
                     upsample: bool = False, eps: float = 1e-8, channels_last: bool = False) -> Tensor:
    """StyleGAN2 modulated convolution (paper Eq. 1-3), applied to activations.

    x: (B, Cin, H, W); weight: (1, Cout, Cin, k, k); style: (B, Cin) per-sample input scales.
    Returns ``conv(up(x), weight * style * demod)`` computed as ``conv(up(x * style), weight) * demod``
    where ``demod[b, o] = 1 / sqrt(sum_{i,k} (weight[o, i, k] * style[b, i])^2 + eps)`` (Eq. 3)
    and ``up`` is an optional bilinear x2 up-sampling (per-channel linear, so it commutes with
    the scaling, which is applied at the lower resolution). ``channels_last`` runs the conv in
    NHWC layout (faster on CPU; same values).
    """
    w = weight[0]
    k = w.shape[-1]
    xs = x * style[:, :, None, None]
    if upsample:
        xs = F.interpolate(xs, scale_factor=2, mode="bilinear", align_corners=False)
    if channels_last:
        xs, w = xs.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
    out = F.conv2d(xs, w, padding=k // 2)
    del xs
    if demodulate:
        # sum_{i,k} (w s)^2 = (sum_k w^2) @ s^2  -> (B, Cout)
        # in float32 even under fp16 autocast (--half): the sum of squares overflows/underflows in
        # half precision (the NaN/black images users of the official code report)
        with torch.autocast(out.device.type, enabled=False):
            demod = torch.rsqrt(style.float().square() @ w.float().square().sum((2, 3)).t() + eps)
        demod = demod.to(out.dtype)[:, :, None, None]
        out = out * demod if torch.is_grad_enabled() else out.mul_(demod)
    return out


class NormStyleCode(nn.Module):
    """Pixel norm of the style code: ``x / sqrt(mean(x^2) + 1e-8)``."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class ModulatedConv2d(nn.Module):
    """Modulated conv (no bias); ``modulation`` maps the style vector to per-input-channel scales."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, num_style_feat: int,
                 demodulate: bool = True, upsample: bool = False, eps: float = 1e-8):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.upsample, self.eps = demodulate, upsample, eps
        self.channels_last = False  # NHWC convs (see hiface.restorers.base.use_channels_last)
        self.modulation = nn.Linear(num_style_feat, in_channels, bias=True)
        nn.init.kaiming_normal_(self.modulation.weight, a=0, mode="fan_in", nonlinearity="linear")
        nn.init.ones_(self.modulation.bias)
        fan_in = in_channels * kernel_size ** 2
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size) / math.sqrt(fan_in))

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        return modulated_conv2d(x, self.weight, self.modulation(style), demodulate=self.demodulate,
                                upsample=self.upsample, eps=self.eps, channels_last=self.channels_last)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"demodulate={self.demodulate}, upsample={self.upsample}")


class StyleConv(nn.Module):
    """Modulated conv -> x sqrt(2) -> + strength * noise -> + bias -> leaky ReLU(0.2).

    ``weight`` (shape (1,)) is the learned noise strength. ``noise=None`` draws fresh noise.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, num_style_feat: int,
                 demodulate: bool = True, upsample: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))
        self.modulated_conv = ModulatedConv2d(in_channels, out_channels, kernel_size, num_style_feat,
                                              demodulate=demodulate, upsample=upsample)

    def forward(self, x: Tensor, style: Tensor, noise: Tensor | None = None) -> Tensor:
        # in place: the modulated conv's output is a fresh tensor no backward needs
        out = self.modulated_conv(x, style).mul_(math.sqrt(2))
        if noise is None:
            noise = out.new_empty(out.shape[0], 1, *out.shape[2:]).normal_()
        out.add_(self.weight * noise).add_(self.bias)
        return F.leaky_relu(out, 0.2, inplace=True)


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB (no demodulation) plus the bilinearly up-sampled previous RGB."""

    def __init__(self, in_channels: int, num_style_feat: int, upsample: bool = True):
        super().__init__()
        self.upsample = upsample
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.modulated_conv = ModulatedConv2d(in_channels, 3, 1, num_style_feat, demodulate=False)

    def forward(self, x: Tensor, style: Tensor, skip: Tensor | None = None) -> Tensor:
        out = self.modulated_conv(x, style) + self.bias
        if skip is not None:
            if self.upsample:
                skip = F.interpolate(skip, scale_factor=2, mode="bilinear", align_corners=False)
            out = out + skip
        return out


class ConstantInput(nn.Module):
    """Learned 4x4 constant the generator starts from."""

    def __init__(self, num_channel: int, size: int = 4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, num_channel, size, size))

    def forward(self, batch: int) -> Tensor:
        return self.weight.expand(batch, -1, -1, -1)


class StyleGAN2GeneratorClean(nn.Module):
    """StyleGAN2 generator (config F, bilinear resampling) with ``num_latent = 2 log2(S) - 2`` w's.

    ``forward(latent, ...)`` takes per-layer latents (B, num_latent, num_style_feat); the
    8-layer ``style_mlp`` mapping network exists so checkpoints load, and is used only by
    :meth:`get_latent` (GFP-GAN feeds latents directly).
    """

    def __init__(self, out_size: int = 512, num_style_feat: int = 512, num_mlp: int = 8,
                 channel_multiplier: int = 2, narrow: float = 1.0):
        super().__init__()
        self.num_style_feat = num_style_feat
        self.log_size = int(math.log2(out_size))
        if 2 ** self.log_size != out_size or out_size < 8:
            raise ValueError(f"out_size must be a power of two >= 8, got {out_size}")
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.num_latent = self.log_size * 2 - 2
        ch = self.channels = stylegan2_channels(channel_multiplier, narrow)

        mlp: list[nn.Module] = [NormStyleCode()]
        for _ in range(num_mlp):
            lin = nn.Linear(num_style_feat, num_style_feat)
            nn.init.kaiming_normal_(lin.weight, a=0.2, mode="fan_in", nonlinearity="leaky_relu")
            nn.init.zeros_(lin.bias)
            mlp += [lin, nn.LeakyReLU(0.2, inplace=True)]
        self.style_mlp = nn.Sequential(*mlp)

        self.constant_input = ConstantInput(ch[4], 4)
        self.style_conv1 = StyleConv(ch[4], ch[4], 3, num_style_feat)
        self.to_rgb1 = ToRGB(ch[4], num_style_feat, upsample=False)

        self.style_convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise{i}", torch.randn(1, 1, res, res))
        cin = ch[4]
        for lvl in range(3, self.log_size + 1):
            cout = ch[2 ** lvl]
            self.style_convs.append(StyleConv(cin, cout, 3, num_style_feat, upsample=True))
            self.style_convs.append(StyleConv(cout, cout, 3, num_style_feat))
            self.to_rgbs.append(ToRGB(cout, num_style_feat, upsample=True))
            cin = cout

    def stored_noise(self) -> list[Tensor]:
        """The fixed noise maps saved with the checkpoint, one per style conv."""
        return [getattr(self.noises, f"noise{i}") for i in range(self.num_layers)]

    def get_latent(self, z: Tensor) -> Tensor:
        """Mapping network z -> w."""
        return self.style_mlp(z)

    def forward(self, latent: Tensor, conditions: list[Tensor] | None = None, *,
                randomize_noise: bool = False, sft_half: bool = True) -> Tensor:
        """Synthesize an image in [-1, 1] (roughly) from per-layer latents.

        latent: (B, num_latent, C) or (B, C) (then shared by all layers).
        conditions: optional SFT maps ``[scale_8, shift_8, scale_16, shift_16, ...]`` (GFP-GAN,
            Eq. 5 of the paper: F = F * scale + shift), applied after the first (up-sampling)
            conv of each resolution; with ``sft_half`` only to the second half of the channels.
        randomize_noise: draw new noise per call (official GFP-GAN default) instead of using
            the stored noise maps (deterministic, hiface default).
        """
        if latent.dim() == 2:
            latent = latent[:, None].expand(-1, self.num_latent, -1)
        noise: list[Tensor | None] = [None] * self.num_layers if randomize_noise else self.stored_noise()
        conditions = conditions or []

        out = self.constant_input(latent.shape[0])
        out = self.style_conv1(out, latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        for j, to_rgb in enumerate(self.to_rgbs):
            i = 2 * j + 1
            out = self.style_convs[2 * j](out, latent[:, i], noise[i])
            if 2 * j + 1 < len(conditions):
                out = apply_sft(out, conditions[2 * j], conditions[2 * j + 1], half=sft_half)
            out = self.style_convs[2 * j + 1](out, latent[:, i + 1], noise[i + 1])
            skip = to_rgb(out, latent[:, i + 2], skip)
        return skip


def apply_sft(feat: Tensor, scale: Tensor, shift: Tensor, *, half: bool = True) -> Tensor:
    """Spatial feature transform ``feat * scale + shift`` (GFP-GAN Eq. 5); with ``half`` only
    the second half of the channels is modulated and the first half passes unchanged."""
    if not half:
        return feat * scale + shift
    c = feat.shape[1] // 2
    return torch.cat([feat[:, :c], torch.addcmul(shift, feat[:, c:], scale)], dim=1)
