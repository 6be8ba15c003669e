"""Restore many files into one output folder, safely and resumably: the loop behind
``hiface restore`` (and any front-end that restores folders).

Before any photo is restored: the output folder is created and proved writable, an output
folder that is also an input folder is refused, files inside the output folder are not taken as
inputs, and every input's outputs are checked against the job record (:mod:`hiface.jobs`):
inputs done before with the same settings are skipped, outputs that exist for other reasons
stop the run (nothing is restored) unless ``overwrite``. The settings that decide the output
(:func:`restore_settings`: model, weight checksum, every pixel-changing option, hiface version)
are stored with each record, so a re-run with other settings is told so instead of silently
mixing results.

    >>> from hiface.batch import restore_files
    >>> summary = restore_files([(Path("photos/a.jpg"), Path("photos"))], "restored/")
    >>> summary.line()
    '1 done, 0 failed'
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from . import jobs
from .errors import HifaceError, flag
from .io import IMAGE_EXTS
from .photo import VIDEO_EXTS, RestoreOptions

__all__ = ["RESTORE_EXTS", "ConflictError", "restore_settings", "fidelity_settings", "check_folders", "plan_tasks", "prepare_job",
           "restore_files",
           "weights_identity"]

#: what folder inputs contribute: images, GIFs (first frame, with a note) and videos
RESTORE_EXTS: tuple[str, ...] = IMAGE_EXTS + (".gif",) + VIDEO_EXTS


class ConflictError(HifaceError):
    """Outputs exist that this job did not make with these settings; nothing was restored."""

    def __init__(self, conflicts: Sequence[tuple[jobs.Task, str]], limit: int = 5):
        self.conflicts = list(conflicts)
        lines = [f"  {t.source}: {why}" for t, why in self.conflicts[:limit]]
        if len(self.conflicts) > limit:
            lines.append(f"  ... and {len(self.conflicts) - limit} more")
        super().__init__(
            f"{len(self.conflicts)} input(s) cannot be written without replacing existing outputs; nothing was "
            f"restored:\n" + "\n".join(lines) + f"\nUse {flag('--overwrite', 'overwrite=True')} to replace them, "
            "or choose another output folder.")


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    from .weights import sha256_file

    return sha256_file(path)


def weights_identity(path: str | os.PathLike | None) -> str | None:
    """``"sha256:<hex>"`` of a file (cached per size/mtime), None for None."""
    if path is None:
        return None
    st = os.stat(path)
    return "sha256:" + _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def restore_settings(options: RestoreOptions, *, aligned: bool = False, ext: str = "auto",
                     save_faces: bool = False, compare: bool = False, save_warped: bool = False,
                     guide: str | os.PathLike | None = None, guide_face: int | None = None,
                     strip_metadata: bool = False) -> dict[str, Any]:
    """Everything that decides what a restore writes: two runs with equal settings write the
    same files. Weight files enter by checksum, so a retrained file with the same name counts
    as different. (Device and batch size are left out: they do not change the result beyond
    float rounding.)"""
    from . import __version__, models

    cfg = models.get_model_config(options.model)
    wpath = models.resolve_weights(cfg, options.weights if cfg.has_weights else None)
    det_w = None
    if options.detector == "retinaface" and not aligned:
        from .faces.retinaface import retinaface_weights

        det_w = weights_identity(retinaface_weights(options.detector_weights or "default"))
    return {
        "hiface": __version__, "model": options.model,
        "weights": weights_identity(wpath) if wpath is not None else ("none" if not cfg.has_weights else "random"),
        "upscale": float(options.upscale), **fidelity_settings(cfg, options.fidelity),
        "detector": None if aligned else options.detector, "detector_weights": det_w,
        "only_center_face": options.only_center_face, "colorize": options.colorize,
        "aligned": aligned, "crop_template": options.crop_template if aligned else None,
        "paste": "delta-keep-detail", "ext": ext, "save_faces": save_faces, "compare": compare, "save_warped": save_warped,
        "guide": weights_identity(guide) if guide else None, "guide_face": guide_face,
        "strip_metadata": strip_metadata, "bg_upsampler": options.bg_upsampler, "paste_mask": options.paste_mask,
        "color_match": options.color_match,
    }


def fidelity_settings(cfg, fidelity: float | str | None) -> dict[str, Any]:
    """The fidelity a restore really uses (None resolved to the model's default, as
    :meth:`hiface.restorers.base.Restorer.resolve_fidelity` does) and, with auto, the estimator
    file's checksum: a retrained estimator changes the output."""
    if isinstance(fidelity, str) and fidelity.strip().lower() == "auto":
        fid: Any = "auto"
    elif fidelity is None:
        fid = cfg.default_fidelity if cfg.supports_fidelity else (None if cfg.guided else "auto")
    else:
        fid = float(fidelity)
    out: dict[str, Any] = {"fidelity": fid}
    if fid == "auto":
        from .fidelity import DEFAULT_FILE

        out["fidelity_estimator"] = weights_identity(DEFAULT_FILE)
    return out


