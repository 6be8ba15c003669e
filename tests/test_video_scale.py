"""Video at scale: frames streamed a few at a time (memory does not grow with length), faces of
several frames per model call, landmarks smoothed over time (less alignment jitter)."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("dlib")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _still_face_frames(n: int, sigma: float = 4.0, seed: int = 0, size: int = 192):
    """A still face with fresh sensor noise each frame: the detector's landmarks shake, the face does not."""
    base = np.asarray(Image.open(EXAMPLES / "portrait_old.jpg").convert("RGB").resize((size, size)), np.float32)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)


def _pipeline(model: str = "hifacegan-lite"):
    from hiface import models
    from hiface.faces.staged import ReplayRestorer
    from hiface.photo import RestoreOptions, _build_pipeline

    return _build_pipeline(RestoreOptions(model=model), restorer=ReplayRestorer(models.get_model_config(model)))


def test_one_euro_holds_still_points_and_follows_moves():
    from hiface.faces.smooth import OneEuro

    rng = np.random.default_rng(1)
    true = rng.uniform(0, 100, (68, 2))
    f = OneEuro(scale=40.0)
    raw = [true + rng.normal(0, 1.0, true.shape) for _ in range(60)]
    sm = [f(r) for r in raw]
    jit = lambda s: np.mean([np.abs(s[i] - s[i - 1]).mean() for i in range(20, 60)])  # noqa: E731
    assert jit(sm) < 0.35 * jit(raw)
    f = OneEuro(scale=40.0)
    for _ in range(10):
        f(true)
    assert np.abs(f(true + 20) - (true + 20)).mean() < 1.0  # a fast move is followed at once


def test_smoothing_reduces_alignment_jitter_on_a_shaking_clip():
    """The aligned crop of a still face: its frame-to-frame change (clean pixels warped by each
    frame's alignment, so only the alignment moves) drops with smoothing."""
    from hiface.faces.align import face_transform, warp_face
    from hiface.faces.pipeline import BORDER_VALUE
    from hiface.faces.smooth import FaceTracker

    pipe = _pipeline()
    frames = list(_still_face_frames(16))
    clean = np.asarray(Image.open(EXAMPLES / "portrait_old.jpg").convert("RGB").resize((192, 192)), np.float32) / 255
    tracker = FaceTracker()
    raw_c, sm_c = [], []
    for fr in frames:
        faces = pipe.detect(fr.astype(np.float32) / 255)
        assert len(faces) == 1
        smoothed = tracker(faces)
        for f, acc in ((faces[0], raw_c), (smoothed[0], sm_c)):
            M = face_transform(f, pipe.template, pipe.size)
            acc.append(warp_face(clean, M, pipe.size, border="constant", border_value=BORDER_VALUE))
    change = lambda cs: float(np.mean([np.abs(cs[i] - cs[i - 1]).mean() for i in range(4, len(cs))]))  # noqa: E731
    raw, sm = change(raw_c), change(sm_c)
    assert raw > 0.002, raw  # the detector does shake on this clip
    print(f"alignment jitter: raw {raw:.5f}, smoothed {sm:.5f} (mean |crop change|/frame)")
    assert sm < 0.5 * raw, (raw, sm)


def test_restore_frames_streams_with_bounded_memory():
    from hiface.faces.video import restore_frames
    from hiface.photo import RestoreOptions, load_pipeline

    pipe = load_pipeline(RestoreOptions(model="identity", upscale=1), cache=False)
    pulled = []

    def source(n):
        for i, fr in enumerate(_still_face_frames(n, size=192)):
            pulled.append(i)
            yield fr

    out = restore_frames(pipe, source(20), frames_per_batch=4)
    first = next(out)
    assert first.shape == (192, 192, 3) and first.dtype == np.uint8
    assert len(pulled) == 4  # only one batch of frames was read before the first came out
    count = [0]
    peaks = []
    for n in (4, 16):
        tracemalloc.start()
        k = sum(1 for _ in restore_frames(pipe, source(n), frames_per_batch=4, counter=count))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert k == n
    assert count[0] == 20  # one face per frame
    assert peaks[1] < peaks[0] * 1.15 + 2e6, peaks  # 4x the frames, not 4x the memory
