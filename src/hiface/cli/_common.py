"""Helpers shared by the batch commands: input expansion (files, folders, globs), output
planning, a per-file batch report and a progress bar.

Typical use in a command::

    items = expand_inputs_with_roots(inputs, recursive=recursive)
    report = BatchReport()
    for path, root in progress(items, "restore"):
        try:
            img = read_image(path)
            ...
            write_image(plan_output(path, outdir, ext=".png", base=root), out,
                        overwrite=overwrite, inputs=[path])
            report.add_ok(path)
        except HifaceError as e:
            report.add_failed(path, e)
    ctx.exit(report.finish())   # prints the summary line; exit 1 if anything failed
"""
from __future__ import annotations

import functools
import glob
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from ..errors import HifaceError, ImageReadError, ImageWriteError
from ..io import IMAGE_EXTS

__all__ = [
    "InputsNotFoundError", "expand_inputs", "expand_inputs_with_roots", "plan_output",
    "BatchReport", "progress", "friendly_errors",
]

T = TypeVar("T")
_GLOB_CHARS = set("*?[")


class InputsNotFoundError(HifaceError, click.UsageError):
    """An input path/pattern matched no file. A HifaceError that click also shows nicely."""

    def __init__(self, message: str):
        HifaceError.__init__(self, message)
        click.UsageError.__init__(self, message)

    def __str__(self) -> str:
        return self.message


def _norm_exts(exts: Iterable[str]) -> tuple[str, ...]:
    return tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in exts)


def _scan_folder(folder: Path, exts: tuple[str, ...], recursive: bool) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    out = []
    for p in it:
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):  # hidden files, our temp files
            continue
        if p.suffix.lower() in exts and p.is_file():
            out.append(p)
    return out


