"""`hiface train` under torchrun: 2 CPU processes (gloo) train a tiny config for 2 steps and
end with identical weights (parameters, BatchNorm statistics, EMA) on both ranks."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent("""
    import hashlib, sys
    import torch
    from hiface.config import load_yaml
    from hiface.train.config import TrainConfig
    from hiface.train.tasks.hifacegan import Trainer

    run = sys.argv[1]
    # step 1: warm-up (G only), step 2: G then D (both under DDP)
    cfg = load_yaml(TrainConfig, sys.argv[2], ["train.steps=2", "train.batch_size=2", "loss.warmup_steps=1",
                                              "log.progress=false",
                                              "log.sample_every=2", "log.val_every=2", "log.ckpt_every=0"])
    tr = Trainer(cfg, run)
    rc = tr.run()
    h = hashlib.sha256()
    for name in ("G_raw", "G_ema", "D_raw"):
        for k, v in getattr(tr, name).state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
    with open(f"{run}/weights_rank{tr.info.rank}.sha256", "w") as f:
        f.write(f"{h.hexdigest()} {tr.info.world_size} {tr.info.backend} {rc} {tr.step}")
    tr.close()
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(180)
def test_torchrun_two_processes_gloo_identical_weights(tmp_path: Path):
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", str(worker), str(run), str(ROOT / "configs" / "hifacegan-tiny.yaml")]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=170)
    assert r.returncode == 0, r.stderr[-3000:]
    h0 = (run / "weights_rank0.sha256").read_text().split()
    h1 = (run / "weights_rank1.sha256").read_text().split()
    assert h0[1:] == ["2", "gloo", "0", "2"] and h1[1:] == h0[1:]
    assert h0[0] == h1[0]
    # rank 0 alone wrote the run folder: one log row per step, one checkpoint, one sample grid
    rows = (run / "log.csv").read_text().splitlines()
    d_fake = rows[0].split(",").index("d_fake")
    assert len(rows) == 3 and rows[2].split(",")[d_fake] != ""  # the D losses of step 2 are logged
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_00000002.pt"]
    assert [p.name for p in (run / "samples").iterdir()] == ["step_00000002.png"]


GFRNET_WORKER = textwrap.dedent("""
    import hashlib, sys
    from hiface.train import make_trainer
    from hiface.train.config import load_train_config

    run, cfg_path, root, cache = sys.argv[1:5]
    cfg = load_train_config(cfg_path, [
        "train.warp_steps=1", "train.steps=1", "train.batch_size=1", "train.threads=1", "train.time_limit_min=0",
        "data.train_limit=4", "data.val_limit=2", "data.size=32", "model.ngf=4", "model.warp_ngf=4",
        "model.warp_size=16", "model.ndf=4", "loss.perceptual_backbone=mobilenetv2", "loss.gan_global=0.01",
        "loss.gan_local=0.01", "optim.ema_decay=0.5", "log.val_every=2", "log.sample_every=0", "log.ckpt_every=0",
        "log.progress=false", f"data.root={root}", f"data.landmark_cache={cache}"])
    tr = make_trainer(cfg, run)
    rc = tr.run()
    h = hashlib.sha256()
    for net in (tr.G, tr.G_ema, tr.discs):
        for k, v in net.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
    with open(f"{run}/weights_rank{tr.info.rank}.sha256", "w") as f:
        f.write(f"{h.hexdigest()} {tr.info.world_size} {rc} {tr.step}")
    tr.close()
""")


@pytest.mark.timeout(240)
def test_torchrun_gfrnet_two_processes_identical_weights(tmp_path: Path):
    """task: gfrnet under torchrun: one WarpNet step and one end-to-end step (with both GANs);
    the gradients are averaged over ranks, so both ranks end with the same weights."""
    from conftest import shared_path

    root = shared_path("data", "faces", "utk200")
    worker = tmp_path / "worker.py"
    worker.write_text(GFRNET_WORKER)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", str(worker), str(run), str(ROOT / "configs" / "gfrnet-cpu.yaml"),
           str(root), str(tmp_path / "lm.json")]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=230)
    assert r.returncode == 0, r.stderr[-3000:]
    h0 = (run / "weights_rank0.sha256").read_text().split()
    h1 = (run / "weights_rank1.sha256").read_text().split()
    assert h0[1:] == ["2", "0", "2"] and h1 == h0
    rows = (run / "log.csv").read_text().splitlines()
    assert len(rows) == 3  # rank 0 alone logs: one row per step
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.pt", "step_00000002.pt"]
