"""Fuzzing the command line with broken files (issue 15): truncated, bit-flipped and random-byte
images and weight files never cause a traceback or a partial output, and the batch goes on.
Bounded with hypothesis (derandomized, 40 + 30 examples; about 10 s on a busy 2-core CPU)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from hiface.cli.main import cli
from hiface.io import read_image

pytest.importorskip("dlib")
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _valid_images() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:48, 0:64]
    a = np.stack([x * 4, y * 5, (x + y) * 2], -1).astype(np.uint8)
    a = np.clip(a.astype(int) + rng.integers(-8, 8, a.shape), 0, 255).astype(np.uint8)
    out = {}
    for ext, kw in (("png", {}), ("jpg", {"quality": 90}), ("webp", {"quality": 80}), ("bmp", {}),
                    ("tif", {}), ("gif", {})):
        b = io.BytesIO()
        Image.fromarray(a).save(b, format={"jpg": "JPEG", "tif": "TIFF"}.get(ext, ext.upper()), **kw)
        out[ext] = b.getvalue()
    return out


VALID = _valid_images()


@st.composite
def broken_file(draw):
    ext = draw(st.sampled_from(sorted(VALID)))
    data = bytearray(VALID[ext])
    kind = draw(st.sampled_from(["truncate", "flip", "random", "empty_header"]))
    if kind == "truncate":
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif kind == "flip":
        for pos in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
            data[pos] ^= 1 << draw(st.integers(0, 7))
    elif kind == "random":
        data = bytearray(draw(st.binary(min_size=0, max_size=2048)))
    else:  # a valid header followed by garbage
        data = data[:min(len(data), 32)] + bytearray(draw(st.binary(min_size=1, max_size=512)))
    return ext, kind, bytes(data)


def _run(args) -> tuple[int, str]:
    r = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)  # an exception fails the test
    return r.exit_code, r.output + (r.stderr if r.stderr_bytes is not None else "")


def _no_leftovers(out: Path) -> None:
    left = [p.name for p in out.rglob(".*") if p.name != ".hiface-job.jsonl"]
    assert not left, left  # no temp files, no locks


@pytest.mark.filterwarnings("error::UserWarning")  # no raw Pillow/torch warnings reach the user
@FUZZ
@given(broken_file())
def test_broken_images_never_crash_the_batch(tmp_path_factory, case):
    ext, kind, data = case
    d = tmp_path_factory.mktemp("fz")
    (d / "in").mkdir()
    (d / "in" / f"bad.{ext}").write_bytes(data)
    (d / "in" / "good.png").write_bytes(VALID["png"])
    code, out = _run(["restore", d / "in", "-o", d / "out", "--model", "identity", "--no-progress"])
    assert "Traceback" not in out and code in (0, 1), (kind, out)
    assert (d / "out" / "good.png").is_file()  # the batch went on
    bad_out = [p for p in (d / "out").glob("bad.*")]
    if code == 1:
        assert "FAILED" in out and "bad." in out and not bad_out, out  # no partial output
    for p in bad_out:  # whatever was written is a whole, readable image
        assert read_image(p).pixels.ndim == 3
    _no_leftovers(d / "out")


@st.composite
def broken_weights(draw):
    import torch
    from safetensors.torch import save

    kind = draw(st.sampled_from(["pth", "safetensors"]))
    sd = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}
    if kind == "pth":
        b = io.BytesIO()
        torch.save(sd, b)
        data = bytearray(b.getvalue())
    else:
        data = bytearray(save(sd))
    how = draw(st.sampled_from(["truncate", "flip", "random", "intact"]))
    if how == "truncate":
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif how == "flip":
        for pos in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
            data[pos] ^= 1 << draw(st.integers(0, 7))
    elif how == "random":
        data = bytearray(draw(st.binary(min_size=0, max_size=1024)))
    return kind, how, bytes(data)


@pytest.mark.filterwarnings("error::UserWarning")
@settings(FUZZ, max_examples=30)
@given(broken_weights())
def test_broken_weight_files_are_one_clear_error(tmp_path_factory, case):
    kind, how, data = case
    d = tmp_path_factory.mktemp("fw")
    w = d / f"w.{kind}"
    w.write_bytes(data)
    (d / "p.png").write_bytes(VALID["png"])
    code, out = _run(["restore", d / "p.png", "-o", d / "out", "--weights", w, "--no-progress"])
    assert code == 1 and "Traceback" not in out, out
    assert "Error:" in out and str(w) in out, out  # names the file
    assert "arbitrary code" not in out, out  # never the dangerous-pickle advice for mere corruption
    assert not (d / "out" / "p.png").exists()
    _no_leftovers(d / "out")
