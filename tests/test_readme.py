"""Every ```python block of README.md runs as written (offline, shipped model), from the
repository root's point of view (examples/ is linked into a temporary folder)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
pytest.importorskip("dlib")


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 3
    assert any("restore_image" in b for b in BLOCKS) and any("restore_files" in b for b in BLOCKS)


@pytest.mark.parametrize("k", range(len(BLOCKS)))
def test_readme_block_runs(k, tmp_path, monkeypatch, capsys):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[k], f"README.md block {k}", "exec"), {"__name__": f"readme_{k}"})
    out = capsys.readouterr().out
    if "restore_image" in BLOCKS[k]:
        assert "(768, 768, 3) float32 1" in out and (tmp_path / "restored.png").is_file()
        assert (tmp_path / "restored" / "group.jpg").is_file()
    if "restore_files" in BLOCKS[k]:
        assert "4 done, 0 failed" in out and (tmp_path / "restored-all" / ".hiface-job.jsonl").is_file()
    if "create_restorer" in BLOCKS[k]:
        assert "256 dlib-chip" in out and "uint8" in out
