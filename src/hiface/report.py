"""Evaluation reports: Markdown tables, per-image CSV, JSON, a self-contained HTML page and
contact sheets. Every table states each metric's direction (↑ higher is better, ↓ lower is
better), marks non-standard proxies, and prints unavailable metrics with their reason instead
of a number.

All files are written atomically (temp file + rename).
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ImageWriteError
from .io import write_bytes_atomic
from .metrics.registry import METRICS

__all__ = ["format_value", "summary_table_md", "write_text", "per_image_csv", "evaluation_html",
           "contact_sheet", "thumbnail_b64", "REPORT_FILES"]

#: files written by :func:`hiface.evaluation.evaluate.write_evaluation` in ``--out``
REPORT_FILES = ("metrics.md", "per_image.csv", "metrics.json", "report.html")

_DIGITS = {"psnr": 2, "ssim": 4, "ms_ssim": 4, "niqe": 3, "fed": 4, "lle": 2, "lpips": 4, "fid": 2,
           "mnv2_dist": 4, "mnv2_fd": 3}


def format_value(name: str, v: float | None, std: float | None = None) -> str:
    """Fixed-precision text of a metric value; '–' for None, 'inf' for infinity."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if math.isinf(v):
        return "inf"
    d = _DIGITS.get(name, 4)
    s = f"{v:.{d}f}"
    if std is not None:
        s += f" ± {std:.{d}f}"
    return s


def _cell(name: str, entry: Mapping[str, Any], with_std: bool = False) -> str:
    st = entry.get("status", "ok")
    if entry.get("mean") is None:  # full reason in the notes; keep the table readable
        if st.startswith(("unavailable", "not run")):
            return st.split(":")[0].split(" (")[0] if st.startswith("not run") else st.split(":")[0]
        return f"n/a ({st})"
    return format_value(name, entry["mean"], entry.get("std") if with_std else None)


def summary_table_md(summaries: Mapping[str, Mapping[str, Any]], metrics: Sequence[str], *,
                     row_header: str = "method", with_std: bool = False) -> str:
    """Markdown table: one row per entry of ``summaries`` (name -> :func:`summarize` output)."""
    cols = [METRICS[m].header for m in metrics]
    faces = any("faces" in s for s in summaries.values())
    extra = ["images"] + (["FED/LLE faces"] if faces else [])
    lines = ["| " + " | ".join([row_header, *cols, *extra]) + " |",
             "|" + "---|" * (len(cols) + 1 + len(extra))]
    for key, summ in summaries.items():
        cells = [_cell(m, summ["metrics"][m], with_std) for m in metrics]
        n = [f"{summ['n_images'] - summ['n_failed']}" + (f" ({summ['n_failed']} failed)" if summ["n_failed"] else "")]
        if faces:
            f = summ.get("faces")
            n.append(f"{f['used']}/{f['used'] + f['excluded']}" if f else "–")
        lines.append("| " + " | ".join([key, *cells, *n]) + " |")
    return "\n".join(lines) + "\n"


def metric_notes_md(metrics: Sequence[str], summaries: Mapping[str, Mapping[str, Any]],
                    settings_text: str, niqe_label: str | None) -> str:
    """Bullet list: what each metric is, plus face-detection exclusions per row."""
    out = [f"- {settings_text}."]
    if niqe_label and "niqe" in metrics:
        out.append(f"- {niqe_label}; Y channel, 96x96 blocks, computed on the restored image only.")
    for m in metrics:
        spec = METRICS[m]
        out.append(f"- **{spec.label}** ({spec.arrow}, {'higher' if spec.higher_is_better else 'lower'} is better): "
                   f"{spec.description}.")
    first = next(iter(summaries.values()), None)
    for m in metrics:
        st = first["metrics"][m].get("status", "ok") if first else "ok"
        if st.startswith("unavailable"):
            out.append(f"- {METRICS[m].label}: {st}.")
    for key, s in summaries.items():
        for m in metrics:
            st = s["metrics"][m].get("status", "ok")
            if st.startswith("ok ("):
                out.append(f"- {key}, {METRICS[m].label}: {st[4:-1]}.")
        f = s.get("faces")
        if f and f["excluded"]:
            out.append(f"- {key}: FED/LLE exclude {f['excluded']} image(s) where dlib found no face "
                       f"(restored: {f['no_face_restored']}, ground truth: {f['no_face_gt']}).")
        elif f:
            out.append(f"- {key}: FED/LLE over all {f['used']} images (a face was found in every pair).")
    return "\n".join(out) + "\n"


