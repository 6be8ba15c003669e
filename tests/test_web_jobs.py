"""`hiface serve`'s job logic without a browser: the page's choices map to the CLI's options,
uploads are checked against the limits with clear messages, and a job writes exactly what
`restore_file` (the CLI) writes, with progress, per-face rows, cancellation and a zip."""
from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hiface.photo import DEFAULT_MODEL, RestoreOptions

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "examples" / "portrait_old.jpg"
GROUP = ROOT / "examples" / "group.jpg"


@pytest.fixture
def dlib():
    return pytest.importorskip("dlib", reason="the default face detector needs dlib (the faces extra)")


def test_model_list_says_what_runs_offline():
    from hiface.web.choices import model_choices, model_markdown

    cs = model_choices()
    assert cs[0].name == DEFAULT_MODEL and cs[0].usable and cs[0].weights == "shipped"
    assert "default" in cs[0].label and "shipped" in cs[0].label
    names = [c.name for c in cs]
    assert "gfrnet" not in names  # guided: needs --guide, command line only
    ident = next(c for c in cs if c.name == "identity")
    assert ident.usable and ident.weights == "none needed"
    for c in cs:
        if c.weights == "download":  # not in the (test) cache: the page says how to get it
            assert not c.usable and "not downloaded" in c.label
            assert f"--model {c.name}" in c.how_to_get and "cache" in c.how_to_get
            assert c.how_to_get in model_markdown(c.name)


def test_settings_map_to_cli_options():
    from hiface.web.choices import Settings, background_upsamplers, cli_command, detector_choices, restore_options

    assert restore_options(Settings()) == RestoreOptions()  # the page's defaults are the CLI's
    assert background_upsamplers()[0][1] == "lanczos"
    assert [d for _, d in detector_choices()] == ["dlib", "dlib-cnn", "retinaface"]
    o = restore_options(Settings(model="codeformer", fidelity=0.3, detector="retinaface", upscale=4, batch_size=2))
    assert (o.model, o.fidelity, o.detector, o.upscale, o.batch_size) == ("codeformer", 0.3, "retinaface", 4.0, 2)
    # a model without fidelity ignores the slider, as the CLI does
    assert restore_options(Settings(fidelity=0.3)).fidelity is None
    assert cli_command(Settings(), ["a b.jpg"]) == "hiface restore 'a b.jpg' -o restored/"
    assert cli_command(Settings(model="codeformer", fidelity=0.3, upscale=4), ["x.png"]) == \
        "hiface restore x.png -o restored/ --model codeformer --upscale 4 --fidelity 0.3"
    from hiface.errors import HifaceError

    with pytest.raises(HifaceError, match="background"):
        restore_options(Settings(background="magic"))


