"""The per-session store of converted tables: ``workbook.sqlite``.

Each table is a SQLite table ``t<id>`` of TEXT columns ``c1, c2, ...``; the column names (any text,
such as ``contributors/person_name[2]/surname``) are kept in ``wb_columns`` in first-seen order.
Every value is text; a cell no record filled is empty (NULL where the column came after the row).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from array import array
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ret_desktop.core.diskspace import free_bytes, is_disk_full
from ret_desktop.core.export import CsvCopy

_SCHEMA = """
CREATE TABLE IF NOT EXISTS wb_tables (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    grp TEXT NOT NULL,
    record_path TEXT NOT NULL,
    parent TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS wb_columns (
    table_id INTEGER NOT NULL REFERENCES wb_tables(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (table_id, position)
);
-- Tables whose rows have a position of their own (a row was inserted between others): column pos.
CREATE TABLE IF NOT EXISTS wb_ordered (
    table_id INTEGER PRIMARY KEY REFERENCES wb_tables(id) ON DELETE CASCADE
);
-- Every edit, committed with the change itself. One step is one action of a person (a paste, a
-- fill); undone steps stay until a new edit replaces them (redo).
CREATE TABLE IF NOT EXISTS wb_journal (
    seq INTEGER PRIMARY KEY,
    step INTEGER NOT NULL,
    at REAL NOT NULL,
    table_name TEXT NOT NULL,
    op TEXT NOT NULL,
    row_id INTEGER,
    col INTEGER,
    col_name TEXT,
    old TEXT,
    new TEXT,
    undone INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS wb_journal_step ON wb_journal (step);
-- What can be undone or redone, found without reading the journal (it runs at every edit).
CREATE INDEX IF NOT EXISTS wb_journal_undone ON wb_journal (undone, step);
"""
_BATCH = 2000
_SQLITE_MAX_COLUMNS = 2000  # SQLite's default limit, the rowid included
_ROWS_PER_INSERT = 100
# Values bound to one INSERT at most: a Crossref-shaped table (65 columns) inserts 2-5% faster with 24
# rows to a statement than with 100 (SQLite holds a copy of each bound value until the next binding).
_VALUES_PER_INSERT = 1600


class WorkbookError(RuntimeError):
    pass


class WorkbookAborted(WorkbookError):
    """A write failed in a way that ends the whole transaction (SQLite may have rolled it back
    itself): nothing of it was kept, and nothing more can be written in it."""


class WorkbookFull(WorkbookAborted):
    """The disk, or the database's size limit, is full: nothing of the transaction was kept."""


@dataclass(frozen=True)
class Edit:
    """What an undo or redo changed, so a view can follow."""

    step: int
    table: str
    row_ids: list[int]
    op: str


@dataclass(frozen=True)
class JournalEntry:
    at: float
    table: str
    op: str  # cell | insert | delete | add_column | delete_column | rename_column | create_table
    row_id: int | None
    column: str | None
    old: str | None
    new: str | None


@dataclass(frozen=True)
class ColumnProfile:
    column: str
    rows: int
    filled: int  # cells that are not empty
    distinct: int  # distinct non-empty values
    frequent: list[tuple[str, int]]  # the most frequent values with their counts, most frequent first


@dataclass(frozen=True)
class TableInfo:
    name: str
    group: str
    record_path: str
    parent: str | None
    rows: int
    columns: list[str]


class TableWriter:
    """Appends rows given as (column name, value) pairs; new names become new columns at once.

    A new table is created at its first flush, with the columns its first rows have: adding a
    column later (ALTER TABLE) makes SQLite read the whole schema again, which over thousands of
    tables (relational mode) would make a conversion quadratic."""

    def __init__(self, conn: sqlite3.Connection, table_id: int, columns: list[str],
                 csv_copy: CsvCopy | None = None, created: bool = True) -> None:
        self._conn = conn
        self.csv_copy = csv_copy  # a CSV copy of the rows; dropped when rows already written change
        self.table_id = table_id
        self.sql_name = f"t{table_id}"
        self.columns = columns
        self._slots = {name: i for i, name in enumerate(columns)}  # place in a pending row
        self._pending: list[list[str]] = []
        self._insert_sql = ""
        self._created = created
        self._next_rowid = 1 if not created else (
            conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {self.sql_name}").fetchone()[0]) + 1
        self._prepare()

    def _prepare(self) -> None:
        marks = ",".join("?" * len(self.columns))
        names = ",".join(f"c{i + 1}" for i in range(len(self.columns)))
        self._insert_sql = f"INSERT INTO {self.sql_name} ({names}) VALUES ({marks})"

    def add_row(self, pairs: list[tuple[str, str]]) -> int:
        """Returns the row's id: SQLite gives each new row the largest id so far plus one."""
        # Absent cells are "" rather than NULL: binding None costs the sqlite3 module far more.
        row = [""] * len(self.columns)
        slots = self._slots
        try:
            for name, value in pairs:
                row[slots[name]] = value
        except KeyError:
            row = self._row_with_new_columns(pairs)
        self._pending.append(row)  # as add_values, without a call more per row
        rowid = self._next_rowid
        self._next_rowid = rowid + 1
        if len(self._pending) >= _BATCH:
            self.flush()
        return rowid

    @property
    def next_rowid(self) -> int:
        return self._next_rowid

    def add_values(self, row: Sequence[str]) -> int:
        """Append a row laid out already: one value per column, in column order (a list or tuple;
        fewer: the last columns are empty)."""
        missing = len(self.columns) - len(row)
        if missing:
            row = [*row, *[""] * missing]
        self._pending.append(row)
        rowid = self._next_rowid
        self._next_rowid = rowid + 1
        if len(self._pending) >= _BATCH:
            self.flush()
        return rowid

    def add_rows(self, rows: list[Sequence[str]]) -> None:
        """``add_values`` for each of ``rows``."""
        width = len(self.columns)
        if min(map(len, rows)) < width:
            rows = [row if len(row) == width else [*row, *[""] * (width - len(row))] for row in rows]
        self._pending += rows
        self._next_rowid += len(rows)
        if len(self._pending) >= _BATCH:
            self.flush()

    def place_of(self, name: str) -> int:
        """The position of column ``name``, added at the end if new."""
        place = self._slots.get(name)
        return self._add_column(name) if place is None else place

    def _row_with_new_columns(self, pairs: list[tuple[str, str]]) -> list[str]:
        for name, _value in pairs:
            if name not in self._slots:
                self._add_column(name)
        row = [""] * len(self.columns)
        for name, value in pairs:
            row[self._slots[name]] = value
        return row

    def _add_column(self, name: str) -> int:
        position = len(self.columns)
        if self._created:
            self.flush()
            self._run_schema(f"ALTER TABLE {self.sql_name} ADD COLUMN c{position + 1} TEXT", position)
        else:  # every pending row has every column
            self._pending = [[*row, ""] for row in self._pending]
        self._conn.execute(
            "INSERT INTO wb_columns (table_id, position, name) VALUES (?, ?, ?)", (self.table_id, position, name)
        )
        self.columns.append(name)
        self._slots[name] = position
        self._prepare()
        return position

    def _run_schema(self, sql: str, columns: int) -> None:
        try:
            self._conn.execute(sql)
        except sqlite3.OperationalError as exc:
            if is_disk_full(exc) or "too many columns" not in str(exc):
                raise
            raise WorkbookError(
                f"a table cannot have more than {columns} columns here ({exc}); choose a deeper record path, "
                "or relational mode if repeated elements make the columns"
            ) from exc

    def _create(self) -> None:
        definitions = "".join(f", c{i + 1} TEXT" for i in range(len(self.columns)))
        self._run_schema(f"CREATE TABLE {self.sql_name} (rowid INTEGER PRIMARY KEY{definitions})",
                         min(len(self.columns), _SQLITE_MAX_COLUMNS - 1))
        self._created = True

    def backfill(self, first: int, last: int, pairs: list[tuple[str, str]]) -> None:
        self.flush()
        self.drop_csv_copy()
        for name, value in pairs:
            slot = self._slots.get(name)
            if slot is None:
                slot = self._add_column(name)
            self._conn.execute(
                f"UPDATE {self.sql_name} SET c{slot + 1} = ? WHERE rowid BETWEEN ? AND ?", (value, first, last)
            )

    def state(self) -> tuple[list[str], int, bool]:
        """What ``roll_back_to`` returns to."""
        return list(self.columns), self._next_rowid, self._created

    def roll_back_to(self, columns: list[str], next_rowid: int, created: bool) -> None:
        """Forget what was written since the ``state`` was this (after a rollback)."""
        self._pending.clear()
        self.drop_csv_copy()
        self.columns[:] = columns
        self._slots = {name: i for i, name in enumerate(columns)}
        self._next_rowid = next_rowid
        self._created = created
        self._prepare()

    def flush(self) -> None:
        if not self._created:
            self._create()
        if not self._pending:
            return
        width = len(self.columns)  # every pending row has it: a new column flushes the rows before it
        if width:
            self._insert(width)
        else:
            self._conn.executemany(f"INSERT INTO {self.sql_name} DEFAULT VALUES", [()] * len(self._pending))
        (last,) = self._conn.execute(f"SELECT MAX(rowid) FROM {self.sql_name}").fetchone()
        if last != self._next_rowid - 1:  # the ids add_row gave out must be the ones SQLite chose
            raise WorkbookError(f"row ids of table {self.table_id} out of step: {last} for {self._next_rowid - 1}")
        if self.csv_copy is not None:
            try:
                self.csv_copy.add(self._pending, width)
            except OSError:  # a full disk, say: the copy only spares the export a read-back
                self.drop_csv_copy()
        self._pending.clear()

    def _insert(self, width: int) -> None:
        # Many rows per statement: far fewer statement steps (each releases and retakes the GIL).
        per_statement = max(1, min(_ROWS_PER_INSERT, _VALUES_PER_INSERT // width))
        whole = len(self._pending) - len(self._pending) % per_statement
        if whole:
            sql = self._insert_sql + (",(" + ",".join("?" * width) + ")") * (per_statement - 1)
            for start in range(0, whole, per_statement):
                params: list[str] = []
                for row in self._pending[start:start + per_statement]:
                    params += row
                self._conn.execute(sql, params)
        if whole < len(self._pending):
            self._conn.executemany(self._insert_sql, self._pending[whole:])

    def drop_csv_copy(self) -> None:
        if self.csv_copy is not None:
            self.csv_copy.discard()
            self.csv_copy = None


class Workbook:
    def __init__(self, path: Path | str, scratch: bool = False, busy_timeout_s: float = 5.0) -> None:
        """``busy_timeout_s``: how long a write waits for another connection's write (a job's) to end."""
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                     timeout=busy_timeout_s)
        if scratch:  # thrown away after one run: no crash safety needed, and no WAL to copy twice
            self._conn.execute("PRAGMA journal_mode=MEMORY")
            self._conn.execute("PRAGMA synchronous=OFF")
        else:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)
        # The table writers open in the current transaction, by table name.
        self.writers: dict[str, TableWriter] = {}
        self._csv_copy_folder: Path | None = None
        # Table -> its rows as CSV and the connection's change count when they were complete.
        self._csv_copies: dict[str, tuple[CsvCopy, int]] = {}
        self._step: int | None = None  # the edit step under way

    # ------------------------------------------------------------------ writing

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together, or (on any exception, cancel included) not at all."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                for writer in self.writers.values():
                    writer.flush()
                self._conn.execute("COMMIT")
            except BaseException as exc:
                if self._conn.in_transaction:  # SQLite ends it itself on some errors (a full disk)
                    self._conn.execute("ROLLBACK")
                for writer in self.writers.values():
                    writer.drop_csv_copy()
                self.writers.clear()
                if isinstance(exc, WorkbookFull) or is_disk_full(exc):
                    self.empty_log()  # give the space back
                    if not isinstance(exc, WorkbookFull):
                        raise WorkbookFull(f"the disk is full ({exc})") from exc
                raise
            for name, writer in self.writers.items():
                if writer.csv_copy is not None:
                    self._csv_copies[name] = (writer.csv_copy, self._conn.total_changes)
            self.writers.clear()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: undo just this part on an exception (one failed document)."""
        self._conn.execute("SAVEPOINT part")
        snapshot = {name: w.state() for name, w in self.writers.items()}
        try:
            yield
            for writer in self.writers.values():
                writer.flush()
        except BaseException as exc:
            if is_disk_full(exc):  # not this part's fault: the transaction cannot go on
                raise WorkbookFull(f"the disk is full ({exc})") from exc
            if not self._conn.in_transaction:  # SQLite rolled back the whole transaction itself
                raise WorkbookAborted(f"the workbook could not be written ({exc})") from exc
            self._conn.execute("ROLLBACK TO part")
            self._conn.execute("RELEASE part")
            for name in list(self.writers):
                if name in snapshot:
                    self.writers[name].roll_back_to(*snapshot[name])
                else:
                    self.writers.pop(name).drop_csv_copy()
            raise
        self._conn.execute("RELEASE part")

    def room_bytes(self) -> int:
        """How many bytes the workbook can still grow by: the free disk space where it lies, or less
        where the database's page limit is nearer."""
        with self._lock:
            (pages,) = self._conn.execute("PRAGMA page_count").fetchone()
            (limit,) = self._conn.execute("PRAGMA max_page_count").fetchone()
            (page_size,) = self._conn.execute("PRAGMA page_size").fetchone()
        return min(free_bytes(self.path.parent), max(limit - pages, 0) * page_size)

    def empty_log(self) -> None:
        """Copy what the write-ahead log holds into the database and cut the log to nothing, as far as
        readers allow. Before a large transaction, so that if the disk fills up under it, its rollback
        leaves a log holding nothing to copy, which can then be cut without any new space."""
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass  # a later checkpoint will do it

    def writer(self, name: str, group: str, record_path: str, parent: str | None = None) -> TableWriter:
        """The writer of table ``name``, created (inside the current transaction) if new."""
        writer = self.writers.get(name)
        if writer is not None:
            return writer
        row = self._conn.execute("SELECT id FROM wb_tables WHERE name = ?", (name,)).fetchone()
        if row is None:
            table_id = self._conn.execute(
                "INSERT INTO wb_tables (name, grp, record_path, parent, created_at) VALUES (?, ?, ?, ?, ?)",
                (name, group, record_path, parent, time.time()),
            ).lastrowid
            columns: list[str] = []
            csv_copy = CsvCopy(self._csv_copy_folder / f"t{table_id}.csv") if self._csv_copy_folder else None
        else:
            table_id = row[0]
            columns = self._columns(table_id)
            csv_copy = None
        writer = self.writers[name] = TableWriter(self._conn, table_id, columns, csv_copy, created=row is not None)
        return writer

    def keep_csv_copies(self, folder: Path) -> None:
        """Tables made from now on keep a CSV copy of their rows in ``folder`` while they are written,
        so an export right after the conversion (``csv_copy``) need not read them back."""
        self._csv_copy_folder = Path(folder)

    def csv_copy(self, name: str) -> CsvCopy | None:
        """The CSV copy of ``name``'s rows, if nothing in the workbook has changed since it was made."""
        with self._lock:
            copy = self._csv_copies.get(name)
            return copy[0] if copy is not None and copy[1] == self._conn.total_changes else None

    def drop_table(self, name: str) -> None:
        """Remove table ``name`` if it exists, with its edits (inside the current transaction, or in
        its own): a table made again is a new table."""
        with self._lock:
            if self._conn.in_transaction:
                self._drop(name)
                self._conn.execute("DELETE FROM wb_journal WHERE table_name = ?", (name,))
            else:
                with self.transaction():
                    self.drop_table(name)

    def _drop(self, name: str) -> None:
        writer = self.writers.pop(name, None)
        if writer is not None:
            writer.drop_csv_copy()
        copy = self._csv_copies.pop(name, None)
        if copy is not None:
            copy[0].discard()
        row = self._conn.execute("SELECT id FROM wb_tables WHERE name = ?", (name,)).fetchone()
        if row is not None:
            self._conn.execute(f"DROP TABLE t{row[0]}")
            self._conn.execute("DELETE FROM wb_tables WHERE id = ?", (row[0],))

    # ------------------------------------------------------------------ editing (journaled)

    def set_cells(self, name: str, changes: list[tuple[int, int, str | None]]) -> int:
        """Set cells ``(row id, column position, value or None)`` as one step; returns the step."""
        with self._edit() as step:
            table_id = self._table(name)[0]
            columns = self._columns(table_id)
            for row_id, col, value in changes:
                if not 0 <= col < len(columns):
                    raise WorkbookError(f"{name} has no column {col + 1}")
                row = self._conn.execute(f"SELECT c{col + 1} FROM t{table_id} WHERE rowid = ?", (row_id,)).fetchone()
                if row is None:
                    raise WorkbookError(f"{name} has no row {row_id}")
                if (row[0] or None) == (value or None):  # empty is empty, whether '' or NULL
                    continue
                self._conn.execute(f"UPDATE t{table_id} SET c{col + 1} = ? WHERE rowid = ?", (value, row_id))
                self._journal(step, name, "cell", row_id, col, columns[col], row[0], value)
            return step

    def insert_rows(self, name: str, count: int = 1, after: int | None = None) -> list[int]:
        """``count`` empty rows after the row with id ``after`` (None: at the end), as one step;
        returns their ids."""
        with self._edit() as step:
            table_id = self._table(name)[0]
            (top,) = self._conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM t{table_id}").fetchone()
            positions: list[float | None] = [None] * count
            if after is not None:
                low, high = self._gap_after(table_id, after)
                if high is not None or self._order(table_id) != "rowid":
                    self._make_ordered(table_id)  # positions start as the row ids: the gap stays
                    upper = high if high is not None else low + count + 1
                    positions = [low + (upper - low) * (i + 1) / (count + 1) for i in range(count)]
            ordered = self._order(table_id) != "rowid"
            ids = []
            for i, position in enumerate(positions):
                row_id = top + 1 + i
                self._insert_row(table_id, row_id, position, {}, ordered)
                self._journal(step, name, "insert", row_id, None, None, None, json.dumps([position, {}]))
                ids.append(row_id)
            return ids

    def delete_rows(self, name: str, row_ids: list[int]) -> int:
        """Delete rows as one step (each kept in the journal, so undo brings it back); returns the step."""
        with self._edit() as step:
            table_id = self._table(name)[0]
            ordered = self._order(table_id) != "rowid"
            names = [d[0] for d in self._conn.execute(f"SELECT * FROM t{table_id} LIMIT 0").description]
            for row_id in row_ids:
                row = self._conn.execute(f"SELECT * FROM t{table_id} WHERE rowid = ?", (row_id,)).fetchone()
                if row is None:
                    continue
                saved = {n: v for n, v in zip(names, row) if n.startswith("c") and v is not None}
                position = row[names.index("pos")] if ordered else None
                self._conn.execute(f"DELETE FROM t{table_id} WHERE rowid = ?", (row_id,))
                self._journal(step, name, "delete", row_id, None, None, json.dumps([position, saved]), None)
            return step

    def add_column(self, name: str, column: str) -> int:
        """A new empty column at the end; returns its position."""
        column = column.strip()
        if not column:
            raise WorkbookError("a column needs a name")
        with self._edit() as step:
            table_id = self._table(name)[0]
            columns = self._columns(table_id)
            if column in columns:
                raise WorkbookError(f"{name} already has a column {column!r}")
            position = len(columns)
            self._conn.execute(f"ALTER TABLE t{table_id} ADD COLUMN c{position + 1} TEXT")
            self._conn.execute("INSERT INTO wb_columns (table_id, position, name) VALUES (?, ?, ?)",
                               (table_id, position, column))
            self._journal(step, name, "add_column", None, position, column, None, column)
            return position

    def delete_column(self, name: str, position: int) -> None:
        """Remove a column as one step; its values are kept in the journal for undo."""
        with self._edit() as step:
            table_id = self._table(name)[0]
            columns = self._columns(table_id)
            if not 0 <= position < len(columns) or len(columns) == 1:
                raise WorkbookError(f"{name} cannot lose column {position + 1}")
            values = dict(self._conn.execute(
                f"SELECT rowid, c{position + 1} FROM t{table_id} WHERE c{position + 1} <> ''"))  # empty stays empty
            self._remove_column(table_id, position, len(columns))
            self._journal(step, name, "delete_column", None, position, columns[position],
                          json.dumps(values), None)

    def rename_column(self, name: str, position: int, new_name: str) -> None:
        new_name = new_name.strip()
        with self._edit() as step:
            table_id = self._table(name)[0]
            columns = self._columns(table_id)
            if not new_name or new_name in columns:
                raise WorkbookError(f"{new_name!r} cannot be a new column name in {name}")
            self._conn.execute("UPDATE wb_columns SET name = ? WHERE table_id = ? AND position = ?",
                               (new_name, table_id, position))
            self._journal(step, name, "rename_column", None, position, new_name, columns[position], new_name)

    def create_table(self, name: str, columns: list[str]) -> None:
        """A new empty table with these column names, as one step."""
        name = name.strip()
        columns = [c.strip() for c in columns]
        if not name or not columns or any(not c for c in columns) or len(set(columns)) != len(columns):
            raise WorkbookError("a new table needs a name and distinct, non-empty column names")
        with self._edit() as step:
            if self._conn.execute("SELECT 1 FROM wb_tables WHERE name = ?", (name,)).fetchone():
                raise WorkbookError(f"there is already a table named {name!r}")
            self._create_table(name, columns)
            self._journal(step, name, "create_table", None, None, None, None, json.dumps(columns))

    def undo(self) -> Edit | None:
        """Take back the latest step; None when there is nothing to undo."""
        return self._replay(backwards=True)

    def redo(self) -> Edit | None:
        """Do again the step undone last; None when there is nothing to redo."""
        return self._replay(backwards=False)

    def _replay(self, backwards: bool) -> Edit | None:
        pick, order, undone_before = ("MAX", "DESC", 0) if backwards else ("MIN", "", 1)
        with self._lock, self.transaction():
            (step,) = self._conn.execute(
                f"SELECT {pick}(step) FROM wb_journal WHERE undone = ?", (undone_before,)).fetchone()
            if step is None:
                return None
            entries = self._conn.execute(
                "SELECT table_name, op, row_id, col, col_name, old, new FROM wb_journal WHERE step = ? "
                f"ORDER BY seq {order}", (step,)).fetchall()
            for entry in entries:
                self._apply(*entry, backwards=backwards)
            self._conn.execute("UPDATE wb_journal SET undone = ? WHERE step = ?", (1 - undone_before, step))
            return Edit(step, entries[0][0], [e[2] for e in entries if e[2] is not None], entries[0][1])

    def history(self) -> tuple[bool, bool]:
        """Whether there is a step to undo, and one to redo."""
        with self._lock:
            undo, redo = self._conn.execute(
                "SELECT EXISTS (SELECT 1 FROM wb_journal WHERE undone = 0), "
                "EXISTS (SELECT 1 FROM wb_journal WHERE undone = 1)").fetchone()
            return bool(undo), bool(redo)

    def edited_tables(self) -> set[str]:
        """The tables that have edits in effect."""
        with self._lock:
            return {row[0] for row in self._conn.execute(
                "SELECT DISTINCT table_name FROM wb_journal WHERE undone = 0")}

    def journal(self) -> list[JournalEntry]:
        """The edits in effect, oldest first (undone ones are not)."""
        with self._lock:
            return [JournalEntry(*row) for row in self._conn.execute(
                "SELECT at, table_name, op, row_id, col_name, old, new FROM wb_journal WHERE undone = 0 "
                "ORDER BY seq")]

    def cell_originals(self, name: str, since: float) -> dict[tuple[int, str], str | None]:
        """The cells of table ``name`` with edits in effect made at ``since`` or later, by (row id,
        column name), each with its value before the first of those edits."""
        with self._lock:
            rows = self._conn.execute(  # newest first, so that the first edit of a cell is the one kept
                "SELECT row_id, col_name, old FROM wb_journal WHERE undone = 0 AND op = 'cell' AND table_name = ? "
                "AND at >= ? ORDER BY seq DESC", (name, since))
            return {(row_id, column): old for row_id, column, old in rows}

    @contextmanager
    def one_step(self) -> Iterator[int]:
        """Edits made inside are one step (one undo), committed together."""
        with self._edit() as step:
            yield step

    @contextmanager
    def _edit(self) -> Iterator[int]:
        """One step: a transaction that also clears what could be redone. Inside another step, the
        same step."""
        with self._lock:
            if self._step is not None:
                yield self._step
                return
            with self.transaction():
                self._conn.execute("DELETE FROM wb_journal WHERE undone = 1")
                (last,) = self._conn.execute("SELECT COALESCE(MAX(step), 0) FROM wb_journal").fetchone()
                self._step = last + 1
                try:
                    yield self._step
                finally:
                    self._step = None

    def _journal(self, step: int, table: str, op: str, row_id: int | None, col: int | None,
                 col_name: str | None, old: str | None, new: str | None) -> None:
        self._conn.execute(
            "INSERT INTO wb_journal (step, at, table_name, op, row_id, col, col_name, old, new) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (step, time.time(), table, op, row_id, col, col_name, old, new))

    def _apply(self, table: str, op: str, row_id: int | None, col: int | None, col_name: str | None,
               old: str | None, new: str | None, backwards: bool) -> None:
        """Replay one journal entry forwards (redo) or backwards (undo)."""
        if op == "create_table":
            if backwards:
                self._drop(table)
            else:
                self._create_table(table, json.loads(new))
            return
        table_id = self._table(table)[0]
        if op == "cell":
            value = old if backwards else new
            self._conn.execute(f"UPDATE t{table_id} SET c{col + 1} = ? WHERE rowid = ?", (value, row_id))
        elif op in ("insert", "delete"):
            removing = (op == "insert") == backwards
            if removing:
                self._conn.execute(f"DELETE FROM t{table_id} WHERE rowid = ?", (row_id,))
            else:
                position, values = json.loads(new if op == "insert" else old)
                if position is not None:
                    self._make_ordered(table_id)
                self._insert_row(table_id, row_id, position, values, self._order(table_id) != "rowid")
        elif op == "add_column":
            if backwards:
                self._conn.execute(f"ALTER TABLE t{table_id} DROP COLUMN c{col + 1}")
                self._conn.execute("DELETE FROM wb_columns WHERE table_id = ? AND position = ?", (table_id, col))
            else:
                self._conn.execute(f"ALTER TABLE t{table_id} ADD COLUMN c{col + 1} TEXT")
                self._conn.execute("INSERT INTO wb_columns (table_id, position, name) VALUES (?, ?, ?)",
                                   (table_id, col, new))
        elif op == "delete_column":
            width = len(self._columns(table_id))
            if backwards:
                self._insert_column(table_id, col, col_name, width, json.loads(old))
            else:
                self._remove_column(table_id, col, width)
        elif op == "rename_column":
            self._conn.execute("UPDATE wb_columns SET name = ? WHERE table_id = ? AND position = ?",
                               (old if backwards else new, table_id, col))

    def _remove_column(self, table_id: int, position: int, width: int) -> None:
        """Drop column ``position``; the later ones move one place left (c<n> is always position n-1)."""
        self._conn.execute(f"ALTER TABLE t{table_id} DROP COLUMN c{position + 1}")
        for n in range(position + 2, width + 1):
            self._conn.execute(f"ALTER TABLE t{table_id} RENAME COLUMN c{n} TO c{n - 1}")
        self._conn.execute("DELETE FROM wb_columns WHERE table_id = ? AND position = ?", (table_id, position))
        self._conn.execute("UPDATE wb_columns SET position = -position WHERE table_id = ? AND position > ?",
                           (table_id, position))  # two moves: (table_id, position) stays unique throughout
        self._conn.execute("UPDATE wb_columns SET position = -position - 1 WHERE table_id = ? AND position < 0",
                           (table_id,))

    def _insert_column(self, table_id: int, position: int, name: str, width: int, values: dict[str, str]) -> None:
        """Put a column back at ``position`` with its values (the undo of _remove_column)."""
        for n in range(width, position, -1):
            self._conn.execute(f"ALTER TABLE t{table_id} RENAME COLUMN c{n} TO c{n + 1}")
        self._conn.execute(f"ALTER TABLE t{table_id} ADD COLUMN c{position + 1} TEXT")
        self._conn.execute("UPDATE wb_columns SET position = -position - 1 WHERE table_id = ? AND position >= ?",
                           (table_id, position))
        self._conn.execute("UPDATE wb_columns SET position = -position WHERE table_id = ? AND position < 0",
                           (table_id,))
        self._conn.execute("INSERT INTO wb_columns (table_id, position, name) VALUES (?, ?, ?)",
                           (table_id, position, name))
        self._conn.executemany(f"UPDATE t{table_id} SET c{position + 1} = ? WHERE rowid = ?",
                               [(value, int(row_id)) for row_id, value in values.items()])

    def _create_table(self, name: str, columns: list[str]) -> None:
        table_id = self._conn.execute(
            "INSERT INTO wb_tables (name, grp, record_path, parent, created_at) VALUES (?, '', '', NULL, ?)",
            (name, time.time())).lastrowid
        self._conn.execute(f"CREATE TABLE t{table_id} (rowid INTEGER PRIMARY KEY"
                           + "".join(f", c{i + 1} TEXT" for i in range(len(columns))) + ")")
        self._conn.executemany("INSERT INTO wb_columns (table_id, position, name) VALUES (?, ?, ?)",
                               [(table_id, i, c) for i, c in enumerate(columns)])

    def _insert_row(self, table_id: int, row_id: int, position: float | None, values: dict[str, str],
                    ordered: bool) -> None:
        names, args = ["rowid", *values], [row_id, *values.values()]
        if ordered:  # the table has positions: this row gets one too (its id when none is given)
            names.append("pos")
            args.append(row_id if position is None else position)
        self._conn.execute(f"INSERT INTO t{table_id} ({', '.join(names)}) VALUES ({', '.join('?' * len(args))})",
                           args)

    def _make_ordered(self, table_id: int) -> None:
        """Give every row a position of its own (its id), so rows can go between others."""
        if self._order(table_id) != "rowid":
            return
        self._conn.execute(f"ALTER TABLE t{table_id} ADD COLUMN pos REAL")
        self._conn.execute(f"UPDATE t{table_id} SET pos = rowid")
        self._conn.execute(f"CREATE INDEX t{table_id}_pos ON t{table_id} (pos, rowid)")
        self._conn.execute("INSERT INTO wb_ordered (table_id) VALUES (?)", (table_id,))

    def _gap_after(self, table_id: int, row_id: int) -> tuple[float, float | None]:
        """The position of row ``row_id`` and of the row after it in stored order (None: it is last)."""
        if self._order(table_id) == "rowid":
            (next_id,) = self._conn.execute(f"SELECT MIN(rowid) FROM t{table_id} WHERE rowid > ?",
                                            (row_id,)).fetchone()
            return float(row_id), (float(next_id) if next_id is not None else None)
        row = self._conn.execute(f"SELECT pos FROM t{table_id} WHERE rowid = ?", (row_id,)).fetchone()
        if row is None:
            raise WorkbookError(f"no row {row_id}")
        (following,) = self._conn.execute(
            f"SELECT MIN(pos) FROM t{table_id} WHERE pos > ?", (row[0],)).fetchone()
        return row[0], following

    # ------------------------------------------------------------------ reading

    def table_names(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT name FROM wb_tables ORDER BY id")]

    def columns(self, name: str) -> list[str]:
        with self._lock:
            return self._columns(self._table(name)[0])

    def info(self, name: str) -> TableInfo:
        """The table's description, with its row count (which counts every row: not for hot paths)."""
        with self._lock:
            table_id, group, record_path, parent = self._table(name)
            (rows,) = self._conn.execute(f"SELECT COUNT(*) FROM t{table_id}").fetchone()
            return TableInfo(name, group, record_path, parent, rows, self._columns(table_id))

    def iter_batches(self, name: str, batch: int = 5000) -> Iterator[list[tuple[str, ...]]]:
        """Every row of ``name`` as tuples of strings (empty for NULL), in stored order, in lists of
        up to ``batch`` rows.

        Reads through its own connection, so the export of a large table does not hold the
        workbook's lock, and sees one consistent snapshot.
        """
        with self._lock:
            table_id = self._table(name)[0]
            width = len(self._columns(table_id))
            order = self._order(table_id)
        select = ",".join(f"COALESCE(c{i + 1}, '')" for i in range(width)) or "''"
        yield from self._read_batches(f"SELECT {select} FROM t{table_id} ORDER BY {order}", batch)

    def iter_rows(self, name: str, batch: int = 5000) -> Iterator[list[tuple]]:
        """Every row of ``name`` as ``(row id, value, ...)`` (NULL cells as None), in lists of up to
        ``batch``; through its own connection, like ``iter_batches``."""
        with self._lock:
            table_id = self._table(name)[0]
            width = len(self._columns(table_id))
        select = "".join(f", c{i + 1}" for i in range(width))
        yield from self._read_batches(f"SELECT rowid{select} FROM t{table_id}", batch)

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection of its own: long reads hold neither the lock nor a writer back."""
        reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            yield reader
        finally:
            reader.close()

    def _read_batches(self, sql: str, batch: int) -> Iterator[list[tuple]]:
        with self._reader() as reader:
            cursor = reader.execute(sql)
            while rows := cursor.fetchmany(batch):
                yield rows

    def column_profiles(self, name: str, top: int = 5) -> list[ColumnProfile]:
        """Each column's fill, distinct values and most frequent values (through its own connection:
        this reads the whole table)."""
        with self._lock:
            table_id = self._table(name)[0]
            columns = self._columns(table_id)
        with self._reader() as reader:
            (rows,) = reader.execute(f"SELECT COUNT(*) FROM t{table_id}").fetchone()
            profiles = []
            for i, column in enumerate(columns, start=1):
                filled, distinct = reader.execute(
                    f"SELECT COUNT(NULLIF(c{i}, '')), COUNT(DISTINCT NULLIF(c{i}, '')) FROM t{table_id}").fetchone()
                frequent = reader.execute(
                    f"SELECT c{i}, COUNT(*) AS n FROM t{table_id} WHERE c{i} <> '' GROUP BY c{i} "
                    f"ORDER BY n DESC, c{i} LIMIT ?", (top,)).fetchall()
                profiles.append(ColumnProfile(column, rows, filled, distinct, frequent))
            return profiles

    def row_ids(self, name: str, sort_column: int | None = None, descending: bool = False,
                contains: str = "", equals: tuple[int, str] | None = None) -> array[int] | range:
        """The stored row ids of ``name`` in view order: sorted by a column (text order, ignoring
        case), narrowed to rows where some cell contains ``contains`` (ignoring case) and to rows
        whose column ``equals[0]`` holds exactly ``equals[1]`` (empty: nothing)."""
        with self._lock:
            table_id = self._table(name)[0]
            width = len(self._columns(table_id))
            stored_order = self._order(table_id)
            if sort_column is None and not contains and equals is None and stored_order == "rowid":
                # Three queries: MIN and MAX alone are index look-ups, together with COUNT a second scan.
                (count,) = self._conn.execute(f"SELECT COUNT(*) FROM t{table_id}").fetchone()
                (low,) = self._conn.execute(f"SELECT MIN(rowid) FROM t{table_id}").fetchone()
                (high,) = self._conn.execute(f"SELECT MAX(rowid) FROM t{table_id}").fetchone()
                if not count:
                    return range(0)
                if high - low + 1 == count:
                    return range(low, high + 1)
            conditions, args = [], []
            if contains:
                pattern = "%" + contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                conditions.append("(" + " OR ".join(f"c{i + 1} LIKE ? ESCAPE '\\'" for i in range(width)) + ")")
                args += [pattern] * width
            if equals is not None:
                column, value = equals
                conditions.append(f"COALESCE(c{column + 1}, '') = ?")
                args.append(value)
            where = ("WHERE " + " AND ".join(conditions)) if conditions else ""
            order = stored_order
            if sort_column is not None:
                order = f"c{sort_column + 1} COLLATE NOCASE {'DESC' if descending else 'ASC'}, {stored_order}"
            cursor = self._conn.execute(f"SELECT rowid FROM t{table_id} {where} ORDER BY {order}", args)
            ids = array("q")
            while batch := cursor.fetchmany(50_000):
                ids.extend(r[0] for r in batch)
            return ids

    def rows_for_ids(self, name: str, ids: list[int]) -> dict[int, tuple]:
        """The rows with these ids, by id (NULL cells as None)."""
        with self._lock:
            table_id = self._table(name)[0]
            marks = ",".join("?" * len(ids))
            select = "".join(f", c{i + 1}" for i in range(len(self._columns(table_id))))
            cursor = self._conn.execute(f"SELECT rowid{select} FROM t{table_id} WHERE rowid IN ({marks})", ids)
            return {row[0]: row[1:] for row in cursor}

    def _table(self, name: str) -> tuple[int, str, str, str | None]:
        """(id, group, record path, parent) of table ``name``; call with the lock held."""
        row = self._conn.execute(
            "SELECT id, grp, record_path, parent FROM wb_tables WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise WorkbookError(f"no table named {name!r}")
        return row

    def _order(self, table_id: int) -> str:
        """How the rows of a table are ordered when nothing else is asked: by insertion (rowid), or by
        their own position once a row has been inserted between others."""
        ordered = self._conn.execute("SELECT 1 FROM wb_ordered WHERE table_id = ?", (table_id,)).fetchone()
        return "pos, rowid" if ordered else "rowid"

    def _columns(self, table_id: int) -> list[str]:
        return [r[0] for r in self._conn.execute(
            "SELECT name FROM wb_columns WHERE table_id = ? ORDER BY position", (table_id,))]

    def close(self) -> None:
        with self._lock:
            for csv_copy, _changes in self._csv_copies.values():
                csv_copy.close()
            self._conn.close()

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
