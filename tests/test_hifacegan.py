"""HiFaceGAN generators: official state-dict layouts, parameter count, shapes/ranges of every
variant, inference statistics (the official train-mode behaviour), restorer convention."""
from __future__ import annotations

import pytest
import torch

from conftest import checkpoint_keys
from hiface.archs.hifacegan import (
    PAPER_PARAMS_NGF64,
    HiFaceGANGenerator,
    LIPSPADEGenerator,
    count_parameters,
    hifacegan_lite,
)
from hiface.archs.replenishment import SPADE
from hiface.restorers.hifacegan import HiFaceGANRestorer


def read_key_file(name: str) -> dict[str, tuple[int, ...]]:
    return dict(checkpoint_keys(name))


def dict_from_keys(keys: dict[str, tuple[int, ...]], device: str = "cpu") -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    sd = {}
    for k, shape in keys.items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.tensor(7, dtype=torch.long, device=device)
        elif device == "meta":
            sd[k] = torch.empty(shape, device="meta")
        elif k.endswith("running_var"):
            sd[k] = torch.rand(shape, generator=g) + 0.5
        else:
            sd[k] = torch.randn(shape, generator=g) * 0.02
    return sd


# ---------------------------------------------------------------- official layouts
def test_released_lipspade_ngf48_loads_official_key_file_strictly():
    keys = read_key_file("hifacegan-released-lipspade-ngf48.txt")
    net = LIPSPADEGenerator(ngf=48)
    own = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert own == keys  # same names, same shapes (weight_orig/_u/_v, BN running stats)
    sd = dict_from_keys(keys)
    net.load_state_dict(sd, strict=True)
    assert torch.equal(net.state_dict()["head_0.conv_0.weight_u"], sd["head_0.conv_0.weight_u"])
    assert net.head_0.norm_0.param_free_norm.num_batches_tracked.item() == 7
    assert count_parameters(net) == 72_223_660


def test_paper_ngf64_loads_key_file_strictly_and_has_130_568_012_parameters():
    keys = read_key_file("hifacegan-ngf64.txt")
    with torch.device("meta"):  # 130 M parameters: check layout without allocating them
        net = HiFaceGANGenerator(ngf=64)
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == keys
    net.load_state_dict(dict_from_keys(keys, device="meta"), strict=True, assign=True)
    assert count_parameters(net) == PAPER_PARAMS_NGF64 == 130_568_012
    # spectral-norm u/v and BN statistics are buffers, not parameters
    assert not any(n.endswith(("_u", "_v")) for n, _ in net.named_parameters())


def test_key_file_mismatch_is_reported():
    keys = read_key_file("hifacegan-released-lipspade-ngf48.txt")
    with torch.device("meta"):
        net = LIPSPADEGenerator(ngf=48)
    sd = dict_from_keys(keys, device="meta")
    sd["ups.0.conv_0.weight_orig"] = torch.empty(1, 2, 3, 3, device="meta")
    with pytest.raises(RuntimeError, match="ups.0.conv_0.weight_orig"):
        net.load_state_dict(sd, strict=True, assign=True)


# ---------------------------------------------------------------- every variant
VARIANTS = {
    "lip-spade": dict(suppression="lip", replenishment="spade"),
    "pairwise-spade": dict(suppression="pairwise", replenishment="spade"),
    "none-spade": dict(suppression="none", replenishment="spade"),
    "lip-plain": dict(suppression="lip", replenishment="plain"),
    "pairwise-plain": dict(suppression="pairwise", replenishment="plain"),
}


def _variant(name: str):
    if name == "lipspade-released":
        return LIPSPADEGenerator(ngf=8)
    return HiFaceGANGenerator(ngf=8, **VARIANTS[name])


@pytest.mark.parametrize("name", [*VARIANTS, "lipspade-released"])
def test_output_shape_and_range_every_variant(name):
    torch.manual_seed(0)
    net = _variant(name).eval()
    for size in (64, 128, 256):
        x = torch.rand(2, 3, size, size)
        with torch.no_grad():
            y = net(x)
        assert y.shape == (2, 3, size, size)
        assert torch.isfinite(y).all()
        assert y.abs().max() <= 1.0  # tanh
        assert y.std() > 0  # not a constant map


