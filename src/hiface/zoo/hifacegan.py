"""HiFaceGAN (Yang et al., ACM MM 2020): the paper generator and the released LIP-SPADE variant.

The official weights are not downloadable by URL: they sit in cloud-drive folders (one per
subtask: 4x/8x/16x super-resolution, deblurring, denoising, JPEG, face renovation) linked from
the Face-Renovation README. Fetch the one you need and pass it with ``--weights``
(``weights=PATH``); ``hiface convert`` turns it into a .safetensors file.
"""
from ..registry import PretrainedConfig, register

_SOURCE = "https://github.com/Lotayou/Face-Renovation"
_COMMON = dict(
    restorer="hiface.restorers.hifacegan:HiFaceGANRestorer",
    native_size=512,
    template="ffhq512",
    url=None,
    license="CC BY-NC-SA 4.0 (official code, derived from NVIDIA SPADE; released weights follow it): "
            "non-commercial use only",
    source=_SOURCE,
)
_WEIGHTS_NOTE = (" No direct download: the official files are on cloud drives linked from the Face-Renovation"
                 " README (" + _SOURCE + "); pass the file with --weights. Input and output are RGB in [0, 1]"
                 " (official convention); SPADE uses per-image statistics (the official test script's"
                 " train-mode behaviour at batch size 1).")

register(PretrainedConfig(
    name="hifacegan",
    arch="hiface.archs.hifacegan:HiFaceGANGenerator",
    arch_kwargs=dict(ngf=64, suppression="lip", replenishment="spade"),
    description="HiFaceGAN as in the paper: LIP suppression encoder (6 scales) guiding a SPADE"
                " replenishment decoder, ngf 64, 130.6 M parameters, 512² aligned faces." + _WEIGHTS_NOTE,
    filename="hifacegan_ngf64.pth",
    state_keys=("params_ema", "params"),  # else the whole file (official layout)
    **_COMMON,
))

register(PretrainedConfig(
    name="hifacegan-released",
    arch="hiface.archs.hifacegan:LIPSPADEGenerator",
    arch_kwargs=dict(ngf=48),
    description="The released HiFaceGAN checkpoints (latest_net_G.pth): LIP encoder start features,"
                " SPADE layers guided by the input image, ngf 48, 72.2 M parameters, 512²." + _WEIGHTS_NOTE,
    filename="latest_net_G.pth",
    state_keys=(),  # the whole file is the state dict
    **_COMMON,
))

# The shipped default of `hiface restore`: trained by hiface on the UTKFace chips (model card:
# hiface/weights/hifacegan-lite.md; recipe: configs/hifacegan-lite-default.yaml).
register(PretrainedConfig(
    name="hifacegan-lite",
    arch="hiface.archs.hifacegan:HiFaceGANGenerator",
    # lowfreq_sigma: the input's Gaussian-σ-4 low frequencies (colour, shading) pass through,
    # the network supplies the details (trained that way, see HiFaceGANGenerator)
    arch_kwargs=dict(ngf=16, suppression="lip", replenishment="spade", spectral=True, spade_hidden=32,
                     lowfreq_sigma=4.0),
    restorer="hiface.restorers.hifacegan:HiFaceGANRestorer",
    native_size=256,
    template="dlib-chip",
    description="hiface's default restorer: HiFaceGAN lite (LIP suppression + SPADE replenishment, ngf 16,"
                " SPADE hidden 32, 8.2 M parameters) for 256² dlib-chip aligned faces, trained on CPU on the"
                " quality-filtered UTKFace chips with the hifacegan-fr degradation mix. Ships with the"
                " package (fp16); see weights/hifacegan-lite.md for data, licence, metrics and limits.",
    package_file="hifacegan-lite.safetensors",
    sha256="a943a3ec4e5d77abc5680abe054ebb4812f0400230cfe49a69f66e9e3837f99e",
    state_keys=(),
    license="weights: non-commercial research use only (trained on UTKFace); code: Apache-2.0",
    source="trained by hiface (configs/hifacegan-lite-default.yaml)",
))
