"""Part 1 of ``hiface reproduce``: the paper's sub-tasks (HiFaceGAN §3.1 / §4.1), each scored on
the same hold-out faces by every available method (:mod:`hiface.evaluation.benchmark`)."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..degrade import Downsample, Preset, Range, get_preset
from ..errors import HifaceError

__all__ = ["SUBTASKS", "DEFAULT_MODEL", "DEFAULT_RAW", "OPTIONAL_MODELS", "subtask_presets", "probe_models",
           "run_subtasks", "NOT_PRESENT"]

#: the shipped default restorer (always run)
DEFAULT_MODEL = "hifacegan-lite"
#: the same network scored raw (``--fidelity 1``): the default row is the model as shipped, with
#: ``--fidelity auto``, which returns faces it judges undamaged unchanged; researchers compare networks
DEFAULT_RAW = f"{DEFAULT_MODEL} (--fidelity 1)"
#: run when their weights are present (hiface's cache or --weights); never downloaded here
OPTIONAL_MODELS = ("hifacegan", "hifacegan-released", "gfpgan-1.3", "gfpgan-1.4", "codeformer")
NOT_PRESENT = "weights not present"


def _sr(factor: int) -> Preset:
    s = 1.0 / factor
    return Preset(f"sr{factor}x", f"{factor}x super-resolution: bicubic down by {factor} and back up",
                  "HiFaceGAN §4.1 (get_down at a fixed factor)",
                  Downsample(scale=Range(s, s), interpolation="bicubic", up_interpolation="bicubic"))


#: key -> (title, preset name or Preset); the paper's single-degradation tasks and the full mix
SUBTASKS: dict[str, tuple[str, Any]] = {
    "sr4": ("4x super-resolution", _sr(4)),
    "sr8": ("8x super-resolution", _sr(8)),
    "deblur": ("deblurring (motion or Gaussian blur)", "hifacegan-blur"),
    "denoise": ("denoising (Gaussian, Laplace or Poisson noise)", "hifacegan-noise"),
    "jpeg": ("JPEG artefact removal (quality 15-50)", "hifacegan-jpeg"),
    "mosaic16": ("16x mosaic", "hifacegan-mosaic16"),
    "fr": ("face renovation (blur + noise + JPEG + 4-8x down, random order)", "hifacegan-fr"),
}


def subtask_presets() -> dict[str, Preset]:
    return {k: get_preset(p) for k, (_, p) in SUBTASKS.items()}


def probe_models(weights: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """(models to run, {model: why not}) — the default model plus every optional model whose
    weights are on this machine; nothing is downloaded."""
    from ..models import get_model_config, resolve_weights

    run, absent = [], {}
    for m in (DEFAULT_MODEL, *OPTIONAL_MODELS):
        try:
            resolve_weights(get_model_config(m), weights.get(m, "default"), offline=True)
            run.append(m)
        except HifaceError as e:
            absent[m] = str(e)
    return run, absent


def _absent_summary(metrics: list[str], why: str) -> dict[str, Any]:
    return {"n_images": 0, "n_failed": 0, "weights_missing": why,
            "metrics": {k: {"mean": None, "std": None, "n": 0, "excluded": 0, "status": NOT_PRESENT} for k in metrics}}


def run_subtasks(holdout_dir: Path, out: Path, *, seed: int, size: int, metrics: str, sheet_rows: int,
                 weights: dict[str, str], device: str = "cpu", workers: int = 1,
                 progress: Callable | None = None, note: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every sub-task; returns ``{key: {"title", "preset", "metrics", "summaries", "methods",
    "seconds"}}`` (summaries in row order: baselines, default model, optional models)."""
    from ..evaluation.benchmark import BenchmarkSettings, run_benchmark, write_benchmark

    models, absent = probe_models(weights)
    results: dict[str, Any] = {}
    old = os.environ.get("HIFACE_OFFLINE")
    os.environ["HIFACE_OFFLINE"] = "1"   # a reproduction never downloads
    try:
        for key, preset in subtask_presets().items():
            if note:
                note(f"sub-task {key}: {SUBTASKS[key][0]}")
            s = BenchmarkSettings(gt_dir=holdout_dir, out=out / key, preset=preset, seed=seed,
                                  models=tuple(models), weights={m: weights[m] for m in models if m in weights},
                                  size=size, metrics=metrics, sheet_rows=sheet_rows, device=device,
                                  overwrite=True, workers=workers)
            res = run_benchmark(s, progress=progress, note=note)
            write_benchmark(res)
            summaries = dict(res.summaries)
            methods = {m: dict(res.method_info[m]) for m in res.methods}
            run_methods = list(res.run_methods)
            if DEFAULT_MODEL in run_methods:  # the raw network as an extra row after the shipped default
                raw = run_benchmark(replace(s, out=out / key / "raw", models=(DEFAULT_MODEL,), baselines=(),
                                            weights={}, fidelity=1.0), progress=progress, note=note)
                write_benchmark(raw)
                order = list(summaries)
                at = order.index(DEFAULT_MODEL) + 1
                summaries = {k: summaries[k] for k in order[:at]} | {DEFAULT_RAW: raw.summaries[DEFAULT_MODEL]} | {
                    k: summaries[k] for k in order[at:]}
                methods[DEFAULT_RAW] = dict(raw.method_info[DEFAULT_MODEL])
                run_methods.insert(run_methods.index(DEFAULT_MODEL) + 1, DEFAULT_RAW)
            for m in OPTIONAL_MODELS:
                if m in absent:
                    summaries[m] = _absent_summary(res.metrics, absent[m])
                    methods[m] = {"kind": "model", "unavailable": f"{NOT_PRESENT}: {absent[m]}"}
            results[key] = {"title": SUBTASKS[key][0], "preset": preset.spec(), "metrics": res.metrics,
                            "summaries": summaries, "methods": methods, "run_methods": run_methods,
                            "names": res.names, "seconds": res.seconds}
    finally:
        if old is None:
            os.environ.pop("HIFACE_OFFLINE", None)
        else:
            os.environ["HIFACE_OFFLINE"] = old
    return results
