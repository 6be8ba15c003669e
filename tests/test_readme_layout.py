"""README's Layout table matches the tree: every path it names exists, and every package and
top-level module of src/hiface is named in it."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _layout_paths() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    paths = []
    for row in section.splitlines():
        if row.startswith("| `"):
            first_cell = row.split("|")[1]
            paths += re.findall(r"`([^`]+)`", first_cell)
    return paths


def test_every_layout_path_exists():
    paths = _layout_paths()
    assert len(paths) >= 10
    missing = [p for p in paths if not (ROOT / p.rstrip("/")).exists()]
    assert not missing, f"README Layout names paths that do not exist: {missing}"


def test_every_package_and_module_is_in_the_layout():
    named = {p.rstrip("/") for p in _layout_paths()}
    src = ROOT / "src" / "hiface"
    entries = [p for p in src.iterdir() if (p.is_dir() and (p / "__init__.py").exists())]
    modules = [p for p in src.glob("*.py") if p.name != "__init__.py"]
    # small shared modules documented in their own docstrings need not each have a row
    allowed_unlisted = {"errors.py", "config.py", "io.py", "report.py", "weights.py", "baselines.py",
                        "video.py"}
    unlisted = [p.name for p in entries if str(p.relative_to(ROOT)) not in named]
    unlisted += [p.name for p in modules if str(p.relative_to(ROOT)) not in named and p.name not in allowed_unlisted]
    assert not unlisted, f"src/hiface entries missing from README's Layout table: {unlisted}"
