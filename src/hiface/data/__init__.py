"""Training data, one package for both tasks of ``hiface train``.

* :mod:`hiface.data.pool` -- the clean pool: listing, quality filter, hash splits, list files;
* :mod:`hiface.data.paired` -- HiFaceGAN's (degraded, clean) pairs and the resumable sampler;
* :mod:`hiface.data.guided` -- GFRNet's synthetic (degraded, reference, ground truth) triples.

Importing this package loads numpy only (torch, cv2 and dlib are imported where used).
"""
from __future__ import annotations

from .paired import PairedFaceDataset, ResumableSampler, parse_preset_mix
from .pool import (
                   QualityResult,
                   hash_split,
                   laplacian_variance,
                   list_images,
                   list_split,
                   quality_filter,
                   quality_scores,
                   read_list,
                   read_rgb,
                   split_of,
                   synthetic_face,
                   write_list,
)

__all__ = ["list_images", "synthetic_face", "laplacian_variance", "quality_scores", "QualityResult",
           "quality_filter", "hash_split", "split_of", "list_split", "write_list", "read_list", "read_rgb",
           "parse_preset_mix", "PairedFaceDataset", "ResumableSampler"]
