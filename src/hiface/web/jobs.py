"""One restore job of the web page: check the uploads against the limits, run every file through
:func:`hiface.photo.restore_file` (what ``hiface restore`` runs, so the outputs are the CLI's,
byte for byte), and collect what the page shows: a before/after pair per photo, the aligned
input | restored faces, per-face rows and timings, a zip of the outputs.

Progress and cancellation hook into a shallow copy of the cached pipeline: the detector and the
restorer are wrapped (timing, a cancel check, a progress call per model call) without changing
what they compute -- the restorer wrapper feeds the model the same ``batch_size`` chunks
:meth:`hiface.models.Restorer.restore` would. No gradio import here.
"""
from __future__ import annotations

import contextlib
import copy
import re
import subprocess
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import HifaceError
from ..io import IMAGE_EXTS
from ..photo import VIDEO_EXTS
from .choices import Settings, restore_options

__all__ = ["Limits", "LimitError", "Cancelled", "check_uploads", "check_output_size", "FaceRow",
           "PhotoResult", "run_job", "make_zip", "RUN_LOCK"]

#: one model run at a time in this process, whatever the web queue does (a cancelled job may
#: still be finishing its current model call when the next one starts)
RUN_LOCK = threading.Lock()

MB = 1 << 20

#: formats a browser shows; other outputs (TIFF) get a PNG preview for the page
_BROWSER_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class LimitError(HifaceError):
    """An upload breaks one of the page's limits (type, size, megapixels, number of files)."""


class Cancelled(HifaceError):
    """The user pressed Cancel."""


@dataclass(frozen=True)
class Limits:
    """What one job may contain (``hiface serve --max-...``)."""

    max_files: int = 10
    max_upload_mb: float = 50.0        #: per file (MB = 2**20 bytes, as the browser's message counts)
    max_megapixels: float = 16.0       #: input photo (or video frame)
    max_output_megapixels: float = 64.0
    max_video_seconds: float = 20.0

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MB)

    def describe(self) -> str:
        return (f"Up to {self.max_files} files of at most {self.max_upload_mb:g} MB and "
                f"{self.max_megapixels:g} megapixels each (results up to {self.max_output_megapixels:g} MP); "
                f"videos up to {self.max_video_seconds:g} s.")


def _types_text() -> str:
    return f"photos: {' '.join(IMAGE_EXTS)}; videos: {' '.join(VIDEO_EXTS)}"


def _display_name(p: Path) -> str:
    return p.name


def _video_seconds(path: Path) -> float | None:
    """Duration from ffmpeg's header dump (None when it does not say)."""
    from ..video import _ffmpeg

    r = subprocess.run([_ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    m = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", r.stderr)
    return None if not m else int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])


def _check_one(p: Path, limits: Limits) -> str | None:
    """The message for a file that cannot be restored here, or None when it is fine."""
    name = _display_name(p)
    ext = p.suffix.lower()
    if ext not in IMAGE_EXTS and ext not in VIDEO_EXTS:
        return f"{name}: not a photo or video hiface can read ({_types_text()})."
    try:
        size = p.stat().st_size
    except OSError as e:
        return f"{name}: cannot be read ({e.strerror or e})."
    if size > limits.max_upload_bytes:
        return f"{name}: {size / MB:.1f} MB is over the upload limit of {limits.max_upload_mb:g} MB per file."
    if size == 0:
        return f"{name}: the file is empty."
    if ext in VIDEO_EXTS:
        from ..video import probe_video

        try:
            info = probe_video(p)
        except HifaceError as e:
            return f"{name}: not a readable video ({getattr(e, 'reason', e)})."
        w, h = info.size
        if w * h > limits.max_megapixels * 1e6:
            return (f"{name}: frames of {w}×{h} = {w * h / 1e6:.1f} megapixels are over the limit of "
                    f"{limits.max_megapixels:g} MP.")
        secs = _video_seconds(p)
        if secs is not None and secs > limits.max_video_seconds:
            return (f"{name}: {secs:.1f} s is longer than the limit of {limits.max_video_seconds:g} s for videos; "
                    "cut it shorter or use `hiface restore` on the command line.")
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:  # reads the header only
            w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError) as e:
        why = "not an image file" if isinstance(e, UnidentifiedImageError) else str(e)
        return f"{name}: not a readable image ({why})."
    except Image.DecompressionBombError:
        return f"{name}: the image is far too large (over Pillow's safety limit)."
    if w * h > limits.max_megapixels * 1e6:
        return (f"{name}: {w}×{h} = {w * h / 1e6:.1f} megapixels is over the limit of {limits.max_megapixels:g} MP "
                "per photo; make it smaller first.")
    return None


