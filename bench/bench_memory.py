"""Peak memory of `hiface restore` on a large synthetic photo (issue 15, item 4).

Makes an N x N JPEG (smooth gradient with the example portrait enlarged in the middle, so one
face is found), runs `hiface restore` on it in a child process for each --upscale, and reports
the child's peak resident memory (ru_maxrss from wait4), wall time and the output size. The
photo is made in another child so that this process stays small (a child's ru_maxrss starts
from its parent's size at fork). Pass
--src /work/main/src to measure another checkout (e.g. the code before a change).

    python bench/bench_memory.py --size 8000 --upscale 1 2
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
Image.MAX_IMAGE_PIXELS = None  # the outputs we measure are big on purpose


def make_photo(path: Path, n: int) -> None:
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) / n
    img = np.stack([0.3 + 0.5 * x, 0.4 + 0.3 * y, 0.6 - 0.3 * x * y], -1)
    im = Image.fromarray((img * 255).astype(np.uint8))
    face = Image.open(ROOT / "examples" / "portrait_old.jpg").convert("RGB")
    side = n // 2  # the portrait is half-length: its face is ~1/4 of it, so ~n/8 here
    im.paste(face.resize((side, side), Image.Resampling.LANCZOS), (n // 2 - side // 2, n // 2 - side // 2))
    im.save(path, quality=92)


def run(src: str, photo: Path, out: Path, upscale: float, model: str) -> dict:
    env = dict(os.environ, PYTHONPATH=src, OMP_NUM_THREADS="2", HIFACE_OFFLINE="1", HIFACE_PROGRESS="0")
    helptext = subprocess.run([sys.executable, "-m", "hiface.cli.main", "restore", "--help"], env=env,
                              capture_output=True, text=True).stdout
    cmd = [sys.executable, "-m", "hiface.cli.main", "restore", str(photo), "-o", str(out), "--model", model,
           "--upscale", str(upscale), "--overwrite"]
    if "--max-megapixels" in helptext:
        cmd += ["--max-megapixels", "0"]
    t0 = time.time()
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)  # this child's own rusage: ru_maxrss = its peak RSS (KiB)
        p.returncode = os.waitstatus_to_exitcode(status)
        dt = time.time() - t0
        err.seek(0)
        tail = err.read().strip().splitlines()[-1:]
    res = {"upscale": upscale, "rc": p.returncode, "seconds": round(dt, 1), "peak_gb": round(ru.ru_maxrss / 2**20, 2),
           "tail": tail}
    outs = list(out.glob("*.jpg"))
    if outs:
        with Image.open(outs[0]) as o:
            res["output"] = o.size
            res["output_uint8_gb"] = round(o.size[0] * o.size[1] * 3 / 2**30, 2)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=8000)
    ap.add_argument("--upscale", type=float, nargs="+", default=[1.0, 2.0])
    ap.add_argument("--src", default=str(ROOT / "src"), help="PYTHONPATH of the hiface to measure")
    ap.add_argument("--model", default="hifacegan-lite")
    ap.add_argument("--make", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.make:
        make_photo(Path(a.make), a.size)
        return
    with tempfile.TemporaryDirectory() as d:
        photo = Path(d) / "big.jpg"
        # in a child: a forked child inherits the parent's peak RSS in ru_maxrss, so this process stays small
        subprocess.run([sys.executable, __file__, "--make", str(photo), "--size", str(a.size)], check=True)
        for u in a.upscale:
            r = run(a.src, photo, Path(d) / f"out{u}", u, a.model)
            print(f"{a.size}x{a.size} --upscale {u:g} ({a.src}): {r}", flush=True)


if __name__ == "__main__":
    main()
