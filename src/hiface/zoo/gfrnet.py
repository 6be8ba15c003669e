"""GFRNet: guided face restoration with a reference photo (Li et al., ECCV 2018)."""
from ..registry import PretrainedConfig, register

register(PretrainedConfig(
    name="gfrnet",
    arch="hiface.archs.gfrnet:gfrnet",
    restorer="hiface.restorers.gfrnet:GFRNetRestorer",
    native_size=256,
    # trained on UTKFace chips, which dlib cut with get_face_chip (padding 0.2, measured: see
    # hiface/faces/templates.py): aligning
    # inputs the same way avoids padding the training crops (see weights/gfrnet.md)
    template="dlib-chip",
    arch_kwargs={"size": 256, "ngf": 16, "warp_ngf": 16, "warp_skips": True, "warp_size": 128},
    description="Guided restoration: warps a high-quality reference photo of the same person onto the "
                "degraded face (WarpNet) and restores with it (RecNet). Needs --guide. Small CPU-trained model.",
    package_file="gfrnet-s256-ngf16.safetensors",
    sha256="c29b08ba3870248be5ed33165f0c0fb32f550701c2c59b9c458595ba5517b844",
    state_keys=(),
    license="weights: non-commercial research only (trained on UTKFace); code: Apache-2.0",
    source="re-implementation of csxmli2016/GFRNet (ECCV 2018), trained by hiface (see weights/gfrnet.md)",
    guided=True,
))
