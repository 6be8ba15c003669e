"""The library's whole-photo API (what the CLI and any front-end call)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hiface
from hiface.errors import HifaceError
from hiface.io import read_image

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "portrait_old.jpg"


def test_restore_image_accepts_uint8_numpy_and_matches_restore_file(tmp_path):
    px = read_image(EXAMPLE).pixels
    assert px.dtype == np.uint8
    res = hiface.restore_image(px, upscale=1)  # default model, offline
    assert res.image.shape == px.shape and res.image.dtype == np.float32
    assert len(res.faces) >= 1
    fr = hiface.restore_file(EXAMPLE, tmp_path, hiface.load_pipeline(upscale=1))
    assert fr.output == tmp_path / "portrait_old.jpg" and fr.output.is_file()
    assert fr.n_faces == len(res.restored) and not fr.no_face
    # same pixels as the array API up to JPEG coding
    back = read_image(fr.output).pixels.astype(np.float32) / 255
    assert np.abs(back - res.image).mean() < 0.02


def test_restore_image_gray_and_float_inputs():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 255, (40, 30), dtype=np.uint8)
    res = hiface.restore_image(gray, model="identity", upscale=2)
    assert res.image.shape == (80, 60, 3) and res.faces == []
    f = rng.random((20, 20, 3)).astype(np.float64)
    assert hiface.restore_image(f, model="identity", upscale=1).image.shape == (20, 20, 3)


def test_restore_image_errors_are_clear():
    with pytest.raises(HifaceError, match="image array of shape"):
        hiface.restore_image(np.zeros((4, 4, 2), np.uint8), model="identity")
    with pytest.raises(HifaceError, match="unknown restore option"):
        hiface.RestoreOptions().replace(upscal=2)
