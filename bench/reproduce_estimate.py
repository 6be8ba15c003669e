"""Estimate the wall time of a `hiface reproduce` budget from a finished run's timings.

    python bench/reproduce_estimate.py runs/reproduce-small --budget default

Scales the run's measured costs linearly: sub-tasks by hold-out faces (and by pixels when the
face size differs), ablation training by steps x batch (per variant, the run's s/step), the
validation passes by their count. Prints two numbers: from the run's wall times (as loaded as the
machine was) and from its process CPU time (what an otherwise idle machine would need, if the
run's threads kept the cores busy). An estimate, not a measurement.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hiface.reproduce.budgets import get_budget  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--budget", default="default")
    a = ap.parse_args()
    doc = json.loads((a.run / "reproduce.json").read_text())
    src, dst = doc["budget"], get_budget(a.budget)
    tm = doc["timing"]
    face_scale = dst.faces / src["faces"] * (dst.size / src["size"]) ** 2
    sub = tm.get("subtasks_s", 0.0) * face_scale
    runs = tm.get("ablation_runs", {})
    n_runs_dst = 4 + 2 * dst.ab_extra_seeds
    per_variant: dict[str, list[float]] = {}
    per_variant_cpu: dict[str, list[float]] = {}
    for k, r in runs.items():
        per_variant.setdefault(k.split("-")[0], []).append(r["s_per_step"])
        per_variant_cpu.setdefault(k.split("-")[0], []).append(r["cpu_s_per_step"])
    step_scale = dst.ab_batch / src["ab_batch"] * (dst.ab_size / src["ab_size"]) ** 2 * (dst.ab_ngf / src["ab_ngf"]) ** 2
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    # the two best get the extra seeds: take the two slowest variants (a safe upper estimate)
    sp = sorted((mean(v) for v in per_variant.values()), reverse=True)
    sp_cpu = sorted((mean(v) for v in per_variant_cpu.values()), reverse=True)
    train = sum(sp) * dst.ab_steps * step_scale + sum(sp[:2]) * dst.ab_extra_seeds * dst.ab_steps * step_scale
    train_cpu = (sum(sp_cpu) + sum(sp_cpu[:2]) * dst.ab_extra_seeds) * dst.ab_steps * step_scale
    trained = sum(r["train_s"] for r in runs.values())
    other_ab = max(0.0, tm.get("ablation_s", 0.0) - trained)        # set-up, validation, hold-out scoring
    val_scale = (dst.ab_steps // dst.ab_eval_every + 1) / (src["ab_steps"] // src["ab_eval_every"] + 1) \
        * dst.ab_val_faces / src["ab_val_faces"]
    other = other_ab / max(1, len(runs)) * n_runs_dst * max(1.0, val_scale)
    print(f"from {a.run} (budget {src['name']}, load average at start {doc['machine'].get('load_average_at_start')}):")
    print(f"  sub-tasks: {tm.get('subtasks_s', 0):.0f} s measured -> x{face_scale:.1f} -> {sub / 60:.1f} min")
    print(f"  ablation training: {n_runs_dst} runs x {dst.ab_steps} steps, step cost x{step_scale:.2f}: "
          f"{train / 60:.1f} min (wall-based), {train_cpu / 2 / 60:.1f} min (CPU-time / 2 cores)")
    print(f"  ablation set-up, validation, scoring: {other / 60:.1f} min")
    print(f"  total estimate for budget {dst.name}: {(sub + train + other) / 3600:.2f} h from wall times; "
          f"{(sub * 0.5 + train_cpu / 2 + other * 0.5) / 3600:.2f} h on an idle 2-core machine "
          "(CPU-time based, sub-tasks and scoring assumed 2x faster idle)")


if __name__ == "__main__":
    main()
