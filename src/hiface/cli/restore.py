"""`hiface restore`: restore the faces in photos, folders or videos.

Detect -> align to the model's template -> restore (all faces of a photo in one batch) ->
paste back into the photo upscaled with Lanczos. See ``hiface restore --help``.
"""
from __future__ import annotations

import time
from pathlib import Path

import click

from ..batch import RESTORE_EXTS, restore_files
from ..errors import HifaceError
from ..photo import DEFAULT_MODEL, RestoreOptions
from ._common import BatchReport, expand_inputs_with_roots, friendly_errors, progress, step_bar

DETECTORS = ("dlib", "dlib-cnn", "retinaface")

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
reported and skipped; the exit code is 1 if any file failed. Animated GIFs: the first
frame is restored (with a note). ICC profiles are kept, EXIF too unless --strip-metadata.

\b
Resuming: OUTDIR/.hiface-job.jsonl records each input's outcome and the settings used.
Re-running the same command skips inputs already done (exit 0); other settings are
refused before any work unless --overwrite. Ctrl-C says what was done and what was not.
"""


def _model_help() -> str:
    return f"Restorer (see `hiface models`). Default: {DEFAULT_MODEL} (shipped, no download)."


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
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="At most this many faces per model call (caps memory on crowded photos). "
                   "Default: 1 on a CPU (bigger batches are no faster per face there), 8 on a GPU.")
@click.option("--guide", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Guided models (GFRNet): a clear photo of the same person as reference.")
@click.option("--guide-face", type=click.IntRange(min=0), default=None,
              help="Which face (0 = leftmost) the guide is for; default: the face whose pose best "
                   "matches the guide's.")
@click.option("--save-warped", is_flag=True, help="Guided models: also write the guide warped onto the face.")
@click.option("--bg-upsampler", type=click.Choice(["realesrgan", "realesrgan-anime", "realesrgan-fast", "lanczos",
                                                   "none"]), default=None,
              help="Background up-sampler: realesrgan (RealESRGAN_x4plus, slow on CPU), realesrgan-fast "
                   "(animevideov3, ~30x faster), realesrgan-anime, lanczos; none = lanczos. Default: "
                   "realesrgan when a CUDA GPU is present, else lanczos.")
@click.option("--paste-mask", type=click.Choice(["face", "box"]), default="face", show_default=True,
              help="Blend restored faces along the face outline from the landmarks (face) or a soft square (box).")
@click.option("--no-color-match", is_flag=True,
              help="Keep the restored face's own tone (default: its low frequencies take the input's "
                   "tone inside the paste mask, so no step shows at the seam).")
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:N]|mps",
              help="Where the model runs; auto: a CUDA GPU if present, else Apple's mps, else the CPU.")
@click.option("--half", is_flag=True, help="GPU only: run the model in float16 (faster, slightly different "
                                           "results; CodeFormer's code lookup and GFP-GAN's demodulation stay float32).")
@click.option("--backend", type=click.Choice(["torch", "onnxruntime"]), default="torch", show_default=True,
              help="CPU inference engine; onnxruntime (the onnx extra) exports the model once into the cache "
                   "and is faster on the CPU (bench/README.md).")
@click.option("-r", "--recursive", is_flag=True, help="Also look in sub-folders of folder inputs.")
@click.option("--overwrite", is_flag=True, help="Redo every input and replace existing outputs (default: "
                                                 "skip inputs already done with the same settings).")
@click.option("--strip-metadata", is_flag=True, help="Drop EXIF (date, camera, GPS) from the outputs "
                                                      "(default: kept, orientation reset; ICC profiles are always kept).")
@click.option("--max-megapixels", type=click.FloatRange(min=0), default=100, show_default=True,
              help="Refuse photos whose restored size would exceed this (0 = no limit).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: run on Ray Data (pip install 'hiface[cluster]'): a local Ray using this machine's "
                   "cores, or the cluster at --address; same outputs and job record as local.")
@click.option("--address", default=None, metavar="auto|HOST:PORT",
              help="With --engine ray: join this Ray cluster (see `ray start --head`) instead of starting one.")
@click.option("--progress/--no-progress", "show_progress", default=None,
              help="Force the progress bars on/off (default: on when stderr is a terminal).")
@click.pass_context
@friendly_errors
def restore(ctx: click.Context, inputs, outdir: Path, model, weights, upscale, fidelity, detector,
            detector_weights, only_center_face, aligned, crop_template, save_faces, compare, colorize, ext,
            batch_size, guide, guide_face, save_warped, bg_upsampler, paste_mask, no_color_match, device, half, backend,
            recursive, overwrite, strip_metadata, max_megapixels, engine, address, show_progress):
    """Restore the faces in photos, folders or videos.

    Each face is detected, aligned to the model's template, restored (all faces of a photo
    in one batch) and pasted back with a soft mask into the photo, upscaled with Lanczos.
    Grayscale photos stay grayscale, alpha channels and 16-bit PNG/TIFF are kept, EXIF
    rotation is applied. Videos (.mp4/.mov/.avi/.mkv) keep their frame rate and audio.
    """
    if not inputs:
        raise click.UsageError("give at least one INPUT (file, folder or glob)")
    name = model or DEFAULT_MODEL
    import hiface

    try:
        cfg = hiface.get_model_config(name)
    except HifaceError as e:
        raise click.BadParameter(str(e), param_hint="'-m' / '--model'") from None
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

    items = expand_inputs_with_roots(inputs, exts=RESTORE_EXTS, recursive=recursive)
    from ..runtime import check_half, resolve_device

    check_half(resolve_device(device), half)  # before any work: a clear error, not one per file
    opts = RestoreOptions(model=name, weights=weights, device=device, half=half, backend=backend,
                          upscale=upscale, fidelity=fidelity,
                          detector=detector, detector_weights=detector_weights, only_center_face=only_center_face,
                          colorize=colorize, batch_size=batch_size, bg_upsampler=bg_upsampler,
                          paste_mask=paste_mask, color_match=not no_color_match, crop_template=crop_template)
    report = BatchReport()
    counts = {"faces": 0, "no_face": 0}
    others = [d for d in DETECTORS if d != detector]

    def on_outcome(o) -> None:
        if o.status == "failed":
            report.add_failed(o.task.source, o.reason)
        elif o.status == "done":
            fr = o.info
            counts["faces"] += fr.n_faces
            for n in fr.notes:
                report.note(f"{o.task.source}: {n}")
            if fr.no_face:
                counts["no_face"] += 1
                report.note(f"{o.task.source}: no face found; written upscaled only (other detectors may find it: "
                            + " or ".join(f"--detector {d}" for d in others) + ")")
            report.add_ok(o.task.source)

    t0 = time.time()
    if address and engine != "ray":
        raise click.UsageError("--address needs --engine ray")
    restore_fn = restore_files
    if engine == "ray":
        import functools

        from ..cluster import restore_files_ray

        restore_fn = functools.partial(restore_files_ray, address=address)
    summary = restore_fn(
        items, outdir, opts, aligned=aligned, ext=ext, save_faces=save_faces, compare=compare, guide=guide,
        guide_face=guide_face, save_warped=save_warped, strip_metadata=strip_metadata,
        max_megapixels=max_megapixels, overwrite=overwrite, on_outcome=on_outcome, on_note=report.note,
        wrap=lambda ts: progress(ts, "restore", force=show_progress, unit="file"),
        frame_progress=lambda p: (lambda it: progress(it, f"  {p.name}", unit="frame", force=show_progress)),
        face_progress=lambda p: step_bar(f"  {p.name}", force=show_progress, unit="face"))
    dt = time.time() - t0
    for o in summary.skipped:
        if o.status == "busy":
            report.note(f"{o.task.source}: skipped, {o.reason}")
    n_skip = len(summary.skipped)
    click.echo(f"{len(summary.done)} file(s) done, {counts['faces']} face(s) restored"
               + (f", {counts['no_face']} photo(s) without a face" if counts["no_face"] else "")
               + (f", {n_skip} skipped (already done with the same settings; --overwrite redoes them)"
                  if n_skip else "")
               + f", {len(summary.failed)} failed, {dt:.1f} s", err=True)
    if summary.interrupted:
        left = [str(t.source) for t in summary.not_done]
        click.echo(f"Interrupted: {len(summary.done)} file(s) done, {len(left)} not done"
                   + (f" ({', '.join(left[:5])}{', ...' if len(left) > 5 else ''})" if left else "")
                   + ". Run the same command again to finish the rest.", err=True)
    ctx.exit(summary.exit_code)
