"""Screenshots of each main view of the real app, for README.md, into resources/screenshots/.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/tools/take_screenshots.py

Runs in a temporary data folder: creates a user, imports the sample archives, converts, and grabs
the sign-in window, the main window with a table and its column profile, search results, the
convert dialog, the settings dialog and the idle lock.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from a checkout

from PySide6.QtCore import QCoreApplication, Qt  # noqa: E402
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QWidget  # noqa: E402

from ret_desktop.app import build_app  # noqa: E402

OUT = ROOT / "resources" / "screenshots"
DATA = ROOT / "tests" / "data"
PASSWORD = "a long password 1"


def settle(condition=lambda: True, timeout_s: float = 60, at_least_s: float = 0.3) -> None:
    """Serve the event loop until ``condition`` holds, and for ``at_least_s`` (layouts settle)."""
    started = time.monotonic()
    while not condition() or time.monotonic() - started < at_least_s:
        if time.monotonic() - started > timeout_s:
            raise TimeoutError
        QCoreApplication.processEvents()
        time.sleep(0.01)


def save(widget: QWidget, name: str) -> None:
    settle()
    path = OUT / f"{name}.png"
    if not widget.grab().save(str(path)):
        raise SystemExit(f"could not write {path}")
    print(path.relative_to(ROOT))


def run_job(window, start) -> None:
    finished = []
    window.controller.runner.job_finished.connect(lambda *args: finished.append(args))
    start()
    settle(lambda: bool(finished))


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ret-screens-") as scratch:
        app = build_app(Path(scratch) / "data", keyring_backend=None)
        login, window = app.login_window, app.main_window
        try:
            app.services.accounts.create_user("alice", PASSWORD)
            login.refresh()
            login.resize(420, 300)
            login.show()
            login.username.setText("alice")
            save(login, "sign-in")
            login.password.setText(PASSWORD)
            login.sign_in_button.click()
            window.resize(1280, 760)
            run_job(window, lambda: window.import_paths([DATA / "test-examples_1.zip", DATA / "library_1mb.xml"]))
            run_job(window, window.action_convert.trigger)
            dialog = window.findChild(QDialog, "convertDialog")
            dialog.groups.setCurrentRow(dialog.groups.count() - 1)
            save(dialog, "convert-dialog")
            run_job(window, dialog.findChild(QDialogButtonBox, "convertButtons")
                    .button(QDialogButtonBox.StandardButton.Ok).click)
            tables = window.tables.tables_view
            names = [tables.item(i).data(Qt.ItemDataRole.UserRole) for i in range(tables.count())]
            tables.setCurrentRow(names.index("LIBRARY"))
            window.tables.table_view.resizeColumnsToContents()
            save(window, "main-window")
            window.search.box.setText("velit rerum")
            window.search.run()
            window.search_dock.raise_()
            save(window, "search")
            window.search_dock.setVisible(True)
            window.jobs_dock.raise_()
            window.action_settings.trigger()
            save(window.findChild(QDialog, "settingsDialog"), "settings")
            window.findChild(QDialog, "settingsDialog").reject()
            window.lock()
            save(window, "locked")
        finally:
            app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
