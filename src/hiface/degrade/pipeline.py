"""Composable random degradation pipelines that record what they did.

A *step* samples its parameters from an explicit ``numpy.random.Generator`` and applies the pure op
from :mod:`hiface.degrade.ops`; every applied op is recorded as a :class:`Degradation` (op name +
JSON-serialisable parameters, noise fields included through their own seed). The record list is
enough to regenerate the output bit for bit with :func:`replay`, and is what ``hiface degrade``
writes to its manifest.

Steps: :class:`GaussianBlur`, :class:`MotionBlur`, :class:`KernelBlur`, :class:`Downsample`,
:class:`ResizeBack`, :class:`GaussianNoise`, :class:`LaplaceNoise`, :class:`PoissonNoise`,
:class:`JPEG`, :class:`Mosaic`, :class:`ColorJitter`, :class:`Grayscale`, and the combinators
:class:`OneOf` and :class:`Sequential` (optionally in random order).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import ops

__all__ = [
    "Degradation", "DegradeResult", "Range", "Context", "Step", "GaussianBlur", "MotionBlur",
    "KernelBlur", "Downsample", "ResizeBack", "GaussianNoise", "LaplaceNoise", "PoissonNoise",
    "JPEG", "Mosaic", "ColorJitter", "Grayscale", "OneOf", "Sequential", "apply_record",
    "run_pipeline", "replay",
]


# ----------------------------------------------------------------------------------------------
# records

@dataclass(frozen=True)
class Degradation:
    """One applied op and its sampled parameters (enough to re-apply it exactly)."""

    op: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, **self.params}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Degradation":
        d = dict(d)
        return cls(str(d.pop("op")), d)

    def __str__(self) -> str:
        def fmt(v: Any) -> str:
            if isinstance(v, float):
                return f"{v:.4g}"
            if isinstance(v, (list, tuple)):
                return "[" + ",".join(fmt(x) for x in v) + "]"
            return str(v)

        inner = ", ".join(f"{k}={fmt(v)}" for k, v in self.params.items() if k != "seed")
        return f"{self.op}({inner})"


@dataclass
class DegradeResult:
    """Output of a pipeline: the degraded image (caller's dtype), the ops applied in order, and the
    seed when one was given."""

    image: np.ndarray
    ops: list[Degradation]
    seed: int | None = None

    @property
    def order(self) -> list[str]:
        return [d.op for d in self.ops]


def _seed(rng: np.random.Generator) -> int:
    """A 63-bit seed for an op's own noise generator (recorded, so the noise can be replayed)."""
    return int(rng.integers(0, 2 ** 63 - 1))


def apply_record(img: np.ndarray, rec: Degradation | Mapping[str, Any]) -> np.ndarray:
    """Re-apply one recorded op (float32 [0, 1] or uint8 in, same dtype out)."""
    if not isinstance(rec, Degradation):
        rec = Degradation.from_dict(rec)
    p, op = rec.params, rec.op
    if op == "gaussian_blur":
        return ops.gaussian_blur(img, p["sigma"])
    if op == "motion_blur":
        return ops.motion_blur(img, p["length"], p["angle"])
    if op == "kernel_blur":
        k = ops.mixed_kernel(int(p["size"]), p["kind"], p["sigma_x"], p["sigma_y"],
                             p.get("rotation", 0.0), p.get("beta"))
        return ops.filter2d(img, k)
    if op == "downsample":
        small = ops.resize(img, tuple(p["size"]), p["interpolation"])
        up = p.get("up_interpolation")
        return small if not up else ops.resize(small, img.shape[:2], up)
    if op == "resize":
        return ops.resize(img, tuple(p["size"]), p["interpolation"])
    if op == "gaussian_noise":
        return ops.gaussian_noise(img, p["sigma"], np.random.default_rng(p["seed"]),
                                  per_channel=p.get("per_channel", True))
    if op == "laplace_noise":
        return ops.laplace_noise(img, p["scale"], np.random.default_rng(p["seed"]),
                                 per_channel=p.get("per_channel", True))
    if op == "poisson_noise":
        return ops.poisson_noise(img, p["lam"], np.random.default_rng(p["seed"]),
                                 per_channel=p.get("per_channel", True))
    if op == "jpeg":
        return ops.jpeg(img, p["quality"])
    if op == "mosaic":
        return ops.mosaic(img, int(p.get("block", 16)), up=bool(p.get("up", True)))
    if op == "color_jitter":
        return ops.color_jitter(img, p["shift"])
    if op == "grayscale":
        return ops.grayscale(img)
    raise ValueError(f"unknown degradation op {op!r}")


# ----------------------------------------------------------------------------------------------
# sampling helpers

@dataclass(frozen=True)
class Range:
    """Closed interval sampled uniformly (integers: every value in [lo, hi] equally likely)."""

    lo: float
    hi: float
    integer: bool = False
    unit: str = ""

    def sample(self, rng: np.random.Generator) -> float | int:
        if self.integer:
            return int(rng.integers(int(self.lo), int(self.hi) + 1))
        return float(rng.uniform(self.lo, self.hi))

    def contains(self, v: float) -> bool:
        return self.lo <= v <= self.hi

    def __str__(self) -> str:
        def f(x: float) -> str:
            if self.integer or float(x).is_integer():
                return str(int(x))
            for num, name in ((1 / 8, "1/8"), (1 / 4, "1/4"), (math.pi, "π"), (-math.pi, "-π")):
                if abs(x - num) < 1e-12:
                    return name
            return f"{x:g}"

        kind = "integer " if self.integer else ""
        return f"{kind}U[{f(self.lo)}, {f(self.hi)}]{(' ' + self.unit) if self.unit else ''}"


@dataclass
class Context:
    """Per-image state shared by the steps: the input size and whether to keep the low-res image."""

    size: tuple[int, int]
    lr: bool = False


class Step:
    """Base class: ``__call__(img, rng, ctx)`` samples, applies and returns (image, records)."""

    name = "step"

    def __call__(self, img: np.ndarray, rng: np.random.Generator, ctx: Context
                 ) -> tuple[np.ndarray, list[Degradation]]:
        rec = self.sample(rng, img, ctx)
        if rec is None:
            return img, []
        return apply_record(img, rec), [rec]

    def sample(self, rng: np.random.Generator, img: np.ndarray, ctx: Context) -> Degradation | None:
        raise NotImplementedError

    def describe(self) -> list[str]:
        """Human-readable lines (used by ``hiface degrade --list``)."""
        return [self.name]

    def spec(self) -> dict[str, Any]:
        """Machine-readable description (written to the manifest)."""
        return {"step": type(self).__name__}


def _rng_spec(**kw: Any) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Range) else v) for k, v in kw.items()}


