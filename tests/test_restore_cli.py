"""`hiface restore`: formats round trip with the identity model, outputs, errors, guided options."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import hiface.models as M
import hiface.registry as R
from hiface.cli.restore import restore

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
import dlib  # noqa: E402,F401  (declared dependency: faces/dev extras)


def run(*args):
    r = CliRunner().invoke(restore, [str(a) for a in args], catch_exceptions=False)
    return r.exit_code, r.output + (r.stderr if r.stderr_bytes is not None else "")


def _portrait(tmp_path, name="p.png"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    p = tmp_path / name
    Image.open(EXAMPLES / "portrait_old.jpg").save(p)
    return p


class FakeGuided(M.Restorer):
    """Guided test restorer: mixes the face with the aligned guide; 'warped' = guide."""

    def restore(self, faces, fidelity=None, batch_size=None, guide=None, return_warped=False, **kw):
        assert guide is not None and return_warped
        return 0.5 * faces + 0.5 * guide, guide


@pytest.fixture
def fake_guided(monkeypatch):
    R._ensure_loaded()
    cfg = M.PretrainedConfig(name="test-fake-guided", arch="hiface.restorers.base:identity_net",
                             restorer="test_restore_cli:FakeGuided", native_size=128, template="ffhq512",
                             has_weights=False, guided=True)
    monkeypatch.setitem(R._REGISTRY, cfg.name, cfg)
    return cfg.name


def test_default_model_needs_no_flag(tmp_path):
    """Without --model the shipped default (hifacegan-lite) restores the photo, offline."""
    code, out = run(EXAMPLES / "portrait_old.jpg", "-o", tmp_path / "a", "--upscale", "1")
    assert code == 0 and "1 face(s) restored" in out, out
    # the default --fidelity auto blends this face in part (measured weight 0.135); the model at
    # full strength (--fidelity 1) must change it clearly
    code, out = run(EXAMPLES / "portrait_old.jpg", "-o", tmp_path / "d", "--upscale", "1", "--fidelity", "1")
    assert code == 0 and "1 face(s) restored" in out, out
    code, _ = run(EXAMPLES / "portrait_old.jpg", "-o", tmp_path / "i", "--upscale", "1", "--model", "identity")
    assert code == 0
    ident = np.asarray(Image.open(tmp_path / "i" / "portrait_old.jpg").convert("RGB"), dtype=np.float32)
    dst = np.asarray(Image.open(tmp_path / "d" / "portrait_old.jpg").convert("RGB"), dtype=np.float32)
    diff = np.abs(dst - ident)  # same pipeline and encoding: only the restorer differs
    assert dst.shape == ident.shape and diff.max() > 15 and (diff > 8).sum() > 300


def test_identity_photo_round_trip_and_outputs(tmp_path):
    src = _portrait(tmp_path / "in")
    code, out = run(src, "-o", tmp_path / "out", "--model", "identity", "--upscale", "1", "--save-faces", "--compare")
    assert code == 0, out
    assert "1 file(s) done, 1 face(s) restored" in out
    a = np.asarray(Image.open(src), dtype=np.float32)
    b = np.asarray(Image.open(tmp_path / "out" / "p.png"), dtype=np.float32)
    assert a.shape == b.shape
    d = np.abs(a - b)
    assert d.mean() < 0.3 and d.max() < 12  # 8-bit levels: re-quantised, no seam, no colour shift
    assert abs(a.mean((0, 1)) - b.mean((0, 1))).max() < 0.1
    faces = sorted(p.name for p in (tmp_path / "out" / "faces").iterdir())
    assert faces == ["p.json", "p_00_input.png", "p_00_restored.png"]  # p.json: the per-face decisions
    assert Image.open(tmp_path / "out" / "faces" / "p_00_input.png").size == (512, 512)
    assert Image.open(tmp_path / "out" / "compare" / "p.png").size == (768, 384)
    # the same command again: already done, skipped (exit 0); other settings: refused before any
    # work (exit 1), never overwritten without --overwrite
    args = [src, "-o", tmp_path / "out", "--model", "identity", "--upscale", "1"]
    code, out = run(*args, "--save-faces", "--compare")
    assert code == 0 and "1 skipped" in out
    code, out = run(*args)
    assert code == 1 and "different settings" in out and "nothing was restored" in out


def test_upscale_two_and_jpg(tmp_path):
    code, out = run(EXAMPLES / "group.jpg", "-o", tmp_path, "--model", "identity")
    assert code == 0 and "3 face(s) restored" in out
    assert Image.open(tmp_path / "group.jpg").size == (1280, 720)


def test_no_face_is_a_note_and_bad_file_is_reported(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    grad = (np.linspace(0, 255, 64)[None, :, None] * np.ones((48, 1, 3))).astype(np.uint8)
    Image.fromarray(grad).save(inp / "sky.png")
    (inp / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code, out = run(inp, "-o", tmp_path / "out", "--model", "identity")
    assert code == 1
    assert "no face found" in out and "FAILED" in out and "broken.jpg" in out
    sky = np.asarray(Image.open(tmp_path / "out" / "sky.png"))
    assert sky.shape == (96, 128, 3)
    assert not (tmp_path / "out" / "broken.jpg").exists()


def test_rgba_round_trip(tmp_path):
    rgb = np.asarray(Image.open(EXAMPLES / "portrait_old.jpg"))
    alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "a.png")
    code, out = run(tmp_path / "a.png", "-o", tmp_path / "out", "--model", "identity", "--upscale", "1")
    assert code == 0 and "1 face(s)" in out
    o = Image.open(tmp_path / "out" / "a.png")
    assert o.mode == "RGBA"
    oa = np.asarray(o)
    np.testing.assert_array_equal(oa[..., 3], alpha)
    assert np.abs(oa[..., :3].astype(int) - rgb).mean() < 0.3


def test_grayscale_stays_grayscale(tmp_path):
    code, out = run(EXAMPLES / "portrait_faded_gray.jpg", "-o", tmp_path, "--model", "identity", "--ext", "png")
    assert code == 0 and "1 face(s)" in out
    o = Image.open(tmp_path / "portrait_faded_gray.png")
    assert o.mode == "L" and o.size == (640, 640)


def test_16bit_round_trip(tmp_path):
    import cv2

    rgb = np.asarray(Image.open(EXAMPLES / "portrait_old.jpg")).astype(np.uint16) * 257 + 100
    cv2.imwrite(str(tmp_path / "deep.png"), rgb[..., ::-1])
    code, out = run(tmp_path / "deep.png", "-o", tmp_path / "out", "--model", "identity", "--upscale", "1")
    assert code == 0 and "1 face(s)" in out
    o = cv2.imread(str(tmp_path / "out" / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert o.dtype == np.uint16 and o.shape == rgb.shape
    d = np.abs(o[..., ::-1].astype(np.int64) - rgb)
    assert d.mean() < 0.3 * 257
    far = d[:, :60]  # left border: untouched exactly, all 16 bits kept
    assert far.max() == 0 and (o[..., 0] % 257 != 0).any()


def test_exif_rotated_input_is_upright(tmp_path):
    im = Image.open(EXAMPLES / "portrait_old.jpg").convert("RGB")
    stored = im.transpose(Image.Transpose.ROTATE_90)  # as a camera would store it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    stored.save(tmp_path / "cam.jpg", exif=exif.tobytes(), quality=95)
    code, out = run(tmp_path / "cam.jpg", "-o", tmp_path / "out", "--model", "identity", "--upscale", "1", "--ext", "png")
    assert code == 0 and "1 face(s) restored" in out  # the face is only found upright
    o = np.asarray(Image.open(tmp_path / "out" / "cam.png"), dtype=np.float32)
    assert o.shape == (384, 384, 3)
    assert np.abs(o - np.asarray(im, dtype=np.float32)).mean() < 3  # upright, like the original


def test_aligned_crops(tmp_path):
    code, out = run(EXAMPLES / "face_tiny.png", "-o", tmp_path, "--model", "identity", "--aligned", "--upscale", "2")
    assert code == 0 and "1 face(s) restored" in out
    assert Image.open(tmp_path / "face_tiny.png").size == (192, 192)


def test_guide_options(tmp_path, fake_guided):
    src = EXAMPLES / "group.jpg"
    code, out = run(src, "-o", tmp_path, "--model", fake_guided)
    assert code == 2 and "guided restorer" in out and "--guide" in out
    code, out = run(src, "-o", tmp_path, "--model", "identity", "--guide", EXAMPLES / "portrait_old.jpg")
    assert code == 2 and "only works with guided models" in out
    code, out = run(src, "-o", tmp_path / "o1", "--model", fake_guided, "--guide", EXAMPLES / "portrait_old.jpg",
                    "--guide-face", "2", "--save-warped", "--upscale", "1")
    assert code == 0, out
    assert "1 face(s) restored" in out  # of the 3 faces in the group, only the guided one
    assert sorted(p.name for p in (tmp_path / "o1" / "warped").iterdir()) == ["group_02_guide.png"]
    assert Image.open(tmp_path / "o1" / "warped" / "group_02_guide.png").size == (128, 128)
    # a guide photo without a face is a clear per-run error
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "blank.png")
    code, out = run(src, "-o", tmp_path / "o2", "--model", fake_guided, "--guide", tmp_path / "blank.png")
    assert code == 1 and "no face found in the guide photo" in out
