"""GFRNet: warping, flow losses, WarpNet/RecNet, synthetic triples, the guided Restorer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hiface.archs.gfrnet import GFRNet, RecNet, WarpNet, flow_to_grid, gfrnet, grid_to_flow, identity_grid, warp
from hiface.errors import HifaceError
from hiface.losses.gfrnet import grid_to_pixel, landmark_loss, pixel_to_grid, sample_grid_at, symmetry_loss, tv_loss


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _img(b=1, s=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, s, s, generator=g)


# ----------------------------------------------------------------------------- warping
def test_identity_grid_leaves_reference_unchanged():
    ref = _img(2, 24)
    out = warp(ref, identity_grid(2, 24, 24))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_warpnet_starts_at_identity_and_leaves_reference_unchanged():
    net = WarpNet(size=32, ngf=4).eval()
    d, r = _img(2, 32, 1), _img(2, 32, 2)
    grid = net(d, r)
    assert grid.shape == (2, 32, 32, 2)
    torch.testing.assert_close(grid, identity_grid(2, 32, 32), atol=1e-6, rtol=0)
    torch.testing.assert_close(warp(r, grid), r, atol=1e-5, rtol=0)


def test_gfrnet_shapes_range_and_initial_output():
    net = gfrnet(size=32, ngf=4).eval()
    d, r = _img(2, 32, 1), _img(2, 32, 2)
    with torch.no_grad():
        y, w, grid = net(d, r)
    assert y.shape == d.shape and w.shape == r.shape and grid.shape == (2, 32, 32, 2)
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    # zero-initialised heads: RecNet starts at the degraded input, WarpNet at the identity
    torch.testing.assert_close(y, d, atol=2e-3, rtol=0)
    torch.testing.assert_close(w, r, atol=1e-5, rtol=0)
    with pytest.raises(HifaceError, match="shape"):
        net(d, _img(2, 16))
    with pytest.raises(HifaceError, match="power-of-two"):
        RecNet(size=48, ngf=4)


def test_encoder_goes_down_to_1x1_with_paper_widths():
    net = WarpNet(size=256, ngf=2)
    convs = [m for m in net.body.down.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [2 * m for m in (1, 2, 4, 8, 8, 8, 8, 8)]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    x = torch.zeros(1, 6, 256, 256)
    h = x
    for d in net.body.down:
        h = d(h)
    assert h.shape[-2:] == (1, 1)


def test_grid_flow_round_trip_and_pixel_conventions():
    g = identity_grid(1, 8, 8) + 0.1 * torch.randn(1, 8, 8, 2)
    torch.testing.assert_close(flow_to_grid(grid_to_flow(g)), g)
    p = torch.tensor([[[0.0, 0.0], [7.0, 3.0], [3.5, 3.5]]])
    torch.testing.assert_close(grid_to_pixel(pixel_to_grid(p, 8), 8), p)
    # pixel centres: column 0 -> -1 + 1/8 (align_corners=False)
    assert pixel_to_grid(p, 8)[0, 0].tolist() == pytest.approx([-0.875, -0.875])
    # reading the identity grid at a pixel gives that pixel back
    torch.testing.assert_close(grid_to_pixel(sample_grid_at(identity_grid(1, 8, 8), p), 8), p, atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- losses
def test_tv_loss_zero_for_constant_flow_positive_otherwise():
    const = torch.ones(2, 2, 16, 16) * torch.tensor([0.3, -0.2]).view(1, 2, 1, 1)
    assert float(tv_loss(const)) == 0.0
    assert float(tv_loss(flow_to_grid(const))) == pytest.approx(0.0, abs=1e-12)  # a shifted grid
    assert float(tv_loss(identity_grid(1, 16, 16))) == pytest.approx(0.0, abs=1e-12)
    ramp = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(1, 2, 16, 16)
    # horizontal neighbours differ by 1/15 everywhere, vertical ones not at all
    assert float(tv_loss(ramp)) == pytest.approx((1 / 15) ** 2, rel=1e-4)


def test_landmark_loss_values():
    s = 32
    pts = torch.rand(1, 68, 2) * 24 + 4
    grid = identity_grid(1, s, s)
    assert float(landmark_loss(grid, pts, pts)) == pytest.approx(0.0, abs=1e-10)
    # the reference landmarks are 2 px to the right: identity grid is off by 2 px = 4/32 normalised
    shifted = pts + torch.tensor([2.0, 0.0])
    assert float(landmark_loss(grid, pts, shifted)) == pytest.approx((4 / s) ** 2, rel=1e-4)
    # a grid that shifts by 2 px is exact
    g2 = grid + torch.tensor([4 / s, 0.0])
    assert float(landmark_loss(g2, pts, shifted)) == pytest.approx(0.0, abs=1e-10)
    # masked-out samples are ignored
    both = torch.cat([pts, pts]), torch.cat([pts, shifted])
    val = landmark_loss(identity_grid(2, s, s), *both, valid=torch.tensor([True, False]))
    assert float(val) == pytest.approx(0.0, abs=1e-10)


def test_symmetry_loss():
    assert float(symmetry_loss(identity_grid(1, 16, 16))) == pytest.approx(0.0, abs=1e-12)
    g = identity_grid(1, 16, 16).clone()
    g[..., :8, 1] += 0.2  # left half moves down, right half does not
    assert float(symmetry_loss(g)) > 0.005


def test_known_shift_is_recovered_by_landmark_supervised_flow():
    """A reference shifted by (+3, -2) px: a short optimisation of WarpNet on one pair with the
    landmark + TV losses recovers the shift at the landmarks and elsewhere in the face."""
    torch.manual_seed(0)
    s, shift = 32, torch.tensor([3.0, -2.0])
    gt = _img(1, s, 3)
    # reference content = gt moved by `shift`: ref(u) = gt(u - shift)
    ref = warp(gt, identity_grid(1, s, s) - pixel_to_grid(shift, s) + pixel_to_grid(torch.zeros(2), s))
    g = torch.Generator().manual_seed(1)
    pts = torch.rand(1, 68, 2, generator=g) * 16 + 8
    ref_pts = pts + shift
    net = WarpNet(size=s, ngf=8)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(150):
        grid = net(gt, ref)
        loss = 100 * landmark_loss(grid, pts, ref_pts) + 10 * tv_loss(grid)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        grid = net(gt, ref)
    got = grid_to_pixel(sample_grid_at(grid, pts), s) - pts
    err_lm = (got - shift).norm(dim=-1)
    assert float(err_lm.mean()) < 1.0, err_lm
    # off the landmarks (face centre) the smooth flow also points by the shift
    centre = grid_to_pixel(grid[0, 12:20, 12:20].reshape(-1, 2), s)
    yy, xx = torch.meshgrid(torch.arange(12, 20.0), torch.arange(12, 20.0), indexing="ij")
    disp = centre - torch.stack((xx, yy), -1).reshape(-1, 2)
    assert float((disp - shift).norm(dim=-1).mean()) < 1.5
    # and the warped reference matches the ground truth there (the sampler undoes the shift)
    w = warp(ref, grid)
    assert float((w - gt)[..., 10:22, 10:22].abs().mean()) < 0.5 * float((ref - gt)[..., 10:22, 10:22].abs().mean())


# ----------------------------------------------------------------------------- data
def test_mirror_permutation():
    from hiface.data.guided import MIRROR_68

    assert sorted(MIRROR_68.tolist()) == list(range(68))
    assert (MIRROR_68[MIRROR_68] == np.arange(68)).all()
    assert MIRROR_68[36] == 45 and MIRROR_68[48] == 54 and MIRROR_68[0] == 16
    assert MIRROR_68[30] == 30 and MIRROR_68[8] == 8 and MIRROR_68[62] == 62


def _dot_image(s, pts, k):
    img = np.zeros((s, s, 3), np.uint8)
    import cv2

    cv2.circle(img, tuple(int(round(v)) for v in pts[k]), 2, (255, 255, 255), -1)
    return img


@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_make_reference_moves_landmarks_with_the_image(flip):
    from hiface.data.guided import MIRROR_68, ReferenceParams, make_reference

    s = 96
    rng = np.random.default_rng(5)
    pts = (rng.random((68, 2)) * 40 + 28).astype(np.float32)
    params = ReferenceParams(flip=flip, color=0, brightness=0, gamma=(1, 1), light=0)
    for k in (36, 48, 8):
        gt = _dot_image(s, pts, k)
        ref, q = make_reference(gt, pts, np.random.default_rng(7), params)
        assert ref.shape == gt.shape and q.shape == (68, 2)
        w = ref[..., 0].astype(float)
        yy, xx = np.mgrid[0:s, 0:s]
        centre = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()
        j = MIRROR_68[k] if flip else k
        assert np.linalg.norm(centre - q[j]) < 1.0, (k, centre, q[j])
        if flip == 0.0:  # the geometric change is real
            assert np.linalg.norm(q[k] - pts[k]) > 0.5


def test_degrade_gfrnet_and_triples():
    from hiface.data.guided import GuidedTriples, degrade_gfrnet

    rng = np.random.default_rng(0)
    img = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    a = degrade_gfrnet(img, np.random.default_rng(3))
    b = degrade_gfrnet(img, np.random.default_rng(3))
    assert a.shape == img.shape and a.dtype == np.uint8
    assert (a == b).all()
    assert np.abs(a.astype(int) - img).mean() > 5  # random texture does not survive
    pts = (rng.random((68, 2)) * 30 + 17).astype(np.float32)
    ds = GuidedTriples([img, img[::-1].copy()], [pts, pts], seed=1, length=3)
    it = ds[2]
    assert len(ds) == 3
    for k in ("degraded", "reference", "gt"):
        assert it[k].shape == (3, 64, 64) and it[k].dtype == torch.float32
        assert 0 <= float(it[k].min()) and float(it[k].max()) <= 1
    assert it["gt_landmarks"].shape == it["ref_landmarks"].shape == (68, 2)
    torch.testing.assert_close(ds[2]["reference"], it["reference"])  # seeded -> reproducible


def test_split_is_deterministic(tmp_path):
    from hiface.data.guided import list_split, split_of

    for i in range(50):
        (tmp_path / f"{i}.jpg").write_bytes(b"x")
    tr, va = list_split(tmp_path, "train"), list_split(tmp_path, "val")
    assert len(tr) + len(va) == 50 and not set(tr) & set(va)
    assert all(split_of(p.name) == "val" for p in va)
    assert list_split(tmp_path, "train", limit=3) == tr[:3]


# ----------------------------------------------------------------------------- restorer
def _restorer(size=32):
    from hiface.models import create_restorer

    return create_restorer("gfrnet", weights=None, size=size, ngf=4, warp_ngf=4, warp_size=size // 2)


def test_registry_entry():
    from hiface.models import get_model_config

    cfg = get_model_config("gfrnet")
    assert cfg.guided and cfg.native_size == 256 and cfg.package_file
    from hiface.faces.templates import get_template

    assert get_template(cfg.template, cfg.native_size).shape == (5, 2)


def test_restorer_guide_broadcast_resize_and_warped():
    r = _restorer(32)
    faces, guide = _img(3, 48, 1), _img(1, 40, 2)[0]
    out = r.restore(faces, guide=guide)
    assert out.shape == faces.shape
    out2, warped = r.restore(faces, guide=guide, return_warped=True)
    torch.testing.assert_close(out2, out)
    assert warped.shape == faces.shape
    # identity warp at initialisation: the warped reference is the guide brought to the face size
    import torch.nn.functional as F

    g32 = F.interpolate(guide[None], size=(32, 32), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    g48 = F.interpolate(g32, size=(48, 48), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    torch.testing.assert_close(warped, g48.expand(3, -1, -1, -1), atol=1e-4, rtol=0)
    # chunking does not change anything; a single (3, H, W) face gives a single face back
    torch.testing.assert_close(r.restore(faces, guide=guide, batch_size=2), out, atol=1e-5, rtol=0)
    one, w1 = r.restore(faces[0], guide=guide, return_warped=True)
    assert one.shape == (3, 48, 48) and w1.shape == (3, 48, 48)
    torch.testing.assert_close(one, out[0], atol=1e-5, rtol=0)


def test_restorer_errors():
    r = _restorer(32)
    faces = _img(2, 32)
    with pytest.raises(HifaceError, match="guided restorer: it needs a reference photo") as ei:
        r.restore(faces)
    assert "--" not in str(ei.value)  # a Python error names no CLI flag
    with pytest.raises(HifaceError, match="'guide': got 3 for 2 faces"):
        r.restore(faces, guide=_img(3, 32))
    with pytest.raises(HifaceError, match="guide of shape"):
        r.restore(faces, guide=torch.rand(32, 32))
    with pytest.raises(HifaceError, match="fidelity"):
        r.restore(faces, guide=faces, fidelity=2.0)


def test_gfrnet_class_is_the_factory_product():
    assert isinstance(gfrnet(size=16, ngf=2), GFRNet)


def test_half_size_warpnet_keeps_identity_and_upsamples_the_flow():
    net = gfrnet(size=32, ngf=4, warp_size=16).eval()
    d, r = _img(2, 32, 1), _img(2, 32, 2)
    with torch.no_grad():
        y, w, grid = net(d, r)
    assert net.warpnet.size == 16 and grid.shape == (2, 32, 32, 2)
    torch.testing.assert_close(w, r, atol=1e-5, rtol=0)
    # a constant displacement predicted at 16² is the same constant displacement at 32²
    shift = torch.tensor([0.1, -0.05])
    net.warpnet.forward = lambda a, b: identity_grid(a.shape[0], 16, 16) + shift
    torch.testing.assert_close(net.predict_grid(d, r), identity_grid(2, 32, 32) + shift, atol=1e-6, rtol=0)
    with pytest.raises(HifaceError, match="warp_size"):
        gfrnet(size=16, ngf=4, warp_size=32)
