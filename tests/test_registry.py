"""Registry-wide checks: every registered restorer's references import and its network and
restorer build on the ``meta`` device (no memory, no weights), so a typo in ``hiface.zoo`` fails
here instead of at run time."""
from __future__ import annotations

import importlib

import pytest
import torch

from hiface.models import get_model_config, list_models

NAMES = list_models()


def _resolve(ref):
    """A registry reference: a ``"module:attr"`` string (imported here) or the object itself."""
    if not isinstance(ref, str):
        return ref
    mod, sep, attr = ref.partition(":")
    assert sep and mod and attr, f"{ref!r} is not 'module:attr'"
    return getattr(importlib.import_module(mod), attr)


def test_registry_is_not_empty():
    assert {"identity", "hifacegan", "hifacegan-lite", "gfpgan-1.4", "codeformer", "gfrnet"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_references_import(name):
    from hiface.models import Restorer

    cfg = get_model_config(name)
    assert callable(_resolve(cfg.arch)), cfg.arch
    cls = _resolve(cfg.restorer)
    assert isinstance(cls, type) and issubclass(cls, Restorer), cfg.restorer
    assert cfg.native_size > 0 and cfg.template
    if cfg.has_weights:  # somewhere to get the weights from, or a message saying --weights
        assert cfg.package_file or cfg.url or "--weights" in cfg.description, name


@pytest.mark.parametrize("name", NAMES)
def test_builds_on_meta_device(name):
    cfg = get_model_config(name)
    with torch.device("meta"):
        net = _resolve(cfg.arch)(**cfg.arch_kwargs)
    assert isinstance(net, torch.nn.Module)
    tensors = list(net.parameters()) + list(net.buffers())
    assert all(t.is_meta for t in tensors), name
    if cfg.has_weights:
        assert sum(p.numel() for p in net.parameters()) > 0, name
    r = _resolve(cfg.restorer)(net, cfg, device="meta")
    assert r.name == name and r.native_size == cfg.native_size and r.template == cfg.template


def test_packaged_weights_exist_and_match_their_checksum():
    from hiface.assets import package_weights_path
    from hiface.weights import sha256_file

    for name in NAMES:
        cfg = get_model_config(name)
        if cfg.package_file:
            p = package_weights_path(cfg.package_file)
            assert p.is_file(), p
            if cfg.sha256:
                assert sha256_file(p) == cfg.sha256, name
