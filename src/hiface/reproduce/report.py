"""Reports of ``hiface reproduce``: ``tables.md``/``tables.json`` (numbers only, deterministic),
``report.md`` (tables, figures, contact sheets, command, machine, wall time) and a
self-contained ``report.html`` rendered from the same Markdown."""
from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from .. import report as R
from ..metrics.registry import METRICS
from .budgets import Budget

__all__ = ["tables_doc", "write_all", "ablation_sheet", "markdown_to_html", "subtask_table", "ablation_table"]


def _clean(o: Any) -> Any:
    if isinstance(o, float):
        return None if not np.isfinite(o) else o
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def tables_doc(b: Budget, seed: int, hold: dict, subtasks: dict | None, ablation: dict | None) -> dict[str, Any]:
    """Every reported number (means, stds, counts, statuses), nothing that depends on timing."""
    def summ(s: dict) -> dict:
        return {"n_images": s["n_images"], "n_failed": s["n_failed"], "faces": s.get("faces"),
                "metrics": {m: {k: e.get(k) for k in ("mean", "std", "n", "status")} for m, e in s["metrics"].items()}}

    doc: dict[str, Any] = {"budget": b.name, "seed": seed, "holdout": hold["holdout"]}
    if subtasks is not None:
        doc["subtasks"] = {k: {"title": v["title"], "preset": v["preset"]["name"], "metrics": v["metrics"],
                               "rows": {m: summ(s) for m, s in v["summaries"].items()}} for k, v in subtasks.items()}
    if ablation is not None:
        doc["ablation"] = {"caption": b.caption(), "rank_metric": ablation["rank_metric"], "ranked": ablation["ranked"],
                           "variants": {v: {"seeds": r["seeds"], "params": r["params"],
                                            "metrics": {m: {k: e.get(k) for k in ("mean", "std", "n", "status")}
                                                        for m, e in r["metrics"].items()}}
                                        for v, r in ablation["variants"].items()},
                           "runs": {k: summ(s) for k, s in ablation["run_summaries"].items()},
                           "curves": {k: r["curves"] for k, r in ablation["runs"].items()}}
    return _clean(doc)


def subtask_table(st: dict) -> str:
    md = R.summary_table_md(st["summaries"], st["metrics"])
    return md.replace("n/a (weights not present)", "weights not present")


def ablation_table(ab: dict, b: Budget) -> str:
    from .ablation import VARIANTS

    metrics = ab["metrics"]
    rows = {VARIANTS[v][2]: r for v, r in ab["variants"].items()}
    md = R.summary_table_md(rows, metrics, row_header="variant (hold-out, mean over seeds ± std over seeds)",
                            with_std=True)
    lines = md.rstrip("\n").split("\n")
    lines[0] += " seeds | params |"
    lines[1] += "---|---|"
    for i, r in enumerate(ab["variants"].values()):
        lines[2 + i] += f" {', '.join(map(str, r['seeds']))} | {r['params']:,} |"
    return "\n".join(lines) + "\n"


#: a run whose validation PSNR rose more than this over its last evaluation interval is "still rising"
RISING_DB = 0.1


def _still_rising(run: dict) -> bool:
    v = [p["psnr"] for p in run.get("curves", {}).get("val", []) if p.get("psnr") is not None]
    return len(v) >= 3 and v[-1] - v[-2] > RISING_DB


