"""The whole-photo pipeline's own time (issue 18): the faster paste keeps the output of the
previous implementation, and detecting on a down-scaled copy finds the faces full resolution finds."""
from __future__ import annotations

import numpy as np
import pytest

import hiface.faces.paste as paste
from hiface.faces.detect import to_uint8_rgb
from hiface.faces.masks import face_shape_mask, landmark_outline
from hiface.faces.paste import paste_faces, paste_region, upscale_image
from hiface.faces.render import render
from hiface.faces.templates import get_template


def _whole_crop(mask):
    """The previous implementation: every face worked on over its crop's whole bounding box."""
    return 0, 0, mask.shape[1], mask.shape[0]


def _scene(seed=0):
    """A textured photo with three faces (enlarged 4.5x at 2x output, 4x, shrunk to 0.3x), each
    with a face-shaped mask, an input crop and a 'restored' crop that differs from it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:260, 0:340].astype(np.float32) / 260
    img = np.stack([0.2 + 0.5 * x, 0.3 + 0.5 * y, 0.5 + 0.3 * np.sin(9 * x) * np.cos(7 * y)], -1)
    img = np.clip(img + rng.normal(0, 0.04, img.shape), 0, 1).astype(np.float32)
    S = 96
    tpl = get_template("ffhq512", S)
    faces, inputs, Ms, masks = [], [], [], []
    for cx, cy, side, ang in ((120, 130, 2 * S / 4.5, 0.25), (260, 70, S / 2, -0.1), (290, 210, 0.15 * S, 0.0)):
        s = S / side
        c, si = s * np.cos(ang), s * np.sin(ang)
        M = np.array([[c, si, 0.0], [-si, c, 0.0]])
        M[:, 2] = S / 2 - M[:, :2] @ np.array([cx, cy])
        crop = paste.warp_face(img, M, S, border="replicate")
        t = np.linspace(0, 1, S, dtype=np.float32)
        change = 0.15 * np.sin(20 * t)[:, None, None] * np.cos(13 * t)[None, :, None] + rng.normal(0, 0.02, crop.shape)
        faces.append(np.clip(crop + change, 0, 1).astype(np.float32))
        inputs.append(np.clip(crop, 0, 1))
        Ms.append(M)
        masks.append(face_shape_mask(landmark_outline(tpl), S))
    return img, faces, inputs, Ms, masks


@pytest.mark.parametrize("u", [2, 1])
def test_paste_over_the_mask_region_equals_the_whole_box(u, monkeypatch):
    img, faces, inputs, Ms, masks = _scene()
    kw = {"upscale": u, "masks": masks, "keep_detail": True, "inputs": inputs}
    new = paste_faces(upscale_image(img, u), faces, Ms, **kw)
    new8 = render(img, faces, Ms, u, np.uint8, masks=masks, keep_detail=True, inputs=inputs)
    with monkeypatch.context() as m:
        m.setattr(paste, "_support", _whole_crop)
        old = paste_faces(upscale_image(img, u), faces, Ms, **kw)
        old8 = render(img, faces, Ms, u, np.uint8, masks=masks, keep_detail=True, inputs=inputs)
        full = [paste_region(M, 96, u, 10**4, 10**4, mk, True) for M, mk in zip(Ms, masks)]
    # the region is smaller (the enlarged face: about half the box) ...
    small = [paste_region(M, 96, u, 10**4, 10**4, mk, True) for M, mk in zip(Ms, masks)]
    area = [(b[2] - b[0]) * (b[3] - b[1]) for b in small]
    full_area = [(b[2] - b[0]) * (b[3] - b[1]) for b in full]
    assert area[0] < 0.75 * full_area[0] and area[2] == full_area[2]  # (shrunk faces keep the box)
    # ... and the photo the same: warps from a shifted origin round sub-pixel positions differently
    assert np.abs(new - old).max() < 1 / 255 and np.abs(new - old).mean() < 1e-5
    d = np.abs(new8.astype(int) - old8)
    assert d.max() <= 1 and (d > 0).mean() < 1e-3


def test_unchanged_faces_are_not_pasted():
    """A face the auto fidelity left as it was (restored == input): the photo is the background."""
    img, faces, inputs, Ms, masks = _scene(1)
    out = render(img, inputs, Ms, 2, np.uint8, masks=masks, keep_detail=True, inputs=inputs)
    assert np.array_equal(out, render(img, [], [], 2, np.uint8))
    flt = paste_faces(upscale_image(img, 2), [x.copy() for x in inputs], Ms, upscale=2, masks=masks,
                      keep_detail=True, inputs=inputs)
    assert np.array_equal(flt, upscale_image(img, 2))


def test_to_uint8_rgb_one_pass_equals_the_rounding_formula():
    rng = np.random.default_rng(0)
    x = (rng.random((70, 90, 3)) * 1.4 - 0.2).astype(np.float32)  # out-of-range values too
    want = (np.clip(x, 0, 1) * 255.0 + 0.5).astype(np.uint8)
    assert np.array_equal(to_uint8_rgb(x), want)
    assert np.array_equal(to_uint8_rgb(x[..., :1]), np.repeat(want[..., :1], 3, axis=2))
    assert np.array_equal(to_uint8_rgb(x[:, ::2]), want[:, ::2])  # a strided view
    grid = (np.arange(256, dtype=np.float32) / 255).reshape(16, 16, 1)  # every 8-bit value round trips
    assert np.array_equal(to_uint8_rgb(grid)[..., 0], np.arange(256).reshape(16, 16))


@pytest.mark.shared
@pytest.mark.parametrize("name", ["gfpgan_00.jpg", "gpen_selfie_1.jpg"])
def test_detection_on_the_downscaled_copy_finds_the_full_resolution_faces(shared, name):
    """Detectors run on the photo shrunk to 1600 px (``max_side``): the same faces as at full
    resolution (1920 and 2316 px here), boxes within 3 px or 1.5 % of their width."""
    pytest.importorskip("dlib")
    from hiface.faces.detect import create_detector
    from hiface.io import read_image

    x = read_image(shared("data", "realworld", "whole", name)).pixels
    small = create_detector("dlib", landmarks=68)(x)
    full = create_detector("dlib", landmarks=68, max_side=None)(x)
    assert len(small) == len(full) >= 1
    for a, b in zip(small, full):
        tol = max(3.0, 0.015 * (b.box[2] - b.box[0]))
        assert np.abs(a.box - b.box).max() <= tol, (a.box, b.box)
        assert np.abs(a.landmarks - b.landmarks).max() <= tol


@pytest.mark.shared
def test_shared_photo_output_matches_the_previous_paste(shared, monkeypatch):
    """A whole shared photo through the pipeline's paste (face masks, colour transfer, detail-
    keeping delta, 2x, 8-bit in strips): within one level of the whole-box paste."""
    pytest.importorskip("dlib")
    import hiface
    from hiface.faces.masks import match_colour
    from hiface.faces.pipeline import FacePipeline
    from hiface.io import read_image

    x = read_image(shared("data", "realworld", "whole", "gfpgan_Blake_Lively.jpg")).pixels.astype(np.float32) / 255
    pipe = FacePipeline(hiface.create_restorer("identity"), "dlib")
    faces = pipe.detect(x)
    crops, Ms = pipe.align(x, faces)
    masks = pipe.paste_masks(faces, Ms)
    rng = np.random.default_rng(0)
    restored = [match_colour(np.clip(c * 1.1 - 0.03 + rng.normal(0, 0.01, c.shape), 0, 1).astype(np.float32), c, m)
                for c, m in zip(crops, masks)]
    new = pipe._paste(x, restored, Ms, crops, np.uint8, masks)
    monkeypatch.setattr(paste, "_support", _whole_crop)
    old = pipe._paste(x, restored, Ms, crops, np.uint8, masks)
    d = np.abs(new.astype(int) - old)
    assert len(faces) == 2 and d.max() <= 1 and (d > 0).mean() < 1e-3