# ----------------------------------------------------------------------------------------------
# steps

@dataclass
class GaussianBlur(Step):
    """Gaussian blur, σ ~ ``sigma`` (px)."""

    sigma: Range = Range(3.0, 8.0, unit="px")
    name = "gaussian_blur"

    def sample(self, rng, img, ctx):
        return Degradation("gaussian_blur", {"sigma": self.sigma.sample(rng)})

    def describe(self):
        return [f"Gaussian blur: sigma {self.sigma}"]

    def spec(self):
        return {"step": "GaussianBlur", **_rng_spec(sigma=self.sigma)}


@dataclass
class MotionBlur(Step):
    """Linear motion blur, length ~ ``length`` (px), angle ~ ``angle`` (degrees)."""

    length: Range = Range(10, 20, integer=True, unit="px")
    angle: Range = Range(0.0, 360.0, unit="deg")
    name = "motion_blur"

    def sample(self, rng, img, ctx):
        return Degradation("motion_blur", {"length": self.length.sample(rng),
                                           "angle": self.angle.sample(rng)})

    def describe(self):
        return [f"motion blur: length {self.length}, angle {self.angle}"]

    def spec(self):
        return {"step": "MotionBlur", **_rng_spec(length=self.length, angle=self.angle)}


@dataclass
class KernelBlur(Step):
    """BasicSR-style random mixed kernel (iso/aniso, optionally generalized/plateau) of odd
    ``size``, applied with ``filter2D``."""

    size: int = 41
    kernel_list: tuple[str, ...] = ("iso", "aniso")
    kernel_prob: tuple[float, ...] = (0.5, 0.5)
    sigma: Range = Range(0.1, 10.0, unit="px")
    rotation: Range = Range(-math.pi, math.pi, unit="rad")
    betag: tuple[float, float] = (0.5, 4.0)
    betap: tuple[float, float] = (1.0, 2.0)
    name = "kernel_blur"

    def sample(self, rng, img, ctx):
        p = ops.sample_mixed_kernel(rng, self.kernel_list, self.kernel_prob,
                                    (self.sigma.lo, self.sigma.hi), (self.sigma.lo, self.sigma.hi),
                                    (self.rotation.lo, self.rotation.hi), self.betag, self.betap)
        return Degradation("kernel_blur", {"size": self.size, **p})

    def describe(self):
        kinds = "/".join(f"{k} {p:g}" for k, p in zip(self.kernel_list, self.kernel_prob))
        return [f"mixed kernel blur: size {self.size}, kinds {kinds}, sigma_x/sigma_y {self.sigma}, "
                f"rotation {self.rotation} (aniso)"]

    def spec(self):
        return {"step": "KernelBlur", "size": self.size, "kernel_list": list(self.kernel_list),
                "kernel_prob": list(self.kernel_prob), **_rng_spec(sigma=self.sigma, rotation=self.rotation)}


