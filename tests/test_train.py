"""hiface.train: data pipeline, quality filter, split, trainer (losses, resume, SIGINT, export), CLI."""
from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hiface import data as D
from hiface.config import from_yaml, load_yaml
from hiface.errors import ConfigError, HifaceError
from hiface.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "hifacegan-tiny.yaml"
QUIET = ["log.progress=false"]


def tiny(*overrides: str) -> TrainConfig:
    return load_yaml(TrainConfig, TINY, [*QUIET, *overrides])


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- data
def test_dataset_is_a_pure_function_of_seed_epoch_index():
    ds = D.PairedFaceDataset([f"synthetic:{i}" for i in range(4)], 64, "hifacegan-fr", seed=3)
    a, b = ds[(1, 2)], ds[(1, 2)]
    assert a["lq"].shape == a["hq"].shape == (3, 64, 64)
    assert a["lq"].dtype.is_floating_point and 0.0 <= float(a["lq"].min()) and float(a["lq"].max()) <= 1.0
    assert (a["lq"] == b["lq"]).all() and (a["hq"] == b["hq"]).all()
    assert not (ds[(2, 2)]["lq"] == a["lq"]).all()          # another epoch: other degradation
    assert not (a["lq"] == a["hq"]).all()                    # degraded
    # flip is part of the sample's randomness: some epoch flips sample 2, some does not
    clean = ds.clean(2)
    flips = {bool((ds.pair(2, e)[1] == clean[:, ::-1]).all() and not (ds.pair(2, e)[1] == clean).all())
             for e in range(8)}
    assert flips == {True, False}
    crop = D.PairedFaceDataset(ds.items, 64, "hifacegan-fr", seed=3, crop=32)
    lq, hq, ops = crop.pair(0, 0)
    assert lq.shape == hq.shape == (32, 32, 3) and len(ops) >= 1
    with pytest.raises(ConfigError, match="unknown degradation preset 'nope'"):
        D.PairedFaceDataset(ds.items, 64, "nope")


def test_dataset_preset_mix_draws_each_preset_by_weight():
    assert D.parse_preset_mix("hifacegan-fr") == [("hifacegan-fr", 1.0)]
    assert D.parse_preset_mix("hifacegan-fr:3, hifacegan-jpeg:1") == [("hifacegan-fr", 0.75), ("hifacegan-jpeg", 0.25)]
    for bad, msg in (("hifacegan-fr:x", "must be a number"), ("hifacegan-fr:0", "weight > 0"),
                     ("hifacegan-fr,,gfpgan", "NAME or NAME:WEIGHT"), ("hifacegan-fr:1,nope:1", "unknown degradation preset")):
        with pytest.raises(ConfigError, match=msg):
            D.parse_preset_mix(bad)
    items = [f"synthetic:{i}" for i in range(40)]
    ds = D.PairedFaceDataset(items, 64, "hifacegan-jpeg:0.75,hifacegan-noise:0.25", seed=1)
    kinds = [ds.pair(i)[2][0].op for i in range(40)]
    n_jpeg = kinds.count("jpeg")
    assert set(kinds) <= {"jpeg", "gaussian_noise", "laplace_noise", "poisson_noise"}
    assert 22 <= n_jpeg <= 38, kinds                                 # ~30 of 40
    assert [ds.pair(i)[2][0].op for i in range(40)] == kinds          # deterministic
    single = D.PairedFaceDataset(items[:3], 64, "hifacegan-fr", seed=1)   # one preset: same as before
    assert all((single.pair(i)[0] == D.PairedFaceDataset(items[:3], 64, "hifacegan-fr:1", seed=1).pair(i)[0]).all()
               for i in range(3))


def test_dataset_reads_files_centre_square_resized(tmp_path: Path):
    import cv2

    from hiface.io import write_image

    img = np.zeros((96, 160, 3), np.uint8)
    img[:, 32:128] = D.synthetic_face(5, 96)           # the centre square holds the face
    p = write_image(tmp_path / "wide.png", img)
    ds = D.PairedFaceDataset([str(p)], 64, "hifacegan-fr")
    clean = ds.clean(0)
    assert clean.shape == (64, 64, 3)
    np.testing.assert_array_equal(clean, cv2.resize(D.synthetic_face(5, 96), (64, 64), interpolation=cv2.INTER_AREA))


