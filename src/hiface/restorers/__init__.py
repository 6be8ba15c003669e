"""Restorers: each network of :mod:`hiface.archs` behind the one :class:`Restorer` interface
(aligned face tensor in, restored face out; native size and alignment template from the
registry). Build them by name with :func:`hiface.create_restorer`.

- ``base``        :class:`Restorer` (resizing, batching, per-face extra inputs/outputs),
  ``IdentityRestorer``, ``use_channels_last``
- ``hifacegan``   every HiFaceGAN generator (paper, released LIP-SPADE, shipped lite)
- ``gfpgan``      GFP-GAN v1.3 / v1.4
- ``codeformer``  CodeFormer (fidelity weight w)
- ``gfrnet``      GFRNet, guided by a reference face (extra input ``guide``, output ``warped``)
"""
from .base import IdentityRestorer, Restorer, use_channels_last

__all__ = ["Restorer", "IdentityRestorer", "use_channels_last"]
