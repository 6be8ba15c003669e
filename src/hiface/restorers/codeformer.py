"""CodeFormer behind the common interface (see :mod:`hiface.archs.codeformer`)."""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import HifaceError
from .base import Restorer, use_channels_last

__all__ = ["CodeFormerRestorer"]


class CodeFormerRestorer(Restorer):
    """CodeFormer behind the common interface: RGB [0, 1] in/out at 512².

    Like the official script (BGR crop -> RGB, normalise with mean = std = 0.5, ``adain=True``)
    on RGB tensors. ``fidelity`` is CodeFormer's w in [0, 1] (default 0.5): 0 = codebook
    prior only (CFT skipped), 1 = most faithful to the input. On CPU the convolutions run in
    channels-last layout (faster).
    """

    def __init__(self, net, config, device: str = "cpu"):
        super().__init__(net, config, device)
        self.channels_last = self.device.type == "cpu" and self.net is not None
        if self.channels_last:
            use_channels_last(self.net)

    def forward_native(self, x: Tensor, fidelity: float | None = None, adain: bool = True, **kwargs) -> Tensor:
        if kwargs:
            raise HifaceError(f"{self.name} does not take the option(s) {sorted(kwargs)}; "
                              "it takes fidelity (w) and adain")
        w = 0.5 if fidelity is None else float(fidelity)
        x_in = x * 2 - 1
        if self.channels_last:
            x_in = x_in.contiguous(memory_format=torch.channels_last)
        y = self.net(x_in, w=w, adain=adain).contiguous()
        return y.add_(1).mul_(0.5).clamp_(0, 1)
