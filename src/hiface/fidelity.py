"""``--fidelity auto``: how much of the restored face to use, per face.

The no-harm contract: the pipeline returns ``alpha * R + (1 - alpha) * X`` for an aligned input
face ``X`` and its restoration ``R``, with ``alpha`` in [0, 1] chosen per face. For a known clean
face ``Y`` the best weight has a closed form (least squares along the line X -> R)::

    alpha* = clip(<R - X, Y - X> / |R - X|^2, 0, 1)

:class:`AutoFidelity` predicts ``alpha*`` from what can be measured without ``Y``: band energies
(a Laplacian pyramid) of the input, of the restoration and of the change ``R - X``, and a robust
noise estimate of the input. A tiny MLP (``weights/fidelity-auto.json``, model card
``weights/fidelity-auto.md``) was fitted on simulator data (``bench/train_fidelity.py``): UTKFace
train faces damaged with a mix of presets from none to heavy, each face's ``alpha*`` computed
exactly, the fit weighted so that its error counts in dB of PSNR lost.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from .errors import WeightsError

__all__ = ["FEATURE_NAMES", "face_features", "optimal_alpha", "smoothstep", "AutoFidelity", "load_auto_fidelity", "blend"]

#: side the features are computed at (the estimator was trained on 256² faces)
FEATURE_SIZE = 256
_SIGMAS = (1.0, 2.0, 4.0, 8.0)
FEATURE_NAMES = tuple(
    [f"log_e{k}_x" for k in range(4)] + [f"log_e{k}_r" for k in range(4)] + [f"log_e{k}_d" for k in range(4)]
    + ["log_noise_x", "log_mse_d", "log_chroma_d"])
_EPS = 1e-8


def _gauss(x, sigma: float):
    import torch
    import torch.nn.functional as F

    r = int(3 * sigma + 0.5)
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum())
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous(), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous(), groups=c)


def _bands(g):
    """Laplacian-pyramid band images (B, 1, H, W) of a gray batch: x - G1, G1 - G2, G2 - G4, G4 - G8."""
    prev, out = g, []
    for s in _SIGMAS:
        b = _gauss(g, s)
        out.append(prev - b)
        prev = b
    return out


def _gray(x):
    return (x[:, 0:1] * 0.299 + x[:, 1:2] * 0.587 + x[:, 2:3] * 0.114)


def face_features(x, r):
    """(B, F) float64 numpy features of input faces ``x`` and restorations ``r``, (B, 3, H, W)
    tensors in [0, 1] (resized to 256² first); see :data:`FEATURE_NAMES`."""
    import torch
    import torch.nn.functional as F

    with torch.inference_mode():
        x = x.float()
        r = r.float().to(x.device)
        if x.shape[-2:] != (FEATURE_SIZE, FEATURE_SIZE):
            x = F.interpolate(x, size=(FEATURE_SIZE,) * 2, mode="bilinear", align_corners=False, antialias=True)
            r = F.interpolate(r, size=(FEATURE_SIZE,) * 2, mode="bilinear", align_corners=False, antialias=True)
        gx, gr = _gray(x), _gray(r)
        feats = []
        bx = _bands(gx)
        for bands in (bx, _bands(gr), _bands(gr - gx)):
            feats += [torch.log(b.pow(2).mean((1, 2, 3)) + _EPS) for b in bands]
        # Donoho's robust noise sigma: median absolute finest band of the input
        feats.append(torch.log(bx[0].abs().flatten(1).median(1).values / 0.6745 + 1e-4))
        d = r - x
        feats.append(torch.log(d.pow(2).mean((1, 2, 3)) + _EPS))
        feats.append(torch.log((d - d.mean(1, keepdim=True)).pow(2).mean((1, 2, 3)) + _EPS))
        return torch.stack(feats, 1).double().cpu().numpy()


def optimal_alpha(x, r, y) -> np.ndarray:
    """Per-face least-squares blend weight alpha* in [0, 1] (needs the clean face ``y``)."""
    d = (r - x).flatten(1).double()
    t = (y - x).flatten(1).double()
    den = (d * d).sum(1).clamp_min(1e-12)
    return ((d * t).sum(1) / den).clamp(0, 1).cpu().numpy()


def blend(x, r, alpha):
    """``alpha * r + (1 - alpha) * x`` with one weight per face (tensor (B,) or sequence)."""
    import torch

    a = torch.as_tensor(np.asarray(alpha, dtype=np.float32), device=r.device).view(-1, 1, 1, 1)
    return x.to(r.device, r.dtype) + a * (r - x.to(r.device, r.dtype))


def smoothstep(t):
    """3t² − 2t³ on t in [0, 1] (clip first): 0 and 1 at the ends, flat at both."""
    return t * t * (3 - 2 * t)


class AutoFidelity:
    """A tiny MLP from :func:`face_features` to the blend weight; numpy inference."""

    def __init__(self, params: dict):
        self.mean = np.asarray(params["mean"], dtype=np.float64)
        self.std = np.asarray(params["std"], dtype=np.float64)
        self.layers = [(np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)) for W, b in params["layers"]]
        self.features = tuple(params["features"])
        if self.features != FEATURE_NAMES:
            raise ValueError("fidelity estimator file was made for other features")
        #: (lo, hi): weight = smoothstep((severity - lo) / (hi - lo)), see :meth:`weight`
        self.curve = tuple(float(v) for v in params.get("curve", (0.0, 1.0)))
        self.meta = {k: v for k, v in params.items() if k not in ("mean", "std", "layers")}

    def weight(self, severity: np.ndarray) -> np.ndarray:
        """Blend weight from the estimated PSNR-optimal weight (the *severity*).

        The least-squares weight under-uses restoration perceptually (the perception-distortion
        trade-off, Blau & Michaeli, CVPR 2018: the MSE-optimal blend of a noisy input and a clean
        estimate keeps a share of the noise), so weights are stretched by a fixed monotone curve:
        0 below ``lo`` (faces that look undamaged stay exactly as they came), 1 above ``hi``."""
        lo, hi = self.curve
        t = np.clip((np.asarray(severity, dtype=np.float64) - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
        return smoothstep(t) if (lo, hi) != (0.0, 1.0) else t

    def predict_features(self, f: np.ndarray) -> np.ndarray:
        h = (np.asarray(f, dtype=np.float64) - self.mean) / self.std
        for i, (W, b) in enumerate(self.layers):
            h = h @ W.T + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return 1.0 / (1.0 + np.exp(-h[:, 0]))

    def severity(self, x, r) -> np.ndarray:
        """Estimated PSNR-optimal blend weights (B,) in [0, 1] of input faces ``x`` and restorations ``r``."""
        return self.predict_features(face_features(x, r))

    def __call__(self, x, r) -> np.ndarray:
        """Blend weights (B,) in [0, 1] for input faces ``x`` and restorations ``r``."""
        return self.weight(self.severity(x, r))


DEFAULT_FILE = Path(__file__).parent / "weights" / "fidelity-auto.json"


@functools.lru_cache(maxsize=4)
def load_auto_fidelity(path: str | None = None) -> AutoFidelity:
    p = Path(path) if path else DEFAULT_FILE
    try:
        return AutoFidelity(json.loads(p.read_text()))
    except (OSError, ValueError, KeyError) as e:
        raise WeightsError(f"cannot read the --fidelity auto estimator {p}: {e}") from None
