"""What users hit first (issue 15): unwritable output folders, pre-flight checks before any work,
resume after Ctrl-C, two processes on one folder."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import hiface.jobs as J
import hiface.photo as P
from hiface.cli.degrade import degrade
from hiface.cli.evaluate import evaluate
from hiface.cli.restore import restore

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
pytest.importorskip("dlib")


def run(cmd, *args):
    r = CliRunner().invoke(cmd, [str(a) for a in args], catch_exceptions=False)
    return r.exit_code, r.output + (r.stderr if r.stderr_bytes is not None else "")


def _photos(folder: Path, n: int = 4) -> list[Path]:
    """n small photos (one face each, different crops) in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    im = Image.open(EXAMPLES / "portrait_old.jpg").convert("RGB")
    out = []
    for k in range(n):
        p = folder / f"p{k}.png"
        im.crop((4 * k, 2 * k, 384 - 4 * k, 384 - 2 * k)).resize((200, 200)).save(p)
        out.append(p)
    return out


@pytest.fixture
def count_restores(monkeypatch):
    """Counts restore_file calls (and can interrupt after N)."""
    calls = {"n": 0, "interrupt_at": None}
    real = P.restore_file

    def wrapped(*a, **kw):
        calls["n"] += 1
        if calls["interrupt_at"] is not None and calls["n"] >= calls["interrupt_at"]:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(P, "restore_file", wrapped)
    return calls


# -- 1: no tracebacks when the output folder cannot be created or written ---------------------
def test_output_folder_cannot_be_created(tmp_path):
    (tmp_path / "afile").write_text("x")
    bad = tmp_path / "afile" / "out"
    src = _photos(tmp_path / "in", 1)[0]
    for cmd, args in ((restore, [src, "-o", bad, "--model", "identity"]),
                      (degrade, [src, "-o", bad]),
                      (evaluate, ["-r", tmp_path / "in", "-o", bad, "--metrics", "niqe"])):
        code, out = run(cmd, *args)
        assert code == 1, out
        assert "Error: cannot create the output folder" in out and "Traceback" not in out


def test_output_folder_not_writable_is_checked_before_any_work(tmp_path, monkeypatch, count_restores):
    import hiface.cli.evaluate as E

    src = _photos(tmp_path / "in", 2)

    def no_write(*a, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(J.tempfile, "mkstemp", no_write)
    monkeypatch.setattr(E, "run_evaluation", lambda *a, **k: pytest.fail("metrics computed before the check"))
    code, out = run(restore, tmp_path / "in", "-o", tmp_path / "o", "--model", "identity")
    assert code == 1 and "cannot write into the output folder" in out and "Permission denied" in out, out
    assert count_restores["n"] == 0
    code, out = run(degrade, src[0], "-o", tmp_path / "d")
    assert code == 1 and "cannot write into the output folder" in out
    code, out = run(evaluate, "-r", tmp_path / "in", "-o", tmp_path / "rep", "--metrics", "niqe")
    assert code == 1 and "cannot write into the output folder" in out


# -- 2: pre-flight --------------------------------------------------------------------------
def test_output_folder_equal_to_input_folder_is_refused_first(tmp_path, count_restores):
    _photos(tmp_path / "in", 2)
    code, out = run(restore, tmp_path / "in", "-o", tmp_path / "in", "--model", "identity", "--ext", "jpg")
    assert code == 1 and "also the folder of the inputs" in out, out
    assert count_restores["n"] == 0 and sorted(p.name for p in (tmp_path / "in").iterdir()) == ["p0.png", "p1.png"]


def test_existing_outputs_refused_before_restoring_anything(tmp_path, count_restores):
    _photos(tmp_path / "in", 3)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "p1.png").write_bytes(b"mine")
    code, out = run(restore, tmp_path / "in", "-o", tmp_path / "out", "--model", "identity", "--upscale", "1")
    assert code == 1 and "p1.png already exists and was not made by this job" in out, out
    assert "nothing was restored" in out and "--overwrite" in out
    assert count_restores["n"] == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p1.png"]
    assert (tmp_path / "out" / "p1.png").read_bytes() == b"mine"
    code, out = run(restore, tmp_path / "in", "-o", tmp_path / "out", "--model", "identity", "--upscale", "1",
                    "--overwrite")
    assert code == 0 and "3 file(s) done" in out


def test_outputs_inside_a_recursive_input_folder_are_not_reread(tmp_path):
    _photos(tmp_path / "in", 2)
    args = [tmp_path / "in", "-o", tmp_path / "in" / "restored", "-r", "--model", "identity", "--upscale", "1"]
    code, out = run(restore, *args)
    assert code == 0 and "2 file(s) done" in out
    code, out = run(restore, *args)
    assert code == 0 and "0 file(s) done" in out and "2 skipped" in out and "inside the output folder" in out
    assert not (tmp_path / "in" / "restored" / "restored").exists()


