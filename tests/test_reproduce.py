"""`hiface reproduce`: the tiny budget end to end (every table and figure, expected rows and
columns), determinism of the tables, budgets, face selection and CLI errors."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from hiface.cli.main import main
from hiface.errors import ConfigError, HifaceError
from hiface.reproduce import BUDGETS, OUT_FILES, get_budget, select_faces
from hiface.reproduce.ablation import VARIANTS
from hiface.reproduce.subtasks import DEFAULT_MODEL, DEFAULT_RAW, OPTIONAL_MODELS, SUBTASKS

pytest.importorskip("matplotlib", reason="the reproduce extra (matplotlib) is not installed")

BASELINES = ["degraded", "bicubic", "nlmeans"]
TINY_METRICS = ["PSNR ↑", "SSIM ↑", "NIQE ↓", "FED ↓", "LLE ↓"]


def _tables(md: str) -> list[list[list[str]]]:
    """Markdown tables of ``md`` as lists of rows of cells (separator rows dropped)."""
    out, cur = [], []
    for ln in md.splitlines() + [""]:
        if ln.startswith("|"):
            if not ln.startswith("|---"):
                cur.append([c.strip() for c in ln.strip().strip("|").split("|")])
        elif cur:
            out.append(cur)
            cur = []
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny runs with the same command and seed: the first through the CLI, the second
    through the API with its ablation runs trained two at a time in worker processes."""
    from conftest import shared_path
    from hiface.reproduce import run_reproduce

    data = shared_path("data", "faces", "utk200")
    base = tmp_path_factory.mktemp("repro")
    a, b = base / "a", base / "b"
    assert main(["reproduce", "--budget", "tiny", "--data", str(data), "-o", str(a), "-q"]) == 0
    notes: list[str] = []
    run_reproduce(b, budget=get_budget("tiny", ab_parallel=2), data=data, progress=False, note=notes.append)
    assert sum("done:" in n and "s/step" in n for n in notes) == 6     # every run came back from a worker
    return a, b


