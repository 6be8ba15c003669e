"""Restore whole photos from Python: the library behind ``hiface restore`` (and any front-end).

Detect -> align to the model's template -> restore -> paste back, for an image array
(:func:`restore_image`) or a file written into an output folder (:func:`restore_file`, what the
CLI runs per input). The command line only parses options and prints; everything it does to a
photo happens here, so a script, a notebook or a web page gets the same result as the CLI.

    >>> import hiface
    >>> res = hiface.restore_image(pixels_uint8)          # default model, offline
    >>> res.image.shape, len(res.faces)
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import models
from .errors import HifaceError, flag
from .faces.paste import upscale_image
from .faces.pipeline import FacePipeline
from .files import plan_output
from .io import _check_target, _source_bit_depth, image_size, read_image, write_bytes_atomic, write_image
from .upscale import create_bg_upsampler
from .video import process_video

__all__ = ["DEFAULT_MODEL", "VIDEO_EXTS", "RestoreOptions", "FileResult", "load_pipeline", "restore_image",
           "restore_file"]

#: The restorer used when none is named: shipped with the package, no download.
DEFAULT_MODEL = "hifacegan-lite"
VIDEO_EXTS = (".mp4", ".mov", ".avi", ".mkv")
_ALPHA_EXTS = (".png", ".webp", ".tif", ".tiff")
_16BIT_EXTS = (".png", ".tif", ".tiff")


@dataclass(frozen=True)
class RestoreOptions:
    """How to build the restorer and the photo pipeline (see ``hiface restore --help``)."""

    model: str = DEFAULT_MODEL
    weights: str | None = "default"     #: "default", a file path, or None (random init)
    device: str = "auto"                #: auto (cuda, else mps, else cpu), cpu, cuda[:N], mps (hiface.runtime)
    half: bool = False                  #: GPU only: float16 autocast, fragile parts kept float32
    backend: str = "torch"              #: torch or onnxruntime (CPU, hiface.onnxrt)
    upscale: float = 2.0                #: output scale of the whole photo
    #: "auto" (per-face blend, :mod:`hiface.fidelity`), a number (the model's own knob, else the
    #: blend weight) or None (the model's default: auto for models without their own knob)
    fidelity: float | str | None = None
    detector: str = "dlib"
    detector_weights: str | None = None  #: RetinaFace weight file (default: the cache)
    only_center_face: bool = False
    colorize: bool = False              #: keep the model's colours on grayscale photos
    batch_size: int | None = None       #: faces per model call (None: 1 on a CPU, 8 on a GPU)
    bg_upsampler: str | None = None     #: realesrgan[-fast|-anime], lanczos, none; None: realesrgan on a CUDA GPU, else lanczos
    paste_mask: str = "face"            #: face (landmark outline) or box
    color_match: bool = True            #: low-frequency colour transfer before blending
    crop_template: str = "ffhq512"      #: aligned inputs: the crops' convention (ffhq512, dlib-chip, model)

    def replace(self, **changes: Any) -> "RestoreOptions":
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise HifaceError(f"unknown restore option(s): {', '.join(sorted(unknown))}; "
                              f"known: {', '.join(f.name for f in fields(self))}")
        return replace(self, **changes)


@functools.lru_cache(maxsize=2)
def _cached_pipeline(options: RestoreOptions):
    return _build_pipeline(options)


def _build_pipeline(options: RestoreOptions, restorer=None, detector=None):
    """The pipeline for ``options``; ``restorer``/``detector`` replace the ones it would load
    (the Ray engine splits a restore into stages, :mod:`hiface.cluster`)."""
    from .runtime import default_batch_size, resolve_device

    device = resolve_device(options.device)
    if restorer is None:
        cfg = models.get_model_config(options.model)
        weights = options.weights
        if not cfg.has_weights and weights == "default":
            weights = None
        restorer = models.create_restorer(options.model, weights=weights, device=device, half=options.half,
                                          backend=options.backend)
    det_kw = {"weights": options.detector_weights or "default"} if options.detector == "retinaface" else {}

    return FacePipeline(restorer, options.detector if detector is None else detector, upscale=options.upscale,
                        only_center_face=options.only_center_face,
                        batch_size=options.batch_size or default_batch_size(device),
                        fidelity=options.fidelity, colorize=options.colorize, detector_kwargs=det_kw,
                        bg_upsampler=create_bg_upsampler(options.bg_upsampler, device=device),
                        paste_mask=options.paste_mask, color_match=options.color_match,
                        crop_template=options.crop_template)


def load_pipeline(options: RestoreOptions | None = None, *, cache: bool = True, **changes: Any):
    """The :class:`~hiface.faces.pipeline.FacePipeline` for ``options`` (plus keyword changes).

    With ``cache`` (default) the last two pipelines are kept, so repeated calls with the same
    options reuse the loaded model and detector."""
    opts = (options or RestoreOptions()).replace(**changes) if changes else (options or RestoreOptions())
    return _cached_pipeline(opts) if cache else _build_pipeline(opts)


def as_float_image(a: np.ndarray) -> np.ndarray:
    """uint8/uint16/float (H, W), (H, W, 1|3|4) -> float32 (H, W, 3) in [0, 1] (alpha dropped)."""
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise HifaceError(f"expected an image array of shape (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    if a.shape[2] == 4:
        a = a[..., :3]
    f = _to_unit_float(a)
    if f.shape[2] == 1:
        f = np.repeat(f, 3, axis=2)
    return np.ascontiguousarray(f)


def restore_image(image: np.ndarray, options: RestoreOptions | None = None, *, alpha: np.ndarray | None = None,
                  aligned: bool = False, guide: np.ndarray | None = None, guide_face: int | None = None,
                  pipeline=None, **changes: Any):
    """Restore every face of one photo and paste it back.

    Args:
        image: RGB (H, W, 3) (or gray (H, W)) as uint8, uint16 or float in [0, 1].
        options: a :class:`RestoreOptions`; keyword ``changes`` (e.g. ``model="codeformer"``,
            ``upscale=1``) are applied on top of it.
        alpha: optional (H, W) alpha channel in the image's dtype; resized with the photo.
        aligned: the image is already an aligned face crop (in ``options.crop_template``).
        guide: guided models: a reference photo of the same person (array, like ``image``).
        pipeline: a ready pipeline (``load_pipeline``) instead of ``options``.

    Returns:
        a :class:`~hiface.faces.pipeline.RestoreResult` (``image`` float32 (H*u, W*u, 3) in [0, 1],
        ``faces``, ``crops``, ``restored``, ...).
    """
    pipe = pipeline if pipeline is not None else load_pipeline(options, **changes)
    x = as_float_image(image)
    a = None
    if alpha is not None:
        alpha = np.asarray(alpha)
        a = _as_float(alpha) if alpha.dtype in (np.uint8, np.uint16) else np.clip(alpha.astype(np.float32), 0, 1)
    g = None if guide is None else as_float_image(guide)
    return pipe(x, a, aligned=aligned, guide=g, guide_face=guide_face)


# -- files -----------------------------------------------------------------------------------
@dataclass
class FileResult:
    """What :func:`restore_file` did to one input."""

    source: Path
    output: Path                              #: the restored photo (or video)
    extra_outputs: list[Path] = field(default_factory=list)  #: faces/, compare/, warped/ files
    n_faces: int = 0                          #: faces restored
    no_face: bool = False                     #: a photo in which no face was found
    result: Any = None                        #: the RestoreResult (photos only)
    notes: list[str] = field(default_factory=list)  #: what changed silently otherwise (frames, alpha)


def output_ext(path: Path, ext: str, has_alpha: bool, is16: bool) -> str:
    """Output extension: ``ext`` "png"/"jpg", or "auto" = the input's (PNG when it cannot hold
    the photo's alpha or 16 bits)."""
    if ext == "png":
        return ".png"
    if ext == "jpg":
        return ".jpg"
    e = path.suffix.lower()
    if e in (".jpeg",):
        e = ".jpg"
    if e not in (".jpg", ".png", ".webp", ".bmp", ".tif", ".tiff"):
        e = ".png"
    if has_alpha and e not in _ALPHA_EXTS:
        e = ".png"
    if is16 and e not in _16BIT_EXTS:
        e = ".png"
    return e


