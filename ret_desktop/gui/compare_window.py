"""The result of a comparison (``compareView``, read-only): a summary per table with a bar of its rows
by state, and the diff table of the table picked there, paged from the result workbook like any table.
A changed cell shows "old → new", highlighted; "changed rows only", next / previous change (F8 /
Shift+F8) and the filter row work on it; Export report writes the reports as an op."""

from __future__ import annotations

from pathlib import Path

from cachetools import LRUCache
from PySide6.QtCore import QModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ret_desktop.core.compare import REPORT_FORMATS, CompareSummary, DiffReader, TableDiff
from ret_desktop.core.text import counted
from ret_desktop.core.workbook import Workbook
from ret_desktop.gui.actions import make_action
from ret_desktop.gui.messages import MessageLabel, plain_error
from ret_desktop.gui.ops import CompareReportOp
from ret_desktop.gui.session import SessionController
from ret_desktop.gui.table_model import PAGE_ROWS, WorkbookTableModel
from ret_desktop.gui.table_view import ColumnHeader

CHANGED_ALPHA = 110  # changed cells: the palette's highlight, half strong
ADDED_ALPHA = 40  # added rows: the highlight, faint
ROW_STATES = ("changed", "added", "removed", "same")

def bar_colour(palette: QPalette, state: str) -> QColor:
    """A row state's colour in the summary bar, from the palette, as the diff table marks rows: changed
    in the highlight, added in a light highlight, removed in the dark grey, same in midlight."""
    if state == "changed":
        return palette.color(QPalette.ColorRole.Highlight)
    if state == "added":
        return palette.color(QPalette.ColorRole.Highlight).lighter(160)
    if state == "removed":
        return palette.color(QPalette.ColorRole.Dark)
    return palette.color(QPalette.ColorRole.Midlight)

_SHARES = Qt.ItemDataRole.UserRole  # the summary bar's counts per state


def _shown(value: str | None) -> str:
    return "" if value is None else value


class DiffTableModel(WorkbookTableModel):
    """A diff table of the result workbook, read-only: changed cells carry both values."""

    def __init__(self, workbook: Workbook, table: str, reader: DiffReader, parent=None) -> None:
        self.reader = reader
        self.changed_only = False
        self._changed_ids = frozenset(reader.changed_row_ids(table))  # rows that are not the same
        self._cells: LRUCache[int, dict[int, tuple[str | None, str | None]]] = LRUCache(maxsize=64 * PAGE_ROWS)
        super().__init__(workbook, table, parent)

    def flags(self, index) -> Qt.ItemFlag:
        return Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled if index.isValid() else Qt.ItemFlag.NoItemFlags

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        return False

    def changed_cell(self, row: int, column: int) -> tuple[str | None, str | None] | None:
        """(old, new) of the cell at view ``row``, ``column`` when it changed, else None."""
        if not 0 <= row < self.rowCount():
            return None
        return self.changed_cells(row).get(column)

    def changed_cells(self, row: int) -> dict[int, tuple[str | None, str | None]]:
        row_id = self.row_id(row)
        if row_id not in self._changed_ids:
            return {}
        if row_id not in self._cells:  # the rows of this page at once, as the values are read
            start = row - row % PAGE_ROWS
            ids = [self.row_id(r) for r in range(start, min(start + PAGE_ROWS, self.rowCount()))]
            ids = [i for i in ids if i in self._changed_ids and i not in self._cells]
            found = self.reader.cells_for_rows(self.table, ids)
            for i in ids:
                self._cells[i] = found.get(i, {})
        return self._cells.get(row_id, {})

    def status(self, row: int) -> str:
        return _shown(self._cell(row, 0))

    def is_change(self, row: int) -> bool:
        return self.row_id(row) in self._changed_ids

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.BackgroundRole):
            changed = self.changed_cell(row, column)
            if changed is not None:
                old, new = changed
                if role == Qt.ItemDataRole.DisplayRole:
                    return f"{_shown(old)} → {_shown(new)}"
                if role == Qt.ItemDataRole.ToolTipRole:
                    return (f"Before: {f'“{old}”' if old else '(empty)'}\n"
                            f"Now: {f'“{new}”' if new else '(empty)'}")
                colour = QGuiApplication.palette().color(QPalette.ColorRole.Highlight)
                colour.setAlpha(CHANGED_ALPHA)
                return colour
            if role == Qt.ItemDataRole.BackgroundRole:
                if self.is_change(row) and self.status(row) == "added":
                    colour = QGuiApplication.palette().color(QPalette.ColorRole.Highlight)
                    colour.setAlpha(ADDED_ALPHA)
                    return colour
                return None
        if role == Qt.ItemDataRole.ForegroundRole and self.is_change(row) and self.status(row) == "removed":
            return QGuiApplication.palette().color(QPalette.ColorRole.PlaceholderText)
        if role == Qt.ItemDataRole.FontRole and self.is_change(row) and self.status(row) == "removed":
            font = QGuiApplication.font()
            font.setStrikeOut(True)
            return font
        return super().data(index, role)

    def set_changed_only(self, on: bool) -> None:
        self.changed_only = on
        self._reorder()

    def _reorder(self) -> None:
        column, descending = self._sort
        contains, equals, table, changed_only = self._contains, self._equals, self.table, self.changed_only

        def read(workbook: Workbook):
            ids = workbook.row_ids(table, column, descending, contains, equals)
            if not changed_only:
                return ids
            changed = self._changed_ids
            return [i for i in ids if i in changed]

        self._reads.ask(self.workbook.path, read)

    @property
    def filtered(self) -> bool:
        return super().filtered or self.changed_only

    def next_change(self, row: int, column: int, step: int) -> tuple[int, int] | None:
        """The next changed cell after (``row``, ``column``) in view order (``step`` -1: before it):
        a changed cell, or the status cell of an added or removed row. None when there is none."""
        def stops(r: int) -> list[int]:
            if not self.is_change(r):
                return []
            cells = sorted(self.changed_cells(r))
            return cells or [0]

        here = [c for c in stops(row) if (c > column if step > 0 else c < column)] if 0 <= row < self.rowCount() else []
        if here:
            return row, here[0] if step > 0 else here[-1]
        count = self.rowCount()
        r = row + step
        ids = self._ids
        changed = self._changed_ids
        while 0 <= r < count:
            if ids[r] in changed:
                cells = stops(r)
                return r, cells[0] if step > 0 else cells[-1]
            r += step
        return None


