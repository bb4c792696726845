"""Help ▸ About and ``--version``: the version, the three folders (opened through QDesktopServices),
and the licences of what the program ships, read from the installed packages."""

import shutil
import stat
import subprocess
import sys

import pytest
from PySide6.QtCore import QObject, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QLabel

from ret_desktop import __version__
from ret_desktop.app import build_app
from ret_desktop.core.about import runtime_distributions, shipped_components
from ret_desktop.gui.about_dialog import AboutDialog


class OpenedUrls(QObject):
    """Receives file:// URLs instead of the desktop's file manager (QDesktopServices.setUrlHandler)."""

    def __init__(self):
        super().__init__()
        self.urls = []

    @Slot(QUrl)
    def open(self, url):
        self.urls.append(url)


@pytest.fixture
def opened():
    receiver = OpenedUrls()
    QDesktopServices.setUrlHandler("file", receiver, "open")
    yield receiver
    QDesktopServices.unsetUrlHandler("file")


@pytest.fixture
def app(tmp_path, qtbot):
    built = build_app(tmp_path / "data", keyring_backend=None)
    yield built
    built.close()


def test_about_shows_version_folders_and_opens_them(app, qtbot, opened):
    settings = app.services.settings
    dialog = AboutDialog(settings)
    qtbot.addWidget(dialog)
    assert __version__ in dialog.findChild(QLabel, "aboutVersion").text()
    shutil.rmtree(settings.config_dir)  # as before anything is saved: the button makes the folder
    for label, folder in (("Data", settings.data_dir), ("Settings", settings.config_dir), ("Logs", settings.log_dir)):
        dialog.open_buttons[label].click()
        assert opened.urls[-1] == QUrl.fromLocalFile(str(folder))
        assert folder.is_dir()
    assert stat.S_IMODE(settings.config_dir.stat().st_mode) == 0o700


def test_about_lists_the_licences_of_what_ships(app, qtbot):
    dialog = AboutDialog(app.services.settings)
    qtbot.addWidget(dialog)
    rows = [dialog.components.item(i).text() for i in range(dialog.components.count())]
    for name in ("Python", "PySide6", "shiboken6", "lxml", "argon2-cffi", "cachetools",
                 "platformdirs", "keyring"):
        assert any(row.lower().startswith(name.lower()) for row in rows), name
    assert dialog.components.currentItem().text().startswith("PySide6")  # Qt's notice first
    assert "LGPL-3.0-only" in dialog.licence_name.text()
    text = dialog.licence_text.toPlainText()
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in text and "Version 3" in text
    assert "You may replace the Qt libraries" in text
    lxml = next(i for i in range(len(rows)) if rows[i].startswith("lxml "))
    dialog.components.setCurrentRow(lxml)
    assert dialog.licence_name.text().endswith(": BSD-3-Clause")
    assert "Redistribution and use" in dialog.licence_text.toPlainText()


def test_every_runtime_package_is_listed_once_with_a_licence():
    components = shipped_components()
    names = [c.name.lower().replace("_", "-") for c in components]
    assert len(names) == len(set(names))
    assert set(runtime_distributions()) - {"ret-desktop"} <= set(names)
    assert "pytest" not in names and "pandas" not in names  # test extras are not shipped
    assert all(c.license and c.texts for c in components), [c.name for c in components if not c.texts]


def test_help_menu_opens_about(app, qtbot):
    window = app.main_window
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    about = next(a for a in help_menu.actions() if "About" in a.text())
    seen = []

    def close_it():
        dialog = QApplication.activeModalWidget()
        seen.append(dialog)
        dialog.reject()

    QTimer.singleShot(0, close_it)
    about.trigger()
    assert isinstance(seen[0], AboutDialog)


def test_version_option():
    result = subprocess.run([sys.executable, "-m", "ret_desktop", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"ret-desktop {__version__}"
