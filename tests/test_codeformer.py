"""CodeFormer: checkpoint layout, loading, w / CFT behaviour, code lookup + AdaIN, channel order."""
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
from hiface.archs.codeformer import (
    CodeFormer,
    FuseSFTBlock,
    TransformerSALayer,
    adaptive_instance_normalization,
    calc_mean_std,
)
from hiface.archs.vqgan import AttnBlock
from hiface.errors import ConfigError, HifaceError, WeightsError
from hiface.models import build_network, get_model_config
from hiface.restorers.codeformer import CodeFormerRestorer

# same code paths as the release, 64² input: levels 64/32/16/8, 8x8 latent with attention
SMALL = dict(img_size=64, nf=32, ch_mult=(1, 1, 2, 2), attn_resolutions=(8,), codebook_size=64, emb_dim=32,
             dim_embd=64, n_head=4, n_layers=2, connect_list=(16, 32, 64))


def random_state_dict(keys, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with the given names/shapes, scaled like a trained net (fan-in)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape in keys:
        t = torch.randn(shape, generator=g)
        if len(shape) >= 2:
            t /= math.sqrt(math.prod(shape[1:]))
        elif re.search(r"norm\d?\.weight$|idx_pred_layer\.0\.weight$|blocks\.\d+\.weight$", name) and len(shape) == 1:
            t = 1 + 0.1 * t  # normalisation gains
        else:
            t *= 0.1
        sd[name] = t
    return sd


def small_restorer(seed: int = 0) -> CodeFormerRestorer:
    torch.manual_seed(seed)
    net = CodeFormer(**SMALL)
    with torch.no_grad():  # break the zero init of the position embedding / tiny codebook
        net.position_emb.normal_(0, 0.5)
        net.quantize.embedding.weight.normal_(0, 1)
    cfg = dataclasses.replace(get_model_config("codeformer"), native_size=SMALL["img_size"])
    return CodeFormerRestorer(net, cfg)


def count_fuse_calls(net: CodeFormer) -> tuple[dict, list]:
    calls: dict[str, int] = {k: 0 for k in net.fuse_convs_dict}
    hooks = []
    for k, m in net.fuse_convs_dict.items():
        for sub in m.modules():  # every layer inside the fusion blocks
            hooks.append(sub.register_forward_hook(lambda *a, k=k: calls.__setitem__(k, calls[k] + 1)))
    return calls, hooks


# -- full-size release layout ---------------------------------------------------------
@pytest.fixture(scope="module")
def keys():
    return checkpoint_keys("codeformer.txt")


@pytest.fixture(scope="module")
def full(keys, tmp_path_factory):
    sd = random_state_dict(keys)
    d = tmp_path_factory.mktemp("codeformer")
    pth, st = d / "codeformer.pth", d / "codeformer.safetensors"
    torch.save({"params_ema": sd}, pth)
    W.save_safetensors(sd, st)
    return sd, hiface.create_restorer("codeformer", weights=pth), pth, st


def test_network_has_exactly_the_release_layout(keys):
    net = build_network(get_model_config("codeformer"))
    got = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    assert len(keys) == 515
    assert got == keys  # names, shapes and order
    # fusion taps/points are those of the official model
    assert net.fuse_encoder_block == {32: 14, 64: 11, 128: 8, 256: 5}
    assert net.fuse_generator_block == {32: 9, 64: 12, 128: 15, 256: 18}
    assert net.encoder.level_outputs == [2, 5, 8, 11, 14, 18]


def test_registry_entry():
    cfg = get_model_config("codeformer")
    assert (cfg.native_size, cfg.template, cfg.state_keys) == (512, "ffhq512", ("params_ema", "params"))
    assert cfg.supports_fidelity and cfg.default_fidelity == 0.5
    assert cfg.url == "https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth"
    assert cfg.filename == "codeformer.pth" and re.fullmatch(r"[0-9a-f]{64}", cfg.sha256)


def test_loads_pth_and_safetensors_strictly(full):
    sd, restorer, pth, st = full
    assert isinstance(restorer, CodeFormerRestorer) and restorer.native_size == 512
    assert all(torch.equal(v, sd[k]) for k, v in restorer.net.state_dict().items())
    got = hiface.create_restorer("codeformer", weights=st).net.state_dict()
    assert all(torch.equal(got[k], sd[k]) for k in sd)


@pytest.mark.slow
def test_full_size_forward_w0_skips_fusion(full):
    _, restorer, _, _ = full
    calls, hooks = count_fuse_calls(restorer.net)
    x = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(1))
    try:
        y = restorer(x, fidelity=0.0)
    finally:
        for h in hooks:
            h.remove()
    assert calls == {"32": 0, "64": 0, "128": 0, "256": 0}
    assert y.shape == x.shape and torch.isfinite(y).all() and 0 <= y.min() and y.max() <= 1
    assert y.std() > 1e-3