def to_dtype(a: np.ndarray, dtype) -> np.ndarray:
    """Float [0, 1] -> uint8 or uint16, rounded."""
    a = np.clip(a, 0.0, 1.0)
    if dtype == np.uint16:
        return (a * 65535.0 + 0.5).astype(np.uint16)
    return (a * 255.0 + 0.5).astype(np.uint8)


def _as_float(a: np.ndarray) -> np.ndarray:
    f = a.astype(np.float32)
    f /= np.float32(65535.0 if a.dtype == np.uint16 else 255.0)  # in place: one float copy, not two
    return f


def _to_unit_float(a: np.ndarray) -> np.ndarray:
    """uint8/uint16 (scaled) or float (clipped) -> float32 in [0, 1]; other dtypes are an error."""
    if a.dtype in (np.uint8, np.uint16):
        return _as_float(a)
    if np.issubdtype(a.dtype, np.floating):
        return np.clip(a.astype(np.float32), 0.0, 1.0)
    raise HifaceError(f"unsupported image dtype {a.dtype}: use uint8, uint16 or float in [0, 1]")


#: default cap on the restored photo's size (``max_megapixels``): 100 MP is a 12 MP photo at 2.9x
DEFAULT_MAX_MEGAPIXELS = 100.0


class TooLargeError(HifaceError):
    """The output would exceed the megapixel limit; the message names the largest upscale that fits."""


