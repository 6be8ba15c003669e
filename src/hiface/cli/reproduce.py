"""`hiface reproduce`: the HiFaceGAN paper's experiments at this machine's scale (options and
printing; the work is :mod:`hiface.reproduce`)."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ..errors import ConfigError

__all__ = ["reproduce"]

HELP = """Reproduce the paper's experiments (sub-task tables, ablation) at a --budget.

\b
1. Sub-tasks (§3.1): 4x/8x SR, deblur, denoise, JPEG, 16x mosaic, face renovation;
   the same seeded hold-out faces restored by the degraded input, bicubic, NL-means,
   the shipped default model and every model whose weights are present (others:
   "weights not present"); every metric. A table, a contact sheet each; a summary figure.
2. Ablation: LIP+SPADE, pairwise+SPADE, no suppression+SPADE, LIP+plain, trained alike
   on the face-renovation mix; scored on the hold-out faces; training curves; two more
   seeds' worth for the winner and the runner-up.
3. report.md / report.html, tables.md / tables.json (every number; identical for the
   same command and seed), reproduce.json (command, machine, wall time).

\b
Budgets (--budget):
  tiny     tests / CI: 2 faces, 2 steps, tiny networks (about a minute)
  small    a first look on a 2-core CPU (9 min): 3 faces, 200 steps
  default  2-core CPU, <= 2.5 h: 24 faces, 3,000 steps per run (ngf 4),
           two runs at a time (ab_parallel=2, one thread each)
  gpu      one GPU: 200 faces at 256², ngf 16, 20,000 steps per run

\b
Examples:
  hiface reproduce --budget small -o runs/reproduce-small
  hiface reproduce --budget gpu --data ffhq_aligned/ --weights gfpgan-1.4=GFPGANv1.4.pth -o runs/gpu
  hiface reproduce --budget default --set ab_steps=6000 --only ablation -o runs/ab
"""


def _parse_kv(items: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep or not k.strip() or not v.strip():
            raise ConfigError(f"{what} expects KEY=VALUE, got {it!r}")
        out[k.strip()] = v.strip()
    return out


def _budget_overrides(items: tuple[str, ...]) -> dict:
    from ..reproduce.budgets import Budget

    out: dict = {}
    for k, v in _parse_kv(items, "--set").items():
        f = Budget.__dataclass_fields__.get(k)
        if f is None or k == "name":
            raise ConfigError(f"--set: unknown budget field {k!r}; one of: "
                              f"{', '.join(x for x in Budget.__dataclass_fields__ if x != 'name')}")
        typ = f.type if isinstance(f.type, str) else f.type.__name__
        try:
            out[k] = int(v) if typ == "int" else float(v) if typ == "float" else v
        except ValueError:
            raise ConfigError(f"--set {k}: expected {typ}, got {v!r}") from None
    return out


@click.command(name="reproduce", help=HELP)
@click.option("--budget", "-b", type=click.Choice(["tiny", "small", "default", "gpu"]), default="default",
              show_default=True, help="Scale of the run (see above).")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--data", type=click.Path(path_type=Path), default=Path("../shared/data/faces/utk200"), show_default=True,
              help="Folder of clean, aligned faces (hold-out, validation and training faces are drawn from it).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the face choice, degradations and training.")
@click.option("--weights", "weights", multiple=True, metavar="MODEL=FILE",
              help="Weight file of an optional model (repeatable), e.g. gfpgan-1.4=GFPGANv1.4.pth.")
@click.option("--only", type=click.Choice(["subtasks", "ablation"]), default=None, help="Run one part only.")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE", help="Override a budget field, e.g. ab_steps=3000.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier reproduction in --out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def reproduce(budget, out, data, seed, weights, only, sets, overwrite, quiet):
    from ..reproduce import get_budget, run_reproduce

    b = get_budget(budget, **_budget_overrides(sets))
    cmd = "hiface " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["reproduce"] else None
    doc = run_reproduce(out, budget=b, data=data, seed=seed, weights=_parse_kv(weights, "--weights"),
                        parts=(only,) if only else ("subtasks", "ablation"), overwrite=overwrite,
                        command=cmd or f"hiface reproduce --budget {budget} -o {out}", progress=not quiet)
    click.echo(f"wrote {out / 'report.md'}, report.html, tables.md, tables.json ({doc['timing']['total_s']:.0f} s)")
    return 0
