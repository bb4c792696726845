"""The column profile of the table on screen: fill rate, distinct values and the most frequent values
of each column, drawn as bars. Worked out on a thread after the table opens and after edits; a click
on a value filters the table to it."""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QPalette, QTextLayout, QTextOption
from PySide6.QtWidgets import QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from ret_desktop.core.workbook import ColumnProfile
from ret_desktop.gui.messages import plain_error
from ret_desktop.gui.table_model import LatestRead, WorkbookTableModel, column_title

BAR_HEIGHT = 18
_WRAP = QTextOption()
_WRAP.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)


def stats_text(profile: ColumnProfile) -> str:
    return f"{profile.filled:,}/{profile.rows:,} filled · {profile.distinct:,} distinct"


class ElidedLabel(QLabel):
    """One line that fits any width: elided at ``mode``'s side, the whole text in the tooltip."""

    def __init__(self, text: str, mode: Qt.TextElideMode, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.mode = mode
        self.setToolTip(text)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setFont(self.font())
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        rect = self.contentsRect()
        painter.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         self.fontMetrics().elidedText(self.text(), self.mode, rect.width()))


class ValueBar(QWidget):
    """A label over a bar filled to ``share`` (0..1), in the palette's highlight colour. The label is
    elided to fit, or, with ``wrap``, wrapped onto more lines."""

    clicked = Signal()

    def __init__(self, text: str, share: float, clickable: bool, parent: QWidget | None = None,
                 wrap: bool = False) -> None:
        super().__init__(parent)
        self.text = text
        self.share = max(0.0, min(1.0, share))
        self.wrap = wrap
        self.setMinimumHeight(BAR_HEIGHT)
        self.setToolTip(text)
        self.setAccessibleName(text)
        if wrap:
            policy = self.sizePolicy()
            policy.setHeightForWidth(True)
            self.setSizePolicy(policy)
        if clickable:
            self.setCursor(Qt.CursorShape.PointingHandCursor)

    def sizeHint(self) -> QSize:
        return QSize(200, self.heightForWidth(200) if self.wrap else BAR_HEIGHT)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, BAR_HEIGHT)

    def hasHeightForWidth(self) -> bool:
        return self.wrap

    def heightForWidth(self, width: int) -> int:
        return max(BAR_HEIGHT, math.ceil(self._text_rect(width).height()) + 4)

    def _text_rect(self, width: int) -> QRectF:
        """Where the wrapped label goes in a bar ``width`` wide (a word wider than that is broken)."""
        layout = QTextLayout(self.text, self.font())
        layout.setTextOption(_WRAP)
        layout.beginLayout()
        height = 0.0
        widest = 0.0
        while (line := layout.createLine()).isValid():
            line.setLineWidth(max(1, width - 8))
            height += line.height()
            widest = max(widest, line.naturalTextWidth())
        layout.endLayout()
        return QRectF(0, 0, widest, height)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        palette = self.palette()
        area = QRectF(self.rect()).adjusted(0, 2, -1, -2)
        painter.fillRect(area, palette.color(QPalette.ColorRole.AlternateBase))
        filled = QRectF(area)
        filled.setWidth(area.width() * self.share)
        highlight = palette.color(QPalette.ColorRole.Highlight)
        highlight.setAlpha(110)
        painter.fillRect(filled, highlight)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        align = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
        if self.wrap:
            option = QTextOption(_WRAP)
            option.setAlignment(align)
            painter.drawText(area.adjusted(4, 0, -4, 0), self.text, option)
        else:
            painter.drawText(area.adjusted(4, 0, -4, 0), align,
                             self.fontMetrics().elidedText(self.text, Qt.TextElideMode.ElideRight,
                                                           int(area.width()) - 8))

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()


class ColumnProfilePanel(QScrollArea):
    value_clicked = Signal(str, str)  # column, value

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("columnProfile")
        self.setAccessibleName("Column profile")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # everything fits the width
        self.model: WorkbookTableModel | None = None
        self.profiles: list[ColumnProfile] = []
        self._reads = LatestRead(self)
        self._reads.answered.connect(self._answered)
        self._reads.failed.connect(lambda error: self._show_message(
            f"The column profile could not be worked out ({plain_error(error)}). It is tried again after the "
            "next edit."))
        self._delay = QTimer(self)
        self._delay.setSingleShot(True)
        self._delay.setInterval(400)  # after a burst of edits, once
        self._delay.timeout.connect(self.refresh)
        self._show_message("Open a table to see its columns here.")

    @property
    def busy(self) -> bool:
        return self._reads.busy

    def show_table(self, model: WorkbookTableModel | None) -> None:
        self.model = model
        if model is None:
            self._reads.forget()
            self._show_message("Open a table to see its columns here.")
            return
        model.edited.connect(lambda *_args: self._delay.start())
        self.refresh()

    def refresh(self) -> None:
        """Work the profile out again, on a thread; a later request wins."""
        model = self.model
        if model is None:
            return
        table = model.table
        self._reads.ask(model.workbook.path, lambda workbook: workbook.column_profiles(table))
        if not self.profiles:
            self._show_message("Working out the column profile…")

    def wait(self) -> None:
        self._reads.wait()

    def _answered(self, profiles: list[ColumnProfile]) -> None:
        self.profiles = profiles
        self._draw()

    def _show_message(self, text: str) -> None:
        self.profiles = []
        label = QLabel(text)
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.setWidget(label)

    def _draw(self) -> None:
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setSpacing(2)
        for profile in self.profiles:
            leaf, above = column_title(profile.column)
            title = ElidedLabel(leaf, Qt.TextElideMode.ElideRight)
            font = title.font()
            font.setBold(True)
            title.setFont(font)
            title.setToolTip(profile.column)
            layout.addWidget(title)
            if above:
                path = ElidedLabel(above, Qt.TextElideMode.ElideLeft)  # the last steps tell columns apart
                path.setToolTip(profile.column)
                layout.addWidget(path)
            rows = profile.rows or 1
            layout.addWidget(ValueBar(stats_text(profile), profile.filled / rows, False, wrap=True))
            for value, count in profile.frequent:
                bar = ValueBar(f"{count:,} × {value}", count / rows, True)
                bar.clicked.connect(lambda column=profile.column, value=value: self.value_clicked.emit(column, value))
                layout.addWidget(bar)
            layout.addSpacing(6)
        layout.addStretch(1)
        self.setWidget(content)

