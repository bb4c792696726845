"""Jobs on worker threads: one at a time per session, with progress, cancel and a record on disk.

A job is a plain function ``work(progress, cancelled) -> result`` from the core. It runs on a
QThread; progress and the outcome come back to the GUI thread by queued signals, so the GUI never
blocks on I/O. Every job's life is also written to ``jobs/<job_id>.json`` by the core's JobStore.
What outlives the session (that record, the log) says how a job failed without the failure's message,
which can name the session's files and tables: the message goes only to the window, by signal.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

from ret_desktop.core.compare import CompareCancelled
from ret_desktop.core.convert import ConversionCancelled
from ret_desktop.core.export import ExportCancelled
from ret_desktop.core.importing import IntakeCancelled
from ret_desktop.core.jobs import JobState, JobStore, failure_summary, failure_trace
from ret_desktop.core.search import SearchCancelled

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
Work = Callable[[Progress, Callable[[], bool]], Any]
CANCELLED = (CompareCancelled, ConversionCancelled, ExportCancelled, IntakeCancelled, SearchCancelled)
_UNFINISHED: list[QThread] = []  # job threads that outlived their runner's shutdown


@dataclass
class _Pending:
    job_id: str
    kind: str
    work: Work
    on_done: Callable[[Any], None] | None


class _JobThread(QThread):
    progressed = Signal(str, int, int, str)
    ended = Signal(str, str, object, str, str)  # job id, final state, result, error for the window, for the record

    def __init__(self, pending: _Pending, cancel_event: threading.Event) -> None:
        super().__init__()
        self.pending = pending
        self.cancel_event = cancel_event

    def run(self) -> None:
        job_id = self.pending.job_id
        try:
            result = self.pending.work(
                lambda done, total, message: self.progressed.emit(job_id, done, total, message),
                self.cancel_event.is_set,
            )
        except CANCELLED:
            self.ended.emit(job_id, JobState.CANCELLED.value, None, "", "")
        except Exception as exc:  # a job's failure is reported, never raised into Qt's event loop
            log.error("job %s (%s) failed: %s", job_id, self.pending.kind, failure_trace(exc))
            self.ended.emit(job_id, JobState.FAILED.value, None, f"{type(exc).__name__}: {exc}", failure_summary(exc))
        else:
            state = JobState.CANCELLED if self.cancel_event.is_set() else JobState.SUCCEEDED
            self.ended.emit(job_id, state.value, result, "", "")


class JobRunner(QObject):
    """Runs one job at a time for a session; the rest wait in order."""

    job_started = Signal(str, str)  # job id, kind
    job_progress = Signal(str, int, int, str)  # job id, done, total, current item
    job_finished = Signal(str, str, str)  # job id, final state, error text (in full: for the window only)

    def __init__(self, store: JobStore, session_id: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.session_id = session_id
        self._queue: deque[_Pending] = deque()
        self._thread: _JobThread | None = None
        self._cancel = threading.Event()
        self._recorded_percent = -1

    @property
    def busy(self) -> bool:
        return self._thread is not None or bool(self._queue)

    def submit(self, kind: str, work: Work, on_done: Callable[[Any], None] | None = None) -> str:
        record = self.store.create(kind, self.session_id)
        self._queue.append(_Pending(record.job_id, kind, work, on_done))
        self._start_next()
        return record.job_id

    def cancel_all(self) -> None:
        """Cancel the running job and drop the waiting ones."""
        while self._queue:
            pending = self._queue.popleft()
            self.store.finish(pending.job_id, JobState.CANCELLED, message="cancelled before it started")
            self.job_finished.emit(pending.job_id, JobState.CANCELLED.value, "")
        self._cancel.set()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything and wait for the running job's thread (at sign-out); what it still
        reports is dropped, its result too. True if the thread ended in time."""
        self.cancel_all()
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        ended = thread.wait(timeout_ms)
        self.store.finish(thread.pending.job_id, JobState.CANCELLED, message="stopped at sign-out")
        if ended:
            thread.deleteLater()
        else:
            _UNFINISHED.append(thread)  # a QThread destroyed while running takes the process down
        return ended

    def _start_next(self) -> None:
        if self._thread is not None or not self._queue:
            return
        pending = self._queue.popleft()
        self._cancel = threading.Event()
        self._recorded_percent = -1
        self.store.start(pending.job_id)
        thread = _JobThread(pending, self._cancel)
        thread.progressed.connect(self._on_progress)
        thread.ended.connect(self._on_ended)
        self._thread = thread
        self.job_started.emit(pending.job_id, pending.kind)
        thread.start()

    def _on_progress(self, job_id: str, done: int, total: int, message: str) -> None:
        if self._thread is None or self._thread.pending.job_id != job_id:
            return  # reported after shutdown(): dropped
        percent = 100 * done // total if total else 0
        if percent != self._recorded_percent:  # the record on disk follows in whole percents
            self._recorded_percent = percent
            self.store.progress(job_id, done, total)  # not the current item: its name is the session's
        self.job_progress.emit(job_id, done, total, message)

    def _on_ended(self, job_id: str, state: str, result: object, error: str, recorded_error: str) -> None:
        if self._thread is None or self._thread.pending.job_id != job_id:
            return  # reported after shutdown(): dropped
        thread, self._thread = self._thread, None
        thread.wait()
        thread.deleteLater()
        self.store.finish(job_id, JobState(state), error=recorded_error or None)
        if state == JobState.SUCCEEDED.value and thread.pending.on_done is not None:
            thread.pending.on_done(result)
        self.job_finished.emit(job_id, state, error)
        self._start_next()