def test_resumable_sampler_continues_the_stream():
    full = D.ResumableSampler(10, seed=1)
    it = iter(full)
    stream = [next(it) for _ in range(25)]
    assert [i for e, i in stream[:10]] != list(range(10)) and sorted(i for e, i in stream[:10]) == list(range(10))
    assert [e for e, _ in stream] == [0] * 10 + [1] * 10 + [2] * 5
    it = iter(D.ResumableSampler(10, seed=1, start=13))
    assert [next(it) for _ in range(12)] == stream[13:25]
    # two ranks: disjoint shards of each epoch, same length
    r0 = iter(D.ResumableSampler(10, seed=1, rank=0, world_size=2))
    r1 = iter(D.ResumableSampler(10, seed=1, rank=1, world_size=2))
    s0, s1 = {next(r0)[1] for _ in range(5)}, {next(r1)[1] for _ in range(5)}
    assert s0 | s1 == set(range(10)) and not s0 & s1


def test_quality_filter_drops_blurred_copy_keeps_sharp(tmp_path: Path):
    import cv2

    from hiface.io import write_image

    sharp = D.synthetic_face(0, 128)
    paths = []
    for i in range(3):
        img = D.synthetic_face(i, 128)
        p = write_image(tmp_path / f"sharp{i}.png", img)
        q = write_image(tmp_path / f"blurred{i}.png", cv2.GaussianBlur(img, (0, 0), 2.5))
        paths += [str(p), str(q)]
    assert D.laplacian_variance(sharp) > 4 * D.laplacian_variance(cv2.GaussianBlur(sharp, (0, 0), 2.5))
    res = D.quality_filter(paths, threshold=70.0)
    assert sorted(Path(p).name for p in res.kept) == ["sharp0.png", "sharp1.png", "sharp2.png"]
    assert sorted(Path(p).name for p in res.dropped) == ["blurred0.png", "blurred1.png", "blurred2.png"]
    res.write(tmp_path / "run")
    assert D.read_list(tmp_path / "run" / "quality_kept.txt") == res.kept
    assert D.read_list(tmp_path / "run" / "quality_dropped.txt") == res.dropped
    rows = (tmp_path / "run" / "quality_scores.tsv").read_text().splitlines()
    assert rows[0] == "laplacian_var\tniqe\tdecision\tpath" and len(rows) == 7
    assert rows[1].split("\t")[2] == "dropped" and rows[-1].split("\t")[2] == "kept"


def test_quality_filter_optional_niqe(tmp_path: Path):
    from hiface.io import write_image

    paths = [str(write_image(tmp_path / f"f{i}.png", D.synthetic_face(i, 192))) for i in range(2)]
    both = D.quality_filter(paths, threshold=0.0)
    assert both.kept == paths and both.niqe == {}
    scored = D.quality_filter(paths, threshold=0.0, max_niqe=1000.0)
    assert scored.kept == paths and set(scored.niqe) == set(paths)
    assert all(math.isfinite(v) and v > 0 for v in scored.niqe.values())
    strict = D.quality_filter(paths, threshold=0.0, max_niqe=min(scored.niqe.values()) + 1e-6)
    assert len(strict.kept) == 1 and strict.kept[0] == min(scored.niqe, key=scored.niqe.get)
    assert strict.dropped == [p for p in paths if p not in strict.kept]


def test_quality_filter_on_shared_chips_separates_a_blurred_copy(shared, tmp_path: Path):
    import cv2

    from hiface.io import read_image, write_image

    files = sorted(shared("data", "faces", "utk200").glob("*.jpg"))[:40]
    scores = D.quality_scores([str(f) for f in files])
    best = files[int(np.argmax(scores))]
    img = read_image(best).pixels
    blurred = write_image(tmp_path / "blurred.png", cv2.GaussianBlur(img, (0, 0), 2.0))
    res = D.quality_filter([str(best), str(blurred)], TrainConfig().data.quality.threshold)
    assert res.kept == [str(best)] and res.dropped == [str(blurred)]


