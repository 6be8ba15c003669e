"""hiface.assets: one search order, one error (naming the file, where it looked, how to get it),
one checksum rule, one process-wide dlib loader."""
from __future__ import annotations

import hashlib

import pytest

from hiface import assets as A
from hiface.errors import MissingAssetError, UnavailableError, WeightsError


@pytest.fixture
def env(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("HIFACE_CACHE", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HIFACE_OFFLINE", "1")
    monkeypatch.delenv("HIFACE_TEST_ASSET", raising=False)
    return cache


def _asset(**kw) -> A.Asset:
    base = dict(what="test weights", filename="thing-00000000.pth", env="HIFACE_TEST_ASSET", option="--thing")
    return A.Asset(**{**base, **kw})


def test_search_order_explicit_env_cache_package(env, tmp_path, monkeypatch):
    a = _asset(package="hiface", package_dir=("weights",), filename="gfrnet.md")
    shipped = A.locate(a)  # step 3: the installed package's file
    assert shipped.parent.name == "weights" and shipped.name == "gfrnet.md"
    (env / "gfrnet.md").write_text("cached")
    assert A.locate(a) == env / "gfrnet.md"  # step 2 (cache) beats the package
    other = tmp_path / "env.md"
    other.write_text("env")
    monkeypatch.setenv("HIFACE_TEST_ASSET", str(other))
    assert A.locate(a) == other  # the environment variable beats the cache
    mine = tmp_path / "mine.md"
    mine.write_text("mine")
    assert A.locate(a, mine) == mine  # an explicit path beats everything
    with pytest.raises(MissingAssetError, match=r"test weights not found: .*nope\.md does not exist"):
        A.locate(a, tmp_path / "nope.md")


def test_missing_asset_error_names_file_places_and_remedy(env):
    a = _asset(url="https://example.org/thing-00000000.pth", package="no_such_package_xyz", install="pip install thing",
               download=True, alternative="or use --other")
    with pytest.raises(MissingAssetError) as ei:
        A.locate(a)
    msg = str(ei.value)
    assert msg.startswith("test weights not found (thing-00000000.pth); looked in: $HIFACE_TEST_ASSET (unset), ")
    assert str(env) in msg and "package no_such_package_xyz (not installed)" in msg
    assert "downloads are disabled (HIFACE_OFFLINE)" in msg
    assert "pip install thing" in msg and "download https://example.org/thing-00000000.pth" in msg
    assert "--thing" in msg and str(env / "thing-00000000.pth") in msg and msg.endswith("or use --other")
    assert isinstance(ei.value, WeightsError) and isinstance(ei.value, UnavailableError)


def test_checksum_rule(env, tmp_path):
    data = b"release bytes"
    digest = hashlib.sha256(data).hexdigest()
    good = env / f"thing-{digest[:8]}.pth"
    good.write_bytes(data)
    # found by hiface: the full sha256 is checked ...
    a = _asset(filename=good.name, sha256=digest)
    assert A.locate(a) == good
    with pytest.raises(WeightsError, match="checksum mismatch"):
        A.locate(A.Asset(**{**a.__dict__, "sha256": "0" * 64}))
    # ... an explicit file is the caller's own (not held to the release digest) ...
    mine = tmp_path / "converted.pth"
    mine.write_bytes(b"my fine-tune")
    assert A.locate(A.Asset(**{**a.__dict__, "sha256": "0" * 64}), mine) == mine
    # ... but a torch-hub-style name must carry its file's digest prefix, wherever it came from
    hub = _asset(hub_digest=True)
    liar = tmp_path / "thing-deadbeef.pth"
    liar.write_bytes(data)
    with pytest.raises(WeightsError, match="does not start with deadbeef"):
        A.locate(hub, liar)
    assert A.locate(hub, good) == good


def test_every_catalogue_entry_says_how_to_get_it():
    for key, a in A.ASSETS.items():
        assert a.what and a.filename, key
        assert a.install or a.url or a.option, f"{key}: no way to obtain it"
        assert bool(a.package) == bool(a.install), key


def test_resolve_weights_goes_through_assets(env, tmp_path):
    from hiface.models import get_model_config, resolve_weights

    cfg = get_model_config("gfrnet")
    p = resolve_weights(cfg, "default")
    assert p == A.package_weights_path(cfg.package_file) and p.is_file()
    assert resolve_weights(cfg, None) is None
    with pytest.raises(MissingAssetError, match="gfrnet weights not found: .*x.safetensors does not exist"):
        resolve_weights(cfg, tmp_path / "x.safetensors")
    with pytest.raises(MissingAssetError, match="no default weights; pass a file with weights=PATH"):
        resolve_weights(get_model_config("hifacegan"), "default")


def test_dlib_models_are_loaded_once_for_every_caller():
    import dlib  # noqa: F401  (declared dependency: faces/dev extras)

    from conftest import require
    from hiface.faces import dlib_detector
    from hiface.losses import identity
    from hiface.metrics import face

    det, sp68, sp5, rec = require(face._models)
    assert dlib_detector._load("hog") is det and dlib_detector._load("5") is sp5
    _, det2, sp5b = identity._detector()
    assert det2 is det and sp5b is sp5
    assert A.load_dlib("68") is sp68 and A.load_dlib("face_rec") is rec
    assert A.dlib_model_path("shape_predictor_5_face_landmarks.dat").name == "shape_predictor_5_face_landmarks.dat"
    with pytest.raises(ValueError, match="unknown dlib model"):
        A.load_dlib("mtcnn")
