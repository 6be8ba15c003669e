"""Built-in, weight-free restorers."""
from ..models import PretrainedConfig, register

register(PretrainedConfig(
    name="identity",
    arch="hiface.models:_identity_net",
    restorer="hiface.models:IdentityRestorer",
    native_size=512,
    template="ffhq512",
    has_weights=False,
    description="Returns the aligned face unchanged (pipeline check: detect, align, paste back).",
))
