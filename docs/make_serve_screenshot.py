"""Regenerate docs/serve.jpg: the `hiface serve` page after restoring examples/portrait_old.jpg
with the default settings, captured by a headless Chromium (selenium waits for the result, so
the page is fully drawn; the chromium CLI alone would need --virtual-time-budget).

    .venv/bin/python docs/make_serve_screenshot.py            # writes docs/serve.jpg

Needs the web extra (gradio), selenium and Debian's chromium + chromium-driver.
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "docs" / "serve.jpg")
    ap.add_argument("--photo", type=Path, default=ROOT / "examples" / "portrait_old.jpg")
    ap.add_argument("--size", default="1280,1100", help="browser window width,height")
    ap.add_argument("--quality", type=int, default=85)
    args = ap.parse_args()

    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen([sys.executable, "-m", "hiface.cli.main", "serve", "--port", str(port)], env=env)
    profile = tempfile.mkdtemp(prefix="hiface-chromium-")
    driver = None
    try:
        t0 = time.time()
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.time() - t0 > 120:
                    raise SystemExit("hiface serve did not start")
                time.sleep(0.3)
        opts = Options()
        for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", f"--window-size={args.size}", f"--user-data-dir={profile}"):
            opts.add_argument(a)
        opts.binary_location = shutil.which("chromium") or "chromium"
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"), options=opts)
        wait = WebDriverWait(driver, 120, poll_frequency=0.2)
        driver.get(url)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads input[type=file]"))
        driver.find_element(By.CSS_SELECTOR, "#uploads input[type=file]").send_keys(str(args.photo.resolve()))
        wait.until(lambda d: "Ready" in d.find_element(By.ID, "status").text)
        driver.find_element(By.ID, "restore").click()
        wait.until(lambda d: "Same result on the command line" in d.find_element(By.ID, "status").text)
        wait.until(lambda d: all(im.get_attribute("complete") == "true" and int(im.get_attribute("naturalWidth")) > 0
                                 for im in d.find_elements(By.CSS_SELECTOR, "#before-after img, #faces img")))
        driver.execute_script("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur();")
        time.sleep(0.5)  # let the slider settle
        png = driver.get_screenshot_as_png()
        img = Image.open(io.BytesIO(png)).convert("RGB")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".part.jpg")
        img.save(tmp, quality=args.quality, optimize=True, progressive=True)
        os.replace(tmp, args.out)
        print(f"{args.out}: {img.size[0]}x{img.size[1]}, {args.out.stat().st_size / 1024:.0f} KB")
    finally:
        if driver is not None:
            driver.quit()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(profile, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
