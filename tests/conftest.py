"""Shared fixtures. Tests that need ../shared skip with a reason when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HIFACE_SHARED", ROOT.parent / "shared"))

# keep the 2-core machines responsive and runs reproducible
os.environ.setdefault("HIFACE_OFFLINE", "1")


def shared_path(*parts: str) -> Path:
    """Path inside ../shared, or skip the calling test with a reason."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared material not available: {p} (set HIFACE_SHARED or place ../shared)")
    return p


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