def test_wrong_file_names_the_mismatching_tensors(tmp_path):
    gf = checkpoint_keys("gfpgan-v1.4-clean.txt")
    bad = tmp_path / "GFPGANv1.4.pth"
    torch.save({"params_ema": {k: torch.zeros(1) for k, _ in gf}}, bad)
    with pytest.raises(WeightsError) as e:
        hiface.create_restorer("codeformer", weights=bad)
    msg = str(e.value)
    assert "does not fit CodeFormer (285 tensors in file, 515 in model)" in msg
    assert "515 missing: position_emb, encoder.blocks.0.weight" in msg
    assert "285 unexpected: conv_body_first.weight, conv_body_first.bias" in msg


# -- behaviour on a reduced configuration ---------------------------------------------
def test_w0_never_runs_fusion_and_w1_differs():
    r = small_restorer()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    calls, hooks = count_fuse_calls(r.net)
    y0 = r(x, fidelity=0.0)
    assert all(v == 0 for v in calls.values())
    y1 = r(x, fidelity=1.0)
    n_layers = {k: sum(1 for _ in m.modules()) for k, m in r.net.fuse_convs_dict.items()}
    assert calls == n_layers  # each fusion block ran exactly once at w = 1
    for h in hooks:
        h.remove()
    assert (y1 - y0).abs().mean() > 1e-3
    assert torch.equal(r(x, fidelity=0.0), y0)  # deterministic
    assert y0.shape == x.shape and 0 <= y0.min() and y1.max() <= 1


def test_default_fidelity_is_half_and_reaches_the_fusion():
    r = small_restorer()
    seen = []
    h = r.net.fuse_convs_dict["32"].register_forward_pre_hook(lambda m, a: seen.append(a[2]))
    y = r(torch.rand(1, 3, 64, 64))
    h.remove()
    assert seen == [0.5] and y.shape == (1, 3, 64, 64)
    with pytest.raises(HifaceError, match="fidelity must be in"):
        r(torch.rand(1, 3, 64, 64), fidelity=-0.1)
    with pytest.raises(HifaceError, match=r"does not take the option\(s\) \['w'\]"):
        r(torch.rand(1, 3, 64, 64), w=0.3)  # w is spelled fidelity in the common interface
    with pytest.raises(ValueError, match="w must be in"):
        r.net(torch.rand(1, 3, 64, 64), w=2.0)


def test_restorer_output_is_the_network_output_mapped_to_0_1():
    r = small_restorer()
    assert r.channels_last
    torch.manual_seed(1)
    plain = CodeFormer(**SMALL)
    plain.load_state_dict({k: v.contiguous() for k, v in r.net.state_dict().items()})
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        ref = ((plain(x * 2 - 1, w=0.7) + 1) / 2).clamp(0, 1)
    y = r(x, fidelity=0.7)
    assert y.is_contiguous()
    torch.testing.assert_close(y, ref, atol=2e-5, rtol=0)


def test_cft_formula():
    """CodeFormer Eq. 7: out = dec + w * (dec * scale(enc') + shift(enc')), enc' = Res(cat[enc, dec])."""
    torch.manual_seed(0)
    blk = FuseSFTBlock(32, 32)
    enc, dec = torch.randn(2, 32, 8, 8), torch.randn(2, 32, 8, 8)
    with torch.no_grad():
        e = blk.encode_enc(torch.cat([enc, dec], 1))
        ref = dec + 0.3 * (dec * blk.scale(e) + blk.shift(e))
        torch.testing.assert_close(blk(enc, dec, 0.3), ref)
        torch.testing.assert_close(blk(enc, dec, 0.0), dec)


