"""Training data: a pool of clean faces, a quality filter, a hash split, and a paired dataset
that degrades the clean faces on the fly.

Reproducibility: every random choice for a sample (flip, crop, degradation parameters) comes
from ``numpy.random.default_rng([seed, epoch, index])`` and the sample order from
:class:`ResumableSampler` is a pure function of (seed, epoch, rank), so a run resumed at step
``s`` sees exactly the batches the uninterrupted run would have seen — whatever the number of
DataLoader workers.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, HifaceError

__all__ = ["list_images", "synthetic_face", "laplacian_variance", "quality_scores",
           "QualityResult", "quality_filter", "hash_split", "write_list", "read_list",
           "PairedFaceDataset", "ResumableSampler"]

# --------------------------------------------------------------------------- pool
def list_images(root: str | os.PathLike) -> list[str]:
    """Sorted image paths under a folder (recursive), or listed in a text file (one a line,
    relative paths resolved against the file's folder, ``#`` comments allowed)."""
    p = Path(root).expanduser()
    if p.is_dir():
        from ..files import expand_inputs

        files = [str(f) for f in expand_inputs([p], recursive=True)]
    elif p.is_file():
        files = [str((p.parent / line).resolve()) if not Path(line).is_absolute() else line
                 for line in (s.strip() for s in p.read_text(encoding="utf-8").splitlines())
                 if line and not line.startswith("#")]
    else:
        raise ConfigError(f"data.root {str(p)!r} is neither a folder nor a file list")
    if not files:
        raise ConfigError(f"no images listed in data.root {str(p)!r}")
    return files


def synthetic_face(index: int, size: int = 128, seed: int = 0) -> np.ndarray:
    """A deterministic procedural face-like image (uint8 HxWx3): skin ellipse, eyes, mouth,
    hair band and fine texture, so that sharpness, edges and colours are all present.
    For smoke tests and the tiny config only."""
    import cv2

    rng = np.random.default_rng([seed, index, 7])
    s = size
    bg = rng.integers(30, 220, 3)
    img = np.empty((s, s, 3), np.float32)
    yy = np.arange(s, dtype=np.float32)[:, None] / s
    img[:] = bg * (0.7 + 0.3 * yy[..., None])
    skin = np.array([rng.uniform(150, 240), rng.uniform(110, 190), rng.uniform(80, 160)])
    c = (s // 2, int(s * 0.52))
    cv2.ellipse(img, c, (int(s * rng.uniform(0.28, 0.34)), int(s * rng.uniform(0.36, 0.42))), 0, 0, 360,
                skin.tolist(), -1, cv2.LINE_AA)
    cv2.ellipse(img, (s // 2, int(s * 0.25)), (int(s * 0.34), int(s * 0.16)), 0, 180, 360,
                rng.integers(10, 120, 3).tolist(), -1, cv2.LINE_AA)
    for dx in (-0.12, 0.12):
        e = (int(s * (0.5 + dx)), int(s * 0.45))
        cv2.ellipse(img, e, (int(s * 0.06), int(s * 0.03)), 0, 0, 360, (245, 245, 245), -1, cv2.LINE_AA)
        cv2.circle(img, e, max(1, int(s * 0.022)), rng.integers(20, 120, 3).tolist(), -1, cv2.LINE_AA)
    cv2.ellipse(img, (s // 2, int(s * 0.68)), (int(s * 0.1), int(s * 0.035)), 0, 0, 180,
                (120, 40, 50), max(1, s // 64), cv2.LINE_AA)
    img += rng.normal(0, 6, (s, s, 1)).astype(np.float32)  # skin/pore-like texture
    return np.clip(img, 0, 255).astype(np.uint8)


def _read_rgb(path: str) -> np.ndarray:
    from ..io import read_image

    return read_image(path).pixels


# --------------------------------------------------------------------------- quality
def laplacian_variance(img: np.ndarray, measure_size: int = 128) -> float:
    """Sharpness score: variance of the 3x3 Laplacian of the grey image, after resizing to
    ``measure_size``² (INTER_AREA) so the score does not depend on the file's resolution.
    Blurry faces score low (Pech-Pacheco et al., 2000)."""
    import cv2

    g = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    if measure_size and g.shape[:2] != (measure_size, measure_size):
        g = cv2.resize(g, (measure_size, measure_size), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(g.astype(np.float64), cv2.CV_64F, ksize=1).var())


def quality_scores(paths: Sequence[str], measure_size: int = 128, progress: bool = False) -> list[float]:
    """Laplacian-variance score of each image file (unreadable files score -1)."""
    from tqdm.auto import tqdm

    out = []
    for p in tqdm(paths, desc="quality filter", unit="img", disable=not progress, leave=False):
        try:
            out.append(laplacian_variance(_read_rgb(p), measure_size))
        except HifaceError:
            out.append(-1.0)
    return out


@dataclass
class QualityResult:
    kept: list[str]
    dropped: list[str]
    scores: dict[str, float]        #: Laplacian variance per image
    threshold: float
    niqe: dict[str, float] = field(default_factory=dict)  #: NIQE of the images it was scored on

    def write(self, folder: str | os.PathLike) -> None:
        """Write quality_kept.txt, quality_dropped.txt and quality_scores.tsv (sorted by score)."""
        folder = Path(folder)
        write_list(folder / "quality_kept.txt", self.kept)
        write_list(folder / "quality_dropped.txt", self.dropped)
        kept = set(self.kept)
        rows = [f"{self.scores[p]:.3f}\t{self.niqe.get(p, float('nan')):.3f}\t"
                f"{'kept' if p in kept else 'dropped'}\t{p}"
                for p in sorted(self.scores, key=self.scores.__getitem__)]
        _write_text(folder / "quality_scores.tsv", "laplacian_var\tniqe\tdecision\tpath\n" + "\n".join(rows) + "\n")


def quality_filter(paths: Sequence[str], threshold: float, measure_size: int = 128,
                   progress: bool = False, max_niqe: float = 0.0) -> QualityResult:
    """Keep the images whose Laplacian variance is >= ``threshold`` (and, when ``max_niqe`` > 0,
    whose NIQE is <= ``max_niqe``); unreadable images are dropped."""
    scores = quality_scores(paths, measure_size, progress)
    kept = [p for p, s in zip(paths, scores) if s >= threshold]
    niqe_scores: dict[str, float] = {}
    if max_niqe > 0:
        from tqdm.auto import tqdm

        from ..metrics.niqe import niqe

        for p in tqdm(kept, desc="NIQE", unit="img", disable=not progress, leave=False):
            niqe_scores[p] = float(niqe(_read_rgb(p)))
        kept = [p for p in kept if niqe_scores[p] <= max_niqe]
    keep = set(kept)
    dropped = [p for p in paths if p not in keep]
    return QualityResult(kept, dropped, dict(zip(paths, scores)), threshold, niqe_scores)


# --------------------------------------------------------------------------- split
def _file_digest(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return hashlib.sha1(f.read()).digest()
    except OSError:  # synthetic or missing: hash the name
        return hashlib.sha1(str(path).encode()).digest()


def hash_split(paths: Sequence[str], val_fraction: float) -> tuple[list[str], list[str]]:
    """Deterministic train/val split by the SHA-1 of each file's bytes: a file lands in val
    iff its hash (as a fraction of 2^64) is below ``val_fraction``. Independent of order, of
    the file's name and of the rest of the pool; byte-identical duplicates share a side."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
    train, val = [], []
    for p in paths:
        h = int.from_bytes(_file_digest(p)[:8], "big") / 2.0**64
        (val if h < val_fraction else train).append(p)
    return train, val


def _write_text(path: Path, text: str) -> None:
    from ..io import write_bytes_atomic

    write_bytes_atomic(path, text.encode("utf-8"))


def write_list(path: str | os.PathLike, items: Sequence[str]) -> None:
    _write_text(Path(path), "".join(f"{s}\n" for s in items))


def read_list(path: str | os.PathLike) -> list[str]:
    return [s for s in Path(path).read_text(encoding="utf-8").splitlines() if s]


# --------------------------------------------------------------------------- dataset
def parse_preset_mix(spec: str) -> list[tuple[str, float]]:
    """``"hifacegan-fr"`` or a weighted mix ``"hifacegan-fr:0.6,gfpgan:0.4"`` → [(name, probability)].
    Weights are normalised to sum to 1; every name must be a :mod:`hiface.degrade` preset."""
    from ..degrade import get_preset

    out: list[tuple[str, float]] = []
    for part in (p.strip() for p in str(spec).split(",")):
        name, _, w = part.partition(":")
        try:
            weight = float(w) if w else 1.0
        except ValueError:
            raise ConfigError(f"data.preset: weight of {name!r} must be a number, got {w!r}") from None
        if not name or weight <= 0:
            raise ConfigError(f"data.preset: expected NAME or NAME:WEIGHT (weight > 0), got {part!r}")
        get_preset(name)  # fail early on an unknown preset name
        out.append((name, weight))
    total = sum(w for _, w in out)
    return [(n, w / total) for n, w in out]


class PairedFaceDataset:
    """Clean faces → (degraded, clean) pairs, float32 CHW RGB in [0, 1].

    Item ``(epoch, index)`` (as yielded by :class:`ResumableSampler`; a plain ``index`` means
    epoch 0) is a pure function of ``(seed, epoch, index)``: resize to ``size``² → random
    horizontal flip → degrade with the named :mod:`hiface.degrade` preset (or one drawn from a
    weighted mix, :func:`parse_preset_mix`, e.g. heavy damage plus milder damage so light
    damage is not over-processed) → the same random ``crop``² window from both images (patch
    training of the fully-convolutional generator). ``face_chips``: also return the identity
    loss's ``chip_theta`` (2x3, :func:`hiface.losses.identity.chip_theta`) and ``has_face``
    (1.0 where dlib found the clean face), for whole faces only.

    ``items`` are file paths, or ``"synthetic:N"`` names produced by :func:`synthetic_face`.
    """

    def __init__(self, items: Sequence[str], size: int, preset: str, *, seed: int = 0,
                 flip: bool = True, crop: int = 0, augment: bool = True, face_chips: bool = False):
        if crop and crop > size:
            raise ConfigError(f"data.crop ({crop}) must not exceed data.size ({size})")
        if face_chips and crop and crop < size:
            raise ConfigError(f"the identity loss needs whole faces: set data.crop to 0 (got {crop} < {size})")
        self.items = list(items)
        self.size, self.preset, self.seed = size, preset, seed
        self.flip, self.crop, self.augment = flip, crop, augment
        self.face_chips = face_chips
        self.mix = parse_preset_mix(preset)

    def __len__(self) -> int:
        return len(self.items)

    def clean(self, index: int) -> np.ndarray:
        """The clean face ``index`` (centre square) resized to size² (uint8 HxWx3)."""
        import cv2

        name = self.items[index]
        if name.startswith("synthetic:"):
            return synthetic_face(int(name.split(":", 1)[1]), self.size)
        img = _read_rgb(name)
        h, w = img.shape[:2]
        if h != w:  # centre square: aligned faces are square, never distort them
            m = min(h, w)
            img = img[(h - m) // 2:(h - m) // 2 + m, (w - m) // 2:(w - m) // 2 + m]
        if img.shape[:2] != (self.size, self.size):
            interp = cv2.INTER_AREA if min(img.shape[:2]) > self.size else cv2.INTER_CUBIC
            img = cv2.resize(img, (self.size, self.size), interpolation=interp)
        return img

    def pair(self, index: int, epoch: int = 0) -> tuple[np.ndarray, np.ndarray, list]:
        """(lq, hq, recorded degradation ops) for sample ``index`` of ``epoch``; images are
        uint8 HxWx3 on the same grid (presets resize their downsampled output back)."""
        from ..degrade import degrade

        rng = np.random.default_rng([self.seed, epoch, index])
        hq = self.clean(index)
        if self.augment and self.flip and rng.random() < 0.5:
            hq = np.ascontiguousarray(hq[:, ::-1])
        name = self.mix[0][0] if len(self.mix) == 1 else \
            self.mix[int(rng.choice(len(self.mix), p=[w for _, w in self.mix]))][0]
        res = degrade(hq, name, rng=rng)
        lq = res.image
        if self.augment and self.crop and self.crop < self.size:
            y, x = (int(v) for v in rng.integers(0, self.size - self.crop + 1, 2))
            hq = hq[y:y + self.crop, x:x + self.crop]
            lq = lq[y:y + self.crop, x:x + self.crop]
        return lq, hq, res.ops

    def __getitem__(self, key) -> dict:
        from ..io import to_tensor

        epoch, index = key if isinstance(key, tuple) else (0, key)
        lq, hq, _ = self.pair(int(index), int(epoch))
        item = {"lq": to_tensor(lq), "hq": to_tensor(hq), "index": int(index)}
        if self.face_chips:  # the identity loss's chip geometry, from the clean face
            import torch

            from ..losses.identity import chip_theta, dlib_chip_affine

            a = dlib_chip_affine(hq)
            item["chip_theta"] = torch.from_numpy(chip_theta(a, *hq.shape[:2])) if a is not None \
                else torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
            item["has_face"] = torch.tensor(float(a is not None))
        return item


class ResumableSampler:
    """Infinite, resumable stream of ``(epoch, index)`` keys for one rank.

    Each epoch's order is a :class:`torch.utils.data.DistributedSampler` permutation seeded by
    (seed, epoch) and sharded by rank (padded so all ranks see the same number of samples).
    ``start`` skips that many samples of this rank's stream, so resuming at global step ``s``
    with batch size ``b`` is ``ResumableSampler(..., start=s*b)``. Batches may straddle epochs.
    """

    def __init__(self, n: int, *, seed: int = 0, rank: int = 0, world_size: int = 1, start: int = 0):
        from torch.utils.data import DistributedSampler

        if n <= 0:
            raise ConfigError("the training split is empty")
        self._ds = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=True,
                                      seed=seed, drop_last=False)
        self.per_epoch = len(self._ds)
        self.start = start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, pos = divmod(self.start, self.per_epoch)
        while True:
            self._ds.set_epoch(epoch)
            order = list(self._ds)
            for i in order[pos:]:
                yield epoch, int(i)
            epoch, pos = epoch + 1, 0
