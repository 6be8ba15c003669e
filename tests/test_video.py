"""Video through `hiface restore`: frame count, fps and audio are kept."""
from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import dlib  # noqa: E402,F401  (declared dependencies: faces/video/dev extras)
import imageio_ffmpeg  # noqa: E402
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from hiface.cli.restore import restore  # noqa: E402
from hiface.errors import ImageWriteError  # noqa: E402
from hiface.video import _exact_fps, probe_video, process_video  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _face_video(path: Path, n=4, fps=10, audio=True):
    """n frames of the example portrait (shifted a little each frame), optional 440 Hz tone."""
    base = np.asarray(Image.open(EXAMPLES / "portrait_old.jpg").convert("RGB").resize((192, 192)))
    tmp = path.with_name("v_noaudio" + path.suffix) if audio else path
    w = imageio_ffmpeg.write_frames(str(tmp), (192, 192), fps=fps, codec="libx264", macro_block_size=1,
                                    quality=9, ffmpeg_log_level="error")
    w.send(None)
    for i in range(n):
        w.send(np.ascontiguousarray(np.roll(base, 2 * i, axis=1)))
    w.close()
    if audio:
        ff = imageio_ffmpeg.get_ffmpeg_exe()
        subprocess.run([ff, "-y", "-loglevel", "error", "-i", str(tmp), "-f", "lavfi", "-i",
                        f"sine=frequency=440:duration={n / fps}", "-c:v", "copy", "-c:a", "aac", "-shortest",
                        str(path)], check=True)
    return path


def test_video_keeps_frames_fps_and_audio(tmp_path):
    src = _face_video(tmp_path / "clip.mp4", n=4, fps=10, audio=True)
    r = CliRunner().invoke(restore, [str(src), "-o", str(tmp_path / "out"), "--model", "identity", "--upscale", "2"])
    assert r.exit_code == 0, r.output
    assert "1 file(s) done, 4 face(s) restored" in r.output  # one face per frame
    dst = tmp_path / "out" / "clip.mp4"
    info = probe_video(dst)
    assert info.fps == 10 and info.size == (384, 384) and info.has_audio
    assert imageio_ffmpeg.count_frames_and_secs(str(dst))[0] == 4


def test_process_video_no_audio_odd_size_and_overwrite(tmp_path):
    src = _face_video(tmp_path / "a.mkv", n=3, fps=25, audio=False)
    out = process_video(src, tmp_path / "b.mkv", lambda f: f[:-1, :-1])  # 191x191 -> padded to even
    assert out == {"frames": 3, "fps": 25, "size": (192, 192), "audio": False}
    assert imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "b.mkv"))[0] == 3
    with pytest.raises(ImageWriteError, match="already exists"):
        process_video(src, tmp_path / "b.mkv", lambda f: f)
    with pytest.raises(ImageWriteError, match="input video"):
        process_video(src, src, lambda f: f, overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_ntsc_rate_is_exact():
    assert _exact_fps(29.97) == Fraction(30000, 1001)
    assert _exact_fps(23.98) == Fraction(24000, 1001)
    assert _exact_fps(25.0) == 25 and _exact_fps(12.5) == Fraction(25, 2)
