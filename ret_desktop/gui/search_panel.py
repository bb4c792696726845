"""Search across every table of the session: the box (Ctrl+F), the results, and keeping the index
current. The index is built by a job after each conversion; edits update it as they are stored."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLineEdit, QTreeWidget, QTreeWidgetItem, QWidget

from ret_desktop.core.search import Hit, SearchIndex
from ret_desktop.core.text import counted
from ret_desktop.gui.actions import make_action
from ret_desktop.gui.ops import IndexOp
from ret_desktop.gui.session import SessionController, SessionState

INDEX_FOLDER = "ai_index"
_HIT = Qt.ItemDataRole.UserRole


class SearchPanel(QObject):
    """The box and the results are placed by the window (``parent``), whose shortcut Ctrl+F focuses the box."""

    hit_activated = Signal(object)  # Hit

    def __init__(self, controller: SessionController, parent: QWidget) -> None:
        super().__init__(parent)
        self.controller = controller
        self.index: SearchIndex | None = None
        self.building = False  # an index job is queued or running
        self._building_job: str | None = None
        self._pending: list[tuple[str, list[int] | None]] = []  # edits made while the index was building
        self.box = QLineEdit(parent)
        self.box.setObjectName("searchBox")
        self.box.setAccessibleName("Search all tables")
        self.box.setPlaceholderText("Search all tables (Ctrl+F)")
        self.box.setClearButtonEnabled(True)
        self.box.setMaximumWidth(320)
        self.results = QTreeWidget(parent)
        self.results.setObjectName("searchResults")
        self.results.setAccessibleName("Search results")
        self.results.setHeaderLabels(["Table", "Row", "Column", "Text"])
        self.results.setRootIsDecorated(False)
        self.results.setTextElideMode(Qt.TextElideMode.ElideLeft)  # a column path keeps its last steps
        self.results.setToolTip("Double-click or press Enter on a result to go to its cell")
        self.results.itemActivated.connect(self._activated)
        self._delay = QTimer(self)
        self._delay.setSingleShot(True)
        self._delay.setInterval(250)  # search as you type, once typing pauses
        self._delay.timeout.connect(self.run)
        self.box.textChanged.connect(lambda _text: self._delay.start())
        self.box.returnPressed.connect(self.run)
        self.focus_action = make_action(parent, "actionFind", "&Find…", [QKeySequence.StandardKey.Find], self.focus,
                                        tip="Search all tables")
        controller.session_started.connect(self.open)
        controller.session_ended.connect(self.close)
        controller.tables_listed.connect(self.build)
        controller.rows_changed.connect(self.rows_changed)
        controller.job_finished.connect(self._job_ended)

    # -- life of the index
    def open(self, session: SessionState) -> None:
        """Use the session's index."""
        self.index = SearchIndex(session.folder / INDEX_FOLDER / "search.sqlite")

    def close(self) -> None:
        if self.index is not None:
            self.index.close()
            self.index = None
        self._pending.clear()
        self.building = False
        self._building_job = None
        self.results.clear()
        self.box.clear()

    def build(self, tables: list[str]) -> str | None:
        """Index ``tables`` as a job; edits made meanwhile are applied when it ends."""
        if self.index is None or not tables or self.controller.runner is None:
            return None
        self.building = True
        self._building_job = IndexOp(self.controller, self.index.path, tables).run()
        return self._building_job

    def _job_ended(self, job_id: str, state: str, _error: str) -> None:
        if job_id != self._building_job:
            return
        self._building_job = None
        self.building = False
        pending, self._pending = self._pending, []
        if state != "succeeded":
            self.controller.refresh_status("The search index was not finished; search may miss rows until the "
                                           "next conversion or edit of each table.")
            return
        for table, row_ids in pending:
            self.rows_changed(table, row_ids)
        if self.box.text().strip():
            self.run()

    def rows_changed(self, table: str, row_ids: list[int] | None) -> None:
        """Follow an edit (``row_ids`` None: the table's columns or the table itself changed)."""
        workbook = self.controller.read_workbook
        if self.index is None or workbook is None:
            return
        if self.building:
            self._pending.append((table, row_ids))
        elif row_ids is not None:
            self.index.update_rows(workbook, table, row_ids)
        elif table in workbook.table_names():
            self.build([table])
        else:
            self.index.forget_table(table)

    # -- searching
    def focus(self) -> None:
        self.box.setFocus()
        self.box.selectAll()

    def run(self) -> list[Hit]:
        self.results.clear()
        workbook = self.controller.read_workbook
        query = self.box.text().strip()
        if self.index is None or workbook is None or not query:
            return []
        hits = self.index.search(workbook, query)
        for hit in hits:
            item = QTreeWidgetItem([hit.table, str(hit.row_id), hit.column, hit.text.replace("\n", " ")[:200]])
            item.setToolTip(0, hit.table)
            item.setToolTip(2, hit.column)
            item.setToolTip(3, hit.text[:2000])
            item.setData(0, _HIT, hit)
            self.results.addTopLevelItem(item)
        self._size_columns()
        note = " (the index is still being built: more may come)" if self.building else ""
        self.controller.refresh_status(f"{counted(len(hits), 'matching cell')} for “{query}”{note}."
                                       + (" Double-click one to go to it." if hits else ""))
        return hits

    def _size_columns(self) -> None:
        """Table and row whole; the column path as wide as it needs, up to a third of the view."""
        header = self.results.header()
        for column in (0, 1):
            self.results.resizeColumnToContents(column)
        self.results.resizeColumnToContents(2)
        header.resizeSection(2, min(header.sectionSize(2), max(120, self.results.viewport().width() // 3)))

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        self.hit_activated.emit(item.data(0, _HIT))