def check_uploads(paths: list[str | Path], limits: Limits) -> tuple[list[Path], list[str]]:
    """Split uploads into (files to restore, one message per refused file).

    Raises LimitError when there are too many files or more than one video."""
    ps = [Path(p) for p in paths]
    if len(ps) > limits.max_files:
        raise LimitError(f"Too many files: {len(ps)} (at most {limits.max_files} per run). "
                         "Restore them in smaller groups.")
    ok, msgs = [], []
    for p in ps:
        m = _check_one(p, limits)
        (msgs.append(m) if m else ok.append(p))
    if sum(p.suffix.lower() in VIDEO_EXTS for p in ok) > 1:
        raise LimitError("Only one video per run: restore videos one at a time.")
    return ok, msgs


def check_output_size(p: Path, upscale: float, limits: Limits) -> str | None:
    """Message when ``p`` at ``upscale`` would exceed the output megapixel limit (None when it
    fits, or when ``p`` cannot be read: restoring it then says why)."""
    try:
        if p.suffix.lower() in VIDEO_EXTS:
            from ..video import probe_video

            w, h = probe_video(p).size
        else:
            from PIL import Image

            with Image.open(p) as im:
                w, h = im.size
    except Exception:  # noqa: BLE001 - unreadable: restore_file reports why
        return None
    ow, oh = int(round(w * upscale)), int(round(h * upscale))
    if ow * oh > limits.max_output_megapixels * 1e6:
        return (f"{_display_name(p)}: the result at up-scale {upscale:g} would be {ow}×{oh} = "
                f"{ow * oh / 1e6:.1f} megapixels, over the limit of {limits.max_output_megapixels:g} MP; "
                "choose a smaller up-scale.")
    return None


# -- results -----------------------------------------------------------------------------------
@dataclass
class FaceRow:
    """One restored face, as the page's table shows it."""

    photo: str
    face: int                   #: index among the faces found (0 = leftmost)
    box: str                    #: x0,y0-x1,y1 in the input photo
    eye_px: float               #: eye distance in the input (how small the face was)
    score: float                #: detector confidence
    restore_ms: float           #: model time for this face (its model call / faces in the call)
    decisions: str = ""         #: what the pipeline decided for it (when it says)

    def as_list(self) -> list:
        return [self.photo, self.face, self.box, round(self.eye_px, 1), round(self.score, 3),
                round(self.restore_ms, 1), self.decisions]


FACE_COLUMNS = ["photo", "face", "box (x0,y0-x1,y1)", "eye distance px", "detector score",
                "model ms/face", "decisions"]


@dataclass
class PhotoResult:
    """What one input became."""

    source: str                         #: the upload's file name
    output: Path | None = None          #: the restored file (what the CLI writes)
    preview: Path | None = None         #: what the page shows as "after" (the output itself when a browser can show it)
    before: Path | None = None          #: the input, enlarged to the output's size (for the slider)
    faces: list[tuple[Path, str]] = field(default_factory=list)  #: (input | restored image, caption)
    rows: list[FaceRow] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  #: seconds: detect, model, rest, total
    n_faces: int = 0
    is_video: bool = False
    note: str = ""                      #: e.g. no face found
    error: str = ""                     #: why it failed (then ``output`` is None)


# -- hooks around the cached pipeline ------------------------------------------------------------
class _Hooks:
    def __init__(self, cancel: threading.Event | None, on_event: Callable[[str, dict], None]):
        self.cancel = cancel
        self.on_event = on_event
        self.detect_s = 0.0
        self.model_s = 0.0
        self.face_ms: list[float] = []

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("cancelled")


class _TimedDetector:
    """Calls the real detector; times it and checks for Cancel first."""

    def __init__(self, inner, hooks: _Hooks):
        self._inner, self._hooks = inner, hooks

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __call__(self, image, *a, **kw):
        self._hooks.check()
        self._hooks.on_event("detect", {})
        t = time.perf_counter()
        faces = self._inner(image, *a, **kw)
        self._hooks.detect_s += time.perf_counter() - t
        self._hooks.on_event("detected", {"n": len(faces)})
        return faces


