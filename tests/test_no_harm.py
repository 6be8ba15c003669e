"""The no-harm restorer contract: --fidelity auto, detail of large faces, --crop-template."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import hiface
from conftest import shared_path
from hiface.errors import HifaceError

VAL = Path(hiface.__file__).parent / "weights" / "hifacegan-lite.val.txt"


@pytest.fixture(scope="module")
def lite():
    return hiface.create_restorer("hifacegan-lite")


def _psnr(a, b) -> float:
    return float(10 * np.log10(1.0 / max(float(((a - b) ** 2).mean()), 1e-12)))


def _pairs(preset: str, names: list[str]):
    from hiface.degrade import benchmark_pair
    from hiface.io import read_image, to_tensor

    root = shared_path("data", "faces", "utk200")
    pairs = [benchmark_pair(read_image(root / n).pixels, n, preset, seed=0, size=256) for n in names]
    return torch.stack([to_tensor(g) for g, _ in pairs]), torch.stack([to_tensor(r.image) for _, r in pairs])


def test_auto_leaves_clean_and_jpeg_only_faces_alone(lite):
    names = VAL.read_text().split()[5::40][:6]
    gt, _ = _pairs("none", names)
    info: list = []
    out = lite.restore(gt, info=info)  # default fidelity for hifacegan-lite: auto
    for o, g in zip(out, gt):
        assert _psnr(o.numpy(), g.numpy()) >= 35.0                 # clean: stays >= 35 dB from its input
    assert all(d["weight"] is not None and d["weight"] < 0.2 for d in info), info
    gt, lq = _pairs("hifacegan-jpeg", names)
    out = lite.restore(lq)
    p_in = np.mean([_psnr(q.numpy(), g.numpy()) for q, g in zip(lq, gt)])
    p_out = np.mean([_psnr(o.numpy(), g.numpy()) for o, g in zip(out, gt)])
    assert p_out >= p_in - 0.1, (p_in, p_out)
    raw = lite.restore(lq, fidelity=1.0)                            # the model alone makes them worse
    assert np.mean([_psnr(o.numpy(), g.numpy()) for o, g in zip(raw, gt)]) < p_in - 2


def test_auto_restores_heavy_damage(lite):
    names = VAL.read_text().split()[7::40][:6]
    gt, lq = _pairs("hifacegan-fr", names)
    info: list = []
    out = lite.restore(lq, info=info)
    p_in = np.mean([_psnr(q.numpy(), g.numpy()) for q, g in zip(lq, gt)])
    p_out = np.mean([_psnr(o.numpy(), g.numpy()) for o, g in zip(out, gt)])
    assert p_out > p_in + 2.0, (p_in, p_out)
    assert np.mean([d["weight"] for d in info]) > 0.5, info      # measured 0.61 (two faces at 1.0)


def test_explicit_fidelity_overrides_auto(lite):
    x = torch.rand(2, 3, 256, 256)
    info: list = []
    full = lite.restore(x, fidelity=1.0, info=info)
    assert [d["weight"] for d in info] == [1.0, 1.0] and info[0]["severity"] is None
    assert torch.allclose(lite.restore(x, fidelity=0.0), x, atol=1e-6)        # 0 = the input face
    half = lite.restore(x, fidelity="0.5")
    assert torch.allclose(half, (x + full) / 2, atol=2e-3)
    # models with their own knob keep it; auto is only applied on request
    cf = hiface.create_restorer("identity")
    assert cf.resolve_fidelity(None) == (None, "auto")
    assert lite.resolve_fidelity(0.3) == (None, 0.3)
    assert lite.resolve_fidelity("auto") == (None, "auto")
    with pytest.raises(HifaceError, match="auto"):
        lite.resolve_fidelity("strong")


def test_cli_fidelity_number_wins_and_decisions_json(tmp_path, lite):
    from click.testing import CliRunner

    from hiface.cli.main import cli

    src = shared_path("data", "faces", "utk200") / VAL.read_text().split()[3]
    res = CliRunner().invoke(cli, ["restore", str(src), "-o", str(tmp_path), "--aligned", "--crop-template", "dlib-chip",
                                   "--fidelity", "0.3", "--save-faces", "--upscale", "1"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "faces" / f"{src.stem}.json").read_text())
    (d,) = doc["faces"]
    assert d["fidelity"] == 0.3 and d["weight"] == 0.3 and d["severity"] is None
    res = CliRunner().invoke(cli, ["restore", str(src), "-o", str(tmp_path / "a"), "--aligned", "--save-faces",
                                   "--crop-template", "dlib-chip", "--upscale", "1"])
    assert res.exit_code == 0, res.output
    (d,) = json.loads((tmp_path / "a" / "faces" / f"{src.stem}.json").read_text())["faces"]
    assert d["fidelity"] == "auto" and 0.0 <= d["weight"] <= 1.0 and d["severity"] is not None
    assert d["scale"] == pytest.approx(200 / 256, abs=0.01)
    res = CliRunner().invoke(cli, ["restore", str(src), "-o", str(tmp_path / "b"), "--fidelity", "1.5"])
    assert res.exit_code != 0 and "not in [0, 1]" in res.output


def _laplacian_var(img: np.ndarray) -> float:
    import cv2

    g = cv2.cvtColor(img.astype(np.float32), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(g, cv2.CV_32F).var())


def test_large_face_keeps_its_high_frequencies(lite):
    """A sharp face 3x larger than the model's crop: the paste-back takes only what the 256² crop
    can hold from the restoration and keeps the photo's finer detail."""
    import cv2

    from hiface.faces.detect import Face
    from hiface.faces.pipeline import FacePipeline
    from hiface.faces.templates import RETINAFACE_UNIT, unit_to_chip
    from hiface.io import read_image

    chip = read_image(shared_path("data", "faces", "utk200") / VAL.read_text().split()[11]).pixels
    k = 4.0
    big = cv2.resize(chip.astype(np.float32) / 255, None, fx=k, fy=k, interpolation=cv2.INTER_LANCZOS4)
    rng = np.random.default_rng(0)
    big = np.clip(big + rng.normal(0, 0.03, big.shape[:2])[..., None].astype(np.float32), 0, 1)  # fine "pores"
    lm = (unit_to_chip(RETINAFACE_UNIT, 200) + 0.5) * k - 0.5
    face = Face(box=np.array([0, 0, big.shape[1], big.shape[0]], float), landmarks=lm, score=1.0)
    region = (slice(200, 600), slice(200, 600))
    outs = {}
    for keep in (True, False):
        pipe = FacePipeline(lite, "dlib", upscale=1, fidelity=1.0, keep_detail=keep)
        res = pipe(big, faces=[face])
        outs[keep] = res
    v_in = _laplacian_var(big[region])
    v_keep, v_old = _laplacian_var(outs[True].image[region]), _laplacian_var(outs[False].image[region])
    assert v_keep >= 0.95 * v_in, (v_in, v_keep)
    assert v_old < 0.5 * v_in, (v_in, v_old)     # what pasting the 256² face alone did
    (d,) = outs[True].decisions
    assert d["scale"] == pytest.approx(k * 200 / 256, rel=0.02) and d["detail_sigma"] > 1.0 and d["weight"] == 1.0


