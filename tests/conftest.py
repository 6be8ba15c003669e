"""Shared fixtures. Tests that need ../shared skip with a reason when it is absent."""
from __future__ import annotations

import os
import re
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
