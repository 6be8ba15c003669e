"""hiface.io: every read/convert/error/write case, with files the tests generate."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from hiface.errors import HifaceError, ImageReadError, ImageWriteError
from hiface.io import (
    IMAGE_EXTS,
    ImageData,
    apply_orientation,
    from_tensor,
    is_image_path,
    read_image,
    to_tensor,
    to_uint8,
    write_image,
)


def _rgb(h=24, w=32, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _smooth(h=24, w=32) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1),
                     np.full_like(x, 128)], -1).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# reading: formats and conversions

@pytest.mark.parametrize("ext,fmt", [(".png", "PNG"), (".bmp", "BMP"), (".tif", "TIFF"),
                                     (".webp", "WEBP"), (".jpg", "JPEG")])
def test_read_formats(tmp_path, ext, fmt):
    a = _smooth()
    p = tmp_path / f"x{ext}"
    kw = {"lossless": True} if fmt == "WEBP" else ({"quality": 95} if fmt == "JPEG" else {})
    Image.fromarray(a).save(p, **kw)
    d = read_image(p)
    assert isinstance(d, ImageData)
    assert d.format == fmt and d.path == p and d.bit_depth == 8 and not d.was_gray
    assert d.pixels.shape == (24, 32, 3) and d.pixels.dtype == np.uint8 and d.alpha is None
    assert d.size == (32, 24)
    if fmt == "JPEG":
        assert np.abs(d.pixels.astype(int) - a).mean() < 3
    else:
        np.testing.assert_array_equal(d.pixels, a)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    a = _rgb(20, 30)  # non-square so rotations are visible
    img = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / "o.png"
    img.save(p, exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(p)).convert("RGB"))
    got = read_image(p).pixels
    np.testing.assert_array_equal(got, expected)
    if orientation in (5, 6, 7, 8):
        assert got.shape == (30, 20, 3)


def test_exif_orientation_jpeg_rotates(tmp_path):
    a = np.zeros((16, 48, 3), np.uint8)
    a[:, :8] = 255  # white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display: left band ends on top
    p = tmp_path / "r.jpg"
    Image.fromarray(a).save(p, exif=exif, quality=95)
    d = read_image(p)
    assert d.pixels.shape == (48, 16, 3)
    assert d.pixels[:8].mean() > 200 and d.pixels[16:].mean() < 40


def test_apply_orientation_inverse_pairs():
    a = _rgb(5, 7)
    np.testing.assert_array_equal(apply_orientation(apply_orientation(a, 6), 8), a)
    np.testing.assert_array_equal(apply_orientation(apply_orientation(a, 5), 5), a)
    np.testing.assert_array_equal(apply_orientation(a, 1), a)


def test_grayscale_to_rgb(tmp_path):
    g = _smooth()[..., 0]
    p = tmp_path / "g.png"
    Image.fromarray(g, "L").save(p)
    d = read_image(p)
    assert d.was_gray and d.alpha is None and d.pixels.shape == (24, 32, 3)
    for c in range(3):
        np.testing.assert_array_equal(d.pixels[..., c], g)


def test_one_bit_to_rgb(tmp_path):
    b = (_smooth()[..., 0] > 128)
    p = tmp_path / "b.png"
    Image.fromarray(b).convert("1").save(p)
    d = read_image(p)
    assert d.was_gray and set(np.unique(d.pixels)) <= {0, 255}
    np.testing.assert_array_equal(d.pixels[..., 0] == 255, b)


def test_la_to_rgb_plus_alpha(tmp_path):
    g = _smooth()[..., 0]
    al = _smooth()[..., 1]
    p = tmp_path / "la.png"
    Image.fromarray(np.dstack([g, al]), "LA").save(p)
    d = read_image(p)
    assert d.was_gray
    np.testing.assert_array_equal(d.pixels[..., 2], g)
    np.testing.assert_array_equal(d.alpha, al)


def test_palette_with_and_without_transparency(tmp_path):
    a = _smooth()
    pal = Image.fromarray(a).quantize(colors=16)
    p1 = tmp_path / "p.png"
    pal.save(p1)
    d = read_image(p1)
    assert d.alpha is None and not d.was_gray
    np.testing.assert_array_equal(d.pixels, np.asarray(pal.convert("RGB")))

    idx = np.asarray(pal)
    pal.info["transparency"] = int(idx[0, 0])
    p2 = tmp_path / "pt.png"
    pal.save(p2, transparency=int(idx[0, 0]))
    d2 = read_image(p2)
    assert d2.alpha is not None and d2.alpha.dtype == np.uint8
    np.testing.assert_array_equal(d2.alpha == 0, idx == idx[0, 0])
    assert d2.alpha[idx != idx[0, 0]].min() == 255


def test_palette_gif_with_transparency(tmp_path):
    pal = Image.fromarray(_smooth()).quantize(colors=8)
    p = tmp_path / "t.gif"
    pal.save(p, transparency=0)
    d = read_image(p)
    assert d.format == "GIF" and d.alpha is not None
    np.testing.assert_array_equal(d.alpha == 0, np.asarray(pal) == 0)


def test_rgba_alpha_kept_aside(tmp_path):
    a = _rgb()
    al = _smooth()[..., 0]
    p = tmp_path / "a.png"
    Image.fromarray(np.dstack([a, al]), "RGBA").save(p)
    d = read_image(p)
    np.testing.assert_array_equal(d.pixels, a)
    np.testing.assert_array_equal(d.alpha, al)


@pytest.mark.parametrize("ext", [".jpg", ".tif"])
def test_cmyk_to_rgb(tmp_path, ext):
    a = _smooth()
    cmyk = Image.fromarray(a).convert("CMYK")
    p = tmp_path / f"c{ext}"
    cmyk.save(p, **({"quality": 95} if ext == ".jpg" else {}))
    assert Image.open(p).mode == "CMYK"
    d = read_image(p)
    assert d.pixels.shape == (24, 32, 3) and d.pixels.dtype == np.uint8
    ref = np.asarray(Image.open(p).convert("RGB")).astype(int)
    assert np.abs(d.pixels.astype(int) - ref).max() == 0
    assert np.abs(d.pixels.astype(int) - a).mean() < 6  # and close to the original colours


def test_16bit_gray_png(tmp_path):
    g = (np.arange(24 * 32).reshape(24, 32) * 83 + 7).astype(np.uint16)
    p = tmp_path / "g16.png"
    assert cv2.imwrite(str(p), g)
    d16 = read_image(p, keep_16bit=True)
    assert d16.bit_depth == 16 and d16.was_gray and d16.pixels.dtype == np.uint16
    np.testing.assert_array_equal(d16.pixels[..., 1], g)
    d8 = read_image(p)
    assert d8.bit_depth == 16 and d8.pixels.dtype == np.uint8
    np.testing.assert_array_equal(d8.pixels[..., 0], np.round(g / 257.0).astype(np.uint8))


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_rgb_and_rgba(tmp_path, ext):
    rgb = np.random.default_rng(1).integers(0, 65536, (12, 10, 3)).astype(np.uint16)
    al = np.random.default_rng(2).integers(0, 65536, (12, 10)).astype(np.uint16)
    p = tmp_path / f"c16{ext}"
    assert cv2.imwrite(str(p), rgb[..., ::-1])
    d = read_image(p, keep_16bit=True)
    assert d.bit_depth == 16 and d.pixels.dtype == np.uint16 and d.alpha is None
    np.testing.assert_array_equal(d.pixels, rgb)
    d8 = read_image(p)
    np.testing.assert_array_equal(d8.pixels, to_uint8(rgb))

    pa = tmp_path / f"a16{ext}"
    assert cv2.imwrite(str(pa), np.dstack([rgb[..., ::-1], al]))
    da = read_image(pa, keep_16bit=True)
    np.testing.assert_array_equal(da.pixels, rgb)
    assert da.alpha.dtype == np.uint16
    np.testing.assert_array_equal(da.alpha, al)
    assert read_image(pa).alpha.dtype == np.uint8


def test_to_uint8_rounding():
    a = np.array([0, 128, 129, 257, 65535, 65534, 32896], np.uint16)
    np.testing.assert_array_equal(to_uint8(a), np.round(a / 257.0).astype(np.uint8))
    assert to_uint8(np.uint16([65535]))[0] == 255


# ---------------------------------------------------------------------------------------------
# reading: failures (one exception type, with path and reason)

def _expect_read_error(p: Path, words: tuple[str, ...]):
    with pytest.raises(ImageReadError) as ei:
        read_image(p)
    e = ei.value
    assert isinstance(e, HifaceError)
    assert e.path == str(p) and str(p) in str(e)
    assert any(w in e.reason.lower() for w in words), e.reason


def test_missing_file(tmp_path):
    _expect_read_error(tmp_path / "nope.jpg", ("not found",))


def test_empty_file(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    _expect_read_error(p, ("empty",))


def test_folder_is_not_an_image(tmp_path):
    d = tmp_path / "dir.png"
    d.mkdir()
    _expect_read_error(d, ("folder",))


def test_non_image_file(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("this is text, not a PNG\n" * 10)
    _expect_read_error(p, ("not an image",))


def test_corrupt_bytes_with_image_extension(tmp_path):
    p = tmp_path / "noise.jpg"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    _expect_read_error(p, ("not an image", "corrupt"))


@pytest.mark.parametrize("ext,keep", [(".jpg", 0.5), (".png", 0.5), (".webp", 0.6), (".tif", 0.5)])
def test_truncated_files(tmp_path, ext, keep):
    full = tmp_path / f"full{ext}"
    Image.fromarray(_rgb(64, 64)).save(full)
    data = full.read_bytes()
    p = tmp_path / f"trunc{ext}"
    p.write_bytes(data[: int(len(data) * keep)])
    _expect_read_error(p, ("truncated", "corrupt", "not an image"))


def test_corrupt_png_chunk(tmp_path):
    full = tmp_path / "ok.png"
    Image.fromarray(_rgb(32, 32)).save(full)
    data = bytearray(full.read_bytes())
    i = data.index(b"IDAT") + 8
    data[i:i + 40] = bytes(40)  # zero out compressed data: zlib/CRC error
    p = tmp_path / "bad.png"
    p.write_bytes(bytes(data))
    _expect_read_error(p, ("corrupt", "truncated"))


def test_unsupported_float_mode(tmp_path):
    p = tmp_path / "f.tif"
    Image.fromarray(np.ones((4, 4), np.float32), "F").save(p)
    _expect_read_error(p, ("unsupported", "floating"))


# ---------------------------------------------------------------------------------------------
# writing

def test_write_roundtrip_formats(tmp_path):
    a = _smooth()
    for ext in IMAGE_EXTS:
        p = write_image(tmp_path / f"w{ext}", a)
        d = read_image(p)
        if ext in (".jpg", ".jpeg", ".webp"):
            assert np.abs(d.pixels.astype(int) - a).mean() < 4
        else:
            np.testing.assert_array_equal(d.pixels, a)


def test_write_gray_2d(tmp_path):
    g = _smooth()[..., 0]
    d = read_image(write_image(tmp_path / "g.png", g))
    assert d.was_gray
    np.testing.assert_array_equal(d.pixels[..., 0], g)


@pytest.mark.parametrize("ext", [".png", ".tif", ".webp"])
def test_alpha_reattached(tmp_path, ext):
    a, al = _smooth(), _smooth()[..., 1]
    d = read_image(write_image(tmp_path / f"a{ext}", a, al))
    assert d.alpha is not None
    if ext == ".webp":
        assert np.abs(d.alpha.astype(int) - al).max() <= 2
    else:
        np.testing.assert_array_equal(d.alpha, al)
        np.testing.assert_array_equal(d.pixels, a)


@pytest.mark.parametrize("ext", [".jpg", ".bmp"])
def test_alpha_dropped_where_unsupported(tmp_path, ext):
    d = read_image(write_image(tmp_path / f"a{ext}", _smooth(), _smooth()[..., 1]))
    assert d.alpha is None


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_write_16bit_kept(tmp_path, ext):
    a = np.random.default_rng(3).integers(0, 65536, (9, 11, 3)).astype(np.uint16)
    al = np.random.default_rng(4).integers(0, 65536, (9, 11)).astype(np.uint16)
    d = read_image(write_image(tmp_path / f"x{ext}", a, al), keep_16bit=True)
    assert d.bit_depth == 16
    np.testing.assert_array_equal(d.pixels, a)
    np.testing.assert_array_equal(d.alpha, al)
    g = a[..., 0]
    dg = read_image(write_image(tmp_path / f"g{ext}", g), keep_16bit=True)
    np.testing.assert_array_equal(dg.pixels[..., 0], g)


def test_write_16bit_to_8bit_format(tmp_path):
    a = (np.arange(9 * 11 * 3).reshape(9, 11, 3) * 600).astype(np.uint16)
    d = read_image(write_image(tmp_path / "x.bmp", a))
    np.testing.assert_array_equal(d.pixels, to_uint8(a))


def test_refuses_existing_without_overwrite(tmp_path):
    p = write_image(tmp_path / "o.png", _rgb(seed=1))
    before = p.read_bytes()
    with pytest.raises(ImageWriteError) as ei:
        write_image(p, _rgb(seed=2))
    assert "exists" in ei.value.reason and "overwrite=True" in ei.value.reason  # Python wording
    from hiface.errors import cli_mode

    with cli_mode(), pytest.raises(ImageWriteError, match="--overwrite"):  # what a command says
        write_image(p, _rgb(seed=2))
    assert p.read_bytes() == before
    write_image(p, _rgb(seed=2), overwrite=True)
    np.testing.assert_array_equal(read_image(p).pixels, _rgb(seed=2))


def test_never_overwrites_an_input(tmp_path):
    inp = write_image(tmp_path / "in.png", _rgb(seed=1))
    before = inp.read_bytes()
    other_spelling = tmp_path / "." / "sub" / ".." / "in.png"
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.png"
    link.symlink_to(inp)
    for target in (inp, other_spelling, link):
        with pytest.raises(ImageWriteError) as ei:
            write_image(target, _rgb(seed=2), overwrite=True, inputs=[inp])
        assert "input" in ei.value.reason
    assert inp.read_bytes() == before


def test_creates_parent_folders_and_sane_permissions(tmp_path):
    p = write_image(tmp_path / "a" / "b" / "c.png", _rgb())
    assert p.is_file()
    mode = stat.S_IMODE(p.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_write_is_atomic(tmp_path, monkeypatch):
    p = write_image(tmp_path / "t.png", _rgb(seed=1))
    before = p.read_bytes()

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(ImageWriteError) as ei:
        write_image(p, _rgb(seed=2), overwrite=True)
    assert "space" in ei.value.reason
    monkeypatch.undo()
    assert p.read_bytes() == before  # old file intact
    assert sorted(x.name for x in tmp_path.iterdir()) == ["t.png"]  # no temp file left


def test_write_bad_input(tmp_path):
    with pytest.raises(ImageWriteError, match="extension"):
        write_image(tmp_path / "x.xyz", _rgb())
    with pytest.raises(ImageWriteError, match="uint8 or uint16"):
        write_image(tmp_path / "x.png", _rgb().astype(np.float32))
    with pytest.raises(ImageWriteError, match="shape"):
        write_image(tmp_path / "x.png", np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ImageWriteError, match="alpha shape"):
        write_image(tmp_path / "x.png", _rgb(), np.zeros((3, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_is_image_path():
    assert is_image_path("a/B.JPG") and is_image_path("x.tiff") and is_image_path("y.webp")
    assert not is_image_path("notes.txt") and not is_image_path("noext")


# ---------------------------------------------------------------------------------------------
# tensors

def test_tensor_roundtrip_uint8_and_uint16():
    a = _rgb()
    t = to_tensor(a)
    assert tuple(t.shape) == (3, 24, 32) and str(t.dtype) == "torch.float32"
    assert float(t.min()) >= 0 and float(t.max()) <= 1
    np.testing.assert_array_equal(from_tensor(t), a)
    b = np.random.default_rng(5).integers(0, 65536, (5, 6, 3)).astype(np.uint16)
    t16 = to_tensor(b)
    assert abs(float(t16.max()) - b.max() / 65535) < 1e-6
    np.testing.assert_array_equal(from_tensor(t16, np.uint16), b)


def test_from_tensor_clips_rounds_and_batches():
    import torch

    t = torch.tensor([[[-0.5, 0.5 / 255, 1.49 / 255, 2.0]]]).expand(3, 1, 4)
    a = from_tensor(t[None])  # (1,3,H,W) accepted
    assert a.shape == (1, 4, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a[0, :, 0], [0, 0, 1, 255])
    assert from_tensor(torch.full((1, 2, 2), float("nan"))).tolist() == [[0, 0], [0, 0]]
    with pytest.raises(ValueError):
        from_tensor(torch.zeros(2, 3, 4, 4))


def test_atomic_path_replaces_on_success_and_leaves_nothing_on_error(tmp_path):
    import os

    from hiface.io import atomic_path

    dst = tmp_path / "sub" / "out.bin"
    with atomic_path(dst, suffix=".part") as tmp:
        assert tmp.parent == dst.parent and tmp.suffix == ".part" and not dst.exists()
        tmp.write_bytes(b"ok")
    assert dst.read_bytes() == b"ok"
    umask = os.umask(0)
    os.umask(umask)
    assert dst.stat().st_mode & 0o777 == 0o666 & ~umask      # not mkstemp's 0600
    with pytest.raises(RuntimeError):
        with atomic_path(dst) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert dst.read_bytes() == b"ok" and sorted(p.name for p in dst.parent.iterdir()) == ["out.bin"]
