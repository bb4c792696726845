"""Job records and their state machine. No threads here: the GUI's runner drives these records.

A record is ``<runtime root>/jobs/<job_id>.json``, rewritten atomically at every change. It holds
what ran, for which session, how far it got and how it ended; no user data. It outlives the session,
so a failure is recorded as ``failure_summary`` (the exception's type and where in the code), never
by its message, which can carry file names, table names and values.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
import traceback
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Callable

from ret_desktop.core.fsutil import atomic_write_json
from ret_desktop.core.procutil import process_alive, this_process

log = logging.getLogger(__name__)

_JOB_ID = re.compile(r"^[0-9a-f]{24}$")


class JobState(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def is_final(self) -> bool:
        return not _TRANSITIONS[self]


_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED, JobState.INTERRUPTED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.INTERRUPTED: frozenset(),
}


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _locations(exc: BaseException) -> list[str]:
    return [f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
            for frame in traceback.extract_tb(exc.__traceback__)]


def failure_summary(exc: BaseException) -> str:
    """A failure in words fit for a record or a log: its type and the innermost code location."""
    where = _locations(exc)
    return _type_name(exc) + (f" at {where[-1]}" if where else "")


def failure_trace(exc: BaseException) -> str:
    """A failure for the log: the type and code locations of it and of the exceptions that led to it
    (a traceback without the messages)."""
    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    lines = []
    for number, link in enumerate(reversed(chain)):
        if number:
            lines.append("which led to")
        lines.append(_type_name(link))
        lines.extend(f"  {where}" for where in _locations(link))
    return "\n".join(lines)


class JobStateError(RuntimeError):
    """A job was asked to move to a state its state machine does not allow."""


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    kind: str
    session_id: str
    state: JobState
    created_at: float
    pid: int
    pid_started: int | None = None  # procutil.process_start_time of pid; None when unknown (or an older record)
    started_at: float | None = None
    finished_at: float | None = None
    done: int = 0
    total: int | None = None
    message: str = ""
    error: str | None = None

    def to_json(self) -> dict:
        return {**asdict(self), "state": self.state.value}

    @classmethod
    def from_json(cls, data: dict) -> JobRecord:
        return cls(**{**data, "state": JobState(data["state"])})


class JobStore:
    def __init__(self, jobs_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.jobs_dir = Path(jobs_dir)
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.Lock()

    def create(self, kind: str, session_id: str) -> JobRecord:
        pid, pid_started = this_process()
        record = JobRecord(secrets.token_hex(12), kind, session_id, JobState.PENDING, self._clock(), pid, pid_started)
        with self._lock:
            self._save(record)
        return record

    def get(self, job_id: str) -> JobRecord:
        if not _JOB_ID.match(job_id):
            raise KeyError(job_id)
        try:
            return JobRecord.from_json(json.loads(self._path(job_id).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise KeyError(job_id) from None

    def list(self, session_id: str | None = None) -> list[JobRecord]:
        """Every readable record (optionally of one session), oldest first."""
        records = []
        for path in self.jobs_dir.glob("*.json"):
            try:
                record = JobRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.warning("job record %s is unreadable and skipped: %s", path.name, exc)
                continue
            if session_id is None or record.session_id == session_id:
                records.append(record)
        return sorted(records, key=lambda r: (r.created_at, r.job_id))

    def start(self, job_id: str, total: int | None = None) -> JobRecord:
        return self._change(job_id, JobState.RUNNING, started_at=self._clock(), total=total)

    def progress(self, job_id: str, done: int, total: int | None = None, message: str = "") -> JobRecord:
        with self._lock:
            record = self.get(job_id)
            if record.state is not JobState.RUNNING:
                raise JobStateError(f"job {job_id} is {record.state.value}, not running")
            record = replace(record, done=done, total=record.total if total is None else total, message=message)
            try:
                self._save(record)
            except OSError as exc:  # a full disk, say: the job goes on, and its end is recorded when it can be
                log.warning("progress of job %s not recorded: %s", job_id, exc.strerror)
            return record

    def finish(self, job_id: str, state: JobState, message: str = "", error: str | None = None) -> JobRecord:
        if not state.is_final:
            raise JobStateError(f"{state.value} is not a final state")
        return self._change(job_id, state, finished_at=self._clock(), message=message, error=error)

    def mark_interrupted(self) -> list[JobRecord]:
        """At start-up: jobs left pending or running by a process that is gone become interrupted (also
        when its pid now names another process, this one included)."""
        changed = []
        for record in self.list():
            if not record.state.is_final and not process_alive(record.pid, record.pid_started):
                changed.append(
                    self._change(record.job_id, JobState.INTERRUPTED, finished_at=self._clock(),
                                 error="RET Desktop stopped while this job was running")
                )
        return changed

    def _change(self, job_id: str, state: JobState, **fields) -> JobRecord:
        with self._lock:
            record = self.get(job_id)
            if state not in _TRANSITIONS[record.state]:
                raise JobStateError(f"job {job_id} cannot go from {record.state.value} to {state.value}")
            record = replace(record, state=state, **{k: v for k, v in fields.items() if v is not None})
            if state is JobState.SUCCEEDED:  # all of it was done, whatever the last progress report said
                whole = max(record.done, record.total or 0)
                record = replace(record, done=whole, total=whole)
            self._save(record)
            return record

    def _path(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}.json"

    def _save(self, record: JobRecord) -> None:
        atomic_write_json(self._path(record.job_id), record.to_json())
