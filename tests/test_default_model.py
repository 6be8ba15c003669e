"""The shipped default restorer `hifacegan-lite`: weights, model card, and a measurable
improvement on degraded validation faces (HiFaceGAN FR protocol, generated from shared data)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch

import hiface
from conftest import shared_path

WEIGHTS = Path(hiface.__file__).parent / "weights"
FILE = WEIGHTS / "hifacegan-lite.safetensors"
CARD = WEIGHTS / "hifacegan-lite.md"
VAL = WEIGHTS / "hifacegan-lite.val.txt"


def test_weights_match_model_card_and_registry():
    cfg = hiface.get_model_config("hifacegan-lite")
    sha = hashlib.sha256(FILE.read_bytes()).hexdigest()
    assert cfg.sha256 == sha and f"`{sha}`" in CARD.read_text()
    assert cfg.package_file == FILE.name and FILE.stat().st_size <= 25 * 2**20
    assert (cfg.native_size, cfg.template) == (256, "dlib-chip")


def test_default_model_loads_and_restores_shape_and_range():
    r = hiface.create_restorer("hifacegan-lite")  # weights="default": the shipped file
    x = torch.rand(2, 3, 256, 256)
    y = r(x)
    assert y.shape == x.shape and float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert (y - x).abs().mean() > 0.01                           # it does something
    y2 = r(torch.rand(3, 200, 200))                               # any size: resized to 256 and back
    assert y2.shape == (3, 200, 200)


def test_improves_degraded_validation_faces():
    """Every 20th validation face (16), degraded as `hiface benchmark` does (hifacegan-fr, seed
    0): PSNR and SSIM up, identity distance (FED) and landmark error (LLE) down, over the pairs
    where dlib finds a face in both. The full 327-face numbers are in the model card."""
    from hiface.degrade import benchmark_pair
    from hiface.io import from_tensor, read_image, to_tensor
    from hiface.metrics import psnr, ssim
    from hiface.metrics.face import analyze_face, face_pair_scores

    root = shared_path("data", "faces", "utk200")
    names = VAL.read_text().split()[::20][:16]
    r = hiface.create_restorer("hifacegan-lite")
    pairs = [benchmark_pair(read_image(root / n).pixels, n, "hifacegan-fr", seed=0, size=256) for n in names]
    gts, lqs = [g for g, _ in pairs], [r.image for _, r in pairs]
    gt_t = torch.stack([to_tensor(g) for g in gts])
    lq_t = torch.stack([to_tensor(q) for q in lqs])
    out_t = r(lq_t)
    p_in, p_out = float(psnr(lq_t, gt_t).mean()), float(psnr(out_t, gt_t).mean())
    s_in, s_out = float(ssim(lq_t, gt_t).mean()), float(ssim(out_t, gt_t).mean())
    assert p_out > p_in + 2.0, (p_in, p_out)   # measured 21.41 -> 25.77 dB
    assert s_out > s_in + 0.15, (s_in, s_out)   # measured 0.420 -> 0.771
    gt_faces = [analyze_face(g) for g in gts]
    before = [face_pair_scores(q, g, gt_face=f) for q, g, f in zip(lqs, gts, gt_faces)]
    after = [face_pair_scores(from_tensor(o), g, gt_face=f) for o, g, f in zip(out_t, gts, gt_faces)]
    both = [(b, a) for b, a in zip(before, after) if b.fed is not None and a.fed is not None]
    assert len(both) >= 10, len(both)                                  # measured 13 of 16
    fed_in, fed_out = (sum(x.fed for x in col) / len(both) for col in zip(*both))
    lle_in, lle_out = (sum(x.lle for x in col) / len(both) for col in zip(*both))
    assert fed_out < fed_in - 0.01, (fed_in, fed_out)                 # measured 0.404 -> 0.342
    assert lle_out < 0.8 * lle_in, (lle_in, lle_out)                  # measured 3.44 -> 2.17 px


def test_lowfreq_color_fix_takes_colour_from_input_details_from_output():
    from hiface.archs.hifacegan import lowfreq_color_fix

    g = torch.Generator().manual_seed(0)
    ref = torch.rand(1, 3, 64, 64, generator=g)
    detail = torch.rand(1, 3, 64, 64, generator=g) - 0.5
    out = lowfreq_color_fix(ref + 0.3, ref, sigma=4)          # a global colour shift is removed
    assert torch.allclose(out, ref, atol=1e-5)
    fixed = lowfreq_color_fix(detail, torch.zeros_like(ref), sigma=4)
    assert abs(float(fixed.mean())) < 0.01                      # low frequencies come from ref (0)
    assert float((fixed - detail).abs().mean()) < float(detail.abs().mean())  # details stay
