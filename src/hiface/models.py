"""Build restorers by name (timm-style ``create_restorer``).

Every restorer takes aligned faces as a float tensor (B, 3, H, W), RGB in [0, 1], and
returns restored faces of the same shape and range. Its ``native_size`` and ``template``
(the alignment template name, see ``hiface.faces.templates``) come from the model's
pretrained config, so the photo pipeline never hard-codes either.

Pretrained configs are plain data (:mod:`hiface.registry`), declared per family in
:mod:`hiface.zoo` (no torch import), so ``hiface models`` lists them instantly; the restorer
wrappers live in :mod:`hiface.restorers`, the networks in :mod:`hiface.archs`.
"""
from __future__ import annotations

from pathlib import Path

from . import weights as W
from .assets import model_weights
from .errors import HifaceError
from .registry import (
    PretrainedConfig,
    get_model_config,
    import_ref,
    list_models,
    register,
)
from .restorers.base import Restorer

__all__ = ["PretrainedConfig", "Restorer", "register", "list_models", "get_model_config",
           "create_restorer", "build_network", "resolve_weights"]


def build_network(cfg: PretrainedConfig, **overrides):
    """Instantiate the (randomly initialised) network of ``cfg``."""
    kwargs = {**cfg.arch_kwargs, **overrides}
    return import_ref(cfg.arch)(**kwargs)


def resolve_weights(cfg: PretrainedConfig, weights: str | Path | None, *, cache=None, offline=None) -> Path | None:
    """Map the ``weights`` argument to a file: None -> random init, "default" -> shipped file or
    the verified download of the official release, a path -> that file."""
    return model_weights(cfg, weights, cache=cache, offline=offline)


def create_restorer(name: str, weights: str | Path | None = "default", device: str = "cpu", *,
                    cache=None, offline=None, half: bool = False, backend: str = "torch",
                    **arch_overrides) -> Restorer:
    """Build a restorer by registry name.

    weights: "default" (shipped or official file, downloaded to the cache if needed),
    a path to a ``.safetensors``/``.pth`` file, or None for random initialisation.
    device: ``auto`` (the best present: cuda, mps, cpu), ``cpu``, ``cuda[:N]``, ``mps``.
    half: float16 autocast on a GPU (refused on CPU; fragile parts stay float32).
    backend: ``torch``, or ``onnxruntime`` (CPU; the network exported to ONNX once, cached:
    :mod:`hiface.onnxrt`).
    """
    from .runtime import apply_threads, check_half, resolve_device

    device = resolve_device(device)
    check_half(device, half)
    if backend not in ("torch", "onnxruntime"):
        raise HifaceError(f"unknown backend {backend!r}; choose torch or onnxruntime")
    if backend == "onnxruntime" and (device != "cpu" or half):
        raise HifaceError("--backend onnxruntime runs on the CPU in float32 here: use it with --device cpu "
                          "and without --half (or --backend torch on the GPU)")
    apply_threads()  # once per process: threads from the load/affinity unless set explicitly
    cfg = get_model_config(name)
    path = resolve_weights(cfg, weights, cache=cache, offline=offline)
    # a training export records its generator's options (e.g. residual): they win over the
    # registry's, explicit overrides win over both
    file_kw = W.export_arch_kwargs(path, cfg.arch) if path is not None else {}
    sd = None
    if path is not None:  # read the file first: an unreadable one fails before the network is built
        raw = W.load_state_dict_file(path)
        sd = W.select_state_dict(raw, cfg.state_keys, source=str(path))
    net = build_network(cfg, **{**file_kw, **arch_overrides})
    if sd is not None:
        W.load_into(net, sd, source=str(path))
    cls = import_ref(cfg.restorer)
    restorer = cls(net, cfg, device=device)
    restorer.half = half
    if backend == "onnxruntime":
        from .onnxrt import onnx_restorer

        return onnx_restorer(restorer, weights_file=path)
    return restorer
