"""Pure degradation operators (HiFaceGAN §3.1 / §4.1 and the GFP-GAN/CodeFormer family).

Conventions (kornia-like, but numpy/OpenCV only):

* Images are (H, W, 3) RGB (or (H, W)). Either **uint8** in [0, 255] or **float** in [0, 1];
  every op returns the dtype it was given (uint8 results are rounded and clipped). Internally ops
  work on float32 in [0, 1].
* Every op is a pure function of the image and its explicit parameters. Randomness (noise fields)
  comes only from an explicit ``numpy.random.Generator``: same generator state → bit-identical
  output.
* Noise strengths (σ, Laplace scale, Poisson λ, colour shift) are on the 0–255 scale, as in the
  paper and in imgaug/BasicSR.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "INTERPOLATIONS", "to_float", "from_float",
    "gaussian_blur", "motion_kernel", "motion_blur",
    "bivariate_gaussian_kernel", "generalized_gaussian_kernel", "plateau_kernel",
    "sample_mixed_kernel", "mixed_kernel", "random_mixed_kernels", "filter2d",
    "resize", "square_resize", "downsample", "gaussian_noise", "laplace_noise", "poisson_noise",
    "jpeg", "mosaic", "color_jitter", "grayscale",
]

#: Interpolation names accepted by :func:`resize` / :func:`downsample`.
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "lanczos")


def _cv2():
    import cv2

    return cv2


def _interp(name: str) -> int:
    cv2 = _cv2()
    table = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR,
             "bicubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA, "lanczos": cv2.INTER_LANCZOS4}
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown interpolation {name!r}; use one of {', '.join(INTERPOLATIONS)}") from None


# ----------------------------------------------------------------------------------------------
# dtype handling

def to_float(img: np.ndarray) -> np.ndarray:
    """uint8 → float32 in [0, 1]; float arrays → float32 (values kept)."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(img.dtype, np.floating):
        return img.astype(np.float32, copy=False)
    raise TypeError(f"expected a uint8 or float image, got {img.dtype}")


def from_float(img: np.ndarray, dtype: Any = np.uint8) -> np.ndarray:
    """float in [0, 1] → ``dtype``: uint8 is rounded and clipped; float is clipped to [0, 1]."""
    if np.dtype(dtype) == np.uint8:
        return np.clip(np.rint(img * np.float32(255.0)), 0, 255).astype(np.uint8)
    return np.clip(img, 0.0, 1.0).astype(dtype, copy=False)


