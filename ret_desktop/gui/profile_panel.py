"""The column profile of the table on screen: fill rate, distinct values and the most frequent values
of each column, drawn as bars. Worked out on a thread after the table opens and after edits; a click
on a value filters the table to it."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

from ret_desktop.core.workbook import ColumnProfile
from ret_desktop.gui.table_model import LatestRead, WorkbookTableModel

BAR_HEIGHT = 18


class ValueBar(QWidget):
    """A label over a bar filled to ``share`` (0..1), in the palette's highlight colour."""

    clicked = Signal()

    def __init__(self, text: str, share: float, clickable: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = text
        self.share = max(0.0, min(1.0, share))
        self.setMinimumHeight(BAR_HEIGHT)
        self.setToolTip(text)
        self.setAccessibleName(text)
        if clickable:
            self.setCursor(Qt.CursorShape.PointingHandCursor)

    def sizeHint(self) -> QSize:
        return QSize(200, BAR_HEIGHT)

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
        painter.drawText(area.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
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
        self.model: WorkbookTableModel | None = None
        self.profiles: list[ColumnProfile] = []
        self._reads = LatestRead(self)
        self._reads.answered.connect(self._answered)
        self._reads.failed.connect(lambda error: self._show_message(f"No profile: {error}"))
        self._delay = QTimer(self)
        self._delay.setSingleShot(True)
        self._delay.setInterval(400)  # after a burst of edits, once
        self._delay.timeout.connect(self.refresh)
        self._show_message("Open a table to see its columns.")

    @property
    def busy(self) -> bool:
        return self._reads.busy

    def show_table(self, model: WorkbookTableModel | None) -> None:
        self.model = model
        if model is None:
            self._reads.forget()
            self._show_message("Open a table to see its columns.")
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
            title = QLabel(f"<b>{_escape(profile.column)}</b>")
            title.setToolTip(profile.column)
            layout.addWidget(title)
            rows = profile.rows or 1
            layout.addWidget(ValueBar(f"filled {profile.filled:,} of {profile.rows:,} ({profile.filled / rows:.0%}), "
                                  f"{profile.distinct:,} distinct", profile.filled / rows, False))
            for value, count in profile.frequent:
                bar = ValueBar(f"{count:,} × {value}", count / rows, True)
                bar.clicked.connect(lambda column=profile.column, value=value: self.value_clicked.emit(column, value))
                layout.addWidget(bar)
            layout.addSpacing(6)
        layout.addStretch(1)
        self.setWidget(content)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
