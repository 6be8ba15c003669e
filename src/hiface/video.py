"""Video in, video out: decode frames with the ffmpeg binary that ships in the
``imageio-ffmpeg`` wheel, run each frame through a function (the face pipeline), re-encode with
the source frame rate (H.264, yuv420p) and copy the source's audio stream.

Writes atomically (temporary file in the target folder, then ``os.replace``).
"""
from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import ImageReadError, ImageWriteError, UnavailableError, flag
from .io import atomic_path

__all__ = ["VIDEO_EXTS", "is_video_path", "VideoInfo", "probe_video", "read_video_frames", "process_video"]

VIDEO_EXTS = (".mp4", ".mov", ".avi", ".mkv")


def is_video_path(p: str | os.PathLike) -> bool:
    return Path(p).suffix.lower() in VIDEO_EXTS


def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as e:
        raise UnavailableError("video needs imageio-ffmpeg: `pip install imageio-ffmpeg` "
                               "(it ships its own ffmpeg binary)") from e
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass
class VideoInfo:
    fps: Fraction
    size: tuple[int, int]     #: (width, height)
    has_audio: bool
    n_frames: int | None      #: from the container, when it says


def _exact_fps(fps: float) -> Fraction:
    """ffmpeg prints 29.97 for 30000/1001: restore NTSC rates exactly."""
    k = fps * 1.001
    if fps > 0 and abs(k - round(k)) < 0.005 and abs(fps - round(fps)) > 0.01:
        return Fraction(int(round(k)) * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame rate, size and audio presence of a video (raises ImageReadError when unreadable)."""
    p = Path(path)
    if not p.is_file():
        raise ImageReadError(p, "file not found")
    r = subprocess.run([_ffmpeg(), "-hide_banner", "-i", str(p)], capture_output=True, text=True)
    err = r.stderr
    vs = [ln for ln in err.splitlines() if re.search(r"Stream #.*Video:", ln)]
    if not vs:
        raise ImageReadError(p, "no video stream (not a video, or corrupt)")
    m = re.search(r"(\d+(?:\.\d+)?) fps", vs[0]) or re.search(r"(\d+(?:\.\d+)?) tbr", vs[0])
    fps = _exact_fps(float(m.group(1))) if m else Fraction(25)
    ms = re.search(r", (\d{2,5})x(\d{2,5})", vs[0])
    size = (int(ms.group(1)), int(ms.group(2))) if ms else (0, 0)
    has_audio = bool(re.search(r"Stream #.*Audio:", err))
    n_frames = None
    md = re.search(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)", err)
    if md and fps > 0:  # an estimate from the container's duration (for the progress bar's total and ETA)
        secs = int(md.group(1)) * 3600 + int(md.group(2)) * 60 + float(md.group(3))
        n_frames = max(1, int(round(secs * float(fps)))) if secs > 0 else None
    return VideoInfo(fps=fps, size=size, has_audio=has_audio, n_frames=n_frames)


class _Sized:
    """An iterator with a length (the estimated frame count), so progress bars show a total and ETA."""

    def __init__(self, it, n: int):
        self._it, self._n = it, n

    def __iter__(self):
        return iter(self._it)

    def __len__(self) -> int:
        return self._n


def read_video_frames(path: str | os.PathLike):
    """Yield (H, W, 3) uint8 RGB frames."""
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    w, h = meta["size"]
    for buf in gen:
        yield np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)


def _even(frame: np.ndarray) -> np.ndarray:
    """yuv420p needs even sides: replicate the last row/column when odd."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return np.ascontiguousarray(frame)


def process_video(src: str | os.PathLike, dst: str | os.PathLike, fn: Callable[[np.ndarray], np.ndarray] | None, *,
                  overwrite: bool = False, quality: float = 8, progress: Callable | None = None,
                  stream: Callable[[Iterator[np.ndarray]], Iterator[np.ndarray]] | None = None) -> dict:
    """Apply ``fn`` (uint8 RGB frame -> uint8 RGB frame, any fixed size) to every frame of
    ``src`` and write ``dst`` with the source fps and audio. Returns {frames, fps, size, audio}.
    ``stream`` instead of ``fn``: a generator from the frames to the output frames, in order
    (e.g. :func:`hiface.faces.video.restore_frames`, which works on a few frames at a time).
    Frames are decoded and encoded as they go: memory does not grow with the length."""
    import imageio_ffmpeg

    src, dst = Path(src), Path(dst)
    if dst.exists():
        try:
            same = os.path.samefile(src, dst)
        except OSError:
            same = False
        if same:
            raise ImageWriteError(dst, "refusing to overwrite the input video")
        if not overwrite:
            raise ImageWriteError(dst, f"file already exists (use {flag('--overwrite', 'overwrite=True')} to replace it)")
    info = probe_video(src)
    frames = 0
    writer = None
    size = None
    with atomic_path(dst, suffix=dst.suffix) as tmp:  # ffmpeg picks the container from the suffix
        try:
            it = read_video_frames(src)
            if progress is not None:
                it = progress(_Sized(it, info.n_frames) if info.n_frames else it)
            outs = stream(iter(it)) if stream is not None else (fn(frame) for frame in it)
            for out in outs:
                out = _even(np.asarray(out, dtype=np.uint8))
                if writer is None:
                    size = (out.shape[1], out.shape[0])
                    codec = "mpeg4" if dst.suffix.lower() == ".avi" else "libx264"
                    writer = imageio_ffmpeg.write_frames(
                        str(tmp), size, fps=info.fps, codec=codec, quality=quality, macro_block_size=1,
                        audio_path=str(src) if info.has_audio else None,
                        audio_codec="copy" if info.has_audio else None, ffmpeg_log_level="error")
                    writer.send(None)
                elif (out.shape[1], out.shape[0]) != size:
                    raise ImageWriteError(dst, f"frame {frames} has size {out.shape[1]}x{out.shape[0]}, expected {size}")
                writer.send(out)
                frames += 1
            if writer is None:
                raise ImageReadError(src, "the video has no frames")
        except BaseException:
            if writer is not None:
                try:
                    writer.close()
                except Exception:
                    pass
            raise
        writer.close()  # flushes ffmpeg; errors here propagate and the temp file is dropped
    return {"frames": frames, "fps": info.fps, "size": size, "audio": info.has_audio}
