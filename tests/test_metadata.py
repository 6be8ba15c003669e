"""hiface.io keeps colour profiles and EXIF, reports frames, and turns Pillow's decompression-bomb
warning into a clear limit (issue 15, items 4 and 6)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image, ImageCms

from hiface.errors import ImageReadError
from hiface.io import image_size, read_image, write_image


@pytest.fixture
def icc():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_read_returns_icc_exif_upright_and_frames(tmp_path, icc):
    a = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    ex = Image.Exif()
    ex[0x0112] = 6
    ex[0x010F] = "Cam"
    Image.fromarray(a).save(tmp_path / "x.jpg", icc_profile=icc, exif=ex.tobytes())
    d = read_image(tmp_path / "x.jpg")
    assert d.pixels.shape == (30, 20, 3) and d.icc == icc and d.n_frames == 1
    back = Image.Exif()
    back.load(d.exif)
    assert back[0x0112] == 1 and back[0x010F] == "Cam"  # pixels are upright now
    assert image_size(tmp_path / "x.jpg") == (20, 30)
    Image.fromarray(a).save(tmp_path / "a.gif", save_all=True, append_images=[Image.fromarray(a[::-1])])
    assert read_image(tmp_path / "a.gif").n_frames == 2


@pytest.mark.parametrize("ext", ["jpg", "png", "webp", "tif"])
def test_write_keeps_icc_and_exif(tmp_path, icc, ext):
    a = np.random.default_rng(1).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    ex = Image.Exif()
    ex[0x010F] = "Cam"
    ex[0x0112] = 8
    write_image(tmp_path / f"o.{ext}", a, icc=icc, exif=ex.tobytes())
    o = Image.open(tmp_path / f"o.{ext}")
    assert o.info.get("icc_profile") == icc
    if ext != "tif":  # libtiff cannot take Pillow's EXIF IFD: ICC only
        e = o.getexif()
        assert e[0x010F] == "Cam" and e[0x0112] == 1


def test_16bit_png_keeps_icc_and_exif(tmp_path, icc):
    a = (np.random.default_rng(2).integers(0, 65536, (8, 10, 3))).astype(np.uint16)
    ex = Image.Exif()
    ex[0x010F] = "Cam"
    write_image(tmp_path / "d.png", a, icc=icc, exif=ex.tobytes())
    d = read_image(tmp_path / "d.png", keep_16bit=True)
    assert d.pixels.dtype == np.uint16 and np.array_equal(d.pixels, a) and d.icc == icc
    assert Image.open(tmp_path / "d.png").getexif()[0x010F] == "Cam"


def test_decompression_bomb_is_a_clear_limit_not_a_warning(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((60, 50, 3), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # 3,000 px: over the warning threshold
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(tmp_path / "big.png").pixels.shape == (60, 50, 3)
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # over twice the threshold: Pillow's error
        with pytest.raises(ImageReadError, match="image too large"):
            read_image(tmp_path / "big.png")
        with pytest.raises(ImageReadError, match=r"image too large: 50x60 = 0 MP, more than the limit"):
            Image.MAX_IMAGE_PIXELS = None
            read_image(tmp_path / "big.png", max_pixels=100)
