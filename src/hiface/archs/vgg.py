"""VGG19 (Simonyan & Zisserman, 2015) feature extractor in plain PyTorch with torchvision's
layout (``features.N``, ``classifier.N``), so torchvision's ``vgg19-dcbb9e9d.pth`` loads strictly.

The ImageNet weights are not reachable offline on the development machines; users pass the
file (``PerceptualLoss(weights=...)``), set ``HIFACE_VGG19``, or copy it into the hiface cache
(``$HIFACE_CACHE/vgg19-dcbb9e9d.pth``).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn

from .. import weights as W
from ..assets import ASSETS, locate
from ..errors import MissingAssetError

__all__ = ["VGG19", "load_vgg19", "find_vgg19_weights", "VGG19_FILE", "VGG19_URL", "VGG19_LAYERS"]

VGG19_FILE = ASSETS["vgg19"].filename   # vgg19-dcbb9e9d.pth
VGG19_URL = ASSETS["vgg19"].url
#: outputs of ``features[i]`` = relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (the pix2pixHD/SPADE loss layers)
VGG19_LAYERS = (1, 6, 11, 20, 29)
_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


class VGG19(nn.Module):
    """VGG19 (no batch norm). ``features`` only unless ``classifier=True``."""

    def __init__(self, classifier: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in _CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                c = int(v)
        self.features = nn.Sequential(*layers)
        self.classifier = (nn.Sequential(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                                         nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 1000))
                           if classifier else None)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        if self.classifier is None:
            return x
        return self.classifier(F.adaptive_avg_pool2d(x, 7).flatten(1))

    def extract(self, x: Tensor, layers: Sequence[int] = VGG19_LAYERS) -> list[Tensor]:
        """Outputs of ``features[i]`` for ``i`` in ``layers``; input ImageNet-normalised."""
        want = set(layers)
        out = {}
        for i, m in enumerate(self.features):
            x = m(x)
            if i in want:
                out[i] = x
            if i >= max(want):
                break
        return [out[i] for i in layers]


def find_vgg19_weights(path: str | os.PathLike | None = None) -> Path | None:
    """``path`` if given (must exist), else the file :func:`hiface.assets.locate` finds
    (``$HIFACE_VGG19``, the hiface cache, torch hub's folder), else None."""
    if path is not None:
        return locate("vgg19", path)
    try:
        return locate("vgg19")
    except MissingAssetError:
        return None


def load_vgg19(path: str | os.PathLike, classifier: bool = False) -> VGG19:
    """VGG19 in eval mode with torchvision's ImageNet weights from ``path`` (.pth or .safetensors)."""
    net = VGG19(classifier=classifier)
    sd = W.load_state_dict_file(path)
    if not classifier:
        sd = {k: v for k, v in sd.items() if not k.startswith("classifier.")}
    W.load_into(net, sd, source=str(path))
    return net.eval()
