"""`hiface restore`: restore the faces in photos, folders or videos.

Detect -> align to the model's template -> restore (all faces of a photo in one batch) ->
paste back into the photo upscaled with Lanczos. See ``hiface restore --help``.
"""
from __future__ import annotations

import time
from pathlib import Path

import click

from ..errors import HifaceError
from ._common import BatchReport, expand_inputs_with_roots, friendly_errors, plan_output, progress

#: The model used when --model is not given. None until the default model of the training
#: issue lands; then set it to that model's registry name (the only line to change).
DEFAULT_MODEL: str | None = "hifacegan-lite"

DETECTORS = ("dlib", "dlib-cnn", "retinaface")
VIDEO_EXTS = (".mp4", ".mov", ".avi", ".mkv")
_ALPHA_EXTS = (".png", ".webp", ".tif", ".tiff")
_16BIT_EXTS = (".png", ".tif", ".tiff")

EPILOG = """\b
Examples:
  hiface restore old_photo.jpg -o restored/                   # default model, offline
  hiface restore old_photo.jpg -o restored/ --model gfpgan-1.4
  hiface restore photos/ -o restored/ --model hifacegan --weights hifacegan.pth --upscale 1 --compare
  hiface restore group.png -o out/ --model codeformer --fidelity 0.7 --detector retinaface
  hiface restore crops/ -o out/ --model identity --aligned --upscale 1
  hiface restore ffhq_crops/ -o out/ --aligned                # 512² FFHQ-style crops (GFP-GAN/CodeFormer)
  hiface restore chips/ -o out/ --aligned --crop-template dlib-chip --fidelity 1
  hiface restore clip.mp4 -o out/ --model gfpgan-1.4           # keeps fps and audio
  hiface restore lq.jpg -o out/ --model gfrnet --guide ref.jpg --save-warped

\b
Outputs (in OUTDIR, sub-folders of the inputs mirrored):
  NAME.EXT                       the restored photo (or video)
  faces/NAME_NN_input.png        with --save-faces: aligned input face NN (left to right)
  faces/NAME_NN_restored.png     ... and its restoration (as blended into the photo)
  faces/NAME.json                ... and per face: scale, fidelity, weight, severity
  compare/NAME.EXT               with --compare: input | output side by side
  warped/NAME_NN_guide.png       with --save-warped: the guide warped onto face NN
For videos only the restored video is written (same container, source fps, audio copied).
Photos without a face are upscaled and written with a note. Unreadable files are
reported and skipped; the exit code is 1 if any file failed.
"""


def _model_help() -> str:
    return ("Restorer (see `hiface models`)." + (f" Default: {DEFAULT_MODEL}." if DEFAULT_MODEL else
                                                  " Required for now (no default model yet)."))


def _resolve_model(model: str | None) -> str:
    if model:
        return model
    if DEFAULT_MODEL:
        return DEFAULT_MODEL
    from ..models import list_models

    raise click.UsageError("--model is required (there is no default model yet). Available models: "
                           + ", ".join(list_models()) + ". See `hiface models` for details.")


def _out_ext(path: Path, ext: str, has_alpha: bool, is16: bool) -> str:
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


def _to_dtype(a, dtype):
    import numpy as np

    a = np.clip(a, 0.0, 1.0)
    if dtype == np.uint16:
        return (a * 65535.0 + 0.5).astype(np.uint16)
    return (a * 255.0 + 0.5).astype(np.uint8)


def _as_float(a):
    import numpy as np

    return a.astype(np.float32) / (65535.0 if a.dtype == np.uint16 else 255.0)


