"""The Sources panel: what was brought in, by group, with the entries skipped or failed and why;
renaming and merging groups."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QInputDialog,
    QLabel,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ret_desktop.core.importing import IntakeReport
from ret_desktop.core.text import counted
from ret_desktop.gui.actions import make_action
from ret_desktop.gui.session import SessionController

EMPTY_HINT = "Drop ZIP or XML files here, or press Ctrl+O"
DETAIL = Qt.ItemDataRole.UserRole + 1  # a detail line: why a document failed or an entry was skipped


def _detail_line(text: str) -> QTreeWidgetItem:
    """A line under an entry that shows ``text`` in full, across both columns, wrapped."""
    item = QTreeWidgetItem([text])
    item.setData(0, DETAIL, True)
    item.setToolTip(0, text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled)
    return item


class SourcesPanel(QWidget):
    wants_width = Signal(int)  # what the tree needs to show its names whole (after a refresh)

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.groups_view = QTreeWidget(self)
        self.groups_view.setObjectName("groupsView")
        self.groups_view.setAccessibleName("Sources")
        self.groups_view.setHeaderLabels(["Source", "Status"])
        self.groups_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.groups_view.setTextElideMode(Qt.TextElideMode.ElideLeft)  # the end tells documents apart
        self.groups_view.setWordWrap(True)  # detail lines
        header = self.groups_view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.groups_view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        # Keys of Sources only: F2 in the table edits a cell.
        self.action_rename_group = make_action(self.groups_view, "actionRenameGroup", "&Rename group…", ["F2"],
                                               self.rename_group, local=True)
        self.action_merge_groups = make_action(self.groups_view, "actionMergeGroups", "&Merge groups…", ["Ctrl+M"],
                                               self.merge_groups, local=True)
        self.empty_hint = QLabel(EMPTY_HINT)
        self.empty_hint.setObjectName("emptyHint")
        self.empty_hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty_hint)
        layout.addWidget(self.groups_view)
        controller.sources_changed.connect(self.refresh)
        controller.session_ended.connect(self.groups_view.clear)

    def refresh(self) -> None:
        self.groups_view.clear()
        session = self.controller.session
        intake = session.intake if session else IntakeReport()
        self.empty_hint.setVisible(not intake.documents and not intake.skipped)
        warning = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        notice = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation)
        details = []
        for group, documents in intake.groups.items():
            item = QTreeWidgetItem([group, counted(len(documents), "document")])
            item.setData(0, Qt.ItemDataRole.UserRole, group)
            item.setToolTip(0, group)
            for document in documents:
                why = session.failed.get(document.display)
                warnings = session.warnings.get(document.display, [])
                status = "not converted" if why else ("converted, with a warning" if warnings else "")
                child = QTreeWidgetItem([document.chain[-1].rsplit("/", 1)[-1], status])
                child.setToolTip(0, document.display)
                if why or warnings:
                    child.setIcon(0, warning if why else notice)
                    for line in [why] if why else warnings:
                        child.addChild(_detail_line(line))
                    details.append(child)
                item.addChild(child)
            self.groups_view.addTopLevelItem(item)
        if intake.skipped:
            skipped = QTreeWidgetItem(["Skipped", counted(len(intake.skipped), "entry", "entries")])
            skipped.setToolTip(0, "What was not taken in, each with the reason")
            for entry in intake.skipped:
                child = QTreeWidgetItem([entry.display, "skipped"])
                child.setToolTip(0, entry.display)
                child.addChild(_detail_line(entry.reason))
                details.append(child)
                skipped.addChild(child)
            self.groups_view.addTopLevelItem(skipped)
        self.groups_view.expandToDepth(0)
        for item in details:  # the reasons show in full under their entries
            for line in range(item.childCount()):
                item.child(line).setFirstColumnSpanned(True)
            item.setExpanded(True)
        self.wants_width.emit(self._width_for_names())

    def _width_for_names(self) -> int:
        """The width the tree needs to show every group and document name whole, and the status column."""
        view = self.groups_view
        return (view.sizeHintForColumn(0) + view.header().sectionSize(1) + view.indentation()
                + view.frameWidth() * 2 + view.verticalScrollBar().sizeHint().width())

    def selected_groups(self) -> set[str]:
        """The groups selected in Sources (a selected document counts for its group)."""
        groups = set()
        for item in self.groups_view.selectedItems():
            top = item if item.parent() is None else item.parent()
            group = top.data(0, Qt.ItemDataRole.UserRole)
            if group:
                groups.add(group)
        return groups

    def rename_group(self) -> None:
        groups = sorted(self.selected_groups())
        if self.controller.session is None or len(groups) != 1:
            self.controller.refresh_status("Select one group in Sources to rename it.")
            return
        name, ok = QInputDialog.getText(self.window(), "Rename group", f"New name for {groups[0]}:", text=groups[0])
        if ok:
            self.controller.regroup(groups, name)

    def merge_groups(self) -> None:
        groups = sorted(self.selected_groups())
        if self.controller.session is None or len(groups) < 2:
            self.controller.refresh_status("Select two or more groups in Sources to merge them.")
            return
        name, ok = QInputDialog.getText(self.window(), "Merge groups",
                                        f"Name of the merged group ({', '.join(groups)}):", text=groups[0])
        if ok:
            self.controller.regroup(groups, name)
