"""Part 2 of ``hiface reproduce``: the ablation behind the paper's central claim (suppression and
replenishment collaborate, HiFaceGAN §3.2–3.3): four generator variants trained alike (same data,
seed, steps and width) on the face-renovation mix, scored on the hold-out faces.

(a) LIP suppression + SPADE (the paper's model), (b) pairwise suppression (Eq. 2–3) + SPADE,
(c) no suppression (strided conv) + SPADE, (d) LIP + plain residual decoder.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..train.tasks.hifacegan import HiFaceGANTrainer
from .budgets import Budget

__all__ = ["VARIANTS", "run_ablation", "aggregate"]

#: key -> (suppression, replenishment, label)
VARIANTS: dict[str, tuple[str, str, str]] = {
    "a": ("lip", "spade", "(a) LIP + SPADE (paper)"),
    "b": ("pairwise", "spade", "(b) pairwise (Eq. 2-3) + SPADE"),
    "c": ("none", "spade", "(c) no suppression (strided conv) + SPADE"),
    "d": ("lip", "plain", "(d) LIP + plain decoder"),
}

CURVE_COLUMNS = ["step", "psnr", "ssim", "fed", "fed_faces", "n"]


class AblationTrainer(HiFaceGANTrainer):
    """The HiFaceGAN trainer with a fixed validation list (the same faces and degradations for
    every variant and seed) and FED next to PSNR/SSIM in ``metrics.csv``."""

    def __init__(self, cfg, run_dir, *, val_files: Sequence[str], val_seed: int, **kw):
        self._val_files, self._val_seed = list(val_files), val_seed
        self._gt_faces: list | None = None
        super().__init__(cfg, run_dir, **kw)

    def _setup_data(self, resume: bool) -> None:
        from ..data import PairedFaceDataset

        super()._setup_data(resume)
        self.val_items = self._val_files
        self.val_set = PairedFaceDataset(self.val_items, self.cfg.data.size, self.cfg.data.preset,
                                         seed=self._val_seed, augment=False) if self.val_items else None

    def validate(self, batch_size: int = 8) -> dict[str, float]:
        from ..io import from_tensor
        from ..metrics import psnr, ssim
        from ..train.logs import append_csv, append_jsonl

        if not self.main or self.val_set is None:
            return {}
        p, s, outs, gts = [], [], [], []
        for out, hq in self.val_outputs(batch_size):
            p += psnr(out, hq).tolist()
            s += ssim(out, hq).tolist()
            outs += [from_tensor(o.cpu()) for o in out]
            gts += [from_tensor(h.cpu()) for h in hq]
        res: dict[str, float] = {"psnr": float(np.mean(p)), "ssim": float(np.mean(s))}
        fed, n_faces = _fed(outs, gts, self)
        row: dict[str, Any] = {"step": self.step, **res, "n": len(outs), "fed_faces": n_faces}
        if fed is not None:
            res["fed"] = row["fed"] = fed
        append_csv(self.run_dir / "metrics.csv", CURVE_COLUMNS, row)
        append_jsonl(self.run_dir / "log.jsonl", {"step": self.step, "val": res})
        return res

    def format_val(self, res: dict[str, float]) -> str:
        return f"PSNR {res['psnr']:.2f} dB, SSIM {res['ssim']:.4f}" + (f", FED {res['fed']:.4f}" if "fed" in res else "")


def _fed(outs: list[np.ndarray], gts: list[np.ndarray], tr: AblationTrainer) -> tuple[float | None, int]:
    """Mean FED over validation pairs where dlib finds both faces (None when dlib is missing)."""
    from ..errors import HifaceError

    try:
        from ..metrics.face import analyze_face, face_pair_scores

        if tr._gt_faces is None:
            tr._gt_faces = [analyze_face(g) for g in gts]
        vals = [face_pair_scores(o, g, gt_face=gf).fed for o, g, gf in zip(outs, gts, tr._gt_faces)]
    except (HifaceError, ImportError, OSError):
        return None, 0
    got = [v for v in vals if v is not None]
    return (float(np.mean(got)) if got else None), len(got)


def _config(b: Budget, variant: str, seed: int, train_list: Path, progress: bool):
    from ..train.config import TrainConfig

    sup, rep, _ = VARIANTS[variant]
    cfg = TrainConfig()
    d, m, lo, o, t, lg = cfg.data, cfg.model, cfg.loss, cfg.optim, cfg.train, cfg.log
    d.root, d.size, d.preset, d.val_fraction, d.num_workers = str(train_list), b.ab_size, "hifacegan-fr", 0.0, 0
    d.quality.enabled = False          # the pool is chosen by the reproduction (same for every variant)
    m.ngf, m.suppression, m.replenishment, m.spade_hidden = b.ab_ngf, sup, rep, b.ab_spade_hidden
    m.ndf, m.num_d, m.d_layers = b.ab_ndf, b.ab_num_d, b.ab_d_layers
    lo.perceptual_backbone = "mobilenetv2"   # shipped with hiface: the same loss on every machine
    lo.warmup_steps = b.ab_warmup
    lo.lambda_perceptual = b.ab_perceptual
    o.ema_decay = b.ab_ema_decay
    t.steps, t.batch_size, t.seed, t.device, t.threads = b.ab_steps, b.ab_batch, seed, b.device, _threads(b)
    lg.log_every = max(1, b.ab_steps // 100)
    lg.sample_every, lg.val_every, lg.ckpt_every, lg.keep_last, lg.progress = 0, b.ab_eval_every, 0, 1, progress
    return cfg


def _threads(b: Budget) -> int:
    """Torch threads per training run: explicit, or the cores shared among the parallel runs."""
    import os

    if b.ab_threads > 0 or b.ab_parallel <= 1 or b.device != "cpu":
        return b.ab_threads
    return max(1, (os.cpu_count() or 1) // b.ab_parallel)


def _train_and_restore(b: Budget, variant: str, seed: int, lists: dict[str, Any], run_dir: Path,
                       pairs: list[tuple[str, np.ndarray, np.ndarray]], progress: bool) -> dict[str, Any]:
    """Train one (variant, seed) run, then restore the hold-out faces with its EMA generator."""
    import torch

    from ..io import from_tensor, to_tensor, write_image

    cfg = _config(b, variant, seed, lists["train_list"], progress)
    tr = AblationTrainer(cfg, run_dir, overwrite=True, val_files=lists["val"], val_seed=lists["seed"])
    try:
        tr.validate()                   # step 0 of the curves
        t0, c0 = time.perf_counter(), time.process_time()
        tr.run()
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        params = sum(p.numel() for p in tr.G_raw.parameters() if p.requires_grad)
        outs = {}
        G = tr.G_ema.eval()
        with torch.inference_mode():
            for name, _, lq in pairs:
                y = from_tensor(G(to_tensor(lq)[None].to(tr.device)).clamp(0, 1)[0].cpu())
                outs[name] = y
                write_image(run_dir / "holdout" / f"{name}.png", y, overwrite=True)
    finally:
        tr.close()
    return {"variant": variant, "seed": seed, "seconds": secs, "s_per_step": secs / max(1, b.ab_steps),
            "cpu_s_per_step": cpu / max(1, b.ab_steps),
            "params": int(params), "outputs": outs, "curves": _read_curves(run_dir)}


def _read_curves(run_dir: Path) -> dict[str, list]:
    import csv

    def rows(p: Path) -> list[dict]:
        if not p.is_file():
            return []
        with open(p, newline="") as f:
            return list(csv.DictReader(f))

    num = lambda v: float(v) if v not in ("", None) else None  # noqa: E731
    loss = [(int(r["step"]), num(r.get("loss_g"))) for r in rows(run_dir / "log.csv")]
    val = rows(run_dir / "metrics.csv")
    return {"loss_g": loss, "val": [{"step": int(r["step"]), "psnr": num(r["psnr"]), "ssim": num(r["ssim"]),
                                     "fed": num(r.get("fed"))} for r in val]}


def _score(runs: dict[str, dict], pairs, metrics: list[str]) -> dict[str, dict]:
    """Per-run summaries (plus the degraded input as reference) on the hold-out faces."""
    from ..metrics.evaluator import EvalSettings, Evaluator, summarize

    ev = Evaluator(EvalSettings(tuple(metrics)))
    scores: dict[str, list] = {"degraded": [], **{k: [] for k in runs}}
    for name, gt, lq in pairs:
        group = {"degraded": lq, **{k: r["outputs"][name] for k, r in runs.items()}}
        for k, ps in ev.score_group(group, gt).items():
            scores[k].append(ps)
    return {k: summarize(v, metrics, ev.unavailable) for k, v in scores.items()}


def aggregate(run_summaries: dict[str, dict], runs: dict[str, dict], metrics: list[str]) -> dict[str, dict]:
    """Variant rows: the mean over seeds of each run's hold-out mean, and its spread (population
    std over seeds, None with one seed)."""
    out: dict[str, dict] = {}
    for v in VARIANTS:
        keys = [k for k, r in runs.items() if r["variant"] == v]
        if not keys:
            continue
        row: dict[str, Any] = {"seeds": [runs[k]["seed"] for k in keys], "metrics": {}}
        for m in metrics:
            vals = [run_summaries[k]["metrics"][m]["mean"] for k in keys]
            vals = [x for x in vals if x is not None and np.isfinite(x)]
            st = run_summaries[keys[0]]["metrics"][m]["status"]
            row["metrics"][m] = {"mean": float(np.mean(vals)) if vals else None,
                                 "std": float(np.std(vals)) if len(vals) > 1 else None, "n": len(vals),
                                 "excluded": 0, "status": "ok" if vals else st}
        row["n_images"] = run_summaries[keys[0]]["n_images"]
        row["n_failed"] = 0
        row["params"] = runs[keys[0]]["params"]
        row["s_per_step"] = float(np.mean([runs[k]["s_per_step"] for k in keys]))
        out[v] = row
    return out


def run_ablation(b: Budget, out: Path, *, seed: int, lists: dict[str, Any], holdout: list[Path],
                 metrics: list[str], rank_metric: str = "psnr", progress: bool = True,
                 note: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train the four variants (seed ``seed``), then ``b.ab_extra_seeds`` more seeds of the two
    best by hold-out ``rank_metric``; score every run on the hold-out faces."""
    from ..degrade import benchmark_pair
    from ..io import read_image, write_image

    note = note or (lambda m: None)
    pairs = []
    for f in holdout:
        gt, res = benchmark_pair(read_image(f).pixels, f.name, "hifacegan-fr", seed=seed, size=b.ab_size)
        pairs.append((f.stem, gt, res.image))
        write_image(out / "holdout" / "gt" / f"{f.stem}.png", gt, overwrite=True)
        write_image(out / "holdout" / "lq" / f"{f.stem}.png", res.image, overwrite=True)
    runs: dict[str, dict] = {}

    def train(jobs: list[tuple[str, int]]) -> None:
        """Train (variant, seed) runs, ``b.ab_parallel`` at a time; every run is seeded and its
        thread count fixed, so the results do not depend on how many run at once."""
        keys = [f"{v}-seed{s}" for v, s in jobs]
        for (v, s) in jobs:
            note(f"ablation {VARIANTS[v][2]}, seed {s}: {b.ab_steps} steps")
        if b.ab_parallel <= 1 or len(jobs) == 1:
            for key, (v, s) in zip(keys, jobs):
                runs[key] = _train_and_restore(b, v, s, lists, out / "runs" / key, pairs, progress)
            return
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        done: dict[str, dict] = {}
        with ProcessPoolExecutor(min(b.ab_parallel, len(jobs)), mp_context=mp.get_context("spawn")) as ex:
            futs = {ex.submit(_train_and_restore, b, v, s, lists, out / "runs" / key, pairs, False): key
                    for key, (v, s) in zip(keys, jobs)}
            for f in as_completed(futs):
                key = futs[f]
                done[key] = f.result()
                note(f"ablation run {key} done: {done[key]['seconds']:.0f} s "
                     f"({done[key]['s_per_step']:.2f} s/step)")
        for key in keys:              # the serial order, whatever finished first
            runs[key] = done[key]

    train([(v, seed) for v in VARIANTS])
    first = _score(runs, pairs, metrics)
    spec_hi = _higher_is_better(rank_metric)
    ranked = sorted(VARIANTS, key=lambda v: _rank_key(first[f"{v}-seed{seed}"], rank_metric, spec_hi))
    train([(v, seed + k) for v in ranked[:2] for k in range(1, b.ab_extra_seeds + 1)])
    run_summaries = _score(runs, pairs, metrics)
    variants = aggregate(run_summaries, runs, metrics)
    return {"pairs": [p[0] for p in pairs], "runs": {k: {kk: vv for kk, vv in r.items() if kk != "outputs"}
                                                      for k, r in runs.items()},
            "run_summaries": run_summaries, "variants": variants, "ranked": ranked, "rank_metric": rank_metric,
            "metrics": metrics}


def _higher_is_better(metric: str) -> bool:
    from ..metrics.registry import METRICS

    return METRICS[metric].higher_is_better


def _rank_key(summary: dict, metric: str, higher: bool) -> float:
    v = summary["metrics"][metric]["mean"]
    if v is None or not np.isfinite(v):
        return float("inf")
    return -v if higher else v
