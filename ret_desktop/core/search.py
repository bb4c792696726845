"""Full-text search across the tables of a session: SQLite FTS5 in ``<session>/ai_index/search.sqlite``.

One document per table row (its values, one per line), so a million rows stay a million documents;
the column that matched is found when the hits are shown, from the rows themselves.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ret_desktop.core.workbook import Workbook, WorkbookError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    doc INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    UNIQUE (tbl, row_id)
);
CREATE VIRTUAL TABLE IF NOT EXISTS cells USING fts5(text, tokenize = 'unicode61 remove_diacritics 2');
"""
_WORD = re.compile(r"\w+")


def _fold(text: str) -> str:
    """Text as the index compares it: case and accents ignored."""
    if text.isascii():
        return text.lower()
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


class SearchCancelled(Exception):
    pass


@dataclass(frozen=True)
class Hit:
    table: str
    row_id: int
    column: str
    text: str


class SearchIndex:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def index_tables(self, workbook: Workbook, tables: Iterable[str],
                     should_cancel: Callable[[], bool] = lambda: False,
                     on_progress: Callable[[int, int, str], None] = lambda done, total, current: None) -> int:
        """(Re)index every row of ``tables``; returns how many rows. Commits table by table;
        ``on_progress`` counts rows."""
        tables = list(tables)
        total = sum(workbook.info(table).rows for table in tables)
        done = 0
        for table in tables:
            on_progress(done, total, table)
            with self._transaction():
                self._forget_table(table)
                for batch in workbook.iter_rows(table):
                    if should_cancel():
                        raise SearchCancelled()
                    self._add(table, batch)
                    done += len(batch)
                    on_progress(done, total, table)
        return done

    def update_rows(self, workbook: Workbook, table: str, row_ids: Iterable[int]) -> None:
        """Follow an edit: the rows' documents as the rows are now (gone when the row is gone)."""
        ids = sorted(set(row_ids))
        with self._transaction():
            self._forget_rows(table, ids)
            try:
                rows = workbook.rows_for_ids(table, ids) if ids else {}
            except WorkbookError:  # the table is gone (an undone new table)
                rows = {}
            self._add(table, [(row_id, *values) for row_id, values in rows.items()])

    def forget_table(self, table: str) -> None:
        with self._transaction():
            self._forget_table(table)

    def search(self, workbook: Workbook, query: str, limit: int = 200, max_cells: int = 1000) -> list[Hit]:
        """Cells holding a word of ``query`` in rows holding every word (each word as a prefix,
        ignoring case and accents): at most ``limit`` rows' and ``max_cells`` cells' worth, in table
        and row order."""
        words = _WORD.findall(query)
        if not words:
            return []
        quoted = ['"' + word.replace('"', '""') + '"' for word in words]
        # Whole words first: their lists are read lazily, so a word in every row still answers at
        # once; prefixes (which FTS5 merges in full) only fill up what is left.
        found: dict[tuple[str, int], None] = {}  # in the order found, once each
        for match in (" ".join(quoted), " ".join(q + "*" for q in quoted)):
            found.update(dict.fromkeys(self._conn.execute(
                "SELECT tbl, row_id FROM docs WHERE doc IN (SELECT rowid FROM cells WHERE cells MATCH ? LIMIT ?)",
                (match, limit))))
            if len(found) >= limit:
                break
        by_table: dict[str, list[int]] = {}
        for table, row_id in list(found)[:limit]:
            by_table.setdefault(table, []).append(row_id)
        folded = [_fold(w) for w in words]
        hits: list[Hit] = []
        order = {name: n for n, name in enumerate(workbook.table_names())}
        for table, ids in sorted(by_table.items(), key=lambda item: order.get(item[0], len(order))):
            try:
                columns = workbook.columns(table)
                rows = workbook.rows_for_ids(table, ids)
            except WorkbookError:
                continue
            for row_id in sorted(rows):
                for column, value in zip(columns, rows[row_id]):
                    if value and any(w in _fold(value) for w in folded):
                        hits.append(Hit(table, row_id, column, value))
                        if len(hits) >= max_cells:
                            return hits
        return hits

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _add(self, table: str, rows: list[tuple]) -> None:
        (first,) = self._conn.execute("SELECT COALESCE(MAX(doc), 0) + 1 FROM docs").fetchone()
        self._conn.executemany("INSERT INTO docs (doc, tbl, row_id) VALUES (?, ?, ?)",
                               [(first + i, table, row[0]) for i, row in enumerate(rows)])
        self._conn.executemany("INSERT INTO cells (rowid, text) VALUES (?, ?)",
                               [(first + i, "\n".join(v for v in row[1:] if v)) for i, row in enumerate(rows)])

    def _forget_rows(self, table: str, row_ids: list[int]) -> None:
        for row_id in row_ids:
            found = self._conn.execute("SELECT doc FROM docs WHERE tbl = ? AND row_id = ?", (table, row_id)).fetchone()
            if found:
                self._conn.execute("DELETE FROM cells WHERE rowid = ?", found)
                self._conn.execute("DELETE FROM docs WHERE doc = ?", found)

    def _forget_table(self, table: str) -> None:
        self._conn.execute("DELETE FROM cells WHERE rowid IN (SELECT doc FROM docs WHERE tbl = ?)", (table,))
        self._conn.execute("DELETE FROM docs WHERE tbl = ?", (table,))
