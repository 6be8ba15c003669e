"""HiFaceGAN registry entries, `hiface models`, `hiface convert`, safe loading (malicious pickle)."""
from __future__ import annotations

import json
import os

import pytest
import torch
from click.testing import CliRunner

from hiface.cli.models import convert, convert_checkpoint, model_rows, models
from hiface.errors import HifaceError, ImageWriteError, WeightsError
from hiface.models import create_restorer, get_model_config, list_models


class _Evil:
    """Pickles to ``os.system(cmd)``: executing it on load would create the marker file."""

    def __init__(self, cmd: str):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def _evil_pth(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pth"
    torch.save({"fc.weight": torch.zeros(2), "payload": _Evil(f"touch {marker}")}, path)
    assert not marker.exists()
    return path, marker


def _tiny_sd(seed: int = 0):
    from hiface.archs.hifacegan import LIPSPADEGenerator

    torch.manual_seed(seed)
    return LIPSPADEGenerator(ngf=4, init="default").state_dict()


# ---------------------------------------------------------------- registry
def test_registry_entries():
    assert {"hifacegan", "hifacegan-released"} <= set(list_models())
    paper, rel = get_model_config("hifacegan"), get_model_config("hifacegan-released")
    assert paper.arch.endswith(":HiFaceGANGenerator") and paper.arch_kwargs["ngf"] == 64
    assert rel.arch.endswith(":LIPSPADEGenerator") and rel.arch_kwargs == {"ngf": 48}
    for cfg in (paper, rel):
        assert cfg.native_size == 512 and cfg.template == "ffhq512" and cfg.url is None
        assert "Face-Renovation" in cfg.description and "--weights" in cfg.description
        assert cfg.restorer == "hiface.restorers.hifacegan:HiFaceGANRestorer"
    assert rel.state_keys == ()


def test_default_weights_need_an_explicit_file():
    with pytest.raises(WeightsError, match="weights=PATH"):
        create_restorer("hifacegan-released", weights="default", ngf=4)


def test_create_restorer_loads_converted_weights_and_restores(tmp_path):
    sd = _tiny_sd()
    pth = tmp_path / "latest_net_G.pth"
    torch.save(sd, pth)  # official layout: the whole file is the state dict
    out, n = convert_checkpoint(pth, tmp_path / "g.safetensors", model=None)
    assert n == len(sd)
    for w in (pth, out):
        r = create_restorer("hifacegan-released", weights=w, ngf=4)
        assert r.native_size == 512 and r.template == "ffhq512"
        got = r.net.state_dict()
        assert all(torch.equal(got[k], v) for k, v in sd.items())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expect = r.net(x).clamp(0, 1)
    assert torch.equal(r.forward_native(x), expect)


def test_wrong_file_shape_mismatch_names_tensors(tmp_path):
    path = tmp_path / "g.pth"
    torch.save(_tiny_sd(), path)  # ngf 4 weights into the ngf 48 model
    with pytest.raises(WeightsError, match=r"shape mismatch: .*fc\.weight \(64, 3, 3, 3\) vs model \(768, 3, 3, 3\)"):
        create_restorer("hifacegan-released", weights=path)


# ---------------------------------------------------------------- malicious pickle
def test_malicious_pickle_refused_by_convert(tmp_path):
    path, marker = _evil_pth(tmp_path)
    res = CliRunner().invoke(convert, [str(path), str(tmp_path / "out.safetensors")])
    assert res.exit_code == 1
    assert "refusing to load" in res.output and "hiface never unpickles them" in res.output and "system" in res.output
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()


def test_malicious_pickle_refused_by_create_restorer(tmp_path):
    path, marker = _evil_pth(tmp_path)
    with pytest.raises(WeightsError, match="refusing to load"):
        create_restorer("hifacegan-released", weights=path, ngf=4)
    assert not marker.exists()


# ---------------------------------------------------------------- hiface convert
def test_convert_roundtrip_key_overwrite(tmp_path):
    from safetensors import safe_open

    from hiface.weights import load_state_dict_file, sha256_file

    sd = _tiny_sd()
    ckpt = tmp_path / "ckpt.pth"
    torch.save({"params": _tiny_sd(1), "params_ema": sd, "iter": 5}, ckpt)
    dst = tmp_path / "out.safetensors"
    r = CliRunner().invoke(convert, [str(ckpt), str(dst), "--model", "hifacegan-released"])
    assert r.exit_code == 1 and "does not fit LIPSPADEGenerator" in r.output  # ngf 4 vs the registry's 48
    assert not dst.exists()
    r = CliRunner().invoke(convert, [str(ckpt), str(dst)])
    assert r.exit_code == 0, r.output
    assert f"({len(sd)} tensors)" in r.output
    got = load_state_dict_file(dst)
    assert got.keys() == sd.keys() and all(torch.equal(got[k], sd[k]) for k in sd)  # params_ema picked first
    with safe_open(str(dst), "pt") as f:
        meta = f.metadata()
    assert meta["source"] == "ckpt.pth" and meta["source_sha256"] == sha256_file(ckpt)
    # refuses to overwrite; --key picks another state dict; --overwrite replaces atomically
    r = CliRunner().invoke(convert, [str(ckpt), str(dst), "--key", "params"])
    assert r.exit_code == 1 and "--overwrite" in r.output
    assert torch.equal(load_state_dict_file(dst)["fc.weight"], sd["fc.weight"])
    r = CliRunner().invoke(convert, [str(ckpt), str(dst), "--key", "params", "--overwrite"])
    assert r.exit_code == 0
    assert torch.equal(load_state_dict_file(dst)["fc.weight"], _tiny_sd(1)["fc.weight"])
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_convert_errors(tmp_path):
    ckpt = tmp_path / "c.pth"
    torch.save({"params": {"w": torch.ones(1)}, "iter": torch.tensor(3)}, ckpt)
    with pytest.raises(WeightsError, match="no key 'ema'"):
        convert_checkpoint(ckpt, tmp_path / "o.safetensors", "ema")
    with pytest.raises(WeightsError, match="not a state dict"):
        convert_checkpoint(ckpt, tmp_path / "o.safetensors", "iter")
    with pytest.raises(WeightsError, match=".safetensors"):
        convert_checkpoint(ckpt, tmp_path / "o.bin")
    with pytest.raises(WeightsError, match="not found"):
        convert_checkpoint(tmp_path / "missing.pth", tmp_path / "o.safetensors")
    (tmp_path / "text.pth").write_text("hello, not a checkpoint\n")
    with pytest.raises(WeightsError, match="not a readable checkpoint"):
        convert_checkpoint(tmp_path / "text.pth", tmp_path / "o.safetensors")
    same = tmp_path / "same.safetensors"
    from hiface.weights import save_safetensors

    save_safetensors({"w": torch.ones(1)}, same)
    with pytest.raises(ImageWriteError, match="input file"):
        convert_checkpoint(same, same, overwrite=True)


# ---------------------------------------------------------------- hiface models
def test_models_table_and_json():
    r = CliRunner().invoke(models, [])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split()[:5] == ["name", "size", "template", "params", "weights"]
    row = next(line for line in lines if line.startswith("hifacegan "))
    assert row.split()[:5] == ["hifacegan", "512", "ffhq512", "130.6M", "--weights"]
    assert "https://github.com/Lotayou/Face-Renovation" in row
    rel = next(line for line in lines if line.startswith("hifacegan-released "))
    assert "72.2M" in rel
    r = CliRunner().invoke(models, ["--json", "--no-params"])
    data = {d["name"]: d for d in json.loads(r.output)}
    assert data["hifacegan-released"]["native_size"] == 512
    assert data["hifacegan-released"]["weights"] == "--weights only"
    assert data["hifacegan"]["params"] is None
    assert data["identity"]["weights"] == "none needed"


def test_model_rows_params_exact():
    rows = {r["name"]: r for r in model_rows(params=True)}
    assert rows["hifacegan"]["params"] == 130_568_012
    assert rows["hifacegan-released"]["params"] == 72_223_660


def test_unknown_model_suggests():
    with pytest.raises(HifaceError, match="Did you mean hifacegan"):
        get_model_config("hifacegann")
