"""Recall and duplicates per face detector on the shared real photos (issue 17).

    PYTHONPATH=src python bench/detectors.py [--save-boxes boxes.json]

* ``realworld/cropped`` (24 aligned 512² crops): exactly one face each. found = a face whose box
  centre lies in the middle half of the crop; duplicates = faces beyond the first there;
  false = faces elsewhere.
* ``realworld/whole`` (16 photos): the true face count of each photo (counted by eye, below);
  a detection is a duplicate when its box centre lies inside another kept box (two boxes for
  one face), found = min(kept - duplicates, truth).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hiface.faces.detect import create_detector
from hiface.io import read_image

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
#: faces per whole photo, counted by eye (every recognisable human face, incl. profiles)
TRUTH = {"codeformer_00.jpg": 4, "codeformer_01.jpg": 4, "codeformer_02.png": 4, "codeformer_03.jpg": 1,
         "codeformer_04.jpg": 1, "codeformer_05.jpg": 1, "codeformer_06.png": 2, "gfpgan_00.jpg": 2,
         "gfpgan_10045.png": 3, "gfpgan_Blake_Lively.jpg": 2, "gpen_selfie_1.jpg": 1, "gpen_selfie_2.jpg": 1,
         "gpen_selfie_3.jpg": 1, "gpen_selfie_4.jpg": 1, "gpen_selfie_5.jpg": 1,
         "gpen_solvay_conference_1927.png": 29}


def duplicates(boxes: np.ndarray) -> int:
    """Boxes whose centre lies inside another box (bigger first)."""
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    dup, kept = 0, []
    for i in order:
        c = (boxes[i, :2] + boxes[i, 2:]) / 2
        if any(b[0] <= c[0] <= b[2] and b[1] <= c[1] <= b[3] for b in kept):
            dup += 1
        else:
            kept.append(boxes[i])
    return dup


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--detectors", default="dlib,dlib-cnn,retinaface")
    ap.add_argument("--retinaface-weights", default=str(SHARED / "weights/retinaface-mobilenet0.25/mobilenet0.25_Final.pth"))
    ap.add_argument("--save-boxes", default=None)
    a = ap.parse_args()
    whole = sorted(p for p in (SHARED / "data/realworld/whole").iterdir() if p.name in TRUTH)
    crops = sorted((SHARED / "data/realworld/cropped").glob("*.png"))
    rows, boxes_out = [], {}
    for name in a.detectors.split(","):
        kw = {"weights": a.retinaface_weights} if name == "retinaface" else {}
        det = create_detector(name, **kw)
        t0 = time.time()
        c_found = c_dup = c_false = 0
        for p in crops:
            faces = det(read_image(p).pixels)
            h, w = 512, 512
            mid = [f for f in faces if w / 4 <= (f.box[0] + f.box[2]) / 2 <= 3 * w / 4
                   and h / 4 <= (f.box[1] + f.box[3]) / 2 <= 3 * h / 4]
            c_found += bool(mid)
            c_dup += max(len(mid) - 1, 0)
            c_false += len(faces) - len(mid)
        tc = time.time() - t0
        t0 = time.time()
        w_found = w_dup = w_kept = 0
        per = []
        for p in whole:
            faces = det(read_image(p).pixels)
            b = np.array([f.box for f in faces]).reshape(-1, 4)
            d = duplicates(b) if len(b) else 0
            w_kept += len(faces)
            w_dup += d
            w_found += min(len(faces) - d, TRUTH[p.name])
            per.append(f"{p.name}:{len(faces)}")
            boxes_out.setdefault(name, {})[p.name] = b.round(1).tolist()
        tw = time.time() - t0
        rows.append((name, c_found, c_dup, c_false, tc, w_found, sum(TRUTH.values()), w_kept, w_dup, tw))
        print(name, " ".join(per), flush=True)
    print("\n| detector | crops found (of 24) | crop duplicates | crop extra faces | s (crops) | whole: found / true faces | whole: detections | whole: duplicates | s (whole) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.0f} | {r[5]} / {r[6]} | {r[7]} | {r[8]} | {r[9]:.0f} |")
    if a.save_boxes:
        Path(a.save_boxes).write_text(json.dumps(boxes_out))


if __name__ == "__main__":
    main()