def check_folders(items: Sequence[tuple[Path, Path]], outdir: str | os.PathLike) -> tuple[list[tuple[Path, Path]], int]:
    """Refuse an output folder that is an input folder; drop inputs inside the output folder
    (earlier outputs, when it lies inside a recursively scanned input folder). Returns the kept
    items and how many were dropped."""
    out = Path(outdir).resolve()
    for root in {r for _, r in items}:
        if Path(root).resolve() == out:
            raise jobs.OutputFolderError(
                f"the output folder {outdir} is also the folder of the inputs: outputs would mix with the photos "
                "(and be taken as inputs next time); choose another output folder")
    kept = [(p, r) for p, r in items if not p.resolve().is_relative_to(out)]
    return kept, len(items) - len(kept)


def plan_tasks(items: Iterable[tuple[Path, Path]], outdir: str | os.PathLike, *, ext: str = "auto",
               compare: bool = False) -> list[jobs.Task]:
    """One :class:`~hiface.jobs.Task` per input with the outputs known before restoring (the
    photo, its compare image); face crops depend on what is found and are checked when written."""
    from .photo import predict_output

    outdir = Path(outdir)
    tasks = []
    for path, root in items:
        main = predict_output(path, outdir, root=root, ext=ext)
        outs = [main]
        if compare and path.suffix.lower() not in VIDEO_EXTS:
            sub = main.parent.relative_to(outdir) if main.parent != outdir else Path()
            outs.append(outdir / "compare" / sub / f"{main.stem}{'.jpg' if main.suffix == '.jpg' else '.png'}")
        tasks.append(jobs.Task.for_file(path, outs, data=root))
    return tasks


def prepare_job(items: Sequence[tuple[Path, Path]], outdir: str | os.PathLike, options: RestoreOptions, *,
                aligned: bool = False, ext: str = "auto", save_faces: bool = False, compare: bool = False,
                guide: str | os.PathLike | None = None, guide_face: int | None = None, save_warped: bool = False,
                strip_metadata: bool = False, overwrite: bool = False,
                on_note: Callable[[str], None] | None = None):
    """The checks every engine runs before restoring anything (see :func:`restore_files`):
    returns ``(outdir, job, preflight, skipped outcomes)``; raises on conflicts."""
    outdir = jobs.prepare_outdir(outdir)
    items, dropped = check_folders(items, outdir)
    if dropped and on_note:
        on_note(f"skipped {dropped} file(s) inside the output folder {outdir} (earlier outputs)")
    if not items:
        raise HifaceError(f"no inputs left: all are inside the output folder {outdir}")
    settings = restore_settings(options, aligned=aligned, ext=ext, save_faces=save_faces, compare=compare,
                                save_warped=save_warped, guide=guide, guide_face=guide_face,
                                strip_metadata=strip_metadata)
    job = jobs.Job(outdir, settings, overwrite=overwrite)
    pf = job.preflight(plan_tasks(items, outdir, ext=ext, compare=compare))
    if pf.conflicts:
        raise ConflictError(pf.conflicts)
    return outdir, job, pf, [jobs.Outcome(t, "skipped", why) for t, why in pf.skip]


