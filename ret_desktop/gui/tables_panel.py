"""The Tables panel: the list of the session's tables (ticked ones are exported), the filter row and
the table view of the table chosen in the list, with its column widths remembered per user."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from PySide6.QtCore import QItemSelectionModel, QSettings, Qt, Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ret_desktop.core.text import counted
from ret_desktop.gui.messages import plain_error

from ret_desktop.gui.session import SessionController
from ret_desktop.gui.table_model import WorkbookTableModel
from ret_desktop.gui.table_view import EntryTableView


def _view_state_key(store: QSettings, user_key: str, table: str) -> str:
    """Where the view state of ``table`` is kept in ``store``: under a keyed hash of its name (with a
    random salt per user), as table names come from the session's files and must not outlive it."""
    salt = store.value(user_key + "table-salt")
    if not salt:
        salt = secrets.token_hex(16)
        store.setValue(user_key + "table-salt", salt)
    store.remove(user_key + "columns")  # kept by table name before
    return f"{user_key}tables/{hmac.new(bytes.fromhex(salt), table.encode(), hashlib.sha256).hexdigest()[:32]}"


MAX_COLUMN_WIDTH = 320  # a column sized to its content on first show is at most this wide
CONTENT_ROWS = 100  # how many rows that sizing looks at


def _table_label(name: str, rows: int, columns: int) -> str:
    return f"{name}  ({rows:,} × {columns})"


