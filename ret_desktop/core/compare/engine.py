"""The diff, computed in SQLite: both sides attached to a result workbook, rows paired by key (the
keys of both sides grouped in one sort) or by document and row sequence, into a table of pairs in
the new side's order; then one pass over the pairs reads each side's row once and writes the cells
that differ (for a large table, two halves at once), and the diff table is written from the pairs.

The result file is a workbook (``workbook.py`` layout): one diff table per paired table, which a
table view pages like any other, with these columns first: ``_status`` (same, changed, added,
removed, or duplicate / empty key on one side), ``_file``, ``_record``; then every compared column
(new side's order, then the removed ones) holding the new value (the old one for removed rows and
columns). Hidden columns ``_old_row`` and ``_new_row`` give the rows' ids on each side. Table
``cmp_cells`` holds every changed cell of a changed row: diff table id, row, column position, old
and new value. Table ``cmp_summary`` holds the summary as JSON.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shutil
import sqlite3
import multiprocessing
import tempfile
import threading
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping

from ret_desktop.core.compare.sides import (
    PROVENANCE,
    CompareCancelled,
    CompareError,
    LoadedSide,
    Side,
    SideTable,
    conversion_options,
    create_table,
    load_side,
)
from ret_desktop.core.convert import ConvertOptions
from ret_desktop.core.importing import IntakeLimits
from ret_desktop.core.workbook import Workbook

STATUS_COLUMNS = ("_status", "_file", "_record")
_SEPARATOR = "char(31)"
_WHITESPACE = " \t\n\r\f\v"
_MAX_SIMILARITY_PAIRS = 4_000_000  # document pairs weighed for similarity at most
_MAX_STRETCH = 200  # rows of a replaced stretch paired by likeness (beyond: in order)
_MAX_ALIGNED = 50_000  # rows of a document aligned as sequences (beyond: paired by equal content)
_KEY_PAIR_COLUMNS = 8  # filled columns tried two by two for a key, where no column alone is one


@dataclass(frozen=True)
class CompareOptions:
    key: tuple[str, ...] = ()  # key columns; tables lacking one of them pair rows by _file + _record
    # A key per table (the name the summary gives it, or its old side's name) -> its key columns, which
    # it must have; () pairs that table's rows by _file + _record. ``key`` serves the tables not named.
    table_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ignore_case: bool = False
    trim: bool = False
    ignore_columns: tuple[str, ...] = ()
    empty_equals_absent: bool = True
    similarity: float = 0.8  # documents paired by content at or above this share
    convert: ConvertOptions = ConvertOptions()  # for sides that are inputs to convert
    limits: IntakeLimits = IntakeLimits()
    # Inputs of at least this many bytes on each side: the old side is read in a child process meanwhile.
    parallel_from_bytes: int = 32 * 1024 * 1024
    # Tables of at least this many rows: their cells are compared in two halves at once, on two threads.
    parallel_from_rows: int = 200_000


@dataclass
class TableDiff:
    name: str
    status: str  # same | changed | added | removed
    key: list[str]
    rows_added: int = 0
    rows_removed: int = 0
    rows_changed: int = 0
    cells_changed: int = 0
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    duplicate_keys: int = 0  # rows left unpaired because their key is repeated or empty on their side
    old_name: str | None = None
    new_name: str | None = None
    diff_table: str | None = None  # the diff table's name in the result workbook
    rows_same: int = 0

    def as_json(self) -> dict:
        return {k: getattr(self, k) for k in ("name", "status", "key", "rows_added", "rows_removed", "rows_changed",
                                              "cells_changed", "columns_added", "columns_removed", "duplicate_keys")}


@dataclass
class DocumentDiff:
    path: str
    status: str  # same | changed | moved | added | removed
    matched_path: str | None
    similarity: float | None

    def as_json(self) -> dict:
        return asdict(self)


@dataclass
class CompareSummary:
    tables: list[TableDiff]
    documents: list[DocumentDiff]
    warnings: list[str] = field(default_factory=list)  # documents a side could not convert, and the like

    @property
    def same(self) -> bool:
        return all(t.status == "same" for t in self.tables) and all(d.status == "same" for d in self.documents)

    def as_json(self) -> dict:
        """The shape of ``summary.json``."""
        return {"tables": [t.as_json() for t in self.tables], "documents": [d.as_json() for d in self.documents]}


def compare(
    old: Side,
    new: Side,
    result_path: Path,
    options: CompareOptions = CompareOptions(),
    should_cancel: Callable[[], bool] = lambda: False,
    on_progress: Callable[[int, int, str], None] = lambda done, total, current: None,
) -> CompareSummary:
    """Compare two sides into the result workbook ``result_path`` (written whole or not at all; the
    module docstring gives its tables) and return the summary. Scratch files live beside it and are
    removed. ``on_progress(done, total, current)`` counts within each step (reading a side, comparing
    the tables); ``current`` says which. Raises ``CompareError`` (a message for the user) for a side
    that cannot be read, no table in common or a key no table has; ``CompareCancelled`` when
    ``should_cancel()`` turned true."""
    result_path = Path(result_path)
    result_path.parent.mkdir(parents=True, exist_ok=True)
    if options.convert == ConvertOptions():  # an input compared with an earlier export is converted alike
        for export, other in ((old, new), (new, old)):
            if other.kind == "convert":
                options = replace(options, convert=conversion_options(export, options.convert))
    scratch = Path(tempfile.mkdtemp(prefix=".ret-compare-", dir=result_path.parent))
    try:
        loaded_old, loaded_new = _load_both(old, new, scratch, options, should_cancel, on_progress)
        part = scratch / "result.sqlite"
        summary = _Diff(part, scratch / "work.sqlite", loaded_old, loaded_new, options, should_cancel,
                        on_progress).run()
        summary.warnings = loaded_old.warnings + loaded_new.warnings
        if should_cancel():
            raise CompareCancelled()
        with sqlite3.connect(part) as conn:
            conn.execute("INSERT INTO cmp_summary (json) VALUES (?)",
                         (json.dumps({**summary.as_json(), "warnings": summary.warnings,
                                      "details": [asdict(t) for t in summary.tables]}),))
        conn.close()
        with open(part, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(part, result_path)
        return summary
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _load_both(old: Side, new: Side, scratch: Path, options: CompareOptions, should_cancel: Callable[[], bool],
               on_progress: Callable[[int, int, str], None]) -> tuple[LoadedSide, LoadedSide]:
    """Both sides as workbooks. When both must be read or converted, the old one is read in a child
    process meanwhile (reading CSV and XML is interpreter work, which threads would share)."""
    if old.kind == "session" or new.kind == "session" or min(
            _input_bytes(old), _input_bytes(new)) < options.parallel_from_bytes:
        return (load_side(old, scratch / "old", options.convert, options.limits, should_cancel, on_progress),
                load_side(new, scratch / "new", options.convert, options.limits, should_cancel, on_progress))
    context = multiprocessing.get_context("spawn")
    cancel = context.Event()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_load_in_child, name="ret-compare-load", daemon=True,
                            args=(old, scratch / "old", options.convert, options.limits, cancel, sender))
    child.start()
    sender.close()
    def child_failed() -> bool:
        return not child.is_alive() and not receiver.poll()

    try:
        try:
            loaded_new = load_side(new, scratch / "new", options.convert, options.limits,
                                   lambda: should_cancel() or child_failed(), on_progress)
        except CompareCancelled:
            if child_failed() and not should_cancel():
                raise CompareError(f"reading {old.label} stopped (exit status {child.exitcode})") from None
            raise
        while not receiver.poll(0.1):
            if should_cancel():
                raise CompareCancelled()
            if not child.is_alive() and not receiver.poll():
                raise CompareError(f"reading {old.label} stopped (exit status {child.exitcode})")
        try:
            outcome, value = receiver.recv()
        except EOFError:  # the child ended without an answer (poll() is true at the end of the pipe too)
            child.join(10)
            raise CompareError(f"reading {old.label} stopped (exit status {child.exitcode})") from None
    except BaseException:
        cancel.set()
        raise
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join()
        receiver.close()
    if outcome == "cancelled":
        raise CompareCancelled()
    if outcome != "ok":
        raise CompareError(value)
    return value, loaded_new


def _input_bytes(side: Side) -> int:
    total = 0
    for path in side.paths:
        try:
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
        except OSError:
            pass  # reading it will say what is wrong
    return total


def _load_in_child(side: Side, folder: Path, convert: ConvertOptions, limits: IntakeLimits, cancel, sender) -> None:
    try:
        sender.send(("ok", load_side(side, folder, convert, limits, cancel.is_set, lambda *a: None)))
    except CompareCancelled:
        sender.send(("cancelled", None))
    except CompareError as exc:
        sender.send(("error", str(exc)))
    except Exception as exc:  # reported as the side's error; the parent has no traceback to show
        sender.send(("error", f"{side.label}: {type(exc).__name__}: {exc}"))
    finally:
        sender.close()


def read_summary(result_path: Path) -> CompareSummary:
    """The summary stored in a result workbook."""
    with sqlite3.connect(f"file:{result_path}?mode=ro", uri=True) as conn:
        (text,) = conn.execute("SELECT json FROM cmp_summary").fetchone()
    data = json.loads(text)
    return CompareSummary([TableDiff(**t) for t in data["details"]],
                          [DocumentDiff(**d) for d in data["documents"]], data["warnings"])


@dataclass
class _Column:
    name: str
    old: str | None  # "o.c3", or None where the side lacks the column
    new: str | None


@dataclass
class _Pair:
    old: SideTable | None
    new: SideTable | None

    @property
    def name(self) -> str:
        return (self.new or self.old).name


def pair_tables(old_tables: list[SideTable], new_tables: list[SideTable]) -> list[_Pair]:
    """Tables paired by name; when each side holds one group, by record path whatever the group
    names; two sides of one table each pair that table. The rest stand alone (added or removed)."""
    old = {t.name: t for t in old_tables}
    new = {t.name: t for t in new_tables}
    pairs = [_Pair(old.pop(name), new.pop(name)) for name in list(new) if name in old]
    if len({t.group for t in old_tables}) == 1 and len({t.group for t in new_tables}) == 1:
        by_path = {t.record_path: t for t in old.values() if t.record_path}
        for name, table in list(new.items()):
            match = by_path.pop(table.record_path, None) if table.record_path else None
            if match is not None:
                pairs.append(_Pair(old.pop(match.name), new.pop(name)))
    if len(old) == 1 and len(new) == 1 and not pairs:  # e.g. two single CSV files of other names
        pairs.append(_Pair(old.popitem()[1], new.popitem()[1]))
    pairs += [_Pair(t, None) for t in old.values()] + [_Pair(None, t) for t in new.values()]
    order = {t.name: i for i, t in enumerate(new_tables)}
    old_order = {t.name: i for i, t in enumerate(old_tables)}
    pairs.sort(key=lambda p: (order.get(p.new.name, len(order)) if p.new else len(order),
                              old_order.get(p.old.name, 0) if p.old else 0))
    return pairs


def propose_keys(
    old: Side,
    new: Side,
    scratch_dir: Path,
    options: CompareOptions = CompareOptions(),
    should_cancel: Callable[[], bool] = lambda: False,
    on_progress: Callable[[int, int, str], None] = lambda done, total, current: None,
) -> dict[str, list[tuple[str, ...]]]:
    """For each pair of tables (by the new table's name): the keys a person picks from, each one or
    more columns that both sides have: every column filled in every row and unique on both sides, in
    the new side's column order; where there is none, the first two such filled columns (of the first
    few) unique together. Sides to read or convert are read into ``scratch_dir`` (removed after)."""
    scratch = Path(tempfile.mkdtemp(prefix=".ret-keys-", dir=scratch_dir))
    try:
        loaded_old, loaded_new = _load_both(old, new, scratch, options, should_cancel, on_progress)
        conn = sqlite3.connect(":memory:", uri=True)
        try:
            conn.execute("ATTACH DATABASE ? AS old", (f"file:{loaded_old.path}?mode=ro",))
            conn.execute("ATTACH DATABASE ? AS new", (f"file:{loaded_new.path}?mode=ro",))
            conn.set_progress_handler(lambda: 1 if should_cancel() else 0, 20_000)
            proposed = {}
            for pair in pair_tables(loaded_old.tables, loaded_new.tables):
                if pair.old and pair.new:
                    on_progress(len(proposed), len(loaded_new.tables), f"looking for keys in {pair.name}")
                    shared = [c for c in pair.new.columns if c in pair.old.columns and c not in PROVENANCE
                              and c not in options.ignore_columns]
                    keys = [(c,) for c in shared if _is_key(conn, pair, (c,))]
                    if not keys:
                        filled = [c for c in shared if _is_filled(conn, "old", pair.old, c)
                                  and _is_filled(conn, "new", pair.new, c)][:_KEY_PAIR_COLUMNS]
                        keys = next(([(a, b)] for i, a in enumerate(filled) for b in filled[i + 1:]
                                     if _is_key(conn, pair, (a, b), filled=True)), [])
                    proposed[pair.new.name] = keys
            return proposed
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise CompareCancelled() from None
            raise
        finally:
            conn.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _is_key(conn: sqlite3.Connection, pair: _Pair, columns: tuple[str, ...], filled: bool = False) -> bool:
    """These columns unique together on both sides, and filled in every row (unless ``filled`` says so)."""
    return all(_is_unique(conn, schema, table, columns)
               and (filled or all(_is_filled(conn, schema, table, c) for c in columns))
               for schema, table in (("old", pair.old), ("new", pair.new)))


def _is_filled(conn: sqlite3.Connection, schema: str, table: SideTable, column: str) -> bool:
    c = f"c{table.columns.index(column) + 1}"
    return conn.execute(f"SELECT 1 FROM {schema}.{table.sql} WHERE COALESCE({c}, '') = '' LIMIT 1").fetchone() is None


def _is_unique(conn: sqlite3.Connection, schema: str, table: SideTable, columns: tuple[str, ...]) -> bool:
    """No two rows alike in these columns (a sample of the first rows first: most columns fail there)."""
    cs = ", ".join(f"c{table.columns.index(column) + 1}" for column in columns)
    source = f"{schema}.{table.sql}"
    sample = f"SELECT {cs} FROM {source} LIMIT 1000"
    rows, distinct = conn.execute(f"SELECT COUNT(*), (SELECT COUNT(*) FROM (SELECT DISTINCT * FROM ({sample}))) "
                                  f"FROM ({sample})").fetchone()
    if not rows or distinct != rows:
        return False
    return conn.execute(f"SELECT 1 FROM {source} GROUP BY {cs} HAVING COUNT(*) > 1 LIMIT 1").fetchone() is None


class _Diff:
    def __init__(self, path: Path, work: Path, old: LoadedSide, new: LoadedSide, options: CompareOptions,
                 should_cancel: Callable[[], bool], on_progress: Callable[[int, int, str], None]) -> None:
        self.old, self.new, self.options = old, new, options
        self.should_cancel, self.on_progress = should_cancel, on_progress
        Workbook(path, scratch=True).close()
        self.work = work
        self.conn = self._connect(path, should_cancel)
        self.conn.execute("CREATE TABLE cmp_cells (tbl INTEGER NOT NULL, row INTEGER NOT NULL, col INTEGER NOT NULL, "
                          "old TEXT, new TEXT, PRIMARY KEY (tbl, row, col)) WITHOUT ROWID")
        self.conn.execute("CREATE TABLE cmp_summary (json TEXT NOT NULL)")

    def _connect(self, path: Path, should_cancel: Callable[[], bool]) -> sqlite3.Connection:
        """A connection writing ``path``, with both sides and the work file attached."""
        conn = sqlite3.connect(path, isolation_level=None, uri=True)
        conn.execute("PRAGMA journal_mode=OFF")  # scratch: the result is renamed into place only when complete
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-2000")  # KiB: memory stays flat; the OS caches the files. It bounds
        # a sort's runs too, and small runs sort faster than one large one. Sorts stay on one thread: a
        # helper thread cost some 0.3 s more processor time at 1M x 20, which a loaded machine pays in full.
        conn.execute("ATTACH DATABASE ? AS old", (f"file:{self.old.path}?mode=ro",))
        conn.execute("ATTACH DATABASE ? AS new", (f"file:{self.new.path}?mode=ro",))
        conn.execute("ATTACH DATABASE ? AS work", (str(self.work),))
        for schema in ("old", "new", "work"):
            conn.execute(f"PRAGMA {schema}.cache_size=-8000")
        conn.execute("PRAGMA work.journal_mode=OFF")
        conn.execute("PRAGMA work.synchronous=OFF")
        conn.create_function("ret_fold", 1, lambda v: v.casefold() if isinstance(v, str) else v, deterministic=True)
        conn.set_progress_handler(lambda: 1 if should_cancel() else 0, 20_000)  # a cancel stops a long statement
        return conn

    def run(self) -> CompareSummary:
        try:
            self.conn.execute("BEGIN")
            pairs = pair_tables(self.old.tables, self.new.tables)
            if not any(p.old and p.new for p in pairs):
                raise CompareError(f"the two sides have no table in common ({self.old.label}: "
                                   f"{_names(self.old.tables)}; {self.new.label}: {_names(self.new.tables)})")
            self._check_keys(pairs)
            documents, old_to_new = self._pair_documents([p for p in pairs if p.old and p.new])
            tables = []
            for number, pair in enumerate(pairs):
                self.on_progress(number, len(pairs), f"comparing {pair.name}")
                if self.should_cancel():
                    raise CompareCancelled()
                tables.append(self._table(pair, old_to_new))
            self.on_progress(len(pairs), len(pairs), "comparing done")
            self._document_states(documents, [(p, t) for p, t in zip(pairs, tables) if t.diff_table])
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise CompareCancelled() from None
            raise
        finally:
            if self.conn.in_transaction:
                self.conn.set_progress_handler(None, 0)
                self.conn.execute("ROLLBACK")
            self.conn.execute("DETACH DATABASE work")
            self.conn.close()
        return CompareSummary(tables, documents)

    def _check_keys(self, pairs: list[_Pair]) -> None:
        """A key named for a table must be that table's on both sides; the default key must fit at
        least one of the tables it serves."""
        options = self.options
        for key in (options.key, *options.table_keys.values()):
            provenance = next((c for c in key if c in PROVENANCE), None)
            if provenance:
                raise CompareError(f"{provenance} says where a row comes from and cannot be a key: without a key, "
                                   f"rows are paired by document and record")
        for name, key in options.table_keys.items():
            pair = next((p for p in pairs if name in {t.name for t in (p.old, p.new) if t}), None)
            if pair is None:
                raise CompareError(f"no table {name} to key (the tables: {_names(self.new.tables)})")
            for side, table in (("old", pair.old), ("new", pair.new)):
                missing = [c for c in key if table is not None and c not in table.columns]
                if missing:
                    raise CompareError(f"table {name} has no column {missing[0]} on the {side} side")
        key = list(options.key)
        served = [p for p in pairs if p.old and p.new and self._keyed_table(p) is None]
        if key and served and not any(_has(p.old, key) and _has(p.new, key) for p in served):
            raise CompareError(f"no table in common has the key column{'s' if len(key) > 1 else ''} "
                               f"{', '.join(key)} on both sides")

    def _keyed_table(self, pair: _Pair) -> str | None:
        """The name under which ``table_keys`` gives this pair its own key, if it does."""
        return next((t.name for t in (pair.new, pair.old) if t and t.name in self.options.table_keys), None)

    def _key(self, pair: _Pair) -> list[str]:
        named = self._keyed_table(pair)
        if named is not None:
            return list(self.options.table_keys[named])
        key = self.options.key
        return list(key) if _has(pair.old, key) and _has(pair.new, key) else []

    # ------------------------------------------------------------------ tables and columns

    def _columns(self, pair: _Pair) -> tuple[list[_Column], list[str], list[str]]:
        """The columns of the diff table (new side's order, then the removed ones), added, removed.
        Cells are compared in the columns both sides have; a column one side lacks is added or
        removed, unless it is empty throughout and empty counts as absent."""
        ignored = set(self.options.ignore_columns) | set(PROVENANCE)
        old = {name: f"o.c{i + 1}" for i, name in enumerate(pair.old.columns) if name not in ignored}
        new = {name: f"n.c{i + 1}" for i, name in enumerate(pair.new.columns) if name not in ignored}
        added = [n for n in new if n not in old and not self._empty_throughout("new", pair.new, new[n])]
        removed = [n for n in old if n not in new and not self._empty_throughout("old", pair.old, old[n])]
        columns = [_Column(name, old.get(name), sql) for name, sql in new.items() if name in old or name in added]
        columns += [_Column(name, sql, None) for name, sql in old.items() if name in removed]
        return columns, added, removed

    def _empty_throughout(self, side: str, table: SideTable, column: str) -> bool:
        if not self.options.empty_equals_absent:
            return False
        alias = column.split(".")[0]
        return self.conn.execute(f"SELECT 1 FROM {side}.{table.sql} AS {alias} WHERE {column} <> '' LIMIT 1"
                                 ).fetchone() is None

    # ------------------------------------------------------------------ cell expressions

    def _norm(self, sql: str) -> str:
        if self.options.empty_equals_absent:
            sql = f"COALESCE({sql}, '')"
        if self.options.trim:
            sql = f"trim({sql}, {_sql_text(_WHITESPACE)})"
        if self.options.ignore_case:
            sql = f"ret_fold({sql})"
        return sql

    def _differs(self, column: _Column) -> str:
        return f"({column.old} IS NOT {column.new} AND {self._norm(column.old)} IS NOT {self._norm(column.new)})"

    def _row_text(self, columns: list[str]) -> str:
        """One text of a row's normalised values (what sequence alignment and similarity compare)."""
        return _balanced([self._norm(c) for c in columns], f" || {_SEPARATOR} || ") if columns else "''"

    # ------------------------------------------------------------------ one table

    def _table(self, pair: _Pair, old_to_new: dict[str, str]) -> TableDiff:
        if pair.new is None:
            return TableDiff(pair.old.name, "removed", [], rows_removed=pair.old.rows, old_name=pair.old.name,
                             columns_removed=[c for c in pair.old.columns if c not in PROVENANCE])
        if pair.old is None:
            return TableDiff(pair.new.name, "added", [], rows_added=pair.new.rows, new_name=pair.new.name,
                             columns_added=[c for c in pair.new.columns if c not in PROVENANCE])
        columns, added, removed = self._columns(pair)
        key = self._key(pair)
        conn = self.conn
        conn.execute("DROP TABLE IF EXISTS work.pairs")
        # note: the row's status where it is not plain (duplicate or empty key; changed, once its cells are known)
        conn.execute("CREATE TABLE work.pairs (ord INTEGER PRIMARY KEY, ro INTEGER, rn INTEGER, note TEXT)")
        if key:
            self._pair_rows_by_key(pair, key)
        else:
            self._pair_rows_by_sequence(pair, [c for c in columns if c.old and c.new], old_to_new)
        diff_sql = self._write_diff_table(pair, columns)
        counts = dict(conn.execute(f"SELECT c1, COUNT(*) FROM {diff_sql} GROUP BY c1").fetchall())
        table_id = int(diff_sql[1:])
        (cells,) = conn.execute("SELECT COUNT(*) FROM cmp_cells WHERE tbl = ?", (table_id,)).fetchone()
        duplicates = sum(n for status, n in counts.items() if "key" in status)
        diff = TableDiff(pair.new.name, "same", key, counts.get("added", 0), counts.get("removed", 0),
                         counts.get("changed", 0), cells, added, removed, duplicates, pair.old.name, pair.new.name,
                         pair.new.name, counts.get("same", 0))
        if diff.rows_added or diff.rows_removed or diff.rows_changed or added or removed or duplicates:
            diff.status = "changed"
        return diff

    def _pair_rows_by_key(self, pair: _Pair, key: list[str]) -> None:
        """Rows paired by key: the keys of both sides grouped in one sort into ``work.keys`` (per key:
        the smallest row id and the count on each side), read back twice. A key repeated or empty on
        either side leaves its rows on both sides unpaired, marked. Pairs and added rows in the new
        side's order, then the removed rows in the old side's."""
        conn = self.conn
        keys = {}
        for alias, table in (("o", pair.old), ("n", pair.new)):
            parts = [self._norm(f"{alias}.c{table.columns.index(k) + 1}") for k in key]
            if len(parts) == 1:
                keys[alias] = f"COALESCE({parts[0]}, '')"
            else:
                empty = " OR ".join(f"{p} IS NULL OR {p} = ''" for p in parts)
                keys[alias] = f"CASE WHEN {empty} THEN '' ELSE {f' || {_SEPARATOR} || '.join(parts)} END"
        conn.execute("DROP TABLE IF EXISTS work.keys")
        conn.execute("CREATE TABLE work.keys (k TEXT, ro INTEGER, old_rows INTEGER, rn INTEGER, new_rows INTEGER)")
        conn.execute(
            f"INSERT INTO work.keys SELECT k, MIN(ro), COUNT(ro), MIN(rn), COUNT(rn) FROM ("
            f"SELECT {keys['o']} AS k, o.rowid AS ro, NULL AS rn FROM old.{pair.old.sql} AS o UNION ALL "
            f"SELECT {keys['n']}, NULL, n.rowid FROM new.{pair.new.sql} AS n) GROUP BY k")
        conn.execute("INSERT INTO work.pairs (ro, rn) SELECT ro, rn FROM work.keys "
                     "WHERE new_rows = 1 AND old_rows <= 1 AND k <> '' ORDER BY rn")
        conn.execute("INSERT INTO work.pairs (ro, rn) SELECT ro, NULL FROM work.keys "
                     "WHERE old_rows = 1 AND new_rows = 0 AND k <> '' ORDER BY ro")
        conn.execute("DROP TABLE IF EXISTS work.unpaired")
        conn.execute("CREATE TABLE work.unpaired (k TEXT PRIMARY KEY) WITHOUT ROWID")
        conn.execute("INSERT INTO work.unpaired SELECT k FROM work.keys WHERE old_rows > 1 OR new_rows > 1 OR k = ''")
        if conn.execute("SELECT 1 FROM work.unpaired LIMIT 1").fetchone():
            for alias, side, table, target in (("o", "old", pair.old, "ro"), ("n", "new", pair.new, "rn")):
                conn.execute(
                    f"INSERT INTO work.pairs ({target}, note) SELECT {alias}.rowid, CASE WHEN {keys[alias]} = '' "
                    f"THEN 'empty key ({side})' ELSE 'duplicate key ({side})' END FROM {side}.{table.sql} AS {alias} "
                    f"WHERE {keys[alias]} IN (SELECT k FROM work.unpaired) ORDER BY {_order(alias, table)}")
        conn.execute("DROP TABLE work.keys")
        conn.execute("DROP TABLE work.unpaired")

    def _pair_rows_by_sequence(self, pair: _Pair, common: list[_Column], old_to_new: dict[str, str]) -> None:
        """Rows of paired documents aligned as sequences (difflib), then rows of the same content that
        moved within a document paired, then the rest of a replaced stretch paired in order."""
        conn = self.conn
        with_files = all(p in t.columns for t in (pair.old, pair.new) for p in PROVENANCE)
        for alias, side, table in (("o", "old", pair.old), ("n", "new", pair.new)):
            text = self._row_text([c.old if alias == "o" else c.new for c in common])
            if with_files:
                file_sql = f"{alias}.c{table.columns.index('_file') + 1}"
                record_sql = f"CAST({alias}.c{table.columns.index('_record') + 1} AS INTEGER)"
            else:
                file_sql, record_sql = "''", "0"
            conn.execute(f"DROP TABLE IF EXISTS work.h{alias}")
            conn.execute(f"CREATE TABLE work.h{alias} AS SELECT {file_sql} AS f, {record_sql} AS rec, "
                         f"{alias}.rowid AS r, {text} AS h FROM {side}.{table.sql} AS {alias} "
                         f"ORDER BY {_order(alias, table)}")
            conn.execute(f"CREATE INDEX work.h{alias}_f ON h{alias} (f, rec)")
            conn.execute(f"CREATE INDEX work.h{alias}_r ON h{alias} (r)")
        new_files = [f for (f,) in conn.execute("SELECT f FROM work.hn GROUP BY f ORDER BY MIN(rowid)")]
        old_files = [f for (f,) in conn.execute("SELECT f FROM work.ho GROUP BY f ORDER BY MIN(rowid)")]
        if not with_files:
            new_to_old = {"": ""}
        else:
            new_to_old = {n: o for o, n in old_to_new.items()}
        used_old = set()
        insert = "INSERT INTO work.pairs (ro, rn) VALUES (?, ?)"
        for new_file in new_files:
            old_file = new_to_old.get(new_file)
            used_old.add(old_file)
            if old_file is not None and max(self._count("ho", old_file), self._count("hn", new_file)) > _MAX_ALIGNED:
                self._pair_rows_by_content(old_file, new_file)
                continue
            old_rows = self._hashes("ho", old_file) if old_file is not None else []
            new_rows = self._hashes("hn", new_file)

            def cells(alias: str, indexes: list[int], rows={"o": old_rows, "n": new_rows}) -> list[list[str]]:
                ids = [rows[alias][i][0] for i in indexes]
                found = dict(conn.execute(f"SELECT r, h FROM work.h{alias} WHERE r IN ({','.join('?' * len(ids))})",
                                          ids).fetchall())
                return [(found[r] or "").split("\x1f") for r in ids]

            conn.executemany(insert, _align(old_rows, new_rows, cells))
        for old_file in old_files:
            if old_file not in used_old:
                conn.executemany(insert, [(r, None) for r, _h in self._hashes("ho", old_file)])
        conn.execute("DROP TABLE work.ho")
        conn.execute("DROP TABLE work.hn")

    def _count(self, table: str, file: str) -> int:
        return self.conn.execute(f"SELECT COUNT(*) FROM work.{table} WHERE f = ?", (file,)).fetchone()[0]

    def _pair_rows_by_content(self, old_file: str, new_file: str) -> None:
        """Rows of two long documents (or tables without ``_file``) paired when their contents are
        equal, repeats in order, in SQL (aligning them in memory would not stay small); the others
        are added or removed."""
        conn = self.conn
        for alias, file in (("o", old_file), ("n", new_file)):
            conn.execute(f"DROP TABLE IF EXISTS work.c{alias}")
            conn.execute(f"CREATE TABLE work.c{alias} AS SELECT r, h, rec, rowid AS seq, "
                         f"row_number() OVER (PARTITION BY h ORDER BY rec, rowid) AS k FROM work.h{alias} WHERE f = ?",
                         (file,))
        conn.execute("CREATE INDEX work.co_hk ON co (h, k)")
        conn.execute("INSERT INTO work.pairs (ro, rn) SELECT co.r, cn.r FROM work.cn AS cn "
                     "LEFT JOIN work.co AS co ON co.h = cn.h AND co.k = cn.k ORDER BY cn.rec, cn.seq")
        conn.execute("INSERT INTO work.pairs (ro, rn) SELECT r, NULL FROM work.co "
                     "WHERE r NOT IN (SELECT ro FROM work.pairs WHERE ro IS NOT NULL) ORDER BY rec, seq")
        conn.execute("DROP TABLE work.co")
        conn.execute("DROP TABLE work.cn")

    def _hashes(self, table: str, file: str) -> list[tuple[int, int]]:
        return [(r, hash(h)) for r, h in self.conn.execute(
            f"SELECT r, h FROM work.{table} WHERE f = ? ORDER BY rec, rowid", (file,))]

    def _write_cells(self, pair: _Pair, table_id: int, compared: list[tuple[int, _Column]]) -> None:
        """``cmp_cells``: every differing cell of the paired rows, read in one pass over the pairs
        (each side's row read once); a row is changed when it has a cell here."""
        if not compared:
            return
        conn = self.conn
        offset = len(STATUS_COLUMNS)
        conn.execute("DROP TABLE IF EXISTS work.positions")
        conn.execute("CREATE TABLE work.positions (pos INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO work.positions VALUES (?)", [(offset + i,) for i, _c in compared])

        def by_position(expressions: list[str]) -> str:
            return ("CASE j.pos " + " ".join(f"WHEN {offset + i} THEN {e}" for (i, _c), e in zip(compared, expressions))
                    + " END")

        differs = [self._differs(c) for _i, c in compared]

        def first_differing(columns: list[tuple[int, _Column]], expressions: list[str]) -> str:
            return "CASE " + " ".join(f"WHEN {e} THEN {offset + i}" for (i, _c), e in zip(columns, expressions)) + " END"

        # The OR is tried once a row (it stops at the first difference); for a changed row, only the
        # positions from its first differing column to its last.
        first, last_position = first_differing(compared, differs), first_differing(compared[::-1], differs[::-1])
        select = (f"SELECT {table_id}, p.ord, j.pos, {by_position([c.old for _i, c in compared])}, "
                  f"{by_position([c.new for _i, c in compared])} "
                  f"FROM work.pairs AS p CROSS JOIN new.{pair.new.sql} AS n ON n.rowid = p.rn "
                  f"CROSS JOIN old.{pair.old.sql} AS o ON o.rowid = p.ro CROSS JOIN work.positions AS j "
                  f"WHERE p.ord BETWEEN ? AND ? AND p.note IS NULL AND {_balanced(differs, ' OR ')} "
                  f"AND j.pos BETWEEN {first} AND {last_position} AND {by_position(differs)}")
        (last,) = conn.execute("SELECT COALESCE(MAX(ord), 0) FROM work.pairs").fetchone()
        if last < self.options.parallel_from_rows:
            conn.execute(f"INSERT INTO main.cmp_cells (tbl, row, col, old, new) {select}", (1, last))
        else:
            self._in_two_halves(select, last)
        conn.execute("DROP TABLE work.positions")
        # The pairs with a changed cell take that status (a seek per changed row, not one per pair).
        conn.execute("UPDATE work.pairs SET note = 'changed' WHERE ord IN (SELECT row FROM main.cmp_cells WHERE tbl = ?)",
                     (table_id,))

    def _in_two_halves(self, select: str, last: int) -> None:
        """The cells of pairs 1..``last``: the lower half on this connection, the upper half meanwhile
        on a second one in a thread of its own (SQLite runs without the interpreter's lock), into a
        file of its own, copied in after. Reading each row's partner at random is most of the time."""
        conn, half = self.conn, last // 2
        part = self.work.with_name("cells.sqlite")
        stop = threading.Event()
        failures: list[BaseException] = []

        def upper_half() -> None:
            try:
                helper = self._connect(part, lambda: stop.is_set() or self.should_cancel())
                try:
                    helper.execute("CREATE TABLE cells (tbl INTEGER, row INTEGER, col INTEGER, old TEXT, new TEXT)")
                    helper.execute(f"INSERT INTO main.cells {select}", (half + 1, last))
                finally:
                    helper.close()
            except BaseException as exc:  # raised on the comparing thread
                failures.append(exc)

        conn.execute("COMMIT")  # the second connection reads the pairs as committed
        helper = threading.Thread(target=upper_half, name="ret-compare-cells", daemon=True)
        helper.start()
        try:
            conn.execute("BEGIN")
            conn.execute(f"INSERT INTO main.cmp_cells (tbl, row, col, old, new) {select}", (1, half))
        except BaseException:
            stop.set()
            raise
        finally:
            helper.join()
        if failures:
            raise failures[0]
        conn.execute("COMMIT")  # a file is attached and detached outside a transaction
        conn.execute("ATTACH DATABASE ? AS cells", (str(part),))
        conn.execute("INSERT INTO main.cmp_cells SELECT * FROM cells.cells ORDER BY rowid")
        conn.execute("DETACH DATABASE cells")
        conn.execute("BEGIN")
        part.unlink()

    def _write_diff_table(self, pair: _Pair, columns: list[_Column]) -> str:
        conn = self.conn
        names = [*STATUS_COLUMNS, *(c.name for c in columns)]
        sql = create_table(conn, pair.new.name, pair.new.group, pair.new.record_path, pair.new.parent, names,
                           extra=", _old_row INTEGER, _new_row INTEGER")
        table_id = int(sql[1:])
        self._write_cells(pair, table_id, [(offset, c) for offset, c in enumerate(columns) if c.old and c.new])
        targets = ", ".join(f"c{i + 1}" for i in range(len(names)))

        def provenance(alias: str, table: SideTable) -> list[str]:
            return [f"{alias}.c{table.columns.index(n) + 1}" if n in table.columns else "NULL" for n in PROVENANCE]

        # Rows on the new side (paired, added, unpaired), then the old side's rows that have no partner.
        # The old side is read here only for the columns it alone has.
        status = "COALESCE(p.note, CASE WHEN p.ro IS NULL THEN 'added' ELSE 'same' END)"
        shown = [c.new or c.old for c in columns]
        read_old = (f"LEFT JOIN old.{pair.old.sql} AS o ON o.rowid = p.ro "
                    if any(c.new is None for c in columns) else "")
        conn.execute(
            f"INSERT INTO main.{sql} (rowid, {targets}, _old_row, _new_row) "
            f"SELECT p.ord, {status}, {', '.join(provenance('n', pair.new))}, {', '.join(shown) or 'NULL'}, p.ro, p.rn "
            f"FROM work.pairs AS p CROSS JOIN new.{pair.new.sql} AS n ON n.rowid = p.rn {read_old}"
            f"WHERE p.rn IS NOT NULL ORDER BY p.ord")
        shown = [c.old or "NULL" for c in columns]
        conn.execute(
            f"INSERT INTO main.{sql} (rowid, {targets}, _old_row, _new_row) "
            f"SELECT p.ord, COALESCE(p.note, 'removed'), {', '.join(provenance('o', pair.old))}, "
            f"{', '.join(shown) or 'NULL'}, p.ro, NULL "
            f"FROM work.pairs AS p JOIN old.{pair.old.sql} AS o ON o.rowid = p.ro WHERE p.rn IS NULL ORDER BY p.ord")
        return sql

    # ------------------------------------------------------------------ documents

    def _documents(self, side: LoadedSide, schema: str) -> list[str]:
        """Every ``_file`` of a side, in first-seen order."""
        seen: dict[str, None] = {}
        for table in side.tables:
            if "_file" in table.columns:
                column = f"c{table.columns.index('_file') + 1}"
                for (path,) in self.conn.execute(
                        f"SELECT {column} FROM {schema}.{table.sql} WHERE {column} IS NOT NULL "
                        f"GROUP BY {column} ORDER BY MIN(rowid)"):
                    seen.setdefault(path)
        return list(seen)

    def _pair_documents(self, pairs: list[_Pair]) -> tuple[list[DocumentDiff], dict[str, str]]:
        """Documents paired by path (under each side's top folder or archive), then by content."""
        old_docs, new_docs = self._documents(self.old, "old"), self._documents(self.new, "new")
        old_rel, new_rel = _relative(old_docs), _relative(new_docs)
        new_by_rel = {new_rel[d]: d for d in new_docs}
        old_to_new: dict[str, str] = {}
        for doc in old_docs:
            match = new_by_rel.pop(old_rel[doc], None)
            if match is not None:
                old_to_new[doc] = match
        loose_old = [d for d in old_docs if d not in old_to_new]
        loose_new = [d for d in new_docs if d in new_by_rel.values()]
        similarity: dict[str, float] = {}
        if loose_old and loose_new:
            for old_doc, new_doc, share in self._similar(pairs, loose_old, loose_new):
                old_to_new[old_doc] = new_doc
                similarity[old_doc] = share
        documents = []
        for doc in old_docs:
            if doc in similarity:
                documents.append(DocumentDiff(doc, "moved", old_to_new[doc], round(similarity[doc], 4)))
            elif doc in old_to_new:
                documents.append(DocumentDiff(doc, "same", old_to_new[doc], None))
            else:
                documents.append(DocumentDiff(doc, "removed", None, None))
        matched = set(old_to_new.values())
        documents += [DocumentDiff(d, "added", None, None) for d in new_docs if d not in matched]
        return documents, old_to_new

    def _similar(self, pairs: list[_Pair], loose_old: list[str], loose_new: list[str]) -> list[tuple[str, str, float]]:
        """Unpaired documents paired by content: first those of equal content (a hash of their
        (column, value) cells: a moved or renamed file, similarity 1.0), then by the share of cells
        they have in common, best first, at or above the threshold."""
        conn = self.conn
        for alias, side, loose in (("o", "old", loose_old), ("n", "new", loose_new)):
            conn.execute(f"DROP TABLE IF EXISTS work.loose_{alias}")
            conn.execute(f"CREATE TABLE work.loose_{alias} (doc TEXT PRIMARY KEY)")
            conn.executemany(f"INSERT INTO work.loose_{alias} VALUES (?)", [(d,) for d in loose])
            conn.execute(f"DROP TABLE IF EXISTS work.tok_{alias}")
            conn.execute(f"CREATE TABLE work.tok_{alias} (doc TEXT, tok TEXT)")
            for number, pair in enumerate(pairs):
                table = pair.old if alias == "o" else pair.new
                if "_file" not in table.columns:
                    continue
                file_sql = f"{alias}.c{table.columns.index('_file') + 1}"
                for column in self._columns(pair)[0]:
                    if not (column.old and column.new):
                        continue
                    value = self._norm(column.old if alias == "o" else column.new)
                    conn.execute(
                        f"INSERT INTO work.tok_{alias} SELECT {file_sql}, ? || {value} FROM {side}.{table.sql} "
                        f"AS {alias} WHERE {file_sql} IN (SELECT doc FROM work.loose_{alias}) AND {value} <> ''",
                        (f"{number}\x1f{column.name}\x1f",))
            conn.execute(f"DROP TABLE IF EXISTS work.count_{alias}")
            conn.execute(f"CREATE TABLE work.count_{alias} AS SELECT doc, tok, COUNT(*) AS c FROM work.tok_{alias} "
                         "GROUP BY doc, tok")
            conn.execute(f"DROP TABLE work.tok_{alias}")
        result = self._equal_content(loose_old, loose_new)
        if len(loose_old) * len(loose_new) <= _MAX_SIMILARITY_PAIRS:  # weighing every pair is quadratic
            result += self._alike(result)
        for name in ("loose_o", "loose_n", "count_o", "count_n"):
            conn.execute(f"DROP TABLE work.{name}")
        return result

    def _alike(self, equal: list[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
        """Pairs by the share of equal cells, best first, at or above the threshold (besides ``equal``)."""
        conn = self.conn
        conn.execute("CREATE INDEX work.count_n_tok ON count_n (tok)")
        totals = {doc: total for doc, total in conn.execute(
            "SELECT doc, SUM(c) FROM work.count_o GROUP BY doc UNION ALL SELECT doc, SUM(c) FROM work.count_n GROUP BY doc")}
        candidates = []
        for old_doc, new_doc, shared in conn.execute(
                "SELECT o.doc, n.doc, SUM(MIN(o.c, n.c)) FROM work.count_o AS o JOIN work.count_n AS n "
                "ON n.tok = o.tok GROUP BY o.doc, n.doc"):
            share = 2 * shared / ((totals.get(old_doc, 0) + totals.get(new_doc, 0)) or 1)
            if share >= self.options.similarity:
                candidates.append((-share, old_doc, new_doc))
        candidates.sort()
        taken_old, taken_new, result = {o for o, _n, _s in equal}, {n for _o, n, _s in equal}, []
        for negative, old_doc, new_doc in candidates:
            if old_doc not in taken_old and new_doc not in taken_new:
                taken_old.add(old_doc)
                taken_new.add(new_doc)
                result.append((old_doc, new_doc, -negative))
        return result

    def _equal_content(self, loose_old: list[str], loose_new: list[str]) -> list[tuple[str, str, float]]:
        """Pairs of unpaired documents whose cells are the same, one to one in path order."""
        hashes: dict[str, dict[str, str]] = {}
        for alias in ("o", "n"):
            digests: dict[str, str] = {}
            current, digest = None, None
            for doc, tok, count in self.conn.execute(f"SELECT doc, tok, c FROM work.count_{alias} ORDER BY doc, tok"):
                if doc != current:
                    if current is not None:
                        digests[current] = digest.hexdigest()
                    current, digest = doc, hashlib.sha256()
                digest.update(f"{tok}\x1e{count}\x1d".encode())
            if current is not None:
                digests[current] = digest.hexdigest()
            hashes[alias] = digests
        by_hash: dict[str, list[str]] = {}
        for doc in loose_new:
            if doc in hashes["n"]:
                by_hash.setdefault(hashes["n"][doc], []).append(doc)
        result = []
        for doc in loose_old:
            matches = by_hash.get(hashes["o"].get(doc, ""))
            if matches:
                result.append((doc, matches.pop(0), 1.0))
        return result

    def _document_states(self, documents: list[DocumentDiff], diffs: list[tuple[_Pair, TableDiff]]) -> None:
        """A document paired by path is changed when one of its rows, on either side, is not the same."""
        changed_old: set[str] = set()
        changed_new: set[str] = set()
        for pair, diff in diffs:
            diff_sql = self.conn.execute("SELECT 't' || id FROM wb_tables WHERE name = ?",
                                         (diff.diff_table,)).fetchone()[0]
            for alias, side, table, target, row in (("o", "old", pair.old, changed_old, "_old_row"),
                                                    ("n", "new", pair.new, changed_new, "_new_row")):
                if "_file" not in table.columns:
                    continue
                file_sql = f"{alias}.c{table.columns.index('_file') + 1}"
                target.update(f for (f,) in self.conn.execute(
                    f"SELECT DISTINCT {file_sql} FROM main.{diff_sql} AS d JOIN {side}.{table.sql} AS {alias} "
                    f"ON {alias}.rowid = d.{row} WHERE d.c1 <> 'same'"))
        for document in documents:
            if document.status == "same" and (document.path in changed_old or document.matched_path in changed_new):
                document.status = "changed"


def _align(old: list[tuple[int, int]], new: list[tuple[int, int]],
           cells: Callable[[str, list[int]], list[list[str]]]) -> list[tuple[int | None, int | None]]:
    """Pairs (old row id, new row id) of two row sequences given as (row id, content hash), in display
    order (an old row without a partner goes where it stood). Equal stretches pair first; then rows
    that moved within the sequence (same content); then, within each replaced stretch, the rows most
    alike (``cells(side, indexes)`` gives their values), in order."""
    matcher = difflib.SequenceMatcher(None, [h for _r, h in old], [h for _r, h in new], autojunk=False)
    paired_old: dict[int, int] = {}  # old index -> new index
    blocks = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            paired_old.update((i1 + k, j1 + k) for k in range(i2 - i1))
        else:
            blocks.append((i1, i2, j1, j2))
    loose_old: dict[int, list[int]] = {}  # content -> unpaired old indexes
    for i1, i2, _j1, _j2 in blocks:
        for i in range(i1, i2):
            loose_old.setdefault(old[i][1], []).append(i)
    paired_new = {j: i for i, j in paired_old.items()}
    for _i1, _i2, j1, j2 in blocks:
        for j in range(j1, j2):
            candidates = loose_old.get(new[j][1])
            if candidates:
                i = candidates.pop(0)
                paired_old[i], paired_new[j] = j, i
    for i1, i2, j1, j2 in blocks:
        free_old = [i for i in range(i1, i2) if i not in paired_old]
        free_new = [j for j in range(j1, j2) if j not in paired_new]
        if free_old and free_new:
            for i, j in _most_alike(free_old, free_new, cells):
                paired_old[i], paired_new[j] = j, i
    entries = []
    anchor = {}  # an unpaired old row stands before the new rows of its stretch
    for i1, i2, j1, _j2 in blocks:
        for i in range(i1, i2):
            anchor[i] = j1
    for i in range(len(old)):
        if i not in paired_old:
            entries.append(((anchor.get(i, len(new)), 0, i), (old[i][0], None)))
    for j in range(len(new)):
        i = paired_new.get(j)
        entries.append(((j, 1, 0), (old[i][0] if i is not None else None, new[j][0])))
    entries.sort(key=lambda e: e[0])
    return [e[1] for e in entries]


def _most_alike(free_old: list[int], free_new: list[int],
                cells: Callable[[str, list[int]], list[list[str]]]) -> list[tuple[int, int]]:
    """Order-keeping pairs of old and new rows with the most equal cells in all (at least half of a
    row's cells equal); an alignment by dynamic programming, for stretches up to _MAX_STRETCH rows,
    else in order."""
    if len(free_old) > _MAX_STRETCH or len(free_new) > _MAX_STRETCH:
        return list(zip(free_old, free_new))
    old_cells, new_cells = cells("o", free_old), cells("n", free_new)

    def alike(a: list[str], b: list[str]) -> int:
        same = sum(x == y for x, y in zip(a, b))
        return same if 2 * same >= max(len(a), len(b), 1) else 0

    rows, cols = len(free_old), len(free_new)
    best = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(rows - 1, -1, -1):
        for j in range(cols - 1, -1, -1):
            score = alike(old_cells[i], new_cells[j])
            best[i][j] = max(best[i + 1][j], best[i][j + 1], best[i + 1][j + 1] + score if score else 0)
    pairs, i, j = [], 0, 0
    while i < rows and j < cols:
        score = alike(old_cells[i], new_cells[j])
        if score and best[i][j] == best[i + 1][j + 1] + score:
            pairs.append((free_old[i], free_new[j]))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def _relative(documents: list[str]) -> dict[str, str]:
    """Each document's path below the side's top folder or archive, when every path starts with it."""
    heads = {d.split("/", 1)[0] for d in documents}
    if len(heads) == 1 and all("/" in d for d in documents):
        return {d: d.split("/", 1)[1] for d in documents}
    return {d: d for d in documents}


def _order(alias: str, table: SideTable) -> str:
    return ", ".join(f"{alias}.{part.strip()}" for part in table.order.split(","))


def _has(table: SideTable, columns) -> bool:
    return all(c in table.columns for c in columns)


def _names(tables: list[SideTable]) -> str:
    return ", ".join(t.name for t in tables) or "no tables"


def _balanced(parts: list[str], operator: str) -> str:
    """``parts`` joined by ``operator`` as a balanced tree: SQLite bounds an expression's depth."""
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    return f"({_balanced(parts[:middle], operator)}{operator}{_balanced(parts[middle:], operator)})"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
