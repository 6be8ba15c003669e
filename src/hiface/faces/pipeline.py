"""The whole-photo pipeline: detect -> align to the model's template -> restore (one batch per
photo) -> paste back into the upscaled photo.

Images are float32 (H, W, 3) RGB in [0, 1] throughout (16-bit sources keep their precision);
alpha travels separately and is only resized.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import HifaceError, flag
from .align import face_transform, transform_points, warp_face
from .detect import Detector, Face, create_detector, select_center_face
from .paste import face_mask, is_grayscale, paste_faces, to_gray, upscale_image
from .render import _quantise_into
from .render import render as _render
from .templates import DLIB_TEMPLATES

__all__ = ["FacePipeline", "RestoreResult", "NoGuideFaceError", "match_guide"]

#: border fill of aligned crops (facexlib's gray, what FFHQ-style restorers were run with)
BORDER_VALUE = (135 / 255, 133 / 255, 132 / 255)


class NoGuideFaceError(HifaceError):
    """The guide photo has no detectable face."""


@dataclass
class RestoreResult:
    image: np.ndarray                      #: (H*u, W*u, 3) float32 [0, 1]
    alpha: np.ndarray | None               #: (H*u, W*u) float32 [0, 1] or None
    faces: list[Face] = field(default_factory=list)      #: faces found (original coordinates)
    restored_index: list[int] = field(default_factory=list)  #: indices of ``faces`` that were restored
    crops: list[np.ndarray] = field(default_factory=list)     #: aligned inputs (S, S, 3)
    restored: list[np.ndarray] = field(default_factory=list)  #: restored crops (S, S, 3)
    transforms: list[np.ndarray] = field(default_factory=list)  #: image -> crop similarities
    warped_guides: list[np.ndarray] = field(default_factory=list)  #: guided models: warped references
    gray: bool = False                     #: the photo was treated as grayscale
    #: per restored face: its index, ``scale`` (output px per crop px), ``weight`` (blend of the
    #: restored face, 1 = fully restored; None = the model's output as is), ``fidelity`` ("auto",
    #: a number or None), ``severity`` (auto: the estimated best weight), ``detail_sigma`` (px)
    decisions: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  #: warnings about the input (e.g. crop template)


def _to_batch(crops: list[np.ndarray]):
    import torch

    return torch.from_numpy(np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2))).float()


def _from_batch(t) -> list[np.ndarray]:
    a = t.detach().float().cpu().clamp(0, 1).numpy().transpose(0, 2, 3, 1)
    return [np.ascontiguousarray(x) for x in a]


def match_guide(guide_aligned_landmarks: np.ndarray, candidates: list[np.ndarray]) -> int:
    """Index of the candidate whose aligned landmarks (5, 2) are closest to the guide's (mean
    point distance): the face whose pose best matches the reference."""
    d = [float(np.linalg.norm(c - guide_aligned_landmarks, axis=1).mean()) for c in candidates]
    return int(np.argmin(d))


class FacePipeline:
    """Restore every face of a photo with ``restorer`` and paste it back.

    Args:
        restorer: a :class:`hiface.restorers.Restorer` (its ``native_size`` and ``template`` decide
            the crop).
        detector: a :class:`Detector` or a detector name (``dlib``, ``dlib-cnn``, ``retinaface``);
            by name, dlib detectors use the 68-point predictor for dlib-chip models.
        upscale: output scale of the whole photo (background: Lanczos).
        only_center_face: restore only the face nearest the image centre.
        batch_size: cap on faces per restorer call (all faces of a photo form one batch otherwise).
        fidelity: ``"auto"``, a number or None (the restorer's default: auto for models without
            their own knob), see :meth:`hiface.models.Restorer.resolve_fidelity`.
        colorize: keep the restorer's colours on grayscale photos (default: back to gray).
        paste_mask: ``face`` (feathered face outline from the landmarks, ``faces.masks``) or
            ``box`` (feathered square of the crop).
        color_match: before blending, give the restored face the input's low-frequency tone
            inside the paste mask (``faces.masks.match_colour``).
        bg_upsampler: ``(image, factor) -> image`` for the background (e.g. Real-ESRGAN, see
            :func:`hiface.upscale.create_bg_upsampler`); None: Lanczos.
        keep_detail: faces larger than the model's crop keep the photo's detail finer than the
            crop can hold (:func:`hiface.faces.paste.detail_sigma`).
        crop_template: convention of ``aligned=True`` inputs (:data:`hiface.faces.crops.CROP_TEMPLATES`).
    """

    def __init__(self, restorer, detector: Detector | str = "dlib", *, upscale: float = 2, only_center_face: bool = False,
                 batch_size: int | None = 8, fidelity: float | None = None, colorize: bool = False,
                 detector_kwargs: dict | None = None, bg_upsampler=None, paste_mask: str = "face",
                 color_match: bool = True, keep_detail: bool = True, crop_template: str = "ffhq512"):
        if upscale <= 0:
            raise HifaceError(f"upscale must be positive, got {upscale}")
        self.restorer = restorer
        self._detector = detector
        self._detector_kwargs = detector_kwargs or {}
        self.upscale = upscale
        self.only_center_face = only_center_face
        self.batch_size = batch_size
        self.fidelity = fidelity
        self.colorize = colorize
        self.bg_upsampler = bg_upsampler
        if paste_mask not in ("face", "box"):
            raise HifaceError(f"paste_mask must be 'face' or 'box', got {paste_mask!r}")
        self.paste_mask, self.color_match = paste_mask, color_match
        self.keep_detail = keep_detail
        self.crop_template = crop_template
        self._info: list = []  # per-face blend weights of the last restore_crops call

    # -- pieces -------------------------------------------------------------------------
    @property
    def detector(self) -> Detector:
        if isinstance(self._detector, str):
            kw = dict(self._detector_kwargs)
            if self._detector.startswith("dlib") and self.template in DLIB_TEMPLATES:
                # models trained on dlib chips: align with the 68 points the chips were made from
                # (UTK re-alignment: ~0.5 px vs a few px with the 5-point predictor)
                kw.setdefault("landmarks", 68)
            self._detector = create_detector(self._detector, **kw)
        return self._detector

    @property
    def size(self) -> int:
        return int(self.restorer.native_size)

    @property
    def template(self) -> str:
        return self.restorer.template

    def detect(self, image: np.ndarray) -> list[Face]:
        faces = self.detector(image)
        if self.only_center_face:
            faces = select_center_face(faces, image.shape[:2])
        return faces

    def align(self, image: np.ndarray, faces: list[Face]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Aligned crops (S, S, 3) float32 and their image->crop similarities."""
        crops, Ms = [], []
        for f in faces:
            M = face_transform(f, self.template, self.size)
            crop = warp_face(image, M, self.size, border="constant", border_value=BORDER_VALUE)
            crops.append(np.clip(crop, 0.0, 1.0, out=crop))  # Lanczos overshoot
            Ms.append(M)
        return crops, Ms

    def restore_crops(self, crops: list[np.ndarray], guide: np.ndarray | None = None):
        """Run the restorer on aligned crops as one batch (capped by ``batch_size``).
        Returns (restored crops, warped guides or [])."""
        self._info = info = []
        if not crops:
            return [], []
        x = _to_batch(crops)
        if guide is not None:
            g = _to_batch([guide] * len(crops))
            out = self.restorer.restore(x, fidelity=self.fidelity, batch_size=self.batch_size,
                                        guide=g, return_warped=True, info=info)
            y, warped = out
            return _from_batch(y), _from_batch(warped)
        y = self.restorer.restore(x, fidelity=self.fidelity, batch_size=self.batch_size, info=info)
        return _from_batch(y), []

    def align_guide(self, guide_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Aligned crop of the most prominent face of a guide photo and its aligned landmarks."""
        key = (id(self.detector), guide_image.__array_interface__["data"][0], guide_image.shape,
               float(guide_image.ravel()[::997].sum()))
        cached = getattr(self, "_guide_cache", None)
        if cached is not None and cached[0] == key:  # videos: the same guide for every frame
            return cached[1]
        faces = self.detector(guide_image)
        if not faces:
            raise NoGuideFaceError("no face found in the guide photo; use a clear, roughly frontal "
                                   f"photo of the same person (or try {flag('--detector retinaface', 'the retinaface detector')})")
        f = max(faces, key=lambda fc: fc.area)  # the most prominent face
        crops, Ms = self.align(guide_image, [f])
        self._guide_cache = (key, (crops[0], transform_points(Ms[0], f.landmarks)))
        return self._guide_cache[1]

    def paste_masks(self, faces: list[Face], Ms: list[np.ndarray]) -> list[np.ndarray] | None:
        """Crop-space blend masks for ``paste_mask='face'``; None (the box) otherwise."""
        if self.paste_mask != "face":
            return None
        from .masks import paste_masks

        return paste_masks(faces, Ms, self.size)

    # -- whole photo --------------------------------------------------------------------
    def __call__(self, image: np.ndarray, alpha: np.ndarray | None = None, *, aligned: bool = False,
                 guide: np.ndarray | None = None, guide_face: int | None = None,
                 faces: list[Face] | None = None, out_dtype=None) -> RestoreResult:
        """Restore one photo (float32 (H, W, 3) in [0, 1]).

        ``aligned``: the image is already an aligned face crop in ``crop_template`` (restored whole
        with ``"model"``, else mapped to the model's template and pasted back). ``guide``: a
        reference photo of the same person (guided restorers); it is applied to face
        ``guide_face`` (default: the face whose pose best matches the guide's), other faces
        are left as they are. ``faces``: skip detection and use these. ``out_dtype``
        (np.uint8/np.uint16): return the photo (and alpha) as that type, built in strips with
        bounded memory (:mod:`hiface.faces.render`) instead of a float picture."""
        image = np.ascontiguousarray(image, dtype=np.float32)
        gray = is_grayscale(image)
        u = self.upscale
        guided = bool(getattr(self.restorer.config, "guided", False))
        if guided and guide is None:
            raise HifaceError(f"model {self.restorer.name!r} is a guided restorer: give a reference photo "
                              f"of the same person ({flag('--guide PATH', 'guide=')})")
        if guide is not None and not guided:
            raise HifaceError(f"{flag('--guide', 'guide')} needs a guided model; {self.restorer.name!r} does not "
                              "use a reference")
        out_alpha = None if alpha is None else (
            upscale_image(np.ascontiguousarray(alpha, dtype=np.float32), u) if out_dtype is None
            else _render(np.ascontiguousarray(alpha, dtype=np.float32), [], [], u, out_dtype))
        if out_alpha is not None and out_alpha.ndim == 3:
            out_alpha = out_alpha[..., 0]

        g_crop = g_lm = None
        if guide is not None:
            g_crop, g_lm = self.align_guide(guide)

        if aligned and self.crop_template not in ("model", self.template):
            return self._restore_crop(image, out_alpha, gray, g_crop, out_dtype)
        if aligned:
            import cv2

            h, w = image.shape[:2]
            crop = image if (h, w) == (self.size, self.size) else cv2.resize(
                image, (self.size, self.size), interpolation=cv2.INTER_AREA if h > self.size else cv2.INTER_CUBIC)
            restored, warped = self.restore_crops([np.clip(crop, 0, 1)], g_crop)
            r = restored[0]
            if gray and not self.colorize:
                r = to_gray(r)
            oh, ow = int(round(h * u)), int(round(w * u))
            outim = r if (oh, ow) == r.shape[:2] else np.clip(
                cv2.resize(r, (ow, oh), interpolation=cv2.INTER_LANCZOS4), 0, 1)
            return RestoreResult(image=outim, alpha=out_alpha, crops=[crop], restored=[r],
                                 warped_guides=warped, gray=gray,
                                 decisions=self._decisions([np.diag([self.size / w, self.size / h])], u))

        if faces is None:
            faces = self.detect(image)
        crops, Ms = self.align(image, faces)
        index = list(range(len(faces)))
        if guide is not None and faces:
            if guide_face is not None:
                if not 0 <= guide_face < len(faces):
                    raise HifaceError(f"{flag('--guide-face', 'guide_face')} {guide_face} is out of range: "
                                      f"{len(faces)} face(s) found "
                                      f"(indices 0..{len(faces) - 1}, left to right)")
                k = guide_face
            else:
                k = match_guide(g_lm, [transform_points(M, f.landmarks) for M, f in zip(Ms, faces)])
            index, crops, Ms = [k], [crops[k]], [Ms[k]]
        restored, warped = self._restore_crops_progress(crops, g_crop)
        masks = self.paste_masks([faces[i] for i in index], Ms)
        if self.color_match:
            from .masks import match_colour

            restored = [match_colour(r, c, face_mask(self.size) if m is None else m)
                        for r, c, m in zip(restored, crops, masks or [None] * len(crops))]
        if gray and not self.colorize:
            restored = [to_gray(r) for r in restored]
        out = self._paste(image, restored, Ms, crops, out_dtype, masks)
        return RestoreResult(image=out, alpha=out_alpha, faces=faces, restored_index=index, crops=crops,
                             restored=restored, transforms=Ms, warped_guides=warped, gray=gray,
                             decisions=self._decisions(Ms, u, index))

    def _paste(self, image, restored, Ms, crops, out_dtype=None, masks=None) -> np.ndarray:
        """The upscaled photo with the restored faces pasted through ``masks`` (float, or
        ``out_dtype`` built in strips); with ``keep_detail`` only the change restored - input
        crop is pasted (Lanczos background only)."""
        u = self.upscale
        # the delta paste keeps the *input's* detail: over a GAN background (which is not the
        # input) the restored face itself is pasted, as GFP-GAN and CodeFormer do
        delta = self.keep_detail and self.bg_upsampler is None
        kw = {"keep_detail": delta, "inputs": crops if delta else None, "masks": masks}
        if out_dtype is None or self.bg_upsampler is not None:
            out = upscale_image(image, u) if self.bg_upsampler is None else self.bg_upsampler(image, u)
            paste_faces(out, restored, Ms, upscale=u, **kw)
            if out_dtype is not None:  # the up-sampler works in tiles; only the final picture is whole
                q = np.empty(out.shape, dtype=out_dtype)
                _quantise_into(q, out)
                out = q
            return out
        return _render(image, restored, Ms, u, out_dtype, **kw)  # bounded memory: in strips

    #: optional ``callback(faces_done, faces_total)`` after each model call (progress within a photo)
    progress = None

    def _restore_crops_progress(self, crops: list[np.ndarray], guide: np.ndarray | None = None):
        """:meth:`restore_crops` in ``batch_size`` chunks, reporting to :attr:`progress` after each
        (the same chunks the restorer would use, so results are identical)."""
        if self.progress is None or not crops:
            return self.restore_crops(crops, guide)
        step = self.batch_size or len(crops)
        self.progress(0, len(crops))
        restored, warped, info = [], [], []
        for i in range(0, len(crops), step):
            r, w = self.restore_crops(crops[i:i + step], guide)
            restored += r
            warped += w
            info += self._info
            self.progress(min(i + step, len(crops)), len(crops))
        self._info = info
        return restored, warped

    def _decisions(self, Ms: list[np.ndarray], u: float, index: list[int] | None = None) -> list[dict]:
        """Per-face record of what the pipeline did (RestoreResult.decisions)."""
        from .align import similarity_scale
        from .paste import detail_sigma

        try:
            _, mix = self.restorer.resolve_fidelity(self.fidelity)
        except AttributeError:  # restorer-like objects without the Restorer API
            mix = None
        out = []
        for k, M in enumerate(Ms):
            s = float(u / similarity_scale(np.asarray(M)[:, :2]))
            inf = self._info[k] if k < len(self._info) else {}
            out.append({"face": index[k] if index else k, "scale": round(s, 4),
                        "fidelity": mix if mix is not None else self.fidelity, "weight": inf.get("weight"),
                        "severity": inf.get("severity"),
                        "detail_sigma": round(detail_sigma(s), 3) if self.keep_detail else 0.0})
        return out

    def _restore_crop(self, image: np.ndarray, out_alpha, gray: bool, g_crop, out_dtype=None) -> RestoreResult:
        """An aligned crop in ``crop_template``: map it to the model's template, restore, paste back
        into the (upscaled) crop, so its hair and background stay."""
        from .crops import check_crop_template, crop_transform

        u = self.upscale
        notes = []
        try:
            found = self.detector(image)
        except HifaceError:  # no detector here: skip the check
            found = []
        if found:
            f = max(found, key=lambda fc: fc.area)
            msg = check_crop_template(f.landmarks, self.crop_template, image.shape[:2])
            if msg:
                notes.append(msg)
        M = crop_transform(self.crop_template, image.shape[:2], self.template, self.size)
        crop = np.clip(warp_face(image, M, self.size, border="constant", border_value=BORDER_VALUE), 0.0, 1.0)
        restored, warped = self.restore_crops([crop], g_crop)
        if gray and not self.colorize:
            restored = [to_gray(r) for r in restored]
        out = self._paste(image, restored, [M], [crop], out_dtype)
        return RestoreResult(image=out, alpha=out_alpha, crops=[crop], restored=restored, transforms=[M],
                             warped_guides=warped, gray=gray, decisions=self._decisions([M], u), notes=notes)
