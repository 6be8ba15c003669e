"""`hiface` entry point. Sub-commands are imported lazily so `hiface --help` is instant
and a broken optional dependency only affects the command that needs it."""
from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from ..errors import HifaceError

# name -> (module, attribute, one-line help). Modules live in hiface.cli.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "restore": ("hiface.cli.restore", "restore", "Restore the faces in photos, folders or videos."),
    "upscale": ("hiface.cli.upscale", "upscale", "Up-scale whole images (Real-ESRGAN or Lanczos), no face step."),
    "degrade": ("hiface.cli.degrade", "degrade", "Simulate degradations (HiFaceGAN §3.1 and peers)."),
    "evaluate": ("hiface.cli.evaluate", "evaluate", "Score restored images (PSNR, SSIM, NIQE, FED, LLE, ...)."),
    "benchmark": ("hiface.cli.benchmark", "benchmark", "Degrade clean faces, restore with models and baselines, compare."),
    "reproduce": ("hiface.cli.reproduce", "reproduce", "Reproduce the paper's sub-task tables and ablation at a --budget."),
    "train": ("hiface.cli.train", "train", "Train or fine-tune a restorer from a YAML config."),
    "models": ("hiface.cli.models", "models", "List the registered restorers and their pretrained configs."),
    "convert": ("hiface.cli.models", "convert", "Convert an official .pth checkpoint to .safetensors."),
    "serve": ("hiface.cli.serve", "serve", "Start the local web page (needs the web extra)."),
    "export": ("hiface.cli.export", "export", "Export a restorer's network to ONNX (the onnx extra)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        mod, attr, _ = COMMANDS[name]
        try:
            return getattr(importlib.import_module(mod), attr)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("hiface"):
                # command not built yet in this version
                @click.command(name=name, help=COMMANDS[name][2])
                def _missing():
                    raise click.ClickException(f"'hiface {name}' is not available in this version")

                return _missing
            raise

    def format_commands(self, ctx, formatter):
        rows = [(n, h) for n, (_, _, h) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="hiface", message="%(prog)s %(version)s")
def cli():
    """hiface: restore real face photos.

    \b
    Examples:
      hiface restore old_photo.jpg -o restored/
      hiface degrade faces/ -o lq/ --preset hifacegan-fr --seed 0 --pairs
      hiface evaluate --restored restored/ --gt faces/
      hiface models
    """


def main(argv=None) -> int:
    try:
        rv = cli.main(args=argv, prog_name="hiface", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except HifaceError as e:
        click.echo(f"Error: {e}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
