"""`hiface export --onnx FILE`: a restorer's network as an ONNX file (hiface.onnxrt)."""
from __future__ import annotations

from pathlib import Path

import click

from ._common import friendly_errors

EPILOG = """\b
Examples:
  hiface export --onnx lite.onnx                              # the default model
  hiface export --onnx cf.onnx -m codeformer --fidelity 0.7   # CodeFormer with w fixed at 0.7
\b
The file takes faces (B, 3, S, S), RGB in [0, 1], float32, at the model's native size S (any
batch B) and returns the restored faces the same way (what `hiface restore --fidelity 1`
pastes). It is checked against PyTorch (max |diff| <= 1e-4) before it is written.
`hiface restore --backend onnxruntime` makes and caches such a file by itself.
"""


@click.command(name="export", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--onnx", "onnx_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="ONNX file to write.")
@click.option("-m", "--model", default=None, help="Restorer (see `hiface models`). Default: the default model.")
@click.option("--weights", default="default", show_default=True, help="Weight file instead of the model's default.")
@click.option("--fidelity", type=click.FloatRange(0, 1), default=None,
              help="Models with their own knob (CodeFormer's w): the value to fix in the file (default: the model's).")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
@friendly_errors
def export(onnx_path: Path, model, weights, fidelity, overwrite):
    """Export a restorer's network to ONNX (dynamic batch; needs the onnx extra)."""
    import hiface

    from ..errors import HifaceError
    from ..onnxrt import describe, export_onnx
    from ..photo import DEFAULT_MODEL

    if onnx_path.exists() and not overwrite:
        raise HifaceError(f"{onnx_path} exists; add --overwrite to replace it")
    name = model or DEFAULT_MODEL
    cfg = hiface.get_model_config(name)
    r = hiface.create_restorer(name, weights=weights if cfg.has_weights else None, device="cpu")
    click.echo(f"exporting {name} ({r.native_size}² faces) ...", err=True)
    export_onnx(r, onnx_path, fidelity=fidelity)
    d = describe(onnx_path)
    size_mb = onnx_path.stat().st_size / 2**20
    click.echo(f"wrote {onnx_path} ({size_mb:.1f} MiB): input {d['inputs'][0][0]} {d['inputs'][0][1]}, "
               f"checked against PyTorch (max |diff| <= 1e-4)", err=True)
