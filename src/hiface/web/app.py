"""The ``hiface serve`` page (gradio) and its offline server.

Offline by construction: gradio's analytics and version check are off, its fonts are the ones it
ships (no Google Fonts), the social-preview ``<meta>`` tags that name outside hosts are dropped
from the page, run history (a Hugging Face bucket), SSR (a node server), MCP and the "built with"
footer links are off. Everything is written under one temporary folder (``GRADIO_TEMP_DIR``):
uploads, each browser tab's results (removed when the tab closes) -- and the folder is removed
when the server stops. One restore runs at a time (queue concurrency 1, plus a process lock).
Import it through :func:`hiface.web.server.serve`, which sets ``GRADIO_TEMP_DIR`` first (gradio
reads it at import time).
"""
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HifaceError
from .choices import (
    Settings,
    background_upsamplers,
    cli_command,
    detector_choices,
    model_choice,
    model_choices,
    model_markdown,
)
from .jobs import FACE_COLUMNS, Cancelled, LimitError, Limits, PhotoResult, check_uploads, make_zip, run_job

__all__ = ["OFFLINE_ENV", "build_app", "create_server_app", "strip_external_meta", "scrub_external_urls"]

#: environment for gradio / huggingface_hub: no telemetry, no version check, no downloads
OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "GRADIO_SSR_MODE": "False",
    "GRADIO_RUN_HISTORY": "False",
    "GRADIO_ALLOW_FLAGGING": "never",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}

for _k, _v in OFFLINE_ENV.items():  # before gradio is imported: it reads some at import time
    os.environ.setdefault(_k, _v)

import gradio as gr  # noqa: E402  (this module is only imported by `hiface serve`)

_META_EXTERNAL = re.compile(r"<meta\s[^>]*?(?:property|name)=\"(?:og|twitter):[^\"]*\"[^>]*>", re.S)


def strip_external_meta(html: str) -> str:
    """Drop the social-preview ``<meta>`` tags (og:*, twitter:*) of gradio's page template: they
    name outside hosts (gradio.app, raw.githubusercontent.com) and mean nothing for a local page."""
    return _META_EXTERNAL.sub("", html)


_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def scrub_external_urls(obj: Any, _inside_example: bool = False) -> Any:
    """``obj`` (JSON-like) with the http(s) URLs of example inputs (``example*`` keys: gradio's
    API description points at sample files on GitHub) replaced by "" -- nothing else changes."""
    if isinstance(obj, dict):
        return {k: scrub_external_urls(v, _inside_example or str(k).startswith("example")) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub_external_urls(v, _inside_example) for v in obj]
    if _inside_example and isinstance(obj, str) and re.match(r"https?://", obj):
        host = re.sub(r"^https?://", "", obj).split("/")[0].rsplit(":", 1)[0]
        return obj if host in _LOCAL_HOSTS else ""
    return obj


def _patch_page_template() -> None:
    """Serve gradio's index.html without :func:`strip_external_meta`'s tags and with the API
    description's example URLs scrubbed (a jinja loader wrapper and one filter, so the page is
    rendered exactly as before otherwise)."""
    import jinja2
    from gradio import routes

    env = routes.templates.env
    if getattr(env.loader, "_hiface_offline", False):
        return
    toorjson = env.filters["toorjson"]
    env.filters["hiface_offline_json"] = lambda v: toorjson(scrub_external_urls(v))

    class OfflineLoader(jinja2.BaseLoader):
        _hiface_offline = True

        def __init__(self, inner):
            self.inner = inner

        def get_source(self, environment, template):
            src, filename, uptodate = self.inner.get_source(environment, template)
            if template.endswith(".html"):
                src = strip_external_meta(src)
                src = src.replace("gradio_api_info | toorjson", "gradio_api_info | hiface_offline_json")
                src = src.replace("config | toorjson", "config | hiface_offline_json")
            return src, filename, uptodate

        def list_templates(self):
            return self.inner.list_templates()

    env.loader = OfflineLoader(env.loader)
    env.cache = None if env.cache is None else type(env.cache)(env.cache.capacity)


# -- per-tab sessions --------------------------------------------------------------------------
@dataclass
class _Session:
    dir: Path
    cancel: threading.Event = field(default_factory=threading.Event)
    busy: threading.Event = field(default_factory=threading.Event)  #: a job is computing (not waiting at a yield)
    uploads: set[str] = field(default_factory=set)
    results: list[PhotoResult] = field(default_factory=list)
    runs: int = 0


