"""Non-learned baselines for ``hiface benchmark``, as Restorer-like callables.

Each baseline maps aligned faces to faces of the same size, like :class:`hiface.restorers.Restorer`:
``baseline(x)`` with ``x`` a (B, 3, H, W) or (3, H, W) float tensor in [0, 1], or
``baseline.restore_array(img)`` on an (H, W, 3) uint8 RGB array.

* ``degraded`` — the degraded input itself (the floor every method must beat).
* ``bicubic`` — the degraded input is already at the output size, so "bicubic" means: area
  down-sampling by ``factor`` (default 4; ``cv2.INTER_AREA``, output ``round(H/factor)`` x
  ``round(W/factor)``) followed by bicubic up-sampling back to H x W (``cv2.INTER_CUBIC``, a=-0.75).
  This is the classic interpolation baseline of the super-resolution setting applied to a
  same-size input: it removes noise and JPEG blocking at the cost of detail.
* ``nlmeans`` — OpenCV non-local means (``fastNlMeansDenoisingColored``, h=10, hColor=10,
  template 7, search 21) followed by an unsharp mask ``y + amount * (y - G_sigma * y)`` with
  sigma 1.5 and amount 0.6, clipped to [0, 255].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import HifaceError
from .io import from_tensor, to_tensor

__all__ = ["Baseline", "BASELINES", "get_baseline", "list_baselines", "bicubic_baseline",
           "nlmeans_unsharp"]


def bicubic_baseline(img: np.ndarray, factor: float = 4.0) -> np.ndarray:
    """Area down by ``factor``, bicubic back up to the input size (uint8 RGB in and out)."""
    import cv2

    h, w = img.shape[:2]
    lh, lw = max(1, round(h / factor)), max(1, round(w / factor))
    lr = cv2.resize(img, (lw, lh), interpolation=cv2.INTER_AREA)
    return cv2.resize(lr, (w, h), interpolation=cv2.INTER_CUBIC)


def nlmeans_unsharp(img: np.ndarray, h: float = 10.0, h_color: float = 10.0, template: int = 7,
                    search: int = 21, sigma: float = 1.5, amount: float = 0.6) -> np.ndarray:
    """OpenCV non-local means denoising then unsharp masking (uint8 RGB in and out)."""
    import cv2

    den = cv2.fastNlMeansDenoisingColored(np.ascontiguousarray(img), None, h, h_color, template, search)
    f = den.astype(np.float32)
    blur = cv2.GaussianBlur(f, (0, 0), sigma)
    return np.clip(np.rint(f + amount * (f - blur)), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Baseline:
    """A parameter-free restorer on uint8 arrays, callable on tensors like a Restorer."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    description: str
    native_size: int = 0          # any size
    template: str = "any"

    def restore_array(self, img: np.ndarray) -> np.ndarray:
        a = np.asarray(img)
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise HifaceError(f"baseline {self.name}: expected (H, W, 3) uint8 RGB, got {a.shape} {a.dtype}")
        return self.fn(a)

    def restore(self, faces, fidelity=None, **kwargs):
        """(B, 3, H, W) or (3, H, W) float tensor in [0, 1] → same shape (values on the 1/255 grid)."""
        import torch

        squeeze = faces.dim() == 3
        x = faces[None] if squeeze else faces
        out = torch.stack([to_tensor(self.restore_array(from_tensor(xi))) for xi in x]).to(faces.device)
        return out[0] if squeeze else out

    __call__ = restore


BASELINES: dict[str, Baseline] = {b.name: b for b in (
    Baseline("degraded", lambda a: a.copy(), "the degraded input itself"),
    Baseline("bicubic", bicubic_baseline, "area down x4, bicubic back up (cv2 INTER_AREA / INTER_CUBIC)"),
    Baseline("nlmeans", nlmeans_unsharp,
             "OpenCV fastNlMeansDenoisingColored (h=10, hColor=10, 7/21) + unsharp mask (sigma 1.5, amount 0.6)"),
)}


def list_baselines() -> list[str]:
    return list(BASELINES)


def get_baseline(name: str) -> Baseline:
    try:
        return BASELINES[name]
    except KeyError:
        raise HifaceError(f"unknown baseline {name!r}; choose from: {', '.join(BASELINES)}") from None