def test_suppression_features_guide_the_decoder():
    net = HiFaceGANGenerator(ngf=8).eval()
    x = torch.rand(1, 3, 64, 64)
    feats = net.encoder(x)
    assert [f.shape[1] for f in feats] == [128, 128, 64, 32, 16, 8]
    assert [f.shape[-1] for f in feats] == [2, 4, 8, 16, 32, 64]
    assert net.head_0.norm_0.mlp_shared[0].in_channels == 128
    assert [b.norm_0.mlp_shared[0].in_channels for b in net.ups] == [64, 32, 16, 8]


def test_non_multiple_of_32_is_rejected():
    net = hifacegan_lite(ngf=4)
    with pytest.raises(ValueError, match="multiples of 32"):
        net(torch.rand(1, 3, 48, 64))


def test_lite_factory():
    net = hifacegan_lite()
    assert net.ngf == 16 and net.suppression == "lip" and net.replenishment == "spade"
    assert count_parameters(net) == 14_294_876


def test_progressive_phase_output_sizes():
    net = HiFaceGANGenerator(ngf=4).eval()
    x = torch.rand(1, 3, 64, 64)
    for phase, size in ((1, 8), (2, 16), (3, 32), (4, 64)):
        net.phase = phase
        with torch.no_grad():
            assert net(x).shape[-1] == size


def test_residual_generator_adds_its_correction_to_the_input():
    torch.manual_seed(0)
    plain, res = HiFaceGANGenerator(ngf=4).eval(), HiFaceGANGenerator(ngf=4, residual=True).eval()
    res.load_state_dict(plain.state_dict())                      # same layout, strict
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        head = res.to_rgbs[3]
        delta = head(_head_input(res, x))
        assert torch.allclose(res(x), x + delta, atol=1e-6)      # y = x + conv(...), no tanh
        for h in res.to_rgbs:
            h.weight.zero_(), h.bias.zero_()
        assert torch.equal(res(x), x)                            # zero head: exact identity
        res.phase = 2                                            # progressive phase: input resized
        assert torch.allclose(res(x), torch.nn.functional.avg_pool2d(x, 4), atol=1e-6)


def test_lowfreq_sigma_keeps_the_inputs_low_frequencies_inside_the_forward():
    from hiface.archs.hifacegan import lowfreq_color_fix

    torch.manual_seed(0)
    plain = HiFaceGANGenerator(ngf=4).eval()
    fixed = HiFaceGANGenerator(ngf=4, lowfreq_sigma=3).eval()
    fixed.load_state_dict(plain.state_dict())                    # same layout, strict
    # low frequencies far from the untrained net's flat grey output: a colour ramp plus texture
    ramp = torch.linspace(0.05, 0.95, 64).view(1, 1, 1, 64).expand(2, 3, 64, 64)
    x = (ramp.flip(1) * 0.9 + 0.1 * torch.rand(2, 3, 64, 64)).contiguous()
    with torch.no_grad():
        y = fixed(x)
        assert torch.allclose(y, lowfreq_color_fix(plain(x), x, 3), atol=1e-6)
        # its low frequencies are (nearly: a Gaussian is no projection) the input's
        low = lambda t: lowfreq_color_fix(torch.zeros_like(t), t, 3)  # noqa: E731
        err_fixed, err_plain = (low(y) - low(x)).abs().mean(), (low(plain(x)) - low(x)).abs().mean()
        assert err_fixed < 0.25 * err_plain, (err_fixed, err_plain)

def _head_input(net, x):
    feats = []
    hook = net.to_rgbs[3].register_forward_hook(lambda m, i, o: feats.append(i[0]))
    try:
        net(x)
    finally:
        hook.remove()
    return feats[0]


# ---------------------------------------------------------------- inference statistics
def test_default_inference_equals_official_train_mode_at_batch_1():
    """The official test script runs the generator in train mode with batch size 1; our eval
    default (per-image statistics) gives the same output, for any batch size. (Built without
    spectral norm so that train mode differs only by the normalisation statistics.)"""
    torch.manual_seed(0)
    net = LIPSPADEGenerator(ngf=8, spectral=False, init="default")
    for m in net.modules():  # non-trivial running statistics, as in a trained checkpoint
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        net.train()
        official = torch.cat([net(x[i:i + 1]) for i in range(3)])
        net.eval()
        ours = net(x)
        assert official.std() > 0.02
        assert torch.allclose(ours, official, atol=1e-5)
        net.set_inference_norm("running")
        running = net(x)
        assert (running - official).abs().max() > 1e-3  # plain eval mode differs
        net.set_inference_norm("batch")
        net.train()
        batch_train = net(x)
        net.eval()
        assert torch.allclose(net(x), batch_train, atol=1e-5)


