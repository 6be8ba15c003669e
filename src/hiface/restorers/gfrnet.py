"""GFRNet (guided face restoration) behind the common interface (see :mod:`hiface.archs.gfrnet`)."""
from __future__ import annotations

import torch

from ..errors import HifaceError
from .base import Restorer, faces_to_tensor

__all__ = ["GFRNetRestorer"]


class GFRNetRestorer(Restorer):
    """Guided restorer: ``restore(faces, guide=reference)``.

    ``guide`` is the aligned reference face (B,3,S,S) or (3,S,S) in [0,1], aligned with the
    same template as ``faces`` (one guide is broadcast over a batch of faces). It travels as
    the per-face extra input ``"guide"`` of :meth:`Restorer.restore`, so device handling,
    resizing, batching and clamping are the base class's. With ``return_warped=True`` the
    result is ``(restored, warped_reference)``, both at the faces' size: the warped
    reference shows what the model took from the guide.
    """

    @property
    def native_size(self) -> int:
        """The network's own input size (arch overrides such as ``size=128`` win over the config)."""
        return int(getattr(self.net, "size", self.config.native_size))

    def restore(self, faces, fidelity: float | None = None, batch_size: int | None = None, *, guide=None,
                return_warped: bool = False, **kwargs):
        if guide is None:
            guide = (kwargs.pop("extras", None) or {}).get("guide")
        if guide is None:
            raise HifaceError(f"model {self.name!r} is a guided restorer: it needs a reference photo of the "
                              "same person (guide=...)")
        if not torch.is_tensor(guide):  # a numpy image (H, W, 3) works too

            guide = faces_to_tensor(guide)[0]
        if guide.dim() not in (3, 4) or guide.shape[-3] != 3:
            raise HifaceError(f"expected a guide of shape (B, 3, H, W) or (3, H, W), got {tuple(guide.shape)}")
        y, ex = Restorer.restore(self, faces, fidelity, batch_size, extras={"guide": guide}, return_extras=True,
                                 **kwargs)
        return (y, ex["warped"]) if return_warped else y

    __call__ = restore

    def forward_native(self, x, fidelity=None, *, extras=None, **kwargs):
        restored, warped, _ = self.net(x, extras["guide"].to(x.device, x.dtype))
        return restored, {"warped": warped}