def restore_files(items: Sequence[tuple[Path, Path]], outdir: str | os.PathLike, options: RestoreOptions | None = None,
                  *, pipeline=None, aligned: bool = False, ext: str = "auto", save_faces: bool = False,
                  compare: bool = False, guide: str | os.PathLike | None = None, guide_face: int | None = None,
                  save_warped: bool = False, strip_metadata: bool = False, max_megapixels: float | None = None,
                  overwrite: bool = False, on_outcome: Callable[[jobs.Outcome], None] | None = None,
                  on_note: Callable[[str], None] | None = None,
                  wrap: Callable[[Iterable[jobs.Task]], Iterable[jobs.Task]] | None = None,
                  frame_progress: Callable[[Path], Callable] | None = None,
                  face_progress: Callable[[Path], Callable[[int, int], None]] | None = None) -> jobs.Summary:
    """Restore ``items`` ((file, root folder) pairs, see :func:`hiface.files.expand_inputs_with_roots`)
    into ``outdir``; returns the :class:`~hiface.jobs.Summary` (done/skipped/failed with reasons,
    and what a Ctrl-C left undone). Done outcomes carry the :class:`~hiface.photo.FileResult` in
    ``info``. Feedback: ``wrap`` wraps the iteration over inputs (a progress bar),
    ``frame_progress(path)`` wraps a video's frame iterator (it has a length: total and ETA),
    ``face_progress(path)`` returns a ``callback(faces_done, faces_total)`` for one photo.

    Raises (before restoring anything): :class:`~hiface.jobs.OutputFolderError` (folder cannot
    be created/written, or is an input folder), :class:`ConflictError` (outputs exist that this
    job did not make with these settings, without ``overwrite``)."""
    from .photo import DEFAULT_MAX_MEGAPIXELS, _as_float, load_pipeline, restore_file

    options = options or RestoreOptions()
    if max_megapixels is None:
        max_megapixels = DEFAULT_MAX_MEGAPIXELS
    outdir, job, pf, skipped = prepare_job(items, outdir, options, aligned=aligned, ext=ext, save_faces=save_faces,
                                           compare=compare, guide=guide, guide_face=guide_face,
                                           save_warped=save_warped, strip_metadata=strip_metadata,
                                           overwrite=overwrite, on_note=on_note)
    if not pf.run:
        return jobs.Summary(outcomes=skipped)

    pipe = pipeline if pipeline is not None else load_pipeline(options, cache=False)
    if not aligned or guide is not None:
        pipe.detector  # noqa: B018  (load the detector now: a missing weight file is one clear error)
    guide_px = None
    if guide is not None:
        from .io import read_image

        guide_px = _as_float(read_image(guide).pixels)

    def run_one(task: jobs.Task):
        pipe.progress = face_progress(task.source) if face_progress else None
        fr = restore_file(task.source, outdir, pipe, root=task.data, aligned=aligned, ext=ext,
                          save_faces=save_faces, compare=compare, guide=guide_px, guide_face=guide_face,
                          save_warped=save_warped, overwrite=overwrite or task.replace, strip_metadata=strip_metadata,
                          max_megapixels=max_megapixels,
                          progress=frame_progress(task.source) if frame_progress else None)
        fr.result = None  # do not keep every photo's pixels alive in the summary
        return [*fr.extra_outputs, fr.output], fr

    summary = job.run(pf.run, run_one, errors=(HifaceError, ValueError, OSError, MemoryError, RuntimeError),
                      on_outcome=on_outcome, wrap=wrap)
    summary.outcomes[:0] = skipped
    return summary
