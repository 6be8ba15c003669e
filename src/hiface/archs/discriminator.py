"""Conditional multi-scale PatchGAN discriminator (pix2pixHD / SPADE, as used by HiFaceGAN).

Each scale is an :class:`NLayerDiscriminator` on ``concat(LQ, image)`` (6 channels); scale
``k+1`` sees the input average-pooled (3x3, stride 2, pad 1, ``count_include_pad=False``).
State-dict names follow the official code: ``discriminator_{k}.model{n}...``.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

__all__ = ["NLayerDiscriminator", "MultiscaleDiscriminator"]


class NLayerDiscriminator(nn.Module):
    """PatchGAN: conv4 s2 in->ndf + LReLU(0.2); then (n_layers-1) x [conv4 (stride 2, the last
    stride 1) ->min(2C,512) with spectral norm, no bias -> InstanceNorm -> LReLU(0.2)]; conv4 -> 1.

    ``forward`` returns the output of every group (``n_layers + 1`` tensors); the last is the
    patch prediction (a raw score, no sigmoid). With 4 layers, 6 input channels and 256² input:
    64@129, 128@65, 256@33, 512@34, 1@35 (padding 2, as in the official code).
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 4, spectral: bool = True):
        super().__init__()
        kw, pw = 4, 2
        groups: list[list[nn.Module]] = [[nn.Conv2d(in_channels, ndf, kw, 2, pw), nn.LeakyReLU(0.2, False)]]
        nf = ndf
        for n in range(1, n_layers):
            prev, nf = nf, min(nf * 2, 512)
            conv = nn.Conv2d(prev, nf, kw, 1 if n == n_layers - 1 else 2, pw, bias=False)
            conv = spectral_norm(conv) if spectral else conv
            groups.append([nn.Sequential(conv, nn.InstanceNorm2d(nf, affine=False)), nn.LeakyReLU(0.2, False)])
        groups.append([nn.Conv2d(nf, 1, kw, 1, pw)])
        for n, g in enumerate(groups):
            self.add_module(f"model{n}", nn.Sequential(*g))

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        for m in self.children():
            x = m(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs at successively halved resolutions.

    ``D(torch.cat([lq, img], 1)) -> [[f_1, ..., f_L, pred] for each scale]`` (finest first):
    the intermediate features feed :func:`hiface.losses.feature_matching_loss`, the last entry
    of each list :func:`hiface.losses.gan_loss`. Input images in [0,1] (the generator's range).
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, num_D: int = 2, n_layers: int = 4, spectral: bool = True):
        super().__init__()
        self.num_D = num_D
        for i in range(num_D):
            self.add_module(f"discriminator_{i}", NLayerDiscriminator(in_channels, ndf, n_layers, spectral))

    @staticmethod
    def downsample(x: Tensor) -> Tensor:
        return F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        out = []
        for i, d in enumerate(self.children()):
            if i:
                x = self.downsample(x)
            out.append(d(x))
        return out
