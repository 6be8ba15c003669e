"""What the web page offers, and how each choice becomes :class:`hiface.photo.RestoreOptions`.

No gradio import: the lists are plain data, tested on their own. To add a background
up-sampler (e.g. Real-ESRGAN) extend :data:`BACKGROUNDS` -- the page's list comes only from
:func:`background_upsamplers`.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import HifaceError
from ..models import get_model_config, list_models
from ..photo import DEFAULT_MODEL, RestoreOptions
from ..weights import cache_dir

__all__ = ["ModelChoice", "model_choices", "model_choice", "model_markdown", "DETECTOR_LABELS",
           "detector_choices", "BACKGROUNDS", "background_upsamplers", "Settings", "restore_options",
           "cli_command"]


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model list."""

    name: str
    weights: str            #: shipped / cached / download / --weights only / none needed
    usable: bool            #: can run now, offline (weights shipped, cached or not needed)
    how_to_get: str         #: one sentence for models that cannot run yet ("" otherwise)
    supports_fidelity: bool
    default_fidelity: float | None
    description: str

    @property
    def label(self) -> str:
        tag = {"shipped": "shipped", "cached": "in cache", "download": "not downloaded",
               "none needed": "no weights", "--weights only": "needs a weight file"}.get(self.weights, self.weights)
        return f"{self.name} ({tag}{', default' if self.name == DEFAULT_MODEL else ''})"


def _how_to_get(cfg, status: str) -> str:
    if status == "download":
        fname = cfg.filename or Path(cfg.url).name
        return (f"Its weights are not in the cache. Run `hiface restore photo.jpg -o out/ --model {cfg.name}` "
                f"once with internet access (it downloads and verifies them), or download {cfg.url} and "
                f"copy it to {cache_dir() / fname}; then press Restore again.")
    if status == "--weights only":
        return (f"There is no official download hiface can verify: convert a checkpoint with "
                f"`hiface convert` and use the command line (`hiface restore ... --model {cfg.name} "
                f"--weights FILE`); see {cfg.source or 'the model card'}.")
    if status.startswith("shipped ("):
        return "The shipped weights are missing from this install: reinstall hiface."
    return ""


def model_choices() -> list[ModelChoice]:
    """Every registered model the page can run (guided models need a reference photo: command
    line only), default first, then the others by name."""
    from ..cli.models import weights_status

    out = []
    for name in list_models():
        cfg = get_model_config(name)
        if cfg.guided:
            continue
        st = weights_status(cfg)
        out.append(ModelChoice(name=name, weights=st, usable=st in ("shipped", "cached", "none needed"),
                               how_to_get=_how_to_get(cfg, st), supports_fidelity=cfg.supports_fidelity,
                               default_fidelity=cfg.default_fidelity, description=cfg.description))
    out.sort(key=lambda c: (c.name != DEFAULT_MODEL, c.name))
    return out


def model_choice(name: str) -> ModelChoice:
    for c in model_choices():
        if c.name == name:
            return c
    raise HifaceError(f"model {name!r} is not offered here (see `hiface models`; guided models such as "
                      "gfrnet need `hiface restore --guide`)")


def model_markdown(name: str) -> str:
    """A short description of ``name`` for the page: weights, fidelity meaning, how to get it."""
    c = model_choice(name)
    where = {"shipped": "weights shipped with hiface", "cached": "weights in the cache",
             "none needed": "no weights needed"}.get(c.weights, "**not available offline yet**")
    fid = (f"Fidelity: supported (its default: {c.default_fidelity:g})." if c.supports_fidelity
           and c.default_fidelity is not None else "Fidelity: supported." if c.supports_fidelity
           else "Fidelity: not used by this model.")
    first = re.split(r"(?<=\.)\s", c.description.strip(), maxsplit=1)[0] if c.description else ""
    text = f"**{c.name}**: {where}. {first} {fid}"
    if c.how_to_get:
        text += f"\n\n{c.how_to_get}"
    return text


#: detector name -> label; the names are ``hiface restore --detector``'s
DETECTOR_LABELS: dict[str, str] = {
    "dlib": "dlib HOG (fast, offline)",
    "dlib-cnn": "dlib CNN (slower, finds harder faces)",
    "retinaface": "RetinaFace (needs its weights in the cache)",
}


def detector_choices() -> list[tuple[str, str]]:
    """(label, name) pairs for the detector list, in ``hiface restore --detector`` order."""
    from ..cli.restore import DETECTORS

    return [(DETECTOR_LABELS.get(d, d), d) for d in DETECTORS]


#: background up-sampler key -> (label, RestoreOptions changes that select it). The faces are
#: restored by the model; this decides how the rest of the photo is enlarged.
BACKGROUNDS: dict[str, tuple[str, dict]] = {
    "lanczos": ("Lanczos (built in, fast)", {}),
    "realesrgan-fast": ("Real-ESRGAN fast (animevideov3; minutes per photo on a CPU)",
                        {"bg_upsampler": "realesrgan-fast"}),
    "realesrgan": ("Real-ESRGAN x4plus (best background; very slow without a GPU)", {"bg_upsampler": "realesrgan"}),
}


def background_upsamplers() -> list[tuple[str, str]]:
    """(label, key) pairs for the background up-sampler list (first = default)."""
    return [(label, key) for key, (label, _) in BACKGROUNDS.items()]


@dataclass(frozen=True)
class Settings:
    """The page's settings, as chosen by the user."""

    model: str = DEFAULT_MODEL
    fidelity: float | None = None   #: None = auto
    detector: str = "dlib"
    upscale: float = 2.0
    background: str = "lanczos"
    batch_size: int | None = None   #: faces per model call (``--batch-size``; None: the CLI's default)


def restore_options(s: Settings, device: str = "auto") -> RestoreOptions:
    """The :class:`RestoreOptions` ``hiface restore`` builds for the same settings.

    ``fidelity`` None ("auto") leaves the choice to the model; a value is dropped for models
    that ignore it (the CLI only prints a note there)."""
    c = model_choice(s.model)
    if s.background not in BACKGROUNDS:
        raise HifaceError(f"unknown background up-sampler {s.background!r}; choose one of {', '.join(BACKGROUNDS)}")
    if s.detector not in DETECTOR_LABELS:
        raise HifaceError(f"unknown detector {s.detector!r}; choose one of {', '.join(DETECTOR_LABELS)}")
    fid = s.fidelity if c.supports_fidelity else None
    opts = RestoreOptions(model=s.model, device=device, upscale=float(s.upscale), fidelity=fid,
                          detector=s.detector, batch_size=int(s.batch_size) if s.batch_size else None)
    changes = BACKGROUNDS[s.background][1]
    return opts.replace(**changes) if changes else opts


def cli_command(s: Settings, inputs: list[str], outdir: str = "restored/") -> str:
    """The ``hiface restore`` command line that gives the same result."""
    c = model_choice(s.model)
    parts = ["hiface", "restore", *inputs, "-o", outdir]
    if s.model != DEFAULT_MODEL:
        parts += ["--model", s.model]
    if float(s.upscale) != 2.0:
        parts += ["--upscale", f"{float(s.upscale):g}"]
    if s.fidelity is not None and c.supports_fidelity:
        parts += ["--fidelity", f"{float(s.fidelity):g}"]
    if s.detector != "dlib":
        parts += ["--detector", s.detector]
    if s.batch_size:
        parts += ["--batch-size", str(int(s.batch_size))]
    for k, v in BACKGROUNDS[s.background][1].items():
        parts += [f"--{k.replace('_', '-')}", str(v)]
    return shlex.join(parts)
