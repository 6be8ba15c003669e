"""The run folder's logs, shared by every task: ``log.csv`` + ``log.jsonl`` (losses, learning
rates) and ``metrics.csv`` (validation), appended row by row and trimmed on resume."""
from __future__ import annotations

import csv
import json
from pathlib import Path

__all__ = ["append_csv", "append_jsonl", "trim_logs"]


def append_csv(path: Path, columns: list[str], row: dict) -> None:
    """Append ``row`` (missing columns empty, floats to 6 significant digits); an existing file
    keeps its own columns (a run resumed across a column change)."""
    new = not path.is_file()
    if not new:
        with open(path, newline="") as f:
            columns = next(csv.reader(f), None) or columns
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def append_jsonl(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def trim_logs(run_dir: Path, step: int) -> None:
    """On resume, drop log rows written after the checkpoint's ``step`` (they will be redone)."""
    for name in ("log.csv", "metrics.csv"):
        p = run_dir / name
        if p.is_file():
            lines = p.read_text().splitlines(keepends=True)
            keep = lines[:1] + [ln for ln in lines[1:] if int(ln.split(",", 1)[0]) <= step]
            p.write_text("".join(keep))
    p = run_dir / "log.jsonl"
    if p.is_file():
        keep = [ln for ln in p.read_text().splitlines(keepends=True) if json.loads(ln)["step"] <= step]
        p.write_text("".join(keep))
