"""HiFaceGAN generators (Yang et al., "HiFaceGAN: Face Renovation via Collaborative Suppression
and Replenishment", ACM MM 2020), state-dict compatible with the official code
(github.com/Lotayou/Face-Renovation).

Value convention (same as the official code, so official weights give official outputs)
--------------------------------------------------------------------------------------
Input: RGB in **[0, 1]** (the official loaders divide by 255 and do *not* normalise to [-1, 1]).
Output: ``tanh`` activations in (-1, 1) that the official code reads as [0, 1] images after
clipping (its ``tensor2im`` multiplies by 255 and clips; the ``(x + 1) / 2`` line is commented
out). So: feed [0, 1], clamp the output to [0, 1]. :class:`HiFaceGANRestorer` does exactly that.

Normalisation statistics at inference: see :mod:`hiface.archs.replenishment`; the default
``inference_norm="instance"`` reproduces the official test script (train mode, batch size 1).
Spectral norm: in ``eval()`` the stored ``weight_u/_v`` are used as is (no power iteration);
the official script, running in train mode, performs one more power iteration per call, a
negligible difference for converged checkpoints.

Checked numerically (outside the test suite: the official code's CC BY-NC-SA licence keeps it
out of this repository) against the official ``HiFaceGANGenerator`` / ``LIPSPADEGenerator``
classes (ngf 48, 128² input, shared random state dict with non-trivial BN statistics, official
train mode at batch size 1): max |difference| 2.6e-7 without the extra power iteration, 8e-4
with it; the official eval mode differs from its train mode by up to 0.29.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .replenishment import INFERENCE_NORMS, make_block, set_inference_norm
from .suppression import LIPEncoder, SuppressionEncoder

__all__ = ["HiFaceGANGenerator", "LIPSPADEGenerator", "hifacegan_lite",
           "lowfreq_color_fix", "count_parameters", "init_weights", "LITE_NGF", "PAPER_PARAMS_NGF64"]

LITE_NGF = 16
PAPER_PARAMS_NGF64 = 130_568_012
_N_DOWN = 5  # the generator works on 1/32 at its coarsest: inputs must be multiples of 32


def count_parameters(module: nn.Module) -> int:
    """Number of learnable parameters (spectral-norm ``_u/_v`` and BN statistics are buffers)."""
    return sum(p.numel() for p in module.parameters())


def init_weights(module: nn.Module, init_type: str = "xavier", gain: float = 0.02) -> nn.Module:
    """Official initialisation (``BaseNetwork.init_weights``, config ``init_type='xavier'``,
    ``init_variance=0.02``): conv/linear weights xavier-normal(gain), biases zero.
    Spectrally-normalised convs keep PyTorch's default weights (only their bias is zeroed), as
    in effect in the official code, whose init writes into the derived ``weight`` tensor, which
    the next forward recomputes from ``weight_orig``. ``init_type="default"`` changes nothing."""
    import torch

    if init_type not in ("xavier", "normal", "kaiming", "default"):
        raise ValueError(f"unknown init_type {init_type!r} (xavier, normal, kaiming, default)")
    if init_type == "default":
        return module
    for m in module.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        with torch.no_grad():
            if not isinstance(getattr(m, "weight_orig", None), nn.Parameter):  # skip spectral-norm convs
                if init_type == "xavier":
                    nn.init.xavier_normal_(m.weight, gain=gain)
                elif init_type == "normal":
                    nn.init.normal_(m.weight, 0.0, gain)
                else:
                    nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            if m.bias is not None:
                m.bias.zero_()
    return module


def _check_input(x: Tensor) -> None:
    m = 2 ** _N_DOWN
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected (B, 3, H, W) RGB input, got {tuple(x.shape)}")
    if x.shape[-1] % m or x.shape[-2] % m:
        raise ValueError(f"HiFaceGAN needs height and width multiples of {m}, got {tuple(x.shape[-2:])}")


def _resized_like(image: Tensor, y: Tensor) -> Tensor:
    """``image`` area-resized to ``y``'s size (progressive phases output below input size)."""
    return image if image.shape[-2:] == y.shape[-2:] else F.interpolate(image, size=y.shape[-2:], mode="area")


