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
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from .. import files
from ..errors import HifaceError, ImageReadError, ImageWriteError, cli_mode

__all__ = [
    "InputsNotFoundError", "expand_inputs", "expand_inputs_with_roots", "plan_output",
    "BatchReport", "progress", "step_bar", "friendly_errors",
]

T = TypeVar("T")


class InputsNotFoundError(files.InputsNotFoundError, click.UsageError):
    """An input path/pattern matched no file. A HifaceError that click shows as a usage error
    (exit 2)."""

    def __init__(self, message: str):
        files.InputsNotFoundError.__init__(self, message)
        click.UsageError.__init__(self, message)

    def __str__(self) -> str:
        return self.message


def _usage(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except files.InputsNotFoundError as e:
            raise InputsNotFoundError(str(e)) from None

    return wrapper


expand_inputs = _usage(files.expand_inputs)
expand_inputs_with_roots = _usage(files.expand_inputs_with_roots)
plan_output = files.plan_output


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


def _show(force: bool | None) -> bool:
    env = os.environ.get("HIFACE_PROGRESS", "").strip().lower()
    if force is None and env in ("1", "true", "yes", "on"):
        force = True
    elif force is None and env in ("0", "false", "no", "off"):
        force = False
    return force if force is not None else sys.stderr.isatty()


def step_bar(desc: str, *, force: bool | None = None, unit: str = "face") -> Callable[[int, int], None]:
    """A ``callback(done, total)`` driving a transient tqdm bar (progress within one item, e.g.
    the faces of a group photo); shown like :func:`progress`."""
    from tqdm import tqdm

    state: dict[str, Any] = {}

    def cb(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not _show(force),
                                leave=False, dynamic_ncols=True)
        bar = state["bar"]
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return cb


def friendly_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator for click callbacks: a HifaceError becomes a ClickException (one-line
    ``Error: ...`` on stderr, exit 1) also when the command runs standalone / under CliRunner."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            with cli_mode():  # messages name command-line flags, not Python arguments
                return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except HifaceError as e:
            raise click.ClickException(str(e)) from None

    return wrapper
