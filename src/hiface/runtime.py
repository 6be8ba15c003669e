"""Inference runtime settings: CPU thread count and device choice.

Thread count: PyTorch's default is one thread per core. On a machine whose cores are already
busy (other jobs, other users) that oversubscribes them, and the spinning/contending intra-op
threads made the default model 5-8x slower with 2 threads than with 1 on a shared 2-core
machine (issue 18; bench/README.md "Thread count"). :func:`choose_threads` therefore takes the
cores this process may run on (its affinity) minus those the load average says are busy,
unless the user said otherwise (``HIFACE_THREADS``, then ``OMP_NUM_THREADS``).
:func:`apply_threads` applies that once per process, where inference starts
(:func:`hiface.create_restorer`, ``hiface evaluate``/``benchmark``); an explicit setting (the
training config's ``threads``, :func:`set_threads`) is never overridden.

Device: :func:`resolve_device` maps ``auto|cpu|cuda[:N]|mps`` to a present device, and
:func:`check_half` refuses half precision where it is not safe or not useful.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence

from .errors import HifaceError

__all__ = ["choose_threads", "apply_threads", "set_threads", "resolve_device", "check_half", "DEVICES",
           "default_batch_size"]

#: the values ``--device`` takes (``cuda:N`` too)
DEVICES = ("auto", "cpu", "cuda", "mps")

_APPLIED: int | None = None  # the thread count this process settled on (None: not yet)


def _env_threads(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        raise HifaceError(f"{name}={raw!r} is not a whole number of threads") from None
    if n < 1:
        raise HifaceError(f"{name}={raw!r}: give at least 1 thread")
    return n


def choose_threads(*, env: Mapping[str, str] | None = None, affinity: Sequence[int] | set[int] | None = None,
                   load: float | None = None, cpu_count: int | None = None) -> tuple[int, str]:
    """The number of intra-op threads to use for inference, and why (a short phrase).

    1. ``HIFACE_THREADS`` (hiface's own override), else ``OMP_NUM_THREADS`` (the usual one), if set;
    2. else the cores in this process's affinity mask (``os.sched_getaffinity``; ``os.cpu_count``
       where there is none) minus the 1-minute load average, rounded to the nearest whole core,
       at least 1. Over-subscribing busy cores costs far more (5-8x measured) than leaving one
       idle (at most the parallel speed-up), hence the bias toward fewer threads.

    The keyword arguments replace the live values (tests); ``None`` reads them from the system.
    """
    env = os.environ if env is None else env
    for name in ("HIFACE_THREADS", "OMP_NUM_THREADS"):
        n = _env_threads(env, name)
        if n is not None:
            return n, f"{name}={n}"
    if affinity is None:
        try:
            affinity = os.sched_getaffinity(0)
        except (AttributeError, OSError):  # not Linux
            affinity = range(cpu_count or os.cpu_count() or 1)
    cores = max(1, len(affinity))
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    free = cores - max(0.0, float(load))
    n = max(1, min(cores, math.floor(free + 0.5)))
    return n, f"{cores} core(s) available, load average {load:.2f}"


def set_threads(n: int) -> int:
    """Set the intra-op thread count explicitly (e.g. the training config's ``threads``); later
    :func:`apply_threads` calls keep it."""
    import torch

    global _APPLIED
    torch.set_num_threads(int(n))
    _APPLIED = int(n)
    return _APPLIED


def apply_threads(*, chooser: Callable[[], tuple[int, str]] = choose_threads) -> int:
    """Set torch's intra-op threads from :func:`choose_threads`, once per process; returns the count.

    A second call (or one after :func:`set_threads`) changes nothing."""
    global _APPLIED
    if _APPLIED is not None:
        return _APPLIED
    import torch

    n, _why = chooser()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    _APPLIED = n
    return n


# -- device ----------------------------------------------------------------------------------

def _cuda_ok() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _mps_ok() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str | None) -> str:
    """``auto`` -> ``cuda`` if a CUDA GPU is present, else ``mps`` (Apple), else ``cpu``; ``cpu``,
    ``cuda``, ``cuda:N``, ``mps`` are checked to be present (a clear error instead of a torch
    traceback later). Returns the torch device string."""
    d = (device or "auto").strip().lower()
    if d == "auto":
        return "cuda" if _cuda_ok() else ("mps" if _mps_ok() else "cpu")
    if d == "cpu":
        return d
    if d == "cuda" or d.startswith("cuda:"):
        if not _cuda_ok():
            raise HifaceError(f"--device {device}: no CUDA GPU is available to PyTorch here "
                              "(this PyTorch build or machine has none); use --device cpu or auto")
        if ":" in d:
            import torch

            idx = d.split(":", 1)[1]
            if not idx.isdigit() or int(idx) >= torch.cuda.device_count():
                raise HifaceError(f"--device {device}: no such CUDA device "
                                  f"({torch.cuda.device_count()} present: cuda:0..)")
        return d
    if d == "mps":
        if not _mps_ok():
            raise HifaceError("--device mps: Apple's Metal backend is not available here; use --device cpu or auto")
        return d
    raise HifaceError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)} (or cuda:N)")


def default_batch_size(device: str) -> int:
    """Faces per model call when the user gives none: 1 on a CPU, 8 on a GPU. On the 2-core CPU
    the default model costs 0.29 / 0.28 / 0.32 / 0.46 s per face at batches of 1 / 2 / 4 / 8
    (bench/README.md, "Idle machine"): bigger CPU batches only add cache misses, and one face
    per call makes every engine's output byte-identical (CPU convolutions are not
    batch-invariant in the last bit; the Ray engine batches across photos) and progress per face."""
    return 1 if str(device).split(":")[0] == "cpu" else 8


def check_half(device: str, half: bool) -> None:
    """Refuse ``half`` where it does not apply: float16 on CPU is emulated (slower, not faster)
    and gains nothing, so it is a GPU-only opt-in."""
    if half and not (device.startswith("cuda") or device == "mps"):
        raise HifaceError(f"--half needs a GPU (--device cuda or mps); on {device} float16 is slower than "
                          "float32 and changes the results; drop --half")