def write_text(path: str | Path, text: str) -> Path:
    try:
        return write_bytes_atomic(Path(path), text.encode("utf-8"))
    except OSError as e:
        raise ImageWriteError(path, e.strerror or str(e)) from None


def per_image_csv(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str], extra: Sequence[str] = ()) -> str:
    """CSV text: name, files, one column per metric (empty when not computable), error."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", *extra, "restored", "gt", *metrics, "face_restored", "face_gt", "error"])
    for r in rows:
        vals = r.get("values", {})
        w.writerow([r["name"], *[r.get(e, "") for e in extra], r.get("restored", ""), r.get("gt") or "",
                    *["" if vals.get(m) is None else repr(float(vals[m])) for m in metrics],
                    "" if r.get("face_restored") is None else int(r["face_restored"]),
                    "" if r.get("face_gt") is None else int(r["face_gt"]), r.get("error") or ""])
    return buf.getvalue()


def to_json(obj: Any) -> str:
    def default(o):
        if isinstance(o, (np.floating, np.integer)):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(type(o).__name__)

    def clean(o):  # JSON has no inf/nan: write them as strings
        if isinstance(o, float) and (math.isinf(o) or math.isnan(o)):
            return str(o)
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o

    return json.dumps(clean(obj), indent=2, ensure_ascii=False, default=default) + "\n"


# ----------------------------------------------------------------------------------------------
# images

def _resize(a: np.ndarray, size: int) -> np.ndarray:
    import cv2

    h, w = a.shape[:2]
    s = size / max(h, w)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(a, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)


def thumbnail_b64(a: np.ndarray, size: int = 256, quality: int = 88) -> str:
    """``data:`` URI of a JPEG thumbnail (longer side ``size``) of an RGB uint8 image."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(_resize(a, size)).save(buf, "JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _put_text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, color=(20, 20, 20)) -> None:
    import cv2

    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)


