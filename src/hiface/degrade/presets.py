"""Named degradation presets with their exact ranges (all sampling uniform).

HiFaceGAN (Yang et al., ACM MM 2020, §4.1 "Face Renovation" tasks; ranges as in the authors'
``degrade.py``, which used imgaug):

==================  ==========================================================================
hifacegan-sr        scale factor U[1/8, 1/4], bicubic down and back up
hifacegan-blur      one of: motion blur, length integer U[10, 20] px, angle U[0, 360);
                    Gaussian blur σ U[3, 8]
hifacegan-noise     one of: Gaussian σ U[20, 40] per channel; Laplace scale U[20, 40] per
                    channel; Poisson λ U[15, 30] per channel (0–255 scale)
hifacegan-jpeg      quality integer U[15, 50]  (imgaug compression 50–85)
hifacegan-mosaic16  16× mosaic: area-average to 1/16, nearest-neighbour back up
hifacegan-fr        face renovation, the paper's main task: blur, noise, JPEG and downsample —
                    all four, in a random order per image, each with the ranges above
==================  ==========================================================================

GFP-GAN (``train_gfpgan_v1.yml`` / BasicSR ``FFHQDegradationDataset``) and CodeFormer
(``CodeFormer_stage2.yml``, ``FFHQBlindDataset``): mixed iso/aniso Gaussian kernel (size 41) →
bilinear down by factor → Gaussian noise → JPEG → bilinear back to size [→ colour jitter → gray].

==========  ===========  =============  ============  ===========  =================  =========
preset      kernel σ     down factor    noise σ       JPEG q       colour jitter      gray
==========  ===========  =============  ============  ===========  =================  =========
gfpgan      U[0.1, 10]   U[0.8, 8]      U[0, 20]      U[60, 100]   p=0.3, ±20/255     p=0.01
codeformer  U[1, 15]     U[4, 30]       U[0, 20]      U[30, 80]    — (not in config)  — (idem)
==========  ===========  =============  ============  ===========  =================  =========
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .pipeline import (
    JPEG,
    ColorJitter,
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
)

__all__ = ["Preset", "PRESETS", "get_preset", "list_presets", "describe_preset"]


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    source: str
    pipeline: Step

    def describe(self) -> list[str]:
        return self.pipeline.describe()

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "summary": self.summary, "source": self.source,
                "pipeline": self.pipeline.spec()}


# --- HiFaceGAN single-degradation tasks (§4.1) -------------------------------------------------

def hifacegan_sr() -> Step:
    """Scale factor U[1/8, 1/4]; bicubic down and back up."""
    return Downsample(scale=Range(1 / 8, 1 / 4), interpolation="bicubic", up_interpolation="bicubic")


def hifacegan_blur() -> Step:
    """One of: motion blur (length U[10, 20] px, random angle) or Gaussian blur σ U[3, 8]."""
    return OneOf([MotionBlur(length=Range(10, 20, integer=True, unit="px"), angle=Range(0.0, 360.0, unit="deg")),
                  GaussianBlur(sigma=Range(3.0, 8.0, unit="px"))])


def hifacegan_noise() -> Step:
    """One of: Gaussian σ U[20, 40], Laplace scale U[20, 40], Poisson λ U[15, 30]; per channel."""
    return OneOf([GaussianNoise(sigma=Range(20.0, 40.0), per_channel=True),
                  LaplaceNoise(scale=Range(20.0, 40.0), per_channel=True),
                  PoissonNoise(lam=Range(15.0, 30.0), per_channel=True)])


def hifacegan_jpeg() -> Step:
    """JPEG quality integer U[15, 50]."""
    return JPEG(quality=Range(15, 50, integer=True))


def hifacegan_mosaic16() -> Step:
    """16× mosaic."""
    return Mosaic(block=16)


def hifacegan_fr() -> Step:
    """Face renovation (the paper's main task): blur, noise, JPEG and downsample — all four, in a
    random order per image, each with the single-task ranges above."""
    return Sequential([hifacegan_blur(), hifacegan_noise(), hifacegan_jpeg(), hifacegan_sr()],
                      random_order=True)


# --- GFP-GAN / CodeFormer family ----------------------------------------------------------------

def blind_face(sigma: tuple[float, float], factor: tuple[float, float], noise: tuple[float, float],
               quality: tuple[int, int], *, jitter_prob: float = 0.0, jitter_shift: float = 20.0,
               gray_prob: float = 0.0, kernel_size: int = 41) -> Step:
    """BasicSR ``FFHQDegradationDataset`` order: kernel blur → bilinear down → Gaussian noise →
    JPEG → bilinear back to size → colour jitter (prob) → grayscale (prob)."""
    steps: list[Step] = [
        KernelBlur(size=kernel_size, kernel_list=("iso", "aniso"), kernel_prob=(0.5, 0.5),
                   sigma=Range(*sigma, unit="px"), rotation=Range(-math.pi, math.pi, unit="rad")),
        Downsample(factor=Range(*factor), interpolation="bilinear", up_interpolation=None),
        GaussianNoise(sigma=Range(*noise), per_channel=True),
        JPEG(quality=Range(*quality, integer=True)),
        ResizeBack(interpolation="bilinear"),
    ]
    if jitter_prob > 0:
        steps.append(ColorJitter(shift=jitter_shift, prob=jitter_prob))
    if gray_prob > 0:
        steps.append(Grayscale(prob=gray_prob))
    return Sequential(steps)


def gfpgan() -> Step:
    return blind_face((0.1, 10.0), (0.8, 8.0), (0.0, 20.0), (60, 100),
                      jitter_prob=0.3, jitter_shift=20.0, gray_prob=0.01)


def codeformer() -> Step:
    return blind_face((1.0, 15.0), (4.0, 30.0), (0.0, 20.0), (30, 80))


def none() -> Step:
    """No damage at all: the clean image (no-harm checks of restorers)."""
    return Sequential([])


def mild() -> Step:
    """Light, everyday damage: Gaussian blur σ U[0.3, 1.5], Gaussian noise σ U[0, 6], JPEG U[60, 95]."""
    return Sequential([GaussianBlur(sigma=Range(0.3, 1.5, unit="px")), GaussianNoise(sigma=Range(0.0, 6.0), per_channel=True),
                       JPEG(quality=Range(60, 95, integer=True))])


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("hifacegan-sr", "super-resolution: 4-8x bicubic down and back up",
           "HiFaceGAN §4.1 (degrade.py get_down)", hifacegan_sr()),
    Preset("hifacegan-blur", "motion or Gaussian blur", "HiFaceGAN §4.1 (get_blur)", hifacegan_blur()),
    Preset("hifacegan-noise", "Gaussian, Laplace or Poisson noise", "HiFaceGAN §4.1 (get_noise)",
           hifacegan_noise()),
    Preset("hifacegan-jpeg", "JPEG compression", "HiFaceGAN §4.1 (get_jpeg)", hifacegan_jpeg()),
    Preset("hifacegan-mosaic16", "16x mosaic (pixelation)", "HiFaceGAN §4.1 (16x mosaic task)",
           hifacegan_mosaic16()),
    Preset("hifacegan-fr", "face renovation: blur + noise + JPEG + downsample, random order",
           "HiFaceGAN §4.1 (get_full, the main task)", hifacegan_fr()),
    Preset("gfpgan", "GFP-GAN training degradation", "GFP-GAN train_gfpgan_v1.yml", gfpgan()),
    Preset("codeformer", "CodeFormer stage-2 training degradation", "CodeFormer_stage2.yml", codeformer()),
    Preset("none", "no damage: the clean image (no-harm checks)", "hiface", none()),
    Preset("mild", "light damage: slight blur, weak noise, high-quality JPEG", "hiface", mild()),
]}


def get_preset(name: str | Preset | Step) -> Preset:
    """Look up a preset by name (a Preset or a bare Step passes through, wrapped)."""
    if isinstance(name, Preset):
        return name
    if isinstance(name, Step):
        return Preset("custom", "custom pipeline", "user", name)
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown degradation preset {name!r}; choose from: {', '.join(PRESETS)}") from None


def list_presets() -> list[str]:
    return list(PRESETS)


def describe_preset(name: str) -> str:
    """Multi-line text: name, summary, source, and the steps with their exact ranges."""
    p = get_preset(name)
    lines = [f"{p.name}: {p.summary}", f"  source: {p.source}"]
    lines += ["  " + x for x in p.describe()]
    return "\n".join(lines)
