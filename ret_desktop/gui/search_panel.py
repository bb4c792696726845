"""Search across every table of the session: the box (Ctrl+F), the results, and keeping the index
current. The index is built by a job after each conversion; edits update it as they are stored."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLineEdit, QTreeWidget, QTreeWidgetItem, QWidget

from ret_desktop.core.search import Hit, SearchIndex
from ret_desktop.core.workbook import Workbook
from ret_desktop.gui.actions import make_action

if TYPE_CHECKING:
    from ret_desktop.gui.main_window import MainWindow

INDEX_FOLDER = "ai_index"
_HIT = Qt.ItemDataRole.UserRole


class SearchPanel(QObject):
    hit_activated = Signal(object)  # Hit

    def __init__(self, window: MainWindow, parent: QWidget) -> None:
        super().__init__(window)
        self.window = window
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
        self.results.itemActivated.connect(self._activated)
        self._delay = QTimer(self)
        self._delay.setSingleShot(True)
        self._delay.setInterval(250)  # search as you type, once typing pauses
        self._delay.timeout.connect(self.run)
        self.box.textChanged.connect(lambda _text: self._delay.start())
        self.box.returnPressed.connect(self.run)
        self.focus_action = make_action(window, "actionFind", "&Find…", [QKeySequence.StandardKey.Find], self.focus,
                                        tip="Search all tables")

    # -- life of the index
    def open(self, session_folder: Path) -> None:
        """Use the session's index (after the window's job runner exists)."""
        self.index = SearchIndex(session_folder / INDEX_FOLDER / "search.sqlite")
        self.window.runner.job_finished.connect(self._job_ended)

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
        window = self.window
        if self.index is None or not tables or window.runner is None:
            return None
        workbook_path = window.session.folder / "workbook.sqlite"
        index_path = self.index.path

        def work(progress, cancelled):
            with Workbook(workbook_path) as workbook, SearchIndex(index_path) as index:
                return index.index_tables(workbook, tables, should_cancel=cancelled, on_progress=progress)

        self.building = True
        self._building_job = window.runner.submit("index for search", work)
        return self._building_job

    def _job_ended(self, job_id: str, state: str, _error: str) -> None:
        if job_id != self._building_job:
            return
        self._building_job = None
        self.building = False
        pending, self._pending = self._pending, []
        if state != "succeeded":
            self.window.refresh_status(f"The search index was not finished ({state}); search may miss rows.")
            return
        for table, row_ids in pending:
            self.rows_changed(table, row_ids)
        if self.box.text().strip():
            self.run()

    def rows_changed(self, table: str, row_ids: list[int] | None) -> None:
        """Follow an edit (``row_ids`` None: the table's columns or the table itself changed)."""
        workbook = self.window.read_workbook
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
        workbook = self.window.read_workbook
        query = self.box.text().strip()
        if self.index is None or workbook is None or not query:
            return []
        hits = self.index.search(workbook, query)
        for hit in hits:
            item = QTreeWidgetItem([hit.table, str(hit.row_id), hit.column, hit.text.replace("\n", " ")[:200]])
            item.setToolTip(3, hit.text[:2000])
            item.setData(0, _HIT, hit)
            self.results.addTopLevelItem(item)
        note = " (the index is still being built)" if self.building else ""
        self.window.refresh_status(f"{len(hits)} matching cells for “{query}”{note}.")
        return hits

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        self.hit_activated.emit(item.data(0, _HIT))
