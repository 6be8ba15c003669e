"""Typed configuration: dataclasses ⇄ plain dicts ⇄ YAML, with ``a.b=value`` overrides.

A config is a (possibly nested) ``@dataclass`` whose fields carry type annotations. The
helpers here convert it to and from YAML strictly: an unknown key, a wrong type or a value
outside a ``Literal[...]`` raises :class:`hiface.errors.ConfigError` naming the dotted key and
listing the valid choices, so a typo never silently falls back to a default.

Example::

    @dataclass
    class Optim:
        lr: float = 1e-4
        betas: tuple[float, float] = (0.0, 0.9)

    @dataclass
    class Cfg:
        optim: Optim = field(default_factory=Optim)
        mode: Literal["a", "b"] = "a"

    cfg = load_yaml(Cfg, "cfg.yaml", overrides=["optim.lr=2e-4", "mode=b"])
    dump_yaml(cfg, "resolved.yaml")

Supported field types: bool, int, float, str, ``X | None``, ``Literal[...]``, ``list[X]``,
``tuple[X, ...]``/``tuple[X, Y]``, ``dict[str, X]``, ``pathlib.Path`` and nested dataclasses.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

from .errors import ConfigError

__all__ = ["from_dict", "to_dict", "load_yaml", "dump_yaml", "to_yaml", "from_yaml",
           "apply_overrides", "parse_override", "coerce"]

T = TypeVar("T")


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _fail(key: str, msg: str) -> ConfigError:
    return ConfigError(f"config key '{key or '<root>'}': {msg}")


def coerce(value: Any, tp: Any, key: str = "") -> Any:
    """Convert ``value`` (as read from YAML or a ``--set`` string) to type ``tp``.

    Strings are parsed for numbers and booleans; everything else must already match.
    Raises ConfigError naming ``key`` on any mismatch."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in ("none", "null", "~"))):
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, key)
            except ConfigError:
                pass
        raise _fail(key, f"{value!r} does not fit {_type_name(tp)}")
    if origin is Literal:
        for a in args:
            if value == a or (isinstance(value, str) and not isinstance(a, str) and str(a) == value):
                return a
        raise _fail(key, f"{value!r} is not one of {', '.join(repr(a) for a in args)}")
    if dataclasses.is_dataclass(tp):
        if isinstance(tp, type) and isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise _fail(key, f"expected a mapping for section {tp.__name__}, got {value!r}")
        return from_dict(tp, value, _prefix=key)
    if origin in (list, tuple) or tp in (list, tuple):
        if isinstance(value, str):
            import yaml

            parsed = yaml.safe_load(value) if value.strip() else []
            value = parsed if isinstance(parsed, list) else [parsed]
        if not isinstance(value, (list, tuple)):
            raise _fail(key, f"expected a list, got {value!r}")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise _fail(key, f"expected {len(args)} items, got {len(value)}: {list(value)!r}")
            return tuple(coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if (origin is tuple or tp is tuple) else out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _fail(key, f"expected a mapping, got {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "off", "0"):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise _fail(key, f"expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise _fail(key, f"expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                try:
                    f = float(value)
                except ValueError:
                    f = None
                if f is not None and f.is_integer():
                    return int(f)
        raise _fail(key, f"expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise _fail(key, f"expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _fail(key, f"expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise _fail(key, f"expected a string, got {value!r}")
    if tp is Path or tp is os.PathLike:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise _fail(key, f"expected a path, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise _fail(key, f"unsupported value {value!r} for type {_type_name(tp)}")


def from_dict(cls: type[T], data: dict | None, *, _prefix: str = "") -> T:
    """Build dataclass ``cls`` from a nested dict; missing keys keep their defaults.

    Unknown keys raise ConfigError naming the dotted key and listing the valid ones."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise _fail(_prefix, f"expected a mapping, got {type(data).__name__}")
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs = {}
    for k, v in data.items():
        dotted = f"{_prefix}.{k}" if _prefix else str(k)
        if k not in names:
            import difflib

            close = difflib.get_close_matches(str(k), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown config key '{dotted}'{hint}; valid keys"
                              f"{' in ' + _prefix if _prefix else ''}: {', '.join(names)}")
        kwargs[k] = coerce(v, hints[k], dotted)
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise _fail(_prefix, str(e)) from e
    return obj


def to_dict(obj: Any) -> Any:
    """Dataclass (nested) → plain dict of YAML-safe values (tuples become lists, paths strings)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def parse_override(item: str) -> tuple[list[str], str]:
    """``"a.b=value"`` → (["a", "b"], "value")."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"bad override {item!r}: expected KEY=VALUE, e.g. optim.lr_g=2e-4")
    return key.split("."), value.strip()


def apply_overrides(obj: T, overrides: list[str] | tuple[str, ...] = ()) -> T:
    """Return a copy of dataclass ``obj`` with each ``"a.b=value"`` applied (values coerced to
    the field's type; YAML syntax allowed for lists, e.g. ``data.paths=[a,b]``)."""
    for item in overrides:
        parts, raw = parse_override(item)
        obj = _set_path(obj, parts, raw, [])
    return obj


def _set_path(obj: Any, parts: list[str], raw: str, done: list[str]) -> Any:
    head, rest = parts[0], parts[1:]
    dotted = ".".join(done + [head])
    names = [f.name for f in dataclasses.fields(obj)]
    if head not in names:
        import difflib

        close = difflib.get_close_matches(head, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        where = f" in {'.'.join(done)}" if done else ""
        raise ConfigError(f"unknown config key '{dotted}'{hint}; valid keys{where}: {', '.join(names)}")
    tp = _hints(type(obj))[head]
    cur = getattr(obj, head)
    if rest:
        if not dataclasses.is_dataclass(cur):
            raise ConfigError(f"config key '{dotted}' is a value ({_type_name(tp)}), not a section; "
                              f"cannot set '{'.'.join(done + parts)}'")
        new = _set_path(cur, rest, raw, done + [head])
    else:
        if dataclasses.is_dataclass(cur):
            import yaml

            sub = yaml.safe_load(raw)
            new = coerce(sub, tp, dotted)
        else:
            value: Any = raw
            # YAML syntax for containers / null; plain strings otherwise (coerce parses numbers)
            if (raw and raw[0] in "[{") or raw.lower() in ("null", "none", "~"):
                import yaml

                value = yaml.safe_load(raw)
            new = coerce(value, tp, dotted)
    return dataclasses.replace(obj, **{head: new})


def to_yaml(obj: Any) -> str:
    import yaml

    return yaml.safe_dump(to_dict(obj), sort_keys=False, default_flow_style=None)


def from_yaml(cls: type[T], text: str, overrides: list[str] | tuple[str, ...] = ()) -> T:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}") from e
    return apply_overrides(from_dict(cls, data or {}), overrides)


def load_yaml(cls: type[T], path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> T:
    """Read dataclass ``cls`` from a YAML file, then apply ``overrides`` (``a.b=value``)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        return from_yaml(cls, p.read_text(encoding="utf-8"), overrides)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from e


def dump_yaml(obj: Any, path: str | os.PathLike) -> Path:
    """Atomically write dataclass ``obj`` as YAML."""
    from .io import write_bytes_atomic

    return write_bytes_atomic(path, to_yaml(obj).encode("utf-8"))
