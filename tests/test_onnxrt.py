"""ONNX export and the ONNX Runtime backend (hiface.onnxrt), on a tiny HiFaceGAN (ngf 4)."""
from __future__ import annotations

import pytest
import torch

import hiface
from hiface.errors import HifaceError

ort = pytest.importorskip("onnxruntime", reason="needs the onnx extra (onnxruntime)")
pytest.importorskip("onnxscript", reason="needs the onnx extra (onnxscript, for the exporter)")

from hiface import onnxrt  # noqa: E402

# one torch.onnx (dynamo) export for the module: ~12 s of CPU however small the network (tracing,
# decompositions), ~25 s wall on the shared 2-core machine; everything else takes ~1 s each
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny():
    """A tiny random HiFaceGAN lite (spectral norm on, 256² native) and its ONNX export."""
    torch.manual_seed(0)
    r = hiface.create_restorer("hifacegan-lite", weights=None, ngf=4)
    return r


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory):
    return onnxrt.export_onnx(tiny, tmp_path_factory.mktemp("onnx") / "tiny.onnx", metadata={"note": "test"})


def test_export_is_one_file_with_a_dynamic_batch_and_metadata(exported):
    assert exported.is_file() and [p.name for p in exported.parent.iterdir()] == ["tiny.onnx"]  # no .data, no temp
    d = onnxrt.describe(exported)
    (name, shape), = d["inputs"]
    assert name == "faces" and shape[1:] == [3, 256, 256] and isinstance(shape[0], str)  # symbolic batch
    assert d["metadata"]["hiface.model"] == "hifacegan-lite"
    assert d["metadata"]["hiface.native_size"] == "256" and d["metadata"]["note"] == "test"


@pytest.mark.parametrize("batch, size, fidelity", [(1, 256, 1.0), (3, 256, 1.0), (2, 160, "auto")])
def test_onnxruntime_matches_torch(tiny, exported, batch, size, fidelity):
    o = onnxrt.OnnxRestorer(exported, tiny.config, threads=1)
    x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))
    info_t, info_o = [], []
    a = tiny.restore(x, fidelity=fidelity, info=info_t)
    b = o.restore(x, fidelity=fidelity, info=info_o)
    assert b.shape == a.shape == x.shape
    assert (a - b).abs().max().item() <= 1e-4
    if fidelity == "auto":  # the no-harm blend sees the same network output
        assert [i["weight"] for i in info_o] == pytest.approx([i["weight"] for i in info_t], abs=1e-3)


def test_cached_export_is_reused(tiny, exported, tmp_path, monkeypatch):
    import shutil

    calls = []

    def fake_export(r, path, fidelity=None, atol=1e-4):  # the real export is tested above; copy its file
        calls.append((r.name, fidelity))
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(exported, path)

    monkeypatch.setattr(onnxrt, "export_onnx", fake_export)
    o1 = onnxrt.onnx_restorer(tiny, cache=tmp_path)
    assert calls == [("hifacegan-lite", None)]
    assert o1.path.parent == tmp_path / "onnx" and o1.path.name.startswith("hifacegan-lite-")
    o2 = onnxrt.onnx_restorer(tiny, cache=tmp_path)
    assert o2.path == o1.path and len(calls) == 1  # found in the cache, not exported again
    tiny.net.fc.weight.data[0, 0] += 1  # other weights: another file
    try:
        o3 = onnxrt.onnx_restorer(tiny, cache=tmp_path)
    finally:
        tiny.net.fc.weight.data[0, 0] -= 1
    assert o3.path != o1.path and len(calls) == 2


def test_wrong_model_file_is_refused(exported):
    with pytest.raises(HifaceError, match="exported from 'hifacegan-lite', not 'identity'"):
        onnxrt.OnnxRestorer(exported, hiface.get_model_config("identity"))


def test_backend_option_errors():
    with pytest.raises(HifaceError, match="unknown backend 'tensorrt'"):
        hiface.create_restorer("identity", weights=None, backend="tensorrt")
    with pytest.raises(HifaceError, match="--half needs a GPU"):
        hiface.create_restorer("identity", weights=None, backend="onnxruntime", half=True)