def test_ffhq_crop_round_trip_restores_only_the_face_region(lite):
    import cv2

    from hiface.faces.align import invert_affine, transform_points
    from hiface.faces.crops import crop_transform
    from hiface.faces.pipeline import FacePipeline
    from hiface.io import read_image

    src = shared_path("data", "faces", "ffhq1024") / "00000.png"
    img = cv2.resize(read_image(src).pixels, (512, 512), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    pipe = FacePipeline(lite, "dlib", upscale=1, fidelity=1.0, crop_template="ffhq512")
    res = pipe(img, aligned=True)
    assert res.image.shape == img.shape and res.notes == []             # a true FFHQ crop: no warning
    M = crop_transform("ffhq512", (512, 512), "dlib-chip", 256)
    # pixels whose crop coordinates are outside the model's 256² crop are the input's
    yy, xx = np.mgrid[0:512, 0:512]
    c = transform_points(M, np.stack([xx.ravel(), yy.ravel()], 1)).reshape(512, 512, 2)
    outside = (c.min(-1) < -2) | (c.max(-1) > 258)
    inside = (c.min(-1) > 60) & (c.max(-1) < 196)
    diff = np.abs(res.image - img).max(-1)
    assert outside.sum() > 0.3 * outside.size and diff[outside].max() < 1e-6      # hair, background untouched
    assert diff[inside].mean() > 0.01                                              # the face was restored
    corners = transform_points(invert_affine(M), np.array([[0, 0], [255, 255]]))
    assert 60 < corners[0, 0] < 160 and 350 < corners[1, 0] < 450                 # the chip sits inside the crop


def test_crop_template_mismatch_warns():
    from hiface.faces.crops import check_crop_template
    from hiface.faces.templates import get_template

    assert check_crop_template(get_template("ffhq512", 512), "ffhq512", (512, 512)) is None
    msg = check_crop_template(get_template("dlib-chip", 512), "ffhq512", (512, 512))
    assert msg and "--crop-template dlib-chip" in msg


def test_resume_fingerprint_has_fidelity_and_crop_template():
    from hiface.batch import restore_settings
    from hiface.photo import RestoreOptions

    o = RestoreOptions(model="identity", weights=None)
    s = restore_settings(o, aligned=True)
    assert s["fidelity"] == "auto" and s["fidelity_estimator"].startswith("sha256:")
    assert s["crop_template"] == "ffhq512" and restore_settings(o)["crop_template"] is None
    assert restore_settings(o.replace(fidelity="auto")) == restore_settings(o)  # None means auto here
    one = restore_settings(o.replace(fidelity=1.0))
    assert one["fidelity"] == 1.0 and "fidelity_estimator" not in one
    assert restore_settings(o.replace(crop_template="dlib-chip"), aligned=True)["crop_template"] == "dlib-chip"
    cf = restore_settings(RestoreOptions(model="codeformer", weights=None))
    assert cf["fidelity"] == 0.5  # a model with its own knob keeps its default
