"""Exception types shown to users. The CLI prints their message (never a traceback)."""
from __future__ import annotations

import contextvars as _cv


class HifaceError(Exception):
    """Base class: anything the CLI reports as a one-line error."""


class ImageReadError(HifaceError):
    """An input file is missing, empty, truncated, corrupt or not an image."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}")


class ImageWriteError(HifaceError):
    """An output could not be written (exists without --overwrite, is an input, I/O error)."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot write {self.path}: {reason}")


class WeightsError(HifaceError):
    """A weight file is missing, has the wrong checksum, or does not fit the model."""


class ConfigError(HifaceError):
    """A configuration value or key is invalid."""


class UnavailableError(HifaceError):
    """An optional resource (weights, package) is not installed; the message says how to get it."""


class MissingAssetError(WeightsError, UnavailableError):
    """An external file (weights, a model or parameter file) is nowhere hiface looks: the message
    names the file, the places looked in and how to get it (see :mod:`hiface.assets`)."""


# -- wording: errors raised from Python must not name command-line flags ---------------------
_CLI = _cv.ContextVar("hiface_cli", default=False)


def flag(cli: str, python: str) -> str:
    """``cli`` (e.g. "--overwrite") while a command runs (:func:`cli_mode`), else ``python``
    (e.g. "overwrite=True"): messages name what the reader can actually change."""
    return cli if _CLI.get() else python


class cli_mode:  # noqa: N801  (used as a context manager / decorator helper)
    """``with cli_mode(): ...`` -- errors inside name command-line flags."""

    def __enter__(self):
        self._token = _CLI.set(True)
        return self

    def __exit__(self, *exc):
        _CLI.reset(self._token)
        return False