def test_inference_does_not_touch_running_statistics():
    net = HiFaceGANGenerator(ngf=4).eval()
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k or "_u" in k}
    for mode in ("instance", "batch", "running"):
        net.set_inference_norm(mode)
        with torch.no_grad():
            net(torch.rand(2, 3, 64, 64))
    after = net.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    with pytest.raises(ValueError, match="inference_norm"):
        net.set_inference_norm("bogus")


def test_spade_layer_formula():
    """out = norm(x)·γ + β, γ/β from a shared conv + ReLU on the nearest-resized guidance."""
    torch.manual_seed(0)
    spade = SPADE(8, 3).eval()
    assert spade.mlp_shared[0].out_channels == 8 and spade.mlp_gamma.bias is None
    assert SPADE(256, 3).mlp_shared[0].out_channels == 128
    x, m = torch.randn(2, 8, 16, 16), torch.rand(2, 3, 32, 32)
    mr = torch.nn.functional.interpolate(m, size=(16, 16), mode="nearest")
    a = spade.mlp_shared(mr)
    expect = torch.nn.functional.instance_norm(x) * spade.mlp_gamma(a) + spade.mlp_beta(a)
    assert torch.allclose(spade(x, m), expect, atol=1e-6)


# ---------------------------------------------------------------- restorer convention
def test_restorer_feeds_0_1_and_clamps_output():
    from hiface.models import get_model_config

    torch.manual_seed(0)
    net = LIPSPADEGenerator(ngf=4, init="default")
    cfg = get_model_config("hifacegan-released")
    r = HiFaceGANRestorer(net, cfg)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        raw = net.eval()(x)
    assert raw.min() < 0  # tanh output reaches negative values
    y = r.forward_native(x)
    assert torch.equal(y, raw.clamp(0, 1))
    out = r.restore(torch.rand(3, 100, 100))  # resized to 512 and back
    assert out.shape == (3, 100, 100) and out.min() >= 0 and out.max() <= 1
    # per-call statistics override leaves the configured mode in place
    y2 = r.forward_native(x, inference_norm="running")
    assert not torch.allclose(y2, y)
    assert all(m.inference_norm == "instance" for m in net.modules() if isinstance(m, SPADE))


def test_official_xavier_initialisation():
    from hiface.archs.hifacegan import init_weights

    net = HiFaceGANGenerator(ngf=4)  # init="xavier", gain 0.02 (official train config)
    w = net.ups[3].norm_0.mlp_gamma.weight  # (8, 8, 3, 3): fan_in = fan_out = 72
    assert abs(w.std().item() - 0.02 * (2 / 144) ** 0.5) < 1.5e-3
    assert net.fc.bias.abs().sum() == 0 and net.ups[0].conv_0.bias.abs().sum() == 0
    assert net.ups[0].conv_0.weight_orig.std() > 0.01  # spectral-norm convs keep PyTorch's init
    with pytest.raises(ValueError, match="init_type"):
        init_weights(net, "bogus")


def test_untrained_generators_start_grey_not_black():
    """grey_start: from-scratch training starts at tanh(atanh(0.5)) = 0.5, not at a black image
    (the official zero bias reads as 0 in hiface's [0, 1] convention)."""
    from hiface.archs.hifacegan import LIPSPADEGenerator

    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for net in (HiFaceGANGenerator(ngf=4), HiFaceGANGenerator(ngf=4, suppression="pairwise"),
                    LIPSPADEGenerator(ngf=4)):
            y = net.eval()(x)
            assert abs(float(y.mean()) - 0.5) < 0.02 and float(y.std()) < 0.05
        assert all(  # init="default" (PyTorch's own) is left alone
float(h.bias.abs().max()) != pytest.approx(0.5493, abs=1e-3) for h in
                   HiFaceGANGenerator(ngf=4, init="default").to_rgbs)
