"""hiface.degrade presets and pipelines: determinism, exact ranges, recorded params, replay."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from hiface.degrade import (
    JPEG,
    PRESETS,
    Degradation,
    GaussianBlur,
    OneOf,
    Range,
    Sequential,
    degrade,
    describe_preset,
    get_preset,
    image_seed,
    replay,
)
from hiface.errors import ConfigError

ALL = list(PRESETS)
N_DRAWS = 300


def face_like(h=48, w=48, seed=0) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w, y / h, 0.5 + 0.3 * np.sin(x / 5.0)], -1)
    tex = np.random.default_rng(seed).random((h, w, 3)).astype(np.float32) * 0.3
    return np.clip((base * 0.7 + tex) * 255, 0, 255).astype(np.uint8)


IMG = face_like()


def test_preset_names_exactly_as_specified():
    assert set(ALL) == {"hifacegan-sr", "hifacegan-blur", "hifacegan-noise", "hifacegan-jpeg",
                        "hifacegan-mosaic16", "hifacegan-fr", "gfpgan", "codeformer", "none", "mild"}
    with pytest.raises(ConfigError, match="hifacegan-fr"):
        get_preset("hifacegan-xx")


@pytest.mark.parametrize("name", ALL)
def test_same_seed_identical_bytes_and_size_preserved(name):
    a = degrade(IMG, name, seed=123)
    b = degrade(IMG, name, seed=123)
    assert a.image.tobytes() == b.image.tobytes()
    assert [d.to_dict() for d in a.ops] == [d.to_dict() for d in b.ops]
    assert a.image.shape == IMG.shape and a.image.dtype == np.uint8
    # different seeds give different outputs
    if name == "none":
        assert a.image.tobytes() == IMG.tobytes() and a.ops == []
    if name not in ("hifacegan-mosaic16", "none"):  # no randomness in these two
        outs = {degrade(IMG, name, seed=s).image.tobytes() for s in range(5)}
        assert len(outs) >= 4
    # an explicit generator is the same as the seed
    c = degrade(IMG, name, rng=np.random.default_rng(123))
    assert c.image.tobytes() == a.image.tobytes()


@pytest.mark.parametrize("name", ALL)
def test_replay_from_json_records_is_bit_identical(name):
    for s in range(3):
        r = degrade(IMG, name, seed=s)
        recs = json.loads(json.dumps([d.to_dict() for d in r.ops]))  # as stored in the manifest
        assert replay(IMG, recs).tobytes() == r.image.tobytes()


def test_float_input_gives_float_output():
    f = IMG.astype(np.float32) / 255
    r = degrade(f, "hifacegan-fr", seed=0)
    assert r.image.dtype == np.float32 and r.image.shape == IMG.shape
    assert 0 <= r.image.min() and r.image.max() <= 1
    r8 = degrade(IMG, "hifacegan-fr", seed=0)
    # same params; the uint8 path is the float path rounded once
    assert [d.to_dict() for d in r.ops] == [d.to_dict() for d in r8.ops]
    assert np.abs(np.rint(r.image * 255) - r8.image).max() <= 1


def test_seed_required():
    with pytest.raises(ValueError, match="seed"):
        degrade(IMG, "hifacegan-jpeg")


# ---------------------------------------------------------------------------------------------
# exact ranges over many draws

def _draws(name, n=N_DRAWS, img=None):
    img = face_like(32, 32) if img is None else img
    return [degrade(img, name, seed=s).ops for s in range(n)]


def _check_range(values, lo, hi, integer=False, cover=0.85):
    v = np.asarray(values, dtype=float)
    assert v.min() >= lo and v.max() <= hi, (v.min(), v.max(), lo, hi)
    # the whole interval is used (uniform sampling, not a narrower range)
    assert (v.max() - v.min()) >= cover * (hi - lo), (v.min(), v.max())
    if integer:
        assert np.all(v == np.round(v))


def test_ranges_hifacegan_sr():
    d = _draws("hifacegan-sr")
    assert all(len(o) == 1 and o[0].op == "downsample" for o in d)
    p = [o[0].params for o in d]
    _check_range([x["scale"] for x in p], 1 / 8, 1 / 4)
    assert {x["interpolation"] for x in p} == {"bicubic"} == {x["up_interpolation"] for x in p}
    assert all(x["size"] == [round(32 * x["scale"])] * 2 for x in p)


def test_ranges_hifacegan_blur():
    d = _draws("hifacegan-blur")
    ops = Counter(o[0].op for o in d)
    assert set(ops) == {"motion_blur", "gaussian_blur"} and min(ops.values()) > N_DRAWS * 0.35
    _check_range([o[0].params["length"] for o in d if o[0].op == "motion_blur"], 10, 20, integer=True, cover=1.0)
    _check_range([o[0].params["angle"] for o in d if o[0].op == "motion_blur"], 0, 360)
    _check_range([o[0].params["sigma"] for o in d if o[0].op == "gaussian_blur"], 3, 8)


def test_ranges_hifacegan_noise():
    d = _draws("hifacegan-noise")
    ops = Counter(o[0].op for o in d)
    assert set(ops) == {"gaussian_noise", "laplace_noise", "poisson_noise"}
    assert min(ops.values()) > N_DRAWS * 0.2
    _check_range([o[0].params["sigma"] for o in d if o[0].op == "gaussian_noise"], 20, 40)
    _check_range([o[0].params["scale"] for o in d if o[0].op == "laplace_noise"], 20, 40)
    _check_range([o[0].params["lam"] for o in d if o[0].op == "poisson_noise"], 15, 30)
    assert all(o[0].params["per_channel"] for o in d)


def test_ranges_hifacegan_jpeg():
    q = [o[0].params["quality"] for o in _draws("hifacegan-jpeg")]
    _check_range(q, 15, 50, integer=True, cover=1.0)


def test_mosaic16_preset():
    d = _draws("hifacegan-mosaic16", n=3)
    assert all(o[0].to_dict() == {"op": "mosaic", "block": 16, "up": True} for o in d)


def test_fr_applies_all_four_in_varying_orders():
    d = _draws("hifacegan-fr")
    families = {"gaussian_blur": "blur", "motion_blur": "blur", "gaussian_noise": "noise",
                "laplace_noise": "noise", "poisson_noise": "noise", "jpeg": "jpeg",
                "downsample": "down"}
    orders = Counter()
    for o in d:
        fam = [families[x.op] for x in o]
        assert sorted(fam) == ["blur", "down", "jpeg", "noise"]  # all four, once each
        orders[tuple(fam)] += 1
    assert len(orders) == 24  # every one of the 4! orders occurs
    assert max(orders.values()) < N_DRAWS * 0.1
    # each component keeps its single-task ranges
    by_op: dict[str, list] = {}
    for o in d:
        for x in o:
            by_op.setdefault(x.op, []).append(x.params)
    _check_range([p["quality"] for p in by_op["jpeg"]], 15, 50, integer=True, cover=1.0)
    _check_range([p["scale"] for p in by_op["downsample"]], 1 / 8, 1 / 4)
    _check_range([p["sigma"] for p in by_op["gaussian_blur"]], 3, 8, cover=0.8)
    _check_range([p["length"] for p in by_op["motion_blur"]], 10, 20, integer=True, cover=1.0)
    _check_range([p["sigma"] for p in by_op["gaussian_noise"]], 20, 40, cover=0.8)
    _check_range([p["lam"] for p in by_op["poisson_noise"]], 15, 30, cover=0.8)


@pytest.mark.parametrize("name,sigma,factor,noise,quality,jitter,gray", [
    ("gfpgan", (0.1, 10), (0.8, 8), (0, 20), (60, 100), 0.3, 0.01),
    ("codeformer", (1, 15), (4, 30), (0, 20), (30, 80), 0.0, 0.0),
])
def test_ranges_blind_face_family(name, sigma, factor, noise, quality, jitter, gray):
    img = face_like(64, 64)
    d = [degrade(img, name, seed=s).ops for s in range(N_DRAWS)]
    head = ["kernel_blur", "downsample", "gaussian_noise", "jpeg", "resize"]
    kinds, n_jit, n_gray = Counter(), 0, 0
    sx, fac, ns, q, shifts = [], [], [], [], []
    for o in d:
        names = [x.op for x in o]
        assert names[:5] == head and set(names[5:]) <= {"color_jitter", "grayscale"}
        k, dn, nz, jp, rs = (x.params for x in o[:5])
        assert k["size"] == 41
        kinds[k["kind"]] += 1
        sx += [k["sigma_x"], k["sigma_y"]]
        fac.append(dn["factor"])
        assert dn["interpolation"] == "bilinear" and dn["size"] == [int(64 // dn["factor"])] * 2
        assert rs == {"size": [64, 64], "interpolation": "bilinear"}
        ns.append(nz["sigma"])
        q.append(jp["quality"])
        for x in o[5:]:
            if x.op == "color_jitter":
                n_jit += 1
                shifts += x.params["shift"]
            else:
                n_gray += 1
    assert set(kinds) == {"iso", "aniso"}
    _check_range(sx, *sigma)
    _check_range(fac, *factor)
    _check_range(ns, *noise)
    _check_range(q, *quality, integer=True, cover=0.95)
    if jitter:
        assert abs(n_jit / N_DRAWS - jitter) < 0.08
        _check_range(shifts, -20, 20)
    else:
        assert n_jit == 0
    assert n_gray <= 10 if gray else n_gray == 0


@pytest.mark.parametrize("name,lr_shape", [("hifacegan-sr", None), ("gfpgan", None),
                                           ("codeformer", None), ("hifacegan-mosaic16", (4, 4, 3)),
                                           ("hifacegan-jpeg", (64, 64, 3))])
def test_lr_output_only_when_asked(name, lr_shape):
    img = face_like(64, 64)
    full = degrade(img, name, seed=5)
    assert full.image.shape == img.shape
    lr = degrade(img, name, seed=5, lr=True)
    if lr_shape is None:
        down = [x for x in lr.ops if x.op == "downsample"][0].params["size"]
        assert lr.image.shape == (down[0], down[1], 3)
        assert lr.image.shape[0] < 64 or name == "gfpgan"
    else:
        assert lr.image.shape == lr_shape
    assert replay(img, lr.ops).tobytes() == lr.image.tobytes()


def test_custom_pipeline_composition():
    pipe = Sequential([OneOf([GaussianBlur(Range(1.0, 2.0))]), JPEG(Range(30, 30, integer=True))])
    r = degrade(IMG, pipe, seed=0)
    assert r.order == ["gaussian_blur", "jpeg"] and r.ops[1].params == {"quality": 30}
    assert 1.0 <= r.ops[0].params["sigma"] <= 2.0
    assert str(r.ops[1]) == "jpeg(quality=30)"
    assert Degradation.from_dict(r.ops[0].to_dict()) == r.ops[0]


def test_image_seed_stable_and_name_dependent():
    assert image_seed(0, "a.png") == image_seed(0, "a.png")
    seeds = {image_seed(0, f"{i}.png") for i in range(100)} | {image_seed(1, "0.png")}
    assert len(seeds) == 101 and all(0 <= s < 2 ** 63 for s in seeds)


@pytest.mark.parametrize("name", ALL)
def test_describe_lists_ranges(name):
    text = describe_preset(name)
    assert text.startswith(name)
    expect = {"hifacegan-sr": ["1/8", "1/4", "bicubic"], "hifacegan-blur": ["[10, 20]", "[3, 8]"],
              "hifacegan-noise": ["[20, 40]", "[15, 30]", "Laplace", "Poisson"],
              "hifacegan-jpeg": ["[15, 50]"], "hifacegan-mosaic16": ["16x", "1/16"],
              "hifacegan-fr": ["random order", "[10, 20]", "[3, 8]", "[20, 40]", "[15, 30]",
                               "[15, 50]", "1/8"],
              "gfpgan": ["41", "[0.1, 10]", "[0.8, 8]", "[0, 20]", "[60, 100]", "0.3", "0.01"],
              "codeformer": ["41", "[1, 15]", "[4, 30]", "[0, 20]", "[30, 80]"],
              "none": ["in this order"], "mild": ["[0.3, 1.5]", "[0, 6]", "[60, 95]"]}[name]
    for e in expect:
        assert e in text, (e, text)
    json.dumps(PRESETS[name].spec())  # the machine-readable spec is JSON-serialisable


@pytest.mark.parametrize("name", ALL)
def test_gray_and_single_channel_inputs_keep_their_shape(name):
    g = IMG[..., 0]
    for s in range(12):  # enough seeds to hit the probabilistic colour steps of gfpgan
        assert degrade(g, name, seed=s).image.shape == g.shape
        assert degrade(g[..., None], name, seed=s).image.shape == g.shape + (1,)