# -- 3: resume -------------------------------------------------------------------------------
def test_interrupt_then_resume_skips_done_and_matches_a_clean_run(tmp_path, count_restores):
    _photos(tmp_path / "in", 4)
    args = ["--model", "identity", "--upscale", "1", "--compare"]
    count_restores["interrupt_at"] = 3  # Ctrl-C while the third photo is restored
    code, out = run(restore, tmp_path / "in", "-o", tmp_path / "out", *args)
    assert code == 130, out
    assert "Interrupted: 2 file(s) done, 2 not done" in out and "p2.png" in out and "again" in out
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["p0.png", "p1.png"]
    assert not list((tmp_path / "out").glob(".*lock"))  # the lock of the interrupted photo is gone
    count_restores.update(interrupt_at=None, n=0)
    code, out = run(restore, tmp_path / "in", "-o", tmp_path / "out", *args)
    assert code == 0 and "2 file(s) done" in out and "2 skipped" in out, out
    assert count_restores["n"] == 2
    # byte-identical to an uninterrupted run
    code, _ = run(restore, tmp_path / "in", "-o", tmp_path / "clean", *args)
    assert code == 0
    for rel in ["p0.png", "p1.png", "p2.png", "p3.png", "compare/p0.png", "compare/p3.png"]:
        assert (tmp_path / "out" / rel).read_bytes() == (tmp_path / "clean" / rel).read_bytes(), rel
    # the record says why each input is as it is
    lines = [json.loads(s) for s in (tmp_path / "out" / J.JOB_FILE).read_text().splitlines()]
    done = [d for d in lines if d["type"] == "task" and d["status"] == "done"]
    assert len(done) == 4 and {len(d["outputs"]) for d in done} == {2}
    settings = [d for d in lines if d["type"] == "settings"]
    assert len(settings) == 1 and settings[0]["settings"]["model"] == "identity"
    assert settings[0]["settings"]["weights"] == "none" and settings[0]["settings"]["hiface"]
    # the same again: nothing to do, exit 0, no model loaded
    count_restores["n"] = 0
    code, out = run(restore, tmp_path / "in", "-o", tmp_path / "out", *args)
    assert code == 0 and "4 skipped" in out and count_restores["n"] == 0
    # other settings: told so before any work; --overwrite redoes everything
    code, out = run(restore, tmp_path / "in", "-o", tmp_path / "out", "--model", "identity", "--upscale", "2", "--compare")
    assert code == 1 and "different settings (upscale: 1.0 -> 2.0)" in out and count_restores["n"] == 0, out
    code, out = run(restore, tmp_path / "in", "-o", tmp_path / "out", "--model", "identity", "--upscale", "2",
                    "--compare", "--overwrite")
    assert code == 0 and "4 file(s) done" in out and count_restores["n"] == 4
    assert Image.open(tmp_path / "out" / "p0.png").size == (400, 400)


def test_failed_inputs_are_retried_and_changed_inputs_need_overwrite(tmp_path):
    _photos(tmp_path / "in", 2)
    (tmp_path / "in" / "bad.jpg").write_bytes(b"\xff\xd8 nope")
    args = [tmp_path / "in", "-o", tmp_path / "out", "--model", "identity", "--upscale", "1"]
    code, out = run(restore, *args)
    assert code == 1 and "FAILED" in out and "bad.jpg" in out
    code, out = run(restore, *args)  # the failed one is tried again, the rest skipped
    assert code == 1 and "2 skipped" in out and "1 failed" in out
    Image.open(tmp_path / "in" / "p0.png").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "in" / "p0.png")
    os.utime(tmp_path / "in" / "p0.png", ns=(1, 1))
    (tmp_path / "in" / "bad.jpg").unlink()
    code, out = run(restore, *args)
    assert code == 1 and "the input changed since its output was made" in out


# -- locks ----------------------------------------------------------------------------------
def _slow_job(outdir: str, names: list[str], q) -> None:
    job = J.Job(outdir, {"v": 1})
    tasks = [J.Task.for_file(Path(outdir).parent / "src" / n, [Path(outdir) / n]) for n in names]

    def fn(t):
        time.sleep(0.15)
        t.outputs[0].write_text(f"{os.getpid()}")
        return t.outputs, None

    s = job.run(job.preflight(tasks).run, fn)
    q.put((len(s.done), len(s.skipped)))


def test_two_processes_never_do_the_same_work(tmp_path):
    names = [f"f{k}.txt" for k in range(8)]
    (tmp_path / "src").mkdir()
    for n in names:
        (tmp_path / "src" / n).write_text(n)
    out = tmp_path / "out"
    out.mkdir()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=_slow_job, args=(str(out), names, q)) for _ in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        p.join(60)
    res = [q.get(timeout=5) for _ in ps]
    assert sum(d for d, _ in res) == 8, res  # every file done exactly once between the two
    rec = J.JobRecord(out).refresh()
    assert len(rec.tasks) == 8 and all(e["status"] == "done" for e in rec.tasks.values())
    lines = [json.loads(s) for s in (out / J.JOB_FILE).read_text().splitlines()]
    assert len([d for d in lines if d["type"] == "task" and d["status"] == "done"]) == 8
    assert len([d for d in lines if d["type"] == "task" and d["status"] == "started"]) == 8
    assert not list(out.glob(".*" + J.LOCK_SUFFIX))


