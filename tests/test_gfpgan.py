"""GFP-GAN v1.3/v1.4: checkpoint layout, loading, determinism, fidelity blend, CS-SFT, channel order."""
from __future__ import annotations

import dataclasses
import math
import re

import pytest
import torch
import torch.nn.functional as F

import hiface
from conftest import checkpoint_keys
from hiface import weights as W
from hiface.archs.gfpgan import GFPGANv1Clean
from hiface.archs.stylegan2 import StyleConv, modulated_conv2d
from hiface.errors import HifaceError, WeightsError
from hiface.models import build_network, get_model_config
from hiface.restorers.gfpgan import GFPGANRestorer

SMALL = dict(out_size=64, num_style_feat=64, channel_multiplier=2, num_mlp=2, narrow=1 / 16)


def random_state_dict(keys, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with the given names/shapes, scaled like a trained net (fan-in)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape in keys:
        t = torch.randn(shape, generator=g)
        if "noises." in name:
            pass
        elif len(shape) == 5:  # modulated conv weight (1, out, in, k, k)
            t /= math.sqrt(math.prod(shape[2:]))
        elif len(shape) >= 2:
            t /= math.sqrt(math.prod(shape[1:]))
        else:
            t *= 0.1
        sd[name] = t
    return sd


def small_restorer(seed: int = 0, **kw) -> GFPGANRestorer:
    torch.manual_seed(seed)
    net = GFPGANv1Clean(**{**SMALL, **kw})
    with torch.no_grad():  # non-zero noise strengths so the noise matters
        for m in net.modules():
            if isinstance(m, StyleConv):
                m.weight.fill_(0.5)
    cfg = dataclasses.replace(get_model_config("gfpgan-1.4"), native_size=SMALL["out_size"])
    return GFPGANRestorer(net, cfg)


# -- full-size release layout ---------------------------------------------------------
@pytest.fixture(scope="module")
def keys():
    return checkpoint_keys("gfpgan-v1.4-clean.txt")


@pytest.fixture(scope="module")
def full(keys, tmp_path_factory):
    """Random release-shaped dict saved as .pth ({'params_ema': sd}) and .safetensors."""
    sd = random_state_dict(keys)
    d = tmp_path_factory.mktemp("gfpgan")
    pth, st = d / "GFPGANv1.4.pth", d / "gfpgan.safetensors"
    torch.save({"params_ema": sd}, pth)
    W.save_safetensors(sd, st)
    restorer = hiface.create_restorer("gfpgan-1.4", weights=pth)
    return sd, restorer, pth, st


def test_network_has_exactly_the_release_layout(keys):
    net = build_network(get_model_config("gfpgan-1.4"))
    got = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    assert len(keys) == 285
    assert got == keys  # names, shapes and order
    assert [k for k, _ in net.named_buffers()] == [f"stylegan_decoder.noises.noise{i}" for i in range(15)]


def test_registry_entries():
    for name, fname in (("gfpgan-1.4", "GFPGANv1.4.pth"), ("gfpgan-1.3", "GFPGANv1.3.pth")):
        cfg = get_model_config(name)
        assert (cfg.native_size, cfg.template, cfg.state_keys) == (512, "ffhq512", ("params_ema", "params"))
        assert cfg.supports_fidelity and cfg.default_fidelity == 1.0
        assert cfg.filename == fname and cfg.url.endswith("/" + fname)
        assert cfg.url.startswith("https://github.com/TencentARC/GFPGAN/releases/download/")
        assert re.fullmatch(r"[0-9a-f]{64}", cfg.sha256)
        assert "randomize_noise" in cfg.description and "fidelity" in cfg.description
    assert get_model_config("gfpgan-1.4").sha256 != get_model_config("gfpgan-1.3").sha256


def test_loads_pth_and_safetensors_strictly(full):
    sd, restorer, pth, st = full
    assert isinstance(restorer, GFPGANRestorer) and restorer.native_size == 512
    for k, v in restorer.net.state_dict().items():
        assert torch.equal(v, sd[k]), k
    r13 = hiface.create_restorer("gfpgan-1.3", weights=st)  # same architecture, safetensors file
    got = r13.net.state_dict()
    assert all(torch.equal(got[k], sd[k]) for k in sd)


def test_full_size_forward(full):
    _, restorer, _, _ = full
    x = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(1))
    y = restorer(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    assert (y - x).abs().mean() > 1e-3  # the network did something
    assert y.std() > 1e-3  # not a constant image


def test_wrong_file_names_the_mismatching_tensors(tmp_path):
    cf_keys = checkpoint_keys("codeformer.txt")
    bad = tmp_path / "codeformer.pth"
    torch.save({"params_ema": {k: torch.zeros(1) for k, _ in cf_keys}}, bad)  # names matter, not sizes
    with pytest.raises(WeightsError) as e:
        hiface.create_restorer("gfpgan-1.4", weights=bad)
    msg = str(e.value)
    assert "does not fit GFPGANv1Clean" in msg and "515 tensors in file, 285 in model" in msg
    assert "285 missing: conv_body_first.weight, conv_body_first.bias" in msg
    assert "515 unexpected: position_emb, encoder.blocks.0.weight" in msg


def test_shape_mismatch_is_reported():
    net = GFPGANv1Clean(**SMALL)
    sd = net.state_dict()
    sd["final_linear.weight"] = sd["final_linear.weight"][:-1]
    with pytest.raises(WeightsError, match=r"1 shape mismatch: final_linear.weight \(639, 256\) vs model \(640, 256\)"):
        W.load_into(net, sd, source="x.pth")


# -- behaviour on a reduced configuration (same code paths, 64², narrow widths) --------
def test_deterministic_by_default_and_random_on_request():
    r = small_restorer()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    y1, y2 = r(x), r(x)
    assert torch.equal(y1, y2)
    z1, z2 = r(x, randomize_noise=True), r(x, randomize_noise=True)
    assert (z1 - z2).abs().max() > 1e-4 and (z1 - y1).abs().max() > 1e-4
    # constructor switch gives the official behaviour by default
    r2 = small_restorer(randomize_noise=True)
    assert (r2(x) - r2(x)).abs().max() > 1e-4
    assert torch.equal(r2(x, randomize_noise=False), y1)  # same seed -> same weights, stored noise


def test_official_noise_switch_through_the_registry():
    r = hiface.create_restorer("gfpgan-1.4", weights=None, randomize_noise=True)
    assert r.net.randomize_noise is True
    assert hiface.create_restorer("gfpgan-1.4", weights=None).net.randomize_noise is False


def test_restorer_output_is_the_network_output_mapped_to_0_1():
    """Restorer = normalise to [-1, 1], network (channels-last on CPU), back to [0, 1]."""
    r = small_restorer()
    assert r.channels_last and r.net.conv_body_first.weight.is_contiguous(memory_format=torch.channels_last)
    plain = small_restorer().net
    plain.load_state_dict({k: v.contiguous() for k, v in r.net.state_dict().items()})
    for m in plain.modules():  # undo the NHWC switch: a plain NCHW reference
        if hasattr(m, "channels_last"):
            m.channels_last = False
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        ref = ((plain(x * 2 - 1) + 1) / 2).clamp(0, 1)
    y = r(x)
    assert y.is_contiguous()
    torch.testing.assert_close(y, ref, atol=2e-5, rtol=0)


def test_stored_noise_buffers_are_used():
    r = small_restorer()
    x = torch.rand(1, 3, 64, 64)
    y = r(x)
    with torch.no_grad():
        r.net.stylegan_decoder.noises.noise6.mul_(-1)
    assert (r(x) - y).abs().max() > 1e-4


def test_fidelity_is_a_real_blend():
    r = small_restorer()
    x = torch.rand(1, 3, 64, 64)
    calls = []
    h = r.net.register_forward_hook(lambda *a: calls.append(1))
    y0 = r(x, fidelity=0.0)
    assert torch.equal(y0, x) and calls == []  # 0 = input, network not run
    y1 = r(x, fidelity=1.0)
    assert (y1 - x).abs().mean() > 1e-3
    yq = r(x, fidelity=0.25)
    torch.testing.assert_close(yq, x + 0.25 * (y1 - x), atol=1e-6, rtol=0)
    assert torch.equal(r(x), y1)  # default fidelity 1 = restored
    h.remove()
    with pytest.raises(HifaceError, match="fidelity must be in"):
        r(x, fidelity=1.5)
    with pytest.raises(HifaceError, match=r"does not take the option\(s\) \['weight'\]"):
        r(x, weight=0.5)  # the official CLI's ignored argument is refused, not silently dropped


def test_cs_sft_modulates_second_half_after_first_conv():
    """GFP-GAN Eq. 5 with channel split: out = cat[F_a, F_b * scale + shift]."""
    net = small_restorer().net
    dec = net.stylegan_decoder
    seen = {}
    hooks = [
        dec.style_convs[2].register_forward_hook(lambda m, a, o: seen.__setitem__("conv", o.clone())),
        dec.style_convs[3].register_forward_pre_hook(lambda m, a: seen.__setitem__("next_in", a[0].clone())),
        net.condition_scale[1].register_forward_hook(lambda m, a, o: seen.__setitem__("scale", o)),
        net.condition_shift[1].register_forward_hook(lambda m, a, o: seen.__setitem__("shift", o)),
    ]
    with torch.inference_mode():
        net(torch.rand(1, 3, 64, 64) * 2 - 1)
    for h in hooks:
        h.remove()
    c = seen["conv"].shape[1] // 2
    assert seen["scale"].shape[1] == c
    torch.testing.assert_close(seen["next_in"][:, :c], seen["conv"][:, :c], rtol=0, atol=0)
    torch.testing.assert_close(seen["next_in"][:, c:], seen["conv"][:, c:] * seen["scale"] + seen["shift"])


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_matches_weight_modulation(demodulate):
    """Activation modulation == StyleGAN2's per-sample weight modulation (grouped conv)."""
    g = torch.Generator().manual_seed(0)
    b, cin, cout, k = 3, 8, 5, 3
    x, w = torch.randn(b, cin, 9, 9, generator=g), torch.randn(1, cout, cin, k, k, generator=g)
    s = torch.randn(b, cin, generator=g)
    wm = w * s[:, None, :, None, None]
    if demodulate:
        wm = wm * torch.rsqrt(wm.pow(2).sum([2, 3, 4]) + 1e-8)[..., None, None, None]
    ref = F.conv2d(x.reshape(1, b * cin, 9, 9), wm.reshape(b * cout, cin, k, k), padding=k // 2, groups=b)
    got = modulated_conv2d(x, w, s, demodulate=demodulate)
    torch.testing.assert_close(got, ref.view(b, cout, 9, 9), rtol=1e-4, atol=1e-4)


def test_channel_order_rgb_in_minus1_1():
    """The official pipeline feeds RGB (after BGR->RGB) normalised to [-1, 1]. A red face must
    reach the model as red (channel 0 = +1) and come back red, not blue ("red skin" bug)."""
    r = small_restorer()
    seen = {}

    class Probe(torch.nn.Module):
        def forward(self, x, randomize_noise=None):
            seen["x"] = x.clone()
            return x * 0.9  # a "restoration" that keeps the colours

    r.net = Probe()
    red = torch.zeros(1, 3, 64, 64)
    red[:, 0] = 1.0
    y = r(red)
    assert torch.equal(seen["x"][:, 0], torch.ones(1, 64, 64))
    assert torch.equal(seen["x"][:, 2], -torch.ones(1, 64, 64))
    assert y[:, 0].mean() > 0.9 and y[:, 2].mean() < 0.1  # red-dominant, not blue


def test_trainable_gradients_flow_through_the_in_place_inference_shortcuts():
    torch.manual_seed(0)
    net = GFPGANv1Clean(**SMALL)
    net(torch.rand(2, 3, 64, 64) * 2 - 1).square().mean().backward()
    for name in ("stylegan_decoder.style_convs.3.modulated_conv.weight", "condition_scale.0.2.weight",
                 "conv_body_first.weight", "final_linear.weight"):
        g = net.get_parameter(name).grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, name