def _same_dtype(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Run ``fn`` on float32 [0, 1] and give the result back in the caller's dtype."""

    @functools.wraps(fn)
    def wrapper(img: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
        img = np.asarray(img)
        if img.ndim not in (2, 3):
            raise ValueError(f"{fn.__name__}: expected (H,W,C) or (H,W), got {img.shape}")
        out = fn(to_float(img), *args, **kwargs)
        if out.ndim == 2 and img.ndim == 3:  # OpenCV drops a trailing channel axis of 1
            out = out[..., None]
        return from_float(out, img.dtype)

    return wrapper


def _ksize(sigma: float, truncate: float = 3.0) -> int:
    return 2 * int(math.ceil(truncate * sigma)) + 1


# ----------------------------------------------------------------------------------------------
# blur

@_same_dtype
def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Isotropic Gaussian blur with standard deviation ``sigma`` px (kernel 2⌈3σ⌉+1, reflect-101
    border). HiFaceGAN's blur task samples σ ∈ [3, 8]."""
    if sigma <= 0:
        return img.copy()
    k = _ksize(sigma)
    return _cv2().GaussianBlur(img, (k, k), sigmaX=float(sigma), sigmaY=float(sigma),
                               borderType=_cv2().BORDER_REFLECT_101)


def motion_kernel(length: float, angle: float) -> np.ndarray:
    """Normalised linear motion-blur kernel: a segment of ``length`` px through the centre at
    ``angle`` degrees (counter-clockwise from the x axis), rasterised with bilinear splatting.

    The kernel is square with odd size ``2⌈length/2⌉+1``.
    """
    if length <= 1:
        return np.ones((1, 1), np.float32)
    size = 2 * int(math.ceil(length / 2.0)) + 1
    c = (size - 1) / 2.0
    n = max(8, int(math.ceil(length * 8)))
    t = np.linspace(-(length - 1) / 2.0, (length - 1) / 2.0, n)
    th = math.radians(angle)
    x = c + t * math.cos(th)
    y = c - t * math.sin(th)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    k = np.zeros((size + 1, size + 1), np.float64)
    np.add.at(k, (y0, x0), (1 - fx) * (1 - fy))
    np.add.at(k, (y0, x0 + 1), fx * (1 - fy))
    np.add.at(k, (y0 + 1, x0), (1 - fx) * fy)
    np.add.at(k, (y0 + 1, x0 + 1), fx * fy)
    k = k[:size, :size]
    return (k / k.sum()).astype(np.float32)


@_same_dtype
def motion_blur(img: np.ndarray, length: float, angle: float) -> np.ndarray:
    """Linear motion blur of ``length`` px at ``angle`` degrees (HiFaceGAN: length ∈ [10, 20],
    random angle)."""
    return _filter(img, motion_kernel(length, angle))


def _sigma_matrix(sig_x: float, sig_y: float, theta: float) -> np.ndarray:
    d = np.array([[sig_x ** 2, 0.0], [0.0, sig_y ** 2]])
    u = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return u @ d @ u.T


def _grid(size: int) -> np.ndarray:
    ax = np.arange(-size // 2 + 1.0, size // 2 + 1.0)
    xx, yy = np.meshgrid(ax, ax)
    return np.stack([xx, yy], axis=-1)  # (size, size, 2)


def _quad(size: int, sig_x: float, sig_y: float, theta: float) -> np.ndarray:
    inv = np.linalg.inv(_sigma_matrix(sig_x, sig_y, theta))
    g = _grid(size)
    return np.einsum("...i,ij,...j->...", g, inv, g)  # xᵀ Σ⁻¹ x


def bivariate_gaussian_kernel(size: int, sigma_x: float, sigma_y: float, rotation: float = 0.0
                              ) -> np.ndarray:
    """Anisotropic Gaussian kernel ``exp(-½ xᵀΣ⁻¹x)``, Σ = R diag(σx², σy²) Rᵀ (BasicSR
    ``bivariate_Gaussian``); isotropic when σx = σy. Normalised to sum 1."""
    k = np.exp(-0.5 * _quad(size, sigma_x, sigma_y, rotation))
    return (k / k.sum()).astype(np.float32)


def generalized_gaussian_kernel(size: int, sigma_x: float, sigma_y: float, rotation: float,
                                beta: float) -> np.ndarray:
    """Generalised Gaussian ``exp(-½ (xᵀΣ⁻¹x)^β)`` (BasicSR ``bivariate_generalized_Gaussian``)."""
    k = np.exp(-0.5 * np.power(_quad(size, sigma_x, sigma_y, rotation), beta))
    return (k / k.sum()).astype(np.float32)


def plateau_kernel(size: int, sigma_x: float, sigma_y: float, rotation: float, beta: float
                   ) -> np.ndarray:
    """Plateau-shaped kernel ``1 / (1 + (xᵀΣ⁻¹x)^β)`` (BasicSR ``bivariate_plateau``)."""
    k = 1.0 / (np.power(_quad(size, sigma_x, sigma_y, rotation), beta) + 1.0)
    return (k / k.sum()).astype(np.float32)


#: kernel kinds understood by :func:`sample_mixed_kernel` (BasicSR names).
KERNEL_KINDS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


def sample_mixed_kernel(rng: np.random.Generator, kernel_list: Sequence[str] = ("iso", "aniso"),
                        kernel_prob: Sequence[float] = (0.5, 0.5),
                        sigma_x_range: tuple[float, float] = (0.1, 10.0),
                        sigma_y_range: tuple[float, float] | None = None,
                        rotation_range: tuple[float, float] = (-math.pi, math.pi),
                        betag_range: tuple[float, float] = (0.5, 4.0),
                        betap_range: tuple[float, float] = (1.0, 2.0)) -> dict[str, Any]:
    """Sample the parameters of a BasicSR-style random mixed kernel.

    ``iso``: σx = σy ~ U(sigma_x_range), no rotation. ``aniso``: σx ~ U(sigma_x_range),
    σy ~ U(sigma_y_range), θ ~ U(rotation_range). ``generalized_*`` and ``plateau_*`` add a shape
    exponent β. Returns a JSON-serialisable dict for :func:`mixed_kernel`.
    """
    if sigma_y_range is None:
        sigma_y_range = sigma_x_range
    probs = np.asarray(kernel_prob, np.float64)
    kind = str(kernel_list[int(rng.choice(len(kernel_list), p=probs / probs.sum()))])
    if kind not in KERNEL_KINDS:
        raise ValueError(f"unknown kernel kind {kind!r}; use one of {KERNEL_KINDS}")
    sx = float(rng.uniform(*sigma_x_range))
    if kind.endswith("iso") and not kind.endswith("aniso"):
        sy, rot = sx, 0.0
    else:
        sy = float(rng.uniform(*sigma_y_range))
        rot = float(rng.uniform(*rotation_range))
    p: dict[str, Any] = {"kind": kind, "sigma_x": sx, "sigma_y": sy, "rotation": rot}
    if kind.startswith("generalized"):
        # BasicSR: β < 1 half of the time from [βmin, 1], else from [1, βmax]
        p["beta"] = float(rng.uniform(betag_range[0], 1.0) if rng.uniform() < 0.5
                          else rng.uniform(1.0, betag_range[1]))
    elif kind.startswith("plateau"):
        p["beta"] = float(rng.uniform(betap_range[0], 1.0) if rng.uniform() < 0.5
                          else rng.uniform(1.0, betap_range[1]))
    return p


def mixed_kernel(size: int, kind: str, sigma_x: float, sigma_y: float, rotation: float = 0.0,
                 beta: float | None = None) -> np.ndarray:
    """Build the kernel described by :func:`sample_mixed_kernel`'s parameters."""
    if size % 2 == 0:
        raise ValueError(f"kernel size must be odd, got {size}")
    if kind in ("iso", "aniso"):
        return bivariate_gaussian_kernel(size, sigma_x, sigma_y, rotation)
    if kind.startswith("generalized"):
        return generalized_gaussian_kernel(size, sigma_x, sigma_y, rotation, float(beta))
    if kind.startswith("plateau"):
        return plateau_kernel(size, sigma_x, sigma_y, rotation, float(beta))
    raise ValueError(f"unknown kernel kind {kind!r}; use one of {KERNEL_KINDS}")


def random_mixed_kernels(rng: np.random.Generator, kernel_size: int = 41, **kw: Any
                         ) -> tuple[np.ndarray, dict[str, Any]]:
    """BasicSR ``random_mixed_kernels`` with an explicit generator: (kernel, sampled params)."""
    p = sample_mixed_kernel(rng, **kw)
    return mixed_kernel(kernel_size, **p), {"size": kernel_size, **p}


def _filter(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    return cv2.filter2D(img, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)


@_same_dtype
def filter2d(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate each channel with ``kernel`` (reflect-101 border, as BasicSR)."""
    return _filter(img, kernel)


# ----------------------------------------------------------------------------------------------
# resampling

@_same_dtype
def resize(img: np.ndarray, size: tuple[int, int], interpolation: str = "bicubic") -> np.ndarray:
    """Resize to ``size = (height, width)`` with a named interpolation (values clipped to [0, 1])."""
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f"resize: invalid target size {size}")
    if img.shape[:2] == (h, w):
        return img.copy()
    out = _cv2().resize(img, (w, h), interpolation=_interp(interpolation))
    return np.clip(out, 0.0, 1.0)


@_same_dtype
def square_resize(img: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square (if needed) and resize to size×size (area down, bicubic up)."""
    h, w = img.shape[:2]
    if h != w:
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        img = img[y:y + s, x:x + s]
    if img.shape[0] == size:
        return img.copy()
    return resize(img, (size, size), "area" if img.shape[0] > size else "bicubic")


def downsample(img: np.ndarray, scale: float, interpolation: str = "bicubic",
               up_interpolation: str | None = "bicubic") -> np.ndarray:
    """Resize by ``scale`` (output/input, e.g. 1/8–1/4 for HiFaceGAN's SR task) with a named
    interpolation, then back to the input size with ``up_interpolation`` (``None``: keep the
    low-resolution image). The low-resolution size is ``max(1, round(scale·size))``."""
    h, w = img.shape[:2]
    small = resize(img, (max(1, round(h * scale)), max(1, round(w * scale))), interpolation)
    if up_interpolation is None:
        return small
    return resize(small, (h, w), up_interpolation)


# ----------------------------------------------------------------------------------------------
# noise (strengths on the 0–255 scale)

def _noise_shape(img: np.ndarray, per_channel: bool) -> tuple[int, ...]:
    if img.ndim == 3 and not per_channel:
        return img.shape[:2] + (1,)
    return img.shape


@_same_dtype
def gaussian_noise(img: np.ndarray, sigma: float, rng: np.random.Generator, *,
                   per_channel: bool = True) -> np.ndarray:
    """Add N(0, σ²) noise (σ on 0–255). ``per_channel``: independent per channel (colour noise),
    otherwise one field for all channels (gray noise)."""
    n = rng.standard_normal(_noise_shape(img, per_channel), dtype=np.float32) * np.float32(sigma / 255.0)
    return np.clip(img + n, 0.0, 1.0)


@_same_dtype
def laplace_noise(img: np.ndarray, scale: float, rng: np.random.Generator, *,
                  per_channel: bool = True) -> np.ndarray:
    """Add Laplace(0, b) noise, b = ``scale`` on 0–255 (imgaug ``AdditiveLaplaceNoise``)."""
    n = rng.laplace(0.0, scale / 255.0, size=_noise_shape(img, per_channel)).astype(np.float32)
    return np.clip(img + n, 0.0, 1.0)


@_same_dtype
def poisson_noise(img: np.ndarray, lam: float, rng: np.random.Generator, *,
                  per_channel: bool = True) -> np.ndarray:
    """Add ±Poisson(λ) noise on 0–255 (imgaug ``AdditivePoissonNoise`` semantics, which
    HiFaceGAN's ``degrade.py`` uses: a Poisson sample with a random sign per value)."""
    shape = _noise_shape(img, per_channel)
    k = rng.poisson(lam, size=shape).astype(np.float32)
    sign = np.where(rng.random(size=shape) < 0.5, np.float32(-1.0), np.float32(1.0))
    return np.clip(img + sign * k / np.float32(255.0), 0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# compression, mosaic, colour

@_same_dtype
def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Real JPEG round trip (libjpeg via OpenCV, 4:2:0) at ``quality`` ∈ [1, 100]."""
    cv2 = _cv2()
    q = int(quality)
    if not 1 <= q <= 100:
        raise ValueError(f"JPEG quality must be in [1, 100], got {quality}")
    u8 = from_float(img)
    gray = u8.ndim == 2 or u8.shape[2] == 1
    src = u8.reshape(u8.shape[:2]) if gray else np.ascontiguousarray(u8[..., ::-1])
    ok, buf = cv2.imencode(".jpg", src, [int(cv2.IMWRITE_JPEG_QUALITY), q])
    if not ok:  # pragma: no cover
        raise RuntimeError("JPEG encoding failed")
    dec = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    dec = dec.reshape(img.shape) if gray else dec[..., ::-1]
    return to_float(np.ascontiguousarray(dec))


def _block_means(img: np.ndarray, block: int) -> np.ndarray:
    """Mean of every ``block``×``block`` block; partial edge blocks average their own pixels."""
    h, w = img.shape[:2]
    gh, gw = -(-h // block), -(-w // block)
    x = img if img.ndim == 3 else img[..., None]
    if h % block or w % block:
        x = np.pad(x, ((0, gh * block - h), (0, gw * block - w), (0, 0)))
    s = x.astype(np.float64, copy=False).reshape(gh, block, gw, block, -1).sum(axis=(1, 3))
    cnt_y = np.minimum(block, h - np.arange(gh) * block)
    cnt_x = np.minimum(block, w - np.arange(gw) * block)
    return (s / np.outer(cnt_y, cnt_x)[..., None]).astype(np.float32)


@_same_dtype
def mosaic(img: np.ndarray, block: int = 16, up: bool = True) -> np.ndarray:
    """HiFaceGAN's 16× mosaic: area-average every ``block``×``block`` block (1/``block`` size),
    then nearest-neighbour back up, so each block becomes one flat colour (its mean). ``up=False``
    returns the 1/``block`` image."""
    h, w = img.shape[:2]
    m = _block_means(img, int(block))
    if not up:
        return m if img.ndim == 3 else m[..., 0]
    out = np.repeat(np.repeat(m, block, axis=0), block, axis=1)[:h, :w]
    return out if img.ndim == 3 else out[..., 0]


@_same_dtype
def color_jitter(img: np.ndarray, shift: Sequence[float]) -> np.ndarray:
    """Add a constant per-channel shift (0–255 scale; GFP-GAN draws it from U(−20, 20))."""
    s = np.asarray(shift, np.float32).reshape(-1) / np.float32(255.0)
    if img.ndim == 2 or img.shape[2] == 1:  # single channel: the first shift
        s = s[0]
    return np.clip(img + s, 0.0, 1.0)


@_same_dtype
def grayscale(img: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma, replicated to 3 channels (shape kept)."""
    if img.ndim == 2 or img.shape[2] == 1:
        return img.copy()
    y = _cv2().cvtColor(np.ascontiguousarray(img), _cv2().COLOR_RGB2GRAY)
    return np.repeat(y[..., None], img.shape[2], axis=2)
