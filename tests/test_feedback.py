"""Feedback on long work (issue 15, item 7): faces within a photo, video frames with a total,
restore --progress/--no-progress."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import hiface
from hiface.io import read_image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
pytest.importorskip("dlib")


def test_pipeline_reports_faces_in_batches_with_identical_results():
    px = read_image(EXAMPLES / "group.jpg").pixels.astype(np.float32) / 255
    pipe = hiface.load_pipeline(model="identity", upscale=1, batch_size=2, cache=False)
    ref = pipe(px)
    seen = []
    pipe.progress = lambda done, total: seen.append((done, total))
    res = pipe(px)
    assert seen == [(0, 3), (2, 3), (3, 3)]  # 3 faces, batches of 2
    assert np.array_equal(res.image, ref.image)


def test_restore_progress_flag_shows_faces_and_files(tmp_path):
    from hiface.cli.restore import restore

    r = CliRunner().invoke(restore, [str(EXAMPLES / "group.jpg"), "-o", str(tmp_path / "a"), "--model", "identity",
                                     "--upscale", "1", "--batch-size", "1", "--progress"])
    assert r.exit_code == 0, r.output
    assert "group.jpg:   0%|          | 0/3" in r.output and "face/s" in r.output  # faces of the photo
    assert "restore: 100%" in r.output and "1/1" in r.output and "file/s" in r.output
    r = CliRunner().invoke(restore, [str(EXAMPLES / "group.jpg"), "-o", str(tmp_path / "b"), "--model", "identity",
                                     "--upscale", "1", "--no-progress"])
    assert r.exit_code == 0 and "face/s" not in r.output and "%|" not in r.output


def test_video_frames_have_a_total(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    from hiface.video import probe_video, process_video
    from test_video import _face_video

    src = _face_video(tmp_path / "c.mp4", n=12, fps=10, audio=False)
    assert probe_video(src).n_frames == 12
    totals = []

    def prog(it):
        totals.append(len(it))  # a progress bar gets the total, hence an ETA
        return it

    process_video(src, tmp_path / "o.mp4", lambda f: f, progress=prog)
    assert totals == [12] and imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "o.mp4"))[0] == 12
