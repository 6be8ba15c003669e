"""The pool of clean faces: listing, quality filter and deterministic train/val splits.

* :func:`list_images` -- a folder (recursive) or a file list; :func:`synthetic_face` for smoke tests;
* :func:`quality_filter` -- Laplacian-variance sharpness (and optional NIQE) threshold, with the
  kept/dropped lists and scores written by :meth:`QualityResult.write`;
* :func:`hash_split` -- by the SHA-1 of each file's *bytes* (HiFaceGAN training, ``hiface train``);
  :func:`split_of` / :func:`list_split` -- by a hash of the file *name* (GFRNet's guided triples);
* :func:`write_list` / :func:`read_list` -- the run folder's list files.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, HifaceError
from ..files import expand_inputs
from ..io import read_image, write_bytes_atomic
from ..metrics.niqe import niqe

__all__ = ["list_images", "synthetic_face", "laplacian_variance", "quality_scores", "QualityResult",
           "quality_filter", "hash_split", "split_of", "list_split", "write_list", "read_list", "read_rgb"]

# --------------------------------------------------------------------------- pool
def list_images(root: str | os.PathLike) -> list[str]:
    """Sorted image paths under a folder (recursive), or listed in a text file (one a line,
    relative paths resolved against the file's folder, ``#`` comments allowed)."""
    p = Path(root).expanduser()
    if p.is_dir():
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


def read_rgb(path: str) -> np.ndarray:
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
            out.append(laplacian_variance(read_rgb(p), measure_size))
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

        for p in tqdm(kept, desc="NIQE", unit="img", disable=not progress, leave=False):
            niqe_scores[p] = float(niqe(read_rgb(p)))
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


def split_of(name: str, val_fraction: float = 0.1) -> str:
    """Deterministic train/val split by a hash of the file name."""
    h = int(hashlib.sha1(Path(name).name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if h < val_fraction else "train"


def list_split(root: str | os.PathLike, split: str, limit: int | None = None, val_fraction: float = 0.1) -> list[Path]:
    """Image files of ``root`` in ``split`` ("train"/"val"), sorted by hash (a stable random order)."""
    root = Path(root)
    if not root.is_dir():
        raise HifaceError(f"data folder not found: {root}")
    files = [p for p in root.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")
             and split_of(p.name, val_fraction) == split]
    files.sort(key=lambda p: hashlib.sha1(p.name.encode()).hexdigest())
    return files[:limit] if limit else files


def _write_text(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_list(path: str | os.PathLike, items: Sequence[str]) -> None:
    _write_text(Path(path), "".join(f"{s}\n" for s in items))


def read_list(path: str | os.PathLike) -> list[str]:
    return [s for s in Path(path).read_text(encoding="utf-8").splitlines() if s]


