"""Evaluation metrics (HiFaceGAN §4: PSNR, SSIM, MS-SSIM, NIQE, FED, LLE, LPIPS, FID) and
clearly labelled offline proxies.

Modules, one per family (imported lazily; this package imports nothing heavy):

- ``psnr_ssim``  PSNR, SSIM, MS-SSIM on tensors in [0, 1], RGB or Y channel, border crop
- ``niqe``       NIQE, MATLAB port as in BasicSR; pristine model read from an installed package
- ``face``       FED and LLE with dlib (embedding / 68 landmarks)
- ``lpips``      LPIPS (AlexNet + v0.1 heads) in plain torch
- ``fid``        Fréchet distance and pytorch-fid's Inception-v3 in plain torch
- ``proxies``    NON-STANDARD MobileNetV2 feature distance and Fréchet distance
- ``registry``   names, directions (↑/↓), reference types
- ``evaluator``  the scoring engine used by ``hiface evaluate`` / ``hiface benchmark``

Example::

    from hiface.metrics import psnr, ssim
    psnr(restored, gt, y_channel=True, crop_border=4)   # (B,) tensor, dB
"""
from __future__ import annotations

import importlib

__all__ = ["psnr", "ssim", "ms_ssim", "rgb_to_y", "fed", "lle", "face_pair_scores",
           "frechet_distance", "load_lpips", "mnv2_dist", "METRICS", "parse_metrics"]

_WHERE = {
    "psnr": "psnr_ssim", "ssim": "psnr_ssim", "ms_ssim": "psnr_ssim", "rgb_to_y": "psnr_ssim",
    "fed": "face", "lle": "face", "face_pair_scores": "face",
    "frechet_distance": "fid", "load_lpips": "lpips", "mnv2_dist": "proxies",
    "METRICS": "registry", "parse_metrics": "registry",
}


def __getattr__(name: str):  # PEP 562: lazy
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'hiface.metrics' has no attribute {name!r}")
