"""The Audit window (Tools ▸ Audit log, administrators): the audit trail newest first, filtered by
user, action and date range, read a page at a time from SQLite as the view scrolls; export as CSV."""

from __future__ import annotations

import time
from datetime import datetime, time as day_time, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QDate, QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ret_desktop import APP_NAME
from ret_desktop.core.audit import ACTIONS, PAGE_SIZE, AuditEntry, AuditError, AuditFilter, AuditLog, local_time_text
from ret_desktop.core.roles import Actor, PermissionDenied
from ret_desktop.gui.password_dialog import sentence

ANY_USER, ANY_ACTION = "All users", "All actions"
_NO_DATE = QDate(2000, 1, 1)  # the date boxes' lowest value, shown as "any"


def counts_text(counts: dict[str, Any]) -> str:
    parts = []
    for key, value in counts.items():
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
            parts.append(f"{key} {value[0]:g} → {value[1]:g}")  # a setting, old → new
        elif isinstance(value, list):
            parts.append(f"{key} {', '.join(map(str, value))}")
        else:
            parts.append(f"{key} {value}")
    return " · ".join(parts)


class AuditModel(QAbstractTableModel):
    """The entries matching a filter, newest first; Qt's fetchMore reads the next page (keyset) when
    the view scrolls to the end, so a million entries cost one page at a time."""

    HEADERS = ("Time", "User", "Session", "Action", "Counts")

    def __init__(self, audit: AuditLog, actor: Actor, parent=None) -> None:
        super().__init__(parent)
        self.audit, self.actor = audit, actor
        self.where = AuditFilter()
        self.entries: list[AuditEntry] = []
        self._more = False

    def set_filter(self, where: AuditFilter) -> None:
        entries, more = self._page(where, None)  # before the reset: a refusal leaves the model as it was
        self.beginResetModel()
        self.where, self.entries, self._more = where, entries, more
        self.endResetModel()

    def _page(self, where: AuditFilter, before: AuditEntry | None) -> tuple[list[AuditEntry], bool]:
        """A page, and whether another follows (one entry more is read to know)."""
        page = self.audit.page(self.actor, where, before=before, limit=PAGE_SIZE + 1)
        return page[:PAGE_SIZE], len(page) > PAGE_SIZE

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def canFetchMore(self, parent: QModelIndex = QModelIndex()) -> bool:
        return not parent.isValid() and self._more

    def fetchMore(self, parent: QModelIndex = QModelIndex()) -> None:
        if parent.isValid() or not self._more:
            return
        page, self._more = self._page(self.where, self.entries[-1])
        if page:
            self.beginInsertRows(QModelIndex(), len(self.entries), len(self.entries) + len(page) - 1)
            self.entries.extend(page)
            self.endInsertRows()

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        entry = self.entries[index.row()]
        column = index.column()
        if column == 0:
            return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.time)) \
                if role == Qt.ItemDataRole.DisplayRole else local_time_text(entry.time)
        if column == 1:
            if entry.user:
                return entry.user
            return "—" if role == Qt.ItemDataRole.DisplayRole else "the command line, or a name that is no account"
        if column == 2:
            return (entry.session or "")[:8] if role == Qt.ItemDataRole.DisplayRole else entry.session
        if column == 3:
            return entry.action.replace("_", " ")
        return counts_text(entry.counts)


class AuditWindow(QDialog):
    def __init__(self, audit: AuditLog, actor: Actor, user_names: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("auditWindow")
        self.setWindowTitle(f"{APP_NAME}: audit log")
        self.audit, self.actor = audit, actor
        self.model = AuditModel(audit, actor, self)
        self.view = QTableView(self)
        self.view.setObjectName("auditView")
        self.view.setAccessibleName("Audit log, newest first")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().hide()
        self.view.setWordWrap(False)
        header = self.view.horizontalHeader()
        for column, width in enumerate((150, 110, 80, 130)):
            header.resizeSection(column, width)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)

        self.user = QComboBox(self)
        self.user.setObjectName("auditUser")
        self.user.setAccessibleName("User")
        self.user.setEditable(True)  # a deleted account's name can be typed
        self.user.addItems([ANY_USER, *user_names])
        self.action = QComboBox(self)
        self.action.setObjectName("auditAction")
        self.action.setAccessibleName("Action")
        self.action.addItem(ANY_ACTION, None)
        for name in ACTIONS:
            self.action.addItem(name.replace("_", " "), name)
        self.since = self._date_box("auditSince", "From date")
        self.until = self._date_box("auditUntil", "To date (inclusive)")
        apply_button = QPushButton("Show", self)
        apply_button.setObjectName("auditApply")
        apply_button.setDefault(True)
        apply_button.clicked.connect(self.apply_filter)
        self.user.lineEdit().returnPressed.connect(self.apply_filter)
        self.user.activated.connect(self.apply_filter)
        for box in (self.action,):
            box.currentIndexChanged.connect(self.apply_filter)
        export_button = QPushButton("Export CSV…", self)
        export_button.setObjectName("auditExport")
        export_button.clicked.connect(self.choose_export)
        self.message = QLabel("")
        self.message.setObjectName("auditMessage")
        self.message.setWordWrap(True)
        filters = QHBoxLayout()
        for label, widget in (("User", self.user), ("Action", self.action), ("From", self.since), ("To", self.until)):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
        filters.addWidget(apply_button)
        filters.addStretch(1)
        filters.addWidget(export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.view)
        layout.addWidget(self.message)
        self.resize(980, 560)
        self.apply_filter()

    def _date_box(self, name: str, accessible: str) -> QDateEdit:
        box = QDateEdit(self)
        box.setObjectName(name)
        box.setAccessibleName(accessible)
        box.setCalendarPopup(True)
        box.setDisplayFormat("yyyy-MM-dd")
        box.setMinimumDate(_NO_DATE)
        box.setSpecialValueText("any")
        box.setDate(_NO_DATE)
        box.dateChanged.connect(self.apply_filter)
        return box

    def current_filter(self) -> AuditFilter:
        user = self.user.currentText().strip()

        def midnight(box: QDateEdit, days_after: int = 0) -> float | None:
            if box.date() == _NO_DATE:
                return None
            day = box.date().toPython() + timedelta(days=days_after)
            return datetime.combine(day, day_time()).timestamp()

        return AuditFilter(user=None if user in ("", ANY_USER) else user, action=self.action.currentData(),
                           since=midnight(self.since), until=midnight(self.until, 1))

    def apply_filter(self) -> None:
        try:
            self.model.set_filter(self.current_filter())
        except PermissionDenied as error:
            self.message.setText(sentence(error))
            return
        shown = len(self.model.entries)
        self.message.setText("No entries match." if not shown else
                             f"Newest first; {shown}{' (more as you scroll)' if self.model.canFetchMore() else ''} shown.")

    def choose_export(self) -> None:
        path, _filter = QFileDialog.getSaveFileName(self, "Export the audit log", "audit.csv", "CSV (*.csv)")
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> int | None:
        try:
            written = self.audit.export_csv(self.actor, path, self.current_filter())
        except (PermissionDenied, AuditError) as error:
            self.message.setText(f"Not exported: {error}")
            return None
        self.message.setText(f"Exported {written} {'entry' if written == 1 else 'entries'} to {path.name}.")
        return written