def test_upload_checks_give_clear_messages(tmp_path):
    from PIL import Image

    from hiface.web.jobs import LimitError, Limits, check_uploads

    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "fake.jpg").write_text("not really a jpeg")
    (tmp_path / "empty.png").write_bytes(b"")
    Image.new("RGB", (1200, 1000)).save(tmp_path / "big.png")
    noisy = np.random.default_rng(0).integers(0, 255, (600, 600, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(tmp_path / "heavy.png")  # ~1 MB
    lim = Limits(max_files=8, max_upload_mb=0.5, max_megapixels=1.0)
    names = ["notes.txt", "fake.jpg", "empty.png", "big.png", "heavy.png"]
    ok, msgs = check_uploads([tmp_path / n for n in names] + [PORTRAIT], lim)
    assert ok == [PORTRAIT]
    assert msgs[0].startswith("notes.txt: not a photo or video hiface can read (photos: .jpg")
    assert msgs[1].startswith("fake.jpg: not a readable image")
    assert msgs[2] == "empty.png: the file is empty."
    assert msgs[3] == ("big.png: 1200×1000 = 1.2 megapixels is over the limit of 1 MP per photo; "
                       "make it smaller first.")
    assert msgs[4].startswith("heavy.png: ") and "over the upload limit of 0.5 MB per file" in msgs[4]
    with pytest.raises(LimitError, match=r"Too many files: 3 \(at most 2 per run\)"):
        check_uploads([PORTRAIT] * 3, Limits(max_files=2))


def test_output_size_limit(tmp_path):
    from hiface.web.jobs import Limits, check_output_size

    assert check_output_size(PORTRAIT, 2, Limits()) is None
    msg = check_output_size(PORTRAIT, 4, Limits(max_output_megapixels=1))
    assert msg == ("portrait_old.jpg: the result at up-scale 4 would be 1536×1536 = 2.4 megapixels, over the "
                   "limit of 1 MP; choose a smaller up-scale.")


def test_job_writes_the_cli_result(tmp_path, dlib):
    """Same bytes as restore_file with the same options (what `hiface restore` runs), plus the
    page's extras: a before image of the output's size, one input|restored pair per face, rows."""
    from PIL import Image

    from hiface.photo import load_pipeline, restore_file
    from hiface.web.choices import Settings
    from hiface.web.jobs import make_zip, run_job

    cli = restore_file(GROUP, tmp_path / "cli", load_pipeline(RestoreOptions(batch_size=2), cache=False))
    steps = []
    res = list(run_job([GROUP, PORTRAIT], Settings(batch_size=2), tmp_path / "web",
                       progress=lambda f, t: steps.append((f, t))))
    g, p = res
    assert g.output == tmp_path / "web" / "restored" / "group.jpg"
    assert g.output.read_bytes() == cli.output.read_bytes()
    assert g.preview == g.output and g.n_faces == 3 and not g.error
    with Image.open(g.before) as b, Image.open(g.output) as o:
        assert b.size == o.size == (1280, 720)
    assert [r.face for r in g.rows] == [0, 1, 2] and len(g.faces) == 3
    pair = np.asarray(Image.open(g.faces[0][0]))
    assert pair.shape == (256, 2 * 256 + 4, 3)  # hifacegan-lite: 256² crops, input | restored
    assert all(r.restore_ms > 0 and r.eye_px > 5 for r in g.rows)
    assert set(g.timings) == {"detect", "model", "rest", "total"} and g.timings["model"] > 0
    # per-face progress: batches of 2 -> face 1 of 3, face 3 of 3, then pasting
    texts = [t for _, t in steps]
    assert "group.jpg (1/2): restoring face 1 of 3" in texts and "group.jpg (1/2): restoring face 3 of 3" in texts
    assert "portrait_old.jpg (2/2): pasting 1 face(s) back" in texts
    fr = [f for f, _ in steps]
    assert fr == sorted(fr) and fr[-1] == 1.0
    z = make_zip(res, tmp_path / "web", tmp_path / "web" / "all.zip")
    with zipfile.ZipFile(z) as zf:
        assert sorted(zf.namelist()) == ["group.jpg", "portrait_old.jpg"]
        assert zf.read("group.jpg") == cli.output.read_bytes()


def test_job_keeps_same_named_inputs_apart_and_reports_failures(tmp_path, dlib):
    from hiface.web.choices import Settings
    from hiface.web.jobs import Limits, run_job

    other = tmp_path / "in" / "portrait_old.jpg"
    other.parent.mkdir()
    other.write_bytes(b"\xff\xd8 truncated jpeg")
    res = list(run_job([PORTRAIT, other], Settings(model="identity", upscale=1), tmp_path / "web",
                       limits=Limits()))
    assert res[0].output == tmp_path / "web" / "restored" / "portrait_old.jpg"
    assert res[1].output is None and res[1].error.startswith("portrait_old.jpg: ")


def test_cancel_stops_the_job_and_frees_the_lock(tmp_path, dlib):
    from hiface.web.choices import Settings
    from hiface.web.jobs import RUN_LOCK, Cancelled, run_job

    cancel = threading.Event()

    def prog(f, text):
        if "restoring face" in text:
            cancel.set()  # the user presses Cancel while the first face is being restored

    with pytest.raises(Cancelled):
        list(run_job([GROUP, PORTRAIT], Settings(batch_size=1), tmp_path / "web", progress=prog, cancel=cancel))
    assert not RUN_LOCK.locked()
    assert not (tmp_path / "web" / "restored" / "group.jpg").exists()  # stopped before writing


def test_video_job_and_limit(tmp_path, dlib):
    """A short video: restored like `hiface restore clip.mp4` (frame progress, same bytes as the
    CLI's restore_file); a video over the length limit is refused with its length."""
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    from PIL import Image

    from hiface.photo import load_pipeline, restore_file
    from hiface.web.choices import Settings
    from hiface.web.jobs import Limits, check_uploads, run_job

    clip = tmp_path / "clip.mp4"
    base = np.asarray(Image.open(PORTRAIT).convert("RGB").resize((192, 192)))
    w = imageio_ffmpeg.write_frames(str(clip), (192, 192), fps=10, codec="libx264", macro_block_size=1,
                                    quality=9, ffmpeg_log_level="error")
    w.send(None)
    for i in range(3):
        w.send(np.ascontiguousarray(np.roll(base, 2 * i, axis=1)))
    w.close()
    ok, msgs = check_uploads([clip], Limits(max_video_seconds=0.1))
    assert ok == [] and msgs[0].startswith("clip.mp4: 0.3 s is longer than the limit of 0.1 s for videos")
    from hiface.web.jobs import LimitError

    with pytest.raises(LimitError, match="Only one video per run"):
        check_uploads([clip, clip], Limits())
    steps = []
    (r,) = run_job([clip], Settings(upscale=1), tmp_path / "web", progress=lambda f, t: steps.append(t))
    assert r.is_video and r.output == tmp_path / "web" / "restored" / "clip.mp4" and r.n_faces == 3
    assert "clip.mp4: frame 3" in steps
    cli = restore_file(clip, tmp_path / "cli", load_pipeline(RestoreOptions(upscale=1), cache=False))
    assert r.output.read_bytes() == cli.output.read_bytes()