def check_output_size(width: int, height: int, upscale: float, max_megapixels: float | None) -> None:
    """Raise :class:`TooLargeError` when (width, height) * upscale exceeds ``max_megapixels``."""
    if not max_megapixels:
        return
    ow, oh = int(round(width * upscale)), int(round(height * upscale))
    if ow * oh <= max_megapixels * 1e6:
        return
    fit = int((max_megapixels * 1e6 / (width * height)) ** 0.5 * 100) / 100
    how = (f"the largest {flag('--upscale', 'upscale')} that fits is {fit:g}" if fit >= 0.1 else
           "even the smallest upscale does not fit")
    raise TooLargeError(f"the restored photo would be {ow}x{oh} = {ow * oh / 1e6:.0f} MP, over the limit of "
                        f"{max_megapixels:g} MP ({flag('--max-megapixels', 'max_megapixels')}): {how}, or raise "
                        "the limit if you have the memory (about 12 bytes per output pixel)")


def predict_output(path: str | Path, outdir: str | Path, *, root: str | Path | None = None,
                   ext: str = "auto") -> Path:
    """The main output :func:`restore_file` will write for ``path``, from the file header only
    (alpha and 16 bits decide the extension with ``ext="auto"``)."""
    path = Path(path)
    if path.suffix.lower() in VIDEO_EXTS:
        return plan_output(path, Path(outdir), base=root)
    has_alpha, is16 = _header_alpha_16(path)
    return plan_output(path, Path(outdir), ext=output_ext(path, ext, has_alpha, is16), base=root)


def _header_alpha_16(path: Path) -> tuple[bool, bool]:
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                mode = img.mode
                alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
                    mode in ("P", "RGB") and "transparency" in img.info)
                return alpha, _source_bit_depth(img, img.format or "") == 16
    except Exception:  # unreadable: restore_file reports it
        return False, False


