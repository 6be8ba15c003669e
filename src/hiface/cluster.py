"""``hiface restore --engine ray``: the folder restore as a Ray Data pipeline, on a local Ray or a
cluster (``pip install hiface[cluster]``).

Stages (each photo is one row; rows stream through, so memory is bounded by what is in flight):

1. **read + detect + align** (CPU tasks): decode the photo exactly as :func:`hiface.photo.restore_file`
   does, find its faces and warp them to the model's template;
2. **restore** (an actor pool; each actor loads the model once, one actor per GPU where there
   are GPUs): the aligned faces of *many photos* are concatenated and sent through the model in
   chunks of ``batch_size`` faces; videos are restored whole here (frame by frame, as locally);
3. **paste back + encode + write** (CPU tasks): :func:`hiface.photo.restore_file` again, with a
   pipeline whose detector and restorer *replay* the faces of stage 1 and the model outputs of
   stage 2 (:mod:`hiface.faces.staged`) -- so every option (alpha, 16 bit, gray, EXIF/ICC, ``--compare``, ``--save-faces``)
   writes what the local engine writes, through the same code.

Outputs are written with ``overwrite``: every task was claimed under its lock after the
pre-flight found no output in the way (or only this job's own, from an interrupted run), so
what a stage finds there is its own earlier attempt (a task Ray retried after a worker died).

The driver keeps the job record (:meth:`hiface.jobs.Job.run_many`: the same ``.hiface-job.jsonl``,
locks and resume as the local engine), so a re-run skips what is done. A file that fails is
reported with its reason and the rest go on; an actor that dies (a killed process, a lost node)
is restarted by Ray and its batch retried (``max_restarts``/``max_task_retries``), as are the
stage tasks (``max_retries``).

Outputs equal the local engine's byte for byte when each model call sees the same faces (e.g.
``batch_size=1``, or one face per photo and ``batch_size=1``); with bigger cross-photo batches
a model's float rounding may differ in the last bit (conv kernels are not batch-invariant on
CPU), which can move a pixel by one level -- the same caveat as ``--batch-size`` locally.
"""
from __future__ import annotations

import os
import pickle
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import jobs
from .errors import HifaceError, UnavailableError
from .faces.staged import ReplayDetector, ReplayRestorer, restore_many
from .photo import VIDEO_EXTS, RestoreOptions
from .video import _Sized

__all__ = ["init_ray", "restore_files_ray", "CRASH_ENV"]

#: test hook: ``PATH[:N]``; the first restore actor to reach its N-th batch (default 2) creates PATH
#: and exits the process (a killed worker), so tests can check that Ray restarts it and loses nothing
CRASH_ENV = "HIFACE_RAY_TEST_CRASH"
_ERRORS = (HifaceError, ValueError, OSError, MemoryError, RuntimeError)


def _import_ray():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports leave the machine
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # the core's C++ log lines (set it to see them)
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise UnavailableError("--engine ray needs Ray Data: pip install 'hiface[cluster]' "
                               f"(ray[data]); {e}") from None
    return ray


def init_ray(address: str | None = None, *, num_cpus: int | None = None, quiet: bool = True):
    """Connect to the cluster at ``address`` (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``), or
    start a local Ray bound to 127.0.0.1 (no dashboard, no usage stats). Does nothing when Ray is
    already initialised (a caller or test set it up)."""
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    import logging

    if quiet:
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    kw: dict[str, Any] = {"log_to_driver": not quiet, "logging_level": logging.ERROR, "include_dashboard": False}
    try:
        if address:
            ray.init(address=address, **kw)
        else:
            # a local Ray listens on the loopback only: ray.init swaps 127.0.0.1 for the machine's
            # address unless "clusters" are off (as on macOS/Windows; the flag is read at import)
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = False
            ray.init(num_cpus=num_cpus, _node_ip_address="127.0.0.1", **kw)
    except ConnectionError as e:
        raise HifaceError(f"cannot reach the Ray cluster at {address}: {e} (start one with `ray start --head`)") \
            from None
    return ray


