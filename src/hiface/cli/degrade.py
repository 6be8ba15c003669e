"""`hiface degrade`: make degraded (low-quality) copies of clean face images, with a manifest of
every sampled parameter so the set can be regenerated and reported."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..degrade import degrade as run_degrade
from ..degrade import get_preset, image_seed, ops

# keep `hiface --help` light: presets import only numpy and the pipeline classes
from ..degrade.presets import PRESETS, describe_preset
from ..errors import HifaceError, ImageWriteError
from ..io import read_image, write_bytes_atomic, write_image
from ..jobs import prepare_outdir
from ._common import (
    BatchReport,
    expand_inputs_with_roots,
    friendly_errors,
    plan_output,
    progress,
)

OUT_EXTS = ("png", "jpg", "webp", "bmp", "tif")


def _rel_name(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def _manifest_csv(entries: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    cols = ["input", "name", "status", "lq", "gt", "seed", "height", "width", "lq_height",
            "lq_width", "order", "ops", "reason"]
    wr = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    wr.writeheader()
    for e in entries:
        row = {k: e.get(k, "") for k in cols}
        if e.get("status") == "ok":
            row.update(height=e["size"][0], width=e["size"][1], lq_height=e["lq_size"][0],
                       lq_width=e["lq_size"][1], order=">".join(d["op"] for d in e["ops"]),
                       ops=json.dumps(e["ops"], separators=(",", ":")))
        wr.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def _print_list() -> None:
    for i, name in enumerate(PRESETS):
        if i:
            click.echo()
        click.echo(describe_preset(name))


@click.command(name="degrade", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", nargs=-1, metavar="INPUT...")
@click.option("-o", "--outdir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (created if needed).")
@click.option("-p", "--preset", type=click.Choice(list(PRESETS)), default="hifacegan-fr",
              show_default=True, help="Degradation preset; see --list for the exact ranges.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Run seed. Each image's seed is derived from it and the image's name, so "
                   "adding or removing files does not change the others.")
@click.option("--size", type=click.IntRange(min=8), default=None,
              help="First centre-crop to a square and resize to SIZE×SIZE (the clean target).")
@click.option("--pairs", is_flag=True,
              help="Also write the (resized) clean targets: OUTDIR/lq/ and OUTDIR/gt/.")
@click.option("--lr", is_flag=True,
              help="Keep the low-resolution image (do not resize back after downsampling).")
@click.option("--ext", type=click.Choice(OUT_EXTS), default="png", show_default=True,
              help="Output format (degraded images are lossless PNG by default).")
@click.option("-r", "--recursive", is_flag=True, help="Descend into sub-folders (structure is kept).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs and manifest.")
@click.option("--progress/--no-progress", "show_progress", default=None,
              help="Force the progress bar on/off (default: on when stderr is a terminal).")
@click.option("--list", "list_presets", is_flag=True, help="Print the presets with their ranges and exit.")
@click.pass_context
@friendly_errors
def degrade(ctx: click.Context, inputs: tuple[str, ...], outdir: Path | None, preset: str, seed: int,
            size: int | None, pairs: bool, lr: bool, ext: str, recursive: bool, overwrite: bool,
            show_progress: bool | None, list_presets: bool) -> None:
    """Degrade clean face images with a preset (HiFaceGAN §4.1, GFP-GAN, CodeFormer).

    INPUT can be files, folders and glob patterns. Writes OUTDIR/<name>.png (with --pairs:
    OUTDIR/lq/<name>.png and OUTDIR/gt/<name>.png) plus OUTDIR/manifest.json and
    OUTDIR/manifest.csv listing every image's seed and sampled parameters, ops in the order
    applied. A file that cannot be read is reported and the batch goes on; the exit code is 1
    if anything failed. Existing files are never replaced without --overwrite.

    \b
    Examples:
      hiface degrade --list
      hiface degrade faces/ -o lq/ --preset hifacegan-fr --seed 0
      hiface degrade faces/ -o data/ --size 512 --pairs              # lq/ + gt/ training pairs
      hiface degrade 'faces/*.jpg' -o sr/ --preset hifacegan-sr --lr  # keep the low-res image
    """
    if list_presets:
        _print_list()
        return
    if not inputs:
        raise click.UsageError("give at least one INPUT (file, folder or glob), or --list")
    if outdir is None:
        raise click.UsageError("missing -o/--outdir")

    items = expand_inputs_with_roots(inputs, recursive=recursive)
    # an output folder inside an input folder (e.g. faces/ -o faces/lq -r): never take earlier
    # outputs as inputs
    out_res = outdir.resolve()
    kept = [(p, r) for p, r in items
            if not (out_res != r.resolve() and out_res.is_relative_to(r.resolve())
                    and p.resolve().is_relative_to(out_res))]
    skipped = len(items) - len(kept)
    items = kept

    prepare_outdir(outdir)  # a folder that cannot be created or written: one clear error, before any work
    man_json, man_csv = outdir / "manifest.json", outdir / "manifest.csv"
    if not overwrite:
        for m in (man_json, man_csv):
            if m.exists():
                raise ImageWriteError(m, "already exists: this folder holds an earlier run "
                                         "(use --overwrite to replace it, or another -o)")
    lq_dir, gt_dir = (outdir / "lq", outdir / "gt") if pairs else (outdir, None)
    spec = get_preset(preset)

    report = BatchReport()
    if skipped:
        report.note(f"skipped {skipped} file(s) inside the output folder {outdir}")
    if not items:
        raise HifaceError(f"no input images left: all are inside the output folder {outdir}")
    entries: list[dict[str, Any]] = []
    planned: dict[Path, Path] = {}
    for path, root in progress(items, f"degrade ({preset})", force=show_progress):
        name = _rel_name(path, root)
        entry: dict[str, Any] = {"input": str(path), "name": name}
        try:
            lq_path = plan_output(path, lq_dir, ext=ext, base=root)
            gt_path = plan_output(path, gt_dir, ext="png", base=root) if gt_dir else None
            key = lq_path.resolve()
            if key in planned:
                raise HifaceError(f"output {lq_path} would also be written for {planned[key]} "
                                  "(same name, different extension); rename one of them")
            planned[key] = path
            for target in (lq_path, gt_path):  # check both before writing either
                if target is not None and target.exists() and not overwrite:
                    raise ImageWriteError(target, "file already exists (use --overwrite to replace it)")
            img = read_image(path)
            clean = img.pixels if size is None else ops.square_resize(img.pixels, size)
            alpha = img.alpha if (img.alpha is None or size is None) else ops.square_resize(img.alpha[..., None], size)[..., 0]
            s = image_seed(seed, name)
            res = run_degrade(clean, spec, seed=s, lr=lr)
            lq_alpha = alpha
            if alpha is not None and res.image.shape[:2] != alpha.shape[:2]:
                lq_alpha = ops.resize(alpha[..., None], res.image.shape[:2], "area")[..., 0]
            write_image(lq_path, res.image, lq_alpha, overwrite=overwrite, inputs=[path])
            if gt_path is not None:
                write_image(gt_path, clean, alpha, overwrite=overwrite, inputs=[path])
            entry.update(status="ok", lq=lq_path.relative_to(outdir).as_posix(),
                         gt=gt_path.relative_to(outdir).as_posix() if gt_path else None, seed=s,
                         size=[int(clean.shape[0]), int(clean.shape[1])],
                         lq_size=[int(res.image.shape[0]), int(res.image.shape[1])],
                         ops=[d.to_dict() for d in res.ops])
            report.add_ok(path)
        except HifaceError as e:
            entry.update(status="failed", reason=getattr(e, "reason", str(e)))
            report.add_failed(path, e)
        except (ValueError, OSError, MemoryError) as e:  # unexpected per-file problem: keep going
            entry.update(status="failed", reason=f"{type(e).__name__}: {e}")
            report.add_failed(path, f"{type(e).__name__}: {e}")
        entries.append(entry)

    manifest = {
        "tool": "hiface degrade", "version": __version__, "preset": preset, "seed": seed,
        "size": size, "lr": lr, "pairs": pairs, "ext": ext,
        "seed_rule": "per-image seed = first 8 bytes (little-endian, 63 bits) of "
                     "sha256('{seed}:{name}'), name = path relative to the input folder",
        "preset_spec": spec.spec(), "n_ok": report.n_ok, "n_failed": report.n_failed,
        "files": entries,
    }
    for m, text in ((man_json, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"),
                    (man_csv, _manifest_csv(entries))):
        try:
            write_bytes_atomic(m, text.encode())
        except OSError as e:
            raise ImageWriteError(m, e.strerror or str(e)) from None
    click.echo(f"{report.summary()}; wrote {lq_dir}{' and ' + str(gt_dir) if gt_dir else ''}, "
               f"manifest {man_json}", err=True)
    ctx.exit(report.exit_code)
