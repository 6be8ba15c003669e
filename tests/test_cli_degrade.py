"""`hiface degrade` end to end (through the real entry point) and the shared CLI helpers."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from hiface.cli._common import (
    BatchReport,
    InputsNotFoundError,
    expand_inputs,
    expand_inputs_with_roots,
    plan_output,
    progress,
)
from hiface.cli.main import main
from hiface.degrade import image_seed, replay
from hiface.errors import HifaceError, ImageReadError
from hiface.io import read_image, write_image


def _img(seed: int, h=40, w=40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 6, y * 6, (x + y) * 3], -1) % 256
    return np.clip(base + rng.integers(-30, 30, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture
def faces(tmp_path) -> Path:
    d = tmp_path / "faces"
    for i in range(6):
        write_image(d / f"f{i}.png", _img(i))
    write_image(d / "g.jpg", _img(9, 50, 30))  # non-square
    return d


def run(*args: str) -> int:
    return main(["degrade", *map(str, args)])


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


# ---------------------------------------------------------------------------------------------
# hiface degrade

def test_writes_pairs_and_manifest(faces, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(faces, "-o", out, "--preset", "hifacegan-fr", "--seed", "0", "--size", "32", "--pairs") == 0
    names = sorted(p.name for p in faces.iterdir())
    stems = sorted(Path(n).stem + ".png" for n in names)
    assert sorted(p.name for p in (out / "lq").iterdir()) == stems
    assert sorted(p.name for p in (out / "gt").iterdir()) == stems
    m = _manifest(out)
    assert m["preset"] == "hifacegan-fr" and m["seed"] == 0 and m["size"] == 32 and m["n_failed"] == 0
    assert m["preset_spec"]["pipeline"]["random_order"] is True
    assert [e["name"] for e in m["files"]] == names
    for e in m["files"]:
        assert e["status"] == "ok" and e["seed"] == image_seed(0, e["name"])
        lq = read_image(out / e["lq"]).pixels
        gt = read_image(out / e["gt"]).pixels
        assert lq.shape == gt.shape == (32, 32, 3) and e["size"] == e["lq_size"] == [32, 32]
        # the manifest regenerates the output exactly
        assert replay(gt, e["ops"]).tobytes() == lq.tobytes()
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert [r["name"] for r in rows] == names
    r0 = rows[0]
    assert int(r0["seed"]) == m["files"][0]["seed"]
    assert json.loads(r0["ops"]) == m["files"][0]["ops"]
    assert r0["order"] == ">".join(o["op"] for o in m["files"][0]["ops"])
    assert "7 done, 0 failed" in capsys.readouterr().err


def test_fr_orders_vary_across_files_in_manifest(tmp_path):
    src = tmp_path / "many"
    for i in range(16):
        write_image(src / f"{i:02d}.png", _img(i, 24, 24))
    out = tmp_path / "o"
    assert run(src, "-o", out, "--seed", "3") == 0
    fam = {"gaussian_blur": "blur", "motion_blur": "blur", "gaussian_noise": "noise",
           "laplace_noise": "noise", "poisson_noise": "noise", "jpeg": "jpeg", "downsample": "down"}
    orders = set()
    for e in _manifest(out)["files"]:
        f = [fam[o["op"]] for o in e["ops"]]
        assert sorted(f) == ["blur", "down", "jpeg", "noise"]
        orders.add(tuple(f))
    assert len(orders) >= 5


def test_refuses_to_overwrite_then_overwrites(faces, tmp_path):
    out = tmp_path / "out"
    assert run(faces, "-o", out, "--pairs") == 0
    snap = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # second run: refused (manifest and images untouched)
    assert run(faces, "-o", out, "--pairs") != 0
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snap
    # without the manifest, each existing image is refused individually, nothing replaced
    (out / "manifest.json").unlink()
    (out / "manifest.csv").unlink()
    assert run(faces, "-o", out, "--pairs") == 1
    m = _manifest(out)
    assert m["n_ok"] == 0 and all("exists" in e["reason"] for e in m["files"])
    for p, b in snap.items():
        if p.suffix == ".png":
            assert p.read_bytes() == b
    # --overwrite: same seed → the same bytes again (images and manifests)
    assert run(faces, "-o", out, "--pairs", "--overwrite") == 0
    for p, b in snap.items():
        assert p.read_bytes() == b, p


def test_never_overwrites_inputs(tmp_path):
    src = tmp_path / "in"
    write_image(src / "a.png", _img(1))
    before = (src / "a.png").read_bytes()
    assert run(src / "a.png", "-o", src, "--overwrite") == 1
    assert (src / "a.png").read_bytes() == before
    assert "input" in _manifest(src)["files"][0]["reason"]


def test_bad_files_reported_and_batch_continues(faces, tmp_path, capsys):
    (faces / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    (faces / "empty.png").write_bytes(b"")
    full = faces / "f0.png"
    (faces / "trunc.png").write_bytes(full.read_bytes()[:200])
    out = tmp_path / "out"
    assert run(faces, "-o", out) == 1
    err = capsys.readouterr().err
    for n in ("broken.jpg", "empty.png", "trunc.png"):
        assert f"FAILED {faces / n}" in err
    assert "7 done, 3 failed" in err
    m = _manifest(out)
    bad = {e["name"]: e["reason"] for e in m["files"] if e["status"] == "failed"}
    assert set(bad) == {"broken.jpg", "empty.png", "trunc.png"}
    assert "empty" in bad["empty.png"]
    assert len(list(out.glob("*.png"))) == 7


def test_adding_files_does_not_change_others(tmp_path):
    src = tmp_path / "in"
    for i in range(3):
        write_image(src / f"{i}.png", _img(i))
    assert run(src, "-o", tmp_path / "o1", "--seed", "7") == 0
    write_image(src / "new.png", _img(99))
    (src / "1.png").unlink()
    assert run(src, "-o", tmp_path / "o2", "--seed", "7") == 0
    for n in ("0.png", "2.png"):
        assert (tmp_path / "o1" / n).read_bytes() == (tmp_path / "o2" / n).read_bytes()
    assert run(src, "-o", tmp_path / "o3", "--seed", "8") == 0
    assert (tmp_path / "o1" / "0.png").read_bytes() != (tmp_path / "o3" / "0.png").read_bytes()


def test_lr_glob_recursive_and_structure(tmp_path):
    src = tmp_path / "in"
    write_image(src / "a.png", _img(1, 64, 64))
    write_image(src / "sub" / "b.png", _img(2, 64, 64))
    out = tmp_path / "o"
    assert run(src, "-o", out, "--preset", "hifacegan-sr", "--lr", "-r") == 0
    assert (out / "sub" / "b.png").is_file()
    for e in _manifest(out)["files"]:
        h, w = read_image(out / e["lq"]).pixels.shape[:2]
        assert [h, w] == e["lq_size"] == e["ops"][0]["size"] and 8 <= h <= 16
    out2 = tmp_path / "o2"
    assert run(str(src / "*.png"), "-o", out2, "--preset", "hifacegan-mosaic16", "--ext", "jpg") == 0
    assert sorted(p.name for p in out2.iterdir()) == ["a.jpg", "manifest.csv", "manifest.json"]


def test_alpha_is_kept(tmp_path):
    src = tmp_path / "in"
    alpha = np.tile(np.arange(32, dtype=np.uint8)[None] * 8, (32, 1))
    write_image(src / "t.png", _img(1, 32, 32), alpha)
    assert run(src, "-o", tmp_path / "o", "--preset", "hifacegan-jpeg") == 0
    np.testing.assert_array_equal(read_image(tmp_path / "o" / "t.png").alpha, alpha)


def test_list_and_usage_errors(tmp_path, capsys):
    assert run("--list") == 0
    text = capsys.readouterr().out
    for name in ("hifacegan-sr", "hifacegan-blur", "hifacegan-noise", "hifacegan-jpeg",
                 "hifacegan-mosaic16", "hifacegan-fr", "gfpgan", "codeformer"):
        assert f"{name}:" in text
    assert "U[1/8, 1/4]" in text and "U[60, 100]" in text and "random order" in text
    assert run(tmp_path / "nope" / "*.png", "-o", tmp_path / "o") == 2
    assert "no images match the pattern" in capsys.readouterr().err
    assert run("-o", tmp_path / "o") == 2
    assert not (tmp_path / "o").exists()
    assert run(tmp_path, "--preset", "nope", "-o", tmp_path / "o") == 2


def test_help_teaches():
    from click.testing import CliRunner

    from hiface.cli.degrade import degrade

    r = CliRunner().invoke(degrade, ["--help"])
    assert r.exit_code == 0 and "Examples:" in r.output and "--pairs" in r.output


# ---------------------------------------------------------------------------------------------
# _common helpers

def test_expand_inputs(tmp_path):
    for n in ("b.jpg", "a.PNG", "c.txt", ".hidden.png", "sub/d.webp", "sub/.tmp/e.png"):
        p = tmp_path / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    got = expand_inputs([tmp_path])
    assert [p.name for p in got] == ["a.PNG", "b.jpg"]
    got = expand_inputs([tmp_path], recursive=True)
    assert [p.name for p in got] == ["a.PNG", "b.jpg", "d.webp"]
    # glob + explicit + folder: de-duplicated and sorted; explicit non-image files are kept
    got = expand_inputs([str(tmp_path / "*.jpg"), tmp_path / "b.jpg", tmp_path, tmp_path / "c.txt"])
    assert [p.name for p in got] == ["a.PNG", "b.jpg", "c.txt"]
    roots = dict(expand_inputs_with_roots([tmp_path], recursive=True))
    assert roots[tmp_path / "sub" / "d.webp"] == tmp_path
    for bad, msg in (("nope.jpg", "no such file or folder"), ("*.gif", "no images match the pattern")):
        with pytest.raises(InputsNotFoundError, match=msg) as ei:
            expand_inputs([str(tmp_path / bad)])
        assert isinstance(ei.value, HifaceError) and bad in str(ei.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputsNotFoundError, match="contains no images"):
        expand_inputs([tmp_path / "empty"])


def test_plan_output(tmp_path):
    base = tmp_path / "in"
    assert plan_output(base / "a" / "b.jpg", tmp_path / "o", ext="png", suffix="_lq", base=base) \
        == tmp_path / "o" / "a" / "b_lq.png"
    assert plan_output(base / "b.jpg", tmp_path / "o", base=base) == tmp_path / "o" / "b.jpg"
    assert plan_output(base / "b.jpg", tmp_path / "o", ext=".webp") == tmp_path / "o" / "b.webp"
    # outside base: no structure
    assert plan_output(tmp_path / "x" / "c.png", tmp_path / "o", base=base) == tmp_path / "o" / "c.png"


def test_batch_report(capsys):
    r = BatchReport()
    r.add_ok("a.png")
    assert r.exit_code == 0 and r.summary() == "1 done, 0 failed"
    r.add_failed("b.png", ImageReadError("b.png", "truncated file"))
    r.note("something to know")
    err = capsys.readouterr().err
    assert "FAILED b.png: truncated file" in err and "note: something to know" in err
    assert r.exit_code == 1 and r.n_failed == 1 and r.summary().startswith("1 done, 1 failed")
    assert r.to_dict()["failed"] == [{"path": "b.png", "reason": "truncated file"}]
    assert r.finish() == 1


def test_progress_hidden_when_not_a_tty(capsys, monkeypatch):
    monkeypatch.delenv("HIFACE_PROGRESS", raising=False)
    assert list(progress(range(3), "x")) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    assert list(progress(range(3), "work", force=True)) == [0, 1, 2]
    assert "work" in capsys.readouterr().err
    monkeypatch.setenv("HIFACE_PROGRESS", "1")
    list(progress(range(2), "env"))
    assert "env" in capsys.readouterr().err


def test_outputs_inside_input_folder_are_not_reused(tmp_path, capsys):
    src = tmp_path / "faces"
    write_image(src / "a.png", _img(1))
    out = src / "lq"
    assert run(src, "-o", out, "-r") == 0
    assert run(src, "-o", out, "-r", "--overwrite") == 0
    assert "skipped 1 file(s) inside the output folder" in capsys.readouterr().err
    assert [e["name"] for e in _manifest(out)["files"]] == ["a.png"]
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "manifest.csv", "manifest.json"]