@pytest.mark.slow  # two tiny end-to-end runs (7 sub-tasks + 6 training runs each): ~1-2 min quiet
def test_tiny_run_writes_every_table_and_figure(runs):
    out = runs[0]
    for f in OUT_FILES:
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    md = (out / "tables.md").read_text()
    tables = _tables(md)
    # 7 sub-task tables, then the ablation's variant table and its per-run table
    assert len(tables) == len(SUBTASKS) + 2
    rows_expected = [*BASELINES, DEFAULT_MODEL, DEFAULT_RAW, *OPTIONAL_MODELS]
    for key, t in zip(SUBTASKS, tables):
        assert f"### {key}: " in md
        assert t[0] == ["method", *TINY_METRICS, "images", "FED/LLE faces"]
        assert [r[0] for r in t[1:]] == rows_expected
        for r in t[1:4]:  # baselines and the default model have numbers (PSNR, SSIM) on 2 faces
            assert re.fullmatch(r"\d+\.\d\d", r[1]) and re.fullmatch(r"0\.\d{4}", r[2]) and r[-2] == "2", r
            assert r[3].startswith("n/a (NIQE needs")   # 64² faces: too small for NIQE, and it says so
        raw = t[1 + len(BASELINES) + 1]  # the raw network (--fidelity 1) has numbers too
        assert re.fullmatch(r"\d+\.\d\d", raw[1]) and raw[-2] == "2", raw
        for r in t[2 + len(BASELINES) + 1:]:  # no official weights on the test machine
            assert r[1:6] == ["weights not present"] * 5 and r[-2] == "0"
        assert (out / "subtasks" / key / "contact_sheet.jpg").is_file()
        assert (out / "subtasks" / key / "manifest.json").is_file()
    ab, per_run = tables[-2], tables[-1]
    assert ab[0][0].startswith("variant") and ab[0][-2:] == ["seeds", "params"]
    assert [r[0] for r in ab[1:]] == [v[2] for v in VARIANTS.values()]
    seeds = [r[-2] for r in ab[1:]]
    assert sorted(seeds) == ["0", "0", "0, 1", "0, 1"]  # two seeds for the winner and the runner-up
    assert [r[0] for r in per_run[1:]][:5] == ["degraded", "a-seed0", "b-seed0", "c-seed0", "d-seed0"]
    assert len(per_run) == 1 + 1 + 6
    assert "budget `tiny`: 2 steps x batch 1 at 64²" in md          # the caption states the budget
    # figures: real PNGs of the expected layout
    from hiface.io import read_image

    for f, min_w in (("summary.png", 1000), ("ablation_curves.png", 1000)):
        img = read_image(out / f).pixels
        assert img.shape[1] >= min_w and img.std() > 5, f
    sheet = read_image(out / "ablation_sheet.jpg").pixels
    assert sheet.shape[0] > 2 * 128 and sheet.shape[1] > 6 * 128   # 2 faces x (input, 4 variants, gt)
    # curves: loss and validation at steps 0 and 2 for every run
    doc = json.loads((out / "tables.json").read_text())
    assert set(doc["ablation"]["curves"]) == {"a-seed0", "b-seed0", "c-seed0", "d-seed0",
                                             *(f"{v}-seed1" for v in doc["ablation"]["ranked"][:2])}
    for c in doc["ablation"]["curves"].values():
        assert [v["step"] for v in c["val"]] == [0, 2] and [s for s, _ in c["loss_g"]] == [1, 2]
    # report: command, machine, wall time; HTML self-contained
    rep = (out / "report.md").read_text()
    assert "- command: `hiface reproduce --budget tiny" in rep and "- machine: " in rep and "- wall time: " in rep
    assert md.split("\n", 1)[1] in rep
    html = (out / "report.html").read_text()
    assert html.count("<table>") == len(tables) and html.count("data:image/") == len(SUBTASKS) + 3
    meta = json.loads((out / "reproduce.json").read_text())
    assert meta["budget"]["name"] == "tiny" and meta["timing"]["total_s"] > 0
    assert set(meta["timing"]["ablation_runs"]) == set(doc["ablation"]["curves"])
    hold = json.loads((out / "holdout.json").read_text())
    assert len(hold["holdout"]) == 2 and sorted(p.name for p in (out / "holdout").iterdir()) == sorted(hold["holdout"])


@pytest.mark.slow
def test_two_tiny_runs_give_identical_tables(runs):
    a, b = runs
    assert (a / "tables.json").read_bytes() == (b / "tables.json").read_bytes()
    assert (a / "tables.md").read_bytes() == (b / "tables.md").read_bytes()
    def manifest(run: Path, key: str) -> dict:  # every sampled degradation parameter; paths differ
        m = json.loads((run / "subtasks" / key / "manifest.json").read_text())
        for f in m["files"]:
            assert Path(f.pop("input")).parent == run / "holdout"
        return m

    for key in SUBTASKS:
        assert manifest(a, key) == manifest(b, key)
    assert (a / "holdout.json").read_bytes() == (b / "holdout.json").read_bytes()


def test_select_faces_is_seeded_disjoint_and_nested(tmp_path):
    for i in range(30):
        (tmp_path / f"f{i:02d}.png").write_bytes(b"x")
    a = select_faces(tmp_path, 0, 5, 3, 10)
    assert [len(a[k]) for k in ("holdout", "val", "train")] == [5, 3, 10]
    names = [set(p.name for p in a[k]) for k in ("holdout", "val", "train")]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert select_faces(tmp_path, 0, 5, 3, 10) == a
    assert select_faces(tmp_path, 0, 8, 3, 10)["holdout"][:5] == a["holdout"]   # a larger budget contains it
    assert select_faces(tmp_path, 1, 5, 3, 10)["holdout"] != a["holdout"]
    with pytest.raises(HifaceError, match="has 30 images; this budget needs at least 34"):
        select_faces(tmp_path, 0, 30, 3, 10)
    with pytest.raises(HifaceError, match="not found"):
        select_faces(tmp_path / "nope", 0, 1, 0, 0)


