"""Model registry and the common `Restorer` interface (timm-style `create_restorer`).

Every restorer takes aligned faces as a float tensor (B, 3, H, W), RGB in [0, 1], and
returns restored faces of the same shape and range. Its ``native_size`` and ``template``
(the alignment template name, see ``hiface.faces.templates``) come from the model's
pretrained config, so the photo pipeline never hard-codes either.

Pretrained configs are plain data, declared in ``hiface.zoo`` (no torch import), so
``hiface models`` lists them instantly.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field, asdict
from pathlib import Path
from typing import Any

from .errors import HifaceError, WeightsError

__all__ = ["PretrainedConfig", "Restorer", "register", "list_models", "get_model_config",
           "create_restorer", "build_network", "resolve_weights"]


@dataclass(frozen=True)
class PretrainedConfig:
    """Everything needed to build a model and find its weights."""

    name: str
    arch: str                       # "module:factory" building the nn.Module from arch_kwargs
    restorer: str                   # "module:Class", a Restorer subclass
    native_size: int                # side of the aligned face the model expects
    template: str                   # alignment template name ("ffhq512", "dlib-chip")
    arch_kwargs: dict = field(default_factory=dict)
    description: str = ""
    filename: str | None = None     # cache file name for downloads
    url: str | None = None          # official download location
    sha256: str | None = None       # checksum of the file at url / package_file
    package_file: str | None = None  # weights shipped inside hiface/weights/
    state_keys: tuple[str, ...] = ("params_ema", "params")  # tried in order, else the whole file
    license: str = ""
    source: str = ""
    supports_fidelity: bool = False  # whether --fidelity means anything for this model
    default_fidelity: float | None = None
    guided: bool = False            # needs a reference face (GFRNet)
    has_weights: bool = True        # False for parameter-free restorers (identity, baselines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_REGISTRY: dict[str, PretrainedConfig] = {}
_LOADED = False


def register(cfg: PretrainedConfig) -> PretrainedConfig:
    if cfg.name in _REGISTRY and _REGISTRY[cfg.name] != cfg:
        raise ValueError(f"model {cfg.name!r} registered twice with different configs")
    _REGISTRY[cfg.name] = cfg
    return cfg


def _ensure_loaded() -> None:
    global _LOADED
    if not _LOADED:
        from . import zoo  # noqa: F401  (registers every entry)

        _LOADED = True


def list_models() -> list[str]:
    _ensure_loaded()
    return sorted(_REGISTRY)


def get_model_config(name: str) -> PretrainedConfig:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise HifaceError(f"unknown model {name!r}.{hint} Known models: {', '.join(sorted(_REGISTRY))}") from None


def _import(spec: str):
    mod, _, attr = spec.partition(":")
    return getattr(importlib.import_module(mod), attr)


def build_network(cfg: PretrainedConfig, **overrides):
    """Instantiate the (randomly initialised) network of ``cfg``."""
    kwargs = {**cfg.arch_kwargs, **overrides}
    return _import(cfg.arch)(**kwargs)


def resolve_weights(cfg: PretrainedConfig, weights: str | Path | None, *, cache=None, offline=None) -> Path | None:
    """Map the ``weights`` argument to a file: None -> random init, "default" -> shipped file or
    the verified download of the official release, a path -> that file."""
    from . import weights as W

    if weights is None or (not cfg.has_weights and str(weights) == "default"):
        return None
    if str(weights) != "default":
        p = Path(weights).expanduser()
        if not p.is_file():
            raise WeightsError(f"weight file not found: {p}")
        return p
    if cfg.package_file:
        p = Path(__file__).parent / "weights" / cfg.package_file
        if not p.is_file():
            raise WeightsError(f"the packaged weights of {cfg.name} are missing from this install ({p}); reinstall hiface")
        return p
    if cfg.url:
        return W.download(cfg.url, cfg.filename or Path(cfg.url).name, cfg.sha256, cache=cache, offline=offline)
    raise WeightsError(f"model {cfg.name!r} has no default weights; pass a file with --weights")


class Restorer:
    """Aligned face tensor in, restored face tensor out; hides each model's forward quirks.

    Subclasses implement :meth:`forward_native` on (B, 3, S, S) RGB [0, 1] tensors at the
    native size S; :meth:`restore` handles device, dtype, resizing, batching and clamping.
    """

    #: False for fully-size-agnostic restorers: inputs are then not resized to native_size
    resize_to_native: bool = True

    def __init__(self, net, config: PretrainedConfig, device: str = "cpu"):
        import torch

        self.config = config
        self.device = torch.device(device)
        self.net = net.to(self.device).eval() if net is not None else None

    # -- metadata -----------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.name

    @property
    def native_size(self) -> int:
        return self.config.native_size

    @property
    def template(self) -> str:
        return self.config.template

    @property
    def supports_fidelity(self) -> bool:
        return self.config.supports_fidelity

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, native_size={self.native_size}, template={self.template!r})"

    # -- inference ----------------------------------------------------------------
    def forward_native(self, x, fidelity: float | None = None, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def resolve_fidelity(self, fidelity: float | str | None) -> tuple[float | None, float | str | None]:
        """Map the user's ``fidelity`` to (the model's own knob, the output blend).

        The blend is ``"auto"`` (the per-face estimate of :mod:`hiface.fidelity`), a fixed weight
        (1 = the restored face, 0 = the input) or None (the model's output as is). None means
        ``auto`` for models without a knob of their own and the model's default otherwise
        (CodeFormer keeps its w; guided models, GFRNet, their output); a number goes to the
        model's knob when it has one, else it is the blend weight; ``"auto"`` always blends, on
        top of the model's default."""
        if isinstance(fidelity, str):
            if fidelity.strip().lower() != "auto":
                try:
                    fidelity = float(fidelity)
                except ValueError:
                    raise HifaceError(f"fidelity must be 'auto' or a number in [0, 1], got {fidelity!r}") from None
            else:
                return self.config.default_fidelity, "auto"
        if fidelity is not None and not 0.0 <= float(fidelity) <= 1.0:
            raise HifaceError(f"fidelity must be in [0, 1], got {fidelity}")
        if self.supports_fidelity:
            return (self.config.default_fidelity if fidelity is None else float(fidelity)), None
        if fidelity is None and self.config.guided:
            # a reference-guided restoration is asked for explicitly (--guide), and the estimator
            # never saw one: guided models blend only on request (--fidelity auto or a number)
            return None, None
        return None, ("auto" if fidelity is None else float(fidelity))

    def restore(self, faces, fidelity: float | str | None = None, batch_size: int | None = None, *,
                info: list | None = None, **kwargs):
        """Restore (B,3,H,W) or (3,H,W) faces in [0,1]; returns the same shape on the input's device.

        ``fidelity``: see :meth:`resolve_fidelity` (default: ``auto`` for models without their own
        knob). ``info``: a list that receives, per face, ``{"weight", "severity"}``: the blend weight
        used (None: the model's output as is) and, with auto, the estimated PSNR-optimal weight."""
        import torch
        import torch.nn.functional as F

        model_fid, mix = self.resolve_fidelity(fidelity)
        squeeze = faces.dim() == 3
        x = faces[None] if squeeze else faces
        if x.dim() != 4 or x.shape[1] != 3:
            raise HifaceError(f"expected faces of shape (B, 3, H, W), got {tuple(faces.shape)}")
        src_dev, (h, w) = x.device, x.shape[-2:]
        s = self.native_size
        resize = self.resize_to_native and (h, w) != (s, s)
        outs = []
        bs = batch_size or x.shape[0] or 1
        est = None
        if mix == "auto":
            from .fidelity import load_auto_fidelity

            est = load_auto_fidelity()
        with torch.inference_mode():
            for i in range(0, x.shape[0], bs):
                xin = x[i:i + bs].to(self.device, torch.float32)
                xb = xin
                if resize:
                    xb = F.interpolate(xb, size=(s, s), mode="bicubic", align_corners=False, antialias=True).clamp_(0, 1)
                yb = self.forward_native(xb, fidelity=model_fid, **kwargs)
                alpha = sev = None
                if mix is not None:  # no-harm blend with the input (hiface.fidelity)
                    if est is not None:
                        sev = est.severity(xb, yb[:, :3].clamp(0, 1))
                        alpha = est.weight(sev)
                    else:
                        alpha = [float(mix)] * xb.shape[0]
                if resize:
                    yb = F.interpolate(yb, size=(h, w), mode="bicubic", align_corners=False, antialias=True)
                if alpha is not None:
                    from .fidelity import blend

                    yb = torch.cat([blend(xin, yb[:, :3].clamp(0, 1), alpha), yb[:, 3:]], 1)
                if info is not None:
                    info += [{"weight": None if alpha is None else round(float(alpha[k]), 4),
                              "severity": None if sev is None else round(float(sev[k]), 4)} for k in range(xb.shape[0])]
                outs.append(yb.clamp_(0, 1).to(src_dev))
        y = torch.cat(outs) if outs else x.clone()
        return y[0] if squeeze else y

    __call__ = restore


class IdentityRestorer(Restorer):
    """Returns its input: checks the photo pipeline (align -> paste back) in isolation."""

    resize_to_native = False

    def forward_native(self, x, fidelity=None, **kwargs):
        return x.clone()


def _identity_net():
    import torch

    return torch.nn.Identity()


def create_restorer(name: str, weights: str | Path | None = "default", device: str = "cpu", *,
                    cache=None, offline=None, **arch_overrides) -> Restorer:
    """Build a restorer by registry name.

    weights: "default" (shipped or official file, downloaded to the cache if needed),
    a path to a ``.safetensors``/``.pth`` file, or None for random initialisation.
    """
    from . import weights as W

    cfg = get_model_config(name)
    path = resolve_weights(cfg, weights, cache=cache, offline=offline)
    # a training export records its generator's options (e.g. residual): they win over the
    # registry's, explicit overrides win over both
    file_kw = W.export_arch_kwargs(path, cfg.arch) if path is not None else {}
    net = build_network(cfg, **{**file_kw, **arch_overrides})
    if path is not None:
        raw = W.load_state_dict_file(path)
        sd = W.select_state_dict(raw, cfg.state_keys, source=str(path))
        W.load_into(net, sd, source=str(path))
    cls = _import(cfg.restorer)
    return cls(net, cfg, device=device)
