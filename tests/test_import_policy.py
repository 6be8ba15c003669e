"""The import policy of hiface/__init__.py: the light paths load no heavy library."""
from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "cv2", "dlib", "scipy")

PROBE = """
import sys
{body}
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
"""


def _heavy_after(body: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(body=body, heavy=HEAVY)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("HEAVY=")][-1]
    return [m for m in line[6:].split(",") if m]


def test_import_hiface_and_registry_are_light():
    assert _heavy_after("import hiface; hiface.list_models(); hiface.get_model_config('hifacegan-lite')") == []


@pytest.mark.parametrize("argv", [["--help"], ["models", "--help"], ["restore", "--help"], ["degrade", "--help"],
                                  ["evaluate", "--help"], ["benchmark", "--help"], ["train", "--help"]])
def test_cli_help_paths_are_light(argv):
    body = ("from hiface.cli.main import main\nimport contextlib, io\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    rc = main({argv!r})\nassert rc == 0, rc")
    assert _heavy_after(body) == []
