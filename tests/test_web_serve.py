"""`hiface serve` end to end: a real server process driven by a real headless Chromium.

Needs the `web` extra (gradio), selenium and Debian's `chromium` + `chromium-driver`. Without
them the tests skip with a reason -- except under CI (env CI=true), where they fail: CI must
run them (`.ci/run` installs chromium).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "examples" / "portrait_old.jpg"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SERVER_ARGS = ["--max-upload-mb", "1", "--max-megapixels", "1", "--max-files", "3"]

pytestmark = pytest.mark.timeout(180)


def _require(ok: bool, reason: str) -> None:
    if ok:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: these tests must run)")
    pytest.skip(reason)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(home: Path, tmp: Path) -> dict:
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(HOME=str(home), TMPDIR=str(tmp), GRADIO_HEARTBEAT_INTERVAL="1", OMP_NUM_THREADS="2",
               HIFACE_OFFLINE="1")
    env.pop("GRADIO_TEMP_DIR", None)
    return env


class Server:
    """`hiface serve` in a subprocess with its own HOME, TMPDIR and working folder."""

    def __init__(self, base: Path, args: list[str]):
        self.home, self.tmp, self.cwd = base / "home", base / "tmp", base / "cwd"
        for d in (self.home, self.tmp, self.cwd):
            d.mkdir(parents=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = base / "server.log"
        self._logf = open(self.log, "w")
        cmd = [sys.executable, "-m", "hiface.cli.main", "serve", "--port", str(self.port), *args]
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=_env(self.home, self.tmp), stdout=self._logf,
                                     stderr=subprocess.STDOUT)
        t0 = time.time()
        while time.time() - t0 < 90:
            if self.proc.poll() is not None:
                raise AssertionError(f"hiface serve exited: {self.log.read_text()}")
            try:
                urllib.request.urlopen(self.url, timeout=2).read()
                break
            except OSError:
                time.sleep(0.3)
        else:
            raise AssertionError(f"hiface serve did not answer in 90 s: {self.log.read_text()}")
        m = re.search(r"Temporary files: (\S+)", self.log.read_text())
        assert m, self.log.read_text()
        self.root = Path(m[1])
        assert self.root.is_dir() and self.root.parent == self.tmp

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._logf.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _require(_has("gradio"), "gradio is not installed (pip install 'hiface[web]')")
    _require(_has("dlib"), "dlib is not installed (the default face detector; the faces extra)")
    s = Server(tmp_path_factory.mktemp("serve"), SERVER_ARGS)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser(server):
    _require(_has("selenium"), "selenium is not installed (pip install selenium, see the dev extra)")
    _require(bool(CHROMIUM and CHROMEDRIVER),
             "chromium/chromedriver not found (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--window-size=1400,1800"):
        opts.add_argument(a)
    profile = tempfile.mkdtemp(prefix="hiface-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(30)
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(d, cond, timeout=45, what="condition"):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(d, timeout, poll_frequency=0.2).until(cond)
    except Exception as e:  # noqa: BLE001 - say what the page showed
        status = d.find_element("id", "status").text if d.find_elements("id", "status") else "?"
        raise AssertionError(f"timed out waiting for {what}; status box: {status!r}") from e


def _open(d, url):
    from selenium.webdriver.common.by import By

    d.get(url)
    _wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads input[type=file]"), what="the page")


def _upload(d, *paths):
    from selenium.webdriver.common.by import By

    d.find_element(By.CSS_SELECTOR, "#uploads input[type=file]").send_keys("\n".join(str(p) for p in paths))


def _status(d) -> str:
    return d.find_element("id", "status").text


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=20) as r:
        return r.read()


def _requested_hosts(d) -> set[str]:
    hosts = set()
    for e in d.get_log("performance"):
        m = json.loads(e["message"])["message"]
        if m["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            url = m["params"].get("request", {}).get("url") or m["params"].get("url", "")
            if re.match(r"(https?|wss?)://", url):
                hosts.add(url.split("/")[2])
    return hosts


def test_offline_page_helpers():
    _require(_has("gradio"), "gradio is not installed (pip install 'hiface[web]')")
    from hiface.web.app import scrub_external_urls, strip_external_meta
    from hiface.web.server import is_loopback

    html = ('<meta charset="utf-8" />\n<meta\n\tproperty="og:image"\n\t'
            'content="https://raw.githubusercontent.com/x.jpg"\n/><meta name="twitter:creator" content="@Gradio" />'
            '<meta name="viewport" content="width=device-width" />')
    assert strip_external_meta(html) == ('<meta charset="utf-8" />\n'
                                         '<meta name="viewport" content="width=device-width" />')
    cfg = {"root": "http://127.0.0.1:7860", "value": "https://example.org/kept.png",
           "example_inputs": [{"path": "https://github.com/a/bus.png", "orig_name": "bus.png"},
                              {"url": "http://127.0.0.1:7860/file=a.png"}]}
    assert scrub_external_urls(cfg) == {
        "root": "http://127.0.0.1:7860", "value": "https://example.org/kept.png",
        "example_inputs": [{"path": "", "orig_name": "bus.png"}, {"url": "http://127.0.0.1:7860/file=a.png"}]}
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")


def test_page_html_references_no_external_host(server):
    html = _get(server.url).decode()
    hosts = set(re.findall(r"(?:https?|wss?)://([^/\"'\s<>\\)]+)", html))
    assert hosts <= {f"127.0.0.1:{server.port}"}, hosts
    assert "googleapis" not in html and "og:image" not in html
    # the stylesheets the page loads (theme: fonts are gradio's own files)
    css = _get(server.url + "theme.css").decode()
    assert not re.search(r"(?:url\(|@import)\s*['\"]?(?:https?:)?//", css), re.findall(r"url\([^)]*\)", css)[:5]


def test_restore_in_browser_equals_cli(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    d = browser
    t0 = time.time()
    _open(d, server.url)
    _upload(d, PORTRAIT)
    _wait(d, lambda d: "Ready: 1 file(s)" in _status(d), what="the upload")
    d.find_element(By.ID, "restore").click()
    _wait(d, lambda d: "Restored photo portrait_old.jpg: 1 face(s)" in _status(d) and
          "hiface restore portrait_old.jpg -o restored/" in _status(d), what="the result")
    took = time.time() - t0

    # the CLI, same (default) settings
    cli_out = tmp_path / "cli"
    r = subprocess.run([sys.executable, "-m", "hiface.cli.main", "restore", str(PORTRAIT), "-o", str(cli_out)],
                       env=_env(Path.home(), Path(tempfile.gettempdir())), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cli_bytes = (cli_out / "portrait_old.jpg").read_bytes()

    srcs = [im.get_attribute("src") for im in d.find_elements(By.CSS_SELECTOR, "#before-after img")]
    assert len(srcs) == 2, srcs
    before, after = (_get(s) for s in srcs)
    assert after == cli_bytes  # the image the page shows is the CLI's output, byte for byte
    import io

    from PIL import Image

    with Image.open(io.BytesIO(before)) as b, Image.open(io.BytesIO(after)) as a:
        assert b.size == a.size == (768, 768) and before != after
    links = [a.get_attribute("href") for a in d.find_elements(By.CSS_SELECTOR, "#downloads a")]
    assert any(h.endswith("/portrait_old.jpg") and _get(h) == cli_bytes for h in links), links
    assert len(d.find_elements(By.CSS_SELECTOR, "#faces img")) == 1
    table = d.find_element(By.ID, "face-table").text
    assert "portrait_old.jpg" in table and "detector score" in table
    assert re.search(r"portrait_old\.jpg 1 \d+\.\d\d \d+\.\d\d", d.find_element(By.ID, "timings").text)
    # everything the browser fetched came from the local server
    assert _requested_hosts(d) == {f"127.0.0.1:{server.port}"}

    # the tab's files live in its own folder under the server's temp folder, removed when it closes
    m = re.search(r"/gradio_api/file=(/.+?/sessions/[^/]+)/", srcs[1])
    assert m, srcs[1]
    session = Path(m[1])
    assert session.is_dir() and server.root in session.parents
    uploads = [p for p in server.root.rglob("portrait_old.jpg") if "sessions" not in p.parts]
    assert uploads, "the upload should be in the server's temp folder"
    d.get("about:blank")
    t = time.time()
    while (session.exists() or any(p.exists() for p in uploads)) and time.time() - t < 20:
        time.sleep(0.3)
    assert not session.exists() and not any(p.exists() for p in uploads)
    assert took < 60, f"upload + restore took {took:.1f} s"


def test_limits_are_explained(server, browser, tmp_path):
    import numpy as np
    from PIL import Image

    d = browser
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    big = tmp_path / "big.png"
    Image.new("RGB", (1500, 1000), (120, 110, 100)).save(big)  # small file, 1.5 megapixels
    heavy = tmp_path / "heavy.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (700, 700, 3), dtype=np.uint8)).save(heavy)
    assert heavy.stat().st_size > 1 << 20  # over --max-upload-mb 1

    _open(d, server.url)
    _upload(d, notes, big)
    _wait(d, lambda d: "big.png" in _status(d), what="the upload checks")
    st = _status(d)
    assert "Not accepted: notes.txt: not a photo or video hiface can read (photos: .jpg" in st
    assert "Not accepted: big.png: 1500×1000 = 1.5 megapixels is over the limit of 1 MP per photo" in st
    d.find_element("id", "restore").click()
    _wait(d, lambda d: "Nothing to restore." in _status(d), what="the refusal")

    _open(d, server.url)
    _upload(d, heavy)  # refused by the page before it is sent
    _wait(d, lambda d: "exceed the maximum allowed size" in d.find_element("tag name", "body").text,
          what="the size message")
    assert "heavy.png" in d.find_element("tag name", "body").text

    _open(d, server.url)
    _upload(d, PORTRAIT, PORTRAIT, PORTRAIT, PORTRAIT)
    _wait(d, lambda d: "Too many files: 4 (at most 3 per run)" in _status(d), what="the file count message")


def test_cancel_then_restore_again(server, browser):
    """Cancel answers at once with what was done, and the next Restore runs (nothing stays locked)."""
    from selenium.webdriver.common.by import By

    d = browser
    ex = ROOT / "examples"
    _open(d, server.url)
    _upload(d, ex / "group.jpg", PORTRAIT, ex / "face_tiny.png")
    _wait(d, lambda d: "Ready: 3 file(s)" in _status(d), what="the upload")
    d.find_element(By.ID, "restore").click()
    # press Cancel once the job runs (progress shows), or at the latest when it is done
    _wait(d, lambda d: re.search(r"loading|finding faces|restoring face|pasting|Working|Same result",
                                 d.find_element(By.ID, "before-after").text + _status(d)), what="progress")
    d.find_element(By.ID, "cancel").click()
    _wait(d, lambda d: "Cancelled" in _status(d) and "Press Restore to start again." in _status(d), what="Cancel")
    d.find_element(By.ID, "restore").click()
    _wait(d, lambda d: "Same result on the command line" in _status(d), timeout=55, what="the second run")
    assert _status(d).count("Restored photo") == 3
    assert d.find_element(By.ID, "photo-select").is_displayed()  # several photos: choose which to compare
    links = [a.get_attribute("href") for a in d.find_elements(By.CSS_SELECTOR, "#downloads a")]
    assert links[0].endswith("/hiface-results.zip") and len(links) == 4, links


def test_non_local_bind_warns_and_port_in_use_is_one_line(tmp_path):
    _require(_has("gradio"), "gradio is not installed (pip install 'hiface[web]')")
    (tmp_path / "tmp").mkdir()
    env = _env(tmp_path, tmp_path / "tmp")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "hiface.cli.main", "serve", "--port", str(busy)],
                           env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert f"Error: cannot listen on 127.0.0.1:{busy}" in r.stderr and "--port" in r.stderr
    assert "Traceback" not in r.stderr
    port = _free_port()
    p = subprocess.Popen([sys.executable, "-m", "hiface.cli.main", "serve", "--host", "0.0.0.0", "--port", str(port)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        while len(lines) < 20 and not (lines and lines[-1].startswith(("warning:", "hiface serve:"))):
            lines.append(p.stdout.readline())
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    assert lines[-1].startswith("warning: listening on 0.0.0.0: anyone who can reach this machine"), lines
    assert list((tmp_path / "tmp").iterdir()) == []  # stopped at once: its temp folder is gone too


def test_stop_leaves_nothing_behind(server):
    """Last: stopping the server removes its temp folder; nothing was written to HOME, TMPDIR or
    the working folder."""
    root = server.root
    assert server.stop() in (0, 128 + signal.SIGTERM)
    assert not root.exists()
    assert list(server.tmp.iterdir()) == []  # gradio's own cache folder too: it was `root`
    assert list(server.cwd.iterdir()) == []
    left = [str(p.relative_to(server.home)) for p in server.home.rglob("*")]
    assert left == [], left
