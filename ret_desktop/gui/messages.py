"""Questions whose buttons say what they do, and a message line for dialogs: what went wrong (the platform's critical icon, the style file's error
colour) or what went right (the information icon, the normal text colour), word-wrapped."""

from __future__ import annotations

import re

from PySide6.QtCore import QSize
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QMessageBox, QStyle, QWidget

ICON_SIZE = 16
_TECHNICAL_PREFIX = re.compile(r"^(?:[A-Z]\w*(?:Error|Exception|Failure)\w*: )?(?:\[Errno \d+\] )?")
WORKBOOK_BUSY = "a job is writing the tables; try again when it has ended"


def plain_error(error: str) -> str:
    """A failure for a person: the message without the exception's type or errno."""
    return _TECHNICAL_PREFIX.sub("", error, count=1).rstrip(".")


def workbook_error(error: Exception) -> str:
    """Why a change to the workbook was refused, in words: mostly that a job holds it."""
    text = str(error)
    return WORKBOOK_BUSY if "locked" in text or "busy" in text else plain_error(text)
_ICONS = {"error": QStyle.StandardPixmap.SP_MessageBoxCritical,
          "info": QStyle.StandardPixmap.SP_MessageBoxInformation}


class MessageLabel(QLabel):
    """``show_error`` / ``show_info`` set the text with its icon and tone (the ``tone`` property the
    style file colours); ``setText`` alone shows a plain line, ``clear`` empties it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.tone = ""

    def show_error(self, text: str) -> None:
        self._show(text, "error")

    def show_info(self, text: str) -> None:
        self._show(text, "info")

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._show(text, "")

    def _show(self, text: str, tone: str) -> None:
        self.tone = tone if text else ""
        self.setProperty("tone", self.tone)
        self.setContentsMargins(ICON_SIZE + 6 if self.tone else 0, 0, 0, 0)
        self.style().unpolish(self)
        self.style().polish(self)
        super().setText(text)
        self.setAccessibleDescription(f"{self.tone}: {text}" if self.tone else text)
        self.update()

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return hint.expandedTo(QSize(0, ICON_SIZE)) if self.tone else hint

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.tone:
            pixmap = self.style().standardIcon(_ICONS[self.tone]).pixmap(ICON_SIZE, ICON_SIZE)
            QPainter(self).drawPixmap(0, 1, pixmap)


def choose(parent: QWidget | None, title: str, text: str, choices: list[tuple[str, QMessageBox.ButtonRole]],
           default: int = 0) -> int:
    """Ask ``text`` with one button per choice (label, role); the index of the one pressed. Escape or
    closing the box picks the choice whose role is RejectRole."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName("question")
    buttons = [box.addButton(label, role) for label, role in choices]
    box.setDefaultButton(buttons[default])
    rejecting = [b for b, (_label, role) in zip(buttons, choices) if role == QMessageBox.ButtonRole.RejectRole]
    if rejecting:
        box.setEscapeButton(rejecting[0])
    box.exec()
    clicked = box.clickedButton()
    return buttons.index(clicked) if clicked in buttons else buttons.index(rejecting[0]) if rejecting else -1