def _reason(e: BaseException) -> str:
    if isinstance(e, HifaceError):
        return getattr(e, "reason", None) or str(e) or type(e).__name__
    return f"unexpected error ({type(e).__name__}: {e})"


_STAGE_PIPES: dict = {}


def _meta_pipeline(options: RestoreOptions):
    """Stage 1's pipeline: the real detector (loaded once per worker process), no model."""
    from . import models
    from .photo import _build_pipeline

    if options not in _STAGE_PIPES:
        cfg = models.get_model_config(options.model)
        _STAGE_PIPES[options] = _build_pipeline(options, restorer=ReplayRestorer(cfg))
    return _STAGE_PIPES[options]


# -- stage functions (run in Ray workers) ---------------------------------------------------------
def _detect(row: dict, options: RestoreOptions, max_megapixels: float | None) -> dict:
    """Stage 1: read, detect, align; the faces and crops go on pickled (variable count per photo)."""
    out = {**row, "error": "", "payload": b""}
    if Path(row["path"]).suffix.lower() in VIDEO_EXTS:
        return out  # videos: restored whole by the actor
    try:
        from .io import image_size, read_image
        from .photo import _as_float, check_output_size

        pipe = _meta_pipeline(options)
        size = image_size(row["path"])
        if size is not None:
            check_output_size(size[0], size[1], pipe.upscale, max_megapixels)
        img = read_image(row["path"], keep_16bit=True)
        x = np.ascontiguousarray(_as_float(img.pixels), dtype=np.float32)  # what FacePipeline.__call__ sees
        faces = pipe.detect(x)
        crops, _ = pipe.align(x, faces)
        out["payload"] = pickle.dumps({"faces": faces, "crops": np.stack(crops) if crops else None},
                                      protocol=pickle.HIGHEST_PROTOCOL)
    except _ERRORS as e:
        out["error"] = _reason(e)
    return out


class _RestoreActor:
    """Stage 2: holds the model; restores the faces of a batch of photos in shared model calls."""

    def __init__(self, options: RestoreOptions, outdir: str, kw: dict, crash_marker: str | None = None):
        from .photo import load_pipeline

        self.options, self.outdir, self.kw = options, outdir, kw
        self.pipe = load_pipeline(options, cache=False)
        m = re.fullmatch(r"(.+?)(?::(\d+))?", crash_marker or "")
        self.crash_marker, self.crash_at, self.calls = (m[1], int(m[2] or 2), 0) if m else (None, 0, 0)

    def _video(self, path: str, root: str) -> tuple[bytes, str]:
        from .photo import restore_file

        try:
            fr = restore_file(path, self.outdir, self.pipe, root=root or None, ext=self.kw["ext"], overwrite=True)
        except _ERRORS as e:
            return b"", _reason(e)
        return pickle.dumps({"done": [str(fr.output)], "n_faces": fr.n_faces, "notes": [], "no_face": False}), ""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        if self.crash_marker and self.calls == self.crash_at and not os.path.exists(self.crash_marker):
            Path(self.crash_marker).write_text(str(os.getpid()))
            os._exit(1)  # test hook: a worker killed mid-run
        n = len(batch["i"])
        payloads, errors = list(batch["payload"]), [str(e) for e in batch["error"]]
        loaded: list[dict | None] = [None] * n
        for k in range(n):
            if errors[k]:
                continue
            if Path(str(batch["path"][k])).suffix.lower() in VIDEO_EXTS:
                payloads[k], errors[k] = self._video(str(batch["path"][k]), str(batch["root"][k]))
                continue
            loaded[k] = pickle.loads(payloads[k])
        counts = [0 if d is None or d["crops"] is None else len(d["crops"]) for d in loaded]
        if sum(counts):
            crops = [c for d in loaded if d is not None and d["crops"] is not None for c in d["crops"]]
            try:
                y, info = restore_many(self.pipe, crops)
            except _ERRORS as e:
                y, why = None, _reason(e)
            start = 0
            for k, c in enumerate(counts):
                if c == 0:
                    continue
                if y is None:
                    errors[k] = why
                else:
                    d = loaded[k]
                    d["outputs"], d["info"] = y[start:start + c], info[start:start + c]
                    del d["crops"]  # stage 3 re-aligns (cheap, deterministic): no need to ship them on
                    payloads[k] = pickle.dumps(d, protocol=pickle.HIGHEST_PROTOCOL)
                start += c
        for k in range(n):
            if loaded[k] is not None and counts[k] == 0:
                payloads[k] = pickle.dumps({"faces": loaded[k]["faces"], "outputs": None, "info": []})
        return {**{c: batch[c] for c in ("i", "path", "root")}, "error": np.array(errors, dtype=object),
                "payload": np.array(payloads, dtype=object)}


