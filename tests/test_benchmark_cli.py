"""Baselines and `hiface benchmark` end to end on tiny synthetic faces."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hiface.baselines import BASELINES, bicubic_baseline, get_baseline, nlmeans_unsharp
from hiface.cli.main import cli
from hiface.errors import HifaceError
from hiface.io import read_image, write_image


def _smooth(seed: int, h: int, w: int) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3)


def test_bicubic_baseline_is_area_down_bicubic_up():
    import cv2

    a = _smooth(0, 64, 48)
    out = bicubic_baseline(a, 4)
    assert out.shape == a.shape and out.dtype == np.uint8
    lr = cv2.resize(a, (12, 16), interpolation=cv2.INTER_AREA)
    assert np.array_equal(out, cv2.resize(lr, (48, 64), interpolation=cv2.INTER_CUBIC))


def test_nlmeans_reduces_noise_and_tensor_interface():
    rng = np.random.default_rng(1)
    flat = np.full((64, 64, 3), 120, np.uint8)
    noisy = np.clip(flat + rng.normal(0, 15, flat.shape), 0, 255).astype(np.uint8)
    den = nlmeans_unsharp(noisy)
    assert den.shape == noisy.shape
    assert np.abs(den.astype(int) - 120).mean() < 0.5 * np.abs(noisy.astype(int) - 120).mean()
    x = torch.from_numpy(noisy).permute(2, 0, 1).float()[None] / 255
    for b in BASELINES.values():  # Restorer-like: (B,3,H,W) in [0,1] -> same shape
        y = b(x)
        assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert torch.allclose(get_baseline("degraded")(x), x, atol=1 / 510)
    with pytest.raises(HifaceError, match="unknown baseline"):
        get_baseline("bilinear")


def test_benchmark_end_to_end(tmp_path):
    gt = tmp_path / "faces"
    for i in range(3):
        write_image(gt / f"f{i}.png", _smooth(i, 230, 200))  # non-square: centre-cropped by --size
    out = tmp_path / "bench"
    args = ["benchmark", "--gt", str(gt), "-o", str(out), "--models", "identity", "--size", "192",
            "--limit", "2", "--metrics", "psnr,ssim,niqe", "--seed", "0", "--no-progress"]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    for f in ("benchmark.md", "benchmark.csv", "benchmark.json", "benchmark.html", "per_image.csv", "contact_sheet.jpg",
              "manifest.json"):
        assert (out / f).is_file(), f
    doc = json.loads((out / "benchmark.json").read_text())
    assert list(doc["summary"]) == ["degraded", "bicubic", "nlmeans", "identity"]
    assert doc["n_images"] == 2 and doc["preset"] == "hifacegan-fr"
    s = doc["summary"]
    # the identity model returns its input: same scores as the "degraded" baseline
    niqe = s["degraded"]["metrics"]["niqe"]
    assert niqe["n"] == 2 or niqe["status"].startswith("unavailable")  # basicsr not installed
    for m in ("psnr", "ssim", "niqe"):
        assert s["identity"]["metrics"][m]["mean"] == pytest.approx(s["degraded"]["metrics"][m]["mean"], abs=1e-9)
    assert s["bicubic"]["metrics"]["psnr"]["mean"] != pytest.approx(s["degraded"]["metrics"]["psnr"]["mean"])
    # degradation is the seeded simulator: re-running it reproduces lq/ exactly
    from hiface.degrade import degrade, image_seed
    from hiface.degrade.ops import square_resize

    man = json.loads((out / "manifest.json").read_text())
    assert [e["name"] for e in man["files"]] == ["f0", "f1"]
    clean = square_resize(read_image(gt / "f0.png").pixels, 192)
    assert np.array_equal(read_image(out / "gt" / "f0.png").pixels, clean)
    lq = degrade(clean, "hifacegan-fr", seed=image_seed(0, "f0.png")).image
    assert np.array_equal(read_image(out / "lq" / "f0.png").pixels, lq)
    assert man["files"][0]["seed"] == image_seed(0, "f0.png") and man["files"][0]["ops"]
    # table and per-image rows
    md = (out / "benchmark.md").read_text()
    assert "| identity |" in md and "PSNR ↑" in md and "NIQE ↓" in md and "area down x4" in md
    rows = list(csv.DictReader((out / "per_image.csv").open()))
    assert len(rows) == 8 and {r["method"] for r in rows} == {"degraded", "bicubic", "nlmeans", "identity"}
    sheet = read_image(out / "contact_sheet.jpg").pixels
    assert sheet.shape[0] > 2 * 160 and sheet.shape[1] > 5 * 160  # 2 rows, 4 methods + ground truth
    # no silent overwrite
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1 and "--overwrite" in res.output


def test_benchmark_rejects_unknown_model(tmp_path):
    write_image(tmp_path / "g" / "a.png", _smooth(0, 64, 64))
    res = CliRunner().invoke(cli, ["benchmark", "--gt", str(tmp_path / "g"), "-o", str(tmp_path / "o"),
                                   "--models", "identty"])
    assert res.exit_code == 1 and "unknown model 'identty'" in res.output and "identity" in res.output
    assert not (tmp_path / "o").exists()
    res = CliRunner().invoke(cli, ["benchmark", "--gt", str(tmp_path / "g"), "-o", str(tmp_path / "o"),
                                   "--baselines", "none"])
    assert res.exit_code == 1 and "nothing to compare" in res.output


def test_benchmark_model_without_weights_is_reported_not_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HIFACE_OFFLINE", "1")
    write_image(tmp_path / "g" / "a.png", _smooth(0, 64, 64))
    res = CliRunner().invoke(cli, ["benchmark", "--gt", str(tmp_path / "g"), "-o", str(tmp_path / "o"),
                                   "--models", "hifacegan", "--baselines", "degraded", "-m", "psnr"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "hifacegan: not run" in res.output and "--weights" in res.output
    doc = json.loads((tmp_path / "o" / "benchmark.json").read_text())
    assert "no default weights" in doc["methods"]["hifacegan"]["unavailable"]
    assert doc["summary"]["hifacegan"]["metrics"]["psnr"]["mean"] is None
    assert "| hifacegan | not run |" in (tmp_path / "o" / "benchmark.md").read_text()
    assert not (tmp_path / "o" / "methods" / "hifacegan").exists()


def test_run_benchmark_as_library(tmp_path):
    """The protocol is library API: run_benchmark returns the numbers, write_benchmark the reports."""
    from hiface.evaluation import BenchmarkSettings, run_benchmark, write_benchmark

    gt = tmp_path / "gt"
    for i in range(2):
        write_image(gt / f"f{i}.png", _smooth(i, 48, 48))
    seen = []
    res = run_benchmark(BenchmarkSettings(gt_dir=gt, out=tmp_path / "b", preset="hifacegan-jpeg", models=("identity",),
                                          baselines=("degraded",), metrics="psnr,ssim"),
                        progress=lambda it, desc, total: (seen.append(desc), it)[1])
    assert res.methods == ["degraded", "identity"] and res.names == ["f0", "f1"]
    psnr = {m: res.summaries[m]["metrics"]["psnr"]["mean"] for m in res.methods}
    assert psnr["identity"] == pytest.approx(psnr["degraded"], abs=1e-6) and 20 < psnr["degraded"] < 60
    assert "evaluate" in seen and not (tmp_path / "b" / "benchmark.md").exists()
    files = write_benchmark(res)
    assert all(f.is_file() for f in files) and "identity" in (tmp_path / "b" / "benchmark.md").read_text()
