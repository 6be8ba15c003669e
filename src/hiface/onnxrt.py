"""ONNX export of a restorer's network and an ONNX Runtime (CPU) backend (issue 18).

:func:`export_onnx` writes what :meth:`Restorer.forward_native` computes at the native size,
(B, 3, S, S) RGB [0, 1] in -> out, normalisation and clamp included, with a dynamic batch axis,
to one self-contained ``.onnx`` file. Spectral norm (HiFaceGAN) is folded into the conv weights
first (its eval-mode weight is a constant), and a model's own knob (CodeFormer's w) is fixed at
export time and recorded in the file's metadata. :class:`OnnxRestorer` runs such a file with
ONNX Runtime behind the common :class:`~hiface.restorers.base.Restorer` interface, so resizing,
batching and the no-harm blend (``--fidelity auto``) are the torch path's.

Needs the ``onnx`` extra (``onnxruntime``; exporting also ``onnx`` and ``onnxscript``).
``hiface restore --backend onnxruntime`` exports once into the cache (``$HIFACE_CACHE/onnx``),
keyed by model, weight file and knob; ``hiface export --onnx FILE`` writes a file to keep.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from .errors import HifaceError
from .restorers.base import Restorer

__all__ = ["export_onnx", "OnnxRestorer", "onnx_restorer", "ort_session"]

#: the ONNX opset written (ONNX Runtime 1.31 runs up to 23)
OPSET = 18


def _need(mod: str, what: str):
    import importlib

    try:
        return importlib.import_module(mod)
    except ModuleNotFoundError:
        raise HifaceError(f"{what} needs the '{mod}' package: pip install 'hiface[onnx]'") from None


def _strip_for_export(net):
    """A copy of ``net`` on the CPU in float32 with spectral norm folded into plain weights."""
    import torch
    from torch.nn.utils import remove_spectral_norm

    net = copy.deepcopy(net).to("cpu", torch.float32).eval()
    for m in net.modules():
        if hasattr(m, "weight_orig") and hasattr(m, "weight_u"):
            remove_spectral_norm(m)
    return net


class _Native:
    """What gets traced: ``restorer.forward_native(x, fidelity)`` of a CPU float32 copy."""

    def __new__(cls, restorer: Restorer, fidelity: float | None):
        import torch

        r = copy.copy(restorer)
        r.net = _strip_for_export(restorer.net)
        r.device = torch.device("cpu")
        r.half = False

        class Native(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = r.net

            def forward(self, x):
                y = r.forward_native(x, fidelity=fidelity)
                if isinstance(y, tuple):
                    raise HifaceError(f"{restorer.name}: models with extra outputs cannot be exported to ONNX")
                return y

        return Native().eval()


def export_onnx(restorer: Restorer, path: str | Path, *, fidelity: float | None = None,
                metadata: dict[str, str] | None = None, verify: bool = True, atol: float = 1e-4) -> Path:
    """Export ``restorer``'s forward at its native size to ``path`` (one file, dynamic batch).

    ``fidelity``: the model's own knob to fix (CodeFormer's w; default the model's default); for
    models without one it is ignored. ``verify`` runs the file once with ONNX Runtime and checks it
    against torch (max |Δ| ≤ ``atol`` in [0, 1]; CodeFormer with random weights, whose raw outputs
    reach ±13, measured 1.4e-4). Written atomically. Returns the path."""
    import torch

    _need("onnx", "ONNX export")
    _need("onnxscript", "ONNX export")
    if restorer.net is None:
        raise HifaceError(f"{restorer.name} has no network to export")
    if restorer.config.guided:
        raise HifaceError(f"{restorer.name} is a guided model (two inputs): ONNX export covers single-input restorers")
    knob = (restorer.config.default_fidelity if fidelity is None else float(fidelity)) \
        if restorer.supports_fidelity else None
    mod = _Native(restorer, knob)
    s = restorer.native_size
    x = torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(0))
    import logging
    import warnings

    from .io import atomic_path

    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)  # "torchvision is not installed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(mod, (x,), None, input_names=["faces"], output_names=["restored"],
                                 dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},),
                                 opset_version=OPSET, dynamo=True, external_data=False, verbose=False)
    from . import __version__

    meta = {"hiface.model": restorer.name, "hiface.native_size": str(s), "hiface.version": __version__,
            "hiface.fidelity": json.dumps(knob), "hiface.input": "faces (B, 3, S, S) RGB [0, 1] float32",
            **(metadata or {})}
    model = prog.model_proto
    del model.metadata_props[:]
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, str(v)
    with atomic_path(path, suffix=".onnx") as tmp:
        Path(tmp).write_bytes(model.SerializeToString())
        if verify:
            with torch.inference_mode():
                ref = mod(x).numpy()
            got = ort_session(tmp, threads=1).run(None, {"faces": x.numpy()})[0]
            err = float(abs(got - ref).max())
            if not err <= atol:
                raise HifaceError(f"ONNX export of {restorer.name} differs from torch by {err:.2e} (> {atol:g})")
    return Path(path)


def ort_session(path: str | Path, *, threads: int | None = None):
    """An ONNX Runtime CPU session: ``threads`` intra-op threads (default: torch's current count,
    i.e. :func:`hiface.runtime.apply_threads`'s choice), no busy-wait spinning (spinning threads
    steal the cores other processes need on a shared machine), all graph optimisations."""
    ort = _need("onnxruntime", "--backend onnxruntime")
    import torch

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads or torch.get_num_threads())
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise HifaceError(f"cannot load ONNX model {path}: {e}") from None


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``hiface.*`` metadata of an exported file."""
    sess = ort_session(path, threads=1)
    return dict(sess.get_modelmeta().custom_metadata_map)


