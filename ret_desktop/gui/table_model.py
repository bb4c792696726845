"""A table of the workbook as a Qt model that reads pages on demand, so a million rows open at once.

Sorting and filtering a large table take seconds in SQLite, so they run on a worker thread with
a connection of their own; the view keeps showing the previous order until the new one is ready.
"""

from __future__ import annotations

import sqlite3
from array import array
from pathlib import Path
from typing import Callable

from cachetools import LRUCache
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, QThread, Signal
from PySide6.QtGui import QGuiApplication, QPalette

from ret_desktop.core.workbook import Workbook, WorkbookError
from ret_desktop.gui.messages import workbook_error

PAGE_ROWS = 200
EDITED_ALPHA = 45  # edited cells: the palette's highlight, faint


def column_title(name: str) -> tuple[str, str]:
    """A column's leaf name and the path above it: ``("surname", "contributors/person_name[2]")``;
    ``("_file", "")`` for a name without steps."""
    parent, slash, leaf = name.rstrip("/").rpartition("/")
    return (leaf, parent or slash) if leaf else (name, "")

Index = QModelIndex | QPersistentModelIndex
_NOT_EDITED = object()


class _WorkbookQuery(QThread):
    """One read of the workbook on a thread and a connection of its own; answers once."""

    answered = Signal(int, object, str)  # generation, result (None on error), error

    def __init__(self, path: Path, generation: int, read: Callable[[Workbook], object]) -> None:
        super().__init__()
        self.path = path
        self.generation = generation
        self.read = read

    def run(self) -> None:
        try:
            with Workbook(self.path) as workbook:
                result = self.read(workbook)
        except Exception as exc:  # reported; what is shown stays
            self.answered.emit(self.generation, None, f"{type(exc).__name__}: {exc}")
        else:
            self.answered.emit(self.generation, result, "")


class LatestRead(QObject):
    """Reads of the workbook that may take seconds (a sort, a filter, a profile), each on a thread;
    only the answer to the latest request counts."""

    answered = Signal(object)  # the latest request's result
    failed = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._generation = 0
        self._queries: dict[int, _WorkbookQuery] = {}  # by generation

    @property
    def busy(self) -> bool:
        return bool(self._queries)

    def ask(self, path: Path, read: Callable[[Workbook], object]) -> None:
        self._generation += 1
        query = _WorkbookQuery(path, self._generation, read)
        query.answered.connect(self._answered)
        self._queries[self._generation] = query
        if len(self._queries) == 1:
            self.busy_changed.emit(True)
        query.start()

    def forget(self) -> None:
        """Drop the answers to what was asked so far."""
        self._generation += 1

    def wait(self) -> None:
        """Block until running reads end (before the workbook goes away)."""
        for query in list(self._queries.values()):
            query.wait()

    def _answered(self, generation: int, result, error: str) -> None:
        query = self._queries.pop(generation)
        query.wait()  # run() has emitted its last signal: this returns at once
        query.deleteLater()
        if not self._queries:
            self.busy_changed.emit(False)
        if generation != self._generation:
            return  # a later request has been made since
        if result is None:
            self.failed.emit(error)
        else:
            self.answered.emit(result)


