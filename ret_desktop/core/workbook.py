"""The per-session store of converted tables: ``workbook.sqlite``.

Each table is a SQLite table ``t<id>`` of TEXT columns ``c1, c2, ...``; the column names (any text,
such as ``contributors/person_name[2]/surname``) are kept in ``wb_columns`` in first-seen order.
Every value is text; a cell no record filled is NULL and exports as empty.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from array import array
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

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
"""
_BATCH = 2000
_ROWS_PER_INSERT = 100
_MAX_VARIABLES = 32766  # SQLite's bound-parameter limit (3.32 and newer)


class WorkbookError(RuntimeError):
    pass


@dataclass(frozen=True)
class TableInfo:
    name: str
    group: str
    record_path: str
    parent: str | None
    rows: int
    columns: list[str]


class TableWriter:
    """Appends rows given as (column name, value) pairs; new names become new columns at once."""

    def __init__(self, conn: sqlite3.Connection, table_id: int, columns: list[str]) -> None:
        self._conn = conn
        self.table_id = table_id
        self.sql_name = f"t{table_id}"
        self.columns = columns
        self._slots = {name: i + 1 for i, name in enumerate(columns)}  # place in a pending row (0: rowid)
        self._pending: list[list[str | None]] = []
        self._insert_sql = ""
        self._next_rowid = (conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {self.sql_name}").fetchone()[0]) + 1
        self._prepare()

    def _prepare(self) -> None:
        marks = ",".join("?" * (len(self.columns) + 1))
        names = ",".join(f"c{i + 1}" for i in range(len(self.columns)))
        self._insert_sql = f"INSERT INTO {self.sql_name} (rowid{',' if names else ''}{names}) VALUES ({marks})"

    def add_row(self, pairs: list[tuple[str, str]]) -> int:
        slots = self._slots
        row: list[str | int | None] = [None] * (len(self.columns) + 1)
        for name, value in pairs:
            slot = slots.get(name)
            if slot is None:
                slot = self._add_column(name) + 1
                row.append(None)
            row[slot] = value
        rowid = row[0] = self._next_rowid
        self._next_rowid += 1
        self._pending.append(row)
        if len(self._pending) >= _BATCH:
            self.flush()
        return rowid

    def _add_column(self, name: str) -> int:
        self.flush()
        position = len(self.columns)
        try:
            self._conn.execute(f"ALTER TABLE {self.sql_name} ADD COLUMN c{position + 1} TEXT")
        except sqlite3.OperationalError as exc:
            raise WorkbookError(
                f"a table cannot have more than {position} columns here ({exc}); "
                "convert in relational mode or choose a deeper record path"
            ) from exc
        self._conn.execute(
            "INSERT INTO wb_columns (table_id, position, name) VALUES (?, ?, ?)", (self.table_id, position, name)
        )
        self.columns.append(name)
        self._slots[name] = position + 1
        self._prepare()
        return position

    def backfill(self, first: int, last: int, pairs: list[tuple[str, str]]) -> None:
        self.flush()
        for name, value in pairs:
            slot = self._slots.get(name)
            if slot is None:
                slot = self._add_column(name) + 1
            self._conn.execute(
                f"UPDATE {self.sql_name} SET c{slot} = ? WHERE rowid BETWEEN ? AND ?", (value, first, last)
            )

    def roll_back_to(self, columns: list[str], next_rowid: int) -> None:
        """Forget what was written since the columns and next row id were these (after a rollback)."""
        self._pending.clear()
        self.columns[:] = columns
        self._slots = {name: i + 1 for i, name in enumerate(columns)}
        self._next_rowid = next_rowid
        self._prepare()

    def flush(self) -> None:
        if not self._pending:
            return
        width = len(self.columns) + 1
        for row in self._pending:
            if len(row) < width:
                row.extend([None] * (width - len(row)))
        # Many rows per statement: far fewer statement steps (each releases and retakes the GIL).
        per_statement = max(1, min(_ROWS_PER_INSERT, _MAX_VARIABLES // width))
        whole = len(self._pending) - len(self._pending) % per_statement
        if whole:
            sql = self._insert_sql + (",(" + ",".join("?" * width) + ")") * (per_statement - 1)
            for start in range(0, whole, per_statement):
                params: list[str | int | None] = []
                for row in self._pending[start:start + per_statement]:
                    params += row
                self._conn.execute(sql, params)
        if whole < len(self._pending):
            self._conn.executemany(self._insert_sql, self._pending[whole:])
        self._pending.clear()


class Workbook:
    def __init__(self, path: Path | str, scratch: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
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
            except BaseException:
                self._conn.execute("ROLLBACK")
                self.writers.clear()
                raise
            self._conn.execute("COMMIT")
            self.writers.clear()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: undo just this part on an exception (one failed document)."""
        self._conn.execute("SAVEPOINT part")
        snapshot = {name: (list(w.columns), w._next_rowid) for name, w in self.writers.items()}
        try:
            yield
            for writer in self.writers.values():
                writer.flush()
        except BaseException:
            self._conn.execute("ROLLBACK TO part")
            self._conn.execute("RELEASE part")
            for name in list(self.writers):
                if name in snapshot:
                    self.writers[name].roll_back_to(*snapshot[name])
                else:
                    del self.writers[name]
            raise
        self._conn.execute("RELEASE part")

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
            self._conn.execute(f"CREATE TABLE t{table_id} (rowid INTEGER PRIMARY KEY)")
            columns: list[str] = []
        else:
            table_id = row[0]
            columns = self._columns(table_id)
        writer = self.writers[name] = TableWriter(self._conn, table_id, columns)
        return writer

    def drop_table(self, name: str) -> None:
        """Remove table ``name`` if it exists (inside the current transaction, or in its own)."""
        with self._lock:
            if self._conn.in_transaction:
                self._drop(name)
            else:
                with self.transaction():
                    self._drop(name)

    def _drop(self, name: str) -> None:
        self.writers.pop(name, None)
        row = self._conn.execute("SELECT id FROM wb_tables WHERE name = ?", (name,)).fetchone()
        if row is not None:
            self._conn.execute(f"DROP TABLE t{row[0]}")
            self._conn.execute("DELETE FROM wb_tables WHERE id = ?", (row[0],))

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
        select = ",".join(f"COALESCE(c{i + 1}, '')" for i in range(width)) or "''"
        reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            cursor = reader.execute(f"SELECT {select} FROM t{table_id} ORDER BY rowid")
            while rows := cursor.fetchmany(batch):
                yield rows
        finally:
            reader.close()

    def row_ids(self, name: str, sort_column: int | None = None, descending: bool = False,
                contains: str = "") -> array[int] | range:
        """The stored row ids of ``name`` in view order: sorted by a column (text order, ignoring
        case) and narrowed to rows where some cell contains ``contains`` (ignoring case)."""
        with self._lock:
            table_id = self._table(name)[0]
            width = len(self._columns(table_id))
            if sort_column is None and not contains:
                # Three queries: MIN and MAX alone are index look-ups, together with COUNT a second scan.
                (count,) = self._conn.execute(f"SELECT COUNT(*) FROM t{table_id}").fetchone()
                (low,) = self._conn.execute(f"SELECT MIN(rowid) FROM t{table_id}").fetchone()
                (high,) = self._conn.execute(f"SELECT MAX(rowid) FROM t{table_id}").fetchone()
                if not count:
                    return range(0)
                if high - low + 1 == count:
                    return range(low, high + 1)
            where, args = "", []
            if contains:
                pattern = "%" + contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                where = "WHERE " + " OR ".join(f"c{i + 1} LIKE ? ESCAPE '\\'" for i in range(width))
                args = [pattern] * width
            order = "rowid"
            if sort_column is not None:
                order = f"c{sort_column + 1} COLLATE NOCASE {'DESC' if descending else 'ASC'}, rowid"
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
            cursor = self._conn.execute(f"SELECT * FROM t{table_id} WHERE rowid IN ({marks})", ids)
            return {row[0]: row[1:] for row in cursor}

    def _table(self, name: str) -> tuple[int, str, str, str | None]:
        """(id, group, record path, parent) of table ``name``; call with the lock held."""
        row = self._conn.execute(
            "SELECT id, grp, record_path, parent FROM wb_tables WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise WorkbookError(f"no table named {name!r}")
        return row

    def _columns(self, table_id: int) -> list[str]:
        return [r[0] for r in self._conn.execute(
            "SELECT name FROM wb_columns WHERE table_id = ? ORDER BY position", (table_id,))]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
