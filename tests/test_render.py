"""Bounded-memory output (issue 15, item 4): the strip-wise integer render equals the float
path, allocates far less, and over-large outputs are refused with the largest upscale that fits."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from hiface.faces.paste import paste_faces, upscale_image
from hiface.faces.render import render

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _scene(seed=0):
    """A smooth photo with three 'faces' pasted by similarity transforms (one crossing many strips)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:150, 0:230].astype(np.float32) / 150
    img = np.stack([0.2 + 0.6 * x / 1.5, 0.3 + 0.5 * y, 0.5 + 0.4 * np.sin(6 * x)], -1).astype(np.float32)
    faces, Ms = [], []
    for (cx, cy, side, ang) in ((40, 40, 50, 0.1), (150, 90, 90, -0.3), (200, 20, 20, 0.0)):
        S = 64
        s = S / side
        c, si = s * np.cos(ang), s * np.sin(ang)
        M = np.array([[c, si, 0.0], [-si, c, 0.0]])
        M[:, 2] = S / 2 - M[:, :2] @ np.array([cx, cy])  # image -> crop, face centre to crop centre
        faces.append(rng.random((S, S, 3)).astype(np.float32))
        Ms.append(M)
    return img, faces, Ms


@pytest.mark.parametrize("u", [1, 2, 3, 1.5, 0.5, 1.37, 4])
def test_render_matches_the_float_path(u):
    img, faces, Ms = _scene()
    ref = upscale_image(img, u)
    paste_faces(ref, faces, Ms, upscale=u)
    ref8 = (np.clip(ref, 0, 1) * 255 + 0.5).astype(np.uint8)
    for rows, whole in ((512, 2048), (23, 2048), (23, 8)):
        out = render(img, faces, Ms, u, np.uint8, rows=rows, whole_face_rows=whole)
        assert out.shape == ref8.shape and out.dtype == np.uint8
        d = np.abs(out.astype(int) - ref8)
        assert d.max() <= 1 and (d > 0).mean() < 1e-3, (u, rows, whole, d.max(), (d > 0).sum())
    out16 = render(img, faces, Ms, u, np.uint16, rows=23)
    ref16 = (np.clip(ref, 0, 1) * 65535 + 0.5).astype(np.uint16)
    assert np.abs(out16.astype(int) - ref16).max() <= 2


def test_render_memory_is_a_fraction_of_the_float_path():
    rng = np.random.default_rng(0)
    img = rng.random((1000, 1200, 3)).astype(np.float32)
    out_bytes = 2000 * 2400 * 3
    tracemalloc.start()
    out = render(img, [], [], 2, np.uint8, rows=128)  # (two strips are alive at a time)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out.shape == (2000, 2400, 3)
    assert peak < 2.0 * out_bytes, peak / out_bytes  # the float picture alone would be 4x
    tracemalloc.start()
    upscale_image(img, 2)
    _, fpeak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert fpeak >= 4 * out_bytes


def test_pipeline_out_dtype_equals_float_then_quantised():
    pytest.importorskip("dlib")
    import hiface
    from hiface.io import read_image

    px = read_image(EXAMPLES / "group.jpg").pixels.astype(np.float32) / 255
    pipe = hiface.load_pipeline(model="identity", upscale=2, cache=False)
    f = pipe(px)
    q = pipe(px, out_dtype=np.uint8, faces=f.faces)
    ref = (np.clip(f.image, 0, 1) * 255 + 0.5).astype(np.uint8)
    assert q.image.dtype == np.uint8 and np.abs(q.image.astype(int) - ref).max() <= 1


def test_max_megapixels_names_the_largest_upscale_that_fits(tmp_path):
    pytest.importorskip("dlib")
    from hiface.cli.restore import restore

    Image.fromarray(np.full((400, 400, 3), 100, np.uint8)).save(tmp_path / "a.png")
    r = CliRunner().invoke(restore, [str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--model", "identity",
                                     "--max-megapixels", "0.1"])
    assert r.exit_code == 1, r.output
    assert "800x800 = 1 MP, over the limit of 0.1 MP (--max-megapixels)" in r.output
    assert "the largest --upscale that fits is 0.79" in r.output
    assert not (tmp_path / "o" / "a.png").exists()
    r = CliRunner().invoke(restore, [str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--model", "identity",
                                     "--max-megapixels", "0.1", "--upscale", "0.79"])
    assert r.exit_code == 0 and Image.open(tmp_path / "o" / "a.png").size == (316, 316)
