"""GFRNet end to end: shipped weights, dlib landmarks on shared faces, a real guided pair,
and the `hiface restore --guide` command."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hiface.errors import HifaceError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _weights_file() -> Path:
    from hiface.models import get_model_config

    return ROOT / "src" / "hiface" / "weights" / get_model_config("gfrnet").package_file


def test_shipped_weights_are_small_verified_and_load_strictly():
    from hiface import weights as W
    from hiface.models import create_restorer, get_model_config

    cfg = get_model_config("gfrnet")
    p = _weights_file()
    assert p.is_file(), f"{p} missing"
    assert p.stat().st_size <= 25 * 2 ** 20
    assert cfg.sha256 and W.sha256_file(p) == cfg.sha256
    assert (ROOT / "src" / "hiface" / "weights" / "gfrnet.md").is_file()
    r = create_restorer("gfrnet")  # strict load through the registry
    assert r.native_size == 256 and r.config.guided
    sd = W.load_state_dict_file(p)
    assert all(v.dtype in (torch.float16, torch.int64) for v in sd.values())


def test_landmark_cache_on_shared_faces(shared, tmp_path):
    from PIL import Image

    from hiface.data.guided import LandmarkCache, list_split

    files = list_split(shared("data", "faces", "utk200"), "val", limit=2)
    cache = LandmarkCache(tmp_path / "lm.json")
    pts = cache.get(files[0])
    assert pts.shape == (68, 2)
    h, w = np.asarray(Image.open(files[0])).shape[:2]
    inner = pts[17:]  # brows, nose, eyes, mouth: inside the chip (the jaw line may leave it)
    assert (inner > 0).all() and (inner[:, 0] < w).all() and (inner[:, 1] < h).all()
    assert pts[36, 0] < pts[45, 0]  # image-left eye corner left of the right one
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(blank)
    assert cache.get(blank, fallback_full=False) is None
    cache.save()
    again = LandmarkCache(tmp_path / "lm.json")
    again._lm = "must not be needed"  # cached: dlib is not called again
    np.testing.assert_allclose(again.get(files[0]), pts, atol=0.01)
    assert again.get(blank) is None


def _aligned_pair(path: Path, size: int, template: str):
    from PIL import Image

    from hiface.data.guided import Landmarker, align_to_template

    im = np.asarray(Image.open(path).convert("RGB"))
    w = im.shape[1]
    lm = Landmarker()
    out = []
    for half in (im[:, : w // 2], im[:, w // 2:]):
        pts = lm(half, fallback_full=True, upsample=1)
        a, _ = align_to_template(half, pts, size, template, border="replicate")
        out.append(torch.from_numpy(a).permute(2, 0, 1).float() / 255)
    return out


def test_guided_pipeline_end_to_end_on_a_shared_pair(shared):
    from hiface.models import create_restorer

    pair = shared("data", "realworld", "guided-pairs", "gfrnet_IMDB_1.jpg")
    r = create_restorer("gfrnet")
    deg, ref = _aligned_pair(pair, r.native_size, r.template)
    y, warped = r.restore(deg, guide=ref, return_warped=True)
    assert y.shape == warped.shape == (3, 256, 256)
    assert torch.isfinite(y).all() and 0 <= float(y.min()) and float(y.max()) <= 1
    # the output keeps the degraded face's content (colours, layout) ...
    mse = float((y - deg).pow(2).mean())
    assert 1e-6 < mse < 0.01
    # ... and the trained WarpNet moved the reference
    assert float((warped - ref).abs().mean()) > 0.005
    # guidance matters: the same face restored with a different guide differs
    y_self = r.restore(deg, guide=deg)
    assert float((y - y_self).abs().mean()) > 1e-3


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "hiface.cli.main", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


def test_cli_guide_without_a_face_is_a_clear_error(shared, tmp_path):
    from PIL import Image

    photo = shared("data", "realworld", "whole")
    photo = sorted(p for p in photo.iterdir() if p.suffix.lower() in (".jpg", ".png"))[0]
    noface = tmp_path / "noface.png"
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(noface)
    res = _cli("restore", photo, "--model", "gfrnet", "--guide", noface, "-o", tmp_path / "out")
    assert res.returncode != 0
    msg = (res.stderr + res.stdout).lower()
    assert "face" in msg and "guide" in msg or str(noface.name) in msg
    assert "traceback" not in msg


def test_guided_restorer_refuses_to_run_without_guide():
    from hiface.models import create_restorer

    r = create_restorer("gfrnet", weights=None, size=32, ngf=4, warp_ngf=4, warp_size=16)
    with pytest.raises(HifaceError, match="reference"):
        r(torch.rand(1, 3, 32, 32))


def test_cli_guided_restore_end_to_end_on_a_shared_pair(shared, tmp_path):
    """`hiface restore LEFT --model gfrnet --guide RIGHT --save-warped` on one shared pair."""
    from PIL import Image

    im = Image.open(shared("data", "realworld", "guided-pairs", "gfrnet_IMDB_3.jpg")).convert("RGB")
    w, h = im.size
    lq, ref = tmp_path / "lq.png", tmp_path / "ref.png"
    im.crop((0, 0, w // 2, h)).save(lq)
    im.crop((w // 2, 0, w, h)).save(ref)
    out = tmp_path / "out"
    res = _cli("restore", lq, "--model", "gfrnet", "--guide", ref, "--save-warped", "--upscale", "1", "-o", out)
    assert res.returncode == 0, res.stderr + res.stdout
    produced = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    restored = [p for p in produced if p.endswith("lq.png") and "/" not in p]
    warped = [p for p in produced if p.startswith("warped/") and p.endswith("_guide.png")]
    assert restored and warped, produced
    a = np.asarray(Image.open(out / restored[0]).convert("RGB")).astype(float)
    assert a.shape == (h, w // 2, 3)
    assert np.abs(a - np.asarray(Image.open(lq).convert("RGB"))).mean() > 0.5  # the face was restored


TINY_GFRNET = ["train.warp_steps=2", "train.steps=3", "train.batch_size=2", "train.threads=1",
               "train.time_limit_min=0", "data.train_limit=4", "data.val_limit=2", "data.size=32", "model.ngf=4",
               "model.warp_ngf=4", "model.warp_size=16", "model.ndf=4", "loss.perceptual_backbone=mobilenetv2",
               "loss.gan_global=0.01", "loss.gan_local=0.01", "loss.symmetry=0.1", "optim.ema_decay=0.5",
               "log.log_every=1", "log.val_every=2", "log.sample_every=5", "log.ckpt_every=0", "log.keep_best=true",
               "log.progress=false"]


def _gfrnet_cfg(shared, tmp_path, *more):
    from hiface.train.config import GFRNetTrainConfig, load_train_config

    cfg = load_train_config(ROOT / "configs" / "gfrnet-cpu.yaml",
                            [*TINY_GFRNET, f"data.root={shared('data', 'faces', 'utk200')}",
                             f"data.landmark_cache={tmp_path / 'lm.json'}", *more])
    assert isinstance(cfg, GFRNetTrainConfig) and cfg.task == "gfrnet"
    return cfg


def test_gfrnet_trains_resumes_bit_exactly_and_exports_through_hiface_train(shared, tmp_path, capsys):
    """`hiface train` with `task: gfrnet` on a tiny config: WarpNet pre-training then end-to-end
    steps with perceptual and both GANs; an interrupted run resumed with `--resume` ends with the
    weights of an uninterrupted one; `--export` writes a generator the registry loads."""
    import csv
    import json

    from hiface.cli.main import main
    from hiface.models import create_restorer
    from hiface.train import make_trainer
    from hiface.train.checkpoint import find_checkpoints, load_checkpoint
    from hiface.train.loop import INTERRUPTED

    cfg = _gfrnet_cfg(shared, tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    straight = make_trainer(cfg, a)
    assert type(straight).__name__ == "GFRNetTrainer" and straight.total_steps == 5
    assert straight.run() == 0
    rows = list(csv.DictReader(open(a / "log.csv")))
    assert [(int(r["step"]), r["phase"]) for r in rows] == [(1, "1"), (2, "1"), (3, "2"), (4, "2"), (5, "2")]
    assert rows[0]["lm"] and not rows[0]["mse"] and all(rows[-1][k] for k in ("mse", "perc", "adv", "d"))
    val = list(csv.DictReader(open(a / "metrics.csv")))
    assert [int(r["step"]) for r in val] == [2, 4, 5] and float(val[-1]["psnr"]) > 10
    assert (a / "samples" / "step_00000005.png").is_file() and (a / "checkpoints" / "best.pt").is_file()
    best = load_checkpoint(a / "checkpoints" / "best.pt")
    assert best["task"] == "gfrnet" and best["step"] in (4, 5) and set(best) >= {"G", "G_ema", "D", "opt_w", "opt_d"}
    # interrupted after step 3 (in phase 2), resumed through the CLI
    assert make_trainer(cfg, b).run(stop_at=3) == INTERRUPTED
    assert [p.name for p in find_checkpoints(b)] == ["step_00000003.pt"]
    assert main(["train", "--resume", str(b)]) == 0
    sa, sb = load_checkpoint(find_checkpoints(a)[-1]), load_checkpoint(find_checkpoints(b)[-1])
    assert sa["step"] == sb["step"] == 5
    for k in ("G", "G_ema", "D"):
        assert all(torch.equal(sa[k][n], sb[k][n]) for n in sa[k]), k
    drop = lambda p: [{k: v for k, v in r.items() if k != "time_s"} for r in csv.DictReader(open(p))]  # noqa: E731
    assert drop(a / "log.csv") == drop(b / "log.csv")
    # export (fp16) of the best checkpoint; the registry rebuilds the tiny network from its metadata
    out = tmp_path / "g.safetensors"
    assert main(["train", "--export", str(b / "checkpoints" / "best.pt"), str(out), "--fp16"]) == 0
    from safetensors import safe_open

    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["task"] == "gfrnet" and meta["arch"] == "hiface.archs.gfrnet:gfrnet" and meta["weights"] == "G_ema"
    assert json.loads(meta["arch_kwargs"]) == {"size": 32, "ngf": 4, "warp_ngf": 4, "warp_skips": True, "warp_size": 16}
    r = create_restorer("gfrnet", weights=out)
    assert r.net.size == 32 and r.net.warp_size == 16
    x = torch.rand(1, 3, 32, 32)
    y = r(x, guide=torch.rand(1, 3, 32, 32))
    assert y.shape == (1, 3, 32, 32) and torch.isfinite(y).all()


def test_gfrnet_config_cli_and_deprecated_alias(tmp_path, capsys):
    from hiface.cli.main import main
    from hiface.train.gfrnet import main as old_main

    assert main(["train", "--config", str(ROOT / "configs" / "gfrnet.yaml"), "--print-config"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("task: gfrnet\n") and "warp_steps: 20000" in out and "gan_local: 0.01" in out
    assert old_main(["--config", str(ROOT / "configs" / "gfrnet-cpu.yaml"), "--set", "train.steps=7", "--print-config"]) == 0
    cap = capsys.readouterr()
    assert "deprecated" in cap.err and "steps: 7" in cap.out and "warp_steps: 800" in cap.out
    assert main(["train", "--config", str(ROOT / "configs" / "gfrnet-cpu.yaml"), "--set", "model.ngff=3"]) == 1
    assert "unknown config key 'model.ngff'" in capsys.readouterr().err
    assert main(["train", "--config", str(ROOT / "configs" / "gfrnet-cpu.yaml"), "--set", "task=nope"]) == 1
    assert "unknown task 'nope'" in capsys.readouterr().err