def test_hash_split_is_deterministic_and_content_based(tmp_path: Path):
    paths = []
    for i in range(200):
        p = tmp_path / f"{i:03d}.bin"
        p.write_bytes(f"face {i}".encode())
        paths.append(str(p))
    train, val = D.hash_split(paths, 0.2)
    assert 20 <= len(val) <= 60 and len(train) + len(val) == 200 and not set(train) & set(val)
    t2, v2 = D.hash_split(list(reversed(paths)), 0.2)
    assert sorted(v2) == sorted(val)                        # order independent
    # a renamed copy of a val file stays in val (the hash is of the bytes)
    twin = tmp_path / "renamed.bin"
    twin.write_bytes(Path(val[0]).read_bytes())
    assert D.hash_split([str(twin)], 0.2)[1] == [str(twin)]
    with pytest.raises(ConfigError, match="val_fraction"):
        D.hash_split(paths, 1.0)


def test_list_images_folder_and_file_list(tmp_path: Path):
    from hiface.io import write_image

    for n in ("b.png", "a.png", "sub/c.jpg"):
        write_image(tmp_path / n, D.synthetic_face(0, 32))
    (tmp_path / "notes.txt").write_text("x")
    found = D.list_images(tmp_path)
    assert [Path(p).relative_to(tmp_path).as_posix() for p in found] == ["a.png", "b.png", "sub/c.jpg"]
    lst = tmp_path / "list.txt"
    lst.write_text("# comment\nb.png\n\nsub/c.jpg\n")
    assert D.list_images(lst) == [str(tmp_path / "b.png"), str(tmp_path / "sub" / "c.jpg")]
    with pytest.raises(ConfigError, match="neither a folder nor a file list"):
        D.list_images(tmp_path / "missing")


# --------------------------------------------------------------------------- trainer
def test_tiny_config_trains_losses_finite_and_changing(tmp_path: Path):
    import torch

    from hiface.io import read_image
    from hiface.train.checkpoint import find_checkpoints
    from hiface.train.tasks.hifacegan import Trainer

    run = tmp_path / "run"
    tr = Trainer(tiny("train.steps=6", "log.sample_every=3", "log.val_every=3", "log.ckpt_every=2"), run)
    g0 = {k: v.clone() for k, v in tr.G.state_dict().items()}
    d0 = {k: v.clone() for k, v in tr.D.state_dict().items()}
    assert tr.run() == 0
    rows = read_csv(run / "log.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    # warm-up (2 steps): reconstruction only, no D; then the full objective
    assert rows[0]["g_l1"] and not rows[0]["loss_d"] and not rows[0]["g_gan"]
    for r in rows[2:]:
        for k in ("loss_g", "g_gan", "g_fm", "g_perc", "loss_d", "d_real", "d_fake"):
            assert math.isfinite(float(r[k])), (k, r)
    assert len({r["loss_g"] for r in rows}) == 6 and len({r["loss_d"] for r in rows[2:]}) == 4
    # TTUR and the linear decay (constant until half of 6 steps, then to 0)
    assert [float(r["lr_g"]) for r in rows] == pytest.approx([1e-4] * 3 + [1e-4, 2 / 3 * 1e-4, 1 / 3 * 1e-4], rel=1e-5)
    assert float(rows[0]["lr_d"]) == pytest.approx(4e-4)
    assert any(not torch.equal(g0[k], v) for k, v in tr.G_raw.state_dict().items())
    assert any(not torch.equal(d0[k], v) for k, v in tr.D_raw.state_dict().items())
    # keep-last-2 checkpoints, sample grids, validation from hiface.metrics
    assert [p.name for p in find_checkpoints(run)] == ["step_00000004.pt", "step_00000006.pt"]
    grid = read_image(run / "samples" / "step_00000006.png").pixels
    n_val = len((run / "split_val.txt").read_text().split())
    assert grid.shape == (64 * min(4, n_val), 64 * 3, 3)
    val = read_csv(run / "metrics.csv")
    assert [int(r["step"]) for r in val] == [3, 6] and all(math.isfinite(float(r["psnr"])) for r in val)
    assert 0 < float(val[-1]["ssim"]) <= 1
    jl = [json.loads(s) for s in (run / "log.jsonl").read_text().splitlines()]
    assert {"step": 3, "val": {"psnr": float(val[0]["psnr"]), "ssim": float(val[0]["ssim"])}} in \
        [{"step": j["step"], "val": {k: pytest.approx(v, rel=1e-5) for k, v in j["val"].items()}} for j in jl if "val" in j]
    assert (run / "config.yaml").is_file() and load_yaml(TrainConfig, run / "config.yaml").train.steps == 6


def test_resume_reproduces_uninterrupted_run_bit_exactly(tmp_path: Path):
    import torch

    from hiface.train.loop import INTERRUPTED
    from hiface.train.tasks.hifacegan import Trainer

    # batch 3 over 12 training faces: the interruption falls mid-epoch, the run crosses epochs
    cfg = tiny("train.steps=6", "train.batch_size=3", "log.sample_every=0", "log.val_every=0",
               "log.ckpt_every=0", "loss.warmup_steps=1", "data.flip=true", "data.size=96", "data.crop=64")
    straight = Trainer(cfg, tmp_path / "a")
    assert straight.run() == 0
    first = Trainer(cfg, tmp_path / "b")
    assert first.run(stop_at=3) == INTERRUPTED
    del first
    resumed = Trainer(None, tmp_path / "b", resume=True)
    assert resumed.step == 3
    assert resumed.run() == 0
    for name in ("G_raw", "G_ema", "D_raw"):
        a, b = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    sa, sb = straight.opt_g.state_dict()["state"], resumed.opt_g.state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)
    la, lb = read_csv(tmp_path / "a" / "log.csv"), read_csv(tmp_path / "b" / "log.csv")
    drop = lambda rows: [{k: v for k, v in r.items() if k != "time_s"} for r in rows]  # noqa: E731
    assert drop(la) == drop(lb)  # the resumed log has each step once, same losses