def _write(row: dict, options: RestoreOptions, outdir: str, kw: dict) -> dict:
    """Stage 3: paste back, encode and write with :func:`hiface.photo.restore_file`, replaying
    stages 1-2; returns the written files (or the error)."""
    i = int(row["i"])
    out = {"i": i, "error": str(row["error"]), "payload": b""}
    if out["error"]:
        return out
    path, root = str(row["path"]), str(row["root"]) or None
    d = pickle.loads(row["payload"])
    if "done" in d:  # a video, finished by the actor
        out["payload"] = row["payload"]
        return out
    try:
        from . import models
        from .photo import _build_pipeline, restore_file

        restorer = ReplayRestorer(models.get_model_config(options.model), d["outputs"], d["info"])
        pipe = _build_pipeline(options, restorer=restorer, detector=ReplayDetector(d["faces"]))
        fr = restore_file(path, outdir, pipe, root=root, ext=kw["ext"], save_faces=kw["save_faces"],
                          compare=kw["compare"], overwrite=True,
                          strip_metadata=kw["strip_metadata"], max_megapixels=kw["max_megapixels"])
        out["payload"] = pickle.dumps({"done": [str(p) for p in [*fr.extra_outputs, fr.output]],
                                       "n_faces": fr.n_faces, "notes": fr.notes, "no_face": fr.no_face})
    except _ERRORS as e:
        out["error"] = _reason(e)
    return out