@click.command(name="restore", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", nargs=-1, metavar="INPUT...")
@click.option("-o", "--outdir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder (created if needed).")
@click.option("-m", "--model", default=None, help=_model_help())
@click.option("--weights", default="default", show_default=True,
              help="Weight file (.safetensors/.pth) instead of the model's default weights.")
@click.option("--upscale", type=click.FloatRange(min=0.1, max=8), default=2, show_default=True,
              help="Output scale of the whole photo (1 = same size).")
@click.option("--fidelity", default=None, metavar="auto|0..1",
              help="How much of the restored face to use. auto (default for models without their own "
                   "knob): per face, estimated from how damaged it looks (clean faces stay as they are). "
                   "A number: for those models the blend weight (0 = the input face .. 1 = fully restored); "
                   "for models with their own knob its meaning is the model's: CodeFormer w, 0 = strongest "
                   "restoration .. 1 = closest to the input (default 0.5); GFP-GAN: the same blend "
                   "(default 1).")
@click.option("--detector", type=click.Choice(DETECTORS), default="dlib", show_default=True,
              help="Face detector: dlib (HOG, offline), dlib-cnn (slower, harder faces), retinaface "
                   "(needs its weights: --detector-weights or the cache).")
@click.option("--detector-weights", type=click.Path(dir_okay=False, exists=True), default=None,
              help="RetinaFace weight file (default: cached official release).")
@click.option("--only-center-face", is_flag=True, help="Restore only the face nearest the image centre.")
@click.option("--aligned", is_flag=True, help="Inputs are already aligned face crops (no detection), "
                                               "aligned as --crop-template says.")
@click.option("--crop-template", type=click.Choice(["ffhq512", "dlib-chip", "model"]), default="ffhq512",
              show_default=True, help="With --aligned: the crops' convention. ffhq512: FFHQ-style crops "
              "(GFP-GAN/CodeFormer; eyes at 38%/62% across, 47% down); dlib-chip: dlib face chips "
              "(UTKFace); model: already in the model's own template. The crop is mapped to the model's "
              "template and the result pasted back, so hair and background stay.")
@click.option("--save-faces", is_flag=True, help="Also write the aligned input and restored faces, and "
                                                  "faces/NAME.json: per face the scale, fidelity and weight used.")
@click.option("--compare", is_flag=True, help="Also write input | output side by side.")
@click.option("--colorize", is_flag=True, help="Keep the model's colours on grayscale photos "
                                                "(default: grayscale photos stay grayscale).")
@click.option("--ext", type=click.Choice(["auto", "png", "jpg"]), default="auto", show_default=True,
              help="Output format; auto keeps the input's (PNG when it has alpha or 16 bits).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="At most this many faces per model call (caps memory on crowded photos).")
@click.option("--guide", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Guided models (GFRNet): a clear photo of the same person as reference.")
@click.option("--guide-face", type=click.IntRange(min=0), default=None,
              help="Which face (0 = leftmost) the guide is for; default: the face whose pose best "
                   "matches the guide's.")
@click.option("--save-warped", is_flag=True, help="Guided models: also write the guide warped onto the face.")
@click.option("--device", default="cpu", show_default=True, help="Torch device, e.g. cuda.")
@click.option("-r", "--recursive", is_flag=True, help="Also look in sub-folders of folder inputs.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.pass_context
@friendly_errors
def restore(ctx: click.Context, inputs, outdir: Path, model, weights, upscale, fidelity, detector,
            detector_weights, only_center_face, aligned, crop_template, save_faces, compare, colorize, ext, batch_size,
            guide, guide_face, save_warped, device, recursive, overwrite):
    """Restore the faces in photos, folders or videos.

    Each face is detected, aligned to the model's template, restored (all faces of a photo
    in one batch) and pasted back with a soft mask into the photo, upscaled with Lanczos.
    Grayscale photos stay grayscale, alpha channels and 16-bit PNG/TIFF are kept, EXIF
    rotation is applied. Videos (.mp4/.mov/.avi/.mkv) keep their frame rate and audio.
    """
    if not inputs:
        raise click.UsageError("give at least one INPUT (file, folder or glob)")
    name = _resolve_model(model)
    import numpy as np

    import hiface
    from ..faces.pipeline import FacePipeline
    from ..io import IMAGE_EXTS, read_image, write_image

    cfg = hiface.get_model_config(name)
    if cfg.guided and guide is None:
        raise click.UsageError(f"model {name!r} is a guided restorer: give a reference photo of the "
                               "same person with --guide PATH")
    if guide is not None and not cfg.guided:
        raise click.UsageError(f"--guide only works with guided models (e.g. GFRNet); {name!r} takes no reference")
    if (guide_face is not None or save_warped) and guide is None:
        raise click.UsageError("--guide-face and --save-warped need --guide")
    if fidelity is not None and fidelity.strip().lower() != "auto":
        try:
            fidelity = float(fidelity)
        except ValueError:
            raise click.BadParameter(f"{fidelity!r} is neither 'auto' nor a number", param_hint="--fidelity") from None
        if not 0.0 <= fidelity <= 1.0:
            raise click.BadParameter(f"{fidelity} is not in [0, 1]", param_hint="--fidelity")

    items = expand_inputs_with_roots(inputs, exts=IMAGE_EXTS + VIDEO_EXTS, recursive=recursive)
    restorer = hiface.create_restorer(name, weights=None if not cfg.has_weights and weights == "default" else weights,
                                      device=device)
    det_kw = {"weights": detector_weights or "default"} if detector == "retinaface" else {}
    pipe = FacePipeline(restorer, detector, upscale=upscale, only_center_face=only_center_face,
                        batch_size=batch_size, fidelity=fidelity, colorize=colorize, detector_kwargs=det_kw,
                        crop_template=crop_template)
    if not aligned or guide is not None:
        pipe.detector  # noqa: B018  (load the detector now: a missing weight file is one clear error)
    guide_px = None
    if guide is not None:
        guide_px = _as_float(read_image(guide).pixels)

    report = BatchReport()
    t0 = time.time()
    n_faces = 0
    no_face = 0
    outdir.mkdir(parents=True, exist_ok=True)
    for path, root in progress(items, "restore"):
        try:
            if path.suffix.lower() in VIDEO_EXTS:
                n = _restore_video(pipe, path, plan_output(path, outdir, base=root), aligned=aligned,
                                   guide=guide_px, guide_face=guide_face, overwrite=overwrite)
                n_faces += n
                report.add_ok(path)
                continue
            img = read_image(path, keep_16bit=True)
            x = _as_float(img.pixels)
            alpha = None if img.alpha is None else _as_float(img.alpha)
            res = pipe(x, alpha, aligned=aligned, guide=guide_px, guide_face=guide_face)
            is16 = img.pixels.dtype == np.uint16
            oext = _out_ext(path, ext, img.alpha is not None, is16)
            dtype = np.uint16 if (is16 and oext in _16BIT_EXTS) else np.uint8
            out = _to_dtype(res.image, dtype)
            gray_out = img.was_gray and not colorize  # gray-looking RGB files stay RGB (with equal channels)
            if gray_out:
                out = out[..., 0]
            a_out = None if res.alpha is None else _to_dtype(res.alpha, dtype)
            dst = plan_output(path, outdir, ext=oext, base=root)
            write_image(dst, out, a_out, overwrite=overwrite, inputs=[path])
            nf = len(res.restored)  # with --guide only the guided face is restored
            n_faces += nf
            if not aligned and not res.faces:
                no_face += 1
                report.note(f"{path}: no face found; written upscaled only")
            sub = dst.parent.relative_to(outdir) if dst.parent != outdir else Path()
            stem = dst.stem
            if save_faces:
                for k, (c, r) in enumerate(zip(res.crops, res.restored)):
                    fi = res.restored_index[k] if res.restored_index else k
                    for tag, arr in (("input", c), ("restored", r)):
                        write_image(outdir / "faces" / sub / f"{stem}_{fi:02d}_{tag}.png", _to_dtype(arr, np.uint8),
                                    overwrite=overwrite, inputs=[path])
                _write_decisions(outdir / "faces" / sub / f"{stem}.json", path, name, res)
            for msg in res.notes:
                report.note(f"{path}: {msg}")
            if save_warped:
                for k, w in enumerate(res.warped_guides):
                    fi = res.restored_index[k] if res.restored_index else k
                    write_image(outdir / "warped" / sub / f"{stem}_{fi:02d}_guide.png", _to_dtype(w, np.uint8),
                                overwrite=overwrite, inputs=[path])
            if compare:
                from ..faces.paste import upscale_image

                left = upscale_image(x, res.image.shape[0] / x.shape[0]) if res.image.shape[:2] != x.shape[:2] else x
                if left.shape[:2] != res.image.shape[:2]:
                    import cv2

                    left = cv2.resize(x, (res.image.shape[1], res.image.shape[0]), interpolation=cv2.INTER_LANCZOS4)
                sbs = _to_dtype(np.concatenate([np.clip(left, 0, 1), res.image], axis=1), np.uint8)
                cext = ".jpg" if oext == ".jpg" else ".png"
                write_image(outdir / "compare" / sub / f"{stem}{cext}", sbs[..., 0] if gray_out else sbs,
                            overwrite=overwrite, inputs=[path])
            report.add_ok(path)
        except HifaceError as e:
            report.add_failed(path, e)
    dt = time.time() - t0
    click.echo(f"{report.n_ok} file(s) done, {n_faces} face(s) restored"
               + (f", {no_face} photo(s) without a face" if no_face else "")
               + f", {report.n_failed} failed, {dt:.1f} s", err=True)
    ctx.exit(report.exit_code)


def _write_decisions(dst: Path, src: Path, model: str, res) -> None:
    """faces/NAME.json: what the pipeline decided per face (scale, fidelity, weight)."""
    import json

    from ..io import write_bytes_atomic

    doc = {"input": str(src), "model": model, "faces": res.decisions, "notes": res.notes}
    write_bytes_atomic(dst, (json.dumps(doc, indent=1) + "\n").encode())


def _restore_video(pipe, src: Path, dst: Path, *, aligned, guide, guide_face, overwrite) -> int:
    """Run every frame through ``pipe``; returns the number of faces restored over all frames."""
    import numpy as np

    from ..video import process_video

    count = [0]

    def fn(frame):
        res = pipe(frame.astype(np.float32) / 255.0, aligned=aligned, guide=guide, guide_face=guide_face)
        count[0] += len(res.restored)
        return _to_dtype(res.image, np.uint8)

    process_video(src, dst, fn, overwrite=overwrite,
                  progress=lambda it: progress(it, f"  {src.name}", unit="frame"))
    return count[0]
