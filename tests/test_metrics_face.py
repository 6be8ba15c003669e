"""FED / LLE (dlib) on a shared FFHQ face: zero for identical images, growing with blur, and
images without a face counted and excluded."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def face_256():
    import cv2

    from conftest import shared_path
    from hiface.io import read_image

    p = shared_path("data", "faces", "ffhq1024", "00001.png")
    return cv2.resize(read_image(p).pixels, (256, 256), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def face_mod():
    from conftest import require
    from hiface.metrics import face

    require(face._models)
    return face


def test_identical_images_give_zero(face_mod, face_256):
    s = face_mod.face_pair_scores(face_256, face_256.copy())
    assert s.found_restored and s.found_gt
    assert s.fed == 0.0 and s.lle == 0.0
    a = face_mod.analyze_face(face_256)
    assert a.landmarks.shape == (68, 2) and a.embedding.shape == (128,)
    l, t, r, b = a.box
    assert 0 <= l < r <= 256 and 0 <= t < b <= 256


def test_fed_grows_with_blur(face_mod, face_256):
    import cv2

    feds, lles = [], []
    for sigma in (1.0, 2.5, 4.0):
        s = face_mod.face_pair_scores(cv2.GaussianBlur(face_256, (0, 0), sigma), face_256)
        assert s.fed is not None, f"no face found at blur sigma {sigma}"
        feds.append(s.fed)
        lles.append(s.lle)
    assert 0 < feds[0] < feds[1] < feds[2], feds
    assert all(v >= 0 for v in lles)
    assert face_mod.fed(face_256, face_256) == 0.0


def test_no_face_is_counted_and_excluded(face_mod, face_256):
    from hiface.metrics.evaluator import EvalSettings, Evaluator, summarize

    flat = np.full_like(face_256, 128)
    s = face_mod.face_pair_scores(flat, face_256)
    assert (s.fed, s.lle, s.found_restored, s.found_gt) == (None, None, False, True)
    ev = Evaluator(EvalSettings(("psnr", "fed", "lle")))
    res = ev.score_group({"same": face_256, "flat": flat}, face_256)
    summ = summarize(list(res.values()), ["psnr", "fed", "lle"], ev.unavailable)
    assert summ["faces"] == {"no_face_restored": 1, "no_face_gt": 0, "excluded": 1, "used": 1}
    assert summ["metrics"]["fed"]["n"] == 1 and summ["metrics"]["fed"]["excluded"] == 1
    assert summ["metrics"]["fed"]["mean"] == 0.0
    assert summ["metrics"]["psnr"]["n"] == 2  # the pixel metrics still use every image


def test_paper72_layout(face_mod, face_256):
    import cv2

    assert len(face_mod.PAPER72) == 72 and sorted(set(face_mod.PAPER72)) == list(range(68))
    blurred = cv2.GaussianBlur(face_256, (0, 0), 2.0)
    a = face_mod.face_pair_scores(blurred, face_256)
    b = face_mod.face_pair_scores(blurred, face_256, layout="paper72")
    assert a.fed == b.fed and a.lle is not None and b.lle is not None
    fr, fg = face_mod.analyze_face(blurred), face_mod.analyze_face(face_256)
    d = np.linalg.norm(fr.landmarks - fg.landmarks, axis=1)
    extra = d[[60, 64, 48, 54]].sum()  # the four lip points face_landmarks() lists twice
    assert b.lle == pytest.approx((d.sum() + extra) / 72)
