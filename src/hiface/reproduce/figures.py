"""matplotlib figures of ``hiface reproduce`` (the ``reproduce`` extra): the sub-task summary and
the ablation's training curves. Agg backend, fixed sizes; PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import HifaceError
from ..metrics.registry import METRICS

__all__ = ["summary_figure", "curves_figure"]


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise HifaceError("hiface reproduce draws its figures with matplotlib: pip install 'hiface[reproduce]'") from None
    plt.rcParams["svg.hashsalt"] = "hiface"
    return plt


def _save(fig, path: Path) -> Path:
    from ..io import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png", metadata={"Software": None})
    return path


def summary_figure(subtasks: dict[str, Any], path: Path, metrics: tuple[str, ...] = ("psnr", "ssim", "fed", "niqe")) -> Path:
    """Grouped bars: one panel per metric, sub-tasks on x, one bar per method that ran."""
    import numpy as np

    plt = _plt()
    keys = list(subtasks)
    methods: list[str] = []
    for k in keys:
        for m in subtasks[k]["run_methods"]:
            if m not in methods:
                methods.append(m)
    shown = [m for m in metrics if any(any(subtasks[k]["summaries"][me]["metrics"].get(m, {}).get("mean") is not None
                                           for me in methods) for k in keys)] or ["psnr"]
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.6), squeeze=False)
    x = np.arange(len(keys))
    w = 0.8 / max(1, len(methods))
    for ax, met in zip(axes[0], shown):
        for i, me in enumerate(methods):
            vals = []
            for k in keys:
                e = subtasks[k]["summaries"].get(me, {}).get("metrics", {}).get(met, {})
                v = e.get("mean")
                vals.append(np.nan if v is None or not np.isfinite(v) else v)
            ax.bar(x + (i - (len(methods) - 1) / 2) * w, vals, w, label=me)
        spec = METRICS[met]
        ax.set_title(f"{spec.label} ({'higher' if spec.higher_is_better else 'lower'} is better)", fontsize=10)
        ax.set_xticks(x, keys, rotation=30, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    out = _save(fig, path)
    plt.close(fig)
    return out


def curves_figure(ablation: dict[str, Any], path: Path, caption: str) -> Path:
    """Three panels: generator loss, validation PSNR and validation FED vs step; one line per run."""
    plt = _plt()
    from .ablation import VARIANTS

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    colors = {v: c for v, c in zip(VARIANTS, ("tab:blue", "tab:orange", "tab:green", "tab:red"))}
    for r in ablation["runs"].values():
        c = r["curves"]
        style = dict(color=colors[r["variant"]], ls="-" if r["seed"] == min(x["seed"] for x in ablation["runs"].values()) else "--",
                     label=f"{VARIANTS[r['variant']][2]} s{r['seed']}")
        loss = [(s, v) for s, v in c["loss_g"] if v is not None]
        if loss:
            axes[0].plot(*zip(*loss), **style)
        for ax, m in ((axes[1], "psnr"), (axes[2], "fed")):
            pts = [(row["step"], row[m]) for row in c["val"] if row[m] is not None]
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, **style)
    for ax, t in zip(axes, ("generator loss (train)", "validation PSNR (dB, ↑)", "validation FED (↓)")):
        ax.set_title(t, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    fig.suptitle(caption, fontsize=8)
    fig.tight_layout()
    out = _save(fig, path)
    plt.close(fig)
    return out
