"""Adversarial and feature-matching losses (pix2pixHD / SPADE conventions, as in HiFaceGAN).

Discriminator outputs may be a tensor, a list of tensors (one per scale) or a list of lists
(per scale, intermediate features with the prediction last, see
:class:`hiface.archs.discriminator.MultiscaleDiscriminator`); the GAN loss uses the last
entry of each scale and averages over scales.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["gan_loss", "GANLoss", "feature_matching_loss", "GAN_MODES", "LAMBDA_FEAT"]

GAN_MODES = ("lsgan", "hinge", "vanilla", "wgan")
#: weight of the feature-matching loss in HiFaceGAN (official ``lambda_feat``)
LAMBDA_FEAT = 10.0
GanMode = Literal["lsgan", "hinge", "vanilla", "wgan"]


def _single(pred: Tensor, real: bool, mode: str, for_discriminator: bool) -> Tensor:
    if mode == "lsgan":  # least squares (Mao et al.): targets 1 (real) / 0 (fake)
        return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))
    if mode == "vanilla":  # non-saturating BCE on logits
        return F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, 1.0 if real else 0.0))
    if mode == "hinge":
        if not for_discriminator:
            if not real:
                raise ValueError("hinge loss for the generator needs target_is_real=True")
            return -pred.mean()
        return F.relu(1.0 - pred).mean() if real else F.relu(1.0 + pred).mean()
    if mode == "wgan":
        return -pred.mean() if real else pred.mean()
    raise ValueError(f"unknown GAN mode {mode!r}; choose one of {GAN_MODES}")


def gan_loss(pred: Tensor | Sequence, target_is_real: bool, mode: GanMode = "lsgan",
             for_discriminator: bool = True) -> Tensor:
    """Adversarial loss of discriminator output(s) ``pred`` towards real / fake.

    Generator step: ``gan_loss(D(fake), True)``; discriminator step:
    ``gan_loss(D(fake), False) + gan_loss(D(real), True)`` (pass ``for_discriminator=False`` in
    the generator step for hinge). ``"lsgan"`` (HiFaceGAN's choice): mean squared error to 1/0.
    Multi-scale outputs: the mean over scales of each scale's loss (last entry per scale).
    """
    if isinstance(pred, Tensor):
        return _single(pred, target_is_real, mode, for_discriminator)
    preds = [p[-1] if isinstance(p, (list, tuple)) else p for p in pred]
    if not preds:
        raise ValueError("empty discriminator output")
    return sum(_single(p, target_is_real, mode, for_discriminator) for p in preds) / len(preds)  # type: ignore[return-value]


class GANLoss(nn.Module):
    """Module wrapper of :func:`gan_loss`: ``GANLoss("lsgan")(pred, target_is_real, for_discriminator=True)``."""

    def __init__(self, mode: GanMode = "lsgan"):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"unknown GAN mode {mode!r}; choose one of {GAN_MODES}")
        self.mode = mode

    def forward(self, pred, target_is_real: bool, for_discriminator: bool = True) -> Tensor:
        return gan_loss(pred, target_is_real, self.mode, for_discriminator)


def feature_matching_loss(fake_feats: Sequence[Sequence[Tensor]], real_feats: Sequence[Sequence[Tensor]],
                          weight: float = 1.0) -> Tensor:
    """Multi-scale discriminator feature matching (pix2pixHD): ``weight / num_D · Σ_scales
    Σ_layers L1(fake_l, real_l.detach())`` over every intermediate feature (the final prediction
    of each scale excluded). HiFaceGAN uses ``weight = LAMBDA_FEAT = 10``.
    """
    if len(fake_feats) != len(real_feats) or not fake_feats:
        raise ValueError(f"need the same non-zero number of scales, got {len(fake_feats)} and {len(real_feats)}")
    total = fake_feats[0][0].new_zeros(())
    for fs, rs in zip(fake_feats, real_feats):
        if len(fs) != len(rs):
            raise ValueError("fake and real feature lists differ in length")
        for f, r in zip(fs[:-1], rs[:-1]):
            total = total + F.l1_loss(f, r.detach())
    return total * (weight / len(fake_feats))
