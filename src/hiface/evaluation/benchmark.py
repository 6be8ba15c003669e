"""The paper's evaluation protocol on any folder of clean faces (HiFaceGAN §3.3), as library API:
the engine behind ``hiface benchmark``.

clean faces -> (optional square resize) -> degradation preset (seeded, manifest kept) -> every
method (baselines and registered models, aligned mode) -> every metric -> one comparison table
(Markdown, CSV, JSON, HTML), per-image scores and a contact sheet (rows = images, columns = methods).

    from hiface.evaluation import BenchmarkSettings, run_benchmark, write_benchmark
    res = run_benchmark(BenchmarkSettings(gt_dir="faces/", out="b/", models=("hifacegan-lite",), limit=10))
    write_benchmark(res)
    res.summaries["hifacegan-lite"]["metrics"]["psnr"]["mean"]
"""
from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ConfigError, HifaceError, ImageWriteError
from ..metrics.registry import METRICS, parse_metrics
from ..models import create_restorer, get_model_config, resolve_weights
from .evaluate import Progress, _no_progress

__all__ = ["OUT_FILES", "BenchmarkSettings", "BenchmarkResult", "run_benchmark", "write_benchmark", "score_group_job"]

OUT_FILES = ("benchmark.md", "benchmark.csv", "benchmark.json", "benchmark.html", "per_image.csv",
             "contact_sheet.jpg", "manifest.json")


@dataclass
class BenchmarkSettings:
    """One benchmark run (see ``hiface benchmark --help`` for each field's meaning)."""

    gt_dir: Path
    out: Path
    #: a preset name, or a :class:`hiface.degrade.Preset` (e.g. a fixed-factor sub-task of ``hiface reproduce``)
    preset: Any = "hifacegan-fr"
    seed: int = 0
    models: tuple[str, ...] = ()
    weights: dict[str, str] = field(default_factory=dict)   #: model -> weight file (default: official)
    baselines: tuple[str, ...] = ("degraded", "bicubic", "nlmeans")
    size: int | None = None
    limit: int | None = None
    metrics: str = "all"                                     #: "all" or a comma list
    y_channel: bool = False
    crop_border: int = 0
    workers: int | None = None
    sheet_rows: int = 8
    device: str = "cpu"
    niqe_params: str | None = None
    lpips_weights: str | None = None
    fid_weights: str | None = None
    overwrite: bool = False
    #: passed to every model (``hiface restore --fidelity``): "auto", a number, or None = each
    #: model's own default (auto for models without a fidelity knob)
    fidelity: float | str | None = None

    def __post_init__(self) -> None:
        self.gt_dir, self.out = Path(self.gt_dir), Path(self.out)


