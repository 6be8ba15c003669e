"""hiface.degrade.ops: the pure operators, their values and determinism."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from hiface.degrade import ops


def face_like(h=64, w=64, seed=0) -> np.ndarray:
    """Smooth gradients + fine texture (so blur/JPEG have high frequencies to remove)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w, y / h, 0.5 + 0.3 * np.sin(x / 5.0) * np.cos(y / 7.0)], -1)
    tex = np.random.default_rng(seed).random((h, w, 3)).astype(np.float32) * 0.3
    return np.clip((base * 0.7 + tex) * 255, 0, 255).astype(np.uint8)


def hf_energy(img: np.ndarray, frac: float = 0.25) -> float:
    """Spectral energy above ``frac`` of the Nyquist radius (Hann-windowed, all channels)."""
    x = img.astype(np.float64)
    x = x - x.mean(axis=(0, 1))
    if x.ndim == 2:
        x = x[..., None]
    h, w = x.shape[:2]
    x = x * np.outer(np.hanning(h), np.hanning(w))[..., None]
    f = np.abs(np.fft.fftshift(np.fft.fft2(x, axes=(0, 1)), axes=(0, 1))) ** 2
    yy, xx = np.mgrid[-(h // 2):h - h // 2, -(w // 2):w - w // 2]
    r = np.sqrt((yy / (h / 2)) ** 2 + (xx / (w / 2)) ** 2)
    return float(f[r > frac].sum())


# ---------------------------------------------------------------------------------------------
# dtype contract

@pytest.mark.parametrize("fn,args", [
    (ops.gaussian_blur, (2.0,)), (ops.motion_blur, (9, 30.0)), (ops.jpeg, (40,)),
    (ops.mosaic, (16,)), (ops.color_jitter, ([5, -5, 10],)), (ops.grayscale, ()),
    (ops.downsample, (0.25, "bicubic", "bicubic")), (ops.resize, ((32, 16), "area")),
])
def test_dtype_and_shape_contract(fn, args):
    u8 = face_like()
    out8 = fn(u8, *args)
    assert out8.dtype == np.uint8
    f = u8.astype(np.float32) / 255
    outf = fn(f, *args)
    assert outf.dtype == np.float32 and outf.min() >= 0 and outf.max() <= 1
    assert out8.shape == outf.shape
    if fn is not ops.resize:
        assert out8.shape == u8.shape
    # uint8 path == float path rounded (up to JPEG re-quantisation / one rounding step)
    assert np.abs(out8.astype(int) - np.rint(outf * 255).astype(int)).max() <= 1


def test_noise_ops_need_explicit_generator_and_are_deterministic():
    img = face_like()
    for fn, s in ((ops.gaussian_noise, 25.0), (ops.laplace_noise, 25.0), (ops.poisson_noise, 20.0)):
        a = fn(img, s, np.random.default_rng(7))
        b = fn(img, s, np.random.default_rng(7))
        c = fn(img, s, np.random.default_rng(8))
        assert a.tobytes() == b.tobytes()
        assert a.tobytes() != c.tobytes()


# ---------------------------------------------------------------------------------------------
# blur

def test_blur_reduces_high_frequency_energy():
    img = face_like(96, 96)
    e0 = hf_energy(img)
    for out in (ops.gaussian_blur(img, 3.0), ops.motion_blur(img, 15, 45.0),
                ops.filter2d(img, ops.mixed_kernel(41, "aniso", 4.0, 1.5, 0.7)),
                ops.filter2d(img, ops.mixed_kernel(41, "iso", 3.0, 3.0))):
        assert hf_energy(out) < 0.1 * e0
    # stronger blur removes more
    assert hf_energy(ops.gaussian_blur(img, 8.0)) < hf_energy(ops.gaussian_blur(img, 1.0))


def test_gaussian_blur_preserves_constant_and_mean():
    c = np.full((40, 40, 3), 77, np.uint8)
    np.testing.assert_array_equal(ops.gaussian_blur(c, 5.0), c)
    img = face_like()
    assert abs(ops.gaussian_blur(img, 3.0).mean() - img.mean()) < 1.0


def test_motion_kernel_geometry():
    k = ops.motion_kernel(15, 0.0)
    assert k.shape == (17, 17) and abs(k.sum() - 1) < 1e-6
    rows = np.nonzero(k.sum(1) > 1e-6)[0]
    cols = np.nonzero(k.sum(0) > 1e-6)[0]
    assert rows.tolist() == [8]                      # horizontal line through the centre
    assert cols.max() - cols.min() + 1 in (15, 16)   # 15 px long
    kv = ops.motion_kernel(15, 90.0)
    np.testing.assert_allclose(kv, k.T, atol=1e-6)   # 90° = vertical
    kd = ops.motion_kernel(10, 45.0)
    assert abs(kd.sum() - 1) < 1e-6 and np.allclose(kd, kd.T, atol=1e-6)  # diagonal is symmetric
    # motion blur smears along the motion direction only
    img = np.zeros((41, 41), np.float32)
    img[20, 20] = 1.0
    out = ops.motion_blur(img, 11, 0.0)
    assert out[20].sum() > 0.99 and np.abs(out[:19]).sum() < 1e-6 and np.abs(out[22:]).sum() < 1e-6
    assert (out[20] > 0.05).sum() == 11  # 11 px wide smear


def test_mixed_kernels_basicsr_style():
    iso = ops.mixed_kernel(41, "iso", 3.0, 3.0)
    assert iso.shape == (41, 41) and abs(iso.sum() - 1) < 1e-5
    np.testing.assert_allclose(iso, iso.T, atol=1e-7)
    np.testing.assert_allclose(iso, iso[::-1], atol=1e-7)
    # iso equals the separable Gaussian
    ax = np.arange(-20, 21)
    g = np.exp(-ax ** 2 / (2 * 9.0))
    np.testing.assert_allclose(iso, np.outer(g, g) / np.outer(g, g).sum(), atol=1e-7)
    # aniso: wider along x than y without rotation; rotated by 90° swaps axes
    an = ops.mixed_kernel(41, "aniso", 5.0, 1.0, 0.0)
    var_x = (an.sum(0) * ax ** 2).sum()
    var_y = (an.sum(1) * ax ** 2).sum()
    assert var_x > 10 * var_y
    an90 = ops.mixed_kernel(41, "aniso", 5.0, 1.0, math.pi / 2)
    np.testing.assert_allclose(an90, an.T, atol=1e-6)
    for kind in ("generalized_iso", "plateau_aniso"):
        k = ops.mixed_kernel(21, kind, 2.0, 3.0, 0.3, beta=1.5)
        assert abs(k.sum() - 1) < 1e-5 and k.argmax() == 21 * 10 + 10
    with pytest.raises(ValueError):
        ops.mixed_kernel(40, "iso", 1.0, 1.0)


def test_random_mixed_kernels_sampling():
    rng = np.random.default_rng(0)
    kinds = []
    for _ in range(400):
        k, p = ops.random_mixed_kernels(rng, 41, kernel_list=("iso", "aniso"), kernel_prob=(0.5, 0.5),
                                        sigma_x_range=(0.1, 10.0))
        kinds.append(p["kind"])
        assert 0.1 <= p["sigma_x"] <= 10 and 0.1 <= p["sigma_y"] <= 10
        assert -math.pi <= p["rotation"] <= math.pi
        if p["kind"] == "iso":
            assert p["sigma_x"] == p["sigma_y"] and p["rotation"] == 0
        np.testing.assert_allclose(k, ops.mixed_kernel(**{kk: v for kk, v in p.items()}), atol=0)
    assert 150 < kinds.count("iso") < 250


# ---------------------------------------------------------------------------------------------
# resampling

def test_downsample_sizes_and_lr():
    img = face_like(64, 48)
    lr = ops.downsample(img, 0.25, "bicubic", None)
    assert lr.shape == (16, 12, 3)
    back = ops.downsample(img, 0.25, "bicubic", "bicubic")
    assert back.shape == img.shape
    assert hf_energy(back) < 0.2 * hf_energy(img)  # detail lost at 1/4 resolution
    with pytest.raises(ValueError, match="interpolation"):
        ops.resize(img, (8, 8), "cubicle")


# ---------------------------------------------------------------------------------------------
# noise

def test_noise_statistics_on_mid_gray():
    g = np.full((128, 128, 3), 0.5, np.float32)
    rng = np.random.default_rng(0)
    n = (ops.gaussian_noise(g, 20.0, rng) - 0.5) * 255
    assert abs(n.std() - 20.0) < 0.5 and abs(n.mean()) < 0.3
    assert np.corrcoef(n[..., 0].ravel(), n[..., 1].ravel())[0, 1] < 0.05  # per-channel
    gray = (ops.gaussian_noise(g, 20.0, rng, per_channel=False) - 0.5) * 255
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    lap = (ops.laplace_noise(g, 20.0, rng) - 0.5) * 255
    assert abs(lap.std() - 20.0 * math.sqrt(2)) < 1.0
    assert abs(np.abs(lap).mean() - 20.0) < 0.6  # E|X| = b
    poi = (ops.poisson_noise(g, 20.0, rng) - 0.5) * 255
    assert abs(np.abs(poi).mean() - 20.0) < 0.3  # |±Poisson(λ)| has mean λ
    assert abs(poi.mean()) < 0.3
    assert np.allclose(poi, np.round(poi), atol=1e-3)  # integer steps on the 0-255 scale


def test_noise_is_clipped_uint8():
    img = np.full((32, 32, 3), 250, np.uint8)
    out = ops.gaussian_noise(img, 40.0, np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.max() == 255 and out.min() < 200


# ---------------------------------------------------------------------------------------------
# JPEG

def test_jpeg_quality_levels_differ_and_decode():
    img = face_like(64, 64)
    q15, q50 = ops.jpeg(img, 15), ops.jpeg(img, 50)
    assert q15.shape == q50.shape == img.shape and q15.dtype == np.uint8
    assert not np.array_equal(q15, q50)
    mse = lambda a: float(((a.astype(float) - img) ** 2).mean())  # noqa: E731
    assert mse(q15) > mse(q50) > 0
    # it is a real JPEG round trip: equals Pillow/libjpeg decoding of the same encoding quality
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=50)
    pil = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).astype(int)
    assert np.abs(pil - q50).mean() < 2.0
    assert ops.jpeg(img, 50).tobytes() == q50.tobytes()
    with pytest.raises(ValueError):
        ops.jpeg(img, 0)


# ---------------------------------------------------------------------------------------------
# mosaic

@pytest.mark.parametrize("shape", [(64, 64), (70, 53)])
def test_mosaic_flat_blocks_equal_block_mean(shape):
    img = face_like(*shape)
    out = ops.mosaic(img, 16)
    assert out.shape == img.shape and out.dtype == np.uint8
    h, w = shape
    for by in range(0, h, 16):
        for bx in range(0, w, 16):
            blk = out[by:by + 16, bx:bx + 16].reshape(-1, 3)
            assert (blk == blk[0]).all(), (by, bx)
            mean = img[by:by + 16, bx:bx + 16].reshape(-1, 3).mean(0)
            assert np.abs(blk[0] - mean).max() <= 1.0
    small = ops.mosaic(img, 16, up=False)
    assert small.shape == (math.ceil(h / 16), math.ceil(w / 16), 3)
    np.testing.assert_array_equal(small, out[::16, ::16])


# ---------------------------------------------------------------------------------------------
# colour

def test_color_jitter_and_grayscale():
    img = np.full((8, 8, 3), 100, np.uint8)
    out = ops.color_jitter(img, [20, -20, 0])
    assert out[0, 0].tolist() == [120, 80, 100]
    assert ops.color_jitter(np.full((2, 2, 3), 250, np.uint8), [20, 0, 0])[0, 0, 0] == 255
    g = ops.grayscale(face_like())
    assert g.shape == (64, 64, 3)
    assert (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all()
    rgb = np.zeros((1, 1, 3), np.uint8)
    rgb[..., 1] = 255
    assert ops.grayscale(rgb)[0, 0, 0] == 150  # BT.601: 0.587 * 255
