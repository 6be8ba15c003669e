"""Face-shaped paste masks, the colour transfer before blending, and the mask-mode round trip."""
from __future__ import annotations

import numpy as np
import pytest

import hiface
from hiface.errors import HifaceError
from hiface.faces.masks import face_shape_mask, landmark_outline, match_colour, paste_masks
from hiface.faces.pipeline import FacePipeline
from hiface.faces.templates import get_template
from test_restore_pipeline import _face_at, _Fake, _texture


def test_outline_from_5_points_covers_the_face_not_the_box():
    lm = get_template("ffhq512", 512)
    m = face_shape_mask(landmark_outline(lm), 512)
    assert m.shape == (512, 512) and m.dtype == np.float32
    for x, y in np.round(lm).astype(int):  # eyes, nose, mouth corners fully restored
        assert m[y, x] == 1
    assert m[256, 256] == 1
    assert m[20, 20] == 0 and m[20, 256] == 0 and m[256, 20] == 0  # hair, background, ears: input
    assert 0.15 < m.mean() < 0.35  # a face, not the 0.7 of the box


def test_outline_from_68_points_lifts_the_forehead():
    # a synthetic 68-point face: jaw on a lower half-ellipse, brows above the eyes
    t = np.linspace(np.pi, 0, 17)
    jaw = np.stack([256 - 150 * np.cos(t), 250 + 180 * np.sin(t)], 1)
    pts = np.zeros((68, 2))
    pts[:17] = jaw
    pts[17:27] = np.stack([np.linspace(150, 362, 10), np.full(10, 200)], 1)
    pts[36:42], pts[42:48] = (190, 240), (322, 240)
    pts[48], pts[54] = (210, 370), (302, 370)
    out = landmark_outline(pts)
    assert out[:, 1].min() == pytest.approx(200 - 0.6 * 130, abs=0.5)  # brows lifted by 0.6 x eye-mouth
    assert out[:, 1].max() == pytest.approx(430, abs=0.5)  # the chin


def test_colour_match_removes_tone_drift_keeps_detail():
    src = _texture(128, 128)
    detail = 0.05 * np.sign(np.sin(np.arange(128) * 2.0))[None, :, None].astype(np.float32)
    restored = np.clip(src + 0.15 + detail, 0, 1)  # drifted tone + fine detail
    m = face_shape_mask(landmark_outline(get_template("ffhq512", 128)), 128)
    out = match_colour(restored, src, m)
    inside = m > 0.5
    assert abs((out - src)[inside].mean()) < 0.01  # tone back to the input's
    hp = out - src
    assert np.abs(hp[inside]).mean() > 0.03  # the high-frequency detail survives


@pytest.mark.parametrize("mask", ["face", "box"])
@pytest.mark.parametrize("colour", [True, False])
def test_identity_round_trip_each_mask_mode(mask, colour):
    img = _texture()
    faces = [_face_at(110, 160, 40), _face_at(280, 160, 45)]
    p = FacePipeline(hiface.create_restorer("identity"), upscale=1, paste_mask=mask, color_match=colour)
    res = p(img, faces=faces)
    d = np.abs(res.image - img)
    assert d.max() < 4 / 255 and d.mean() < 0.1 / 255
    np.testing.assert_allclose(res.image.mean((0, 1)), img.mean((0, 1)), atol=0.05 / 255)


def test_face_mask_pastes_less_than_the_box():
    img = np.full((300, 300, 3), 0.4, np.float32)
    changed = {}
    for mask in ("face", "box"):
        p = FacePipeline(_Fake(lambda x: (x + 0.2).clamp(0, 1)), upscale=1, paste_mask=mask, color_match=False)
        changed[mask] = int((np.abs(p(img, faces=[_face_at(150, 150, 50)]).image - img) > 0.01).sum())
    assert 0.2 * changed["box"] < changed["face"] < 0.6 * changed["box"]
    with pytest.raises(HifaceError, match="paste_mask must be 'face' or 'box'"):
        FacePipeline(_Fake(lambda x: x), paste_mask="oval")


def test_paste_masks_use_68_points_when_present():
    from dataclasses import replace

    f = _face_at(150, 150, 50)
    M = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    m5 = paste_masks([f], [M], 300)[0]
    assert m5.shape == (300, 300) and m5[150, 150] == 1
    pts = np.zeros((68, 2))  # a narrow 68-point face: the mask follows it, not the 5-point ellipse
    pts[:17] = np.stack([np.linspace(120, 180, 17), 150 + 60 * np.sin(np.linspace(0, np.pi, 17))], 1)
    pts[17:27] = np.stack([np.linspace(120, 180, 10), np.full(10, 120)], 1)
    pts[36:42], pts[42:48], pts[48], pts[54] = (135, 130), (165, 130), (140, 180), (160, 180)
    m68 = paste_masks([replace(f, points=pts)], [M], 300)[0]
    assert m68[150, 150] == 1 and m68[150, 110] == 0 and m5[150, 110] > 0.5


def test_restore_cli_mask_options(tmp_path):
    pytest.importorskip("dlib")
    from pathlib import Path

    from click.testing import CliRunner
    from PIL import Image

    from hiface.cli.restore import restore

    src = Path(__file__).resolve().parents[1] / "examples" / "portrait_old.jpg"
    outs = {}
    for opts in (["--paste-mask", "box"], ["--paste-mask", "face", "--no-color-match"]):
        d = tmp_path / opts[1]
        r = CliRunner().invoke(restore, [str(src), "-o", str(d), "--upscale", "1", "--model", "identity",
                                         "--bg-upsampler", "lanczos", *opts], catch_exceptions=False)
        assert r.exit_code == 0 and "1 face(s) restored" in r.output, r.output
        outs[opts[1]] = np.asarray(Image.open(d / src.name).convert("RGB"), np.float32)
    x = np.asarray(Image.open(src).convert("RGB"), np.float32)
    for o in outs.values():
        assert o.shape == x.shape and np.abs(o - x).mean() < 1.5  # identity: the photo back (JPEG re-encode)
    r = CliRunner().invoke(restore, [str(src), "-o", str(tmp_path / "z"), "--paste-mask", "oval"])
    assert r.exit_code == 2 and "oval" in r.output


def test_restore_options_reach_the_pipeline():
    from hiface.photo import RestoreOptions, load_pipeline

    p = load_pipeline(RestoreOptions(model="identity", paste_mask="box", color_match=False, bg_upsampler="lanczos"),
                      cache=False)
    assert p.paste_mask == "box" and p.color_match is False and p.bg_upsampler is None
    d = load_pipeline(RestoreOptions(model="identity"), cache=False)
    assert d.paste_mask == "face" and d.color_match is True