def grey_start(gen: nn.Module, level: float = 0.5) -> nn.Module:
    """Start an untrained generator at a mid-grey output: the RGB heads' biases = atanh(level).

    The official init (zero biases, xavier 0.02) puts the first outputs at tanh(≈0) = 0, which
    the [0, 1] reading (module docstring) shows as black; Adam then moves the heads' bias by
    ≈ lr per step, so at lr 1e-4 a from-scratch run spends thousands of steps just climbing to
    grey (measured: still black after 200 steps at 128², ngf 4). Starting at grey is where
    the [-1, 1] convention of SPADE-style code starts; trained weights overwrite it."""
    import math

    import torch

    with torch.no_grad():
        for head in gen.to_rgbs:
            head.bias.fill_(math.atanh(level))
    return gen


class _SPADEDecoder(nn.Module):
    """Shared decoder layout: ``fc``, ``head_0``, ``G_middle_0/1``, ``ups.0-3``, ``to_rgbs.0-3``."""

    def _build_decoder(self, ngf: int, guides: list[int], replenishment: str, spectral: bool,
                       max_hidden: int, inference_norm: str) -> None:
        if inference_norm not in INFERENCE_NORMS:
            raise ValueError(f"inference_norm must be one of {INFERENCE_NORMS}, got {inference_norm!r}")
        n = ngf
        kw = dict(spectral=spectral, max_hidden=max_hidden, inference_norm=inference_norm)
        self.fc = nn.Conv2d(3, 16 * n, 3, padding=1)
        self.head_0 = make_block(replenishment, 16 * n, 16 * n, guides[0], **kw)
        self.G_middle_0 = make_block(replenishment, 16 * n, 16 * n, guides[1], **kw)
        self.G_middle_1 = make_block(replenishment, 16 * n, 16 * n, guides[1], **kw)
        chans = [16 * n, 8 * n, 4 * n, 2 * n, n]
        self.ups = nn.ModuleList(make_block(replenishment, chans[i], chans[i + 1], guides[i + 2], **kw)
                                 for i in range(4))
        # one RGB head per scale (official progressive training); inference uses the last
        self.to_rgbs = nn.ModuleList(nn.Conv2d(c, 3, 3, padding=1) for c in chans[1:])
        self.phase = 4

    def _decode(self, x: Tensor, guides: list[Tensor], image: Tensor | None = None) -> Tensor:
        """Decoder; with ``image`` (residual mode) the last conv's output is added to it
        instead of going through tanh."""
        x = self.head_0(x, guides[0])
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.G_middle_0(x, guides[1])
        x = self.G_middle_1(x, guides[1])
        for i in range(self.phase):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.ups[i](x, guides[i + 2])
        y = self.to_rgbs[self.phase - 1](F.leaky_relu(x, 0.2))
        return y.tanh() if image is None else _resized_like(image, y) + y

    def set_inference_norm(self, mode: str) -> "_SPADEDecoder":
        """Statistics the SPADE norms use in ``eval()``: "instance" (default), "batch", "running"."""
        set_inference_norm(self, mode)  # type: ignore[arg-type]
        return self