def test_resume_with_overrides_records_them(tmp_path: Path):
    from hiface.train.loop import INTERRUPTED
    from hiface.train.tasks.hifacegan import Trainer

    cfg = tiny("train.steps=4", "log.sample_every=0", "log.val_every=0", "log.ckpt_every=0")
    assert Trainer(cfg, tmp_path / "r").run(stop_at=2) == INTERRUPTED
    tr = Trainer(None, tmp_path / "r", resume=True, overrides=["loss.lambda_l1=0.5", "train.steps=5"])
    assert tr.step == 2 and tr.cfg.loss.lambda_l1 == 0.5
    # config.yaml now holds the overrides (a later plain --resume keeps them) ...
    again = load_yaml(TrainConfig, tmp_path / "r" / "config.yaml")
    assert again.loss.lambda_l1 == 0.5 and again.train.steps == 5
    # ... and the log records from which step they apply
    rows = [json.loads(x) for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert {"step": 2, "resumed_with": ["loss.lambda_l1=0.5", "train.steps=5"]} in rows


def test_time_limit_saves_a_checkpoint_and_exits_0(tmp_path: Path, capsys):
    from hiface.train.checkpoint import find_checkpoints
    from hiface.train.tasks.hifacegan import Trainer

    tr = Trainer(tiny("train.steps=5", "train.time_limit_min=1e-9", "log.sample_every=0", "log.val_every=0",
                      "log.ckpt_every=0"), tmp_path / "r")
    assert tr.run() == 0 and tr.step == 1
    assert [p.name for p in find_checkpoints(tmp_path / "r")] == ["step_00000001.pt"]
    assert "Time limit (1e-09 min) reached at step 1/5" in capsys.readouterr().err
    again = Trainer(None, tmp_path / "r", resume=True, overrides=["train.time_limit_min=0"])
    assert again.step == 1 and again.run() == 0 and again.step == 5


def test_amp_on_cpu_is_ignored_with_a_warning(tmp_path: Path):
    from hiface.train.tasks.hifacegan import Trainer

    with pytest.warns(UserWarning, match="train.amp=bf16 ignored on cpu"):
        tr = Trainer(tiny("train.amp=bf16", "train.steps=1"), tmp_path / "r")
    assert tr.amp_dtype is None


def test_run_dir_guards(tmp_path: Path):
    from hiface.train.tasks.hifacegan import Trainer

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "precious.txt").write_text("x")
    with pytest.raises(HifaceError, match="not a hiface run folder"):
        Trainer(tiny(), tmp_path / "other", overwrite=True)
    with pytest.raises(HifaceError, match="cannot resume: .*config.yaml not found"):
        Trainer(None, tmp_path / "nothing", resume=True)
    with pytest.raises(ConfigError, match="data.size must be a multiple of 32"):
        Trainer(tiny("data.size=48"), tmp_path / "r")
    with pytest.raises(ConfigError, match="at least 64"):
        Trainer(tiny("data.crop=32"), tmp_path / "r")


