"""``ret-desktop selftest``: the whole path through the real windows, offscreen, in a throw-away
data folder: create the administrator, sign in, import the bundled sample archive, convert, export,
sign out, and check on disk that the session was wiped. Works from a source checkout, a wheel and
the PyInstaller bundle; says which step failed and why."""

from __future__ import annotations

import csv
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

SAMPLE = "test-examples_1.zip"
SAMPLE_DOCUMENTS = 13
PASSWORD = "selftest password 1"


class SelfTestFailure(Exception):
    pass


def run_selftest(out: Callable[[str], None] = print) -> int:
    """0 when every step passed, 1 (after saying which step failed) otherwise."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="ret-selftest-") as scratch:
        try:
            _run(Path(scratch), out)
        except SelfTestFailure as failure:
            out(f"selftest FAILED: {failure}")
            return 1
    out("selftest passed")
    return 0


def _run(scratch: Path, out: Callable[[str], None]) -> None:
    from PySide6.QtCore import QCoreApplication, qInstallMessageHandler
    from PySide6.QtWidgets import QDialog, QDialogButtonBox

    from ret_desktop.app import build_app
    from ret_desktop.core.config import bundled_path
    from ret_desktop.core.sessions import cache_prefix
    from ret_desktop.gui.theme import icon

    started = time.monotonic()
    previous_handler = qInstallMessageHandler(_quiet_offscreen)

    def step(name: str, check: bool, why: str = "") -> None:
        if not check:
            raise SelfTestFailure(f"{name}: {why}")
        out(f"  ok  {name}  ({time.monotonic() - started:.1f} s)")

    def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise SelfTestFailure(f"{what}: no answer within {timeout_s:.0f} s")
            QCoreApplication.processEvents()
            time.sleep(0.01)

    def run_job(start: Callable[[], object], what: str) -> None:
        """Start a job and wait for it and what it leads to (a conversion is followed by indexing)."""
        finished: list[tuple[str, str]] = []
        window.controller.runner.job_finished.connect(lambda _id, state, error: finished.append((state, error)))
        start()
        wait_for(lambda: bool(finished) and not window.controller.runner.busy, what)
        failed = [(state, error) for state, error in finished if state != "succeeded"]
        step(what, not failed, "; ".join(f"a job ended {state}: {error}" for state, error in failed))

    app = build_app(scratch / "data", keyring_backend=None)
    window = app.main_window
    try:
        step("load the icons", not icon("import").pixmap(16, 16).isNull() and not icon("app").isNull(),
             "an icon from resources/icons did not load (image format plugins missing?)")
        login = app.login_window
        login.show()
        login.setup_username.setText("selftest")
        login.setup_password.setText(PASSWORD)
        login.setup_confirm.setText(PASSWORD)
        login.setup_create.click()
        step("create the administrator", app.services.accounts.count() == 1, login.setup_message.text())
        login.username.setText("selftest")
        login.password.setText(PASSWORD)
        login.sign_in_button.click()
        step("sign in", window.controller.session is not None and window.isVisible(), login.message.text())
        session_id = window.controller.session.info.session_id
        folder = app.services.sessions.folder(session_id)

        sample = bundled_path("resources") / "samples" / SAMPLE
        run_job(lambda: window.import_paths([sample]), f"import {SAMPLE}")
        found = len(window.controller.session.intake.documents)
        step("find the sample's documents", found == SAMPLE_DOCUMENTS, f"found {found}, not {SAMPLE_DOCUMENTS}")

        run_job(window.action_convert.trigger, "read the structure")
        dialog = window.findChild(QDialog, "convertDialog")
        step("open the convert dialog", dialog is not None, "it did not open")
        ok = dialog.findChild(QDialogButtonBox, "convertButtons").button(QDialogButtonBox.StandardButton.Ok)
        run_job(ok.click, "convert")
        tables = window.controller.session.tables
        failed = window.controller.session.failed
        step("convert every document", bool(tables) and not failed, f"{len(tables)} tables; failed: {failed}")
        hits = window.search.index.search(window.controller.read_workbook, "crossref") if window.search.index else []
        step("search the tables", bool(hits), "the search index found nothing")

        exported = scratch / "exported"
        exported.mkdir()
        run_job(lambda: window.export_to(exported, ("csv", "xlsx")), "export")
        for table in window.controller.session.tables:  # the names each table was written under
            written = {Path(name).suffix: exported / name for name in table.files}
            step(f"export {table.name} as CSV and XLSX", set(written) == {".csv", ".xlsx"},
                 f"it was written as {', '.join(table.files) or 'nothing'}")
            with open(written[".csv"], newline="", encoding="utf-8") as handle:
                rows = sum(1 for _ in csv.reader(handle)) - 1
            step(f"exported {written['.csv'].name}", rows == table.rows, f"{rows} rows written, {table.rows} in the table")
            step(f"exported {written['.xlsx'].name}", written[".xlsx"].stat().st_size > 0, "it is empty")

        app.controller.sign_out(ask=False)
        prefix = cache_prefix(session_id)
        step("sign out", window.controller.session is None and login.isVisible(),
             "the sign-in window did not come back")
        step("session folder wiped", not folder.exists(), f"{folder} is still there")
        with sqlite3.connect(app.services.settings.session_db) as conn:
            (left,) = conn.execute("SELECT COUNT(*) FROM session_cache WHERE substr(key, 1, ?) = ?",
                                   (len(prefix), prefix)).fetchone()
        step("session cache rows wiped", left == 0, f"{left} rows remain")
    finally:
        app.close()
        qInstallMessageHandler(previous_handler)


def _quiet_offscreen(mode, context, message: str) -> None:
    """Qt's messages on stderr, but for the offscreen platform's notes that it has no window manager."""
    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def main() -> int:
    return run_selftest(lambda line: print(line, flush=True))


if __name__ == "__main__":
    sys.exit(main())
