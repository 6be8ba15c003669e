"""The evaluation protocol as library API (HiFaceGAN §3.3): score restored images
(:mod:`.evaluate`) and benchmark restorers on degraded clean faces (:mod:`.benchmark`).
The ``hiface evaluate`` / ``hiface benchmark`` commands only parse options and print."""
from __future__ import annotations

from .benchmark import (
           BenchmarkResult,
           BenchmarkSettings,
           run_benchmark,
           write_benchmark,
)
from .evaluate import pair_files, run_evaluation, write_evaluation

__all__ = ["BenchmarkSettings", "BenchmarkResult", "run_benchmark", "write_benchmark", "pair_files",
           "run_evaluation", "write_evaluation"]
