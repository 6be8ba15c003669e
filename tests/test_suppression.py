"""Suppression modules: LIP, the paper's pairwise module (Eq. 2-3), the strided baseline, encoders."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hiface.archs.suppression import (
    LIP,
    LIPEncoder,
    PairwiseSuppression,
    StridedConvDown,
    SuppressionEncoder,
    lip2d,
    make_downsample,
    pairwise_conv2d,
    window_affinity,
)


# ---------------------------------------------------------------- LIP
@pytest.mark.parametrize("size", [(16, 16), (15, 9)])
def test_lip_with_constant_logits_is_average_pooling(size):
    x = torch.randn(2, 5, *size)
    logit = torch.full_like(x, 3.7)
    y = lip2d(x, logit)
    # the padded border is excluded from the average (weights are zero there)
    assert torch.allclose(y, F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), atol=1e-6)
    # away from the border this is the plain 3x3 average
    assert torch.allclose(y[..., 1:-1, 1:-1], F.avg_pool2d(x, 3, 2, 1)[..., 1:-1, 1:-1], atol=1e-6)


def test_lip_module_with_zero_logit_conv_is_average_pooling():
    lip = LIP(4)
    torch.nn.init.zeros_(lip.logit[0].weight)  # conv -> 0, IN(affine) -> bias: constant per channel
    with torch.no_grad():
        lip.logit[1].bias.copy_(torch.tensor([-2.0, 0.0, 1.0, 5.0]))
    x = torch.randn(1, 4, 12, 12)
    assert torch.allclose(lip(x), F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), atol=1e-6)


def test_lip_weights_follow_importance():
    """A dominant logit at one position makes its window output that position's value."""
    x = torch.arange(16.0).view(1, 1, 4, 4)
    logit = torch.zeros_like(x)
    logit[..., 1, 1] = 30.0
    assert lip2d(x, logit)[0, 0, 0, 0].item() == pytest.approx(x[0, 0, 1, 1].item(), abs=1e-4)
    assert list(LIP(3).state_dict()) == ["logit.0.weight", "logit.1.weight", "logit.1.bias"]


# ---------------------------------------------------------------- pairwise (Eq. 2-3)
@pytest.mark.parametrize("stride,size", [(1, (9, 9)), (2, (16, 16)), (2, (15, 10)), (2, (1, 1))])
def test_pairwise_conv_with_phi_one_is_plain_convolution(stride, size):
    torch.manual_seed(0)
    x = torch.randn(2, 3, *size)
    w, b = torch.randn(4, 3, 3, 3), torch.randn(4)
    ref = F.conv2d(x, w, b, stride=stride, padding=1)
    phi = torch.ones(2, 9, *ref.shape[-2:])
    assert torch.allclose(pairwise_conv2d(x, phi, w, b, stride, 1), ref, atol=1e-5)


def test_pairwise_module_with_phi_one_is_plain_convolution():
    torch.manual_seed(0)
    m = PairwiseSuppression(6)
    m.affinity = lambda x: torch.ones(x.shape[0], 9, (x.shape[2] + 1) // 2, (x.shape[3] + 1) // 2)  # φ ≡ 1
    x = torch.randn(2, 6, 11, 14)
    assert torch.allclose(m(x), F.conv2d(x, m.weight, m.bias, stride=2, padding=1), atol=1e-5)


def test_pairwise_affinity_matches_brute_force_eq3():
    """φ(f_i, f_j) = sigmoid(g(f_i)ᵀ g(f_j) / √d) for every centre i and tap j (zero padding)."""
    torch.manual_seed(0)
    m = PairwiseSuppression(5, embed_dim=4)
    x = torch.randn(1, 5, 7, 6)
    phi = m.affinity(x)
    e = m.g(x)[0]  # (d, H, W)
    ho, wo = phi.shape[-2:]
    assert (ho, wo) == (4, 3)
    for oy in range(ho):
        for ox in range(wo):
            cy, cx = 2 * oy, 2 * ox
            for t in range(9):
                jy, jx = cy + t // 3 - 1, cx + t % 3 - 1
                ej = e[:, jy, jx] if 0 <= jy < 7 and 0 <= jx < 6 else torch.zeros(4)
                expect = torch.sigmoid((e[:, cy, cx] * ej).sum() / 2.0)
                assert phi[0, t, oy, ox].item() == pytest.approx(expect.item(), abs=1e-5)


def test_pairwise_output_is_content_adaptive_and_tanh_option():
    torch.manual_seed(0)
    m = PairwiseSuppression(4, activation="tanh")
    x = torch.randn(1, 4, 8, 8)
    phi = m.affinity(x)
    assert phi.min() >= -1 and phi.max() <= 1 and phi.std() > 0
    with pytest.raises(ValueError):
        PairwiseSuppression(4, activation="relu")


def test_window_affinity_stride1_centre_tap_is_squared_norm():
    e = torch.randn(1, 3, 5, 5)
    a = window_affinity(e, 3, 1, 1)
    assert torch.allclose(a[:, 4], (e * e).sum(1), atol=1e-6)


# ---------------------------------------------------------------- baseline and encoders
@pytest.mark.parametrize("kind", ["lip", "pairwise", "none"])
@pytest.mark.parametrize("size", [(32, 32), (17, 10)])
def test_every_downsample_halves_with_ceil(kind, size):
    m = make_downsample(kind, 8)
    y = m(torch.randn(1, 8, *size))
    assert y.shape == (1, 8, (size[0] + 1) // 2, (size[1] + 1) // 2)


def test_unknown_suppression_and_misplaced_options():
    with pytest.raises(ValueError, match="lip"):
        make_downsample("bogus", 4)
    with pytest.raises(ValueError, match="only apply to suppression='pairwise'"):
        make_downsample("lip", 4, embed_dim=8)
    assert make_downsample("pairwise", 16, embed_dim=3).g[0].out_channels == 3


def test_pairwise_module_is_trainable_end_to_end():
    torch.manual_seed(0)
    m = PairwiseSuppression(4)
    m(torch.randn(2, 4, 9, 9)).square().mean().backward()
    assert m.weight.grad.abs().sum() > 0 and m.bias.grad.abs().sum() > 0
    assert m.g[0].weight.grad.abs().sum() > 0  # the affinity MLP g learns through φ


def test_strided_baseline_is_a_conv():
    m = StridedConvDown(3)
    x = torch.randn(1, 3, 8, 8)
    assert torch.allclose(m(x), F.conv2d(x, m.conv.weight, stride=2, padding=1))


@pytest.mark.parametrize("kind", ["lip", "pairwise", "none"])
def test_suppression_encoder_six_maps_coarsest_first(kind):
    enc = SuppressionEncoder(ngf=4, suppression=kind)
    feats = enc(torch.rand(2, 3, 64, 64))
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 2, 2), (64, 4, 4), (32, 8, 8), (16, 16, 16),
                                                   (8, 32, 32), (4, 64, 64)]
    assert enc.channels == [64, 64, 32, 16, 8, 4]
    # no ReLU on the last stage: the coarsest map has negative values (instance-normalised)
    assert feats[0].min() < 0 and feats[1].min() >= 0


def test_lip_encoder_layout_matches_official_indices():
    enc = LIPEncoder(ngf=4)
    names = [k for k in enc.state_dict() if k.endswith("weight")]
    assert names[:4] == ["model.0.weight", "model.3.logit.0.weight", "model.3.logit.1.weight", "model.4.weight"]
    assert "model.20.weight" in names and enc.out_channels == 64
    assert enc(torch.rand(1, 3, 64, 64)).shape == (1, 64, 2, 2)
