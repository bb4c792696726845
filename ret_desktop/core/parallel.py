"""Documents scanned and flattened in worker processes, their rows written by one writer in
document order.

Each worker process scans (record detection) or flattens the documents it is given, one after
another. The flattener lays every row out in the document's own column order; the worker sends
the rows in batches over its own pipe. The writer (the caller of ``FlattenPool.run``)
reads the documents' batches in document order and replays them into the workbook, so the tables
are what one process would have written, byte for byte.

Memory is bounded: a worker holds at most ``QUEUED_BATCHES`` batches beside the one it fills, and
is given at most ``TASKS_AHEAD`` documents at a time. A worker that dies (killed, out of memory)
fails the document it was on; a new worker takes the documents it had been given.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import queue
import signal
import threading
from collections import deque
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ret_desktop.core.xmlflat.detect import scan_structure
from ret_desktop.core.xmlflat.flatten import FlattenCancelled, Pairs, flatten_document
from ret_desktop.core.xmlflat.names import ClarkPath

ROWS_PER_BATCH = 1000
QUEUED_BATCHES = 4  # per worker, beside the one being filled
TASKS_AHEAD = 4  # documents a worker is given at once: the next is there when one ends
POLL_SECONDS = 0.05  # how often a waiting writer looks at the cancel flag

# Operations in a batch: (ROW, table, values) | (ROWS, table, list of values) | (COLUMNS, table, new names)
# | (BACKFILL, table, first, last, pairs)
ROW, ROWS, COLUMNS, BACKFILL = 0, 1, 2, 3
# Messages from a worker: (BATCH, operations) | (DONE, result) | (FAILED, reason)
_BATCH, _DONE, _FAILED = 0, 1, 2


@dataclass(frozen=True)
class ScanTask:
    """One document to scan; its result is the DocumentStructure."""

    path: str
    detect_bytes: int

    def run(self, send: Callable[[tuple], None]) -> None:
        from ret_desktop.core.convert import failure_reason  # convert imports this module

        try:
            structure = scan_structure(Path(self.path), self.detect_bytes)
            send((_DONE, structure))
        except Exception as error:  # this document's fault: the writer fails it and goes on
            send((_FAILED, failure_reason(error)))


@dataclass(frozen=True)
class FlattenTask:
    """One document to flatten, as ``flatten_document`` takes it; its result is (records, warnings)."""

    path: str
    record: ClarkPath | None
    file_label: str
    table: str
    child_tables: dict[ClarkPath, str] = field(default_factory=dict)

    def run(self, send: Callable[[tuple], None]) -> None:
        from ret_desktop.core.convert import failure_reason

        sink = _BatchingSink(send)
        warnings: list[str] = []
        try:
            records = flatten_document(Path(self.path), self.record, sink, file_label=self.file_label,
                                       table=self.table, child_tables=self.child_tables, warnings=warnings)
        except Exception as error:  # this document's fault: the writer fails it and goes on
            sink.flush()  # the rows before the error: a table error among them is the reason one process gives
            send((_FAILED, failure_reason(error)))
            return
        sink.flush()
        send((_DONE, (records, warnings)))


class _BatchingSink:
    """In a worker: the document's rows (laid out by the flattener in the document's own column
    order), new columns and backfills, sent over the pipe in batches as operations."""

    def __init__(self, send: Callable[[tuple], None]) -> None:
        self._send = send
        self._operations: list[tuple] = []
        self._counted = 0  # rows in the operations beyond one per operation (ROWS carry many)
        self._rows: dict[str, int] = {}

    def add_columns(self, table: str, names: list[str]) -> None:
        self._operations.append((COLUMNS, table, names))

    def add_row(self, table: str, values: Sequence[str]) -> int:
        self._operations.append((ROW, table, values))
        handle = self._rows.get(table, 0)
        self._rows[table] = handle + 1
        if len(self._operations) + self._counted >= ROWS_PER_BATCH:
            self.flush()
        return handle

    def add_rows(self, table: str, rows: list[Sequence[str]]) -> None:
        self._operations.append((ROWS, table, rows))
        self._rows[table] = self._rows.get(table, 0) + len(rows)
        self._counted += len(rows) - 1
        if len(self._operations) + self._counted >= ROWS_PER_BATCH:
            self.flush()

    def backfill(self, table: str, first: int, last: int, pairs: Pairs) -> None:
        self._operations.append((BACKFILL, table, first, last, list(pairs)))

    def flush(self) -> None:
        if self._operations:
            self._send((_BATCH, self._operations))
            self._operations = []
            self._counted = 0


class Replay:
    """In the writer: one document's rows into the workbook's table writers, each row put into its
    table's column order; a RowSink. In one process it is the flattener's sink; with workers it
    replays their batches (``apply``)."""

    def __init__(self, sink, writer_of: Callable[[str], object]) -> None:
        self._sink = sink  # its backfill(table, first row id, last row id, pairs)
        self._writer_of = writer_of  # table -> its TableWriter (created if new)
        self._tables: dict[str, _ReplayedTable] = {}

    def _table(self, name: str) -> _ReplayedTable:
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = _ReplayedTable(self._writer_of(name))
        return table

    def add_columns(self, table: str, names: list[str]) -> None:
        self._table(table).place(names)

    def add_row(self, table: str, values: Sequence[str]) -> int:
        replayed = self._tables.get(table) or self._table(table)
        if replayed.in_order:
            return replayed.writer.add_values(values) - replayed.first
        return replayed.add(values)

    def add_rows(self, table: str, rows: list[Sequence[str]]) -> None:
        replayed = self._tables.get(table) or self._table(table)
        if replayed.in_order:
            replayed.writer.add_rows(rows)
        else:
            for values in rows:
                replayed.add(values)

    def backfill(self, table: str, first: int, last: int, pairs: Pairs) -> None:
        replayed = self._table(table)
        self._sink.backfill(table, replayed.first + first, replayed.first + last, pairs)

    def apply(self, operations: list[tuple]) -> None:
        for operation in operations:
            code = operation[0]
            if code == ROW:
                self.add_row(operation[1], operation[2])
            elif code == ROWS:
                self.add_rows(operation[1], operation[2])
            elif code == COLUMNS:
                self.add_columns(operation[1], operation[2])
            else:
                self.backfill(*operation[1:])


class _ReplayedTable:
    """One table of a replayed document: where the document's columns are in the table."""

    __slots__ = ("writer", "columns", "places", "in_order", "first", "_gather", "_gather_shape")

    def __init__(self, writer) -> None:
        self.writer = writer
        self.columns = writer.columns  # the table's, as they grow
        self.places: list[int] = []  # the document's column n -> the table's
        self.in_order = True  # places[n] == n: rows need no reordering
        self.first = writer.next_rowid  # the row id of the document's first row: handles count from it
        self._gather: Callable[[list[str]], tuple] | None = None
        self._gather_shape = (0, 0)  # (document's columns, table's columns) it was made for

    def place(self, names: list[str]) -> None:
        for name in names:
            place = self.writer.place_of(name)
            self.in_order = self.in_order and place == len(self.places)
            self.places.append(place)

    def add(self, values: Sequence[str]) -> int:
        """A row of the document's columns not in the table's order; returns its handle."""
        # Padded to every column of the document and one more: the "" of the table's columns this
        # document lacks (index -1); then one gather in C takes the table's order.
        values = [*values, *[""] * (len(self.places) + 1 - len(values))]
        if self._gather_shape != (len(self.places), len(self.columns)):
            self._make_gather(len(self.columns))
        return self.writer.add_values(self._gather(values)) - self.first

    def _make_gather(self, width: int) -> None:
        source = [-1] * width
        for own, place in enumerate(self.places):
            source[place] = own
        self._gather = itemgetter(*source) if width > 1 else lambda values: tuple(values[i] for i in source)
        self._gather_shape = (len(self.places), width)


