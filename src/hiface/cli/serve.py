"""`hiface serve`: the local web page (needs ``pip install 'hiface[web]'``)."""
from __future__ import annotations

import click

from ._common import friendly_errors

EPILOG = """\b
Examples:
  hiface serve                         # then open http://127.0.0.1:7860/ in a browser
  hiface serve --port 8080 --max-files 30
  hiface serve --host 0.0.0.0          # reachable from the local network (no login!)

\b
The page restores photos with the same code as `hiface restore` (same settings, same
result). It works offline: no fonts, scripts or analytics from the internet, and models
whose weights are not in the cache are listed with how to get them (or pass
--allow-downloads). Uploads and results live in a temporary folder; a tab's files are
removed when it is closed, the folder when the server stops.
"""


@click.command(name="serve", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but localhost makes the page reachable from other machines.")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True, help="Port to listen on.")
@click.option("--max-files", type=click.IntRange(min=1), default=10, show_default=True,
              help="Files per restore.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0.01), default=50, show_default=True,
              help="Size limit per uploaded file, in MB.")
@click.option("--max-megapixels", type=click.FloatRange(min=0.01), default=16, show_default=True,
              help="Size limit per photo (or video frame), in megapixels.")
@click.option("--max-output-megapixels", type=click.FloatRange(min=0.01), default=64, show_default=True,
              help="Size limit of a result (input x up-scale²), in megapixels.")
@click.option("--max-video-seconds", type=click.FloatRange(min=0.1), default=20, show_default=True,
              help="Length limit of a video.")
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:N]|mps",
              help="Where the model runs; auto: a CUDA GPU if present, else mps, else the CPU.")
@click.option("--allow-downloads", is_flag=True,
              help="Let the page download a model's official weights into the cache when it is chosen.")
@friendly_errors
def serve(host, port, max_files, max_upload_mb, max_megapixels, max_output_megapixels, max_video_seconds,
          device, allow_downloads):
    """Start the local web page: upload photos, restore, compare, download."""
    from ..web.jobs import Limits

    limits = Limits(max_files=max_files, max_upload_mb=max_upload_mb, max_megapixels=max_megapixels,
                    max_output_megapixels=max_output_megapixels, max_video_seconds=max_video_seconds)
    from ..web.server import serve as run

    try:
        run(host=host, port=port, limits=limits, device=device, allow_downloads=allow_downloads,
            echo=lambda m: click.echo(m, err=True))
    except ImportError as e:
        if e.name and e.name.split(".")[0] in ("gradio", "uvicorn", "fastapi", "pandas"):
            raise click.ClickException(f"`hiface serve` needs the web extra: pip install 'hiface[web]' "
                                       f"({e.name} is not installed)") from None
        raise