class OnnxRestorer(Restorer):
    """A restorer whose network runs in ONNX Runtime (CPU, float32) from an exported file.

    The knob fixed at export (CodeFormer's w) is the only one it takes: asking for another
    raises (export again with that value)."""

    def __init__(self, path: str | Path, config, *, threads: int | None = None):
        super().__init__(None, config, device="cpu")
        self.path = Path(path)
        self.session = ort_session(self.path, threads=threads)
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        if meta.get("hiface.model") not in (None, config.name):
            raise HifaceError(f"{self.path} was exported from {meta['hiface.model']!r}, not {config.name!r}")
        self.fixed_fidelity = json.loads(meta.get("hiface.fidelity", "null"))

    def forward_native(self, x, fidelity: float | None = None, **kwargs):
        import numpy as np
        import torch

        if kwargs:
            raise HifaceError(f"--backend onnxruntime does not take the option(s) {sorted(kwargs)}")
        if self.supports_fidelity and fidelity is not None and self.fixed_fidelity is not None \
                and abs(float(fidelity) - float(self.fixed_fidelity)) > 1e-9:
            raise HifaceError(f"this ONNX file of {self.name} was exported with fidelity {self.fixed_fidelity}; "
                              f"export it again for {fidelity} (hiface export --onnx --fidelity {fidelity})")
        xn = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        y = self.session.run(None, {"faces": xn})[0]
        return torch.from_numpy(y).to(x.device)


def _cache_key(restorer: Restorer, weights_file: Path | None, knob: float | None) -> str:
    import torch

    from . import __version__
    from .assets import _cached_digest

    h = hashlib.sha256()
    h.update(json.dumps([restorer.name, __version__, torch.__version__, knob, OPSET]).encode())
    if weights_file is not None:
        h.update(_cached_digest(Path(weights_file)).encode())
    else:  # random weights: the values themselves
        for t in restorer.net.state_dict().values():
            h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def onnx_restorer(restorer: Restorer, *, weights_file: Path | None = None, fidelity: float | None = None,
                  cache: Path | None = None, path: str | Path | None = None, atol: float = 1e-4) -> OnnxRestorer:
    """``restorer`` on ONNX Runtime: ``path`` (an exported file), else the cached export for its
    weights and knob (exported now, once, if missing)."""
    if path is None:
        from .assets import cache_dir

        knob = (restorer.config.default_fidelity if fidelity is None else float(fidelity)) \
            if restorer.supports_fidelity else None
        folder = Path(cache or cache_dir()) / "onnx"
        path = folder / f"{restorer.name}-{_cache_key(restorer, weights_file, knob)}.onnx"
        if not path.is_file():
            export_onnx(restorer, path, fidelity=knob, atol=atol)
    return OnnxRestorer(path, restorer.config)


def describe(path: str | Path) -> dict[str, Any]:
    """Metadata plus input/output shapes of an exported file (for ``hiface export``'s summary)."""
    sess = ort_session(path, threads=1)
    return {"metadata": dict(sess.get_modelmeta().custom_metadata_map),
            "inputs": [(i.name, i.shape) for i in sess.get_inputs()],
            "outputs": [(o.name, o.shape) for o in sess.get_outputs()]}