def _work(connection) -> None:
    """A worker process: flattens each task it receives until it receives None."""
    logging.getLogger().addHandler(logging.NullHandler())  # the writer reports failures
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the writer's to handle: it ends the workers
    outbox: queue.Queue[bytes | None] = queue.Queue(QUEUED_BATCHES)

    def send_all() -> None:
        try:
            while (payload := outbox.get()) is not None:
                connection.send_bytes(payload)
        except OSError:  # the writer is gone (killed, say): so is the work; end rather than wait forever
            os._exit(1)

    sender = threading.Thread(target=send_all, name="send", daemon=True)
    sender.start()

    def send(message: tuple) -> None:
        outbox.put(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))

    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            break
        if task is None:
            break
        task.run(send)
    outbox.put(None)
    sender.join()


class _Worker:
    def __init__(self, context) -> None:
        self.connection, child_end = context.Pipe(duplex=True)
        self.process = context.Process(target=_work, args=(child_end,), name="ret-flatten", daemon=True)
        self.process.start()
        child_end.close()  # the worker's end is its own: its death reads as the end of the pipe
        self.tasks: deque[int] = deque()  # indexes of the tasks given, oldest first

    def send(self, task: ScanTask | FlattenTask) -> None:
        try:
            self.connection.send(task)
        except OSError:
            pass  # it died: reading its next result finds that out, and a new worker takes the rest

    def receive(self, should_cancel: Callable[[], bool]) -> tuple | None:
        """The next message, or None when the worker has died."""
        while True:
            if should_cancel():
                raise FlattenCancelled()
            if self.connection.poll(POLL_SECONDS):
                break
        try:
            return pickle.loads(self.connection.recv_bytes())
        except (EOFError, OSError, pickle.UnpicklingError):
            return None

    def death(self) -> str:
        self.process.join(5)
        code = self.process.exitcode
        if code is not None and code < 0:
            try:
                how = signal.Signals(-code).name
            except ValueError:
                how = f"signal {-code}"
        else:
            how = f"exit status {code}"
        return (f"the process converting it ended unexpectedly ({how}); it may have run out of memory, "
                "or been stopped from outside")

    def stop(self, wait: bool) -> None:
        if wait and self.process.is_alive():
            try:
                self.connection.send(None)
            except OSError:
                pass
            self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