def _meaning(ab: dict, b: Budget) -> str:
    """What the ablation's differences mean at this budget (winner vs runner-up vs seed noise)."""
    from .ablation import VARIANTS

    m = ab["rank_metric"]
    lab = METRICS[m].label
    v1, v2 = ab["ranked"][:2]
    r1, r2 = ab["variants"][v1]["metrics"][m], ab["variants"][v2]["metrics"][m]
    if r1["mean"] is None or r2["mean"] is None:
        return f"- {lab} could not be computed, so the variants are not ranked.\n"
    diff = abs(r1["mean"] - r2["mean"])
    spreads = [x for x in (r1["std"], r2["std"]) if x is not None]
    txt = (f"- Ranked by hold-out {lab} of the first seed: {VARIANTS[v1][2]} first, {VARIANTS[v2][2]} second "
           f"(these two got {b.ab_extra_seeds} more seed(s)).\n"
           f"- Their mean {lab} differs by {diff:.3f}")
    if spreads:
        noise = max(spreads)
        verdict = ("larger than" if diff > 2 * noise else "within about twice")
        txt += (f"; the seed-to-seed spread (std over seeds) is up to {noise:.3f}, so the difference is "
                f"{verdict} the noise at this budget.")
        if diff <= 2 * noise:
            txt += (" At this budget the ablation does **not** separate these variants; only a larger budget "
                    "(more steps, faces and seeds) can test the paper's claim.")
    else:
        txt += "; with one seed there is no estimate of the noise."
    rising = [k for k, r in ab["runs"].items() if _still_rising(r)]
    if rising:
        txt += (f"\n- Validation PSNR was still rising at the last step in {len(rising)} of {len(ab['runs'])} runs "
                f"(by more than {RISING_DB} dB over the last {b.ab_eval_every} steps: "
                f"{', '.join(rising)}): the networks have not converged at this budget, so the rows compare "
                "early training, not the converged models the paper compares.")
    if b.ab_steps < 1000:
        txt += (f"\n- {b.ab_steps} steps is far too few for a GAN to converge: read these rows as a check that "
                "the protocol runs end to end, not as evidence for or against the paper.")
    return txt + "\n"


def ablation_sheet(ab: dict, ab_dir: Path, path: Path, rows: int) -> Path:
    """Contact sheet: hold-out faces x (degraded, each first-seed variant, ground truth)."""
    from ..io import read_image, write_image
    from .ablation import VARIANTS

    seed = min(r["seed"] for r in ab["runs"].values())
    cols = [k for k, r in ab["runs"].items() if r["seed"] == seed]
    grid = []
    for n in ab["pairs"][:rows]:
        row = [read_image(ab_dir / "holdout" / "lq" / f"{n}.png").pixels]
        row += [read_image(ab_dir / "runs" / k / "holdout" / f"{n}.png").pixels for k in cols]
        row.append(read_image(ab_dir / "holdout" / "gt" / f"{n}.png").pixels)
        grid.append(row)
    labels = ["degraded", *[VARIANTS[ab["runs"][k]["variant"]][2][:3] + " " + "/".join(VARIANTS[ab["runs"][k]["variant"]][:2])
                            for k in cols], "ground truth"]
    sheet = R.contact_sheet(grid, labels, ab["pairs"][:rows], cell=128)
    return write_image(path, sheet, overwrite=True, quality=90)


def _tables_md(b: Budget, hold: list[str], subtasks: dict | None, ablation: dict | None, seed: int) -> str:
    out = [f"<!-- hiface reproduce, budget {b.name}, seed {seed}: every number below regenerates from the command -->\n"]
    if subtasks is not None:
        out.append("## 1. Sub-tasks (HiFaceGAN §3.1 / §4.1)\n")
        out.append(f"The same {len(hold)} hold-out faces ({b.size}² ) in every sub-task; per-image degradation "
                   f"seeds from `hiface.degrade.image_seed({seed}, file name)` (each sub-task's manifest.json).\n")
        for k, st in subtasks.items():
            out.append(f"### {k}: {st['title']} (preset `{st['preset']['name']}`)\n")
            out.append(subtask_table(st))
            out.append(f"![{k} contact sheet](subtasks/{k}/contact_sheet.jpg)\n")
    if ablation is not None:
        out.append("## 2. Ablation: suppression x replenishment (HiFaceGAN §3.2–3.3)\n")
        out.append(f"**Caption.** Face-renovation mix at {b.ab_size}², {b.caption()}. Scored on the "
                   f"{len(ablation['pairs'])} hold-out faces (hifacegan-fr, seed {seed}); values are the mean over "
                   "seeds of each run's hold-out mean, ± the std over seeds where a variant has more than one.\n")
        out.append(ablation_table(ablation, b))
        out.append(_meaning(ablation, b))
        out.append("Per run (hold-out; `degraded` = the input, for reference):\n")
        out.append(R.summary_table_md(ablation["run_summaries"], ablation["metrics"], row_header="run"))
        out.append("![ablation training curves](ablation_curves.png)\n")
        out.append("![ablation contact sheet](ablation_sheet.jpg)\n")
    return "\n".join(out)


