"""A table of the workbook as a Qt model that reads pages on demand, so a million rows open at once."""

from __future__ import annotations

from cachetools import LRUCache
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from ret_desktop.core.workbook import Workbook

PAGE_ROWS = 200

Index = QModelIndex | QPersistentModelIndex


class WorkbookTableModel(QAbstractTableModel):
    def __init__(self, workbook: Workbook, table: str, parent=None) -> None:
        super().__init__(parent)
        self.workbook = workbook
        self.table = table
        self._columns = workbook.info(table).columns
        self._sort: tuple[int | None, bool] = (None, False)
        self._contains = ""
        self._ids = workbook.row_ids(table)
        self._pages: LRUCache[int, list[tuple]] = LRUCache(maxsize=64)

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
        self._reload()

    # -- ours
    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def set_filter(self, text: str) -> None:
        """Show only rows with a cell that contains ``text`` (ignoring case); empty shows all."""
        self._contains = text.strip()
        self._reload()

    def row_id(self, row: int) -> int:
        """The stored id of the row shown at ``row``: sorting or filtering never loses track of it."""
        return self._ids[row]

    def _reload(self) -> None:
        self.beginResetModel()
        column, descending = self._sort
        self._ids = self.workbook.row_ids(self.table, column, descending, self._contains)
        self._pages.clear()
        self.endResetModel()

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
