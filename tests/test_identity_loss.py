"""Identity loss: the PyTorch port of dlib's face-recognition ResNet reproduces dlib's embeddings,
the differentiable chips reproduce dlib.get_face_chip, the loss masks faceless samples and sends
gradients to the generator, and the trainer uses it end to end on real faces."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hiface.archs.dlib_resnet import DlibFaceResNet, read_dlib_tensors
from hiface.errors import ConfigError
from hiface.losses.identity import IdentityLoss, chip_theta, extract_chips


def _dlib_or_skip():
    from conftest import require
    from hiface.metrics import face

    return require(face._models)


@pytest.fixture(scope="module")
def faces_256() -> list[np.ndarray]:
    import cv2

    from conftest import shared_path
    from hiface.io import read_image

    root = shared_path("data", "faces", "ffhq1024")
    return [cv2.resize(read_image(root / f"0000{i}.png").pixels, (256, 256), interpolation=cv2.INTER_AREA)
            for i in range(3)]


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / 255


def test_port_matches_dlib_descriptor(faces_256):
    import dlib

    from hiface.archs.dlib_resnet import load_dlib_face_resnet

    det, _, sp5, rec = _dlib_or_skip()
    net = load_dlib_face_resnet()
    assert not any(p.requires_grad for p in net.parameters()) and not net.training
    for a in faces_256:
        chip = dlib.get_face_chip(a, sp5(a, det(a, 1)[0]), 150, 0.25)
        ref = np.array(rec.compute_face_descriptor(chip))
        with torch.no_grad():
            ours = net(_t(chip))[0].numpy()
        # float32 vs dlib's float32 kernels: agreement to ~1e-6 (measured 3e-7 max abs)
        assert np.abs(ours - ref).max() < 1e-4, np.abs(ours - ref).max()


def test_reader_rejects_other_dlib_files():
    from hiface.archs.dlib_resnet import load_dlib_face_resnet
    from hiface.weights import dlib_model_path

    _dlib_or_skip()
    p = dlib_model_path("shape_predictor_5_face_landmarks.dat")
    with pytest.raises(ValueError, match="not dlib_face_recognition_resnet_model_v1"):
        load_dlib_face_resnet(p)


def test_reader_parses_a_dlib_tensor(tmp_path: Path):
    # dlib's serialize(tensor): int 2, packed (n, k, nr, nc), raw float32 little-endian
    vals = np.arange(40, dtype="<f4")
    blob = b"\x01\x02\x01\x02\x01\x02" + b"\x01\x02\x01\x28\x01\x01\x01\x01\x01\x01" + vals.tobytes() + b"\x00" * 12
    (tmp_path / "t.dat").write_bytes(blob)
    out = read_dlib_tensors(tmp_path / "t.dat")
    assert len(out) == 1 and np.array_equal(out[0], vals)   # the short "2 2 2" run is not a tensor


def test_chips_match_dlib_get_face_chip(faces_256):
    import dlib

    from hiface.archs.dlib_resnet import load_dlib_face_resnet
    from hiface.losses.identity import dlib_chip_affine

    det, _, sp5, _ = _dlib_or_skip()
    net = load_dlib_face_resnet()
    for a in faces_256:
        aff = dlib_chip_affine(a)
        assert aff is not None and aff.shape == (2, 3)
        ours = extract_chips(_t(a), torch.from_numpy(chip_theta(aff, 256, 256))[None])
        ref = dlib.get_face_chip(a, sp5(a, det(a, 1)[0]), 150, 0.25)
        diff = np.abs(ours[0].permute(1, 2, 0).numpy() * 255 - ref).mean()
        assert diff < 4.0, diff          # bilinear vs dlib's resampler: ~1-3 grey levels
        with torch.no_grad():
            d = (net(ours) - net(_t(ref))).norm().item()
        assert d < 0.06, d               # vs ~0.4 for a heavily degraded face
    assert dlib_chip_affine(np.full((128, 128, 3), 127, np.uint8)) is None


def test_identity_loss_values_mask_and_gradient():
    torch.manual_seed(0)
    net = DlibFaceResNet()
    loss = IdentityLoss(net=net)
    theta = torch.tensor([[[0.8, 0.0, 0.0], [0.0, 0.8, 0.05]]]).repeat(2, 1, 1)
    hq = torch.rand(2, 3, 96, 96)
    assert loss(hq.clone(), hq, theta).item() == 0.0
    fake = (hq + 0.2 * torch.randn_like(hq)).clamp(0, 1).requires_grad_(True)
    both = loss(fake, hq, theta, torch.tensor([1.0, 1.0]))
    with torch.no_grad():
        e = net(extract_chips(fake, theta)) - net(extract_chips(hq, theta))
    assert both.item() == pytest.approx(e.norm(dim=1).mean().item(), rel=1e-5)
    first = loss(fake, hq, theta, torch.tensor([1.0, 0.0]))
    assert first.item() == pytest.approx(e[0].norm().item(), rel=1e-5)
    assert loss(fake, hq, theta, torch.tensor([0.0, 0.0])).item() == 0.0
    both.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())
    loss.train()
    assert not loss.net.training


def test_dataset_face_chips_and_crop_conflict(faces_256, tmp_path: Path):
    from hiface import data as D
    from hiface.io import write_image

    _dlib_or_skip()
    paths = []
    for i, a in enumerate(faces_256[:2]):
        write_image(tmp_path / f"f{i}.png", a)
        paths.append(str(tmp_path / f"f{i}.png"))
    ds = D.PairedFaceDataset(paths + ["synthetic:0"], 128, "hifacegan-fr", face_chips=True)
    item = ds[0]
    assert item["chip_theta"].shape == (2, 3) and item["has_face"].item() == 1.0
    assert abs(item["chip_theta"][0, 0].item()) > 0.3      # a face-sized window, not the identity
    assert ds[2]["has_face"].item() == 0.0                  # no face in a synthetic image
    with pytest.raises(ConfigError, match="identity loss needs whole faces"):
        D.PairedFaceDataset(paths, 128, "hifacegan-fr", crop=64, face_chips=True)


def test_trainer_logs_identity_loss(faces_256, tmp_path: Path):
    from hiface.config import load_yaml
    from hiface.io import write_image
    from hiface.train.config import TrainConfig
    from hiface.train.tasks.hifacegan import Trainer

    _dlib_or_skip()
    for i, a in enumerate(faces_256):
        write_image(tmp_path / "faces" / f"f{i}.png", a)
    root = Path(__file__).resolve().parents[1]
    cfg = load_yaml(TrainConfig, root / "configs" / "hifacegan-tiny.yaml",
                    ["log.progress=false", "data.synthetic=0", f"data.root={tmp_path / 'faces'}", "data.size=128",
                     "data.val_fraction=0", "data.quality.enabled=false", "loss.lambda_identity=2",
                     "train.steps=2", "log.val_every=0", "log.sample_every=0", "log.ckpt_every=0"])
    tr = Trainer(cfg, tmp_path / "run")
    tr.run()
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    head = rows[0].split(",")
    g_id = [float(r.split(",")[head.index("g_id")]) for r in rows[1:]]
    assert len(g_id) == 2 and all(0.0 < v < 2.0 for v in g_id), g_id
    with pytest.raises(ConfigError, match="identity loss needs whole faces"):
        Trainer(load_yaml(TrainConfig, root / "configs" / "hifacegan-tiny.yaml",
                          ["log.progress=false", "loss.lambda_identity=1", "data.size=128", "data.crop=64"]), tmp_path / "r2")
