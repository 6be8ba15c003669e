"""Time the photo pipeline's own stages per photo -- detection, alignment, paste-back -- on the
shared whole photos, next to the restorer's time (identity, and random-weight real models
per face) for comparison.

    .venv/bin/python bench/bench_pipeline.py --detector dlib --detector retinaface \
        --model hifacegan --model gfpgan-1.4 --json out/bench_pipeline.json

Prints a Markdown table (one row per photo, then totals). Needs ../shared (or --photos DIR).

``--stages``: time the path ``hiface restore`` takes instead (default model with its shipped
weights and default options, 8-bit output built in strips), every stage of it -- decode, detect,
align, model, paste masks, colour transfer, background + paste + quantise, encode (in memory) --
and the pipeline's own time as a share of the model's:

    PYTHONPATH=src python bench/bench_pipeline.py --stages --repeat 3 --json out/stages.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _t(fn, *a, repeat=1, **kw):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*a, **kw)
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_photos(photos: list[Path], detector: str, upscale: float, repeat: int, det_kw: dict) -> list[dict]:
    import hiface
    from hiface.faces.paste import paste_faces, upscale_image
    from hiface.faces.pipeline import FacePipeline
    from hiface.io import read_image

    pipe = FacePipeline(hiface.create_restorer("identity"), detector, upscale=upscale, detector_kwargs=det_kw)
    pipe.detector  # load models outside the timings  # noqa: B018
    rows = []
    for p in photos:
        img = read_image(p)
        x = img.pixels.astype(np.float32) / 255.0
        t_det, faces = _t(pipe.detect, x, repeat=repeat)
        t_align, (crops, Ms) = _t(pipe.align, x, faces, repeat=repeat)
        t_model, (restored, _) = _t(pipe.restore_crops, crops, repeat=repeat)

        def paste():
            return paste_faces(upscale_image(x, upscale), restored, Ms, upscale=upscale)

        t_paste, _ = _t(paste, repeat=repeat)
        t_bg, _ = _t(upscale_image, x, upscale, repeat=repeat)
        rows.append({"photo": p.name, "size": f"{x.shape[1]}x{x.shape[0]}", "faces": len(faces),
                     "detect_s": t_det, "align_s": t_align, "identity_s": t_model,
                     "paste_s": t_paste, "of_which_lanczos_s": t_bg})
    return rows


STAGES = ("decode", "detect", "align", "model", "masks", "colour", "render", "encode")


def bench_stages(photos: list[Path], repeat: int, model: str | None = None, skip_model: bool = False) -> list[dict]:
    """Seconds per stage of ``hiface restore``'s path (best of ``repeat``), per photo; ``render``
    is the up-scaled background with the faces pasted, quantised to the output type, of which
    ``background`` the same without faces."""
    from hiface.faces.masks import match_colour
    from hiface.faces.paste import face_mask
    from hiface.faces.render import render
    from hiface.io import _encode, read_image
    from hiface.photo import RestoreOptions, _as_float, load_pipeline, output_ext

    opts = RestoreOptions() if model is None else RestoreOptions(model=model)
    pipe = load_pipeline(opts, cache=False)
    pipe.detector  # load models outside the timings  # noqa: B018
    rows = []
    for p in photos:
        def decode(p=p):
            img = read_image(p, keep_16bit=True)
            return img, _as_float(img.pixels), None if img.alpha is None else _as_float(img.alpha)

        t = {}
        t["decode"], (img, x, alpha) = _t(decode, repeat=repeat)
        dtype = np.uint16 if img.pixels.dtype == np.uint16 else np.uint8
        t["detect"], faces = _t(pipe.detect, x, repeat=repeat)
        t["align"], (crops, Ms) = _t(pipe.align, x, faces, repeat=repeat)
        if skip_model:
            t["model"], restored = 0.0, [np.clip(c * 0.9 + 0.05, 0, 1) for c in crops]
        else:
            t["model"], (restored, _) = _t(pipe.restore_crops, crops, repeat=repeat)
        t["masks"], masks = _t(pipe.paste_masks, faces, Ms, repeat=repeat)

        def colour():
            return [match_colour(r, c, face_mask(pipe.size) if m is None else m)
                    for r, c, m in zip(restored, crops, masks or [None] * len(crops))]

        t["colour"], restored = _t(colour, repeat=repeat)
        t["render"], out = _t(pipe._paste, x, restored, Ms, crops, dtype, masks, repeat=repeat)
        t["background"], _ = _t(render, x, [], [], pipe.upscale, dtype, repeat=repeat)
        if alpha is not None:
            t["render"] += _t(render, alpha, [], [], pipe.upscale, dtype, repeat=repeat)[0]
        a_out = None if alpha is None else render(alpha, [], [], pipe.upscale, dtype)
        fmt = {".jpg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".tif": "TIFF"}[output_ext(p, "auto", alpha is not None,
                                                                                 dtype == np.uint16)]
        t["encode"], _ = _t(_encode, out, a_out, fmt, 95, img.icc, img.exif, repeat=repeat)
        rows.append({"photo": p.name, "size": f"{x.shape[1]}x{x.shape[0]}", "faces": len(faces),
                     **{k: round(v, 4) for k, v in t.items()}})
        print(f"  {p.name}: " + ", ".join(f"{k} {v:.3f}" for k, v in t.items()), file=sys.stderr, flush=True)
    return rows


def print_stages(rows: list[dict]) -> dict:
    keys = (*STAGES[:6], "render", "background", "encode")
    print("| photo | size | faces | " + " | ".join(keys) + " |")
    print("|---|---|---:|" + "---:|" * len(keys))
    for r in rows:
        print(f"| {r['photo']} | {r['size']} | {r['faces']} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " |")
    tot = {k: sum(r[k] for r in rows) for k in ("faces", *keys)}
    print("| **total** | | " + f"{tot['faces']} | " + " | ".join(f"**{tot[k]:.2f}**" for k in keys) + " |")
    own = sum(tot[k] for k in STAGES if k not in ("model", "decode", "encode"))
    tot["own_s"], tot["own_io_s"] = own, own + tot["decode"] + tot["encode"]
    if tot["model"] > 0:
        print(f"\npipeline's own time (detect, align, masks, colour, render): {own:.2f} s = "
              f"{100 * own / tot['model']:.0f} % of the model's {tot['model']:.2f} s "
              f"({tot['model'] / max(tot['faces'], 1):.3f} s per face); with decode and encode "
              f"{tot['own_io_s']:.2f} s = {100 * tot['own_io_s'] / tot['model']:.0f} %")
    return tot


def bench_models(models: list[str], repeat: int) -> dict[str, float]:
    """Seconds per face (batch of 1, random weights) of real restorers at their native size."""
    import torch

    import hiface

    out = {}
    for name in models:
        r = hiface.create_restorer(name, weights=None)
        s = r.native_size
        x = torch.rand(1, 3, s, s)
        kw = {"guide": torch.rand(1, 3, s, s), "return_warped": True} if r.config.guided else {}
        r.restore(x, **kw)  # warm-up
        out[name] = _t(r.restore, x, repeat=repeat, **kw)[0]
        del r
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "realworld" / "whole")
    ap.add_argument("--detector", action="append", default=None, help="dlib, dlib-cnn, retinaface (repeatable)")
    ap.add_argument("--retinaface-weights", default=str(ROOT.parent / "shared" / "weights" / "retinaface-mobilenet0.25"
                                                          / "mobilenet0.25_Final.pth"))
    ap.add_argument("--model", action="append", default=[], help="random-weight restorer to time per face")
    ap.add_argument("--upscale", type=float, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="best of N")
    ap.add_argument("--threads", type=int, default=None, help="torch/OpenCV threads (default: library default)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--stages", action="store_true", help="time hiface restore's own path, stage by stage")
    ap.add_argument("--no-model", action="store_true", help="--stages without the model (its time reads 0)")
    ap.add_argument("--only", action="append", default=None, help="photos whose name contains this (repeatable)")
    a = ap.parse_args(argv)
    if not a.photos.is_dir():
        print(f"photos folder not found: {a.photos} (needs ../shared)", file=sys.stderr)
        return 2
    import cv2
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
        cv2.setNumThreads(a.threads)
    photos = sorted(p for p in a.photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if a.only:
        photos = [p for p in photos if any(s in p.name for s in a.only)]
    if a.stages:
        rows = bench_stages(photos, a.repeat, a.model[0] if a.model else None, a.no_model)
        tot = print_stages(rows)
        machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
                   f"load {os.getloadavg()[0]:.1f}")
        print(f"\nmachine: {machine}")
        if a.json:
            a.json.parent.mkdir(parents=True, exist_ok=True)
            a.json.write_text(json.dumps({"machine": machine, "rows": rows, "totals": tot}, indent=1))
        return 0
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
                         f"{torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}",
              "upscale": a.upscale, "detectors": {}, "model_s_per_face": {}}
    for det in a.detector or ["dlib"]:
        kw = {"weights": a.retinaface_weights} if det == "retinaface" else {}
        rows = bench_photos(photos, det, a.upscale, a.repeat, kw)
        result["detectors"][det] = rows
        print(f"\n### detector {det}, upscale {a.upscale:g} (seconds per photo)\n")
        print("| photo | size | faces | detect | align | paste-back | (Lanczos bg) | identity model |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['photo']} | {r['size']} | {r['faces']} | {r['detect_s']:.3f} | {r['align_s']:.3f} | "
                  f"{r['paste_s']:.3f} | {r['of_which_lanczos_s']:.3f} | {r['identity_s']:.3f} |")
        tot = {k: sum(r[k] for r in rows) for k in ("faces", "detect_s", "align_s", "paste_s", "of_which_lanczos_s",
                                                    "identity_s")}
        n = len(rows)
        print(f"| **mean per photo** | | {tot['faces'] / n:.1f} | {tot['detect_s'] / n:.3f} | {tot['align_s'] / n:.3f} | "
              f"{tot['paste_s'] / n:.3f} | {tot['of_which_lanczos_s'] / n:.3f} | {tot['identity_s'] / n:.3f} |")
        result.setdefault("totals", {})[det] = tot
    if a.model:
        result["model_s_per_face"] = bench_models(a.model, a.repeat)
        print("\n### restorer time per face (random weights, batch 1, native size)\n")
        print("| model | s / face |")
        print("|---|---|")
        for k, v in result["model_s_per_face"].items():
            print(f"| {k} | {v:.3f} |")
        for det, tot in result.get("totals", {}).items():
            over = tot["detect_s"] + tot["align_s"] + tot["paste_s"]
            for k, v in result["model_s_per_face"].items():
                model = v * tot["faces"]
                print(f"\npipeline overhead with {det} vs {k} over all photos: {over:.2f} s vs model "
                      f"{model:.2f} s ({100 * over / (over + model):.0f}% of the total)")
    print(f"\nmachine: {result['machine']}")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
