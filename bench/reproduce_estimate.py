"""Estimate the wall time of a `hiface reproduce` budget on an idle machine from a finished run.

    python bench/reproduce_estimate.py runs/reproduce-small --budget default

An estimate, not a measurement. The run's costs are scaled linearly: the sub-tasks by faces x
pixels (and spread over the target's scoring workers), ablation training by steps x batch x
pixels x width² per variant (the two slowest variants get the extra seeds: an upper estimate),
the ablation's set-up/validation/scoring by runs and validation passes. Wall times measured on a
shared machine are first converted to what this process got of the CPU (process CPU time /
wall time, measured on the training runs), and CPU seconds to idle wall time with
``--thread-speedup`` (2 torch threads on 2 cores: ~1.5x, not 2x).
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
    ap.add_argument("--thread-speedup", type=float, default=1.5)
    a = ap.parse_args()
    doc = json.loads((a.run / "reproduce.json").read_text())
    src, dst, tm = doc["budget"], get_budget(a.budget), doc["timing"]
    runs = tm["ablation_runs"]
    share = sum(r["cpu_s_per_step"] for r in runs.values()) / sum(r["s_per_step"] for r in runs.values())
    # sub-tasks
    sub_cpu = tm.get("subtasks_cpu_s") or tm["subtasks_s"] * share
    face_scale = dst.faces / src["faces"] * (dst.size / src["size"]) ** 2
    sub = sub_cpu * face_scale / min(2, max(1, dst.workers))
    # ablation training: per-variant CPU s/step
    per: dict[str, list[float]] = {}
    for k, r in runs.items():
        per.setdefault(k.split("-")[0], []).append(r["cpu_s_per_step"])
    step_scale = dst.ab_batch / src["ab_batch"] * (dst.ab_size / src["ab_size"]) ** 2 * (dst.ab_ngf / src["ab_ngf"]) ** 2
    cpu_steps = sorted((sum(v) / len(v) for v in per.values()), reverse=True)
    train_cpu = (sum(cpu_steps) + sum(cpu_steps[:2]) * dst.ab_extra_seeds) * dst.ab_steps * step_scale
    train = train_cpu / a.thread_speedup
    # ablation set-up, validation, hold-out scoring
    trained = sum(r["train_s"] for r in runs.values())
    other_cpu = max(0.0, tm["ablation_s"] - trained) * share
    n_runs = 4 + 2 * dst.ab_extra_seeds
    val_scale = ((dst.ab_steps // dst.ab_eval_every + 1) * dst.ab_val_faces) / \
        ((src["ab_steps"] // src["ab_eval_every"] + 1) * src["ab_val_faces"])
    other = other_cpu / len(runs) * n_runs * max(1.0, 0.5 + 0.5 * val_scale) * max(1.0, dst.faces / src["faces"]) ** 0.5
    load = doc["machine"].get("load_average_at_start")
    print(f"run {a.run}: budget {src['name']}, load average at start {load}; this process got "
          f"{share:.2f} of a core-equivalent per wall second while training")
    print(f"  sub-tasks: {tm['subtasks_s']:.0f} s wall, ~{sub_cpu:.0f} CPU s -> x{face_scale:.1f} faces*pixels, "
          f"{dst.workers} scoring workers -> {sub / 60:.0f} min")
    print(f"  ablation training: {n_runs} runs x {dst.ab_steps} steps (step cost x{step_scale:.2f}), "
          f"CPU s/step per variant {', '.join(f'{k} {v:.1f}' for k, v in zip(sorted(per), [sum(per[k]) / len(per[k]) for k in sorted(per)]))}"
          f" -> {train / 60:.0f} min")
    print(f"  ablation set-up, validation, scoring: {other / 60:.0f} min")
    print(f"  ESTIMATE for budget {dst.name} on an idle 2-core machine: {(sub + train + other) / 3600:.2f} h")


if __name__ == "__main__":
    main()
