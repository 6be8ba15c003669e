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


def test_training_loop_two_phases_checkpoints_and_resume(shared, tmp_path, capsys):
    """A tiny run: WarpNet pre-training, end-to-end steps with perceptual and both GANs, the
    best/last weights, the log, then a resume that continues from the checkpoint."""
    import json

    from hiface import weights as W
    from hiface.archs.gfrnet import gfrnet
    from hiface.train.gfrnet import GFRNetTrainConfig, LossWeights, train

    cfg = GFRNetTrainConfig(
        data_root=str(shared("data", "faces", "utk200")), train_limit=4, val_limit=2, size=32, ngf=4,
        warp_ngf=4, warp_size=16, ndf_disc=4, perceptual_backbone="mobilenetv2", batch_size=2, warp_steps=2,
        steps=2, val_every=2, ckpt_every=2, out_dir=str(tmp_path / "run"), landmark_cache=str(tmp_path / "lm.json"),
        loss=LossWeights(gan_global=0.01, gan_local=0.01, symmetry=0.1))
    best = train(cfg, progress=False)
    run = tmp_path / "run"
    assert {"best.safetensors", "last.safetensors", "last.pt", "log.jsonl", "preview.png"} <= {p.name for p in run.iterdir()}
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in log] == ["warp", "warp", "e2e", "e2e"]
    assert "adv" in log[-1] and "perc" in log[-1] and "val" in log[-1]
    assert best["step"] == 4 and best["psnr"] > 10
    net = gfrnet(size=32, ngf=4, warp_ngf=4, warp_size=16)
    W.load_into(net, W.load_state_dict_file(run / "best.safetensors"))  # strict fit
    cfg.steps = 3
    train(cfg, progress=False)
    assert "resumed" in capsys.readouterr().out
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