def test_export_writes_ema_generator_with_metadata(tmp_path: Path):
    import torch
    from safetensors import safe_open

    from hiface.registry import import_ref as _import
    from hiface.train.export import export_generator
    from hiface.train.tasks.hifacegan import Trainer
    from hiface.weights import load_into, load_state_dict_file

    tr = Trainer(tiny("train.steps=3", "log.val_every=0", "log.sample_every=0"), tmp_path / "run")
    tr.run()
    out = export_generator(tmp_path / "run", tmp_path / "g.safetensors")
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["step"] == "3" and meta["weights"] == "G_ema" and meta["format"] == "hiface-train"
    assert "suppression: lip" in meta["config"] and json.loads(meta["arch_kwargs"])["ngf"] == 4
    net = _import(meta["arch"])(**json.loads(meta["arch_kwargs"]))
    load_into(net, load_state_dict_file(out))
    sd = tr.G_ema.state_dict()
    assert all(torch.equal(v, sd[k]) for k, v in net.state_dict().items())
    half = export_generator(tmp_path / "run", tmp_path / "g16.safetensors", half=True)
    h = load_state_dict_file(half)
    assert all(v.dtype == torch.float16 for v in h.values() if v.is_floating_point())
    assert half.stat().st_size < 0.6 * out.stat().st_size
    net16 = _import(meta["arch"])(**json.loads(meta["arch_kwargs"]))
    load_into(net16, h)  # fp16 file into the fp32 model: values rounded to fp16
    assert all(torch.allclose(v, sd[k], rtol=1e-3, atol=1e-4) for k, v in net16.state_dict().items()
               if v.is_floating_point())
    with pytest.raises(HifaceError, match="exists; pass --overwrite"):
        export_generator(tmp_path / "run", out)
    with pytest.raises(HifaceError, match="no checkpoint found"):
        export_generator(tmp_path, tmp_path / "h.safetensors")


def test_create_restorer_builds_the_variant_an_export_records(tmp_path: Path):
    """residual and plain generators share one state-dict layout: only the export's metadata
    tells them apart, so create_restorer(weights=export) must follow it."""
    import torch

    import hiface
    from hiface.train.export import export_generator
    from hiface.train.tasks.hifacegan import Trainer
    from hiface.weights import export_arch_kwargs, save_safetensors

    tr = Trainer(tiny("model.residual=true", "train.steps=2", "log.val_every=0", "log.sample_every=0"),
                 tmp_path / "run")
    tr.run()
    out = export_generator(tmp_path / "run", tmp_path / "g.safetensors")
    r = hiface.create_restorer("hifacegan", weights=out)          # registry: ngf 64, not residual
    assert r.net.residual is True and r.net.ngf == 4
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(r.net(x), tr.G_ema(x), atol=1e-6)
    assert hiface.create_restorer("hifacegan", weights=out, residual=False).net.residual is False
    plain = save_safetensors(tr.G_ema.state_dict(), tmp_path / "plain.safetensors")  # no metadata
    assert export_arch_kwargs(plain, "hiface.archs.hifacegan:HiFaceGANGenerator") == {}
    assert export_arch_kwargs(out, "hiface.archs.gfpgan:gfpgan_v1_clean") == {}      # other arch


def test_fine_tune_starts_from_init_weights(tmp_path: Path):
    """model.init_weights: a new run starts G and G_ema from an exported generator."""
    import torch

    from hiface.errors import WeightsError
    from hiface.train.export import export_generator
    from hiface.train.tasks.hifacegan import Trainer

    tr = Trainer(tiny("train.steps=2", "log.val_every=0", "log.sample_every=0"), tmp_path / "a")
    tr.run()
    g = export_generator(tmp_path / "a", tmp_path / "g.safetensors")
    ft = Trainer(tiny("train.steps=1", "train.seed=7", f"model.init_weights={g}"), tmp_path / "b")
    src = tr.G_ema.state_dict()
    for net in (ft.G_raw, ft.G_ema):
        assert all(torch.equal(v, src[k]) for k, v in net.state_dict().items())
    bad = tiny("model.ngf=8", f"model.init_weights={g}")
    with pytest.raises(WeightsError, match="shape mismatch"):
        Trainer(bad, tmp_path / "c")


