"""Paired training data for HiFaceGAN: clean faces degraded on the fly, resumably.

Reproducibility: every random choice for a sample (flip, crop, degradation parameters) comes
from ``numpy.random.default_rng([seed, epoch, index])`` and the sample order from
:class:`ResumableSampler` is a pure function of (seed, epoch, rank), so a run resumed at step
``s`` sees exactly the batches the uninterrupted run would have seen -- whatever the number of
DataLoader workers. (:class:`hiface.data.guided.GuidedTriples` follows the same keys.)
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..degrade import degrade, get_preset
from ..errors import ConfigError
from ..io import to_tensor
from .pool import read_rgb, synthetic_face

__all__ = ["parse_preset_mix", "PairedFaceDataset", "ResumableSampler"]


def parse_preset_mix(spec: str) -> list[tuple[str, float]]:
    """``"hifacegan-fr"`` or a weighted mix ``"hifacegan-fr:0.6,gfpgan:0.4"`` → [(name, probability)].
    Weights are normalised to sum to 1; every name must be a :mod:`hiface.degrade` preset."""
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
        img = read_rgb(name)
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
