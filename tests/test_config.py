"""hiface.config: typed dataclass ⇄ YAML, overrides, clear errors."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from hiface.config import apply_overrides, dump_yaml, from_dict, from_yaml, load_yaml, to_dict, to_yaml
from hiface.errors import ConfigError
from hiface.train.config import TrainConfig


@dataclass
class Inner:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.9)
    names: list[str] = field(default_factory=list)


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    mode: Literal["lip", "pairwise", "none"] = "lip"
    steps: int = 10
    crop: int | None = None
    flag: bool = False


def test_round_trip_yaml(tmp_path: Path):
    cfg = Outer(inner=Inner(lr=3e-4, betas=(0.5, 0.99), names=["a", "b"]), mode="pairwise", steps=7, crop=64, flag=True)
    p = dump_yaml(cfg, tmp_path / "c.yaml")
    back = load_yaml(Outer, p)
    assert back == cfg
    assert isinstance(back.inner.betas, tuple)
    # the full training config too, with every default
    t = TrainConfig()
    assert from_yaml(TrainConfig, to_yaml(t)) == t
    assert to_dict(t)["optim"]["betas"] == [0.0, 0.9]


def test_partial_yaml_keeps_defaults():
    cfg = from_yaml(Outer, "inner:\n  lr: 2.0e-4\n")
    assert cfg.inner.lr == 2e-4 and cfg.inner.betas == (0.0, 0.9) and cfg.steps == 10


def test_overrides_coerce_types():
    cfg = apply_overrides(Outer(), ["inner.lr=5e-4", "steps=20", "flag=true", "mode=none",
                                   "crop=null", "inner.betas=[0.1, 0.2]", "inner.names=[x, y]"])
    assert cfg.inner.lr == 5e-4 and isinstance(cfg.inner.lr, float)
    assert cfg.steps == 20 and cfg.flag is True and cfg.mode == "none" and cfg.crop is None
    assert cfg.inner.betas == (0.1, 0.2) and cfg.inner.names == ["x", "y"]
    assert apply_overrides(Outer(), ["crop=32"]).crop == 32
    assert apply_overrides(Outer(), ["steps=1_000"]).steps == 1000
    assert apply_overrides(Outer(), ["inner.names=[]"]).inner.names == []
    assert apply_overrides(TrainConfig(), ["data.root="]).data.root == ""


def test_unknown_key_names_it_and_lists_valid():
    with pytest.raises(ConfigError) as e:
        from_yaml(Outer, "inner:\n  lrr: 1\n")
    msg = str(e.value)
    assert "inner.lrr" in msg and "did you mean 'lr'" in msg and "lr, betas, names" in msg
    with pytest.raises(ConfigError, match=r"unknown config key 'stepz'.*valid keys: inner, mode, steps, crop, flag"):
        apply_overrides(Outer(), ["stepz=3"])
    with pytest.raises(ConfigError, match=r"unknown config key 'train.stpes'.*did you mean 'steps'"):
        apply_overrides(TrainConfig(), ["train.stpes=3"])


def test_bad_values_are_clear():
    with pytest.raises(ConfigError, match=r"'mode'.*'bogus' is not one of 'lip', 'pairwise', 'none'"):
        apply_overrides(Outer(), ["mode=bogus"])
    with pytest.raises(ConfigError, match=r"'steps'.*expected an integer, got 'ten'"):
        apply_overrides(Outer(), ["steps=ten"])
    with pytest.raises(ConfigError, match=r"'inner.betas'.*expected 2 items"):
        from_yaml(Outer, "inner: {betas: [1, 2, 3]}")
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_overrides(Outer(), ["steps"])
    with pytest.raises(ConfigError, match="is a value .* not a section"):
        apply_overrides(Outer(), ["steps.x=1"])
    with pytest.raises(ConfigError, match="expected true/false"):
        from_dict(Outer, {"flag": "maybe"})


def test_load_yaml_errors_name_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_yaml(Outer, tmp_path / "missing.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("steps: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_yaml(Outer, p)
    p.write_text("nope: 1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'nope'"):
        load_yaml(Outer, p)
