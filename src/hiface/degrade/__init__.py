"""Degradation simulator: pure ops, recorded random pipelines and the named presets.

>>> import numpy as np
>>> from hiface.degrade import degrade
>>> img = np.zeros((64, 64, 3), np.uint8)
>>> res = degrade(img, "hifacegan-fr", seed=0)
>>> res.image.shape, len(res.ops)   # blur, noise, JPEG and downsample in a random order
((64, 64, 3), 4)

* :mod:`hiface.degrade.ops`: the pure operators (blur, motion blur, mixed kernels, resize,
  noise, JPEG, mosaic, colour jitter, grayscale).
* :mod:`hiface.degrade.pipeline`: steps that sample their parameters from an explicit
  ``numpy.random.Generator`` and record them (:class:`Degradation`); :func:`replay` regenerates
  an output from its records.
* :mod:`hiface.degrade.presets`: ``hifacegan-{sr,blur,noise,jpeg,mosaic16,fr}``, ``gfpgan``,
  ``codeformer`` with their exact ranges.
"""
from __future__ import annotations

import hashlib

import numpy as np

from . import ops
from .ops import (
    color_jitter,
    downsample,
    gaussian_blur,
    gaussian_noise,
    grayscale,
    jpeg,
    laplace_noise,
    mixed_kernel,
    mosaic,
    motion_blur,
    motion_kernel,
    poisson_noise,
    random_mixed_kernels,
    resize,
    square_resize,
)
from .pipeline import (
    JPEG,
    ColorJitter,
    Degradation,
    DegradeResult,
    Downsample,
    GaussianBlur,
    GaussianNoise,
    Grayscale,
    KernelBlur,
    LaplaceNoise,
    Mosaic,
    MotionBlur,
    OneOf,
    PoissonNoise,
    Range,
    ResizeBack,
    Sequential,
    Step,
    apply_record,
    replay,
    run_pipeline,
)
from .presets import PRESETS, Preset, describe_preset, get_preset, list_presets

__all__ = [
    "degrade", "image_seed", "benchmark_pair", "replay", "apply_record", "run_pipeline", "ops",
    "Degradation", "DegradeResult", "Preset", "PRESETS", "get_preset", "list_presets",
    "describe_preset", "Step", "Range", "Sequential", "OneOf", "GaussianBlur", "MotionBlur",
    "KernelBlur", "Downsample", "ResizeBack", "GaussianNoise", "LaplaceNoise", "PoissonNoise",
    "JPEG", "Mosaic", "ColorJitter", "Grayscale",
    "gaussian_blur", "motion_blur", "motion_kernel", "mixed_kernel", "random_mixed_kernels",
    "resize", "downsample", "gaussian_noise", "laplace_noise", "poisson_noise", "jpeg", "mosaic",
    "color_jitter", "grayscale",
]


def degrade(img: np.ndarray, preset: str | Preset | Step = "hifacegan-fr", *,
            seed: int | None = None, rng: np.random.Generator | None = None,
            lr: bool = False) -> DegradeResult:
    """Degrade ``img`` (uint8, or float in [0, 1]) with a preset or pipeline.

    Give ``seed`` (→ ``np.random.default_rng(seed)``) or an explicit ``rng``. The same seed gives
    bit-identical output. The output has the input's dtype and size, unless ``lr`` asks for the
    low-resolution image (the downsample/mosaic steps then do not resize back).
    """
    if rng is None:
        if seed is None:
            raise ValueError("degrade: pass seed= or rng= (results must be reproducible)")
        rng = np.random.default_rng(seed)
    res = run_pipeline(img, get_preset(preset).pipeline, rng, lr=lr)
    res.seed = seed
    return res


def image_seed(seed: int, name: str) -> int:
    """Per-image seed from a run seed and the image's (relative) name: stable when other files
    are added or removed. 63-bit, from SHA-256 of ``"{seed}:{name}"``."""
    h = hashlib.sha256(f"{int(seed)}:{name}".encode()).digest()
    return int.from_bytes(h[:8], "little") & (2 ** 63 - 1)


def benchmark_pair(img: np.ndarray, name: str, preset: str | Preset, *, seed: int,
                   size: int | None = None) -> tuple[np.ndarray, DegradeResult]:
    """One (clean, degraded) pair of the ``hiface benchmark`` protocol: the clean image is the
    centre square resized to ``size``² (unchanged when ``size`` is None), degraded with the
    per-image seed :func:`image_seed` ``(seed, name)`` (``name``: the file name)."""
    clean = square_resize(img, size) if size else img
    return clean, degrade(clean, preset, seed=image_seed(seed, name))