def _notes(subtasks: dict | None, ablation: dict | None) -> str:
    lines = []
    if subtasks:
        st = next(iter(subtasks.values()))
        for name, info in st["methods"].items():
            if "unavailable" in info:
                lines.append(f"- `{name}`: not run ({info['unavailable']}).")
        first = next(iter(st["summaries"].values()))
        for m in st["metrics"]:
            s = first["metrics"][m]["status"]
            if s != "ok":
                lines.append(f"- {METRICS[m].label}: {s}.")
    return "\n".join(dict.fromkeys(lines)) + "\n" if lines else ""


def write_all(out: Path, doc: dict, tables: dict, b: Budget, subtasks: dict | None, ablation: dict | None) -> None:
    hold = tables["holdout"]
    body = _tables_md(b, hold, subtasks, ablation, doc["seed"])
    R.write_text(out / "tables.md", body)
    R.write_text(out / "tables.json", json.dumps(tables, indent=1, sort_keys=True) + "\n")
    R.write_text(out / "reproduce.json", R.to_json(doc))
    mc, tm = doc["machine"], doc["timing"]
    head = [f"# hiface reproduce: HiFaceGAN experiments at budget `{b.name}`\n",
            f"- command: `{doc['command'] or 'run_reproduce(...)'}`",
            f"- machine: {mc['cpu']}, {mc['cores']} cores, torch {mc['torch']} ({mc['torch_threads']} threads)"
            + (f", GPU {mc['cuda']}" if mc.get("cuda") else ", no GPU")
            + (f"; load average at start {mc['load_average_at_start']}" if mc.get("load_average_at_start") else ""),
            f"- wall time: {tm['total_s']:.0f} s total"
            + "".join(f"; {k[:-2]} {tm[k]:.0f} s" for k in ("subtasks_s", "ablation_s") if k in tm)
            + " (per sub-task, per image and per training step: `reproduce.json`)",
            f"- started {doc['started_utc']} UTC; hiface {doc['version']}; seed {doc['seed']}; data `{doc['data']}`",
            f"- budget `{b.name}`: {b.summary}",
            "- hold-out faces: `holdout.json`; tables only: `tables.md`, every number: `tables.json`\n"]
    if subtasks is not None:
        head.append("![summary of the sub-tasks](summary.png)\n")
    notes = _notes(subtasks, ablation)
    md = "\n".join(head) + "\n" + body + ("\n## Notes\n\n" + notes if notes else "")
    R.write_text(out / "report.md", md)
    R.write_text(out / "report.html", markdown_to_html(md, out, title=f"hiface reproduce ({b.name})"))


# --------------------------------------------------------------------------- HTML
_IMG = re.compile(r"^!\[(.*?)\]\((.*?)\)\s*$")


def _inline(s: str) -> str:
    s = html.escape(s)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)


def markdown_to_html(md: str, base: Path, title: str) -> str:
    """The subset of Markdown these reports use (headings, tables, bullets, images, paragraphs)
    → one self-contained HTML page (images inlined as data: URIs)."""
    css = ("body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}table{border-collapse:collapse;"
           "margin:8px 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f3f3f3}"
           "td:first-child{text-align:left}img{max-width:100%}code{background:#f4f4f4}")
    out = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title><style>{css}</style>"]
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("<!--"):
            i += 1
            continue
        if ln.startswith("#"):
            lvl = len(ln) - len(ln.lstrip("#"))
            out.append(f"<h{lvl}>{_inline(ln[lvl:].strip())}</h{lvl}>")
        elif ln.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in rows[0]) + "</tr>")
            for r in rows[2:]:
                out.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>")
            out.append("</table>")
            continue
        elif ln.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif (m := _IMG.match(ln)):
            p = base / m.group(2)
            if p.is_file():
                mime = "image/png" if p.suffix == ".png" else "image/jpeg"
                data = base64.b64encode(p.read_bytes()).decode("ascii")
                out.append(f"<figure><img src='data:{mime};base64,{data}' alt='{html.escape(m.group(1))}'>"
                           f"<figcaption>{html.escape(m.group(1))}</figcaption></figure>")
        elif ln.strip():
            out.append(f"<p>{_inline(ln)}</p>")
        i += 1
    return "\n".join(out) + "\n"