def restore_file(path: str | Path, outdir: str | Path, pipeline=None, *, root: str | Path | None = None,
                 aligned: bool = False, ext: str = "auto", save_faces: bool = False, compare: bool = False,
                 guide: np.ndarray | None = None, guide_face: int | None = None, save_warped: bool = False,
                 overwrite: bool = False, progress=None, strip_metadata: bool = False,
                 max_megapixels: float | None = DEFAULT_MAX_MEGAPIXELS) -> FileResult:
    """Restore one photo or video file into ``outdir`` (sub-folders relative to ``root`` mirrored).

    Writes ``NAME.EXT`` (and, when asked, ``faces/``, ``compare/``, ``warped/`` files) atomically;
    never writes over an input or, without ``overwrite``, over an existing file. ``guide`` is a
    float reference image (see :func:`as_float_image`). The photo's ICC profile is kept, and its
    EXIF (orientation reset to 1) unless ``strip_metadata``. An output over ``max_megapixels``
    is refused before decoding. Raises a :class:`HifaceError` for a file that cannot be read,
    restored or written."""
    pipe = pipeline if pipeline is not None else load_pipeline()
    path, outdir = Path(path), Path(outdir)
    if path.suffix.lower() in VIDEO_EXTS:
        dst = plan_output(path, outdir, base=root)
        n = _restore_video(pipe, path, dst, aligned=aligned, guide=guide, guide_face=guide_face,
                           overwrite=overwrite, progress=progress)
        return FileResult(source=path, output=dst, n_faces=n)

    size = image_size(path)
    if size is not None:
        check_output_size(size[0], size[1], pipe.upscale, max_megapixels)
    img = read_image(path, keep_16bit=True)
    is16 = img.pixels.dtype == np.uint16
    oext = output_ext(path, ext, img.alpha is not None, is16)
    dtype = np.uint16 if (is16 and oext in _16BIT_EXTS) else np.uint8
    x = _as_float(img.pixels)
    img.pixels = None  # from here on only the float copy is needed (peak memory on big photos)
    alpha = None if img.alpha is None else _as_float(img.alpha)
    # out_dtype: the pipeline builds the integer output in strips (no full-size float picture)
    res = pipe(x, alpha, aligned=aligned, guide=guide, guide_face=guide_face, out_dtype=dtype)
    if not compare:
        x = None
    out = res.image if res.image.dtype == dtype else to_dtype(res.image, dtype)
    a_out = None if res.alpha is None else (res.alpha if res.alpha.dtype == dtype else to_dtype(res.alpha, dtype))
    notes = []
    if img.n_frames > 1:
        notes.append(f"{img.n_frames} frames (animated or multi-page): only the first was restored")
    if a_out is not None and oext not in _ALPHA_EXTS and int(a_out.min()) < np.iinfo(dtype).max:
        # the format cannot hold transparency: composite on white rather than show what was hidden
        a3 = _as_float(a_out)[..., None]
        out = to_dtype(_as_float(out) * a3 + (1.0 - a3), dtype)
        a_out = None
        keep = flag("--ext png", "ext='png'")
        notes.append(f"has transparency, which {oext.lstrip('.').upper()} cannot store: composited on white "
                     f"(use {keep} to keep it)")
    gray_out = img.was_gray and not pipe.colorize  # gray-looking RGB files stay RGB (with equal channels)
    if gray_out:
        out = out[..., 0]
    dst = plan_output(path, outdir, ext=oext, base=root)
    meta = {} if strip_metadata else {"exif": img.exif}
    meta["icc"] = img.icc
    fr = FileResult(source=path, output=dst, n_faces=len(res.restored),  # with a guide only the guided face
                    no_face=not aligned and not res.faces, result=res, notes=notes)
    sub = dst.parent.relative_to(outdir) if dst.parent != outdir else Path()
    stem = dst.stem

    def extra(p: Path, arr: np.ndarray) -> None:
        write_image(p, arr, overwrite=overwrite, inputs=[path])
        fr.extra_outputs.append(p)

    notes += res.notes
    if save_faces:
        for k, (c, r) in enumerate(zip(res.crops, res.restored)):
            fi = res.restored_index[k] if res.restored_index else k
            for tag, arr in (("input", c), ("restored", r)):
                extra(outdir / "faces" / sub / f"{stem}_{fi:02d}_{tag}.png", to_dtype(arr, np.uint8))
        fr.extra_outputs.append(_write_decisions(outdir / "faces" / sub / f"{stem}.json", path, pipe, res,
                                                 overwrite=overwrite))
    if save_warped:
        for k, w in enumerate(res.warped_guides):
            fi = res.restored_index[k] if res.restored_index else k
            extra(outdir / "warped" / sub / f"{stem}_{fi:02d}_guide.png", to_dtype(w, np.uint8))
    if compare:
        left = upscale_image(x, res.image.shape[0] / x.shape[0]) if res.image.shape[:2] != x.shape[:2] else x
        if left.shape[:2] != res.image.shape[:2]:
            import cv2

            left = cv2.resize(x, (res.image.shape[1], res.image.shape[0]), interpolation=cv2.INTER_LANCZOS4)
        right = res.image if res.image.dtype == np.float32 else _as_float(res.image)
        sbs = to_dtype(np.concatenate([np.clip(left, 0, 1), right], axis=1), np.uint8)
        cext = ".jpg" if oext == ".jpg" else ".png"
        extra(outdir / "compare" / sub / f"{stem}{cext}", sbs[..., 0] if gray_out else sbs)
    # the main output last: when it exists, everything else of this photo was written too
    write_image(dst, out, a_out, overwrite=overwrite, inputs=[path], **meta)
    return fr


def _write_decisions(dst: Path, src: Path, pipe, res, *, overwrite: bool = False) -> Path:
    """faces/NAME.json: what the pipeline decided per face (scale, fidelity, weight, severity)."""
    import json

    _check_target(dst, overwrite, [src])
    doc = {"input": str(src), "model": pipe.restorer.name, "faces": res.decisions, "notes": res.notes}
    return write_bytes_atomic(dst, (json.dumps(doc, indent=1) + "\n").encode())


def _restore_video(pipe, src: Path, dst: Path, *, aligned, guide, guide_face, overwrite, progress=None) -> int:
    """Run every frame through ``pipe``; returns the number of faces restored over all frames.
    Whole frames: a few at a time, faces of several frames per model call, landmarks smoothed
    over time (:func:`hiface.faces.video.restore_frames`)."""
    count = [0]
    if not aligned and guide is None:
        from .faces.video import restore_frames

        process_video(src, dst, None, overwrite=overwrite, progress=progress,
                      stream=lambda frames: restore_frames(pipe, frames, counter=count))
        return count[0]

    def fn(frame):
        res = pipe(frame.astype(np.float32) / 255.0, aligned=aligned, guide=guide, guide_face=guide_face)
        count[0] += len(res.restored)
        return to_dtype(res.image, np.uint8)

    process_video(src, dst, fn, overwrite=overwrite, progress=progress)
    return count[0]
