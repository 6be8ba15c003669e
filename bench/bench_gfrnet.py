"""GFRNet benchmark: guided vs. unguided restoration on validation faces with synthetic
references, and a qualitative contact sheet on the real guided pairs.

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_gfrnet.py                 # numbers + contact sheet
    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_gfrnet.py --n-val 48 --json out/gfrnet-bench.json

Validation set: the first ``--n-val`` faces of the UTK200 *val* split (hash of the file name,
disjoint from training), aligned with the model's template at its native size, one seeded
synthetic (degraded, reference, ground truth) triple each (``hiface.data.guided``; GFRNet's
degradation). Methods:

* ``degraded``      the network input (bicubic up-sampled back: the bicubic baseline);
* ``gfrnet``        guided, with the synthetic reference of the same face;
* ``gfrnet-noguide`` the same network given the degraded face as its own "reference";
* ``gfrnet-wrongid`` guided by another validation person's reference;
* an unguided model of the registry (``--unguided NAME``) when its default weights load.

Metrics: PSNR/SSIM (RGB, ``hiface.metrics``), FED/LLE (dlib, faces found in both), and the
warp's landmark error (mean px distance of the warped ground-truth landmarks to the reference's).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def _t(a):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float() / 255


def _u8(t):
    return (t.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def align_half(img: np.ndarray, lm, size: int, template: str):
    """Detect (dlib, up-sampled once; for crops where it fails, fit the 68 points in the crop)
    and align one face to the model's template."""
    from hiface.data.guided import align_to_template

    pts = lm(img, fallback_full=True, upsample=1)
    a, p = align_to_template(img, pts, size, template, border="replicate")
    return a, p


def evaluate(restorer, n_val: int, unguided: str | None, seed: int = 2024) -> dict:
    import torch

    from hiface.data.guided import GuidedTriples, LandmarkCache, list_split, load_aligned_faces
    from hiface.losses.gfrnet import grid_to_pixel, sample_grid_at
    from hiface.metrics.psnr_ssim import psnr, ssim

    try:
        from hiface.metrics.face import analyze_face, face_pair_scores
    except Exception:  # pragma: no cover
        analyze_face = None
    s, tpl = restorer.native_size, restorer.template
    files = list_split(SHARED / "faces" / "utk200", "val", n_val)
    cache = LandmarkCache(ROOT / "runs" / "gfrnet-landmarks-utk200.json")
    imgs, lms, _ = load_aligned_faces(files, s, cache, tpl, progress=False)
    ds = GuidedTriples(imgs, lms, seed=seed)
    items = [ds[i] for i in range(len(ds))]
    deg = torch.stack([it["degraded"] for it in items])
    ref = torch.stack([it["reference"] for it in items])
    gt = torch.stack([it["gt"] for it in items])
    outs = {"degraded": deg}
    t0 = time.time()
    outs["gfrnet"] = restorer.restore(deg, guide=ref, batch_size=8)
    t_img = (time.time() - t0) / len(deg)
    outs["gfrnet-noguide"] = restorer.restore(deg, guide=deg, batch_size=8)
    outs["gfrnet-wrongid"] = restorer.restore(deg, guide=ref.roll(1, 0), batch_size=8)
    note = None
    if unguided:
        from hiface.models import create_restorer

        try:
            u = create_restorer(unguided)
            outs[unguided] = u.restore(deg, batch_size=4)
        except Exception as e:  # no default weights in this build
            note = f"{unguided}: not measured ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
    # warp accuracy
    net = restorer.net
    with torch.inference_mode():
        grid = net.predict_grid(deg, ref)
    gl = torch.stack([it["gt_landmarks"] for it in items])
    rl = torch.stack([it["ref_landmarks"] for it in items])
    lm_px = (grid_to_pixel(sample_grid_at(grid, gl), s) - rl).norm(dim=-1).mean().item()
    lm_id = (gl - rl).norm(dim=-1).mean().item()
    res: dict = {"n": len(deg), "size": s, "template": tpl, "seconds_per_face": round(t_img, 3),
                 "warp_landmark_px": round(lm_px, 2), "identity_landmark_px": round(lm_id, 2), "methods": {}}
    gt_faces = [analyze_face(_u8(g)) for g in gt] if analyze_face else None
    for k, y in outs.items():
        m = {"psnr": psnr(y, gt).mean().item(), "ssim": ssim(y, gt).mean().item()}
        if gt_faces is not None:
            sc = [face_pair_scores(_u8(a), _u8(b), gt_face=f) for a, b, f in zip(y, gt, gt_faces)]
            ok = [x for x in sc if x.fed is not None]
            m["fed"] = float(np.mean([x.fed for x in ok])) if ok else None
            m["lle"] = float(np.mean([x.lle for x in ok])) if ok else None
            m["faces_found"] = f"{len(ok)}/{len(sc)}"
        res["methods"][k] = {a: (round(v, 4) if isinstance(v, float) else v) for a, v in m.items()}
    if note:
        res["note"] = note
    return res, {"deg": deg[:6], "ref": ref[:6], "gt": gt[:6], "out": outs["gfrnet"][:6]}


