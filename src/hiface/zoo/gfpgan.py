"""GFP-GAN v1.3 / v1.4 (TencentARC), "clean" architecture, official release files."""
from ..registry import PretrainedConfig, register

_COMMON = dict(
    arch="hiface.archs.gfpgan:gfpgan_v1_clean",
    restorer="hiface.restorers.gfpgan:GFPGANRestorer",
    native_size=512,
    template="ffhq512",
    arch_kwargs=dict(out_size=512, num_style_feat=512, channel_multiplier=2, num_mlp=8,
                     input_is_latent=True, different_w=True, narrow=1.0, sft_half=True),
    state_keys=("params_ema", "params"),
    license="Apache-2.0 (TencentARC/GFPGAN); the weights were trained on FFHQ, check its terms for commercial use",
    source="https://github.com/TencentARC/GFPGAN",
    supports_fidelity=True,
    default_fidelity=1.0,
)

_NOTE = (" Deterministic: uses the noise maps stored in the checkpoint (randomize_noise=True gives the"
         " official per-call random noise). --fidelity is a real output blend (0 = input, 1 = restored);"
         " the official CLI's `weight` is ignored by the model. sha256 pinned from several independent"
         " public manifests of the official release file.")

register(PretrainedConfig(
    name="gfpgan-1.4",
    description="GFP-GAN v1.4 (U-Net + StyleGAN2 prior with CS-SFT), 512² aligned faces; per the"
                " release notes, more details and better identity than v1.3." + _NOTE,
    filename="GFPGANv1.4.pth",
    url="https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth",
    sha256="e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad",
    **_COMMON,
))

register(PretrainedConfig(
    name="gfpgan-1.3",
    description="GFP-GAN v1.3 (same architecture as v1.4), 512² aligned faces; per the release notes,"
                " more natural results, also on very low- and high-quality inputs." + _NOTE,
    filename="GFPGANv1.3.pth",
    url="https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.3.pth",
    sha256="c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70",
    **_COMMON,
))
