"""RetinaFace MobileNet-0.25 in plain torch: anchors, decoding, weight loading, detection."""
from __future__ import annotations

import numpy as np
import pytest

from hiface.errors import WeightsError
from hiface.faces import retinaface as R
from test_faces_detect import WHOLE_COUNTS


def _weights(shared):
    return shared("weights", "retinaface-mobilenet0.25", "mobilenet0.25_Final.pth")


def test_prior_boxes_layout():
    pri = R.prior_boxes(64, 96, ((16, 32), (64, 128), (256, 512)))
    # ceil(64/8)*ceil(96/8)*2 + ceil(64/16)*ceil(96/16)*2 + ceil(64/32)*ceil(96/32)*2
    assert pri.shape == (8 * 12 * 2 + 4 * 6 * 2 + 2 * 3 * 2, 4)
    # first cell: centre (4, 4) px, sizes 16 then 32, normalised by width / height
    np.testing.assert_allclose(pri[0], [4 / 96, 4 / 64, 16 / 96, 16 / 64], rtol=1e-6)
    np.testing.assert_allclose(pri[1], [4 / 96, 4 / 64, 32 / 96, 32 / 64], rtol=1e-6)
    np.testing.assert_allclose(pri[2, :2], [12 / 96, 4 / 64], rtol=1e-6)  # next column
    odd = R.prior_boxes(65, 97)
    assert odd.shape[0] == (9 * 13 + 5 * 7 + 3 * 4) * 2


def test_decode_zero_deltas_give_the_anchor():
    pri = np.array([[0.5, 0.5, 0.2, 0.4]], np.float32)
    np.testing.assert_allclose(R.decode(np.zeros((1, 4)), pri), [[0.4, 0.3, 0.6, 0.7]], atol=1e-7)
    lm = R.decode_landmarks(np.ones((1, 10)), pri)
    np.testing.assert_allclose(lm[0, 0], [0.5 + 0.1 * 0.2, 0.5 + 0.1 * 0.4], atol=1e-7)
    wide = R.decode(np.array([[0, 0, np.log(2) / 0.2, 0]]), pri)
    np.testing.assert_allclose(wide[0, [0, 2]], [0.3, 0.7], atol=1e-6)


def test_network_layout_and_output_shapes():
    import torch

    net = R.RetinaFace().eval()
    with torch.no_grad():
        loc, conf, ldm = net(torch.zeros(1, 3, 64, 96))
    n = R.prior_boxes(64, 96).shape[0]
    assert loc.shape == (1, n, 4) and conf.shape == (1, n, 2) and ldm.shape == (1, n, 10)
    torch.testing.assert_close(conf.sum(-1), torch.ones(1, n))
    assert sum(p.numel() for p in net.parameters()) == 426_608


def test_bad_weight_files(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        R.RetinaFaceDetector(weights=tmp_path / "missing.pth")
    import torch

    p = tmp_path / "wrong.pth"
    torch.save({"body.stage1.0.0.weight": torch.zeros(3)}, p)
    with pytest.raises(WeightsError, match="does not fit"):
        R.RetinaFaceDetector(weights=p)


def test_default_weights_offline_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HIFACE_CACHE", str(tmp_path))
    monkeypatch.setenv("HIFACE_OFFLINE", "1")
    with pytest.raises(WeightsError, match="RetinaFace weights not found .*downloads are disabled.*facexlib.*weights=PATH.*the dlib detector"):
        R.RetinaFaceDetector()
    assert R.RETINAFACE_CONFIG["url"].endswith("/v0.1.0/detection_mobilenet0.25_Final.pth")


def test_shared_file_is_the_1mb_variant(shared):
    p = _weights(shared)
    assert R.detect_variant(p) == "1mb"


@pytest.fixture(scope="module")
def rf():
    from conftest import shared_path

    return R.RetinaFaceDetector(weights=shared_path("weights", "retinaface-mobilenet0.25", "mobilenet0.25_Final.pth"))


def test_variant_matters(rf, shared):
    """Run with the official variant's anchors/activations the 1MB weights give wrong boxes."""
    from hiface.io import read_image

    img = read_image(shared("data", "realworld", "whole", "codeformer_02.png")).pixels
    good = rf(img)
    assert len(good) == 4 and all(f.score > 0.95 for f in good)
    wrong = R.RetinaFaceDetector(weights=rf.path, variant="official")(img)
    if wrong:
        ed_good = np.median([f.eye_distance for f in good])
        assert abs(np.median([f.eye_distance for f in wrong]) - ed_good) > 0.2 * ed_good


def test_landmarks_agree_with_dlib(rf):
    from pathlib import Path

    import dlib  # noqa: F401  (declared dependency: faces/dev extras)

    from hiface.faces.dlib_detector import DlibDetector
    from hiface.io import read_image

    img = read_image(Path(__file__).resolve().parents[1] / "examples" / "group.jpg").pixels
    a, b = rf(img), DlibDetector(landmarks=68)(img)
    assert len(a) == len(b) == 3
    for fa, fb in zip(a, b):  # same order (left to right), same convention
        err = np.linalg.norm(fa.landmarks - fb.landmarks, axis=1).mean() / fb.eye_distance
        assert err < 0.2


@pytest.mark.shared
def test_retinaface_counts_on_shared_whole_photos(rf, shared):
    from hiface.io import read_image

    folder = shared("data", "realworld", "whole")
    got = {n: len(rf(read_image(folder / n).pixels)) for n in WHOLE_COUNTS}
    assert got == WHOLE_COUNTS