def _glob_root(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard ("a/b/*.jpg" → "a/b")."""
    parts = Path(pattern).parts
    keep = []
    for part in parts:
        if _GLOB_CHARS & set(part):
            break
        keep.append(part)
    return Path(*keep) if keep else Path(".")


def expand_inputs_with_roots(inputs: Sequence[str | os.PathLike], *,
                             exts: Iterable[str] = IMAGE_EXTS,
                             recursive: bool = False) -> list[tuple[Path, Path]]:
    """Like :func:`expand_inputs`, but each file comes with the root it was found under (the
    folder given, the fixed part of a glob, or the file's own folder) so callers can mirror
    sub-folders with ``plan_output(path, outdir, base=root)``."""
    exts = _norm_exts(exts)
    seen: dict[str, tuple[Path, Path]] = {}
    for raw in inputs:
        s = str(raw)
        p = Path(s).expanduser()
        found: list[tuple[Path, Path]] = []
        if p.is_file():
            # an explicitly named file is always taken: reading it reports what is wrong
            found = [(p, p.parent)]
        elif p.is_dir():
            found = [(f, p) for f in _scan_folder(p, exts, recursive)]
            if not found:
                raise InputsNotFoundError(
                    f"folder '{s}' contains no images (looked for {', '.join(exts)}"
                    f"{'' if recursive else '; use --recursive for sub-folders'})")
        elif _GLOB_CHARS & set(s):
            root = _glob_root(s)
            for m in sorted(glob.glob(os.path.expanduser(s), recursive=True)):
                mp = Path(m)
                if mp.is_dir():
                    found += [(f, mp) for f in _scan_folder(mp, exts, recursive)]
                elif mp.suffix.lower() in exts and mp.is_file():
                    found.append((mp, root))
            if not found:
                raise InputsNotFoundError(f"no images match the pattern '{s}'")
        else:
            raise InputsNotFoundError(f"no such file or folder: '{s}'")
        for f, root in found:
            try:
                key = str(f.resolve())
            except OSError:
                key = os.path.abspath(f)
            seen.setdefault(key, (f, root))
    if not seen:
        raise InputsNotFoundError("no input images given")
    return sorted(seen.values(), key=lambda fr: str(fr[0]))


def expand_inputs(inputs: Sequence[str | os.PathLike], *, exts: Iterable[str] = IMAGE_EXTS,
                  recursive: bool = False) -> list[Path]:
    """Expand files, folders and shell-style globs into a sorted, de-duplicated list of files.

    Folders contribute their files with one of ``exts`` (sub-folders with ``recursive``; hidden
    files are skipped). A file named explicitly is always kept, whatever its extension.

    Raises:
        InputsNotFoundError (a HifaceError and click.UsageError): an input matches nothing;
        the message names it.
    """
    return [f for f, _ in expand_inputs_with_roots(inputs, exts=exts, recursive=recursive)]


def plan_output(inp: Path, outdir: Path, *, ext: str | None = None, suffix: str = "",
                base: Path | None = None) -> Path:
    """Output path for ``inp`` inside ``outdir``: same stem (+ ``suffix``), extension ``ext``
    (default: the input's), keeping the sub-folder structure of ``inp`` relative to ``base``.

    >>> plan_output(Path("in/a/b.jpg"), Path("out"), ext="png", suffix="_lq", base=Path("in"))
    PosixPath('out/a/b_lq.png')
    """
    inp, outdir = Path(inp), Path(outdir)
    rel = Path()
    if base is not None:
        try:
            rel = Path(os.path.relpath(inp.resolve().parent, Path(base).resolve()))
        except ValueError:  # different drives
            rel = Path()
        if rel.parts and rel.parts[0] == "..":
            rel = Path()
    if ext is None:
        ext = inp.suffix
    elif ext and not ext.startswith("."):
        ext = "." + ext
    name = f"{inp.stem}{suffix}{ext}"
    return outdir / rel / name if str(rel) != "." else outdir / name


@dataclass
class BatchReport:
    """Per-file outcome of a batch command. Failures are printed as they happen (above the
    progress bar) and summarised at the end; ``exit_code`` is 1 when anything failed."""

    ok: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    echo: bool = True

    def add_ok(self, path: str | os.PathLike) -> None:
        self.ok.append(Path(path))

    def add_failed(self, path: str | os.PathLike, reason: str | BaseException) -> None:
        if isinstance(reason, (ImageReadError, ImageWriteError)):
            # don't repeat the path: "cannot read image X: reason" → reason
            text = reason.reason if Path(reason.path) == Path(path) else str(reason)
        else:
            text = str(reason) or type(reason).__name__
        self.failed.append((Path(path), text))
        if self.echo:
            _write_line(f"FAILED {path}: {text}")

    def note(self, msg: str) -> None:
        self.notes.append(msg)
        if self.echo:
            _write_line(f"note: {msg}")

    @property
    def n_ok(self) -> int:
        return len(self.ok)

    @property
    def n_failed(self) -> int:
        return len(self.failed)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def summary(self) -> str:
        """One line, e.g. ``"3 done, 1 failed (see the FAILED lines above)"``."""
        s = f"{self.n_ok} done, {self.n_failed} failed"
        if self.failed:
            s += " (see the FAILED lines above)"
        return s

    def to_dict(self) -> dict[str, Any]:
        return {"ok": [str(p) for p in self.ok],
                "failed": [{"path": str(p), "reason": r} for p, r in self.failed],
                "notes": list(self.notes)}

    def finish(self) -> int:
        """Print the summary line to stderr and return :attr:`exit_code`."""
        if self.echo:
            click.echo(self.summary(), err=True)
        return self.exit_code


def _write_line(msg: str) -> None:
    try:
        from tqdm import tqdm

        tqdm.write(msg, file=sys.stderr)
    except ImportError:  # pragma: no cover
        click.echo(msg, err=True)


def progress(iterable: Iterable[T], desc: str, total: int | None = None, *,
             force: bool | None = None, unit: str = "img") -> Iterator[T]:
    """tqdm progress bar on stderr. Shown only when stderr is a terminal, unless ``force`` is
    True (or ``HIFACE_PROGRESS=1``); ``force=False`` or ``HIFACE_PROGRESS=0`` hides it."""
    from tqdm import tqdm

    if force is None:
        env = os.environ.get("HIFACE_PROGRESS", "").strip().lower()
        if env in ("1", "true", "yes", "on"):
            force = True
        elif env in ("0", "false", "no", "off"):
            force = False
    show = force if force is not None else sys.stderr.isatty()
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    yield from tqdm(iterable, desc=desc, total=total, file=sys.stderr, disable=not show,
                    unit=unit, dynamic_ncols=True, leave=True)


def friendly_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator for click callbacks: a HifaceError becomes a ClickException (one-line
    ``Error: ...`` on stderr, exit 1) also when the command runs standalone / under CliRunner."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except HifaceError as e:
            raise click.ClickException(str(e)) from None

    return wrapper
