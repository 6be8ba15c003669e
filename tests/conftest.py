"""Shared fixtures. Tests that need ../shared or an optional weight package skip with a reason
when it is absent -- through :func:`skip_missing`, which fails instead when
``HIFACE_REQUIRE_SHARED=1`` (CI sets it, so a missing resource can never silently stop a test)."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HIFACE_SHARED", ROOT.parent / "shared"))

#: set by CI (.ci/run): a missing ../shared file or weight package fails the test instead of skipping it
REQUIRE_SHARED = os.environ.get("HIFACE_REQUIRE_SHARED", "").lower() in ("1", "true", "yes")

# keep the 2-core machines responsive and runs reproducible
os.environ.setdefault("HIFACE_OFFLINE", "1")


def skip_missing(reason: str) -> NoReturn:
    """Skip the calling test because a resource is missing; a failure under HIFACE_REQUIRE_SHARED=1."""
    if REQUIRE_SHARED:
        pytest.fail(f"required resource missing (HIFACE_REQUIRE_SHARED=1): {reason}", pytrace=False)
    pytest.skip(reason)


def require(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, or :func:`skip_missing` when it raises UnavailableError (a weight
    package or model file that is not installed)."""
    from hiface.errors import UnavailableError

    try:
        return fn(*args, **kwargs)
    except UnavailableError as e:
        skip_missing(str(e))


def shared_path(*parts: str) -> Path:
    """Path inside ../shared, or skip the calling test with a reason (see :func:`skip_missing`)."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        skip_missing(f"shared material not available: {p} (set HIFACE_SHARED or place ../shared)")
    return p


def checkpoint_keys(name: str) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) rows of ``../shared/reference/checkpoint-keys/<name>``, in file order."""
    out = []
    for line in shared_path("reference", "checkpoint-keys", name).read_text().splitlines():
        m = re.fullmatch(r"(\S+) \(([\d, ]*)\)", line.strip())
        assert m, f"unexpected line in {name}: {line!r}"
        out.append((m[1], tuple(int(v) for v in m[2].replace(" ", "").split(",") if v)))
    return out


@pytest.fixture
def shared():
    return shared_path


@pytest.fixture(autouse=True)
def _torch_threads():
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    n = torch.get_num_threads()
    torch.manual_seed(0)
    yield
    torch.set_num_threads(n)
