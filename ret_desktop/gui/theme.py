"""Icons and the style file, from the shipped resources/ folder."""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from ret_desktop.core.config import bundled_path


@cache
def icon(name: str) -> QIcon:
    """The icon ``resources/icons/<name>.svg`` (``app`` is the application's own, as PNG)."""
    folder = bundled_path("resources") / "icons"
    return QIcon(str(folder / ("app.png" if name == "app" else f"{name}.svg")))


def apply_theme(qapp: QApplication) -> None:
    qapp.setWindowIcon(icon("app"))
    qapp.setStyleSheet((bundled_path("resources") / "style.qss").read_text(encoding="utf-8"))
