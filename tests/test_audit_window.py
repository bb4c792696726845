"""Issue 13: a whole session in the window leaves its actions in the audit trail, with counts, and
nothing of its data; the Audit window filters, pages over SQLite and exports CSV."""

import csv
import json
import sqlite3
from pathlib import Path

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableView,
    QWidget,
)

from ret_desktop.core.audit import PAGE_SIZE
from test_gui import PASSWORD, child, create_admin_and_sign_in, run_job, sign_in
from test_gui_sign_out_leaves_nothing import WORDS, make_inputs

EXPORT_WORD = "Pangolinexport"


def audit_rows(app):
    with sqlite3.connect(app.services.settings.app_db) as conn:
        return conn.execute("SELECT at, user_name, session_id, action, counts FROM audit_log ORDER BY id").fetchall()


def test_a_whole_session_is_audited_with_counts_and_nothing_of_its_data(app, qtbot, monkeypatch, tmp_path):
    app.services.accounts.create_user("alice", PASSWORD)
    app.login_window.refresh()
    sign_in(app, qtbot, "alice", "not the password")
    sign_in(app, qtbot, "alice")
    window = app.main_window
    session_id = window.controller.session.info.session_id

    inputs = make_inputs(tmp_path)
    assert run_job(app, qtbot, lambda: window.import_paths(inputs))[1] == "succeeded"
    run_job(app, qtbot, window.action_convert.trigger)
    dialog = child(window, QDialog, "convertDialog")
    assert run_job(app, qtbot, child(dialog, QDialogButtonBox, "convertButtons")
                   .button(QDialogButtonBox.StandardButton.Ok).click)[1] == "succeeded"
    tables = child(window, QListWidget, "tablesView")
    names = [tables.item(i).data(Qt.ItemDataRole.UserRole) for i in range(tables.count())]
    for row in range(len(names)):
        tables.setCurrentRow(row)
        model = child(window, QTableView, "tableView").model()
        for line in range(3):
            assert model.setData(model.index(line, 2), f"{WORDS[-1]} {row} {line}")
    out = tmp_path / EXPORT_WORD
    assert run_job(app, qtbot, lambda: window.export_to(out, ("csv", "xlsx")))[1] == "succeeded"

    window.lock()
    page = child(window, QWidget, "lockPage")
    child(page, QLineEdit, "unlockPassword").setText(PASSWORD)
    qtbot.mouseClick(child(page, QPushButton, "unlock"), Qt.MouseButton.LeftButton)
    assert not window.locked
    window.action_settings.trigger()
    settings_dialog = child(window, QDialog, "settingsDialog")
    child(settings_dialog, QSpinBox, "login_max_failures").setValue(9)
    child(settings_dialog, QDialogButtonBox, "settingsButtons").button(QDialogButtonBox.StandardButton.Ok).click()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.action_sign_out.trigger()
    assert window.controller.session is None

    rows = audit_rows(app)
    of_session = [(action, json.loads(counts)) for _at, user, sid, action, counts in rows if sid == session_id]
    actions = [action for action, _ in of_session if action != "edit"]
    assert actions == ["session_created", "import", "convert", "export", "idle_lock", "idle_unlock",
                       "settings_changed", "session_wiped", "sign_out"]
    counts = dict(of_session)
    assert counts["import"] == {"documents": 3, "skipped": 1}
    assert counts["convert"] == {"documents": 3, "failed": 0, "tables": len(names), "rows": 28}
    # Edits: one entry per table and minute (recorded once the minute is over, or at sign-out).
    edits = [c for a, c in of_session if a == "edit"]
    assert len(edits) >= len(names) and {c["tables"] for c in edits} == {1}
    assert sum(c["edits"] for c in edits) == 3 * len(names)
    assert counts["export"] == {"files": 2 * len(names), "formats": ["csv", "xlsx"], "tables": len(names)}
    assert counts["settings_changed"] == {"login_max_failures": [5, 9]}
    assert [(user, action) for _at, user, sid, action, _c in rows if sid is None][-2:] == [
        ("alice", "sign_in_failed"), ("alice", "sign_in")]

    # Nothing of the session: no value, file or folder name, path or table name, in any column.
    everything = json.dumps(rows).lower()
    for word in (*WORDS, EXPORT_WORD, *names, str(tmp_path)):
        assert word.lower() not in everything, word


def test_the_audit_window_filters_pages_and_exports(app, qtbot, tmp_path):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    audit = app.services.audit
    base = QDate(2026, 3, 1).startOfDay().toSecsSinceEpoch()
    for i in range(3 * PAGE_SIZE):
        audit.record("export" if i % 3 == 0 else "import", "bob" if i % 2 else "carol", None, at=base + i * 3600,
                     files=i)
    window.findChild(type(window.action_users), "actionAudit").trigger()
    audit_window = child(window, QDialog, "auditWindow")
    view = child(audit_window, QTableView, "auditView")
    model = view.model()
    assert model.rowCount() == PAGE_SIZE
    assert model.index(0, 3).data() == "session created"  # newest first: alice's session of now
    view.scrollToBottom()  # Qt asks the model for the next page
    qtbot.waitUntil(lambda: model.rowCount() > PAGE_SIZE)
    while model.canFetchMore():
        model.fetchMore()
    assert model.rowCount() == 3 * PAGE_SIZE + 3  # and alice's user_created, session_created, sign_in

    child(audit_window, QComboBox, "auditAction").setCurrentText("export")
    assert model.rowCount() == PAGE_SIZE and not model.canFetchMore()
    assert {model.index(r, 3).data() for r in range(model.rowCount())} == {"export"}
    user = child(audit_window, QComboBox, "auditUser")
    user.setCurrentText("bob")
    child(audit_window, QPushButton, "auditApply").click()
    assert model.rowCount() == PAGE_SIZE // 2
    assert {model.index(r, 1).data() for r in range(model.rowCount())} == {"bob"}
    assert model.index(0, 4).data() == f"files {3 * PAGE_SIZE - 3}"
    since, until = child(audit_window, QDateEdit, "auditSince"), child(audit_window, QDateEdit, "auditUntil")
    since.setDate(QDate(2026, 3, 2))
    until.setDate(QDate(2026, 3, 3))  # inclusive: two days, 48 hours, bob's exports every 6 h
    assert model.rowCount() == 8
    written = audit_window.export_to(tmp_path / "audit.csv")
    with open(tmp_path / "audit.csv", newline="", encoding="utf-8") as handle:
        exported = list(csv.reader(handle))
    assert written == 8 and len(exported) == 9 and {r[3] for r in exported[1:]} == {"export"}
    assert child(audit_window, QLabel, "auditMessage").text() == "Exported 8 entries to audit.csv."
    assert audit.recent(1)[0].action == "audit_exported"
    assert Path(tmp_path / "audit.csv").stat().st_size > 0


def test_the_audit_model_passes_qt_model_tester(app, qtbot, qtmodeltester):
    create_admin_and_sign_in(app, qtbot)
    for i in range(PAGE_SIZE + 5):
        app.services.audit.record("import", "bob", None, documents=i, skipped=0)
    audit_window = app.main_window.open_audit()
    model = audit_window.model
    qtmodeltester.check(model, force_py=True)
    model.fetchMore()
    assert model.rowCount() == PAGE_SIZE + 5 + 3 and not model.canFetchMore()
    qtmodeltester.check(model, force_py=True)
