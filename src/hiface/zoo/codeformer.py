"""CodeFormer (sczhou), official release file."""
from ..registry import PretrainedConfig, register

register(PretrainedConfig(
    name="codeformer",
    arch="hiface.archs.codeformer:codeformer",
    restorer="hiface.restorers.codeformer:CodeFormerRestorer",
    native_size=512,
    template="ffhq512",
    arch_kwargs=dict(img_size=512, nf=64, ch_mult=(1, 2, 2, 4, 4, 8), num_res_blocks=2, attn_resolutions=(16,),
                     codebook_size=1024, emb_dim=256, dim_embd=512, n_head=8, n_layers=9,
                     connect_list=(32, 64, 128, 256)),
    description="CodeFormer (VQ codebook + transformer code lookup + controllable fusion), 512² aligned"
                " faces. --fidelity is CodeFormer's w in [0, 1] (default 0.5): lower = stronger codebook"
                " prior / quality, higher = closer to the input; 0 skips the fusion layers. sha256 pinned"
                " from several independent public manifests of the official release file.",
    filename="codeformer.pth",
    url="https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",
    sha256="1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7",
    state_keys=("params_ema", "params"),
    license="NTU S-Lab License 1.0 (non-commercial use only)",
    source="https://github.com/sczhou/CodeFormer",
    supports_fidelity=True,
    default_fidelity=0.5,
))
