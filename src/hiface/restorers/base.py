"""The common restorer interface: aligned face tensor in, restored face tensor out.

A :class:`Restorer` wraps one network and hides its forward quirks (value range, colour order,
resizing, batching, extra inputs such as GFRNet's reference face). Subclasses implement
:meth:`Restorer.forward_native` at the model's native size; the base class does the rest.
"""
from __future__ import annotations

from contextlib import nullcontext

from ..errors import HifaceError
from ..registry import PretrainedConfig

__all__ = ["Restorer", "IdentityRestorer", "identity_net", "use_channels_last"]


class Restorer:
    """Aligned face tensor in, restored face tensor out; hides each model's forward quirks.

    Subclasses implement :meth:`forward_native` on (B, 3, S, S) RGB [0, 1] tensors at the
    native size S; :meth:`restore` handles device, dtype, resizing, batching and clamping.
    """

    #: False for fully-size-agnostic restorers: inputs are then not resized to native_size
    resize_to_native: bool = True
    #: GPU opt-in (``--half``): the network runs under float16 autocast; the numerically fragile
    #: parts (CodeFormer's code prediction/lookup/AdaIN, StyleGAN2 demodulation) stay float32
    half: bool = False
    half_dtype: str = "float16"  #: the autocast type of ``half`` (bfloat16 where float16 is unsupported)

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
        """(B, 3, S, S) in [0, 1] at the native size -> restored (B, 3, S, S); or, for models with
        per-face extras, ``(restored, {name: (B, C, S, S)})`` (the extras come in as ``extras=``)."""
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
                extras: dict | None = None, return_extras: bool = False, info: list | None = None, **kwargs):
        """Restore (B,3,H,W) or (3,H,W) faces in [0,1]; returns the same shape on the input's device.

        ``extras``: per-face extra inputs by name, e.g. GFRNet's ``{"guide": reference}``, each
        (B, C, H', W'), or (1, C, H', W') / (C, H', W') for one shared by every face. They are
        resized to the native size and batched with the faces, and reach :meth:`forward_native`
        as ``extras=``. Extra *outputs* the model returns (e.g. the warped reference) are
        resized back like the faces; ``return_extras=True`` returns ``(restored, extras_out)``.

        ``fidelity``: see :meth:`resolve_fidelity` (default: ``auto`` for models without their own
        knob). ``info``: a list that receives, per face, ``{"weight", "severity"}``: the blend weight
        used (None: the model's output as is) and, with auto, the estimated PSNR-optimal weight.
        """
        import torch
        import torch.nn.functional as F

        if not torch.is_tensor(faces):  # numpy images: the same shape and dtype come back
            x, back = faces_to_tensor(faces)
            extras = {k: (faces_to_tensor(t)[0] if not torch.is_tensor(t) else t) for k, t in (extras or {}).items()}
            out = self.restore(x, fidelity, batch_size, extras=extras or None, return_extras=return_extras,
                               info=info, **kwargs)
            return (back(out[0]), {k: back(v) for k, v in out[1].items()}) if return_extras else back(out)
        squeeze = faces.dim() == 3
        x = faces[None] if squeeze else faces
        if x.dim() != 4 or x.shape[1] != 3:
            raise HifaceError(f"expected faces of shape (B, 3, H, W), got {tuple(faces.shape)}")
        n, src_dev, (h, w) = x.shape[0], x.device, x.shape[-2:]
        model_fid, mix = self.resolve_fidelity(fidelity)
        s = self.native_size
        resize = self.resize_to_native and (h, w) != (s, s)
        est = None
        if mix is not None:
            from ..fidelity import blend, load_auto_fidelity

            est = load_auto_fidelity() if mix == "auto" else None

        def to_native(t):
            t = t.to(self.device, torch.float32)
            if self.resize_to_native and t.shape[-2:] != (s, s):
                t = F.interpolate(t, size=(s, s), mode="bicubic", align_corners=False, antialias=True).clamp_(0, 1)
            return t

        ex_in = {}
        for k, t in (extras or {}).items():
            if not torch.is_tensor(t):
                raise HifaceError(f"extra input {k!r} must be a torch tensor (B, C, H, W), got {type(t).__name__}")
            t = t[None] if t.dim() == 3 else t
            if t.dim() != 4:
                raise HifaceError(f"extra input {k!r}: expected (B, C, H, W) or (C, H, W), got {tuple(t.shape)}")
            if t.shape[0] not in (1, n):
                raise HifaceError(f"extra input {k!r}: got {t.shape[0]} for {n} faces (give one, or one per face)")
            ex_in[k] = to_native(t).expand(n, -1, -1, -1)
        outs, ex_out = [], {}
        bs = batch_size or n or 1
        with torch.inference_mode():
            for i in range(0, n, bs):
                xin = x[i:i + bs].to(self.device, torch.float32)
                xb = to_native(xin)
                kw = {"extras": {k: t[i:i + bs] for k, t in ex_in.items()}} if ex_in else {}
                with (torch.autocast(self.device.type, dtype=getattr(torch, self.half_dtype)) if self.half
                      else nullcontext()):
                    yb = self.forward_native(xb, fidelity=model_fid, **kw, **kwargs)
                yb, eb = yb if isinstance(yb, tuple) else (yb, {})
                if self.half:
                    yb, eb = yb.float(), {k: t.float() for k, t in eb.items()}
                alpha = sev = None
                if mix is not None:  # no-harm blend with the input (hiface.fidelity)
                    if est is not None:
                        sev = est.severity(xb, yb[:, :3].clamp(0, 1))
                        alpha = est.weight(sev)
                    else:
                        alpha = [float(mix)] * xb.shape[0]
                if info is not None:
                    info += [{"weight": None if alpha is None else round(float(alpha[k]), 4),
                              "severity": None if sev is None else round(float(sev[k]), 4)} for k in range(xb.shape[0])]
                if resize:  # back to the input's size (before any blend: weight 0 gives the input itself)
                    yb = F.interpolate(yb, size=(h, w), mode="bicubic", align_corners=False, antialias=True)
                    eb = {k: F.interpolate(t, size=(h, w), mode="bicubic", align_corners=False, antialias=True)
                          for k, t in eb.items()}
                if alpha is not None:
                    yb = torch.cat([blend(xin, yb[:, :3].clamp(0, 1), alpha), yb[:, 3:]], 1)
                for k, t in {"": yb, **eb}.items():
                    t = t.clamp_(0, 1).to(src_dev)
                    (outs if k == "" else ex_out.setdefault(k, [])).append(t)
        y = torch.cat(outs) if outs else x.clone()
        ex = {k: torch.cat(v) for k, v in ex_out.items()}
        if squeeze:
            y, ex = y[0], {k: v[0] for k, v in ex.items()}
        return (y, ex) if return_extras else y

    __call__ = restore