def contact_sheet(restorer, pairs_dir: Path, out: Path, tile: int = 160) -> list[str]:
    """Rows: degraded (aligned) | reference (aligned) | warped reference | GFRNet | GFRNet without
    guidance. Written as a JPEG."""
    import cv2
    from PIL import Image, ImageDraw

    from hiface.data.guided import Landmarker

    lm = Landmarker()
    files = sorted(p for p in pairs_dir.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    rows, names = [], []
    for f in files:
        im = np.asarray(Image.open(f).convert("RGB"))
        h, w = im.shape[:2]
        left, right = im[:, : w // 2], im[:, w // 2:]
        d, _ = align_half(left, lm, restorer.native_size, restorer.template)
        r, _ = align_half(right, lm, restorer.native_size, restorer.template)
        y, warped = restorer.restore(_t(d), guide=_t(r), return_warped=True)
        y0 = restorer.restore(_t(d), guide=_t(d))
        row = [d, r, _u8(warped), _u8(y), _u8(y0)]
        rows.append(np.concatenate([cv2.resize(x, (tile, tile), interpolation=cv2.INTER_AREA) for x in row], 1))
        names.append(f.name)
    head = Image.new("RGB", (tile * 5, 18), "white")
    dr = ImageDraw.Draw(head)
    for i, t in enumerate(["degraded", "reference", "warped ref.", "GFRNet", "no guidance"]):
        dr.text((i * tile + 4, 3), t, fill="black")
    sheet = np.concatenate([np.asarray(head)] + rows, 0)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    Image.fromarray(sheet).save(tmp, format="JPEG", quality=85)
    tmp.replace(out)
    return names


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="default", help="GFRNet weights (default: the shipped file)")
    ap.add_argument("--n-val", type=int, default=48)
    ap.add_argument("--unguided", default="hifacegan-lite", help="registry name of the unguided model to compare")
    ap.add_argument("--sheet", type=Path, default=ROOT / "docs" / "gfrnet-guided-pairs.jpg")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    import torch

    from hiface.models import create_restorer

    torch.set_num_threads(a.threads)
    if not SHARED.is_dir():
        print(f"shared data not found at {SHARED}", file=sys.stderr)
        return 2
    r = create_restorer("gfrnet", weights=a.weights)
    res, _ = evaluate(r, a.n_val, a.unguided)
    res["weights"] = str(a.weights)
    names = contact_sheet(r, SHARED / "realworld" / "guided-pairs", a.sheet)
    res["contact_sheet"] = {"file": str(a.sheet.relative_to(ROOT)) if a.sheet.is_relative_to(ROOT) else str(a.sheet),
                            "pairs": names}
    txt = json.dumps(res, indent=1)
    print(txt)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(txt)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
