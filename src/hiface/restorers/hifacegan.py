"""HiFaceGAN generators behind the common interface (see :mod:`hiface.archs.hifacegan`)."""
from __future__ import annotations

from ..archs.replenishment import SPADE, set_inference_norm
from .base import Restorer

__all__ = ["HiFaceGANRestorer"]


class HiFaceGANRestorer(Restorer):
    """Restorer for every HiFaceGAN generator: [0,1] RGB in, network output clamped to [0,1]
    (the official convention, see the module docstring). Extra ``restore`` keyword
    ``inference_norm`` ("instance", "batch", "running") overrides the SPADE statistics."""

    def forward_native(self, x, fidelity: float | None = None, inference_norm: str | None = None, **kwargs):
        net = self.net
        if inference_norm is None:
            y = net(x)
        else:
            spades = [m for m in net.modules() if isinstance(m, SPADE)]
            before = [m.inference_norm for m in spades]
            set_inference_norm(net, inference_norm)  # type: ignore[arg-type]
            try:
                y = net(x)
            finally:
                for m, mode in zip(spades, before):
                    m.inference_norm = mode
        return y.clamp(0.0, 1.0)
