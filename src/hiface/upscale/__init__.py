"""Background up-sampling: Real-ESRGAN converted offline from ncnn files (tiled, any scale) or Lanczos."""
from __future__ import annotations

__all__ = ["BG_UPSAMPLERS", "create_bg_upsampler", "default_bg_upsampler", "RealESRGANUpsampler"]


def __getattr__(name: str):  # lazy: keep `hiface --help` free of torch
    if name in __all__:
        from . import upsampler

        return getattr(upsampler, name)
    raise AttributeError(name)