class TablesPanel(QWidget):
    """The centre (filter row and table view); ``tables_view`` (the list) and ``size_label`` (rows ×
    columns of the table shown) are placed by the window."""

    model_changed = Signal(object)  # the WorkbookTableModel now shown, or None

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.tables_view = QListWidget(self)
        self.tables_view.setObjectName("tablesView")
        self.tables_view.setAccessibleName("Result tables")
        self.tables_view.currentItemChanged.connect(self._open_selected_table)
        self.tables_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # names and sizes both show
        self.size_label = QLabel("")
        self.size_label.setObjectName("statusSize")
        self.filter_box = QLineEdit(self)
        self.filter_box.setObjectName("filterBox")
        self.filter_box.setPlaceholderText("Filter rows: text any cell contains, or column = value; Enter applies")
        self.filter_box.setAccessibleName("Filter rows")
        self.filter_box.returnPressed.connect(self._apply_filter)
        self.table_view = EntryTableView(self)
        self.table_view.setObjectName("tableView")
        self.table_view.setAccessibleName("Table")
        self.table_view.setWordWrap(False)  # one line per row: more rows on screen; the tooltip has it all
        self.table_view.verticalHeader().setDefaultSectionSize(self.table_view.fontMetrics().height() + 6)
        header = self.table_view.horizontalHeader()
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.setResizeContentsPrecision(CONTENT_ROWS)
        self.table_view.setSortingEnabled(True)
        self._pending_hit = None  # a search hit to select once its table has its rows in order
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter_box)
        layout.addWidget(self.table_view)
        controller.tables_listed.connect(lambda _written: self._refresh_tables())
        controller.table_changed.connect(self._table_changed)
        controller.session_ended.connect(self._session_ended)
        controller.edits_exported.connect(self._edits_exported)

    def model(self) -> WorkbookTableModel | None:
        model = self.table_view.model()
        return model if isinstance(model, WorkbookTableModel) else None

    def _table_changed(self, changed: str) -> None:
        """List the tables again and show ``changed``; the table on screen keeps its sort and filter."""
        names = self.controller.read_workbook.table_names()
        model = self.model()
        showing = model.table if model is not None else None
        wanted = next((name for name in (changed, showing) if name in names), None)
        self.tables_view.blockSignals(True)
        self._refresh_tables(select=wanted)
        self.tables_view.blockSignals(False)
        if wanted is not None and wanted == showing:
            model.reload()
        else:
            self._open_selected_table(self.tables_view.currentItem())

    def _refresh_tables(self, select: str | None = None) -> None:
        self.tables_view.clear()
        session = self.controller.session
        for table in session.tables if session else []:
            item = QListWidgetItem(_table_label(table.name, table.rows, len(table.columns)))
            item.setData(Qt.ItemDataRole.UserRole, table.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            item.setToolTip(f"{table.name}: {counted(table.rows, 'row')} × {counted(len(table.columns), 'column')}, "
                            f"from {table.record_path} in group {table.group}. Ticked tables are exported.")
            self.tables_view.addItem(item)
        names = [t.name for t in session.tables] if session else []
        if names:
            self.tables_view.setCurrentRow(names.index(select) if select in names else 0)
        else:
            self._set_table_model(None)

    def _session_ended(self) -> None:
        shown = self.model()
        self._set_table_model(None)
        if shown is not None:
            shown.wait()  # its sort or filter reads end before the session folder goes away
        self.tables_view.clear()

    def _set_table_model(self, model: WorkbookTableModel | None) -> None:
        old = self.model()
        header = self.table_view.horizontalHeader()
        session = self.controller.session
        if old is not None and session is not None:  # its column widths and sort, for next time
            store, key = self.controller.layout_store(session.user_name)
            store.setValue(_view_state_key(store, key, old.table), header.saveState())
        self.table_view.setModel(model)
        if model is not None and session is not None:
            store, key = self.controller.layout_store(session.user_name)
            saved = store.value(_view_state_key(store, key, model.table))
            if saved is None or not header.restoreState(saved):
                self._size_columns_to_content()
        self.model_changed.emit(model)
        if old is not None:
            for signal in (old.busy_changed, old.rows_reordered, old.query_failed, old.edited, old.edit_failed):
                signal.disconnect()  # a late answer for a table no longer shown is not news
            old.wait()
            old.deleteLater()
        if model is not None:
            model.busy_changed.connect(self._table_busy)
            model.rows_reordered.connect(self._show_table_size)
            model.rows_reordered.connect(self._select_pending_hit)
            model.query_failed.connect(
                lambda error: self.controller.refresh_status(f"Sorting or filtering failed ({plain_error(error)}); "
                                                             "the rows stay as they were. Try again."))
            model.edited.connect(self._table_edited)
            model.edit_failed.connect(lambda error: self.controller.refresh_status(f"Not changed: {error}."))
        self._show_table_size()

    def _size_columns_to_content(self) -> None:
        """On a table's first show: each column as wide as its header and first rows, within reason."""
        self.table_view.resizeColumnsToContents()
        header = self.table_view.horizontalHeader()
        for section in range(header.count()):
            if header.sectionSize(section) > MAX_COLUMN_WIDTH:
                header.resizeSection(section, MAX_COLUMN_WIDTH)

    def _edits_exported(self, tables: list[str]) -> None:
        model, session = self.model(), self.controller.session
        if model is not None and session is not None and model.table in tables:
            model.edits_exported(session.exported_at[model.table])

    def _table_edited(self, table: str, row_ids: list[int] | None) -> None:
        self.controller.note_edit(table, row_ids)
        self._show_table_size()
        model = self.model()
        if model is not None and model.table == table and not model.filtered:
            self._show_table_counts(table, model.rowCount(), model.columns)

    def _show_table_counts(self, table: str, rows: int, columns: list[str]) -> None:
        """Keep the Tables list right after rows or columns were added or deleted."""
        session = self.controller.session
        for outcome in session.tables if session else []:
            if outcome.name == table:
                outcome.rows, outcome.columns = rows, columns
        for i in range(self.tables_view.count()):
            item = self.tables_view.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == table:
                item.setText(_table_label(table, rows, len(columns)))

    def show_hit(self, hit) -> None:
        """Open the table of a search hit and select its cell, once the table shows its rows in order
        (a table just opened sorts and filters first, which would drop the selection)."""
        session = self.controller.session
        names = [t.name for t in session.tables] if session else []
        if hit.table not in names:
            self.controller.refresh_status(f"Table {hit.table} is no longer there: search again.")
            return
        self.tables_view.setCurrentRow(names.index(hit.table))
        self._pending_hit = hit
        if not self.model().busy:
            self._select_pending_hit()

    def _select_pending_hit(self) -> None:
        hit, self._pending_hit = self._pending_hit, None
        model = self.model()
        if hit is None or model is None or model.table != hit.table:
            return
        row = model.view_row(hit.row_id)
        if row is None:
            self.controller.refresh_status("That row is hidden by the filter: clear the filter box to see it.")
            return
        index = model.index(row, model.columns.index(hit.column) if hit.column in model.columns else 0)
        self.table_view.setCurrentIndex(index)
        self.table_view.selectionModel().select(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.table_view.scrollTo(index, EntryTableView.ScrollHint.PositionAtCenter)
        self.table_view.setFocus()

    def _table_busy(self, busy: bool) -> None:
        self.size_label.setText("sorting and filtering…" if busy else "")
        if not busy:
            self._show_table_size()

    def _show_table_size(self) -> None:
        model = self.table_view.model()
        self.size_label.setText(f"{counted(model.rowCount(), 'row')} × {counted(model.columnCount(), 'column')}"
                                if model else "")

    def _open_selected_table(self, current: QListWidgetItem | None, _previous=None) -> None:
        if current is None or self.controller.read_workbook is None:
            return
        self.filter_box.clear()
        self.table_view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        table = current.data(Qt.ItemDataRole.UserRole)
        edits_since = self.controller.session.exported_at.get(table, 0.0) if self.controller.session else 0.0
        self._set_table_model(WorkbookTableModel(self.controller.read_workbook, table, edits_since=edits_since))

    def filter_to_value(self, column: str, value: str) -> None:
        """Show the rows whose ``column`` holds ``value`` (a click in the column profile)."""
        self.filter_box.setText(f"{column} = {value}")
        self._apply_filter()

    def _apply_filter(self) -> None:
        model = self.model()
        if model is not None:
            model.set_filter(self.filter_box.text())

    def checked_tables(self) -> list[str]:
        """The tables ticked in the Tables list (all are, until someone unticks them)."""
        return [self.tables_view.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.tables_view.count())
                if self.tables_view.item(i).checkState() == Qt.CheckState.Checked]