class RowBarDelegate(QStyledItemDelegate):
    """A table's rows as one bar split by state (changed, added, removed, same), palette colours."""

    def paint(self, painter: QPainter, option, index: QModelIndex) -> None:
        counts = index.data(_SHARES) or {}
        total = sum(counts.values())
        rect = option.rect.adjusted(4, 5, -4, -5)
        painter.save()
        painter.fillRect(rect, option.palette.color(QPalette.ColorRole.Base))
        x = rect.left()
        for state in ROW_STATES:
            if not total or not counts.get(state):
                continue
            width = max(1, round(rect.width() * counts[state] / total))
            width = min(width, rect.right() + 1 - x)
            painter.fillRect(QRect(x, rect.top(), width, rect.height()), bar_colour(option.palette, state))
            x += width
        painter.setPen(option.palette.color(QPalette.ColorRole.Mid))
        painter.drawRect(rect.adjusted(0, 0, -1, -1))
        painter.restore()


_SUMMARY_COLUMNS = ("Table", "Status", "Rows", "Added", "Removed", "Changed", "Cells changed", "Columns added",
                    "Columns removed")


class CompareWindow(QDialog):
    """A comparison's result; closes with the session (its files are the session's)."""

    def __init__(self, controller: SessionController, result_path: Path, summary: CompareSummary,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compareView")
        self.setWindowTitle("Compare: result")
        self.setWindowFlag(Qt.WindowType.WindowMaximizeButtonHint, True)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.controller = controller
        self.result_path = result_path
        self.summary = summary
        self.workbook = Workbook(result_path)
        self.reader = DiffReader(result_path)
        self.model: DiffTableModel | None = None
        controller.session_ended.connect(self.close)

        self.overview = QLabel(self._overview_text(), self)
        self.overview.setObjectName("compareOverview")
        self.overview.setWordWrap(True)
        self.legend = QLabel(self)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        palette = self.palette()
        self.legend.setText("Rows: " + " ".join(
            f"<span style='color:{bar_colour(palette, s).name()}'>■</span> {s}" for s in ROW_STATES))
        self.summary_table = QTableWidget(len(summary.tables), len(_SUMMARY_COLUMNS), self)
        self.summary_table.setObjectName("compareSummary")
        self.summary_table.setHorizontalHeaderLabels(_SUMMARY_COLUMNS)
        self.summary_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.summary_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.summary_table.verticalHeader().hide()
        self.summary_table.setItemDelegateForColumn(2, RowBarDelegate(self.summary_table))
        for row, table in enumerate(summary.tables):
            self._fill_summary_row(row, table)
        header = self.summary_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.summary_table.setMaximumHeight(
            header.height() + 6 + self.summary_table.verticalHeader().length() if summary.tables else 80)
        self.summary_table.currentCellChanged.connect(lambda row, *_: self.show_table(row))

        self.filter_box = QLineEdit(self)
        self.filter_box.setObjectName("compareFilter")
        self.filter_box.setPlaceholderText("Filter rows: text any cell contains, or column = value; Enter applies")
        self.filter_box.returnPressed.connect(self._apply_filter)
        self.changed_only = QCheckBox("Changed rows only", self)
        self.changed_only.setObjectName("compareChangedOnly")
        self.changed_only.toggled.connect(self._set_changed_only)
        self.action_next = make_action(self, "actionNextChange", "Next change", ["F8"], lambda: self.go_to_change(1))
        self.action_previous = make_action(self, "actionPreviousChange", "Previous change", ["Shift+F8"],
                                           lambda: self.go_to_change(-1))
        previous_button = QPushButton("◀ Previous change", self)
        previous_button.setToolTip(self.action_previous.toolTip())
        previous_button.clicked.connect(self.action_previous.trigger)
        next_button = QPushButton("Next change ▶", self)
        next_button.setToolTip(self.action_next.toolTip())
        next_button.clicked.connect(self.action_next.trigger)
        self.export_button = QPushButton("Export report…", self)
        self.export_button.setObjectName("compareExport")
        self.export_button.setToolTip("XLSX, daff CSV and patch CSV, HTML and summary.json, into a folder")
        self.export_button.clicked.connect(lambda: self.export_report())
        tools = QHBoxLayout()
        tools.addWidget(self.filter_box, 1)
        tools.addWidget(self.changed_only)
        tools.addWidget(previous_button)
        tools.addWidget(next_button)
        tools.addWidget(self.export_button)

        self.table_view = QTableView(self)
        self.table_view.setObjectName("compareTable")
        self.table_view.setHorizontalHeader(ColumnHeader(self.table_view))
        self.table_view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table_view.setWordWrap(False)  # one line per row, as in the tables; the tooltip has both values
        self.table_view.verticalHeader().setDefaultSectionSize(self.table_view.fontMetrics().height() + 6)
        self.table_view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table_view.setSortingEnabled(True)
        self.message = MessageLabel(self)
        self.message.setObjectName("compareWindowMessage")

        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.overview)
        top_layout.addWidget(self.legend)
        top_layout.addWidget(self.summary_table)
        bottom = QWidget(self)
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addLayout(tools)
        bottom_layout.addWidget(self.table_view, 1)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.message)
        self.resize(1100, 700)
        first = next((i for i, t in enumerate(summary.tables) if t.diff_table and t.status != "same"),
                     next((i for i, t in enumerate(summary.tables) if t.diff_table), None))
        if first is not None:
            self.summary_table.setCurrentCell(first, 0)

    def _overview_text(self) -> str:
        summary = self.summary
        if summary.same:
            text = f"No difference: {counted(len(summary.tables), 'table')} the same."
        else:
            differing = sum(1 for t in summary.tables if t.status != "same")
            text = (f"{differing:,} of {counted(len(summary.tables), 'table')} "
                    f"{'differs' if differing == 1 else 'differ'}.")
        states: dict[str, int] = {}
        for document in summary.documents:
            states[document.status] = states.get(document.status, 0) + 1
        if states:
            text += " Documents: " + ", ".join(f"{n:,} {s}" for s, n in states.items()) + "."
        if summary.warnings:
            text += " " + " ".join(summary.warnings)
        return text

    def _fill_summary_row(self, row: int, table: TableDiff) -> None:
        columns_added = ", ".join(table.columns_added)
        columns_removed = ", ".join(table.columns_removed)
        values = [table.name, table.status, "", f"{table.rows_added:,}", f"{table.rows_removed:,}",
                  f"{table.rows_changed:,}", f"{table.cells_changed:,}", columns_added, columns_removed]
        for column, text in enumerate(values):
            item = QTableWidgetItem(text)
            if column >= 3 and column <= 6:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.summary_table.setItem(row, column, item)
        counts = {"changed": table.rows_changed, "added": table.rows_added, "removed": table.rows_removed,
                  "same": table.rows_same}
        bar = self.summary_table.item(row, 2)
        bar.setData(_SHARES, counts)
        bar.setToolTip(", ".join(f"{n:,} {s}" for s, n in counts.items())
                       + (f"; {counted(table.duplicate_keys, 'row')} with a repeated or empty key"
                          if table.duplicate_keys else ""))
        if table.key:
            self.summary_table.item(row, 0).setToolTip(f"Keyed on {', '.join(table.key)}")

    # -- the diff table
    def show_table(self, row: int) -> None:
        if not 0 <= row < len(self.summary.tables):
            return
        table = self.summary.tables[row]
        if not table.diff_table:
            self.table_view.setModel(None)
            self._drop_model()
            self.message.setText(f"{table.name} is only on the {'new' if table.status == 'added' else 'old'} side: "
                                 "there are no rows to pair.")
            return
        self._drop_model()
        self.model = DiffTableModel(self.workbook, table.diff_table, self.reader, self)
        self.model.query_failed.connect(
            lambda error: self.message.show_error(f"Filtering failed: {plain_error(error)}."))
        self.model.rows_reordered.connect(self._show_counts)
        self.table_view.setModel(self.model)
        self.table_view.resizeColumnsToContents()
        if self.filter_box.text().strip() or self.changed_only.isChecked():
            self._apply_filter()
        self._show_counts()

    def _drop_model(self) -> None:
        if self.model is not None:
            self.model.wait()
            self.model.deleteLater()
            self.model = None

    def _show_counts(self) -> None:
        if self.model is not None:
            shown = self.model.rowCount()
            self.message.setText(f"{counted(shown, 'row')} shown" + (", filtered" if self.model.filtered else "")
                                 + ". F8 / Shift+F8: next / previous change.")

    def _apply_filter(self) -> None:
        if self.model is not None:
            self.model.changed_only = self.changed_only.isChecked()
            self.model.set_filter(self.filter_box.text())

    def _set_changed_only(self, on: bool) -> None:
        if self.model is not None:
            self.model.set_changed_only(on)

    def go_to_change(self, step: int) -> bool:
        """Select the next (``step`` 1) or previous (-1) changed cell; False when there is none."""
        if self.model is None:
            return False
        current = self.table_view.currentIndex()
        row, column = (current.row(), current.column()) if current.isValid() else (-1 if step > 0 else
                                                                                   self.model.rowCount(), -1)
        found = self.model.next_change(row, column, step)
        if found is None:
            self.message.setText("No further change " + ("below." if step > 0 else "above."))
            return False
        index = self.model.index(*found)
        self.table_view.setCurrentIndex(index)
        self.table_view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    # -- reports
    def export_report(self, folder: Path | None = None, formats: tuple[str, ...] = REPORT_FORMATS) -> str | None:
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self, "Export the comparison's report to")
            if not chosen:
                return None
            folder = Path(chosen)
        op = CompareReportOp(self.controller, self.result_path, self.summary, folder, formats)
        op.succeeded.connect(lambda written: self.message.show_info(
            f"Wrote {', '.join(p.name for p in written[:4])}{'…' if len(written) > 4 else ''} in {folder}."))
        op.ended.connect(lambda state, error: self.message.show_error(
            f"The report was not written: {plain_error(error)}.") if state == "failed" else None)
        return op.run()

    def closeEvent(self, event) -> None:
        self._let_go()
        super().closeEvent(event)

    def done(self, result: int) -> None:  # reject() at sign-out or lock
        self._let_go()
        super().done(result)

    def _let_go(self) -> None:
        if self.workbook is None:
            return
        self.table_view.setModel(None)
        self._drop_model()
        self.reader.close()
        self.workbook.close()
        self.workbook = None
