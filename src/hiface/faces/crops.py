"""Already-aligned face crops (``hiface restore --aligned``) and the template they follow.

An aligned crop follows a convention: FFHQ-style crops (GFP-GAN, CodeFormer, facexlib, the
``realworld/cropped`` photos) put the five landmarks on :data:`~hiface.faces.templates.FFHQ512`
scaled to the crop's side; dlib face chips on the ``dlib-chip`` template. A model expects its own
(``Restorer.template``). :func:`crop_transform` is the similarity between the two conventions
(least squares over the five template points), so the model sees the face as it was trained and
the result is pasted back into the crop with the crop's own hair and background.
"""
from __future__ import annotations

import numpy as np

from .align import estimate_similarity
from .templates import TEMPLATES, get_template

__all__ = ["CROP_TEMPLATES", "crop_transform", "check_crop_template"]

#: --crop-template choices: a template name, or "model" (the crop already is in the model's template)
CROP_TEMPLATES = ("ffhq512", "dlib-chip", "model")


def _template_points(name: str, shape: tuple[int, int]) -> np.ndarray:
    """Template points for a crop of ``shape`` (h, w); non-square crops: the template on the
    centred square of the shorter side."""
    h, w = int(shape[0]), int(shape[1])
    side = min(h, w)
    pts = get_template(name, side)
    return pts + np.array([(w - side) / 2.0, (h - side) / 2.0])


def crop_transform(crop_template: str, shape: tuple[int, int], model_template: str, size: int) -> np.ndarray:
    """(2, 3) similarity from a crop of ``shape`` aligned with ``crop_template`` to the model's
    ``size``² crop in ``model_template``."""
    return estimate_similarity(_template_points(crop_template, shape), get_template(model_template, size))


def check_crop_template(landmarks: np.ndarray, crop_template: str, shape: tuple[int, int], *,
                        tol: float = 0.25) -> str | None:
    """A warning when detected five-point ``landmarks`` of a crop are far from where
    ``crop_template`` puts them (mean error > ``tol`` x the template's eye distance), naming the
    template that fits better; None when the crop matches."""
    errs = {}
    for name in TEMPLATES:
        if name.endswith("-p25"):
            continue
        T = _template_points(name, shape)
        errs[name] = float(np.linalg.norm(np.asarray(landmarks) - T, axis=1).mean() / np.linalg.norm(T[1] - T[0]))
    err = errs[crop_template]
    if err <= tol:
        return None
    best = min(errs, key=errs.get)
    hint = (f"; it matches {best} better ({errs[best]:.0%}): try --crop-template {best}" if best != crop_template
            and errs[best] < err / 2 else "; is it an aligned crop? (without --aligned faces are detected)")
    return (f"the face in this crop is not where the {crop_template} template puts it (landmarks off by "
            f"{err:.0%} of the eye distance){hint}")