# -- driver ---------------------------------------------------------------------------------------
def _resources(ray, actors: int | None) -> tuple[int, float, float]:
    """(actors, CPUs per actor, GPUs per actor): one actor per GPU where the cluster has GPUs,
    else one per 4 CPUs (at least one), each asking for half a CPU (Ray Data waits forever for
    whole CPUs that its own tasks hold on small machines)."""
    res = ray.cluster_resources()
    gpus = int(res.get("GPU", 0))
    if gpus:
        return actors or gpus, 1.0, 1.0
    return actors or max(1, int(res.get("CPU", 1)) // 4), 0.5, 0.0


class _FileResult:
    """What the CLI's outcome handler reads from a done file (like :class:`hiface.photo.FileResult`)."""

    def __init__(self, source: Path, d: dict):
        self.source, self.output = source, Path(d["done"][-1])
        self.extra_outputs = [Path(p) for p in d["done"][:-1]]
        self.n_faces, self.notes, self.no_face = d["n_faces"], list(d["notes"]), d["no_face"]
        self.result = None


def restore_files_ray(items: Sequence[tuple[Path, Path]], outdir: str | os.PathLike,
                      options: RestoreOptions | None = None, *, address: str | None = None,
                      ext: str = "auto", save_faces: bool = False, compare: bool = False,
                      strip_metadata: bool = False, max_megapixels: float | None = None, overwrite: bool = False,
                      actors: int | None = None, photos_per_call: int | None = None,
                      on_outcome: Callable[[jobs.Outcome], None] | None = None,
                      on_note: Callable[[str], None] | None = None,
                      wrap: Callable[[Iterable], Iterable] | None = None,
                      aligned: bool = False, guide: Any = None, guide_face: int | None = None,
                      save_warped: bool = False, frame_progress: Any = None,
                      face_progress: Any = None) -> jobs.Summary:
    """:func:`hiface.batch.restore_files` on Ray Data (see the module doc): the same checks
    before any work, the same outputs and job record. ``address``: a running cluster (else a
    local Ray on this machine). ``actors``: model replicas (default: one per GPU, else one per
    4 CPUs). ``photos_per_call``: photos per actor call (default: ``options.batch_size``).
    Paths must be the same on every node (a shared file system). ``aligned``, ``guide`` and
    ``save_warped`` are refused (whole photos only); the per-photo progress callbacks of the
    local engine are accepted and not called."""
    from .batch import prepare_job
    from .photo import DEFAULT_MAX_MEGAPIXELS

    if aligned or guide is not None or guide_face is not None or save_warped:
        raise HifaceError("--engine ray restores whole photos: use the local engine for --aligned crops and "
                          "guided models (--guide, --guide-face, --save-warped)")
    options = options or RestoreOptions()
    if max_megapixels is None:
        max_megapixels = DEFAULT_MAX_MEGAPIXELS
    outdir, job, pf, skipped = prepare_job(items, outdir, options, ext=ext, save_faces=save_faces, compare=compare,
                                           strip_metadata=strip_metadata, overwrite=overwrite, on_note=on_note)
    if not pf.run:
        return jobs.Summary(outcomes=skipped)
    from . import models

    if models.get_model_config(options.model).guided:
        raise HifaceError("--engine ray does not run guided models; use the local engine")
    ray = init_ray(address)
    n_actors, cpus, gpus = _resources(ray, actors)
    actor_opts = options.replace(device="cuda") if gpus and options.device == "cpu" else options
    kw = {"ext": ext, "save_faces": save_faces, "compare": compare,
          "strip_metadata": strip_metadata, "max_megapixels": max_megapixels}

    def launch(tasks: list[jobs.Task]) -> Iterator[tuple[jobs.Task, Any, str, Any]]:
        if not tasks:
            return
        by_i = dict(enumerate(tasks))
        import ray.data

        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the driver shows one bar over files
        ctx.print_on_execution_start = False
        ds = ray.data.from_items([{"i": i, "path": str(t.source), "root": "" if t.data is None else str(t.data)}
                                  for i, t in by_i.items()],
                                 override_num_blocks=min(len(by_i), 64))
        with warnings.catch_warnings():  # max_retries & co. as keywords: deprecated after the pinned 2.60
            warnings.filterwarnings("ignore", message=".*ray_remote_args. is deprecated", category=DeprecationWarning)
            ds = ds.map(_detect, fn_kwargs={"options": options, "max_megapixels": max_megapixels},
                        num_cpus=0.5, max_retries=3)
            ds = ds.map_batches(_RestoreActor, batch_size=photos_per_call or options.batch_size or 8,
                                batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=n_actors),
                                fn_constructor_kwargs={"options": actor_opts, "outdir": str(outdir), "kw": kw,
                                                       "crash_marker": os.environ.get(CRASH_ENV) or None},
                                num_cpus=cpus, num_gpus=gpus or None, max_restarts=3, max_task_retries=3)
            ds = ds.map(_write, fn_kwargs={"options": options, "outdir": str(outdir), "kw": kw},
                        num_cpus=0.5, max_retries=3)
        rows = ds.iter_rows()
        reported: set[int] = set()
        try:
            for row in (wrap(_Sized(rows, len(tasks))) if wrap else rows):
                i = int(row["i"])
                if i in reported:
                    continue
                reported.add(i)
                task = by_i[i]
                if row["error"]:
                    yield task, None, str(row["error"]), None
                else:
                    d = pickle.loads(row["payload"])
                    yield task, [Path(p) for p in d["done"]], "", _FileResult(task.source, d)
        except Exception as e:  # the engine itself failed (retries exhausted, cluster gone)
            why = f"the Ray engine failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            for i, task in by_i.items():
                if i not in reported:
                    yield task, None, why, None

    t0 = time.time()
    summary = job.run_many(pf.run, launch, on_outcome=on_outcome)
    summary.outcomes[:0] = skipped
    summary.engine_seconds = time.time() - t0  # type: ignore[attr-defined]
    return summary


