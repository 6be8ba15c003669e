"""`hiface evaluate`: pairing by name, unmatched files, no-reference mode, report files."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hiface.cli.main import cli
from hiface.errors import HifaceError
from hiface.evaluation.evaluate import pair_files, pick_extremes
from hiface.io import write_image


@pytest.fixture(autouse=True)
def _no_weights(tmp_path, monkeypatch):
    # LPIPS/FID weights must be reported unavailable, whatever this machine's caches hold
    monkeypatch.setenv("HIFACE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for k in ("HIFACE_LPIPS_WEIGHTS", "HIFACE_FID_WEIGHTS", "HIFACE_WORKERS", "HIFACE_NIQE_PARAMS"):
        monkeypatch.delenv(k, raising=False)


def _invoke(*args):
    return CliRunner().invoke(cli, ["evaluate", *map(str, args)], catch_exceptions=False)


def test_pair_files_by_stem(tmp_path):
    r = [Path("r/a.png"), Path("r/b.png"), Path("r/c.png")]
    g = [Path("g/a.jpg"), Path("g/b.png"), Path("g/d.png")]
    with pytest.raises(HifaceError) as e:
        pair_files(r, g)
    msg = str(e.value)
    assert "1 restored file(s) without ground truth: c.png" in msg
    assert "1 ground-truth file(s) without a restored image: d.png" in msg
    assert "--ignore-unmatched" in msg
    pairs = pair_files(r, g, ignore_unmatched=True)
    assert [(n, a.name, b.name) for n, a, b in pairs] == [("a", "a.png", "a.jpg"), ("b", "b.png", "b.png")]
    assert [p[2] for p in pair_files(r, None)] == [None, None, None]
    with pytest.raises(HifaceError, match="same name but different extensions"):
        pair_files([Path("a.png"), Path("a.jpg")], g)
    with pytest.raises(HifaceError, match="No file names match"):
        pair_files([Path("x.png")], [Path("y.png")], ignore_unmatched=True)


def test_pick_extremes_is_direction_aware():
    rows = [{"name": str(i), "values": {"psnr": float(i), "niqe": float(i)}} for i in range(6)]
    psnr = pick_extremes(rows, "psnr", k=2)
    assert [(c, r["name"]) for c, r in psnr] == [("worst #1", "0"), ("worst #2", "1"), ("best #1", "5"), ("best #2", "4")]
    niqe = pick_extremes(rows, "niqe", k=1)
    assert [(c, r["name"]) for c, r in niqe] == [("worst #1", "5"), ("best #1", "0")]


def _make_set(root: Path, n=3, size=200, shared=None):
    """GT faces (shared UTKFace chips when available, else smooth synthetic images) and blurred
    'restorations' of increasing strength."""
    import cv2

    gt, rs = root / "gt", root / "restored"
    imgs = []
    if shared is not None:
        from hiface.io import read_image

        d = shared("data", "faces", "utk200")
        imgs = [read_image(p).pixels for p in sorted(d.glob("*.jpg"))[:n]]
    if not imgs:
        rng = np.random.default_rng(0)
        imgs = [cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (0, 0), 2) for _ in range(n)]
    for i, a in enumerate(imgs):
        write_image(gt / f"img{i}.png", a)
        write_image(rs / f"img{i}.jpg", cv2.GaussianBlur(a, (0, 0), 0.8 + i), quality=98)
    return gt, rs


def test_evaluate_writes_reports(tmp_path, shared):
    gt, rs = _make_set(tmp_path, shared=shared)
    out = tmp_path / "rep"
    res = _invoke("--restored", rs, "--gt", gt, "--input", rs, "--out", out, "--no-progress")
    assert res.exit_code == 0, res.output
    for f in ("metrics.md", "per_image.csv", "metrics.json", "report.html"):
        assert (out / f).is_file(), f
    html = (out / "report.html").read_text()
    from hiface.metrics.registry import METRICS

    for m in METRICS.values():  # every metric named, with its direction
        assert m.header in html, m.header
    assert html.count("<img") >= 3 and "worst #1" in html and "best #1" in html
    assert "input" in html and "ground truth" in html
    doc = json.loads((out / "metrics.json").read_text())
    summ = doc["summary"]["restored"]["metrics"]
    assert summ["lpips"]["status"].startswith("unavailable (weights not found)")
    assert summ["fid"]["mean"] is None and summ["lpips"]["mean"] is None  # never a silent zero
    assert summ["psnr"]["n"] == 3 and summ["psnr"]["mean"] > 20
    assert summ["mnv2_fd"]["mean"] is not None and "proxy" in doc["metrics"]["mnv2_fd"]["description"]
    rows = list(csv.DictReader((out / "per_image.csv").open()))
    assert [r["name"] for r in rows] == ["img0", "img1", "img2"]
    psnrs = [float(r["psnr"]) for r in rows]
    assert psnrs[0] > psnrs[1] > psnrs[2]  # more blur, lower PSNR
    md = (out / "metrics.md").read_text()
    assert "PSNR ↑" in md and "NIQE ↓" in md and "unavailable (weights not found)" in md
    assert "on RGB in [0,1], crop border 0 px" in md
    # an existing report is kept unless --overwrite
    res2 = _invoke("--restored", rs, "--gt", gt, "--out", out, "-m", "psnr")
    assert res2.exit_code == 1 and "--overwrite" in res2.output


def test_evaluate_y_channel_and_unmatched(tmp_path):
    gt, rs = _make_set(tmp_path, n=2, size=64)
    out = tmp_path / "rep"
    res = _invoke("-r", rs, "-g", gt, "-m", "psnr,ssim", "--y-channel", "--crop-border", "4", "-o", out)
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["settings"]["y_channel"] is True and "Y channel" in doc["settings"]["pixels"]
    assert list(doc["metrics"]) == ["psnr", "ssim"]
    write_image(rs / "extra.png", np.zeros((64, 64, 3), np.uint8))
    res = _invoke("-r", rs, "-g", gt, "-m", "psnr", "-o", tmp_path / "rep2")
    assert res.exit_code == 1
    assert "without ground truth: extra.png" in res.output
    res = _invoke("-r", rs, "-g", gt, "-m", "psnr", "-o", tmp_path / "rep3", "--ignore-unmatched")
    assert res.exit_code == 0, res.output


def test_evaluate_no_reference_and_bad_pairs(tmp_path):
    gt, rs = _make_set(tmp_path, n=2, size=200)
    res = _invoke("-r", rs, "-o", tmp_path / "nr")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "nr" / "metrics.json").read_text())
    assert list(doc["metrics"]) == ["niqe"] and doc["images"][0]["gt"] is None
    res = _invoke("-r", rs, "-m", "psnr", "-o", tmp_path / "x")
    assert res.exit_code != 0 and "needs ground truth" in res.output
    # a size mismatch fails that pair only, with the reason
    write_image(rs / "img1.jpg", np.zeros((100, 100, 3), np.uint8), overwrite=True)
    res = _invoke("-r", rs, "-g", gt, "-m", "psnr", "-o", tmp_path / "y")
    assert res.exit_code == 1 and "differs from the ground truth" in res.output
    assert "1 scored, 1 failed" in res.output


def test_list_metrics():
    res = _invoke("--list-metrics")
    assert res.exit_code == 0 and "niqe" in res.output and "no-reference" in res.output
    help_ = _invoke("--help").output
    assert "Examples:" in help_ and "--y-channel" in help_


def test_parallel_workers_match_serial(tmp_path):
    gt, rs = _make_set(tmp_path, n=3, size=48)
    a = _invoke("-r", rs, "-g", gt, "-m", "psnr,ssim", "-o", tmp_path / "serial", "-j", "1")
    b = _invoke("-r", rs, "-g", gt, "-m", "psnr,ssim", "-o", tmp_path / "par", "-j", "2")
    assert a.exit_code == 0 and b.exit_code == 0, b.output
    ra = json.loads((tmp_path / "serial" / "metrics.json").read_text())["images"]
    rb = json.loads((tmp_path / "par" / "metrics.json").read_text())["images"]
    assert [r["values"] for r in ra] == [r["values"] for r in rb]


def test_small_images_say_why_a_metric_has_no_value(tmp_path):
    gt, rs = _make_set(tmp_path, n=2, size=100)
    res = _invoke("-r", rs, "-g", gt, "-m", "psnr,ms_ssim,niqe", "-o", tmp_path / "r")
    assert res.exit_code == 0, res.output
    summ = json.loads((tmp_path / "r" / "metrics.json").read_text())["summary"]["restored"]["metrics"]
    assert summ["psnr"]["n"] == 2
    assert summ["ms_ssim"]["mean"] is None and "larger than 160x160" in summ["ms_ssim"]["status"]
    assert summ["niqe"]["mean"] is None
    assert "96x96" in summ["niqe"]["status"] or summ["niqe"]["status"].startswith("unavailable")
    assert "n/a (MS-SSIM with 5 scales needs images larger than 160x160" in (tmp_path / "r" / "metrics.md").read_text()


def test_lpips_and_fid_with_weight_files(tmp_path):
    """With weight files given, LPIPS and FID are computed (random weights here: the plumbing)."""
    import torch

    from hiface.metrics.fid import FIDInceptionV3
    from hiface.metrics.lpips import AlexNetFeatures

    torch.manual_seed(0)
    torch.save(AlexNetFeatures().state_dict(), tmp_path / "alex.pth")
    torch.save(FIDInceptionV3().state_dict(), tmp_path / "inception.pth")
    gt, rs = _make_set(tmp_path, n=3, size=48)
    res = _invoke("-r", rs, "-g", gt, "-m", "lpips,fid", "-o", tmp_path / "r",
                  "--lpips-weights", tmp_path / "alex.pth", "--fid-weights", tmp_path / "inception.pth")
    assert res.exit_code == 0, res.output
    summ = json.loads((tmp_path / "r" / "metrics.json").read_text())["summary"]["restored"]["metrics"]
    assert summ["lpips"]["n"] == 3 and summ["lpips"]["mean"] > 0
    assert summ["fid"]["n"] == 3 and summ["fid"]["mean"] is not None and summ["fid"]["status"].startswith("ok")
    same = _invoke("-r", gt, "-g", gt, "-m", "lpips,fid", "-o", tmp_path / "same",
                   "--lpips-weights", tmp_path / "alex.pth", "--fid-weights", tmp_path / "inception.pth")
    assert same.exit_code == 0, same.output
    s2 = json.loads((tmp_path / "same" / "metrics.json").read_text())["summary"]["gt"]["metrics"]
    assert abs(s2["fid"]["mean"]) < 1e-6 and abs(s2["lpips"]["mean"]) < 1e-6  # identical sets
    res = CliRunner().invoke(cli, ["evaluate", "-r", str(rs), "-g", str(gt), "-o", str(tmp_path / "r2"),
                                   "--lpips-weights", str(tmp_path / "none.pth")])
    assert res.exit_code == 2 and "does not exist" in res.output  # an explicit file must exist


def test_unfit_weight_file_makes_the_metric_unavailable(tmp_path):
    import torch

    torch.save({"features.0.weight": torch.zeros(3, 3)}, tmp_path / "bad.pth")
    gt, rs = _make_set(tmp_path, n=2, size=48)
    res = _invoke("-r", rs, "-g", gt, "-m", "psnr,lpips", "-o", tmp_path / "r", "--lpips-weights", tmp_path / "bad.pth")
    assert res.exit_code == 0, res.output
    summ = json.loads((tmp_path / "r" / "metrics.json").read_text())["summary"]["restored"]["metrics"]
    assert summ["psnr"]["n"] == 2
    assert summ["lpips"]["mean"] is None and "does not fit" in summ["lpips"]["status"]
    assert "note: lpips: unavailable" in res.output