def test_stale_locks_are_taken_over(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("a")
    job = J.Job(tmp_path / "out", {"v": 1})
    (tmp_path / "out").mkdir()
    t = J.Task.for_file(src, [tmp_path / "out" / "a.txt"])
    lock = job._lock_path(t)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    fn = lambda task: (task.outputs[0].write_text("x"), (task.outputs, None))[1]  # noqa: E731
    lock.write_text(json.dumps({"pid": os.getpid(), "host": job.host}))  # alive: busy
    s = job.run([t], fn)
    assert [o.status for o in s.outcomes] == ["busy"] and "another process" in s.outcomes[0].reason
    lock.write_text(json.dumps({"pid": dead.pid, "host": job.host}))  # its process is gone
    s = job.run([t], fn)
    assert [o.status for o in s.outcomes] == ["done"] and not lock.exists()
    job2 = J.Job(tmp_path / "out", {"v": 1}, overwrite=True, stale_after=60)
    lock.write_text(json.dumps({"pid": 1, "host": "elsewhere"}))  # another host, recent: busy
    assert job2.run([t], fn).outcomes[0].status == "busy"
    os.utime(lock, (time.time() - 120, time.time() - 120))  # ... and old: abandoned
    assert job2.run([t], fn).outcomes[0].status == "done"


def test_torn_record_line_is_ignored(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("a")
    job = J.Job(tmp_path, {"v": 1})
    t = J.Task.for_file(src, [tmp_path / "o.txt"])
    job.run([t], lambda task: (task.outputs[0].write_text("x"), (task.outputs, None))[1])
    with open(tmp_path / J.JOB_FILE, "ab") as f:
        f.write(b'{"type": "task", "key": "broken')  # a crash mid-write
    again = J.Job(tmp_path, {"v": 1})
    assert again.decide(t).action == "skip"
    assert J.Job(tmp_path, {"v": 2}).decide(t).reason.startswith("made earlier with different settings (v: 1 -> 2)")


# -- 6: nothing changes silently -------------------------------------------------------------
def test_gif_rgba_jpg_icc_exif(tmp_path):
    from PIL import ImageCms

    src = tmp_path / "in"
    src.mkdir()
    face = Image.open(EXAMPLES / "portrait_old.jpg").convert("RGB").resize((160, 160))
    frames = [face, face.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    rgba = np.dstack([np.asarray(face), np.full((160, 160), 255, np.uint8)])
    rgba[:40, :40, 3] = 0
    rgba[:40, :40, :3] = 0  # hidden black under the transparent corner
    Image.fromarray(rgba, "RGBA").save(src / "cut.png")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x0112] = 1
    face.save(src / "cam.jpg", icc_profile=icc, exif=exif.tobytes(), quality=95)
    code, out = run(restore, src, "-o", tmp_path / "out", "--model", "identity", "--upscale", "1", "--ext", "jpg")
    assert code == 0 and "3 file(s) done" in out, out  # GIFs are taken from folders
    assert "anim.gif: 2 frames (animated or multi-page): only the first was restored" in out
    assert "cut.png: has transparency, which JPG cannot store: composited on white (use --ext png" in out
    cut = np.asarray(Image.open(tmp_path / "out" / "cut.jpg"))
    assert cut[:30, :30].mean() > 240  # white, not the hidden black
    o = Image.open(tmp_path / "out" / "cam.jpg")
    assert o.info.get("icc_profile") == icc and o.getexif().get(0x010F) == "TestCam"
    code, out = run(restore, src / "cam.jpg", "-o", tmp_path / "strip", "--model", "identity", "--upscale", "1",
                    "--strip-metadata")
    o = Image.open(tmp_path / "strip" / "cam.jpg")
    assert code == 0 and o.info.get("icc_profile") == icc and 0x010F not in o.getexif()


def test_crash_between_writing_and_recording_is_resumed(tmp_path, monkeypatch):
    """Ctrl-C after an output was written but before it was recorded: the next run knows the
    output is its own (the task was recorded as started with the same settings) and redoes it."""
    import hiface.jobs as jobs_mod

    _photos(tmp_path / "in", 2)
    args = [tmp_path / "in", "-o", tmp_path / "out", "--model", "identity", "--upscale", "1"]
    real = jobs_mod.Job.mark_done
    calls = {"n": 0}

    def crash_on_second(self, task, outputs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # p1.png is on disk, its "done" line is not
        return real(self, task, outputs)

    monkeypatch.setattr(jobs_mod.Job, "mark_done", crash_on_second)
    code, out = run(restore, *args)
    assert code == 130 and (tmp_path / "out" / "p1.png").is_file()
    monkeypatch.setattr(jobs_mod.Job, "mark_done", real)
    code, out = run(restore, *args)
    assert code == 0 and "1 file(s) done" in out and "1 skipped" in out, out
    code, out = run(restore, *args[:3], "--model", "identity", "--upscale", "2")  # other settings: still refused
    assert code == 1 and "different settings" in out
