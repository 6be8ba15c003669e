"""``hiface restore --engine ray`` (hiface.cluster) on a local Ray with 2 CPUs: the same files
as the local engine, the same job record (resume), failures per file, a killed worker's files
retried. One Ray session serves the module (starting Ray costs ~10 s)."""
from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, skip_missing
from hiface.photo import RestoreOptions

#: ~60 s in all on a busy 2-core machine (Ray start ~10 s, two engines on 5 photos): the engine's
#: only end-to-end check (CI runs it; the local engine has its own fast tests)
pytestmark = pytest.mark.slow

PHOTOS = ["face_tiny.png", "group.jpg", "portrait_faded_gray.jpg", "portrait_old.jpg"]
#: one face per model call in both engines: the model sees the same batches, so the outputs are
#: byte-identical (bigger cross-photo batches may differ in the float's last bit, see hiface.cluster)
OPTS = RestoreOptions(batch_size=1, upscale=1.5)


@pytest.fixture(scope="module")
def ray_session():
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        skip_missing("ray[data] is not installed (pip install 'hiface[cluster]')")
    from hiface.cluster import init_ray

    ray = init_ray(num_cpus=2)
    assert ray.nodes()[0]["NodeManagerAddress"] == "127.0.0.1"  # a local Ray listens on the loopback only
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("in")
    for name in PHOTOS:
        shutil.copy(ROOT / "examples" / name, d / name)
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    return d


@pytest.fixture(scope="module")
def local_out(photos, tmp_path_factory) -> Path:
    from hiface.batch import restore_files

    out = tmp_path_factory.mktemp("local")
    s = restore_files([(p, photos) for p in sorted(photos.iterdir())], out, OPTS)
    assert len(s.done) == 4 and len(s.failed) == 1
    return out


def _items(photos: Path):
    return [(p, photos) for p in sorted(photos.iterdir())]


def _same_files(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.iterdir() if not p.name.startswith("."))
    assert names == sorted(p.name for p in b.iterdir() if not p.name.startswith(".")) == PHOTOS
    for n in names:
        assert filecmp.cmp(a / n, b / n, shallow=False), f"{n} differs between the local and the Ray engine"


def test_ray_same_files_failures_and_resume(ray_session, photos, local_out, tmp_path):
    from hiface.cluster import restore_files_ray

    out = tmp_path / "ray"
    seen = []
    s = restore_files_ray(_items(photos), out, OPTS, photos_per_call=2, on_outcome=seen.append)
    assert len(s.done) == 4 and len(seen) == 5
    assert [(o.task.source.name, o.reason) for o in s.failed] == [("broken.jpg", s.failed[0].reason)]
    assert "broken.jpg" not in s.failed[0].reason and s.failed[0].reason  # the reason, not the path again
    _same_files(local_out, out)
    faces = {o.task.source.name: o.info.n_faces for o in s.done}
    assert faces["group.jpg"] >= 2 and faces["face_tiny.png"] == 1
    # the job record: the local engine's format, one settings line, done/failed per file
    rec = [json.loads(line) for line in (out / ".hiface-job.jsonl").read_text().splitlines()]
    last = {e["key"]: e for e in rec if e["type"] == "task"}
    assert sorted(Path(k).name for k, e in last.items() if e["status"] == "done") == PHOTOS
    assert [Path(k).name for k, e in last.items() if e["status"] == "failed"] == ["broken.jpg"]
    assert not list(out.glob(".*.hiface-lock"))
    # resume: done files are skipped (the broken one is tried again and fails again)
    s2 = restore_files_ray(_items(photos), out, OPTS)
    assert (len(s2.done), len(s2.skipped), len(s2.failed)) == (0, 4, 1)
    # the local engine reads the same record: nothing left to do
    from hiface.batch import restore_files

    s3 = restore_files(_items(photos), out, OPTS)
    assert (len(s3.done), len(s3.skipped)) == (0, 4)


def test_ray_killed_worker_loses_nothing(ray_session, photos, local_out, tmp_path, monkeypatch):
    from hiface.cluster import CRASH_ENV, restore_files_ray

    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ENV, str(marker))
    out = tmp_path / "ray"
    s = restore_files_ray(_items(photos), out, OPTS, photos_per_call=1)
    assert marker.exists(), "the test hook did not kill the actor"
    assert int(marker.read_text()) > 0
    assert len(s.done) == 4 and [o.task.source.name for o in s.failed] == ["broken.jpg"]
    _same_files(local_out, out)


def test_ray_cli(ray_session, photos, tmp_path):
    from click.testing import CliRunner

    from hiface.cli.main import cli

    r = CliRunner().invoke(cli, ["restore", str(photos / "face_tiny.png"), "-o", str(tmp_path / "o"),
                                 "--engine", "ray", "--upscale", "1"])
    assert r.exit_code == 0, r.output
    assert "1 file(s) done, 1 face(s) restored" in r.output
    assert (tmp_path / "o" / "face_tiny.png").is_file()
    r = CliRunner().invoke(cli, ["restore", str(photos / "face_tiny.png"), "-o", str(tmp_path / "o2"),
                                 "--engine", "ray", "--aligned"])
    assert r.exit_code != 0 and "--engine ray restores whole photos" in r.output
    r = CliRunner().invoke(cli, ["restore", str(photos / "face_tiny.png"), "-o", str(tmp_path / "o3"),
                                 "--address", "auto"])
    assert r.exit_code != 0 and "--address needs --engine ray" in r.output


def test_ray_video_is_restored_by_an_actor(ray_session, tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    from hiface.cluster import restore_files_ray
    from test_video import _face_video

    (tmp_path / "in").mkdir()
    src = _face_video(tmp_path / "in" / "clip.mp4", n=3, fps=10, audio=False)
    s = restore_files_ray([(src, src.parent)], tmp_path / "out", RestoreOptions(model="identity", upscale=1))
    assert len(s.done) == 1 and s.done[0].info.n_faces == 3, s.to_dict()
    assert imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "out" / "clip.mp4"))[0] == 3
