"""VQ autoencoder (VQGAN-style) used by CodeFormer: encoder, codebook and generator.

Names follow ``VQAutoEncoder`` of sczhou/CodeFormer (``encoder.blocks.N``, ``quantize.embedding``,
``generator.blocks.N``) so ``codeformer.pth`` loads strictly. Building blocks: ResBlocks with
GroupNorm(32, eps 1e-6) + swish, a single-head non-local attention block at the attention
resolutions, strided-conv down-sampling with (0, 1, 0, 1) zero padding, nearest up-sampling + conv.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["group_norm", "ResBlock", "AttnBlock", "Downsample", "Upsample", "VectorQuantizer",
           "Encoder", "Generator", "level_channels"]


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels, eps=1e-6, affine=True)


def level_channels(nf: int, ch_mult: tuple[int, ...]) -> list[int]:
    """Feature channels of each resolution level (level i has side ``img_size / 2**i``)."""
    return [nf * m for m in ch_mult]


class ResBlock(nn.Module):
    """GN -> swish -> conv3x3 -> GN -> swish -> conv3x3, plus identity (or 1x1 ``conv_out``)."""

    def __init__(self, in_channels: int, out_channels: int | None = None):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.norm2 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        if in_channels != out_channels:
            self.conv_out = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x_in: Tensor) -> Tensor:
        inplace = not torch.is_grad_enabled()  # the norm outputs are fresh: swish in place at inference
        x = self.conv1(F.silu(self.norm1(x_in), inplace=inplace))
        x = self.conv2(F.silu(self.norm2(x), inplace=inplace))
        if self.in_channels != self.out_channels:
            x_in = self.conv_out(x_in)
        return x + x_in


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with 1x1 q/k/v/proj convs and a residual."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.in_channels = in_channels
        self.norm = group_norm(in_channels)
        self.q = nn.Conv2d(in_channels, in_channels, 1)
        self.k = nn.Conv2d(in_channels, in_channels, 1)
        self.v = nn.Conv2d(in_channels, in_channels, 1)
        self.proj_out = nn.Conv2d(in_channels, in_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm(x)
        b, c, hh, ww = h.shape
        q, k, v = (m(h).flatten(2).transpose(1, 2)[:, None] for m in (self.q, self.k, self.v))  # (B,1,HW,C)
        a = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(C)) v
        return x + self.proj_out(a[:, 0].transpose(1, 2).reshape(b, c, hh, ww))


class Downsample(nn.Module):
    """Pad right/bottom by one, then a stride-2 3x3 conv."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 3, 2, 0)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest x2 then a 3x3 conv."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class VectorQuantizer(nn.Module):
    """Codebook of ``codebook_size`` vectors of size ``emb_dim`` (only the lookup is needed here)."""

    def __init__(self, codebook_size: int = 1024, emb_dim: int = 256):
        super().__init__()
        self.codebook_size, self.emb_dim = codebook_size, emb_dim
        self.embedding = nn.Embedding(codebook_size, emb_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / codebook_size, 1.0 / codebook_size)

    def lookup(self, indices: Tensor, hw: tuple[int, int]) -> Tensor:
        """Code indices (B, H*W) -> quantized features (B, emb_dim, H, W)."""
        z = F.embedding(indices, self.embedding.weight)  # (B, HW, C)
        return z.transpose(1, 2).reshape(indices.shape[0], self.emb_dim, *hw)

    def nearest(self, z: Tensor) -> Tensor:
        """Indices (B, H*W) of the nearest codes to features z (B, C, H, W) (VQGAN quantizer)."""
        zf = z.flatten(2).transpose(1, 2)  # (B, HW, C)
        e = self.embedding.weight
        d = zf.square().sum(-1, keepdim=True) + e.square().sum(1) - 2 * zf @ e.t()
        return d.argmin(-1)


class Encoder(nn.Module):
    """conv -> per level: ``num_res_blocks`` ResBlocks (+ attn at attention resolutions),
    stride-2 down-sampling between levels -> Res/Attn/Res -> GN -> conv to ``emb_dim``.

    ``level_outputs[i]`` is the index of the block whose output is level i's last ResBlock
    output (where CodeFormer taps the encoder features).
    """

    def __init__(self, in_channels: int, nf: int, emb_dim: int, ch_mult: tuple[int, ...],
                 num_res_blocks: int, resolution: int, attn_resolutions: tuple[int, ...]):
        super().__init__()
        chs = level_channels(nf, ch_mult)
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, nf, 3, 1, 1)]
        self.level_outputs: list[int] = []
        res, cin = resolution, nf
        for i, cout in enumerate(chs):
            for _ in range(num_res_blocks):
                blocks.append(ResBlock(cin, cout))
                cin = cout
                last_res = len(blocks) - 1
                if res in attn_resolutions:
                    blocks.append(AttnBlock(cin))
            self.level_outputs.append(last_res)
            if i != len(chs) - 1:
                blocks.append(Downsample(cin))
                res //= 2
        blocks += [ResBlock(cin, cin), AttnBlock(cin), ResBlock(cin, cin), group_norm(cin),
                   nn.Conv2d(cin, emb_dim, 3, 1, 1)]
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class Generator(nn.Module):
    """Decoder mirroring :class:`Encoder`: conv -> Res/Attn/Res -> per level (coarse to fine):
    ResBlocks (+ attn), nearest up-sampling -> GN -> conv to RGB.

    ``level_inputs[i]`` is the index of the first ResBlock of level i (where CodeFormer fuses
    encoder features, after that block).
    """

    def __init__(self, nf: int, emb_dim: int, ch_mult: tuple[int, ...], num_res_blocks: int,
                 resolution: int, attn_resolutions: tuple[int, ...]):
        super().__init__()
        chs = level_channels(nf, ch_mult)
        cin = chs[-1]
        res = resolution // 2 ** (len(chs) - 1)
        blocks: list[nn.Module] = [nn.Conv2d(emb_dim, cin, 3, 1, 1), ResBlock(cin, cin), AttnBlock(cin),
                                   ResBlock(cin, cin)]
        self.level_inputs: dict[int, int] = {}
        for i in reversed(range(len(chs))):
            for r in range(num_res_blocks):
                blocks.append(ResBlock(cin, chs[i]))
                cin = chs[i]
                if r == 0:
                    self.level_inputs[i] = len(blocks) - 1
                if res in attn_resolutions:
                    blocks.append(AttnBlock(cin))
            if i != 0:
                blocks.append(Upsample(cin))
                res *= 2
        blocks += [group_norm(cin), nn.Conv2d(cin, 3, 3, 1, 1)]
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return x