class _ObservedRestorer:
    """Calls the real restorer on the same ``batch_size`` chunks it would make itself, checking
    for Cancel before each chunk and reporting progress and time after it."""

    def __init__(self, inner, hooks: _Hooks):
        self._inner, self._hooks = inner, hooks

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def restore(self, faces, fidelity=None, batch_size=None, **kw):
        import torch

        n = int(faces.shape[0]) if faces.dim() == 4 else 1
        if faces.dim() != 4 or n == 0:
            return self._inner.restore(faces, fidelity=fidelity, batch_size=batch_size, **kw)
        bs = batch_size or n
        outs = []
        for i in range(0, n, bs):
            self._hooks.check()
            self._hooks.on_event("faces", {"done": i, "total": n})
            chunk = {k: (v[i:i + bs] if torch.is_tensor(v) and v.dim() == 4 and v.shape[0] == n else v)
                     for k, v in kw.items()}
            t = time.perf_counter()
            y = self._inner.restore(faces[i:i + bs], fidelity=fidelity, batch_size=bs, **chunk)
            dt = time.perf_counter() - t
            k = min(n, i + bs) - i
            self._hooks.model_s += dt
            self._hooks.face_ms += [1000.0 * dt / k] * k
            outs.append(y)
        self._hooks.on_event("faces", {"done": n, "total": n})
        if isinstance(outs[0], tuple):  # guided restorers return (faces, warped guides)
            return tuple(torch.cat(parts) for parts in zip(*outs))
        return torch.cat(outs)

    __call__ = restore


def _observed_pipeline(base, hooks: _Hooks):
    """A shallow copy of ``base`` whose detector and restorer report to ``hooks``."""
    det = base.detector  # load it now (a missing weight file is one clear error)
    pipe = copy.copy(base)
    pipe._detector = _TimedDetector(det, hooks)
    pipe.restorer = _ObservedRestorer(base.restorer, hooks)
    return pipe


# -- the job -----------------------------------------------------------------------------------
def _pair_image(crop: np.ndarray, restored: np.ndarray, gap: int = 4) -> np.ndarray:
    """input | restored side by side (uint8), with a white gap."""
    from ..photo import to_dtype

    h = crop.shape[0]
    sep = np.ones((h, gap, 3), np.float32)
    return to_dtype(np.concatenate([crop[..., :3], sep, restored[..., :3]], axis=1), np.uint8)


def _decision_text(res, k: int) -> str:
    d = getattr(res, "decisions", None)
    if d is None:
        return ""
    try:
        item = d[k]
    except (IndexError, KeyError, TypeError):
        item = d
    if isinstance(item, dict):
        return "; ".join(f"{a}: {b}" for a, b in item.items())
    return str(item)


def _write_before(src: Path, dst: Path, size: tuple[int, int]) -> Path:
    """The input enlarged (Lanczos) to the output's (width, height): the slider's "before"."""
    import cv2

    from ..io import read_image, write_image

    img = read_image(src)
    px = img.pixels
    if (px.shape[1], px.shape[0]) != size:
        px = cv2.resize(px, size, interpolation=cv2.INTER_LANCZOS4)
    return write_image(dst, px[..., 0] if img.was_gray else px, quality=92)


def _unique_outdir(run_dir: Path, name: str, used: set[tuple[str, int]]) -> Path:
    """Folder for an input called ``name`` so that no two outputs of a run share a path
    (``restored/``, then ``restored/2/``, ... for repeated names)."""
    stem, k = Path(name).stem.lower(), 1
    while (stem, k) in used:
        k += 1
    used.add((stem, k))
    return run_dir / "restored" if k == 1 else run_dir / "restored" / str(k)


@contextlib.contextmanager
def _exclusive(cancel: threading.Event | None, prog: Callable[[float, str], None]):
    """Hold :data:`RUN_LOCK`, waiting (cancellably) while another job finishes."""
    if not RUN_LOCK.acquire(blocking=False):
        prog(0.0, "waiting for the previous job to stop")
        while not RUN_LOCK.acquire(timeout=0.25):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
    try:
        yield
    finally:
        RUN_LOCK.release()


