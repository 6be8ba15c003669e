"""Train the ``--fidelity auto`` estimator (hiface.fidelity) on simulator data.

1. ``collect``: UTKFace faces (train split: not in weights/hifacegan-lite.val.txt, or the
   validation split with --val), each resized to 256² and damaged with a preset drawn from a mix
   (none .. heavy; every op recorded by the simulator), restored by the model at full strength.
   Per face it stores the features, the exact best blend weight alpha* and the three numbers that
   give the blend's MSE for any alpha: MSE(a) = e_xx - 2 a e_dx + a^2 e_dd.
2. ``fit``: a tiny MLP (features -> sigmoid alpha), loss = the PSNR lost against alpha* (in dB,
   through the MSE formula above) plus, with ``--niqe-db``, a charge for weight left unused where
   the restoration is clearly more natural (NIQE) than the input; Adam, full batch; writes the JSON.
3. ``eval``: PSNR of input / full restoration / alpha* / predicted alpha per preset on a collected set.

    PYTHONPATH=src python bench/train_fidelity.py collect -n 1200 -o out/fid-train.npz
    PYTHONPATH=src python bench/train_fidelity.py collect --val -n 327 -o out/fid-val.npz
    PYTHONPATH=src python bench/train_fidelity.py fit out/fid-train.npz -o src/hiface/weights/fidelity-auto.json \
        --niqe-db 4 --niqe-margin 1 --niqe-scale 4   # the shipped file (600 faces)
    PYTHONPATH=src python bench/train_fidelity.py eval out/fid-val.npz
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
UTK = ROOT.parent / "shared" / "data" / "faces" / "utk200"
VAL = ROOT / "src" / "hiface" / "weights" / "hifacegan-lite.val.txt"

#: preset mix of the training data (weights): clean, light, medium and heavy damage
MIX = {"none": 0.14, "mild": 0.14, "hifacegan-jpeg": 0.14, "gfpgan": 0.2, "hifacegan-fr": 0.2,
       "codeformer": 0.06, "hifacegan-blur": 0.04, "hifacegan-noise": 0.04, "hifacegan-sr": 0.04}


def collect(args) -> None:
    import torch

    import hiface
    from hiface.degrade import degrade, image_seed
    from hiface.degrade.ops import square_resize
    from hiface.fidelity import face_features, optimal_alpha
    from hiface.io import from_tensor, read_image, to_tensor
    from hiface.metrics.niqe import niqe

    torch.set_num_threads(args.threads)
    val = set(VAL.read_text().split())
    names = sorted(p.name for p in UTK.iterdir())
    names = [n for n in names if (n in val) == args.val]
    rng = np.random.default_rng(args.seed)
    if args.n < len(names):
        names = list(rng.choice(names, args.n, replace=False))
    presets = list(MIX)
    p = np.array([MIX[k] for k in presets])
    pick = rng.choice(len(presets), len(names), p=p / p.sum()) if not args.preset else None
    r = hiface.create_restorer(args.model)
    rows: dict[str, list] = {k: [] for k in ("name", "preset", "feat", "alpha", "e_xx", "e_dx", "e_dd",
                                             "niqe_x", "niqe_r")}
    t0 = time.time()
    for i in range(0, len(names), args.batch):
        chunk = names[i:i + args.batch]
        xs, ys, ps = [], [], []
        for j, n in enumerate(chunk):
            pr = args.preset or presets[int(pick[i + j])]
            clean = square_resize(read_image(UTK / n).pixels, 256)
            lq = degrade(clean, pr, seed=image_seed(args.seed, n)).image
            xs.append(to_tensor(lq))
            ys.append(to_tensor(clean))
            ps.append(pr)
        x, y = torch.stack(xs), torch.stack(ys)
        with torch.inference_mode():
            out = r.restore(x, fidelity=1.0)
        d, t = (out - x).flatten(1).double(), (y - x).flatten(1).double()
        rows["name"] += chunk
        rows["preset"] += ps
        rows["feat"].append(face_features(x, out))
        rows["alpha"].append(optimal_alpha(x, out, y))
        rows["e_xx"].append((t * t).mean(1).numpy())
        rows["e_dx"].append((d * t).mean(1).numpy())
        rows["e_dd"].append((d * d).mean(1).numpy())
        # naturalness of the input and of the full restoration (uint8, as hiface benchmark scores them)
        rows["niqe_x"].append(np.array([niqe(from_tensor(v)) for v in x]))
        rows["niqe_r"].append(np.array([niqe(from_tensor(v)) for v in out]))
        done = i + len(chunk)
        print(f"{done}/{len(names)} faces, {(time.time() - t0) / done:.2f} s/face", flush=True)
    np.savez(args.out, name=np.array(rows["name"]), preset=np.array(rows["preset"]),
             **{k: np.concatenate(rows[k]) for k in ("feat", "alpha", "e_xx", "e_dx", "e_dd", "niqe_x", "niqe_r")})
    print(f"wrote {args.out} ({time.time() - t0:.0f} s)")


def psnr_of(a, d) -> np.ndarray:
    mse = d["e_xx"] - 2 * a * d["e_dx"] + a * a * d["e_dd"]
    return 10 * np.log10(1.0 / np.maximum(mse, 1e-10))


def fit(args) -> None:
    import torch

    from hiface.fidelity import FEATURE_NAMES

    torch.manual_seed(0)
    d = dict(np.load(args.data))
    f = torch.tensor(d["feat"])
    mean, std = f.mean(0), f.std(0).clamp_min(1e-6)
    z = (f - mean) / std
    exx, edx, edd = (torch.tensor(d[k]) for k in ("e_xx", "e_dx", "e_dd"))
    dims = [z.shape[1], *([args.hidden] * args.layers), 1]
    mods = []
    for a, b in zip(dims[:-1], dims[1:]):
        mods += [torch.nn.Linear(a, b).double(), torch.nn.ReLU()]
    net = torch.nn.Sequential(*mods[:-1])
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=args.wd)
    floor = 10 ** (-args.max_db / 10)  # PSNR above this counts as this (clean faces: input == target)
    # perceptual term: where the full restoration is clearly more natural than the input (NIQE
    # drops), each unit of weight not used costs `niqe_db` dB -- PSNR alone under-uses restoration
    # on blurred faces (the perception-distortion trade-off, Blau & Michaeli, CVPR 2018)
    gain = torch.zeros_like(exx)
    if args.niqe_db > 0:
        if "niqe_x" not in d:
            raise SystemExit(f"{args.data} has no NIQE columns: collect it again")
        gain = ((torch.tensor(d["niqe_x"]) - torch.tensor(d["niqe_r"]) - args.niqe_margin)
                / args.niqe_scale).clamp(0, 1)
    for it in range(args.steps):
        a = torch.sigmoid(net(z)[:, 0])
        mse = exx - 2 * a * edx + a * a * edd
        loss = (10 * torch.log10(mse.clamp_min(0) + floor) + args.niqe_db * gain * (1 - a)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % 500 == 0 or it == args.steps - 1:
            print(f"step {it}: mean -PSNR {loss.item():.3f}")
    layers = [(m.weight.detach().tolist(), m.bias.detach().tolist()) for m in net if isinstance(m, torch.nn.Linear)]
    doc = {"features": list(FEATURE_NAMES), "mean": mean.tolist(), "std": std.tolist(), "layers": layers,
           "curve": [args.lo, args.hi],
           "trained_on": f"{len(d['alpha'])} faces, {args.data}", "model": args.model,
           "recipe": f"MLP {dims}, Adam lr 3e-3 wd {args.wd}, {args.steps} full-batch steps, "
                     f"loss mean(10 log10(MSE(alpha) + 1e-{args.max_db / 10:g})"
                     + (f" + {args.niqe_db:g} dB x clip((NIQE(X) - NIQE(R) - {args.niqe_margin:g}) / "
                        f"{args.niqe_scale:g}, 0, 1) x (1 - alpha)" if args.niqe_db > 0 else "") + ")"}
    Path(args.out).write_text(json.dumps(doc) + "\n")
    print(f"wrote {args.out}")


def evaluate(args) -> None:
    from hiface.fidelity import AutoFidelity

    d = dict(np.load(args.data))
    est = AutoFidelity(json.loads(Path(args.weights).read_text()))
    a_hat = est.weight(est.predict_features(d["feat"]))
    print("| preset | n | input dB | restored dB | alpha* dB | auto dB | auto - input | worse than input -0.1 dB | "
          "mean alpha* | mean auto weight |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for pr in [*sorted(set(d["preset"])), "all"]:
        m = np.ones(len(a_hat), bool) if pr == "all" else d["preset"] == pr
        sub = {k: v[m] for k, v in d.items()}
        cap = lambda v: np.minimum(v, 60.0)  # noqa: E731  (clean faces: input PSNR is infinite)
        pin, pres = cap(psnr_of(0.0, sub)), cap(psnr_of(1.0, sub))
        popt, pauto = cap(psnr_of(sub["alpha"], sub)), cap(psnr_of(a_hat[m], sub))
        worse = int((pauto < pin - 0.1).sum())
        print(f"| {pr} | {m.sum()} | {pin.mean():.2f} | {pres.mean():.2f} | {popt.mean():.2f} | {pauto.mean():.2f} | "
              f"{(pauto - pin).mean():+.2f} | {worse} | {sub['alpha'].mean():.3f} | {a_hat[m].mean():.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("-n", type=int, default=1200)
    c.add_argument("--val", action="store_true", help="use the validation split")
    c.add_argument("--preset", default=None, help="one preset instead of the mix")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--model", default="hifacegan-lite")
    c.add_argument("--batch", type=int, default=8)
    c.add_argument("--threads", type=int, default=2)
    c.add_argument("-o", "--out", required=True)
    f = sub.add_parser("fit")
    f.add_argument("data")
    f.add_argument("-o", "--out", required=True)
    f.add_argument("--hidden", type=int, default=8)
    f.add_argument("--lo", type=float, default=0.15, help="severity below which the weight is 0")
    f.add_argument("--hi", type=float, default=0.65, help="severity above which the weight is 1")
    f.add_argument("--layers", type=int, default=1)
    f.add_argument("--steps", type=int, default=2000)
    f.add_argument("--wd", type=float, default=1e-3)
    f.add_argument("--max-db", type=float, default=50.0)
    f.add_argument("--model", default="hifacegan-lite")
    f.add_argument("--niqe-db", type=float, default=0.0,
                   help="dB charged per unit of weight left unused where the restoration is more natural")
    f.add_argument("--niqe-margin", type=float, default=0.5, help="NIQE drop that counts as no gain")
    f.add_argument("--niqe-scale", type=float, default=3.0, help="NIQE drop (beyond the margin) for the full charge")
    e = sub.add_parser("eval")
    e.add_argument("data")
    e.add_argument("--weights", default=str(ROOT / "src" / "hiface" / "weights" / "fidelity-auto.json"))
    args = ap.parse_args()
    {"collect": collect, "fit": fit, "eval": evaluate}[args.cmd](args)


if __name__ == "__main__":
    main()