def contact_sheet(grid: Sequence[Sequence[np.ndarray | None]], col_labels: Sequence[str],
                  row_labels: Sequence[str] = (), *, cell: int = 160, pad: int = 4) -> np.ndarray:
    """RGB uint8 sheet: one row per image, one column per method, labelled on top/left.

    ``grid[r][c]`` is an (H, W, 3) uint8 image (resized to fit ``cell``) or None (grey cell)."""
    import cv2

    rows, cols = len(grid), len(col_labels)
    left = 0 if not row_labels else 150
    top = 28
    H = top + rows * (cell + pad) + pad
    W = left + cols * (cell + pad) + pad
    sheet = np.full((H, W, 3), 255, np.uint8)
    for c, lab in enumerate(col_labels):
        x = left + pad + c * (cell + pad)
        (tw, _), _ = cv2.getTextSize(lab, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        _put_text(sheet, lab[:24], (x + max(0, (cell - tw) // 2), 19), 0.45)
    for r in range(rows):
        y = top + pad + r * (cell + pad)
        if row_labels:
            lab = row_labels[r]
            for i in range(0, min(len(lab), 66), 22):
                _put_text(sheet, lab[i:i + 22], (4, y + 16 + 14 * (i // 22)), 0.38)
        for c in range(cols):
            x = left + pad + c * (cell + pad)
            a = grid[r][c] if c < len(grid[r]) else None
            if a is None:
                sheet[y:y + cell, x:x + cell] = 200
                continue
            t = _resize(a, cell)
            sheet[y:y + t.shape[0], x:x + t.shape[1]] = t
    return sheet


# ----------------------------------------------------------------------------------------------
# HTML

_CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}
.trip{display:flex;gap:6px;margin:6px 0 18px}.trip figure{margin:0}.trip figcaption{font-size:12px;text-align:center}
.proxy{color:#a35}.na{color:#999}h3{margin-bottom:4px}"""


def evaluation_html(*, title: str, metrics: Sequence[str], summaries: Mapping[str, Mapping[str, Any]],
                    notes_md: str, rows: Sequence[Mapping[str, Any]], picks: Sequence[tuple[str, Mapping[str, Any]]],
                    images: Mapping[str, Mapping[str, np.ndarray | None]], rank_metric: str | None,
                    sheet: np.ndarray | None = None) -> str:
    """Self-contained HTML report.

    ``picks``: (caption, row) pairs to show as ``input | restored | ground truth`` triptychs;
    ``images[row_name]`` has the arrays under "input", "restored", "gt" (any may be None)."""
    e = html.escape
    out = [f"<!doctype html><meta charset='utf-8'><title>{e(title)}</title><style>{_CSS}</style>",
           f"<h1>{e(title)}</h1>", "<h2>Summary</h2><table><tr><th>method</th>"]
    for m in metrics:
        spec = METRICS[m]
        cls = " class='proxy'" if not spec.standard else ""
        out.append(f"<th{cls} title='{e(spec.description)}'>{e(spec.header)}</th>")
    out.append("<th>images</th>" + ("<th>FED/LLE faces</th>" if any("faces" in x for x in summaries.values()) else "")
               + "</tr>")
    for key, s in summaries.items():
        out.append(f"<tr><td>{e(key)}</td>")
        for m in metrics:
            ent = s["metrics"][m]
            c = _cell(m, ent, with_std=True)
            out.append(f"<td{' class=na' if ent.get('mean') is None else ''}>{e(c)}</td>")
        out.append(f"<td>{s['n_images'] - s['n_failed']}</td>")
        if any("faces" in x for x in summaries.values()):
            f = s.get("faces")
            out.append(f"<td>{f['used']}/{f['used'] + f['excluded']}</td>" if f else "<td>–</td>")
        out.append("</tr>")
    out.append("</table><h2>Metrics</h2><ul>")
    for line in notes_md.strip().splitlines():
        txt = e(line.lstrip("- ")).replace("**", "")
        out.append(f"<li>{txt}</li>")
    out.append("</ul>")
    if picks:
        spec = METRICS.get(rank_metric) if rank_metric else None
        how = f" by {spec.label} ({spec.arrow})" if spec else ""
        out.append(f"<h2>Worst and best images{e(how)}</h2>")
        for cap, row in picks:
            imgs = images.get(row["name"], {})
            vals = ", ".join(f"{METRICS[m].label} {format_value(m, row['values'].get(m))}"
                             for m in metrics if m in row.get("values", {}))
            out.append(f"<h3>{e(cap)}: {e(row['name'])}</h3><div>{e(vals)}</div><div class='trip'>")
            for label, key in (("input", "input"), ("restored", "restored"), ("ground truth", "gt")):
                a = imgs.get(key)
                if a is None:
                    out.append(f"<figure><div class='na' style='width:256px'>no {e(label)}</div></figure>")
                else:
                    out.append(f"<figure><img src='{thumbnail_b64(a)}' width=256><figcaption>{e(label)}</figcaption></figure>")
            out.append("</div>")
    if sheet is not None:
        out.append("<h2>Contact sheet (rows = images, columns = methods)</h2>"
                   f"<img src='{thumbnail_b64(sheet, max(sheet.shape[:2]))}' style='max-width:100%'>")
    if not rows:
        return "\n".join(out) + "\n"
    out.append("<h2>Per image</h2><table><tr><th>name</th>")
    out += [f"<th>{e(METRICS[m].header)}</th>" for m in metrics if METRICS[m].reference != "set"]
    out.append("<th>note</th></tr>")
    for r in rows:
        out.append(f"<tr><td>{e(r['name'])}</td>")
        for m in metrics:
            if METRICS[m].reference == "set":
                continue
            out.append(f"<td>{e(format_value(m, r.get('values', {}).get(m)))}</td>")
        note = r.get("error") or ("no face found" if r.get("face_restored") is False or r.get("face_gt") is False else "")
        out.append(f"<td>{e(note)}</td></tr>")
    out.append("</table>")
    return "\n".join(out) + "\n"
