"""Thread count from affinity/load, device choice and the half-precision guard (hiface.runtime)."""
from __future__ import annotations

import pytest
import torch

from hiface import runtime
from hiface.errors import HifaceError


@pytest.mark.parametrize("cores, load, expected", [
    (2, 0.0, 2),    # idle 2-core machine: both cores
    (2, 0.4, 2),    # a little background: still 2
    (2, 0.6, 1),    # more than half a core busy: 1 (oversubscription costs 5-8x)
    (2, 1.0, 1),
    (2, 7.5, 1),    # overloaded: never 0
    (16, 3.2, 13),
    (16, 0.0, 16),
    (4, -1.0, 4),   # nonsense load is ignored
])
def test_choose_threads_from_affinity_and_load(cores, load, expected):
    n, why = runtime.choose_threads(env={}, affinity=set(range(cores)), load=load)
    assert n == expected
    assert f"{cores} core(s)" in why and f"{load:.2f}" in why


def test_choose_threads_uses_the_affinity_mask_not_cpu_count():
    # a container pinned to 3 of 64 cores
    assert runtime.choose_threads(env={}, affinity={5, 6, 7}, load=0.0, cpu_count=64)[0] == 3


def test_choose_threads_env_overrides():
    assert runtime.choose_threads(env={"OMP_NUM_THREADS": "3"}, affinity={0, 1}, load=9.0) == (3, "OMP_NUM_THREADS=3")
    # hiface's own variable wins over OMP_NUM_THREADS
    env = {"OMP_NUM_THREADS": "3", "HIFACE_THREADS": "1"}
    assert runtime.choose_threads(env=env, affinity={0, 1}, load=0.0) == (1, "HIFACE_THREADS=1")
    assert runtime.choose_threads(env={"OMP_NUM_THREADS": " "}, affinity={0, 1}, load=0.0)[0] == 2  # blank: unset
    with pytest.raises(HifaceError, match="HIFACE_THREADS='two' is not a whole number"):
        runtime.choose_threads(env={"HIFACE_THREADS": "two"}, affinity={0}, load=0.0)
    with pytest.raises(HifaceError, match="at least 1 thread"):
        runtime.choose_threads(env={"HIFACE_THREADS": "0"}, affinity={0}, load=0.0)


def test_apply_threads_once_and_never_over_an_explicit_setting(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(runtime, "_APPLIED", None)
    try:
        assert runtime.apply_threads(chooser=lambda: (1, "test")) == 1
        assert torch.get_num_threads() == 1
        # second call: already settled, the chooser is not asked again
        assert runtime.apply_threads(chooser=lambda: (2, "test")) == 1
        assert torch.get_num_threads() == 1
        # the training config's threads (set_threads) win over a later create_restorer
        monkeypatch.setattr(runtime, "_APPLIED", None)
        runtime.set_threads(2)
        assert runtime.apply_threads(chooser=lambda: (1, "test")) == 2
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_create_restorer_applies_the_thread_choice(monkeypatch):
    import hiface

    before = torch.get_num_threads()
    monkeypatch.setattr(runtime, "_APPLIED", None)
    monkeypatch.setenv("HIFACE_THREADS", "1")
    try:
        hiface.create_restorer("identity", weights=None)
        assert torch.get_num_threads() == 1 and runtime._APPLIED == 1
    finally:
        torch.set_num_threads(before)


# -- device -------------------------------------------------------------------------------------

def _fake(monkeypatch, cuda: bool, mps: bool, n_cuda: int = 1):
    monkeypatch.setattr(runtime, "_cuda_ok", lambda: cuda)
    monkeypatch.setattr(runtime, "_mps_ok", lambda: mps)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n_cuda if cuda else 0)


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_picks_the_best_present_device(monkeypatch, cuda, mps, expected):
    _fake(monkeypatch, cuda, mps)
    assert runtime.resolve_device("auto") == expected
    assert runtime.resolve_device(None) == expected
    assert runtime.resolve_device("cpu") == "cpu"


def test_explicit_devices_are_checked(monkeypatch):
    _fake(monkeypatch, cuda=False, mps=False)
    with pytest.raises(HifaceError, match="no CUDA GPU is available"):
        runtime.resolve_device("cuda")
    with pytest.raises(HifaceError, match="Metal backend is not available"):
        runtime.resolve_device("mps")
    with pytest.raises(HifaceError, match="unknown device 'tpu'"):
        runtime.resolve_device("tpu")
    _fake(monkeypatch, cuda=True, mps=False, n_cuda=2)
    assert runtime.resolve_device("CUDA:1") == "cuda:1"
    with pytest.raises(HifaceError, match="no such CUDA device"):
        runtime.resolve_device("cuda:2")


def test_real_machine_auto_is_a_usable_device():
    d = runtime.resolve_device("auto")
    torch.zeros(1, device=d)


def test_half_refused_on_cpu():
    with pytest.raises(HifaceError, match="--half needs a GPU"):
        runtime.check_half("cpu", True)
    runtime.check_half("cpu", False)
    runtime.check_half("cuda", True)
    runtime.check_half("cuda:0", True)


def test_openmp_threads_do_not_spin_unless_asked(tmp_path):
    import os
    import subprocess
    import sys

    code = "import hiface, os; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ACTIVE"


def test_demodulation_stays_float32_under_half_autocast():
    """Large StyleGAN2 weights: the sum of squares overflows float16 and a half-precision
    demodulation gives rsqrt(inf) = 0, a black image (what users of the official code hit)."""
    from hiface.archs.stylegan2 import modulated_conv2d

    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(2, 8, 8, 8, generator=g), torch.randn(1, 4, 8, 3, 3, generator=g) * 300
    s = torch.rand(2, 8, generator=g) + 0.5
    ref = modulated_conv2d(x, w, s)
    with torch.autocast("cpu", dtype=torch.float16):
        y = modulated_conv2d(x, w, s)
        naive = torch.rsqrt(s.half().square() @ w[0].half().square().sum((2, 3)).t() + 1e-8)
    assert (naive == 0).all()  # the failure mode being guarded against
    assert y.dtype == torch.float16 and torch.isfinite(y).all()
    assert (y.float() - ref).abs().max().item() <= 1e-2 * ref.abs().max().item()


def test_restorer_half_runs_the_network_under_autocast_and_returns_float32():
    import hiface

    torch.manual_seed(0)
    r = hiface.create_restorer("hifacegan-lite", weights=None, ngf=4)
    x = torch.rand(1, 3, 64, 64)
    ref = r(x, fidelity=1.0)
    # create_restorer refuses half on the CPU, and CPU float16 autocast is emulated (minutes even
    # for this tiny net); the logic is the same with bfloat16, which the CPU runs natively
    r.half, r.half_dtype = True, "bfloat16"
    seen = []
    h = r.net.fc.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    try:
        y = r(x, fidelity=1.0)
    finally:
        h.remove()
    assert seen == [torch.bfloat16] and y.dtype == torch.float32 and y.shape == x.shape
    assert (y - ref).abs().max().item() < 0.05


def test_default_batch_size_is_small_on_cpu_and_used_when_none_is_given():
    from hiface.photo import RestoreOptions, _build_pipeline
    from hiface.runtime import default_batch_size

    assert default_batch_size("cpu") == 1  # bigger CPU batches are no faster per face (bench/README.md)
    assert default_batch_size("cuda:0") == 8 and default_batch_size("mps") == 8
    assert _build_pipeline(RestoreOptions(model="identity", device="cpu")).batch_size == 1
    assert _build_pipeline(RestoreOptions(model="identity", device="cpu", batch_size=5)).batch_size == 5