class _Sessions:
    """Browser tab (gradio session hash) -> its folder, cancel flag and last results."""

    def __init__(self, root: Path):
        self.root = root
        self._d: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def get(self, key: str | None) -> _Session:
        key = re.sub(r"[^A-Za-z0-9_-]", "", key or "") or "anonymous"
        with self._lock:
            if key not in self._d:
                self._d[key] = _Session(dir=self.root / "sessions" / key)
            return self._d[key]

    def close(self, key: str | None) -> None:
        """Remove everything the tab left: its results and its uploads."""
        key = re.sub(r"[^A-Za-z0-9_-]", "", key or "") or "anonymous"
        with self._lock:
            s = self._d.pop(key, None)
        if s is None:
            return
        s.cancel.set()
        shutil.rmtree(s.dir, ignore_errors=True)
        for u in s.uploads:
            p = Path(u)
            if _inside(p, self.root):
                p.unlink(missing_ok=True)
                try:
                    p.parent.rmdir()  # gradio keeps each upload in its own folder
                except OSError:
                    pass


def _inside(p: Path, root: Path) -> bool:
    try:
        p.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


# -- rendering ---------------------------------------------------------------------------------
def _status_md(lines: list[str]) -> str:
    return "\n".join(f"- {ln}" for ln in lines) if lines else ""


def _timings_md(results: list[PhotoResult]) -> str:
    rows = [r for r in results if r.output is not None]
    if not rows:
        return ""
    out = ["| file | faces | detect s | model s | align, paste, write s | total s |", "|---|---|---|---|---|---|"]
    for r in rows:
        t = r.timings
        out.append(f"| {r.source} | {r.n_faces} | {t.get('detect', 0):.2f} | {t.get('model', 0):.2f} | "
                   f"{t.get('rest', 0):.2f} | {t.get('total', 0):.2f} |")
    return "\n".join(out)


def _photo_label(k: int, r: PhotoResult) -> str:
    return f"{k + 1}. {r.source}"


# -- the page ----------------------------------------------------------------------------------
CSS = """
#before-after img { object-fit: contain; }
.hiface-note { font-size: 0.9em; opacity: 0.85; }
"""