# --------------------------------------------------------------------------- CLI
def test_cli_print_config_and_errors(tmp_path: Path):
    from hiface.cli.main import main

    def run(*args):
        return subprocess.run([sys.executable, "-m", "hiface.cli.main", "train", *args], capture_output=True,
                              text=True, cwd=ROOT, timeout=120)

    r = run("--config", str(TINY), "--set", "optim.lr_g=3e-4", "--set", "model.suppression=pairwise",
            "--print-config")
    assert r.returncode == 0, r.stderr
    cfg = from_yaml(TrainConfig, r.stdout)
    assert cfg.optim.lr_g == 3e-4 and cfg.model.suppression == "pairwise" and cfg.data.size == 64
    r = run("--config", str(TINY), "--set", "train.stpes=3")
    assert r.returncode == 1 and "unknown config key 'train.stpes' (did you mean 'steps'?)" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("--config", str(TINY), "--set", "model.suppression=blur")
    assert r.returncode == 1 and "'blur' is not one of 'lip', 'pairwise', 'none'" in r.stderr
    assert main(["train"]) == 1
    assert main(["train", "--help"]) == 0
    from hiface.cli.train import EPILOG

    named = set(re.findall(r"configs/[\w.-]+\.yaml", EPILOG))
    assert len(named) >= 4 and all((ROOT / c).is_file() for c in named), named


def test_cli_prepare_data_writes_filter_and_split_lists(tmp_path: Path, capsys):
    import cv2

    from hiface.cli.main import main
    from hiface.io import write_image

    faces = tmp_path / "faces"
    for i in range(6):
        img = D.synthetic_face(i, 128)
        write_image(faces / f"s{i}.png", img)
        write_image(faces / f"b{i}.png", cv2.GaussianBlur(img, (0, 0), 3.0))
    run = tmp_path / "run"
    rc = main(["train", "--config", str(TINY), "--set", "data.synthetic=0", "--set", f"data.root={faces}",
               "--set", "data.val_fraction=0.3", "--run-dir", str(run), "--prepare-data"])
    assert rc == 0
    assert "quality filter kept 6, dropped 6 (threshold 70.0)" in capsys.readouterr().out
    assert sorted(Path(p).name for p in D.read_list(run / "quality_dropped.txt")) == [f"b{i}.png" for i in range(6)]
    train, val = D.read_list(run / "split_train.txt"), D.read_list(run / "split_val.txt")
    assert sorted(train + val) == sorted(D.read_list(run / "quality_kept.txt"))


def test_cli_sigint_saves_checkpoint_and_exits_130_then_resumes(tmp_path: Path):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HIFACE_PROGRESS": "0"}
    cmd = [sys.executable, "-m", "hiface.cli.main", "train", "--config", str(TINY), "--run-dir", str(run),
           "--set", "train.steps=100000", "--set", "log.val_every=0", "--set", "log.sample_every=0",
           "--set", "log.ckpt_every=0", "--set", "log.progress=false"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    deadline = time.time() + 90
    while time.time() < deadline and not (run / "log.csv").is_file():
        time.sleep(0.2)
    assert (run / "log.csv").is_file(), proc.communicate(timeout=30)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    steps = [int(r["step"]) for r in read_csv(run / "log.csv")]
    ckpts = sorted((run / "checkpoints").glob("step_*.pt"))
    assert len(ckpts) == 1 and ckpts[0].name == f"step_{steps[-1]:08d}.pt"
    assert "Interrupted at step" in err and f"hiface train --resume {run}" in err
    # resume to a nearby end
    r = subprocess.run([sys.executable, "-m", "hiface.cli.main", "train", "--resume", str(run),
                        "--set", f"train.steps={steps[-1] + 2}"], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [int(x["step"]) for x in read_csv(run / "log.csv")][-3:] == [steps[-1], steps[-1] + 1, steps[-1] + 2]