def faces_to_tensor(faces):
    """A numpy face image (H, W, 3) or batch (B, H, W, 3) -- uint8, uint16 or float in [0, 1] -- as a
    float tensor (3, H, W) / (B, 3, H, W), and the function that turns a result back into numpy of
    the input's shape and dtype. Raises HifaceError for anything else."""
    import numpy as np
    import torch

    if not isinstance(faces, np.ndarray):
        raise HifaceError(f"faces must be a torch tensor (B, 3, H, W) in [0, 1] or a numpy image (H, W, 3) / "
                          f"batch (B, H, W, 3); got {type(faces).__name__}")
    a = faces
    if a.ndim not in (3, 4) or a.shape[-1] != 3:
        raise HifaceError(f"a numpy face must be RGB (H, W, 3) or a batch (B, H, W, 3), got shape {a.shape}")
    if a.dtype == np.uint8:
        f, scale = a.astype(np.float32) / 255.0, 255.0
    elif a.dtype == np.uint16:
        f, scale = a.astype(np.float32) / 65535.0, 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        f, scale = np.clip(a.astype(np.float32), 0.0, 1.0), None
    else:
        raise HifaceError(f"unsupported face dtype {a.dtype}: use uint8, uint16 or float in [0, 1]")
    t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(f, -1, -3)))

    def back(y):
        if isinstance(y, tuple):
            return tuple(back(v) for v in y)
        o = np.moveaxis(y.detach().float().cpu().numpy(), -3, -1)
        if scale is None:
            return np.ascontiguousarray(o.astype(a.dtype, copy=False))
        return np.ascontiguousarray((o * scale + 0.5).astype(a.dtype))

    return t, back


class IdentityRestorer(Restorer):
    """Returns its input: checks the photo pipeline (align -> paste back) in isolation."""

    resize_to_native = False

    def forward_native(self, x, fidelity=None, **kwargs):
        return x.clone()


def identity_net():
    import torch

    return torch.nn.Identity()


def use_channels_last(net):
    """Store conv weights in NHWC layout and switch modules that have an NHWC path (StyleGAN2's
    modulated convs: a ``channels_last`` attribute) to it. Values are unchanged; on CPU it saves
    10-15 % of a 512² GFP-GAN or CodeFormer forward when the input is channels-last too."""
    import torch
    from torch import nn

    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.data = m.weight.data.contiguous(memory_format=torch.channels_last)
        elif hasattr(m, "channels_last"):
            m.channels_last = True
    return net