class HiFaceGANGenerator(_SPADEDecoder):
    """HiFaceGAN as the paper describes it (§3, Fig. 3): suppression encoder + SPADE decoder.

    - Suppression path (:class:`~hiface.archs.suppression.SuppressionEncoder`): 6 feature maps,
      1/32 ... 1/1, channels 16n,16n,8n,4n,2n,n; the 2x downsampler is ``suppression``:
      ``"lip"`` (official), ``"pairwise"`` (paper Eq. 2-3) or ``"none"`` (strided conv).
    - Replenishment path: input nearest-resized to 1/32 -> conv3x3 3->16n (``fc``); ``head_0``
      (guided by 1/32), x2 up, ``G_middle_0/1`` (both guided by 1/16), then 4 x [x2 up ->
      ``ups.i``] 16n->8n->4n->2n->n guided by 1/8...1/1; LReLU(0.2) -> conv3x3 n->3 -> tanh.
      ``replenishment="plain"`` replaces SPADE blocks by :class:`PlainResBlock` (ablation).

    ``gen(x) -> y``: x (B,3,H,W) RGB in [0,1], H and W multiples of 32; y in (-1,1), read as
    [0,1] after clamping (module docstring). ngf 64 has 130,568,012 parameters (any input size).
    ``inference_norm``: eval-mode SPADE statistics, default per-image ("instance").
    ``phase`` (attribute, 1-4): number of up-blocks used (progressive training); output size is
    ``H / 2^(4-phase)``.
    ``residual=True`` (not in the paper): ``y = x + conv(...)`` without
    tanh, a global skip so the network learns only the correction; the input's colours and
    layout pass through from the first step (the instance-normalised suppression features
    carry no global colour). Same parameters and state-dict layout as ``residual=False``.
    ``lowfreq_sigma=σ > 0`` (hiface's default model, not in the paper): the output keeps the
    input's Gaussian-σ low frequencies and takes only the details from the network,
    ``y = G(x) - G_σ*G(x) + G_σ*x`` (:func:`lowfreq_color_fix` inside the forward, so training
    sees what inference returns). Same state-dict layout.
    """

    def __init__(self, ngf: int = 64, suppression: str = "lip", replenishment: str = "spade",
                 spectral: bool = True, spade_hidden: int = 128, inference_norm: str = "instance",
                 init: str = "xavier", residual: bool = False, lowfreq_sigma: float = 0.0,
                 **suppression_kwargs):
        super().__init__()
        self.ngf, self.suppression, self.replenishment = ngf, suppression, replenishment
        self.residual, self.lowfreq_sigma = bool(residual), float(lowfreq_sigma)
        self.encoder = SuppressionEncoder(ngf, 3, _N_DOWN, suppression, **suppression_kwargs)
        self._build_decoder(ngf, self.encoder.channels, replenishment, spectral, spade_hidden, inference_norm)
        init_weights(self, init)
        if init != "default":
            grey_start(self)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x)
        feats = self.encoder(x)
        h = self.fc(F.interpolate(x, size=feats[0].shape[-2:], mode="nearest"))
        y = self._decode(h, feats, x if self.residual else None)
        if self.lowfreq_sigma > 0:
            y = lowfreq_color_fix(y, _resized_like(x, y), self.lowfreq_sigma)
        return y


class LIPSPADEGenerator(_SPADEDecoder):
    """The generator of the released HiFaceGAN checkpoints (official ``LIPSPADEGenerator``, ngf 48).

    A LIP encoder (``lip_encoder.model.*``: conv, LIP, conv, ... down to 1/32, 16n channels)
    produces the starting features; every SPADE layer is guided by the input image itself
    (3 channels, nearest-resized). ``fc`` exists in the checkpoint but is unused (as in the
    official code). Same value convention, options and layout as :class:`HiFaceGANGenerator`.
    """

    def __init__(self, ngf: int = 48, spectral: bool = True, spade_hidden: int = 128,
                 inference_norm: str = "instance", init: str = "xavier"):
        super().__init__()
        self.ngf = ngf
        self._build_decoder(ngf, [3] * 6, "spade", spectral, spade_hidden, inference_norm)
        self.lip_encoder = LIPEncoder(ngf, 3, _N_DOWN)
        init_weights(self, init)
        if init != "default":
            grey_start(self)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x)
        return self._decode(self.lip_encoder(x), [x] * 6)


def hifacegan_lite(ngf: int = LITE_NGF, suppression: str = "lip", **kwargs) -> HiFaceGANGenerator:
    """CPU-sized HiFaceGAN: the paper architecture (LIP suppression, SPADE replenishment) with ngf 16.

    Parameters / GFLOPs: see ``bench/README.md`` (``bench/bench_archs.py``)."""
    return HiFaceGANGenerator(ngf=ngf, suppression=suppression, **kwargs)


def lowfreq_color_fix(out: Tensor, ref: Tensor, sigma: float = 4.0) -> Tensor:
    """Keep ``out``'s details but ``ref``'s colours: ``out - G_σ*out + G_σ*ref`` (Gaussian
    low-pass G_σ, reflect padding). The low-frequency colour correction of StableSR-style
    restorers; hifacegan-lite applies it inside the forward (``lowfreq_sigma``) because its
    instance-normalised suppression features carry no global colour."""
    r = max(1, int(round(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=out.dtype, device=out.device)
    g = torch.exp(-t * t / (2 * sigma * sigma))
    g = (g / g.sum()).view(1, 1, 1, -1).repeat(out.shape[1], 1, 1, 1)

    def low(x):
        x = F.pad(x, (r, r, r, r), mode="reflect")
        x = F.conv2d(x, g, groups=x.shape[1])
        return F.conv2d(x, g.transpose(2, 3), groups=x.shape[1])

    return out - low(out) + low(ref)
