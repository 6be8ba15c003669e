"""Local vs Ray engine on a folder of face photos (``hiface restore`` vs ``--engine ray``).

On the same N photos (the first N UTKFace chips of ../shared/data/faces/utk200 by name): the
local engine, then the Ray engine (local Ray, 2 CPUs; optionally one restore actor killed
mid-run through the test hook), then the Ray engine again on the same folder (resume: all
skipped). Reports wall time, faces/s, Ray start-up, and how many output files are
byte-identical between the engines (with the largest pixel difference where they are not).

    python bench/bench_ray.py --model identity --n 200 --kill 10     # engine overhead, same files
    python bench/bench_ray.py --model hifacegan-lite --n 30          # with the default model
"""
from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np


def compare(a: Path, b: Path) -> dict:
    from PIL import Image

    names = sorted(p.name for p in a.iterdir() if not p.name.startswith("."))
    same, maxdiff, px = 0, 0, 0
    for n in names:
        if (b / n).exists() and filecmp.cmp(a / n, b / n, shallow=False):
            same += 1
            continue
        x = np.asarray(Image.open(a / n)).astype(int)
        y = np.asarray(Image.open(b / n)).astype(int)
        d = np.abs(x - y)
        maxdiff, px = max(maxdiff, int(d.max())), px + int((d > 0).any(-1).sum() if d.ndim == 3 else (d > 0).sum())
    return {"files": len(names), "identical": same, "max_level_diff": maxdiff, "differing_pixels": px}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=str(Path(__file__).resolve().parents[2] / "shared/data/faces/utk200"))
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--model", default="hifacegan-lite")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--kill", type=int, default=0, help="kill the restore actor on its K-th batch (0: no)")
    ap.add_argument("--out", default="/tmp/bench_ray")
    args = ap.parse_args()

    from hiface.batch import restore_files
    from hiface.cluster import CRASH_ENV, init_ray, restore_files_ray
    from hiface.photo import RestoreOptions

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    src = out / "in"
    src.mkdir(parents=True)
    for p in sorted(Path(args.src).glob("*.jpg"))[: args.n]:
        shutil.copy(p, src / p.name)
    items = [(p, src) for p in sorted(src.iterdir())]
    opts = RestoreOptions(model=args.model, batch_size=args.batch_size)
    res: dict = {"n_photos": len(items), "model": args.model, "batch_size": args.batch_size,
                 "load_before": [round(v, 2) for v in os.getloadavg()]}

    def run(tag, fn, **kw):
        t = time.time()
        s = fn(items, out / tag, opts, **kw)
        dt = time.time() - t
        faces = sum(o.info.n_faces for o in s.done)
        res[tag] = {"seconds": round(dt, 1), "done": len(s.done), "skipped": len(s.skipped), "failed": len(s.failed),
                    "faces": faces, "faces_per_s": round(faces / dt, 3)}
        print(tag, res[tag], flush=True)

    run("local", restore_files)
    t = time.time()
    init_ray(num_cpus=2)
    res["ray_init_s"] = round(time.time() - t, 1)
    marker = out / "crashed"
    if args.kill:
        os.environ[CRASH_ENV] = f"{marker}:{args.kill}"
    run("ray", restore_files_ray)
    os.environ.pop(CRASH_ENV, None)
    res["actor_killed"] = marker.exists()
    t = time.time()
    s = restore_files_ray(items, out / "ray", opts)  # resume: everything is done
    res["ray_rerun"] = {"seconds": round(time.time() - t, 2), "skipped": len(s.skipped), "done": len(s.done)}
    res["ray_vs_local"] = compare(out / "local", out / "ray")
    res["load_after"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