@dataclass
class DocumentRun:
    """One document's result as the writer reads it: ``batches()`` first, then the outcome."""

    index: int
    _worker: _Worker
    _should_cancel: Callable[[], bool]
    result: object = None  # the task's result once it is done
    failure: str | None = None  # why the worker could not do it
    died: bool = False  # the worker died on it
    _ended: bool = False

    def batches(self) -> Iterator[list[tuple]]:
        """The document's operations in batches, until it is done or failed. Raises FlattenCancelled."""
        while not self._ended:
            message = self._worker.receive(self._should_cancel)
            if message is None:
                self.failure, self.died, self._ended = self._worker.death(), True, True
            elif message[0] == _BATCH:
                yield message[1]
            elif message[0] == _DONE:
                self.result, self._ended = message[1], True
            else:
                self.failure, self._ended = message[1], True

    def wait(self) -> None:
        """Read to the end of a task that sends no batches (a scan)."""
        self.discard()

    def discard(self) -> None:
        """Read what is left of the document (after the writer failed it itself)."""
        for _batch in self.batches():
            pass


class FlattenPool:
    """``workers`` processes (started with ``spawn``, as a frozen bundle needs) for one conversion:
    they start at once, and their start-up (imports) overlaps what the caller does meanwhile."""

    def __init__(self, workers: int) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        try:
            for _ in range(workers):
                self._workers.append(_Worker(self._context))
        except BaseException:
            self.close(wait=False)
            raise

    def run(self, tasks: list[ScanTask] | list[FlattenTask], should_cancel: Callable[[], bool] = lambda: False
            ) -> Iterator[DocumentRun]:
        """One DocumentRun per task, in order; each is read to its end before the next is given, and
        this generator to its end before another run."""
        if any(worker.tasks for worker in self._workers):
            raise RuntimeError("the pool's previous run was not read to its end")
        waiting = deque(range(len(tasks)))

        def give(worker: _Worker) -> None:
            if waiting and len(worker.tasks) < TASKS_AHEAD:
                index = waiting.popleft()
                worker.tasks.append(index)
                worker.send(tasks[index])

        for _round in range(TASKS_AHEAD):  # round robin: the first documents start at once
            for worker in self._workers:
                give(worker)
        for index in range(len(tasks)):
            place = next(n for n, w in enumerate(self._workers) if w.tasks and w.tasks[0] == index)
            worker = self._workers[place]
            run = DocumentRun(index, worker, should_cancel)
            yield run
            run.discard()
            worker.tasks.popleft()
            if run.died:  # a new worker takes what the dead one had been given
                worker.stop(wait=False)
                replacement = self._workers[place] = _Worker(self._context)
                for given in worker.tasks:
                    replacement.tasks.append(given)
                    replacement.send(tasks[given])
                worker = replacement
            give(worker)

    def close(self, wait: bool = True) -> None:
        """End every worker: after their last task when ``wait``, at once otherwise."""
        for worker in self._workers:
            worker.stop(wait)
        self._workers.clear()

    def __enter__(self) -> FlattenPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(wait=exc_type is None)
