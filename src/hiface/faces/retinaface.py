"""RetinaFace (Deng et al., CVPR 2020) with the MobileNet-0.25 backbone, in plain torch.

Loads the official checkpoint layout (biubug6/Pytorch_Retinaface, facexlib
``detection_mobilenet0.25_Final.pth``; a ``module.`` prefix from DataParallel is stripped).
Single-stage: an FPN over three backbone stages (strides 8/16/32), SSH context modules, and
per-anchor class / box / 5-landmark heads; variances (0.1, 0.2); input is BGR minus the mean
(104, 117, 123), no scaling.

Two trained variants share that exact tensor layout but not the maths, see :data:`VARIANTS`:

* ``"official"`` (Pytorch_Retinaface / facexlib release): LeakyReLU(0.1), anchor min sizes
  [[16, 32], [64, 128], [256, 512]];
* ``"1mb"`` (biubug6/Face-Detector-1MB-with-landmark ``weights/mobilenet0.25_Final.pth``, the
  file in ``../shared/weights``): plain ReLU, anchors [[10, 20], [32, 64], [128, 256]]. Run
  with the official settings it returns boxes ~2x too big and landmarks off by a whole eye
  distance (measured against dlib's 68-point landmarks: median error 1.46 eye distances vs
  0.07 with the right settings).

``variant="auto"`` recognises the 1MB file by its sha256 and uses ``"official"`` otherwise.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..assets import ASSETS
from ..errors import WeightsError
from .detect import Detector, Face

__all__ = ["RetinaFace", "RetinaFaceDetector", "prior_boxes", "decode", "decode_landmarks",
           "RETINAFACE_CONFIG", "retinaface_weights"]

#: network constants; the weight file (the official facexlib release) is hiface.assets.ASSETS["retinaface"]
RETINAFACE_CONFIG = {
    "name": "retinaface-mobilenet0.25",
    "url": ASSETS["retinaface"].url,
    "filename": ASSETS["retinaface"].filename,
    "sha256": ASSETS["retinaface"].sha256,  # not pinned: see hiface.assets
    "steps": (8, 16, 32),
    "variances": (0.1, 0.2),
    "mean_bgr": (104.0, 117.0, 123.0),
    "license": "MIT (biubug6/Pytorch_Retinaface, facexlib)",
}

#: per-variant activation slope and anchor sizes (see module doc)
VARIANTS = {
    "official": {"leaky": 0.1, "min_sizes": ((16, 32), (64, 128), (256, 512))},
    "1mb": {"leaky": 0.0, "min_sizes": ((10, 20), (32, 64), (128, 256))},
}
#: sha256 of known files of the "1mb" variant
_KNOWN_1MB = {"ed6fa7d45a5179f03cb5ce82c73b0c6711372968e53782e88395acee88d319e1"}


def RetinaFace(**kwargs):
    """Build the (randomly initialised) RetinaFace MobileNet-0.25 network
    (:class:`hiface.archs.retinaface.RetinaFace`)."""
    from ..archs.retinaface import RetinaFace as Net

    return Net(**kwargs)


def prior_boxes(height: int, width: int, min_sizes=VARIANTS["official"]["min_sizes"],
                steps=RETINAFACE_CONFIG["steps"]) -> np.ndarray:
    """Anchors (A, 4) as normalised (cx, cy, w, h), in the network's output order:
    level by level, row-major over the ceil(H/step) x ceil(W/step) grid, sizes innermost."""
    out = []
    for sizes, step in zip(min_sizes, steps):
        fh, fw = -(-height // step), -(-width // step)
        ys, xs = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        cx = (xs.ravel() + 0.5) * step / width
        cy = (ys.ravel() + 0.5) * step / height
        level = np.empty((cx.size, len(sizes), 4))
        for k, s in enumerate(sizes):
            level[:, k] = np.stack([cx, cy, np.full_like(cx, s / width), np.full_like(cy, s / height)], 1)
        out.append(level.reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


def decode(loc: np.ndarray, priors: np.ndarray, variances=RETINAFACE_CONFIG["variances"]) -> np.ndarray:
    """Box deltas -> normalised (x0, y0, x1, y1) (SSD encoding)."""
    c = priors[:, :2] + loc[:, :2] * variances[0] * priors[:, 2:]
    wh = priors[:, 2:] * np.exp(loc[:, 2:] * variances[1])
    return np.concatenate([c - wh / 2, c + wh / 2], 1)


def decode_landmarks(pre: np.ndarray, priors: np.ndarray, variances=RETINAFACE_CONFIG["variances"]) -> np.ndarray:
    """Landmark deltas (A, 10) -> normalised (A, 5, 2)."""
    p = pre.reshape(-1, 5, 2)
    return priors[:, None, :2] + p * variances[0] * priors[:, None, 2:]


def retinaface_weights(weights: str | Path | None = "default") -> Path:
    """The detector's weight file: a path, or "default" = the official release found or
    downloaded by :func:`hiface.assets.locate` (cache; download unless HIFACE_OFFLINE)."""
    import dataclasses
    import os

    from ..assets import locate

    if not (weights is None or str(weights) == "default"):
        return locate("retinaface", weights)
    # The release publishes no checksum and no copy known to be the official one was at hand, so
    # the download is pinned on first use (_pin_on_first_use); HIFACE_RETINAFACE_SHA256 pins one you trust.
    a = ASSETS["retinaface"]
    pinned = os.environ.get("HIFACE_RETINAFACE_SHA256")
    if pinned:
        a = dataclasses.replace(a, sha256=pinned)
    path = locate(a)
    if not a.sha256:
        _pin_on_first_use(path)
    return path


def _pin_on_first_use(path: Path) -> None:
    """No published checksum: record the file's sha256 beside it the first time (with a note that it
    is unverified) and refuse it later if it changed."""
    import sys

    from ..weights import sha256_file

    side = path.with_name(path.name + ".sha256")
    got = sha256_file(path)
    if side.is_file():
        want = side.read_text().split()[0] if side.read_text().strip() else ""
        if want and want != got:
            raise WeightsError(f"{path} changed since it was first used (sha256 {got}, recorded {want} in {side}); "
                               "delete both files to download it again")
        return
    from ..io import write_bytes_atomic

    write_bytes_atomic(side, f"{got}  {path.name}\n".encode())
    print(f"note: RetinaFace weights {path.name} have no published checksum, so this file is not verified "
          f"against the release; its sha256 {got[:16]}... is recorded in {side} and checked from now on "
          "(set HIFACE_RETINAFACE_SHA256 to pin one you trust)", file=sys.stderr)


def detect_variant(path: str | Path) -> str:
    """"1mb" for the known Face-Detector-1MB file, else "official"."""
    from ..weights import sha256_file

    return "1mb" if sha256_file(path) in _KNOWN_1MB else "official"


@functools.lru_cache(maxsize=2)
def _load_net(path: str, variant: str):
    from .. import weights as W

    sd = W.load_state_dict_file(path)
    sd = {k[7:] if k.startswith("module.") else k: v for k, v in sd.items()}
    net = RetinaFace(leaky=VARIANTS[variant]["leaky"])
    W.load_into(net, sd, source=path)
    return net.eval()


class RetinaFaceDetector(Detector):
    """RetinaFace MobileNet-0.25 detector: pre-NMS confidence 0.02, NMS IoU 0.4, keep score
    >= ``threshold`` (default 0.9)."""

    name = "retinaface"
    default_threshold = 0.9  # 0.8-0.89: figurines, faces in tiny wall photos on ../shared whole photos
    default_coarse_side = 640  # largest anchor is 256 (1mb) / 512 px: close-ups need a coarse pass

    def __init__(self, weights: str | Path | None = "default", device: str = "cpu", nms_iou: float = 0.4,
                 variant: str = "auto", **kwargs):
        super().__init__(**kwargs)
        self.path = retinaface_weights(weights)
        if variant == "auto":
            variant = detect_variant(self.path)
        if variant not in VARIANTS:
            raise ValueError(f"unknown RetinaFace variant {variant!r}; choose from {list(VARIANTS)}")
        self.variant, self.device, self.nms_iou = variant, device, nms_iou
        self.net = _load_net(str(self.path), variant).to(device)

    def _detect(self, rgb: np.ndarray) -> list[Face]:
        import torch

        from .detect import nms

        h, w = rgb.shape[:2]
        x = rgb[:, :, ::-1].astype(np.float32) - np.array(RETINAFACE_CONFIG["mean_bgr"], dtype=np.float32)
        x = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self.device)
        with torch.inference_mode():
            loc, conf, ldm = (t[0].float().cpu().numpy() for t in self.net(x))
        pri = prior_boxes(h, w, VARIANTS[self.variant]["min_sizes"])
        scores = conf[:, 1]
        # The reference filters at 0.02 before NMS and at the visual threshold after; greedy NMS
        # never lets a lower-scored box suppress a higher one, so filtering at the final
        # threshold first keeps exactly the same faces (and skips thousands of weak boxes).
        keep = np.flatnonzero(scores >= max(0.02, min(self.threshold, 0.5)))
        keep = keep[np.argsort(-scores[keep], kind="stable")[:5000]]
        boxes = decode(loc[keep], pri[keep]) * np.array([w, h, w, h])
        lms = decode_landmarks(ldm[keep], pri[keep]) * np.array([w, h])
        scores = scores[keep]
        k = nms(boxes, scores, self.nms_iou)
        return [Face(box=boxes[i], landmarks=lms[i], score=float(scores[i])) for i in k]