@dataclass
class Downsample(Step):
    """Resize down and (unless ``up_interpolation`` is None or the caller asked for the low-res
    image) back to the current size.

    Give either ``scale`` (output/input, low-res size ``round(scale·size)``, HiFaceGAN) or
    ``factor`` (input/output, low-res size ``int(size // factor)``, BasicSR/GFP-GAN)."""

    scale: Range | None = None
    factor: Range | None = None
    interpolation: str = "bicubic"
    up_interpolation: str | None = "bicubic"
    name = "downsample"

    def __post_init__(self):
        if (self.scale is None) == (self.factor is None):
            raise ValueError("Downsample: give exactly one of scale or factor")

    def sample(self, rng, img, ctx):
        h, w = img.shape[:2]
        p: dict[str, Any] = {}
        if self.scale is not None:
            s = self.scale.sample(rng)
            p["scale"] = s
            size = [max(1, round(h * s)), max(1, round(w * s))]
        else:
            f = self.factor.sample(rng)  # type: ignore[union-attr]
            p["factor"] = f
            size = [max(1, int(h // f)), max(1, int(w // f))]
        p.update(size=size, interpolation=self.interpolation,
                 up_interpolation=None if ctx.lr else self.up_interpolation)
        return Degradation("downsample", p)

    def describe(self):
        how = f"scale {self.scale}" if self.scale is not None else f"factor {self.factor}"
        back = f", {self.up_interpolation} back to size" if self.up_interpolation else ""
        return [f"downsample: {how}, {self.interpolation}{back}"]

    def spec(self):
        return {"step": "Downsample", **_rng_spec(scale=self.scale, factor=self.factor),
                "interpolation": self.interpolation, "up_interpolation": self.up_interpolation}


@dataclass
class ResizeBack(Step):
    """Resize to the pipeline's input size (skipped when the low-res image was asked for)."""

    interpolation: str = "bilinear"
    name = "resize"

    def sample(self, rng, img, ctx):
        if ctx.lr or tuple(img.shape[:2]) == tuple(ctx.size):
            return None
        return Degradation("resize", {"size": list(ctx.size), "interpolation": self.interpolation})

    def describe(self):
        return [f"resize back to the input size ({self.interpolation})"]

    def spec(self):
        return {"step": "ResizeBack", "interpolation": self.interpolation}


@dataclass
class GaussianNoise(Step):
    """Additive Gaussian noise, σ ~ ``sigma`` on 0–255 (independent per channel)."""

    sigma: Range = Range(20.0, 40.0)
    per_channel: bool = True
    name = "gaussian_noise"

    def sample(self, rng, img, ctx):
        return Degradation("gaussian_noise", {"sigma": self.sigma.sample(rng),
                                              "per_channel": self.per_channel, "seed": _seed(rng)})

    def describe(self):
        return [f"Gaussian noise: sigma {self.sigma} (0-255){', per channel' if self.per_channel else ''}"]

    def spec(self):
        return {"step": "GaussianNoise", **_rng_spec(sigma=self.sigma), "per_channel": self.per_channel}


@dataclass
class LaplaceNoise(Step):
    """Additive Laplace noise, scale ~ ``scale`` on 0–255 (per channel)."""

    scale: Range = Range(20.0, 40.0)
    per_channel: bool = True
    name = "laplace_noise"

    def sample(self, rng, img, ctx):
        return Degradation("laplace_noise", {"scale": self.scale.sample(rng),
                                             "per_channel": self.per_channel, "seed": _seed(rng)})

    def describe(self):
        return [f"Laplace noise: scale {self.scale} (0-255){', per channel' if self.per_channel else ''}"]

    def spec(self):
        return {"step": "LaplaceNoise", **_rng_spec(scale=self.scale), "per_channel": self.per_channel}


@dataclass
class PoissonNoise(Step):
    """Additive ±Poisson(λ) noise, λ ~ ``lam`` on 0–255 (per channel, imgaug semantics)."""

    lam: Range = Range(15.0, 30.0)
    per_channel: bool = True
    name = "poisson_noise"

    def sample(self, rng, img, ctx):
        return Degradation("poisson_noise", {"lam": self.lam.sample(rng),
                                             "per_channel": self.per_channel, "seed": _seed(rng)})

    def describe(self):
        return [f"Poisson noise: lambda {self.lam} (0-255, random sign){', per channel' if self.per_channel else ''}"]

    def spec(self):
        return {"step": "PoissonNoise", **_rng_spec(lam=self.lam), "per_channel": self.per_channel}


@dataclass
class JPEG(Step):
    """JPEG encode/decode round trip, quality ~ ``quality`` (integer)."""

    quality: Range = Range(15, 50, integer=True)
    name = "jpeg"

    def sample(self, rng, img, ctx):
        return Degradation("jpeg", {"quality": self.quality.sample(rng)})

    def describe(self):
        return [f"JPEG: quality {self.quality}"]

    def spec(self):
        return {"step": "JPEG", **_rng_spec(quality=self.quality)}


@dataclass
class Mosaic(Step):
    """Mosaic: area-average ``block``×``block`` blocks, nearest back up (flat colour per block)."""

    block: int = 16
    name = "mosaic"

    def sample(self, rng, img, ctx):
        return Degradation("mosaic", {"block": self.block, "up": not ctx.lr})

    def describe(self):
        return [f"{self.block}x mosaic: area-average to 1/{self.block}, nearest-neighbour back up"]

    def spec(self):
        return {"step": "Mosaic", "block": self.block}


@dataclass
class ColorJitter(Step):
    """With probability ``prob``: add a per-channel shift ~ U(−shift, shift) (0–255)."""

    shift: float = 20.0
    prob: float = 0.3
    name = "color_jitter"

    def sample(self, rng, img, ctx):
        if not rng.uniform() < self.prob:
            return None
        return Degradation("color_jitter", {"shift": [float(v) for v in rng.uniform(-self.shift, self.shift, 3)]})

    def describe(self):
        return [f"color jitter with prob {self.prob:g}: per-channel shift U[-{self.shift:g}, {self.shift:g}] (0-255)"]

    def spec(self):
        return {"step": "ColorJitter", "shift": self.shift, "prob": self.prob}


@dataclass
class Grayscale(Step):
    """With probability ``prob``: convert to grayscale (kept as 3 channels)."""

    prob: float = 1.0
    name = "grayscale"

    def sample(self, rng, img, ctx):
        if not rng.uniform() < self.prob:
            return None
        return Degradation("grayscale", {})

    def describe(self):
        return [f"grayscale with prob {self.prob:g}"]

    def spec(self):
        return {"step": "Grayscale", "prob": self.prob}


class OneOf(Step):
    """Apply exactly one of ``steps`` (uniformly, or with ``weights``)."""

    name = "one_of"

    def __init__(self, steps: Sequence[Step], weights: Sequence[float] | None = None):
        self.steps = list(steps)
        w = np.ones(len(self.steps)) if weights is None else np.asarray(weights, np.float64)
        self.weights = w / w.sum()

    def __call__(self, img, rng, ctx):
        i = int(rng.choice(len(self.steps), p=self.weights))
        return self.steps[i](img, rng, ctx)

    def describe(self):
        lines = ["one of:"]
        for s in self.steps:
            sub = s.describe()
            lines += ["  - " + sub[0]] + ["    " + x for x in sub[1:]]
        return lines

    def spec(self):
        return {"step": "OneOf", "weights": [float(x) for x in self.weights],
                "steps": [s.spec() for s in self.steps]}


class Sequential(Step):
    """Apply ``steps`` in order, or in a fresh random order per image (``random_order``)."""

    name = "sequential"

    def __init__(self, steps: Sequence[Step], random_order: bool = False):
        self.steps = list(steps)
        self.random_order = random_order

    def __call__(self, img, rng, ctx):
        order = rng.permutation(len(self.steps)) if self.random_order else range(len(self.steps))
        records: list[Degradation] = []
        for i in order:
            img, rec = self.steps[int(i)](img, rng, ctx)
            records += rec
        return img, records

    def describe(self):
        lines = ["all of, in random order:" if self.random_order else "in this order:"]
        for k, s in enumerate(self.steps, 1):
            sub = s.describe()
            lines += [f"  {k}. " + sub[0]] + ["     " + x for x in sub[1:]]
        return lines

    def spec(self):
        return {"step": "Sequential", "random_order": self.random_order,
                "steps": [s.spec() for s in self.steps]}


# ----------------------------------------------------------------------------------------------
# running

def _check_image(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim not in (2, 3) or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"expected an (H,W,3) or (H,W) image, got shape {img.shape}")
    if img.dtype != np.uint8 and not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f"expected a uint8 or float image, got {img.dtype}")
    return img


def run_pipeline(img: np.ndarray, step: Step, rng: np.random.Generator, *, lr: bool = False
                 ) -> DegradeResult:
    """Run ``step`` on ``img`` (uint8 or float in [0, 1]) with ``rng``; the result has the input's
    dtype and, unless ``lr``, its size."""
    img = _check_image(img)
    x = ops.to_float(img)
    out, records = step(x, rng, Context(size=(int(img.shape[0]), int(img.shape[1])), lr=lr))
    return DegradeResult(ops.from_float(out, img.dtype), records)


def replay(img: np.ndarray, records: Sequence[Degradation | Mapping[str, Any]]) -> np.ndarray:
    """Re-apply recorded ops (e.g. a manifest entry's ``ops``): bit-identical to the original run."""
    img = _check_image(img)
    x = ops.to_float(img)
    for rec in records:
        x = apply_record(x, rec)
    return ops.from_float(x, img.dtype)
