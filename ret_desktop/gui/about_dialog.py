"""Help ▸ About: the version, where data, settings and logs live (with buttons that open those
folders), and the licences of everything the program ships."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Callable

import PySide6
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QListWidget,
    QListWidgetItem, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget,
)

from ret_desktop import APP_NAME, __version__
from ret_desktop.core.about import shipped_components
from ret_desktop.core.config import Settings
from ret_desktop.core.fsutil import make_private_dir

LICENCE_ROLE = Qt.ItemDataRole.UserRole


class AboutDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle(f"About {APP_NAME}")
        self.resize(860, 600)
        layout = QVBoxLayout(self)
        title = QLabel(f"<b>{APP_NAME} {__version__}</b> · MIT licence")
        title.setObjectName("aboutVersion")
        layout.addWidget(title)
        layout.addWidget(QLabel(f"Qt {qVersion()} · PySide6 {PySide6.__version__} · Python {platform.python_version()}"))

        folders = QGroupBox("Where things live")
        grid = QGridLayout(folders)
        self.open_buttons: dict[str, QPushButton] = {}
        for row, (label, path) in enumerate((("Data", settings.data_dir), ("Settings", settings.config_dir),
                                             ("Logs", settings.log_dir))):
            grid.addWidget(QLabel(label), row, 0)
            shown = QLabel(str(path))
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(shown, row, 1)
            button = QPushButton("Open")
            button.setAutoDefault(False)
            button.setAccessibleName(f"Open the {label.lower()} folder")
            button.clicked.connect(lambda _=False, folder=path: self.open_folder(folder))
            grid.addWidget(button, row, 2)
            self.open_buttons[label] = button
        grid.setColumnStretch(1, 1)
        layout.addWidget(folders)

        licences = QGroupBox("What it ships, and the licences")
        row = QHBoxLayout(licences)
        self.licence_name = QLabel()
        self.licence_name.setWordWrap(True)
        self.components = QListWidget()
        self.components.setAccessibleName("Components")
        self.licence_text = QPlainTextEdit()
        self.licence_text.setReadOnly(True)
        self.licence_text.setAccessibleName("Licence text")
        self.licence_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)  # the texts are wrapped already
        for component in shipped_components():
            item = QListWidgetItem(f"{component.name} {component.version}")
            text = "\n\n".join(f"==== {name} ====\n{body}" for name, body in component.texts)
            item.setData(LICENCE_ROLE, (component.license, text or "(no licence file shipped with this package)"))
            self.components.addItem(item)
        self.components.currentItemChanged.connect(self._show_licence)
        self.components.setMaximumWidth(240)
        row.addWidget(self.components)
        text_column = QVBoxLayout()
        text_column.addWidget(self.licence_name)
        text_column.addWidget(self.licence_text, 1)
        row.addLayout(text_column, 1)
        layout.addWidget(licences, 1)
        if self.components.count():
            qt = self.components.findItems("PySide6", Qt.MatchFlag.MatchStartsWith)
            self.components.setCurrentItem(qt[0] if qt else self.components.item(0))

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _show_licence(self, item: QListWidgetItem | None) -> None:
        licence, text = item.data(LICENCE_ROLE) if item else ("", "")
        self.licence_name.setText(f"{item.text()}: {licence}" if item else "")
        self.licence_text.setPlainText(text)

    def open_folder(self, folder: Path) -> bool:
        """Shows the folder in the file manager (creating it first: settings appear only once saved)."""
        make_private_dir(folder)
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def about_action(settings: Callable[[], Settings], parent: QWidget) -> QAction:
    """Help ▸ About, for the main window's menu (on macOS it moves to the application menu)."""
    action = QAction(f"&About {APP_NAME}", parent)
    action.setMenuRole(QAction.MenuRole.AboutRole)
    action.triggered.connect(lambda: AboutDialog(settings(), parent).exec())
    return action