def test_top1_code_lookup_and_adain():
    r = small_restorer()
    net = r.net
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    seen = {}
    h = net.generator.blocks[0].register_forward_pre_hook(lambda m, a: seen.__setitem__("quant", a[0]))
    with torch.inference_mode():
        out, codes = net(x, w=0.0, adain=False, return_codes=True)
        lq, _ = net.encode(x)
        logits = net.predict_logits(lq)
    h.remove()
    assert codes.shape == (1, 64) and torch.equal(codes, logits.argmax(-1))
    assert len(codes.unique()) > 1
    expect = net.quantize.embedding.weight.detach()[codes[0]].t().reshape(1, SMALL["emb_dim"], 8, 8)
    assert torch.equal(seen["quant"], expect)  # exact codebook rows, (h, w) in raster order
    # AdaIN gives the quantized features the LQ features' channel statistics
    a = adaptive_instance_normalization(expect, lq)
    (am, as_), (lm, ls) = calc_mean_std(a), calc_mean_std(lq)
    torch.testing.assert_close(am, lm, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(as_, ls, atol=1e-3, rtol=1e-3)


def test_transformer_layer_is_prenorm_with_pos_on_qk_only():
    torch.manual_seed(0)
    L, B, C, H = 6, 2, 16, 4
    layer = TransformerSALayer(C, H, 32).eval()
    x, pos = torch.randn(L, B, C), torch.randn(L, 1, C)
    with torch.no_grad():
        h = layer.norm1(x)
        wq, wk, wv = layer.self_attn.in_proj_weight.chunk(3)
        bq, bk, bv = layer.self_attn.in_proj_bias.chunk(3)
        split = lambda t: t.reshape(L, B * H, C // H).transpose(0, 1)  # noqa: E731
        q, k, v = split(F.linear(h + pos, wq, bq)), split(F.linear(h + pos, wk, bk)), split(F.linear(h, wv, bv))
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(C // H), -1) @ v
        x1 = x + layer.self_attn.out_proj(a.transpose(0, 1).reshape(L, B, C))
        ref = x1 + layer.linear2(F.gelu(layer.linear1(layer.norm2(x1))))
        torch.testing.assert_close(layer(x, pos), ref, atol=1e-5, rtol=1e-5)


def test_attention_block_matches_reference():
    torch.manual_seed(0)
    blk = AttnBlock(32)
    x = torch.randn(2, 32, 5, 5)
    with torch.no_grad():
        h = blk.norm(x)
        q, k, v = (m(h).flatten(2) for m in (blk.q, blk.k, blk.v))  # (B, C, N)
        att = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(32), dim=2)  # (B, Nq, Nk)
        ref = x + blk.proj_out((v @ att.transpose(1, 2)).view_as(x))
        torch.testing.assert_close(blk(x), ref, atol=1e-5, rtol=1e-5)


def test_bad_connect_list_is_a_config_error():
    with pytest.raises(ConfigError, match="connect_list size 8"):
        CodeFormer(**{**SMALL, "connect_list": (8, 16)})


def test_channel_order_rgb_in_minus1_1():
    """Official script: BGR->RGB, normalise to [-1, 1], adain=True. Red stays red."""
    r = small_restorer()
    seen = {}

    class Probe(torch.nn.Module):
        def forward(self, x, w=0.5, adain=True):
            seen.update(x=x.clone(), w=w, adain=adain)
            return x * 0.9

    r.net = Probe()
    red = torch.zeros(1, 3, 64, 64)
    red[:, 0] = 1.0
    y = r(red, fidelity=0.7)
    assert torch.equal(seen["x"][:, 0], torch.ones(1, 64, 64))
    assert torch.equal(seen["x"][:, 2], -torch.ones(1, 64, 64))
    assert seen["w"] == 0.7 and seen["adain"] is True
    assert y[:, 0].mean() > 0.9 and y[:, 2].mean() < 0.1


def test_trainable_gradients_flow_through_the_in_place_inference_shortcuts():
    torch.manual_seed(0)
    net = CodeFormer(**SMALL)
    net(torch.rand(2, 3, 64, 64) * 2 - 1, w=1.0).square().mean().backward()
    for name in ("fuse_convs_dict.32.scale.2.weight", "generator.blocks.0.weight", "encoder.blocks.1.conv1.weight"):
        g = net.get_parameter(name).grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, name
