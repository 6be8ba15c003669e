"""`hiface models` (list the registry) and `hiface convert` (.pth -> .safetensors, safely)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from .. import weights as W
from ..errors import ImageWriteError, WeightsError
from ..models import build_network, get_model_config, list_models
from ..weights import cache_dir
from ._common import friendly_errors

__all__ = ["models", "convert", "model_rows", "count_params", "weights_status", "convert_checkpoint"]


# ------------------------------------------------------------------------------------------------
# helpers (importable, tested)
# ------------------------------------------------------------------------------------------------
def count_params(cfg) -> int | None:
    """Learnable parameters of ``cfg``'s network, built on the meta device (no memory, no init
    cost); None if the architecture cannot be built that way."""
    try:
        import torch

        with torch.device("meta"):
            net = build_network(cfg)
        return sum(p.numel() for p in net.parameters())
    except Exception:  # noqa: BLE001 - listing must not fail because of one architecture
        return None


def weights_status(cfg) -> str:
    """How the default weights are obtained: shipped / cached / download / --weights only / none needed."""
    if not cfg.has_weights:
        return "none needed"
    if cfg.package_file:
        p = Path(__file__).resolve().parents[1] / "weights" / cfg.package_file
        return "shipped" if p.is_file() else "shipped (missing from this install)"
    if cfg.url:
        name = cfg.filename or Path(cfg.url).name
        return "cached" if (cache_dir() / name).is_file() else "download"
    return "--weights only"


def model_rows(params: bool = True) -> list[dict[str, Any]]:
    """One dict per registered model: its pretrained config plus ``params`` and ``weights``."""
    rows = []
    for name in list_models():
        cfg = get_model_config(name)
        row = cfg.to_dict()
        row["state_keys"] = list(cfg.state_keys)
        row["params"] = count_params(cfg) if params else None
        row["weights"] = weights_status(cfg)
        rows.append(row)
    return rows


def _fmt_params(n: int | None) -> str:
    if n is None:
        return "?"
    return "0" if n == 0 else f"{n / 1e6:.1f}M"


def convert_checkpoint(src: str | Path, dst: str | Path, key: str | None = None, *, model: str | None = None,
                       overwrite: bool = False) -> tuple[Path, int]:
    """Read ``src`` safely (``.pth`` via ``weights_only=True``, or ``.safetensors``), pick the state
    dict (``key``, else ``params_ema`` -> ``params`` -> the whole file), optionally check it fits
    registry model ``model``, and write ``dst`` (.safetensors) atomically. Returns (path, #tensors)."""
    src, dst = Path(src), Path(dst)
    if dst.suffix != ".safetensors":
        raise WeightsError(f"output must end in .safetensors, got {dst}")
    if src.exists() and dst.exists() and src.resolve() == dst.resolve():
        raise ImageWriteError(dst, "it is the input file")
    if dst.exists() and not overwrite:
        raise ImageWriteError(dst, "it already exists (pass --overwrite to replace it)")
    raw = W.load_state_dict_file(src)  # refuses pickled code with a clear message
    if key is not None:
        if key not in raw:
            raise WeightsError(f"{src} has no key {key!r} (top-level keys: {sorted(map(str, raw))[:8]})")
        if not isinstance(raw[key], Mapping):
            raise WeightsError(f"{src}[{key!r}] is not a state dict (found {type(raw[key]).__name__})")
        sd = dict(raw[key])
    else:
        sd = W.select_state_dict(raw, ("params_ema", "params"), source=str(src))
    import torch

    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsError(f"{src}: entries that are not tensors cannot be converted: {bad[:5]}")
    if model is not None:
        cfg = get_model_config(model)
        with torch.device("meta"):
            net = build_network(cfg)
        W.check_state_dict(net, sd, source=str(src))
    meta = {"source": src.name, "source_sha256": W.sha256_file(src), "key": key or "auto"}
    if model:
        meta["model"] = model
    W.save_safetensors(sd, dst, metadata=meta)
    return dst, len(sd)


# ------------------------------------------------------------------------------------------------
# commands
# ------------------------------------------------------------------------------------------------
MODELS_EPILOG = """\b
Examples:
  hiface models                    # table: name, size, template, params, weights, source
  hiface models --json > models.json
  hiface models --long             # also print each model's description
  hiface models --no-params        # skip counting parameters (instant)

\b
Weights column: shipped (inside hiface), cached (already downloaded), download (fetched on
first use into $HIFACE_CACHE, ~/.cache/hiface by default), --weights only (no direct download:
get the file from the source and pass --weights FILE), none needed.
"""


@click.command(name="models", epilog=MODELS_EPILOG, context_settings={"max_content_width": 110})
@click.option("--json", "as_json", is_flag=True, help="Print the full configs as JSON.")
@click.option("--long", "long_", is_flag=True, help="Add each model's description under its row.")
@click.option("--params/--no-params", default=True, show_default=True,
              help="Count parameters (builds each network on PyTorch's meta device, ~1 s in all).")
@friendly_errors
def models(as_json: bool, long_: bool, params: bool):
    """List the registered restorers: name, native size, alignment template, parameters,
    weights status and source URL."""
    rows = model_rows(params=params)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    head = ("name", "size", "template", "params", "weights", "source / url")
    table = [(r["name"], str(r["native_size"]), r["template"], _fmt_params(r["params"]) if params else "-",
              r["weights"], r["url"] or r["source"] or "-") for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head[:-1])]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
    click.echo(fmt.format(*head))
    for r, t in zip(rows, table):
        click.echo(fmt.format(*t))
        if long_ and r.get("description"):
            click.echo("    " + r["description"])


CONVERT_EPILOG = """\b
Examples:
  # the released HiFaceGAN generator (the whole file is the state dict)
  hiface convert latest_net_G.pth hifacegan_sr4x.safetensors --model hifacegan-released
  # a BasicSR-style checkpoint: pick the EMA weights explicitly
  hiface convert GFPGANv1.4.pth gfpgan14.safetensors --key params_ema
  hiface restore photo.jpg --model hifacegan-released --weights hifacegan_sr4x.safetensors

\b
Only tensors are read (torch.load(weights_only=True)): a checkpoint that pickles Python
objects or code is refused. Convert such a file only in a trusted environment, by other means.
"""


@click.command(name="convert", epilog=CONVERT_EPILOG, context_settings={"max_content_width": 110})
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", default=None, metavar="KEY",
              help="Top-level key holding the state dict (default: params_ema, then params, then the whole file).")
@click.option("--model", default=None, metavar="NAME",
              help="Check that the tensors fit this registry model (names and shapes) before writing.")
@click.option("--overwrite", is_flag=True, help="Replace DST if it exists.")
@friendly_errors
def convert(src: Path, dst: Path, key: str | None, model: str | None, overwrite: bool):
    """Convert an official .pth checkpoint SRC to DST.safetensors (safe loading, atomic write)."""
    out, n = convert_checkpoint(src, dst, key, model=model, overwrite=overwrite)
    click.echo(f"wrote {out} ({n} tensors)")
