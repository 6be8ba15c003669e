"""Built-in, weight-free restorers."""
from ..registry import PretrainedConfig, register

register(PretrainedConfig(
    name="identity",
    arch="hiface.restorers.base:identity_net",
    restorer="hiface.restorers.base:IdentityRestorer",
    native_size=512,
    template="ffhq512",
    has_weights=False,
    description="Returns the aligned face unchanged (pipeline check: detect, align, paste back).",
))
