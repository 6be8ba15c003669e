"""The training loop every task of ``hiface train`` shares: run folder, resume, DDP set-up,
signals, logging cadence, validation, samples, checkpoints, time limit.

A task (:mod:`hiface.train.tasks`) subclasses :class:`BaseTrainer` and supplies its data
(``_setup_data``), networks and optimisers (``_setup_models``, ``_wrap``), their checkpoint
entries (``_task_state`` / ``_load_task_state``), one iteration (``_step_batch``),
``validate`` and ``write_samples``. The rest -- and so every run folder's layout -- is here.

Run folder: ``config.yaml``, the data lists, ``log.csv`` + ``log.jsonl``, ``metrics.csv``,
``samples/step_N.png``, ``checkpoints/step_N.pt`` (+ ``checkpoints/best.pt`` with ``log.keep_best``).
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

from ..config import apply_overrides, dump_yaml, load_yaml, to_dict
from ..data.paired import ResumableSampler
from ..errors import HifaceError
from . import checkpoint as C
from .distributed import all_reduce_mean, barrier, cleanup, init_distributed
from .logs import append_csv, append_jsonl, trim_logs

__all__ = ["BaseTrainer", "INTERRUPTED", "unused_parameters"]

INTERRUPTED = 130  # exit code after SIGINT/SIGTERM (checkpoint saved)


class BaseTrainer:
    """Build a task from its config and run the loop (``run()`` → exit code).

    Args:
        cfg: the configuration (ignored on ``resume``: the run folder's ``config.yaml`` is used,
            with ``overrides`` applied — e.g. a larger ``train.steps``).
        run_dir: the run folder.
        resume: continue from the latest checkpoint in ``run_dir``.
        overwrite: start over in an existing run folder (its checkpoints are deleted).
    """

    task: ClassVar[str]
    config_class: ClassVar[type]
    log_columns: ClassVar[list[str]]
    postfix_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: Any | None, run_dir: str | os.PathLike, *, resume: bool = False,
                 overwrite: bool = False, overrides: tuple[str, ...] | list[str] = ()):
        import torch

        self.run_dir = Path(run_dir)
        self.info, self.device = init_distributed(cfg.train.device if cfg else "auto")
        self._ckpt: dict | None = None
        if resume:
            cfg_path = self.run_dir / "config.yaml"
            if not cfg_path.is_file():
                raise HifaceError(f"cannot resume: {cfg_path} not found (is {self.run_dir} a run folder?)")
            cfg = apply_overrides(load_yaml(self.config_class, cfg_path), overrides)
            ck = C.latest_checkpoint(self.run_dir)
            if ck is None:
                raise HifaceError(f"cannot resume: no checkpoint in {self.run_dir / 'checkpoints'}")
            self._ckpt = C.load_checkpoint(ck, map_location="cpu")
            self._ckpt_path = ck
        assert cfg is not None
        self.cfg = cfg
        tc = cfg.train
        if tc.threads > 0 and self.device.type == "cpu":
            from ..runtime import set_threads

            set_threads(tc.threads)  # explicit: later create_restorer calls keep it
        self.amp_dtype = None
        if tc.amp != "none":
            if self.device.type != "cuda":
                warnings.warn(f"train.amp={tc.amp} ignored on {self.device.type}: mixed precision is "
                              "CUDA-only (CPU bf16 is emulated and far slower); training in float32",
                              stacklevel=2)
            else:
                self.amp_dtype = torch.bfloat16 if tc.amp == "bf16" else torch.float16
        self._check_config()
        if not resume:
            self._prepare_run_dir(overwrite)
        self._setup_data(resume)
        self._setup_models()
        self.step = 0
        self.best: dict[str, float] | None = None
        if self._ckpt is not None:
            self._load_state(self._ckpt)
            self._ckpt = None
            if overrides and self.main:  # a later --resume keeps them; the log says from when
                dump_yaml(cfg, self.run_dir / "config.yaml")
                append_jsonl(self.run_dir / "log.jsonl", {"step": self.step, "resumed_with": list(overrides)})
        self._wrap()
        self._stop = False

    # ----------------------------------------------------------------- task hooks
    def _check_config(self) -> None:
        """Raise ConfigError for values the task cannot train with."""

    def _setup_data(self, resume: bool) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _setup_models(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _wrap(self) -> None:
        """DDP / compile wrappers, after the checkpoint is loaded (every rank starts alike)."""

    def _task_state(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load_task_state(self, st: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _step_batch(self, batch: dict) -> dict[str, float]:  # pragma: no cover - abstract
        """One iteration on a loader batch; increments ``self.step``; returns the losses."""
        raise NotImplementedError

    def _train_mode(self) -> None:
        """Put the trained networks in training mode."""

    def validate(self) -> dict[str, float]:
        return {}

    def write_samples(self) -> Path | None:
        return None

    def format_val(self, res: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.4g}" for k, v in res.items())

    def _can_be_best(self) -> bool:
        """Whether a validation now may become ``checkpoints/best.pt``."""
        return True

    @property
    def total_steps(self) -> int:
        return self.cfg.train.steps

    # ----------------------------------------------------------------- set-up
    @property
    def main(self) -> bool:
        return self.info.is_main

    def _prepare_run_dir(self, overwrite: bool) -> None:
        rd = self.run_dir
        if self.main:
            if rd.exists() and any(rd.iterdir()):
                if not (rd / "config.yaml").is_file():
                    raise HifaceError(f"{rd} exists and is not a hiface run folder; choose another --run-dir")
                if not overwrite:
                    raise HifaceError(f"run folder {rd} exists; pass --resume to continue it or "
                                      "--overwrite to start over")
                for sub in ("checkpoints", "samples"):
                    shutil.rmtree(rd / sub, ignore_errors=True)
                for f in rd.iterdir():
                    if f.is_file():
                        f.unlink()
            rd.mkdir(parents=True, exist_ok=True)
            dump_yaml(self.cfg, rd / "config.yaml")
        barrier(self.info)

    def _loader(self, dataset, batch_size: int, num_workers: int):
        """The resumable, rank-sharded loader of ``dataset`` (keys ``(epoch, index)``)."""
        import torch
        from torch.utils.data import DataLoader

        sampler = ResumableSampler(len(dataset), seed=self.cfg.train.seed, rank=self.info.rank,
                                   world_size=self.info.world_size, start=self.step * batch_size)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                          pin_memory=self.device.type == "cuda", drop_last=False,
                          persistent_workers=False, prefetch_factor=2 if num_workers else None,
                          generator=torch.Generator().manual_seed(0))

    def loader(self):  # pragma: no cover - abstract
        raise NotImplementedError

    # ----------------------------------------------------------------- checkpoints
    def _state(self) -> dict:
        return {"task": self.task, "step": self.step, **self._task_state(), "rng": C.rng_state(),
                "config": to_dict(self.cfg), "world_size": self.info.world_size,
                **({"best": dict(self.best)} if self.best else {})}

    def _load_state(self, st: dict) -> None:
        saved = st.get("task", "hifacegan")
        if saved != self.task:
            raise HifaceError(f"{self._ckpt_path} is a {saved} checkpoint, not {self.task}")
        self._load_task_state(st)
        C.set_rng_state(st["rng"])
        self.step = int(st["step"])
        self.best = dict(st["best"]) if st.get("best") else None
        self._after_resume()
        if int(st.get("world_size", 1)) != self.info.world_size:
            warnings.warn(f"resuming a run saved with {st.get('world_size')} processes on "
                          f"{self.info.world_size}: the data order differs from an uninterrupted run",
                          stacklevel=2)

    def _after_resume(self) -> None:
        """Adjust to a changed config after the state is loaded (e.g. the LR schedule)."""

    def save_checkpoint(self, name: str | None = None) -> Path | None:
        """Rank 0 writes checkpoints/step_N.pt (or ``name``) atomically and prunes to ``log.keep_last``."""
        if not self.main:
            return None
        return C.save_checkpoint(self._state(), self.run_dir, self.step, keep_last=self.cfg.log.keep_last, name=name)

    # ----------------------------------------------------------------- loop
    def _handle_signal(self, signum, frame) -> None:
        if self._stop:  # second Ctrl-C: give up immediately
            raise KeyboardInterrupt
        self._stop = True
        if self.main:
            print(f"\n{signal.Signals(signum).name}: finishing step {self.step + 1}, then saving a "
                  "checkpoint (press Ctrl-C again to abort without saving)", file=sys.stderr)

    def _should_stop(self) -> bool:
        if not self.info.enabled:
            return self._stop
        import torch
        import torch.distributed as dist

        t = torch.tensor([1.0 if self._stop else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def _validate_and_keep_best(self, bar) -> None:
        res = self.validate()
        if not res:
            return
        bar.write(f"step {self.step}: val {self.format_val(res)}")
        if self.cfg.log.keep_best and "psnr" in res and self._can_be_best() \
                and (self.best is None or res["psnr"] > self.best["psnr"]):
            self.best = {"psnr": float(res["psnr"]), "step": self.step}
            self.save_checkpoint(C.BEST)

    def run(self, stop_at: int | None = None) -> int:
        """Train until ``total_steps``; returns 0 (also after ``train.time_limit_min``), or 130
        after SIGINT/SIGTERM (checkpoint saved).

        ``stop_at``: behave as if interrupted once that step is done (tests, time-boxed jobs)."""
        from tqdm.auto import tqdm

        cfg, lc = self.cfg, self.cfg.log
        total = self.total_steps
        limit_s = cfg.train.time_limit_min * 60
        if self.main and self.step:
            trim_logs(self.run_dir, self.step)
        old = {}
        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                old[s] = signal.signal(s, self._handle_signal)
            except ValueError:  # not the main thread
                pass
        bar = tqdm(total=total, initial=self.step, desc=f"train {self.task}", unit="it", dynamic_ncols=True,
                   disable=not (self.main and lc.progress), file=sys.stderr)
        t0 = time.perf_counter()
        interrupted = timed_out = False
        path = None
        try:
            self._train_mode()
            batches = iter(self.loader())
            while self.step < total:
                logs = self._step_batch(next(batches))
                bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items() if k in self.postfix_keys}, refresh=False)
                bar.update(1)
                if (lc.log_every and self.step % lc.log_every == 0) or self.step == total:
                    logs = all_reduce_mean(logs, self.info, self.device)
                    if self.main:
                        now = time.perf_counter()
                        row = {"step": self.step, "time_s": round(now - t0, 3), **logs}
                        append_csv(self.run_dir / "log.csv", self.log_columns, row)
                        append_jsonl(self.run_dir / "log.jsonl", row)
                if lc.sample_every and (self.step % lc.sample_every == 0 or self.step == total):
                    self.write_samples()
                if lc.val_every and (self.step % lc.val_every == 0 or self.step == total):
                    self._validate_and_keep_best(bar)
                if stop_at is not None and self.step >= stop_at:
                    self._stop = True
                if limit_s and not self._stop and time.perf_counter() - t0 > limit_s:
                    self._stop = timed_out = True
                stop = self._should_stop()
                if (lc.ckpt_every and self.step % lc.ckpt_every == 0) or self.step == total or stop:
                    path = self.save_checkpoint()
                    barrier(self.info)
                if stop and self.step < total:
                    interrupted = True
                    break
        finally:
            bar.close()
            for s, h in old.items():
                signal.signal(s, h)
        if interrupted:
            if self.main:
                why = f"Time limit ({cfg.train.time_limit_min:g} min) reached" if timed_out else "Interrupted"
                print(f"{why} at step {self.step}/{total}; checkpoint saved to {path}. "
                      f"Continue with: hiface train --resume {self.run_dir}", file=sys.stderr)
            return 0 if timed_out else INTERRUPTED
        if self.main:
            print(f"Done: {self.step} steps; checkpoints in {self.run_dir / 'checkpoints'}. Export with: "
                  f"hiface train --export {self.run_dir} generator.safetensors", file=sys.stderr)
        return 0

    def close(self) -> None:
        cleanup()


def unused_parameters(model, device, size: int = 64) -> set[str]:
    """Names of trainable parameters that get no gradient from a forward pass (probed on a
    size² zero image; the model's state, e.g. spectral-norm vectors, is restored after)."""
    import copy

    import torch

    state = copy.deepcopy(model.state_dict())
    model(torch.zeros(1, 3, size, size, device=device)).float().mean().backward()
    unused = {n for n, p in model.named_parameters() if p.requires_grad and p.grad is None}
    model.zero_grad(set_to_none=True)
    model.load_state_dict(state)
    return unused
