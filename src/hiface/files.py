"""Finding input files and naming outputs, shared by the library and the commands.

:func:`expand_inputs_with_roots` turns files, folders and shell-style globs into a sorted,
de-duplicated list of files (each with the root it was found under), and :func:`plan_output`
names an input's output inside an output folder, mirroring sub-folders.
"""
from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import HifaceError
from .io import IMAGE_EXTS

__all__ = ["InputsNotFoundError", "expand_inputs", "expand_inputs_with_roots", "plan_output"]

_GLOB_CHARS = set("*?[")


class InputsNotFoundError(HifaceError):
    """An input path/pattern matched no file; the message names it."""


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
