"""Score restored images against ground truth (or without it): the protocol behind
``hiface evaluate``, callable from scripts and notebooks.

    pairs = pair_files(expand_inputs([restored_dir]), expand_inputs([gt_dir]))
    rows, summary, ev = run_evaluation(pairs, EvalSettings(("psnr", "ssim")))
    write_evaluation(out_dir, title="...", rows=rows, summaries={"mine": summary}, settings=..., ev=ev)
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import HifaceError, ImageWriteError, flag
from ..jobs import prepare_outdir
from ..metrics.registry import METRICS

__all__ = ["Progress", "pair_files", "score_pair_job", "pick_extremes", "run_evaluation", "write_evaluation",
           "check_report_folder"]

#: ``progress(iterable, desc, total)`` -> the same items (e.g. wrapped in a progress bar)
Progress = Callable[[Iterable, str, "int | None"], Iterable]


def _no_progress(it: Iterable, desc: str, total: int | None = None) -> Iterable:
    return it


def _by_stem(files: Sequence[Path], what: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    dup: list[str] = []
    for f in files:
        if f.stem in out:
            dup.append(f"{out[f.stem].name} / {f.name}")
        out[f.stem] = f
    if dup:
        raise HifaceError(f"{what} has several files with the same name but different extensions, "
                          f"so they cannot be paired by name: {', '.join(dup[:5])}")
    return out


def _listing(names: Sequence[str], limit: int = 10) -> str:
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def pair_files(restored: Sequence[Path], gt: Sequence[Path] | None, *,
               ignore_unmatched: bool = False) -> list[tuple[str, Path, Path | None]]:
    """Pair restored and ground-truth files by name (file stem; extensions may differ).

    Returns ``(name, restored, gt)`` sorted by name (``gt`` None in no-reference mode).
    Raises HifaceError listing the unmatched files on both sides unless ``ignore_unmatched``
    (then only the matched pairs are kept; none at all is still an error)."""
    r = _by_stem(restored, "the restored folder")
    if gt is None:
        return [(k, r[k], None) for k in sorted(r)]
    g = _by_stem(gt, "the ground-truth folder")
    only_r = sorted(r[k].name for k in r.keys() - g.keys())
    only_g = sorted(g[k].name for k in g.keys() - r.keys())
    both = sorted(r.keys() & g.keys())
    if (only_r or only_g) and (not ignore_unmatched or not both):
        parts = []
        if only_r:
            parts.append(f"{len(only_r)} restored file(s) without ground truth: {_listing(only_r)}")
        if only_g:
            parts.append(f"{len(only_g)} ground-truth file(s) without a restored image: {_listing(only_g)}")
        hint = "" if both else " No file names match at all."
        raise HifaceError("cannot pair files by name: " + "; ".join(parts) + "." + hint +
                          ("" if ignore_unmatched else " Use --ignore-unmatched to score the matching pairs only."))
    return [(k, r[k], g[k]) for k in both]


def score_pair_job(ev, job: tuple[str, str, str | None]) -> dict[str, Any]:
    """Worker: read one pair and score it (module level so that worker processes can run it)."""
    from ..io import read_image

    name, rp, gp = job
    row: dict[str, Any] = {"name": name, "restored": rp, "gt": gp, "values": {}}
    try:
        img = read_image(rp).pixels
        gt = read_image(gp).pixels if gp else None
        ps = ev.score_group({"r": img}, gt)["r"]
    except HifaceError as e:
        row["error"] = str(e)
        return row
    row.update(values=ps.values, face_restored=ps.face_restored, face_gt=ps.face_gt, error=ps.error,
               pooled=ps.pooled, reasons=ps.reasons)
    return row


def _rank_metric(metrics: Sequence[str], summary: dict) -> str | None:
    for m in ("psnr", "lpips", "mnv2_dist", "ssim", "fed", "niqe"):
        if m in metrics and summary["metrics"][m]["mean"] is not None and METRICS[m].reference != "set":
            return m
    return None


def pick_extremes(rows: Sequence[dict], metric: str | None, k: int = 3) -> list[tuple[str, dict]]:
    """Worst ``k`` then best ``k`` rows by ``metric`` (direction-aware), skipping rows without it."""
    if metric is None:
        return []
    scored = [r for r in rows if r.get("values", {}).get(metric) is not None]
    hib = METRICS[metric].higher_is_better
    scored.sort(key=lambda r: r["values"][metric], reverse=not hib)  # worst first
    k = min(k, len(scored) // 2 if len(scored) > 1 else len(scored))
    worst = [(f"worst #{i + 1}", r) for i, r in enumerate(scored[:k])]
    best = [(f"best #{i + 1}", r) for i, r in enumerate(reversed(scored[len(scored) - k:]))] if k else []
    return worst + best


def run_evaluation(pairs: Sequence[tuple[str, Path, Path | None]], settings, *, workers: int = 1,
                   progress: Progress | None = None, desc: str = "evaluate") -> tuple[list[dict], dict, Any]:
    """Score ``pairs`` (see :func:`pair_files`) with ``settings`` (a
    :class:`hiface.metrics.evaluator.EvalSettings`); returns (rows, summary, evaluator).

    ``progress(iterable, desc, total)`` wraps the loop (e.g. a tqdm bar); default: none."""
    from ..metrics.evaluator import Evaluator, PairScore, run_jobs, summarize

    ev = Evaluator(settings)
    jobs = [(n, str(r), str(g) if g else None) for n, r, g in pairs]
    rows: list[dict] = []
    it = run_jobs(ev, jobs, score_pair_job, workers=workers)
    for _, row in (progress or _no_progress)(it, desc, len(jobs)):
        rows.append(row)
    scores = [PairScore(values=r.get("values", {}), pooled=r.get("pooled", {}), face_restored=r.get("face_restored"),
                        face_gt=r.get("face_gt"), error=r.get("error"), reasons=r.get("reasons", {})) for r in rows]
    summary = summarize(scores, settings.metrics, ev.unavailable)
    for r in rows:
        r.pop("pooled", None)
    return rows, summary, ev


def check_report_folder(out: Path, overwrite: bool) -> None:
    """Create ``out`` and prove it writable; refuse existing report files without ``overwrite``.
    Call it before computing anything."""
    from .. import report as R

    if not overwrite:
        exist = [f for f in R.REPORT_FILES if (out / f).exists()]
        if exist:
            raise ImageWriteError(out, f"report files already exist ({', '.join(exist)}); use "
                                       f"{flag('--overwrite', 'overwrite=True')}")
    prepare_outdir(out)


def write_evaluation(out: Path, *, title: str, rows: list[dict], summaries: dict[str, dict], settings, ev,
                     input_dir: Path | None, overwrite: bool, extra_json: dict | None = None) -> list[Path]:
    """Write metrics.md, per_image.csv, metrics.json and report.html into ``out``."""
    from .. import report as R
    from ..io import read_image

    files = [out / f for f in R.REPORT_FILES]
    if not overwrite:
        exist = [f.name for f in files if f.exists()]
        if exist:
            raise ImageWriteError(out, f"report files already exist ({', '.join(exist)}); use --overwrite")
    check_report_folder(out, True)
    metrics = list(settings.metrics)
    notes = R.metric_notes_md(metrics, summaries, settings.describe(), ev.niqe_label())
    md = f"# {title}\n\n" + R.summary_table_md(summaries, metrics, with_std=True) + "\n" + notes
    R.write_text(files[0], md)
    R.write_text(files[1], R.per_image_csv(rows, metrics))
    doc = {"title": title, "settings": {**settings.__dict__, "metrics": metrics, "pixels": settings.describe(),
                                        "niqe_model": ev.niqe_label()},
           "metrics": {m: METRICS[m].to_dict() for m in metrics},
           "unavailable": ev.unavailable, "summary": summaries, "images": rows, **(extra_json or {})}
    R.write_text(files[2], R.to_json(doc))
    # HTML: worst and best images side by side (input | restored | ground truth)
    first = next(iter(summaries.values()))
    rank = _rank_metric(metrics, first)
    picks = pick_extremes(rows, rank)
    inputs = {}
    if input_dir is not None:
        from ..io import IMAGE_EXTS

        inputs = {p.stem: p for p in sorted(Path(input_dir).iterdir()) if p.suffix.lower() in IMAGE_EXTS}
    imgs: dict[str, dict] = {}
    for _, r in picks:
        d = {}
        for key, path in (("restored", r.get("restored")), ("gt", r.get("gt")), ("input", inputs.get(r["name"]))):
            try:
                d[key] = read_image(path).pixels if path else None
            except HifaceError:
                d[key] = None
        imgs[r["name"]] = d
    R.write_text(files[3], R.evaluation_html(title=title, metrics=metrics, summaries=summaries, notes_md=notes,
                                             rows=rows, picks=picks, images=imgs, rank_metric=rank))
    return files
