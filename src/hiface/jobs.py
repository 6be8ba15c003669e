"""Resumable batch jobs over an output folder: pre-flight, a job record, per-output locks.

A batch command (``hiface restore``, later a Ray scale-out) turns each input into a
:class:`Task` -- a key (the input's resolved path), the input's size/mtime stamp and the outputs
it is expected to write -- and hands them to a :class:`Job` bound to the output folder and to
the *settings* that decide the output pixels (model, weight checksum, options, hiface version):

* :func:`prepare_outdir` creates the folder and proves it writable before any work;
* :meth:`Job.preflight` sorts tasks into *run*, *skip* (done before with the same settings,
  outputs intact) and *conflict* (an output exists that this job did not make with these
  settings: needs ``overwrite``), so refusals come before the first photo is restored;
* :meth:`Job.run` runs the tasks: each one under an ``O_EXCL`` lock file beside its first
  output (two processes on one folder never do the same work; a lock whose process died on this
  host, or older than ``stale_after`` seconds, is taken over), and appends one line per finished
  task to the record ``.hiface-job.jsonl`` in the output folder (a single ``O_APPEND`` write,
  fsynced: a crash leaves at most one torn last line, which readers ignore);
* Ctrl-C stops after releasing the current lock; the :class:`Summary` says what was done and
  what was not, and re-running the same command finishes the rest.

Record lines (JSON): ``{"type": "settings", "id", "settings"}`` once per distinct settings, and
``{"type": "task", "key", "status": "started"|"done"|"failed", "settings", "input": {size, mtime_ns},
"outputs": [{"path" (relative to the folder), "size"}], "reason", "time", "host", "pid"}``.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import HifaceError, flag

__all__ = ["JOB_FILE", "OutputFolderError", "Task", "Outcome", "Summary", "Job", "JobRecord",
           "prepare_outdir", "settings_id", "input_stamp"]

JOB_FILE = ".hiface-job.jsonl"
LOCK_SUFFIX = ".hiface-lock"


class OutputFolderError(HifaceError):
    """The output folder cannot be created or written, or would mix outputs with inputs."""


def _why(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


def prepare_outdir(outdir: str | os.PathLike) -> Path:
    """Create ``outdir`` (with parents) and check that files can be created in it, by creating
    and deleting a temporary file. Raises :class:`OutputFolderError` naming the folder and why."""
    p = Path(outdir)
    if p.exists() and not p.is_dir():
        raise OutputFolderError(f"output folder {p} is a file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputFolderError(f"cannot create the output folder {p}: {_why(e)}") from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".hiface-write-test.", dir=p)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise OutputFolderError(f"cannot write into the output folder {p}: {_why(e)}") from None
    return p


def settings_id(settings: Mapping[str, Any]) -> str:
    """Short stable id of a settings dict (sha256 of its canonical JSON, 16 hex digits)."""
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def input_stamp(path: str | os.PathLike) -> dict[str, int]:
    """Size and modification time of an input: a changed input is not "already done"."""
    try:
        st = os.stat(path)
    except OSError:
        return {}
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


@dataclass
class Task:
    """One input of a batch job."""

    key: str                     #: identity of the input (its resolved path)
    source: Path                 #: the input file
    outputs: list[Path] = field(default_factory=list)  #: outputs it will write (first = main; may be incomplete)
    stamp: dict[str, int] = field(default_factory=dict)
    data: Any = None             #: anything the runner needs (e.g. the input's root folder)
    replace: bool = False        #: its outputs may exist from an interrupted run of this job: replace them

    @classmethod
    def for_file(cls, source: str | os.PathLike, outputs: Sequence[Path] = (), data: Any = None) -> "Task":
        s = Path(source)
        try:
            key = str(s.resolve())
        except OSError:
            key = os.path.abspath(s)
        return cls(key=key, source=s, outputs=list(outputs), stamp=input_stamp(s), data=data)


@dataclass
class Outcome:
    """What happened to one task."""

    task: Task
    status: str                  #: "done", "skipped", "failed", "busy" (another process has it)
    reason: str = ""
    outputs: list[Path] = field(default_factory=list)
    info: Any = None             #: what the runner returned


@dataclass
class Summary:
    """Per-task outcomes of a run; ``not_done`` lists the tasks an interrupt left untouched."""

    outcomes: list[Outcome] = field(default_factory=list)
    not_done: list[Task] = field(default_factory=list)
    interrupted: bool = False

    def _with(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def done(self) -> list[Outcome]:
        return self._with("done")

    @property
    def skipped(self) -> list[Outcome]:
        return self._with("skipped") + self._with("busy")

    @property
    def failed(self) -> list[Outcome]:
        return self._with("failed")

    @property
    def exit_code(self) -> int:
        return 130 if self.interrupted else (1 if self.failed else 0)

    def line(self) -> str:
        """e.g. ``"3 done, 2 skipped (already done), 1 failed"``."""
        s = f"{len(self.done)} done"
        if self.skipped:
            s += f", {len(self.skipped)} skipped (already done or in progress elsewhere)"
        s += f", {len(self.failed)} failed"
        if self.not_done:
            s += f", {len(self.not_done)} not done"
        return s

    def to_dict(self) -> dict[str, Any]:
        return {"done": [str(o.task.source) for o in self.done],
                "skipped": [{"path": str(o.task.source), "reason": o.reason} for o in self.skipped],
                "failed": [{"path": str(o.task.source), "reason": o.reason} for o in self.failed],
                "not_done": [str(t.source) for t in self.not_done], "interrupted": self.interrupted}


@dataclass
class Decision:
    action: str                  #: "run", "skip" or "conflict"
    reason: str = ""


@dataclass
class Preflight:
    run: list[Task] = field(default_factory=list)
    skip: list[tuple[Task, str]] = field(default_factory=list)
    conflicts: list[tuple[Task, str]] = field(default_factory=list)


class JobRecord:
    """The append-only JSON-lines record of a job folder (see the module doc)."""

    def __init__(self, outdir: str | os.PathLike, name: str = JOB_FILE):
        self.path = Path(outdir) / name
        self.tasks: dict[str, dict] = {}
        self.settings: dict[str, dict] = {}
        self._offset = 0
        self._partial = b""

    def refresh(self) -> "JobRecord":
        """Read the lines appended since the last call (other processes' too)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return self
        except OSError as e:
            raise OutputFolderError(f"cannot read the job record {self.path}: {_why(e)}") from None
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" after a complete line; a torn tail waits for its end
        for raw in lines:
            try:
                d = json.loads(raw)
            except ValueError:
                continue  # a torn line from a crash: ignored
            if not isinstance(d, dict):
                continue
            if d.get("type") == "settings" and isinstance(d.get("settings"), dict):
                self.settings[str(d.get("id"))] = d["settings"]
            elif d.get("type") == "task" and "key" in d:
                self.tasks[str(d["key"])] = d
        return self

    def append(self, entry: Mapping[str, Any]) -> None:
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                os.write(fd, line)  # one write: O_APPEND keeps concurrent lines whole
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise OutputFolderError(f"cannot write the job record {self.path}: {_why(e)}") from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _diff(old: Mapping[str, Any], new: Mapping[str, Any], limit: int = 4) -> str:
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    parts = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys[:limit]]
    if len(keys) > limit:
        parts.append(f"+{len(keys) - limit} more")
    return ", ".join(parts)


