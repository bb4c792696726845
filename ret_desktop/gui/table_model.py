"""A table of the workbook as a Qt model that reads pages on demand, so a million rows open at once.

Sorting and filtering a large table take seconds in SQLite, so they run on a worker thread with
a connection of their own; the view keeps showing the previous order until the new one is ready.
"""

from __future__ import annotations

from pathlib import Path

from cachetools import LRUCache
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QThread, Signal

from ret_desktop.core.workbook import Workbook

PAGE_ROWS = 200

Index = QModelIndex | QPersistentModelIndex


class _RowOrderQuery(QThread):
    """The stored row ids of a table in view order, worked out on its own connection."""

    answered = Signal(int, object, str)  # generation, ids (or None), error

    def __init__(self, path: Path, table: str, generation: int, column: int | None, descending: bool,
                 contains: str) -> None:
        super().__init__()
        self.args = (path, table, column, descending, contains)
        self.generation = generation

    def run(self) -> None:
        path, table, column, descending, contains = self.args
        try:
            with Workbook(path) as workbook:
                ids = workbook.row_ids(table, column, descending, contains)
        except Exception as exc:  # shown in the status bar; the view keeps its current rows
            self.answered.emit(self.generation, None, f"{type(exc).__name__}: {exc}")
        else:
            self.answered.emit(self.generation, ids, "")


class WorkbookTableModel(QAbstractTableModel):
    busy_changed = Signal(bool)  # a sort or filter is being worked out
    rows_reordered = Signal()  # the rows now follow the latest sort and filter
    query_failed = Signal(str)

    def __init__(self, workbook: Workbook, table: str, parent=None) -> None:
        super().__init__(parent)
        self.workbook = workbook
        self.table = table
        self._columns = workbook.columns(table)
        self._sort: tuple[int | None, bool] = (None, False)
        self._contains = ""
        self._ids = workbook.row_ids(table)
        self._pages: LRUCache[int, list[tuple]] = LRUCache(maxsize=64)
        self._generation = 0
        self._queries: dict[int, _RowOrderQuery] = {}  # by generation

    # -- the view's questions
    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self._columns[section] if 0 <= section < len(self._columns) else None
        return str(section + 1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        row = self._row(index.row())
        if row is None:
            return None
        value = row[index.column()] if index.column() < len(row) else None
        return "" if value is None else value

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
        return bool(self._queries)

    def set_filter(self, text: str) -> None:
        """Show only rows with a cell that contains ``text`` (ignoring case); empty shows all."""
        self._contains = text.strip()
        self._reorder()

    def row_id(self, row: int) -> int:
        """The stored id of the row shown at ``row``: sorting or filtering never loses track of it."""
        return self._ids[row]

    def wait(self) -> None:
        """Block until running sort or filter queries end (before the workbook goes away)."""
        for query in list(self._queries.values()):
            query.wait()

    def _reorder(self) -> None:
        self._generation += 1
        column, descending = self._sort
        query = _RowOrderQuery(self.workbook.path, self.table, self._generation, column, descending, self._contains)
        query.answered.connect(self._answered)
        self._queries[self._generation] = query
        if len(self._queries) == 1:
            self.busy_changed.emit(True)
        query.start()

    def _answered(self, generation: int, ids, error: str) -> None:
        query = self._queries.pop(generation)
        query.wait()  # run() has emitted its last signal: this returns at once
        query.deleteLater()
        if not self._queries:
            self.busy_changed.emit(False)
        if generation != self._generation:
            return  # a later sort or filter has been asked for since
        if ids is None:
            self.query_failed.emit(error)
            return
        self.beginResetModel()
        self._ids = ids
        self._pages.clear()
        self.endResetModel()
        self.rows_reordered.emit()

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
