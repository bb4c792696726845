"""The table view for rapid entry: typing over a cell edits it, Enter moves down, Tab right (Shift
reverses both), Delete clears the selection. Its column headers show a column's leaf name over the
path above it, each elided where it keeps what tells columns apart."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, QRect, QSize, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionHeader,
    QTableView,
    QWidget,
)

from ret_desktop.gui.table_model import column_title

_ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


class _EntryDelegate(QStyledItemDelegate):
    """Enter in an editor stores the value and moves to the cell below (Shift+Enter: above)."""

    def __init__(self, view: EntryTableView) -> None:
        super().__init__(view)
        self.view = view

    def eventFilter(self, editor: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and event.key() in _ENTER_KEYS:
            self.commitData.emit(editor)
            self.closeEditor.emit(editor, QStyledItemDelegate.EndEditHint.NoHint)
            self.view.move_current(-1 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1, 0)
            return True
        return super().eventFilter(editor, event)


class ColumnHeader(QHeaderView):
    """Column headers of two lines: the leaf name (elided at its end) over the path above it (elided at
    its start, so its last steps show); the whole name is the tooltip."""

    MAX_PATH_WIDTH = 320  # what sizing to contents gives the path line at most

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setSectionsClickable(True)
        self.setHighlightSections(True)

    def _lines(self, section: int) -> tuple[str, str]:
        model = self.model()
        name = model.headerData(section, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) if model else None
        return column_title(name) if isinstance(name, str) else ("", "")

    def sectionSizeFromContents(self, section: int) -> QSize:  # noqa: N802 (Qt's name)
        leaf, above = self._lines(section)
        metrics = self.fontMetrics()
        width = max(metrics.horizontalAdvance(leaf), min(metrics.horizontalAdvance(above), self.MAX_PATH_WIDTH))
        base = super().sectionSizeFromContents(section)
        margin = 2 * self.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMargin, None, self)
        arrow = self.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMarkSize, None, self)
        return QSize(width + 2 * margin + arrow, max(base.height(), 2 * metrics.height() + 2 * margin))

    def paintSection(self, painter, rect: QRect, section: int) -> None:  # noqa: N802 (Qt's name)
        if not rect.isValid():
            return
        option = QStyleOptionHeader()
        self.initStyleOption(option)
        option.rect = rect
        option.section = section
        option.text = ""
        option.textAlignment = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        if self.isSortIndicatorShown() and self.sortIndicatorSection() == section:
            option.sortIndicator = (QStyleOptionHeader.SortIndicator.SortDown
                                    if self.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
                                    else QStyleOptionHeader.SortIndicator.SortUp)
        painter.save()
        self.style().drawControl(QStyle.ControlElement.CE_Header, option, painter, self)
        text = self.style().subElementRect(QStyle.SubElement.SE_HeaderLabel, option, self)
        leaf, above = self._lines(section)
        metrics = self.fontMetrics()
        flags = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        if above:
            top = QRect(text.left(), text.center().y() - metrics.height(), text.width(), metrics.height())
            bottom = top.translated(0, metrics.height())
        else:
            top, bottom = text, None
        painter.setPen(self.palette().color(QPalette.ColorRole.ButtonText))
        painter.drawText(top, flags, metrics.elidedText(leaf, Qt.TextElideMode.ElideRight, top.width()))
        if bottom is not None:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(bottom, flags, metrics.elidedText(above, Qt.TextElideMode.ElideLeft, bottom.width()))
        painter.restore()


class EntryTableView(QTableView):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHorizontalHeader(ColumnHeader(self))
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)  # columns up to 320 px wide
        self.setItemDelegate(_EntryDelegate(self))
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
                             | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.clear_requested = None  # set by the window: clears the selected cells as one step

    def move_current(self, rows: int, columns: int) -> None:
        current = self.currentIndex()
        model = self.model()
        if not current.isValid() or model is None:
            return
        row = min(max(current.row() + rows, 0), model.rowCount() - 1)
        column = min(max(current.column() + columns, 0), model.columnCount() - 1)
        self.setCurrentIndex(model.index(row, column))
        self.selectionModel().select(model.index(row, column), QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def keyPressEvent(self, event) -> None:
        if self.state() != QAbstractItemView.State.EditingState:
            if event.key() in _ENTER_KEYS:
                self.move_current(-1 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1, 0)
                return
            if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.clear_requested is not None:
                self.clear_requested()
                return
        super().keyPressEvent(event)