def _restore_one(p: Path, outdir: Path, run_dir: Path, pipe, hooks: _Hooks, upscale: float, limits: Limits,
                 prog: Callable[[float, str], None]) -> PhotoResult:
    from ..io import read_image, write_image
    from ..photo import restore_file

    hooks.detect_s = hooks.model_s = 0.0
    hooks.face_ms = []
    pr = PhotoResult(source=_display_name(p), is_video=p.suffix.lower() in VIDEO_EXTS)
    big = check_output_size(p, upscale, limits)
    if big:
        pr.error = big
        return pr
    t0 = time.perf_counter()
    try:
        if pr.is_video:
            def frames(it):
                for k, fr in enumerate(it):
                    hooks.check()
                    prog(-1.0, f"{pr.source}: frame {k + 1}")
                    yield fr
            fr = restore_file(p, outdir, pipe, root=p.parent, progress=frames)
        else:
            fr = restore_file(p, outdir, pipe, root=p.parent)
    except Cancelled:
        raise
    except HifaceError as e:
        pr.error = f"{pr.source}: {getattr(e, 'reason', None) or e}"
        return pr
    total = time.perf_counter() - t0
    pr.output, pr.n_faces = fr.output, fr.n_faces
    pr.timings = {"detect": hooks.detect_s, "model": hooks.model_s,
                  "rest": max(0.0, total - hooks.detect_s - hooks.model_s), "total": total}
    if pr.is_video:
        return pr
    res = fr.result
    if fr.no_face:
        pr.note = f"{pr.source}: no face found; the photo was only enlarged."
    out_h, out_w = res.image.shape[:2]
    side = run_dir / "page" / outdir.relative_to(run_dir)  # page-only images, never in the zip
    stem = fr.output.stem
    if fr.output.suffix.lower() in _BROWSER_EXTS:
        pr.preview = fr.output
    else:
        img = read_image(fr.output)
        pr.preview = write_image(side / f"{stem}_preview.png", img.pixels[..., 0] if img.was_gray else img.pixels)
    pr.before = _write_before(p, side / f"{stem}_before.jpg", (out_w, out_h))
    for k, (c, r) in enumerate(zip(res.crops, res.restored)):
        fi = res.restored_index[k] if res.restored_index else k
        path = write_image(side / f"{stem}_face{fi:02d}.png", _pair_image(c, r))
        pr.faces.append((path, f"{pr.source} · face {fi}: input | restored"))
        f = res.faces[fi] if fi < len(res.faces) else None
        box = "" if f is None else "{:.0f},{:.0f}-{:.0f},{:.0f}".format(*[float(v) for v in f.box])
        pr.rows.append(FaceRow(photo=pr.source, face=fi, box=box,
                               eye_px=0.0 if f is None else f.eye_distance,
                               score=0.0 if f is None else float(f.score),
                               restore_ms=hooks.face_ms[k] if k < len(hooks.face_ms) else 0.0,
                               decisions=_decision_text(res, k)))
    return pr


def run_job(paths: list[Path], settings: Settings, run_dir: Path, *, limits: Limits = Limits(),
            device: str = "cpu", progress: Callable[[float, str], None] | None = None,
            cancel: threading.Event | None = None) -> Iterator[PhotoResult]:
    """Restore ``paths`` (already checked with :func:`check_uploads`) into ``run_dir/restored``;
    yields one :class:`PhotoResult` per file as it is done. ``progress(fraction, text)`` is
    called while it works (fraction -1: unknown). Raises :class:`Cancelled` once ``cancel`` is
    set and :class:`HifaceError` for a problem that concerns every file (e.g. missing weights)."""
    from ..photo import load_pipeline

    prog = progress or (lambda f, t: None)
    run_dir.mkdir(parents=True, exist_ok=True)
    opts = restore_options(settings, device)
    n = len(paths)
    state = {"i": 0, "name": ""}

    def frac(within: float) -> float:
        return min(1.0, (state["i"] + within) / max(n, 1))

    def on_event(kind: str, info: dict) -> None:
        head = f"{state['name']} ({state['i'] + 1}/{n})"
        if kind == "detect":
            prog(frac(0.05), f"{head}: finding faces")
        elif kind == "detected":
            prog(frac(0.15), f"{head}: {info['n']} face(s) found")
        elif kind == "faces":
            d, t = info["done"], info["total"]
            msg = f"{head}: restoring face {d + 1} of {t}" if d < t else f"{head}: pasting {t} face(s) back"
            prog(frac(0.15 + 0.8 * d / max(t, 1)), msg)

    hooks = _Hooks(cancel, on_event)
    used: set[tuple[str, int]] = set()
    pipe = None
    for i, p in enumerate(paths):
        hooks.check()
        state["i"], state["name"] = i, _display_name(p)
        outdir = _unique_outdir(run_dir, p.name, used)
        with _exclusive(cancel, prog):  # the lock is never held across a yield
            if pipe is None:
                prog(0.0, f"loading {settings.model}")
                pipe = _observed_pipeline(load_pipeline(opts), hooks)
            pr = _restore_one(p, outdir, run_dir, pipe, hooks, opts.upscale, limits, prog)
        prog(frac(1.0), f"{pr.source}: done")
        yield pr


def make_zip(results: list[PhotoResult], run_dir: Path, dst: Path) -> Path:
    """All outputs of a run in one zip (names relative to ``run_dir/restored``)."""
    from ..io import atomic_path

    with atomic_path(dst, suffix=".zip") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
        for r in results:
            if r.output is not None:
                z.write(r.output, r.output.relative_to(run_dir / "restored").as_posix())
    return dst