@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` measured; :func:`write_benchmark` turns it into reports."""

    settings: BenchmarkSettings
    names: list[str]
    metrics: list[str]
    methods: list[str]
    run_methods: list[str]
    method_info: dict[str, dict[str, Any]]
    summaries: dict[str, dict]
    per: dict[str, list[dict]]
    eval_settings: Any
    evaluator: Any
    seconds: float
    eval_seconds: float


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


def run_benchmark(s: BenchmarkSettings, *, progress: Progress | None = None, note=None) -> BenchmarkResult:
    """Degrade, restore with every method and score (writes gt/, lq/, methods/, manifest.json
    into ``s.out``). ``note(msg)`` receives messages such as a model that could not run."""
    from ..baselines import get_baseline
    from ..degrade import benchmark_pair, get_preset
    from ..files import expand_inputs
    from ..io import from_tensor, read_image, to_tensor, write_bytes_atomic, write_image
    from ..metrics.evaluator import (
        EvalSettings,
        Evaluator,
        PairScore,
        default_workers,
        run_jobs,
        summarize,
    )

    progress = progress or _no_progress
    note = note or (lambda msg: None)
    gt_dir, out, preset, seed, size, limit = s.gt_dir, s.out, s.preset, s.seed, s.size, s.limit
    fidelity = s.fidelity
    t_start = time.time()
    metrics = parse_metrics(s.metrics, has_gt=True)
    spec = get_preset(preset)
    preset = spec.name
    base_names = list(s.baselines)
    base = [get_baseline(b) for b in base_names]
    model_names = list(s.models)
    for m in model_names:
        get_model_config(m)  # unknown names fail before any work
    wmap = dict(s.weights)
    if not base and not model_names:
        raise ConfigError("nothing to compare: give --models and/or --baselines")
    methods = [b.name for b in base] + model_names
    if len(set(methods)) != len(methods):
        raise ConfigError(f"duplicate method names in {methods}")

    for f in ("manifest.json", "benchmark.json"):
        if (out / f).exists() and not s.overwrite:
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
    for f in progress(files, f"degrade ({preset})", len(files)):
        clean, res = benchmark_pair(read_image(f).pixels, f.name, spec, seed=seed, size=size)
        write_image(gt_out / f"{f.stem}.png", clean, overwrite=True, inputs=[f])
        write_image(lq_out / f"{f.stem}.png", res.image, overwrite=True, inputs=[f])
        entries.append({"name": f.stem, "input": str(f), "seed": res.seed, "size": list(clean.shape[:2]),
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
            restorers[m] = create_restorer(m, weights=wmap.get(m, "default"), device=s.device)
            method_info[m] = {"kind": "model", "description": cfg.description, "weights": wmap.get(m, "default"),
                              "fidelity": fidelity if fidelity is not None else (
                                  cfg.default_fidelity if cfg.supports_fidelity else "auto")}
        except HifaceError as e:
            method_info[m] = {"kind": "model", "description": cfg.description, "unavailable": str(e)}
            note(f"{m}: not run: {e}")
    run_methods = [m for m in methods if "unavailable" not in method_info[m]]
    for m in run_methods:
        (out / "methods" / m).mkdir(parents=True, exist_ok=True)
        fn = get_baseline(m) if m in base_names else restorers[m]
        t0 = time.time()
        for name in progress(names, f"restore ({m})", len(names)):
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
    settings = EvalSettings(tuple(metrics), y_channel=s.y_channel, crop_border=s.crop_border,
                            niqe_params=s.niqe_params, lpips_weights=str(s.lpips_weights) if s.lpips_weights else None,
                            fid_weights=str(s.fid_weights) if s.fid_weights else None)
    ev = Evaluator(settings)
    jobs = [(n, str(gt_out / f"{n}.png"), {m: str(out / "methods" / m / f"{n}.png") for m in run_methods})
            for n in names]
    per: dict[str, list[dict]] = {m: [] for m in run_methods}
    t0 = time.time()
    it = run_jobs(ev, jobs, score_group_job, workers=s.workers or default_workers())
    for (n, _, _), res in progress(it, "evaluate", len(jobs)):
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
    return BenchmarkResult(settings=s, names=names, metrics=metrics, methods=methods, run_methods=run_methods,
                           method_info=method_info, summaries=summaries, per=per, eval_settings=settings,
                           evaluator=ev, seconds=time.time() - t_start, eval_seconds=eval_seconds)


def write_benchmark(res: BenchmarkResult) -> list[Path]:
    """Write benchmark.md/.csv/.json/.html, per_image.csv and contact_sheet.jpg into the run's
    output folder; returns their paths."""
    from .. import report as R
    from ..io import read_image, write_image

    t_start = time.time() - res.seconds
    s, names, metrics, methods, run_methods = res.settings, res.names, res.metrics, res.methods, res.run_methods
    method_info, summaries, per, settings, ev = (res.method_info, res.summaries, res.per, res.eval_settings,
                                                 res.evaluator)
    gt_dir, out, preset, seed, size, fidelity = s.gt_dir, s.out, getattr(s.preset, "name", s.preset), s.seed, s.size, s.fidelity
    gt_out = out / "gt"
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
           "timing": {"total_seconds": round(time.time() - t_start, 1), "eval_seconds": round(res.eval_seconds, 1)},
           "machine": {"python": platform.python_version(), "platform": platform.platform()}}
    R.write_text(out / "benchmark.json", R.to_json(doc))
    # contact sheet: rows = images, columns = methods (+ ground truth)
    k = min(s.sheet_rows, len(names))
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
    return [out / f for f in OUT_FILES if f != "manifest.json"]


def _summary_csv(summaries: dict[str, dict], metrics: list[str]) -> str:
    import csv
    import io

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
