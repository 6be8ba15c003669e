"""Video at scale: peak memory vs clip length, and flicker with / without landmark smoothing.

1. Memory: generated clips (the example portrait drifting slowly, 192x192, --fps) of each length
   in --minutes are restored with ``hiface restore`` (default engine, --model); each run is a
   fresh process, whose peak RSS (ru_maxrss; ffmpeg children separately) is reported.
2. Flicker: a still face with fresh sensor noise each frame (sigma 4/255; the detector's
   landmarks shake), 24 frames, restored by hifacegan-lite with and without smoothing
   (hiface.faces.video.restore_frames). Reported: the mean absolute frame-to-frame change inside
   the face box (0..255 levels), of the input and of each output, and of what the restore
   changed (output - input: the restoration's own flicker), after the first 4 frames.

    python bench/bench_video.py --minutes 1 3 --fps 4
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

CHILD = r"""
import resource, sys, time
from pathlib import Path
from hiface.photo import RestoreOptions, load_pipeline, restore_file
t = time.time()
pipe = load_pipeline(RestoreOptions(model=sys.argv[3], upscale=1), cache=False)
fr = restore_file(Path(sys.argv[1]), Path(sys.argv[2]), pipe, overwrite=True)
print("RESULT", fr.n_faces, round(time.time() - t, 1), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def make_clip(path: Path, seconds: float, fps: int, size: int = 192) -> int:
    import imageio_ffmpeg
    from PIL import Image

    base = np.asarray(Image.open(EXAMPLES / "portrait_old.jpg").convert("RGB").resize((size + 16, size + 16)))
    n = int(seconds * fps)
    w = imageio_ffmpeg.write_frames(str(path), (size, size), fps=fps, codec="libx264", macro_block_size=1,
                                    quality=8, ffmpeg_log_level="error")
    w.send(None)
    for i in range(n):
        dx = int(8 + 6 * np.sin(i / 40))  # a slow sway
        w.send(np.ascontiguousarray(base[8:8 + size, dx:dx + size]))
    w.close()
    return n


def memory(minutes: list[float], fps: int, model: str, out: Path) -> list[dict]:
    rows = []
    for m in minutes:
        clip = out / f"clip_{m:g}min.mp4"
        n = make_clip(clip, m * 60, fps)
        r = subprocess.run([sys.executable, "-c", CHILD, str(clip), str(out / "restored"), model],
                           capture_output=True, text=True, env={**os.environ, "HIFACE_PROGRESS": "0"})
        line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT")]
        if not line:
            raise SystemExit(r.stderr[-3000:])
        _, faces, secs, rss, child = line[0].split()
        rows.append({"minutes": m, "frames": n, "faces": int(faces), "seconds": float(secs),
                     "peak_rss_mib": round(int(rss) / 1024, 1), "ffmpeg_peak_rss_mib": round(int(child) / 1024, 1)})
        print(rows[-1], flush=True)
    return rows


def flicker(n: int = 24) -> dict:
    from PIL import Image

    from hiface.faces.video import restore_frames
    from hiface.photo import RestoreOptions, load_pipeline

    base = np.asarray(Image.open(EXAMPLES / "portrait_old.jpg").convert("RGB").resize((192, 192)), np.float32)
    rng = np.random.default_rng(0)
    frames = [np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8) for _ in range(n)]
    pipe = load_pipeline(RestoreOptions(upscale=1), cache=False)
    f = pipe.detect(frames[0].astype(np.float32) / 255)[0]
    x0, y0, x1, y1 = (int(v) for v in f.box)

    def change(seq) -> float:
        s = [np.asarray(a, np.float32)[y0:y1, x0:x1] for a in seq]
        return round(float(np.mean([np.abs(s[i] - s[i - 1]).mean() for i in range(4, len(s))])), 3)

    res = {"input": change(frames)}
    for smooth in (False, True):
        t = time.time()
        outs = list(restore_frames(pipe, iter(frames), smooth=smooth))
        tag = "smoothed" if smooth else "unsmoothed"
        res[tag] = change(outs)
        # what the restorer changed (output - input): its flicker without the input's own noise
        res[f"{tag}_restoration_change"] = change([o.astype(np.float32) - i for o, i in zip(outs, frames)])
        res[f"seconds_{tag}"] = round(time.time() - t, 1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 3])
    ap.add_argument("--fps", type=int, default=4)
    ap.add_argument("--model", default="identity")
    ap.add_argument("--out", default="/tmp/bench_video")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {"load_before": [round(v, 2) for v in os.getloadavg()]}
    res["flicker"] = flicker()
    print(res["flicker"], flush=True)
    if not args.skip_memory:
        res["memory"] = memory(args.minutes, args.fps, args.model, out)
    res["load_after"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