def build_app(root: Path, limits: Limits = Limits(), device: str = "cpu", allow_downloads: bool = False):
    """The gradio Blocks of the page; files go under ``root`` (which must be ``GRADIO_TEMP_DIR``)."""
    import pandas as pd

    sessions = _Sessions(root)
    models = model_choices()
    default_model = models[0].name
    bgs = background_upsamplers()

    def empty_table():
        return pd.DataFrame([], columns=FACE_COLUMNS)

    def render(results: list[PhotoResult], lines: list[str], zip_path: Path | None, selected: int = 0):
        photos = [(k, r) for k, r in enumerate(results) if r.preview is not None]
        # gradio would re-encode other containers with an ffmpeg on PATH: those are download-only
        videos = [r for r in results if r.is_video and r.output is not None and r.output.suffix.lower() == ".mp4"]
        choices = [(_photo_label(k, r), k) for k, r in photos]
        sel = selected if any(k == selected for k, _ in photos) else (photos[0][0] if photos else None)
        pair = None
        if sel is not None:
            r = results[sel]
            pair = (str(r.before), str(r.preview))
        gallery = [(str(p), cap) for r in results for p, cap in r.faces]
        rows = [row.as_list() for r in results for row in r.rows]
        files = ([str(zip_path)] if zip_path else []) + [str(r.output) for r in results if r.output is not None]
        return (
            _status_md(lines),
            gr.update(choices=choices, value=sel, visible=len(photos) > 1),
            pair,
            gr.update(value=str(videos[0].output) if videos else None, visible=bool(videos)),
            gallery,
            pd.DataFrame(rows, columns=FACE_COLUMNS) if rows else empty_table(),
            _timings_md(results),
            files or None,
        )

    def result_lines(results: list[PhotoResult]) -> list[str]:
        lines = []
        for r in results:
            if r.error:
                lines.append(f"Failed: {r.error}")
            elif r.note:
                lines.append(r.note)
            elif r.output is not None:
                what = "video" if r.is_video else "photo"
                lines.append(f"Restored {what} {r.source}: {r.n_faces} face(s) in {r.timings.get('total', 0):.1f} s.")
        return lines

    def cancelled_lines(results: list[PhotoResult]) -> list[str]:
        # the same text from Cancel's handler and from the stopped job, whichever arrives last
        return result_lines(results) + [f"Cancelled{f' after {len(results)} file(s)' if results else ''}. "
                                        "Press Restore to start again."]

    def on_upload(files, request: gr.Request):
        s = sessions.get(request.session_hash)
        files = files or []
        s.uploads.update(map(str, files))
        if not files:
            return ""
        try:
            ok, msgs = check_uploads(files, limits)
        except LimitError as e:
            return _status_md([str(e)])
        lines = [f"Not accepted: {m}" for m in msgs]
        if ok:
            lines.insert(0, f"Ready: {len(ok)} file(s). Choose the settings and press Restore.")
        return _status_md(lines)

    def on_model(name: str, auto: bool):
        c = model_choice(name)
        fid = c.default_fidelity if c.default_fidelity is not None else 0.5
        return (model_markdown(name),
                gr.update(interactive=c.supports_fidelity),
                gr.update(interactive=c.supports_fidelity and not auto, value=fid))

    def on_fidelity_auto(auto: bool, name: str):
        return gr.update(interactive=model_choice(name).supports_fidelity and not auto)

    def on_restore(files, model, fid_auto, fid, background, detector, upscale, batch_size,
                   request: gr.Request, progress=gr.Progress()):
        s = sessions.get(request.session_hash)
        s.cancel = threading.Event()  # a fresh flag: Cancel stops this run only
        token = s.cancel
        keep = (gr.update(),) * 7
        files = [str(f) for f in (files or [])]
        s.uploads.update(files)
        if not files:
            yield (_status_md(["Add one or more photos (or one short video) first."]),) + keep
            return
        try:
            ok, msgs = check_uploads(files, limits)
        except LimitError as e:
            yield (_status_md([str(e)]),) + keep
            return
        lines = [f"Not accepted: {m}" for m in msgs]
        if not ok:
            yield (_status_md(lines + ["Nothing to restore."]),) + keep
            return
        c = model_choice(model)
        if not c.usable and not allow_downloads:
            yield (_status_md([f"{model} cannot run offline yet. {c.how_to_get}"]),) + keep
            return
        settings = Settings(model=model, fidelity=None if fid_auto else float(fid), detector=detector,
                            upscale=float(upscale), background=background, batch_size=int(batch_size) or None)
        s.runs += 1
        run_dir = s.dir / f"run{s.runs:03d}"
        results: list[PhotoResult] = []
        s.results = results
        same = cli_command(settings, [Path(p).name for p in ok])

        def prog(f: float, text: str) -> None:
            progress(None if f < 0 else f, desc=text)

        it = run_job(ok, settings, run_dir, limits=limits, device=device, progress=prog, cancel=token)
        try:
            while True:
                s.busy.set()
                try:
                    pr = next(it)
                except StopIteration:
                    break
                finally:
                    s.busy.clear()
                results.append(pr)
                if token.is_set():  # Cancel was pressed while this file was finishing
                    yield render(results, lines + cancelled_lines(results), None)
                    return
                yield render(results, lines + result_lines(results) + ["Working…"], None)
        except Cancelled:
            yield render(results, lines + cancelled_lines(results), None)
            return
        except HifaceError as e:
            yield render(results, lines + result_lines(results) + [f"Error: {e}"], None)
            return
        done = [r for r in results if r.output is not None]
        zip_path = make_zip(results, run_dir, run_dir / "hiface-results.zip") if len(done) > 1 else None
        tail = [f"Same result on the command line: `{same}`"] if done else []
        yield render(results, lines + result_lines(results) + tail, zip_path)

    def on_select(k, request: gr.Request):
        s = sessions.get(request.session_hash)
        if k is None or not (0 <= int(k) < len(s.results)) or s.results[int(k)].preview is None:
            return gr.update()
        r = s.results[int(k)]
        return (str(r.before), str(r.preview))

    def on_cancel(request: gr.Request):
        s = sessions.get(request.session_hash)
        s.cancel.set()
        t = time.monotonic()
        while s.busy.is_set() and time.monotonic() - t < 30:  # the current model call finishes first
            time.sleep(0.1)
        time.sleep(0.3)  # let an update the job sent just before land first
        return _status_md(cancelled_lines(s.results))

    def on_unload(request: gr.Request):
        sessions.close(request.session_hash)

    with gr.Blocks(title="hiface: restore faces in photos", analytics_enabled=False,
                   delete_cache=(3600, 86400)) as demo:
        gr.Markdown("# hiface: restore the faces in your photos\n"
                    "Add photos, press **Restore**, compare before and after, download the results. "
                    "Everything runs on this computer; nothing is sent anywhere.\n\n"
                    f"<span class='hiface-note'>{limits.describe()}</span>")
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                files = gr.File(label="Photos (or one short video)", file_count="multiple", type="filepath",
                                elem_id="uploads")
                model = gr.Dropdown(choices=[(c.label, c.name) for c in models], value=default_model,
                                    label="Model", elem_id="model")
                model_info = gr.Markdown(model_markdown(default_model), elem_classes=["hiface-note"])
                d = models[0]
                with gr.Row():
                    fid_auto = gr.Checkbox(value=True, label="Fidelity: auto (untick to set it)",
                                           elem_id="fidelity-auto", interactive=d.supports_fidelity)
                    fid = gr.Slider(0, 1, value=d.default_fidelity if d.default_fidelity is not None else 0.5,
                                    step=0.05, label="Fidelity (0 = strongest restoration, 1 = closest to input)",
                                    interactive=False, elem_id="fidelity")
                background = gr.Dropdown(choices=bgs, value=bgs[0][1], label="Background up-sampler",
                                         elem_id="background")
                detector = gr.Dropdown(choices=detector_choices(), value="dlib", label="Face detector",
                                       elem_id="detector")
                upscale = gr.Slider(1, 4, value=2, step=0.5, label="Up-scale (output size / input size)",
                                    elem_id="upscale")
                with gr.Accordion("Advanced", open=False):
                    batch = gr.Slider(0, 16, value=0, step=1, label="Faces per model call (--batch-size; 0 = auto: "
                                      "1 on a CPU, 8 on a GPU)",
                                      elem_id="batch-size")
                with gr.Row():
                    run_btn = gr.Button("Restore", variant="primary", elem_id="restore")
                    cancel_btn = gr.Button("Cancel", variant="stop", elem_id="cancel")
            with gr.Column(scale=2, min_width=420):
                status = gr.Markdown("", elem_id="status")
                photo = gr.Dropdown(choices=[], label="Photo", visible=False, elem_id="photo-select")
                slider = gr.ImageSlider(label="Before | after (drag the handle)", type="filepath",
                                        elem_id="before-after", buttons=["download", "fullscreen"])
                video = gr.Video(label="Restored video", visible=False, interactive=False, elem_id="video")
                gallery = gr.Gallery(label="Faces: aligned input | restored", columns=3, height="auto",
                                     preview=False, fit_columns=False, object_fit="contain", elem_id="faces")
                table = gr.Dataframe(value=empty_table(), label="Faces", interactive=False,
                                     elem_id="face-table")
                timings = gr.Markdown("", elem_id="timings")
                downloads = gr.File(label="Download (a zip when there are several results)",
                                    file_count="multiple", interactive=False, elem_id="downloads")

        outputs = [status, photo, slider, video, gallery, table, timings, downloads]
        files.change(on_upload, inputs=[files], outputs=[status], concurrency_limit=None,
                     concurrency_id="light", show_progress="hidden", api_visibility="private")
        model.change(on_model, inputs=[model, fid_auto], outputs=[model_info, fid_auto, fid], concurrency_limit=None,
                     concurrency_id="light", show_progress="hidden", api_visibility="private")
        fid_auto.change(on_fidelity_auto, inputs=[fid_auto, model], outputs=[fid], concurrency_limit=None,
                        concurrency_id="light", show_progress="hidden", api_visibility="private")
        run_btn.click(on_restore, inputs=[files, model, fid_auto, fid, background, detector, upscale, batch],
                      outputs=outputs, concurrency_limit=1, concurrency_id="restore", api_visibility="private")
        cancel_btn.click(on_cancel, inputs=None, outputs=[status], concurrency_limit=None,
                         concurrency_id="light", show_progress="hidden", api_visibility="private")
        photo.change(on_select, inputs=[photo], outputs=[slider], concurrency_limit=None,
                     concurrency_id="light", show_progress="hidden", api_visibility="private")
        demo.unload(on_unload)
    demo.queue(max_size=32, default_concurrency_limit=1)
    return demo


def create_server_app(root: Path, limits: Limits = Limits(), device: str = "cpu", allow_downloads: bool = False):
    """The ASGI app: the page mounted at ``/`` with the offline settings. ``root`` must be the
    ``GRADIO_TEMP_DIR`` this process imported gradio with (see :func:`hiface.web.server.serve`)."""
    if Path(os.environ.get("GRADIO_TEMP_DIR", "")).resolve() != Path(root).resolve():
        raise HifaceError(f"GRADIO_TEMP_DIR must be {root} before gradio is imported")
    from fastapi import FastAPI

    _patch_page_template()
    demo = build_app(root, limits, device=device, allow_downloads=allow_downloads)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    return gr.mount_gradio_app(app, demo, path="", footer_links=[], run_history=False, ssr_mode=False,
                               pwa=False, mcp_server=False, enable_monitoring=False, show_error=True,
                               max_file_size=limits.max_upload_bytes, css=CSS,
                               theme=gr.themes.Default())
