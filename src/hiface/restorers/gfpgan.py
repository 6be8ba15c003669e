"""GFP-GAN v1.3/v1.4 behind the common interface (see :mod:`hiface.archs.gfpgan`)."""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import HifaceError
from .base import Restorer, use_channels_last

__all__ = ["GFPGANRestorer"]


class GFPGANRestorer(Restorer):
    """GFP-GAN behind the common interface: RGB [0, 1] in/out at 512².

    The official pipeline converts OpenCV's BGR crops to RGB and normalises with mean = std =
    0.5 before the model, and maps the output back from [-1, 1]; this class does the same on
    RGB tensors. ``fidelity`` blends the result with the input (0 = input, 1 = restored,
    default 1). ``randomize_noise=True`` (keyword of :meth:`restore`) gives the official,
    non-deterministic noise. On CPU the convolutions run in channels-last layout (faster).
    """

    def __init__(self, net, config, device: str = "cpu"):
        super().__init__(net, config, device)
        self.channels_last = self.device.type == "cpu" and self.net is not None
        if self.channels_last:
            use_channels_last(self.net)

    def forward_native(self, x: Tensor, fidelity: float | None = None, randomize_noise: bool | None = None,
                       **kwargs) -> Tensor:
        if kwargs:
            raise HifaceError(f"{self.name} does not take the option(s) {sorted(kwargs)}; "
                              "it takes fidelity and randomize_noise")
        f = 1.0 if fidelity is None else float(fidelity)
        if f <= 0.0:
            return x.clone()
        x_in = x * 2 - 1
        if self.channels_last:
            x_in = x_in.contiguous(memory_format=torch.channels_last)
        y = self.net(x_in, randomize_noise=randomize_noise).contiguous()
        y = y.add_(1).mul_(0.5).clamp_(0, 1)
        return y if f >= 1.0 else torch.lerp(x, y, f)
