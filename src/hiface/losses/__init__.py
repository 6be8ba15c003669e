"""Training losses.

HiFaceGAN's objective (§3.4): ``L_G = gan_loss(D(fake), True) + 10·feature_matching_loss +
10·PerceptualLoss``, with the least-squares GAN loss and the multi-scale discriminator of
:mod:`hiface.archs.discriminator`; ``L_D = gan_loss(D(fake), False) + gan_loss(D(real), True)``.
Optional, not in the paper: :class:`IdentityLoss`, the FED metric's dlib embedding distance.
"""
from .gan import GAN_MODES, LAMBDA_FEAT, GANLoss, feature_matching_loss, gan_loss
from .identity import IdentityLoss
from .perceptual import LAMBDA_PERCEPTUAL, LAYER_WEIGHTS, PerceptualLoss

__all__ = ["gan_loss", "IdentityLoss", "GANLoss", "feature_matching_loss", "PerceptualLoss", "GAN_MODES",
           "LAMBDA_FEAT", "LAMBDA_PERCEPTUAL", "LAYER_WEIGHTS"]