def test_budgets_and_overrides():
    assert list(BUDGETS) == ["tiny", "small", "default", "gpu"]
    assert get_budget("default", ab_steps=5000).ab_steps == 5000
    for b in BUDGETS.values():  # every variant of a budget trains alike: one width, one size
        assert b.ab_size % 32 == 0 and b.ab_size >= 64 and b.ab_extra_seeds >= 1
    d = get_budget("default")   # the issue: 128², a few thousand steps per variant on the 2-core CPU
    assert d.ab_size == 128 and d.ab_steps >= 2000 and "3000 steps" in d.caption() and d.ab_parallel == 2
    with pytest.raises(ConfigError, match="unknown budget 'huge'"):
        get_budget("huge")
    with pytest.raises(ConfigError, match="unknown budget field"):
        get_budget("tiny", nope=1)


def test_cli_errors(tmp_path, capsys):
    assert main(["reproduce", "--budget", "tiny", "--set", "nope=1", "-o", str(tmp_path / "o")]) == 1
    assert "Error: --set: unknown budget field 'nope'" in capsys.readouterr().err
    assert main(["reproduce", "--budget", "tiny", "--set", "ab_steps=x", "-o", str(tmp_path / "o")]) == 1
    assert "Error: --set ab_steps: expected int, got 'x'" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    assert main(["reproduce", "--budget", "tiny", "--data", str(tmp_path), "-o", str(other)]) == 1
    assert "is not a hiface reproduce folder" in capsys.readouterr().err
    assert (other / "keep.txt").read_text() == "x"
    assert main(["reproduce", "--budget", "tiny", "--data", str(tmp_path / "none"), "-o", str(tmp_path / "o2")]) == 1
    assert "face folder" in capsys.readouterr().err and not any((tmp_path / "o2").glob("*.md"))


def test_markdown_to_html_subset(tmp_path):
    from hiface.io import write_image
    from hiface.reproduce.report import markdown_to_html

    write_image(tmp_path / "f.png", np.zeros((4, 4, 3), np.uint8))
    h = markdown_to_html("# T\n\n- a `x` **b**\n\n| m | v |\n|---|---|\n| r | 1 |\n\n![cap](f.png)\n\ntext", tmp_path, "t")
    assert "<h1>T</h1>" in h and "<li>a <code>x</code> <b>b</b></li>" in h
    assert "<th>m</th><th>v</th>" in h and "<td>r</td><td>1</td>" in h
    assert "data:image/png;base64," in h and "<figcaption>cap</figcaption>" in h and "<p>text</p>" in h


def test_meaning_says_when_runs_have_not_converged():
    from hiface.reproduce.report import _meaning

    def run(*psnr):
        return {"curves": {"val": [{"step": 250 * i, "psnr": p} for i, p in enumerate(psnr)]}}

    ab = {"rank_metric": "psnr", "ranked": ["a", "b", "c", "d"],
          "variants": {"a": {"metrics": {"psnr": {"mean": 20.0, "std": 0.05}}},
                       "b": {"metrics": {"psnr": {"mean": 19.0, "std": 0.1}}}},
          "runs": {"a-seed0": run(10, 18, 20), "b-seed0": run(10, 19, 19.02)}}
    b = get_budget("default")
    txt = _meaning(ab, b)
    assert "differs by 1.000" in txt and "larger than the noise" in txt
    assert "still rising at the last step in 1 of 2 runs" in txt and "a-seed0" in txt and "b-seed0)" not in txt
    assert "far too few" not in txt                      # 3000 steps: no "protocol check only" warning
    ab["runs"]["a-seed0"] = run(10, 18, 18.05)
    assert "still rising" not in _meaning(ab, b)
