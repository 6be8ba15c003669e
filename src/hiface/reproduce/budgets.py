"""Compute budgets of ``hiface reproduce``: how many hold-out faces, at what size, and how long
the ablation trains. Every budget runs the same protocol; only the scale changes."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ..errors import ConfigError

__all__ = ["Budget", "BUDGETS", "get_budget"]


@dataclass(frozen=True)
class Budget:
    """One scale of the reproduction (see :data:`BUDGETS`)."""

    name: str
    summary: str
    # -- sub-task tables (paper §3.1 / §4.1) ----------------------------------------------------
    faces: int                      #: hold-out faces scored in every sub-task
    size: int                       #: sub-task faces are resized to size² (NIQE needs ≥ 192x96, MS-SSIM > 160)
    metrics: str = "all"            #: "all" or a comma list (hiface.metrics names)
    sheet_rows: int = 4             #: faces in each contact sheet
    workers: int = 1                #: scoring processes (the metrics are single-threaded)
    # -- ablation (suppression x replenishment) on the face-renovation mix ---------------------
    ab_size: int = 128              #: training and scoring size (the issue's 128²)
    ab_steps: int = 2000
    ab_batch: int = 4
    ab_ngf: int = 8                 #: generator width, the same for every variant
    ab_spade_hidden: int = 128      #: hidden width of each SPADE modulation MLP (official 128)
    ab_ndf: int = 32
    ab_num_d: int = 2
    ab_d_layers: int = 3
    ab_train_faces: int = 2000      #: training pool (disjoint from the hold-out and validation faces)
    ab_val_faces: int = 8           #: validation faces for the PSNR/FED curves
    ab_eval_every: int = 250        #: validation cadence (steps)
    ab_warmup: int = 0              #: reconstruction-only steps before the GAN phase
    ab_extra_seeds: int = 1         #: extra seeds for the winner and the runner-up
    ab_ema_decay: float = 0.999
    ab_perceptual: float = 10.0     #: perceptual-loss weight (MobileNetV2 features; 0 skips it in CI)
    ab_threads: int = 0             #: torch threads per training run (0: cores / ab_parallel)
    #: training runs at once, each in its own process (one per core pays on a CPU: at 128² with
    #: ngf 4 a second thread speeds a run up only 1.1x, a second process 2x; bench/README.md)
    ab_parallel: int = 1
    device: str = "cpu"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def caption(self) -> str:
        """One line stating the ablation's budget (for table captions)."""
        return (f"budget `{self.name}`: {self.ab_steps} steps x batch {self.ab_batch} at {self.ab_size}², "
                f"ngf {self.ab_ngf}, SPADE hidden {self.ab_spade_hidden} (D ndf {self.ab_ndf}, {self.ab_num_d} scales), {self.ab_train_faces} training faces, "
                f"seeds: 1 per variant + {self.ab_extra_seeds} more for the two best")


BUDGETS: dict[str, Budget] = {b.name: b for b in (
    Budget("tiny", "test suite / CI: a few steps on a few faces, tiny networks (seconds to a minute)",
           faces=2, size=64, metrics="psnr,ssim,niqe,fed,lle", sheet_rows=2,
           ab_size=64, ab_steps=2, ab_batch=1, ab_ngf=4, ab_spade_hidden=16, ab_ndf=8, ab_num_d=1, ab_d_layers=2,
           ab_train_faces=6, ab_val_faces=2, ab_eval_every=2, ab_warmup=1, ab_ema_decay=0.5, ab_perceptual=0.0,
           ab_threads=1),
    Budget("small", "a first look on a 2-core CPU (9 min measured, bench/README.md): the protocol end to end with the "
           "default budget's networks, too few steps for the ablation to separate the variants",
           faces=3, size=192, sheet_rows=3, workers=2, ab_steps=200, ab_batch=4, ab_ngf=4, ab_spade_hidden=16,
           ab_ndf=16, ab_train_faces=500, ab_val_faces=3, ab_eval_every=50, ab_warmup=50, ab_ema_decay=0.99,
           ab_threads=1, ab_parallel=2),
    Budget("default", "the 2-core CPU budget (≤ 2.5 h, measured in bench/README.md): 24 faces per "
           "sub-task at 192², 3,000 steps per ablation run (ngf 4), two runs at a time",
           faces=24, size=192, sheet_rows=6, workers=2, ab_steps=3000, ab_batch=4, ab_ngf=4, ab_spade_hidden=16,
           ab_ndf=16, ab_train_faces=2000, ab_val_faces=6, ab_eval_every=250, ab_warmup=200, ab_ema_decay=0.995,
           ab_threads=1, ab_parallel=2),
    Budget("gpu", "one modern GPU (a few hours): 200 faces at 256², the lite model's width (ngf 16) and "
           "20,000 steps per ablation run, two extra seeds",
           faces=200, size=256, sheet_rows=8, workers=4, ab_steps=20000, ab_batch=8, ab_ngf=16, ab_ndf=64,
           ab_d_layers=4, ab_train_faces=8000, ab_val_faces=32, ab_eval_every=1000, ab_warmup=500, ab_extra_seeds=2,
           device="cuda"),
)}


def get_budget(name: str, **overrides: Any) -> Budget:
    """A named budget, with field overrides (e.g. ``ab_steps=10``)."""
    try:
        b = BUDGETS[name]
    except KeyError:
        raise ConfigError(f"unknown budget {name!r}; choose from: {', '.join(BUDGETS)}") from None
    bad = [k for k in overrides if k not in Budget.__dataclass_fields__ or k == "name"]
    if bad:
        raise ConfigError(f"unknown budget field(s): {', '.join(bad)}")
    return replace(b, **overrides) if overrides else b
