"""``hiface reproduce``: the HiFaceGAN paper's experiments at this machine's scale, one command.

1. **Sub-tasks** (§3.1/§4.1): 4x and 8x super-resolution, deblurring, denoising, JPEG, 16x mosaic
   and the full face-renovation mix; the same hold-out faces (seeded choice, ``holdout.json``)
   restored by the degraded input, bicubic, NL-means, the shipped default model and every model
   whose weights are present; every metric (unavailable ones say why). One table per sub-task,
   a contact sheet each, one summary figure.
2. **Ablation** (§3.2–3.3): LIP/pairwise/no suppression x SPADE/plain replenishment, trained alike
   on the face-renovation mix, scored on the hold-out faces; training curves.
3. **Report**: ``report.md`` + ``report.html`` (self-contained), ``tables.md`` + ``tables.json``
   (every number, nothing timing-dependent: two runs of the same command and seed give identical
   files), ``reproduce.json`` (command, machine, budget, wall times).

    from hiface.reproduce import run_reproduce
    doc = run_reproduce("runs/repro", budget="tiny", data="../shared/data/faces/utk200")
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ConfigError, HifaceError
from .budgets import BUDGETS, Budget, get_budget

__all__ = ["run_reproduce", "select_faces", "BUDGETS", "Budget", "get_budget", "OUT_FILES"]

#: files every run writes in its output folder (plus subtasks/<key>/, ablation/)
OUT_FILES = ("report.md", "report.html", "tables.md", "tables.json", "reproduce.json", "holdout.json",
             "summary.png", "ablation_curves.png", "ablation_sheet.jpg")
MARKER = "reproduce.json"


def select_faces(root: str | os.PathLike, seed: int, n_holdout: int, n_val: int, n_train: int
                 ) -> dict[str, list[Path]]:
    """Seeded, disjoint choice of hold-out, validation and training faces from ``root`` (sorted
    file list, ``numpy.random.default_rng(seed).permutation``): hold-out = the first
    ``n_holdout`` of the permutation (so a larger budget's hold-out contains a smaller one's),
    validation = the last ``n_val``, training = the next ``n_train`` after the hold-out."""
    from ..files import expand_inputs

    r = Path(root)
    if not r.is_dir():
        raise HifaceError(f"face folder {r} not found (pass --data: a folder of clean, aligned faces)")
    pool = sorted(expand_inputs([r]), key=lambda p: p.name)
    need = n_holdout + n_val + 1
    if len(pool) < need:
        raise HifaceError(f"{r} has {len(pool)} images; this budget needs at least {need}")
    order = np.random.default_rng(seed).permutation(len(pool))
    hold = [pool[i] for i in order[:n_holdout]]
    val = [pool[i] for i in order[len(pool) - n_val:]] if n_val else []
    train = [pool[i] for i in order[n_holdout:min(n_holdout + n_train, len(pool) - n_val)]]
    return {"holdout": hold, "val": val, "train": train}


def _machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "load_average_at_start": [round(x, 2) for x in load] if load else None}


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file() and not (out / "holdout.json").is_file():
            raise HifaceError(f"{out} exists and is not a hiface reproduce folder; choose another --out")
        if not overwrite:
            raise HifaceError(f"{out} holds an earlier reproduction; pass --overwrite or another --out")
        for sub in ("subtasks", "ablation", "holdout"):
            shutil.rmtree(out / sub, ignore_errors=True)
        for f in OUT_FILES:
            (out / f).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def run_reproduce(out: str | os.PathLike, *, budget: str | Budget = "default",
                  data: str | os.PathLike = "../shared/data/faces/utk200", seed: int = 0,
                  weights: dict[str, str] | None = None, parts: tuple[str, ...] = ("subtasks", "ablation"),
                  overwrite: bool = False, command: str | None = None, progress: bool = True,
                  note: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the reproduction into ``out``; returns the ``reproduce.json`` document."""
    from ..io import write_bytes_atomic
    from ..metrics.registry import parse_metrics
    from . import report as R

    b = budget if isinstance(budget, Budget) else get_budget(budget)
    bad = [p for p in parts if p not in ("subtasks", "ablation")]
    if bad or not parts:
        raise ConfigError(f"parts must be among subtasks, ablation; got {', '.join(parts) or 'none'}")
    note = note or (lambda m: print(m, file=sys.stderr))
    out = Path(out)
    _prepare_out(out, overwrite)
    t0 = time.time()
    machine = _machine()
    metrics = parse_metrics(b.metrics, has_gt=True)
    lists = select_faces(data, seed, b.faces, b.ab_val_faces if "ablation" in parts else 0,
                         b.ab_train_faces if "ablation" in parts else 0)
    hold_dir = out / "holdout"
    hold_dir.mkdir(parents=True, exist_ok=True)
    for f in lists["holdout"]:
        shutil.copyfile(f, hold_dir / f.name)
    hold_doc = {"data": str(data), "seed": seed,
                "rule": "sorted file names, numpy.random.default_rng(seed).permutation: hold-out = first N, "
                        "validation = last M, training = the next K after the hold-out",
                "holdout": [f.name for f in lists["holdout"]], "validation": [f.name for f in lists["val"]],
                "n_train": len(lists["train"])}
    write_bytes_atomic(out / "holdout.json", (json.dumps(hold_doc, indent=1) + "\n").encode())

    def bar(it, desc, total=None):
        if not progress:
            return it
        from tqdm.auto import tqdm

        return tqdm(it, desc=desc, total=total, leave=False, file=sys.stderr)

    timing: dict[str, Any] = {}
    subtasks = ablation = None
    if "subtasks" in parts:
        from .figures import summary_figure
        from .subtasks import run_subtasks

        t, c = time.time(), time.process_time()
        subtasks = run_subtasks(hold_dir, out / "subtasks", seed=seed, size=b.size, metrics=b.metrics,
                                sheet_rows=b.sheet_rows, weights=dict(weights or {}), device=b.device, workers=b.workers,
                                progress=bar, note=note)
        summary_figure(subtasks, out / "summary.png")
        for k, v in subtasks.items():
            timing[f"subtask_{k}_s"] = round(v["seconds"], 1)
            for m, info in v["methods"].items():
                if "seconds_per_image" in info:
                    timing.setdefault("s_per_image", {}).setdefault(m, []).append(info["seconds_per_image"])
        timing["subtasks_s"] = round(time.time() - t, 1)
        timing["subtasks_cpu_s"] = round(time.process_time() - c, 1)   # this process (workers not counted)
    if "ablation" in parts:
        from .ablation import run_ablation
        from .figures import curves_figure

        t = time.time()
        ab_dir = out / "ablation"
        ab_dir.mkdir(parents=True, exist_ok=True)
        from ..data import write_list

        train_list = ab_dir / "train.txt"
        write_list(train_list, [str(p.resolve()) for p in lists["train"]])
        ab_lists = {"train_list": train_list, "val": [str(p.resolve()) for p in lists["val"]], "seed": seed}
        ablation = run_ablation(b, ab_dir, seed=seed, lists=ab_lists, holdout=lists["holdout"], metrics=metrics,
                                progress=progress, note=note)
        curves_figure(ablation, out / "ablation_curves.png", f"HiFaceGAN ablation, {b.caption()}")
        R.ablation_sheet(ablation, ab_dir, out / "ablation_sheet.jpg", rows=b.sheet_rows)
        timing["ablation_s"] = round(time.time() - t, 1)
        timing["ablation_runs"] = {k: {"train_s": round(r["seconds"], 1), "s_per_step": round(r["s_per_step"], 3),
                                       "cpu_s_per_step": round(r["cpu_s_per_step"], 3), "params": r["params"]}
                                   for k, r in ablation["runs"].items()}
    timing["total_s"] = round(time.time() - t0, 1)
    doc = {"tool": "hiface reproduce", "version": __version__, "command": command, "budget": b.as_dict(),
           "seed": seed, "data": str(data), "parts": list(parts), "machine": machine, "timing": timing,
           "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0))}
    tables = R.tables_doc(b, seed, hold_doc, subtasks, ablation)
    R.write_all(out, doc, tables, b, subtasks, ablation)
    return doc