class WorkbookTableModel(QAbstractTableModel):
    busy_changed = Signal(bool)  # a sort or filter is being worked out
    rows_reordered = Signal()  # the rows now follow the latest sort and filter
    query_failed = Signal(str)
    edited = Signal(str, object)  # table, stored row ids changed (None: the columns changed)
    edit_failed = Signal(str)

    def __init__(self, workbook: Workbook, table: str, parent=None, edits_since: float = 0.0) -> None:
        """``edits_since``: cells edited after this time (the table's last export) are marked."""
        super().__init__(parent)
        self.workbook = workbook
        self.table = table
        self._columns = workbook.columns(table)
        self._edits_since = edits_since
        self._originals: dict[tuple[int, str], str | None] = {}  # (row id, column) -> value before the edits
        self._read_originals()
        self._sort: tuple[int | None, bool] = (None, False)
        self._contains = ""
        self._equals: tuple[int, str] | None = None
        self._ids = workbook.row_ids(table)
        self._pages: LRUCache[int, list[tuple]] = LRUCache(maxsize=64)
        self._reads = LatestRead(self)
        self._reads.answered.connect(self._reordered)
        self._reads.failed.connect(self.query_failed)
        self._reads.busy_changed.connect(self.busy_changed)

    # -- the view's questions
    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        """A column's header is its leaf name over the path above it (the whole name in the tooltip)."""
        if orientation == Qt.Orientation.Vertical:
            return str(section + 1) if role == Qt.ItemDataRole.DisplayRole else None
        if not 0 <= section < len(self._columns) or role not in (Qt.ItemDataRole.DisplayRole,
                                                                 Qt.ItemDataRole.ToolTipRole):
            return None
        name = self._columns[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return name
        leaf, above = column_title(name)
        return f"{leaf}\n{above}" if above else leaf

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        return flags | Qt.ItemFlag.ItemIsEditable if index.isValid() else flags

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.BackgroundRole:  # edited since the last export
            if self.original_value(index.row(), index.column()) is None:
                return None
            colour = QGuiApplication.palette().color(QPalette.ColorRole.Highlight)
            colour.setAlpha(EDITED_ALPHA)
            return colour
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.EditRole):
            return None
        row = self._row(index.row())
        if row is None:
            return None
        value = row[index.column()] if index.column() < len(row) else None
        value = "" if value is None else value
        if role == Qt.ItemDataRole.ToolTipRole:
            original = self.original_value(index.row(), index.column())
            if original is not None:
                return f"{value}\n\nEdited, not exported yet. Before: {f'“{original}”' if original else '(empty)'}"
        return value

    def setData(self, index: Index, value, role: int = Qt.ItemDataRole.EditRole) -> bool:
        """An edit like a typed one: stored, journaled and undoable before the view shows it."""
        if not index.isValid() or role != Qt.ItemDataRole.EditRole:
            return False
        return self.set_values([(index.row(), index.column(), value)])

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort = (column if 0 <= column < len(self._columns) else None,
                      order == Qt.SortOrder.DescendingOrder)
        self._reorder()

    # -- ours
    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    @property
    def busy(self) -> bool:
        return self._reads.busy

    @property
    def filtered(self) -> bool:
        return bool(self._contains) or self._equals is not None

    def set_filter(self, text: str) -> None:
        """Show only rows with a cell that contains ``text`` (ignoring case), or, for ``column = value``
        with one of the table's column names, rows whose column holds exactly ``value``; empty shows all."""
        text = text.strip()
        column, equal_sign, value = text.partition("=")
        if equal_sign and column.strip() in self._columns:
            self._contains, self._equals = "", (self._columns.index(column.strip()), value.strip())
        else:
            self._contains, self._equals = text, None
        self._reorder()

    def original_value(self, row: int, column: int) -> str | None:
        """The value the cell at view ``row``, ``column`` had before its edits since the last export
        ('' for a cell that was empty); None when it was not edited since."""
        if not self._originals or not 0 <= row < len(self._ids) or not 0 <= column < len(self._columns):
            return None
        original = self._originals.get((self._ids[row], self._columns[column]), _NOT_EDITED)
        return None if original is _NOT_EDITED else (original or "")

    def edits_exported(self, since: float) -> None:
        """The table was exported (its export began at ``since``): its edits until then are no longer marked."""
        self._edits_since = since
        self._read_originals()
        if self._ids and self._columns:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._ids) - 1, len(self._columns) - 1),
                                  [Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ToolTipRole])

    def _read_originals(self) -> None:
        """The cells edited since the last export, with their values before, from the journal."""
        self._originals = self.workbook.cell_originals(self.table, self._edits_since)

    def view_row(self, row_id: int) -> int | None:
        """Where the stored row ``row_id`` is shown; None when the filter hides it."""
        try:
            return self._ids.index(row_id)
        except ValueError:
            return None

    def row_id(self, row: int) -> int:
        """The stored id of the row shown at ``row``: sorting or filtering never loses track of it."""
        return self._ids[row]

    # -- editing: each call is one step of the workbook's journal
    def set_values(self, cells: list[tuple[int, int, object]]) -> bool:
        """Set cells ``(view row, column, value)`` (None clears) as one step."""
        if not cells:
            return True
        changes = [(self._ids[row], column, None if value is None else str(value)) for row, column, value in cells]
        before = [self._cell(row, column) for row, column, _ in cells]
        if not self._store(lambda: self.workbook.set_cells(self.table, changes)):
            return False
        self._note_originals(changes, before)
        for (row, _, _), (_, column, value) in zip(cells, changes):  # the cached rows as stored now
            page = self._pages.get(row // PAGE_ROWS)
            if page is not None and page[row % PAGE_ROWS] is not None:
                cached = list(page[row % PAGE_ROWS])
                cached[column] = value
                page[row % PAGE_ROWS] = tuple(cached)
        rows = [row for row, _, _ in cells]
        columns = [column for _, column, _ in cells]
        self.dataChanged.emit(self.index(min(rows), min(columns)), self.index(max(rows), max(columns)))
        self.edited.emit(self.table, [row_id for row_id, _, _ in changes])
        return True

    def paste(self, top: int, left: int, grid: list[list[str]]) -> int:
        """``grid`` into the cells from (``top``, ``left``) on, as one step; rows past the end are
        added, columns past the last are left out. Returns how many cells were set."""
        added: list[int] = []
        changes: list[tuple[int, int, str]] = []
        before = [self._cell(top + r, left + c) for r, line in enumerate(grid)  # None in rows yet to be added
                  for c in range(len(line)) if left + c < len(self._columns)]

        def change() -> None:
            with self.workbook.one_step():
                missing = top + len(grid) - len(self._ids)
                if missing > 0:
                    added.extend(self.workbook.insert_rows(self.table, missing))
                ids = list(self._ids[top:top + len(grid)]) + added
                changes.extend((ids[r], left + c, value) for r, line in enumerate(grid)
                               for c, value in enumerate(line) if left + c < len(self._columns))
                self.workbook.set_cells(self.table, changes)

        if not grid or not self._store(change):
            return 0
        if added:
            self.beginInsertRows(QModelIndex(), len(self._ids), len(self._ids) + len(added) - 1)
            self._ids = self._editable_ids()
            self._ids.extend(added)
            self.endInsertRows()
        self._pages.clear()
        self._note_originals(changes, before)
        self.dataChanged.emit(self.index(top, left), self.index(top + len(grid) - 1, len(self._columns) - 1))
        self.edited.emit(self.table, sorted({row_id for row_id, _, _ in changes}))
        return len(changes)

    def _note_originals(self, changes: list[tuple[int, int, str | None]], before: list[str | None]) -> None:
        """Mark the cells of ``changes`` (row id, column, value) just stored over ``before`` as edited,
        as the journal has them, without reading it again (it grows with every edit)."""
        for (row_id, column, value), old in zip(changes, before):
            if (old or None) != (value or None):  # as the journal: an unchanged cell is no edit
                self._originals.setdefault((row_id, self._columns[column]), old)

    def insert_rows(self, view_row: int | None, count: int = 1) -> int | None:
        """``count`` empty rows below ``view_row`` (None: at the end); returns the first one's view row."""
        after = self._ids[view_row] if view_row is not None and 0 <= view_row < len(self._ids) else None
        ids: list[int] = []
        if not self._store(lambda: ids.extend(self.workbook.insert_rows(self.table, count, after))):
            return None
        at = len(self._ids) if after is None else view_row + 1
        self.beginInsertRows(QModelIndex(), at, at + count - 1)
        self._ids = self._editable_ids()
        self._ids[at:at] = array("q", ids)
        self._pages.clear()
        self.endInsertRows()
        self.edited.emit(self.table, ids)
        return at

    def delete_rows(self, view_rows: list[int]) -> bool:
        rows = sorted(set(view_rows))
        ids = [self._ids[r] for r in rows]
        if not rows or not self._store(lambda: self.workbook.delete_rows(self.table, ids)):
            return False
        self._ids = self._editable_ids()
        for row in reversed(rows):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._ids[row]
            self.endRemoveRows()
        self._pages.clear()
        self.edited.emit(self.table, ids)
        return True

    def change_columns(self, change) -> bool:
        """Run ``change()`` (add, rename or delete a column of this table) and show the new columns."""
        if not self._store(change):
            return False
        self.beginResetModel()
        self._columns = self.workbook.columns(self.table)
        self._pages.clear()
        self._read_originals()
        self.endResetModel()
        self.edited.emit(self.table, None)
        return True

    def reload(self) -> None:
        """After an undo or redo: read columns and rows again (the sort and filter stay)."""
        self.beginResetModel()
        self._columns = self.workbook.columns(self.table)
        self._pages.clear()
        self._read_originals()
        self.endResetModel()
        self._reorder()

    def _editable_ids(self) -> array:
        """The row order, ready to change; a sort or filter under way would miss the change, so it
        is asked for again."""
        if self._reads.busy:
            self._reorder()
        return self._ids if isinstance(self._ids, array) else array("q", self._ids)

    def _store(self, change) -> bool:
        try:
            change()
        except (WorkbookError, sqlite3.Error) as error:
            self.edit_failed.emit(workbook_error(error))
            return False
        return True

    def wait(self) -> None:
        """Block until running sort or filter queries end (before the workbook goes away)."""
        self._reads.wait()

    def _reorder(self) -> None:
        column, descending = self._sort
        contains, equals, table = self._contains, self._equals, self.table
        self._reads.ask(self.workbook.path,
                        lambda workbook: workbook.row_ids(table, column, descending, contains, equals))

    def _reordered(self, ids) -> None:
        self.beginResetModel()
        self._ids = ids
        self._pages.clear()
        self.endResetModel()
        self.rows_reordered.emit()

    def _cell(self, row: int, column: int) -> str | None:
        values = self._row(row)
        return values[column] if values is not None and column < len(values) else None

    def _row(self, row: int) -> tuple | None:
        if not 0 <= row < len(self._ids):
            return None
        page_number, offset = divmod(row, PAGE_ROWS)
        page = self._pages.get(page_number)
        if page is None:
            ids = list(self._ids[page_number * PAGE_ROWS:(page_number + 1) * PAGE_ROWS])
            by_id = self.workbook.rows_for_ids(self.table, ids)
            page = self._pages[page_number] = [by_id.get(i) for i in ids]
        return page[offset] if offset < len(page) else None