class Job:
    """A batch job writing into ``outdir`` with fixed ``settings`` (a JSON-able dict).

    Args:
        overwrite: redo every task and replace existing outputs.
        stale_after: seconds after which a lock from another host (or one whose owner cannot be
            checked) is considered abandoned; locks of dead processes on this host are taken over
            at once.
    """

    def __init__(self, outdir: str | os.PathLike, settings: Mapping[str, Any], *, overwrite: bool = False,
                 stale_after: float = 6 * 3600):
        self.outdir = Path(outdir)
        self.settings = dict(settings)
        self.settings_id = settings_id(self.settings)
        self.overwrite = overwrite
        self.stale_after = stale_after
        self.record = JobRecord(self.outdir).refresh()
        self.host = socket.gethostname()

    # -- decisions ------------------------------------------------------------------------
    def _rel(self, p: Path) -> str:
        try:
            return Path(os.path.relpath(p, self.outdir)).as_posix()
        except ValueError:
            return str(p)

    def decide(self, task: Task) -> Decision:
        """run / skip / conflict for ``task`` from the record and the files on disk."""
        if self.overwrite:
            return Decision("run")
        e = self.record.tasks.get(task.key)
        existing = [p for p in task.outputs if p.exists()]
        if e is not None and e.get("status") == "started" and e.get("settings") == self.settings_id \
                and (not task.stamp or not e.get("input") or e["input"] == task.stamp):
            # interrupted (Ctrl-C, crash) between writing outputs and recording them: they are ours
            task.replace = True
            return Decision("run", "interrupted earlier")
        if e is not None and e.get("status") == "done":
            recorded = [(self.outdir / o["path"], o.get("size")) for o in e.get("outputs", [])]
            intact = all(p.is_file() and (s is None or p.stat().st_size == s) for p, s in recorded)
            same_input = not task.stamp or not e.get("input") or e["input"] == task.stamp
            if e.get("settings") == self.settings_id and same_input and intact and recorded:
                return Decision("skip", "already done with the same settings")
            if any(p.exists() for p, _ in recorded) or existing:
                if e.get("settings") != self.settings_id:
                    old = self.record.settings.get(str(e.get("settings")), {})
                    what = _diff(old, self.settings) if old else "unknown earlier settings"
                    why = f"made earlier with different settings ({what})"
                elif not same_input:
                    why = "the input changed since its output was made"
                else:
                    why = "the output was changed or removed since it was made"
                return Decision("conflict", why)
        if existing:
            names = ", ".join(self._rel(p) for p in existing[:3])
            return Decision("conflict", f"{names} already exist{'s' if len(existing) == 1 else ''} and "
                                        f"{'was' if len(existing) == 1 else 'were'} not made by this job")
        return Decision("run")

    def preflight(self, tasks: Iterable[Task]) -> Preflight:
        """Sort ``tasks`` before any work (see :meth:`decide`); also catches two inputs that
        would write the same output."""
        pf = Preflight()
        claimed: dict[Path, Task] = {}
        for t in tasks:
            clash = next((claimed[p] for p in (os.path.abspath(o) for o in t.outputs) if p in claimed), None)
            if clash is not None:
                pf.conflicts.append((t, f"would write the same output as {clash.source} "
                                        "(same name, different extension); rename one of them"))
                continue
            for o in t.outputs:
                claimed[Path(os.path.abspath(o))] = t
            for o in t.outputs:
                try:
                    if o.exists() and os.path.samefile(o, t.source):
                        pf.conflicts.append((t, "its output would replace the input itself"))
                        break
                except OSError:
                    pass
            else:
                d = self.decide(t)
                {"run": pf.run, "skip": pf.skip, "conflict": pf.conflicts}[d.action].append(
                    t if d.action == "run" else (t, d.reason))
        return pf

    # -- locks ----------------------------------------------------------------------------
    def _lock_path(self, task: Task) -> Path:
        main = task.outputs[0] if task.outputs else self.outdir / hashlib.sha1(task.key.encode()).hexdigest()[:16]
        return main.parent / f".{main.name}{LOCK_SUFFIX}"

    def _stale(self, lock: Path) -> bool:
        try:
            info = json.loads(lock.read_text() or "{}")
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            return True
        except (OSError, ValueError):
            info, age = {}, 0.0
        if info.get("host") == self.host and isinstance(info.get("pid"), int):
            return not _pid_alive(info["pid"])
        return age > self.stale_after

    def try_lock(self, task: Task) -> tuple[Path | None, str]:
        """Create the task's lock file with O_EXCL; ``(path, "")`` or ``(None, who holds it)``."""
        lock = self._lock_path(task)
        lock.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"pid": os.getpid(), "host": self.host, "time": time.time(), "key": task.key}).encode()
        for _ in range(3):
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if self._stale(lock):
                    # take over an abandoned lock: move it aside (only one process wins the rename)
                    aside = lock.with_name(lock.name + f".stale.{os.getpid()}")
                    try:
                        os.replace(lock, aside)
                        aside.unlink(missing_ok=True)
                    except OSError:
                        pass
                    continue
                try:
                    who = json.loads(lock.read_text() or "{}")
                    return None, f"in progress in another process (pid {who.get('pid')} on {who.get('host')})"
                except (OSError, ValueError):
                    return None, "in progress in another process"
            except OSError as e:
                raise OutputFolderError(f"cannot create the lock file {lock}: {_why(e)}") from None
            try:
                os.write(fd, body)
            finally:
                os.close(fd)
            return lock, ""
        return None, "locked by another process"

    @contextmanager
    def locked(self, task: Task) -> Iterator[tuple[bool, str]]:
        lock, who = self.try_lock(task)
        try:
            yield lock is not None, who
        finally:
            if lock is not None:
                lock.unlink(missing_ok=True)

    # -- records --------------------------------------------------------------------------
    def _entry(self, task: Task, status: str, outputs: Sequence[Path] = (), reason: str = "") -> dict:
        outs = []
        for p in outputs:
            try:
                outs.append({"path": self._rel(Path(p)), "size": Path(p).stat().st_size})
            except OSError:
                outs.append({"path": self._rel(Path(p)), "size": None})
        return {"type": "task", "key": task.key, "status": status, "settings": self.settings_id,
                "input": task.stamp, "outputs": outs, "reason": reason,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": self.host, "pid": os.getpid()}

    def _ensure_settings(self) -> None:
        self.record.refresh()
        if self.settings_id not in self.record.settings:
            self.record.append({"type": "settings", "id": self.settings_id, "settings": self.settings})
            self.record.settings[self.settings_id] = self.settings

    def _mark(self, task: Task, status: str) -> None:
        self._ensure_settings()
        e = self._entry(task, status)
        self.record.append(e)
        self.record.tasks[task.key] = e

    def mark_done(self, task: Task, outputs: Sequence[Path]) -> None:
        self._ensure_settings()
        e = self._entry(task, "done", outputs)
        self.record.append(e)
        self.record.tasks[task.key] = e

    def mark_failed(self, task: Task, reason: str) -> None:
        self._ensure_settings()
        e = self._entry(task, "failed", reason=reason)
        self.record.append(e)
        self.record.tasks[task.key] = e

    # -- running --------------------------------------------------------------------------
    def _claim(self, task: Task) -> Outcome | None:
        """Under the task's lock: re-check it (another process may have finished it meanwhile);
        None and a "started" record when it is to run, else its skipped/failed outcome."""
        self.record.refresh()
        d = self.decide(task) if not self.overwrite else Decision("run")
        if d.action == "skip" and not self.overwrite:
            return Outcome(task, "skipped", d.reason)
        if d.action == "conflict" and not self.overwrite:
            return Outcome(task, "failed", f"{d.reason} (use {flag('--overwrite', 'overwrite=True')} to replace)")
        self._mark(task, "started")  # outputs written before "done" are known to be ours
        return None

    def run_many(self, tasks: Sequence[Task],
                 launch: Callable[[list[Task]], Iterable[tuple[Task, Sequence[Path] | None, str, Any]]], *,
                 on_outcome: Callable[[Outcome], None] | None = None) -> Summary:
        """:meth:`run` for engines that work on many tasks at once (``hiface restore --engine ray``):
        every task is locked and claimed first, then ``launch(claimed tasks)`` yields
        ``(task, outputs written, "", info)`` or ``(task, None, reason, None)`` as each one finishes,
        in any order; each is recorded (same record, same locks as :meth:`run`) and its lock
        released at once. Ctrl-C stops it: tasks not reported are in ``not_done`` (their
        "started" records make a re-run replace what they may have written)."""
        summary = Summary()
        locks: dict[str, Path] = {}
        claimed: list[Task] = []

        def emit(out: Outcome) -> None:
            summary.outcomes.append(out)
            if on_outcome is not None:
                on_outcome(out)

        try:
            for task in tasks:
                lock, who = self.try_lock(task)
                if lock is None:
                    emit(Outcome(task, "busy", who))
                    continue
                out = self._claim(task)
                if out is not None:
                    lock.unlink(missing_ok=True)
                    emit(out)
                    continue
                locks[task.key] = lock
                claimed.append(task)
            reported: set[str] = set()
            for task, written, reason, info in launch(claimed):
                if written is None:
                    self.mark_failed(task, reason)
                    out = Outcome(task, "failed", reason)
                else:
                    self.mark_done(task, written)
                    out = Outcome(task, "done", outputs=list(written), info=info)
                reported.add(task.key)
                lk = locks.pop(task.key, None)
                if lk is not None:
                    lk.unlink(missing_ok=True)
                emit(out)
            for task in claimed:  # an engine that lost a task without saying why
                if task.key not in reported:
                    self.mark_failed(task, "lost by the engine (no result came back)")
                    emit(Outcome(task, "failed", "lost by the engine (no result came back)"))
        except KeyboardInterrupt:
            summary.interrupted = True
            done = {o.task.key for o in summary.outcomes}
            summary.not_done = [t for t in tasks if t.key not in done]
        finally:
            for lk in locks.values():
                lk.unlink(missing_ok=True)
        return summary

    def run(self, tasks: Sequence[Task], fn: Callable[[Task], tuple[Sequence[Path], Any]], *,
            errors: tuple[type[BaseException], ...] = (HifaceError,),
            on_outcome: Callable[[Outcome], None] | None = None,
            wrap: Callable[[Iterable[Task]], Iterable[Task]] | None = None) -> Summary:
        """Run ``fn(task) -> (outputs written, info)`` for each task under its lock.

        ``errors`` raised by ``fn`` mark the task failed (recorded with the message) and the batch
        goes on; Ctrl-C (KeyboardInterrupt) stops it: the summary has ``interrupted`` and the
        untouched tasks in ``not_done``. ``wrap`` wraps the iteration (a progress bar)."""
        summary = Summary()
        todo = list(tasks)
        it = iter(wrap(todo) if wrap else todo)
        try:
            for task in it:
                with self.locked(task) as (got, who):
                    if not got:
                        out = Outcome(task, "busy", who)
                    else:
                        out = self._claim(task)
                        if out is None:
                            try:
                                written, info = fn(task)
                            except errors as e:  # noqa: PERF203
                                reason = getattr(e, "reason", None) if getattr(e, "path", None) == str(task.source) \
                                    else None
                                reason = reason or str(e) or type(e).__name__
                                if not isinstance(e, HifaceError):
                                    reason = f"unexpected error ({type(e).__name__}: {e})"
                                self.mark_failed(task, reason)
                                out = Outcome(task, "failed", reason)
                            else:
                                self.mark_done(task, written)
                                out = Outcome(task, "done", outputs=list(written), info=info)
                summary.outcomes.append(out)
                if on_outcome is not None:
                    on_outcome(out)
        except KeyboardInterrupt:
            summary.interrupted = True
            summary.not_done = todo[len(summary.outcomes):]
        return summary
