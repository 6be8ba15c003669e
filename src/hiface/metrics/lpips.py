"""LPIPS (Zhang et al., CVPR 2018), AlexNet variant with the v0.1 linear heads, in plain torch.

``d(x, y) = sum_l mean_hw( w_l . (f_l(x)/|f_l(x)| - f_l(y)/|f_l(y)|)^2 )`` over the five ReLU
outputs of AlexNet's ``features`` (channels 64, 192, 384, 256, 256), with the input scaling
layer of the reference implementation (``lpips.ScalingLayer``). Lower is better.

Weights:

* linear heads ``lin0..lin4`` — ``lpips/weights/v0.1/alex.pth`` inside the installed ``lpips``
  wheel (located by :mod:`hiface.assets`; the ``lpips`` package itself is never imported);
* AlexNet backbone — torchvision's ImageNet file ``alexnet-owt-7be5be79.pth`` (only its
  ``features.*`` tensors are used). It is *not* shipped by any package reachable here, so it is
  looked up (:func:`hiface.assets.locate`) in: an explicit path, ``$HIFACE_LPIPS_WEIGHTS``,
  ``$HIFACE_CACHE`` (default ``~/.cache/hiface``) and torch hub's ``checkpoints`` folder. When
  absent, LPIPS is reported as "unavailable (weights not found)" — never a made-up value.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor, nn

from .. import weights as W
from ..assets import ASSETS, locate
from ..errors import WeightsError

__all__ = ["AlexNetFeatures", "LPIPS", "lpips_heads_path", "find_alexnet_weights", "load_lpips",
           "ALEXNET_FILE", "ALEXNET_URL"]

ALEXNET_FILE = ASSETS["alexnet"].filename   # alexnet-owt-7be5be79.pth
ALEXNET_URL = ASSETS["alexnet"].url
CHANNELS = (64, 192, 384, 256, 256)
# lpips.pretrained_networks.alexnet slices: ReLU outputs after conv1..conv5
_TAPS = (1, 4, 7, 9, 11)


class AlexNetFeatures(nn.Module):
    """torchvision ``alexnet().features`` (same indices), returning the five ReLU outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=False), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=False), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=False),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=False),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=False), nn.MaxPool2d(3, 2),
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        out = []
        for i, m in enumerate(self.features[: _TAPS[-1] + 1]):
            x = m(x)
            if i in _TAPS:
                out.append(x)
        return out


class _Lin(nn.Module):
    """``lpips.NetLinLayer`` layout: ``model = Sequential(Dropout, Conv1x1(no bias))``."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(c, 1, 1, bias=False))


class LPIPS(nn.Module):
    """LPIPS distance; inputs RGB in [0, 1] (B, 3, H, W); returns (B,)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = AlexNetFeatures()
        for i, c in enumerate(CHANNELS):
            setattr(self, f"lin{i}", _Lin(c))
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        x = ((x * 2 - 1) - self.shift) / self.scale
        y = ((y * 2 - 1) - self.shift) / self.scale
        total = x.new_zeros(x.shape[0])
        for i, (fx, fy) in enumerate(zip(self.net(x), self.net(y))):
            nx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            ny = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            d = getattr(self, f"lin{i}").model((nx - ny) ** 2)
            total = total + d.mean((1, 2, 3))
        return total


def lpips_heads_path(path: str | os.PathLike | None = None) -> Path:
    """``alex.pth`` (v0.1 linear heads) inside the installed ``lpips`` wheel (or ``path``), found by
    :func:`hiface.assets.locate`."""
    return locate("lpips_heads", path)


def find_alexnet_weights(path: str | os.PathLike | None = None) -> Path:
    """Locate the AlexNet backbone file (:func:`hiface.assets.locate`: ``path``,
    ``$HIFACE_LPIPS_WEIGHTS``, the hiface cache, torch hub's folder), or raise MissingAssetError
    ("LPIPS's AlexNet weights not found ...")."""
    return locate("alexnet", path)


def load_lpips(backbone: str | os.PathLike | None = None, *, heads: str | os.PathLike | None = None,
               verify_hash: bool = True) -> LPIPS:
    """LPIPS in eval mode with the AlexNet backbone and v0.1 heads loaded strictly.

    With ``verify_hash`` a file named like torchvision's (``name-<8 hex>.pth``) must have a
    sha256 starting with those 8 hex digits (torch hub's convention)."""
    model = LPIPS()
    asset = ASSETS["alexnet"]
    bpath = locate(asset if verify_hash else replace(asset, hub_digest=False), backbone)
    sd = W.load_state_dict_file(bpath)
    feats = {k: v for k, v in sd.items() if k.startswith("features.")}
    if not feats:  # also accept a bare features state dict ("0.weight", ...)
        feats = {f"features.{k}": v for k, v in sd.items()}
    W.load_into(model.net, feats, source=str(bpath))
    hsd = W.load_state_dict_file(lpips_heads_path(heads))
    missing = [f"lin{i}.model.1.weight" for i in range(5) if f"lin{i}.model.1.weight" not in hsd]
    if missing:
        raise WeightsError(f"LPIPS heads file lacks {missing}")
    for i in range(5):
        getattr(model, f"lin{i}").load_state_dict({"model.1.weight": hsd[f"lin{i}.model.1.weight"]})
    return model.eval()
