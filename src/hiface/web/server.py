"""Start the page: pick the temporary folder, set gradio's environment, then import gradio.

gradio reads ``GRADIO_TEMP_DIR`` (and its analytics switch) when it is imported, so this module
does not import it at the top: :func:`serve` creates the folder, sets the environment and only
then imports :mod:`hiface.web.app`.
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path

from ..errors import HifaceError
from .jobs import Limits

__all__ = ["serve", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True for addresses only this computer can reach (127.0.0.0/8, ::1, localhost)."""
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_port(host: str, port: int) -> None:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise HifaceError(f"cannot listen on {host}:{port} ({e.strerror or e}); "
                              "choose another port with --port") from None


def _sigterm(signum, frame):
    raise SystemExit(128 + signum)


def serve(host: str = "127.0.0.1", port: int = 7860, limits: Limits = Limits(), device: str = "cpu",
          allow_downloads: bool = False, echo=print) -> None:
    """Run the page until Ctrl+C (or SIGTERM). Everything it writes lives in one temporary folder,
    removed on exit."""
    _check_port(host, port)
    if not allow_downloads:
        os.environ["HIFACE_OFFLINE"] = "1"
    # SIGTERM becomes an exception (also the one uvicorn re-raises after its graceful shutdown),
    # so the temporary folder is removed below instead of the process dying first
    main = threading.current_thread() is threading.main_thread()
    prev = signal.signal(signal.SIGTERM, _sigterm) if main else None
    root = Path(tempfile.mkdtemp(prefix="hiface-serve-"))
    try:
        os.environ["GRADIO_TEMP_DIR"] = str(root)
        # gradio imports matplotlib when it is installed, which writes a font cache to ~/.cache and
        # ~/.config: keep it in the temporary folder too (unless the user chose a place)
        os.environ.setdefault("MPLCONFIGDIR", str(root / "matplotlib"))
        import uvicorn

        from .app import create_server_app

        app = create_server_app(root, limits, device=device, allow_downloads=allow_downloads)
        shown = f"[{host}]" if ":" in host else host
        if not is_loopback(host):
            echo(f"warning: listening on {host}: anyone who can reach this machine on port {port} can use "
                 "the page (there is no login). Use --host 127.0.0.1 to keep it to this computer.")
        echo(f"hiface serve: open http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/ "
             f"in your browser (Ctrl+C stops it). Temporary files: {root}")
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                        timeout_graceful_shutdown=3)  # open tabs keep streams open: do not wait for them
        except KeyboardInterrupt:
            pass
        echo("hiface serve: stopped")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if main:
            signal.signal(signal.SIGTERM, prev)
