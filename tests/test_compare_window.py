"""Tools ▸ Compare through the real widgets (offscreen): the dialog, a real compare job over generated
ZIPs, the result window's summary and diff table, next / previous change, changed rows only, the
report, cancel and bad input."""

import json

import shiboken6

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox, QDialog, QLineEdit, QPushButton, QRadioButton, QTableView, QTableWidget

from ret_desktop.gui.compare_window import CompareWindow
from test_compare import batch_pair
from test_gui import (
    PASSWORD,
    child,
    convert_all,
    create_admin_and_sign_in,
    import_samples,
    sign_in,
)


def open_dialog(app):
    window = app.main_window
    action = child(window, QAction, "actionCompare")
    assert action.shortcut().toString() == "Ctrl+K" and action.isVisible() and action.isEnabled()
    action.trigger()
    return visible(app, "compareDialog")


def visible(app, name):
    """The shown dialog of this name (one closed before may wait for its deletion)."""
    [shown] = [d for d in app.main_window.findChildren(QDialog, name) if d.isVisible()]
    return shown


def fill(dialog, old, new, key=""):
    for side, path in (("oldSide", old), ("newSide", new)):
        child(dialog, QRadioButton, f"{side}Convert").setChecked(True)
        child(dialog, QLineEdit, f"{side}Path").setText(str(path))
    child(dialog, QLineEdit, "compareKey").setText(key)


def click_and_wait(app, qtbot, dialog, button: str):
    """Click the dialog's button of this name and wait for the job it starts to end; how it ended."""
    runner = app.main_window.controller.runner
    finished = []
    runner.job_finished.connect(lambda *args: finished.append(args))
    qtbot.mouseClick(child(dialog, QPushButton, button), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(finished) and not runner.busy, timeout=60_000)
    return finished[0]


def propose_keys(app, qtbot, dialog):
    return click_and_wait(app, qtbot, dialog, "proposeKeys")


def run_compare(app, qtbot, dialog):
    return click_and_wait(app, qtbot, dialog, "compareRun")


def result_window(app) -> CompareWindow:
    return visible(app, "compareView")


def cell_texts(view, column_name):
    model = view.model()
    column = model.columns.index(column_name)
    return [model.index(r, column).data() for r in range(model.rowCount())]


def test_compare_from_the_action_to_the_diff_view_with_exact_counts(app, qtbot, tmp_path):
    create_admin_and_sign_in(app, qtbot)
    old, new = batch_pair(tmp_path)
    dialog = open_dialog(app)
    fill(dialog, old, new, key="id")
    _, state, error = run_compare(app, qtbot, dialog)
    assert (state, error) == ("succeeded", "")
    window = result_window(app)
    assert window.isVisible() and (not shiboken6.isValid(dialog) or not dialog.isVisible())  # closed, then deleted
    summary = child(window, QTableWidget, "compareSummary")
    headers = [summary.horizontalHeaderItem(c).text() for c in range(summary.columnCount())]
    row = {h: summary.item(0, c).text() for c, h in enumerate(headers)}
    assert summary.rowCount() == 1
    assert row == {"Table": "EXPORT_2024_02", "Status": "changed", "Rows": "", "Added": "1", "Removed": "1",
                   "Changed": "1", "Cells changed": "1", "Columns added": "", "Columns removed": ""}
    assert summary.item(0, 2).data(Qt.ItemDataRole.UserRole) == {"changed": 1, "added": 1, "removed": 1, "same": 6}
    assert "Documents: 1 changed, 1 same." in window.overview.text()

    view = child(window, QTableView, "compareTable")
    model = view.model()
    qtbot.waitUntil(lambda: not model.busy)
    assert model.rowCount() == 9
    assert cell_texts(view, "_status") == ["same", "added", "changed", "same", "same", "same", "same", "same",
                                           "removed"]
    year = model.columns.index("year")
    changed = model.index(2, year)
    assert changed.data() == "1922 → 1923"
    assert changed.data(Qt.ItemDataRole.ToolTipRole) == "Before: “1922”\nNow: “1923”"
    assert changed.data(Qt.ItemDataRole.BackgroundRole) is not None
    assert model.index(0, year).data() == "1965" and model.index(0, year).data(Qt.ItemDataRole.BackgroundRole) is None
    assert not model.flags(changed) & Qt.ItemFlag.ItemIsEditable  # read-only

    # F8 / Shift+F8: the added row, the changed cell, the removed row; then back.
    window.activateWindow()
    view.setFocus()
    stops = []
    for _ in range(3):
        qtbot.keyClick(view, Qt.Key.Key_F8)
        stops.append((view.currentIndex().row(), view.currentIndex().column()))
    assert stops == [(1, 0), (2, year), (8, 0)]
    assert not window.go_to_change(1)  # nothing after the last
    qtbot.keyClick(view, Qt.Key.Key_F8, Qt.KeyboardModifier.ShiftModifier)
    assert (view.currentIndex().row(), view.currentIndex().column()) == (2, year)

    # Changed rows only, then the column filter on top.
    child(window, QCheckBox, "compareChangedOnly").setChecked(True)
    qtbot.waitUntil(lambda: model.rowCount() == 3 and not model.busy)
    assert cell_texts(view, "_status") == ["added", "changed", "removed"]
    assert model.index(1, year).data() == "1922 → 1923"
    view.sortByColumn(model.columns.index("_status"), Qt.SortOrder.DescendingOrder)  # a header click
    qtbot.waitUntil(lambda: cell_texts(view, "_status") == ["removed", "changed", "added"] and not model.busy)
    view.setCurrentIndex(model.index(0, 0))
    qtbot.keyClick(view, Qt.Key.Key_F8)  # in the order shown
    assert (view.currentIndex().row(), view.currentIndex().column()) == (1, year)
    filter_box = child(window, QLineEdit, "compareFilter")
    filter_box.setText("_status = removed")
    qtbot.keyClick(filter_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: model.rowCount() == 1 and not model.busy)
    assert cell_texts(view, "id") == ["2"]

    # The report, as an op, into a folder; the audit has counts only.
    out = tmp_path / "report"
    runner = app.main_window.controller.runner
    window.export_report(out)
    qtbot.waitUntil(lambda: not runner.busy and (out / "summary.json").exists(), timeout=30_000)
    assert sorted(p.name for p in out.iterdir()) == ["EXPORT_2024_02.diff.csv", "compare.html", "compare.xlsx",
                                                      "patch.csv", "summary.json"]
    assert json.loads((out / "summary.json").read_text())["tables"][0]["cells_changed"] == 1
    entries = {e.action: e.counts for e in app.services.audit.page(app.main_window.controller.session.actor)}
    assert entries["compare"] == {"tables": 1, "differences": 3}
    assert entries["export"] == {"files": 5, "formats": ["xlsx", "csv", "html"], "tables": 1}
    result = window.result_path
    assert result.parent == app.main_window.controller.session.folder / "compare"
    window.close()
    assert not any(w.isVisible() for w in app.main_window.findChildren(QDialog, "compareView"))


def test_cancel_leaves_nothing(app, qtbot, tmp_path):
    create_admin_and_sign_in(app, qtbot)
    old, new = batch_pair(tmp_path)
    dialog = open_dialog(app)
    fill(dialog, old, new, key="id")
    runner = app.main_window.controller.runner
    finished = []
    runner.job_finished.connect(lambda *args: finished.append(args))
    qtbot.mouseClick(child(dialog, QPushButton, "compareRun"), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(child(dialog, QPushButton, "compareStop"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(finished) and not runner.busy, timeout=60_000)
    assert finished[0][1] == "cancelled"
    folder = app.main_window.controller.session.folder / "compare"
    assert not folder.exists() or list(folder.iterdir()) == []
    assert app.main_window.findChild(QDialog, "compareView") is None
    assert dialog.isVisible() and child(dialog, QPushButton, "compareRun").isEnabled()
    assert dialog.message.text() == "Stopped; nothing was kept."


def test_bad_input_is_a_message_in_the_dialog(app, qtbot, tmp_path):
    create_admin_and_sign_in(app, qtbot)
    old, new = batch_pair(tmp_path)
    dialog = open_dialog(app)
    fill(dialog, tmp_path / "nowhere.zip", new)
    qtbot.mouseClick(child(dialog, QPushButton, "compareRun"), Qt.MouseButton.LeftButton)
    assert dialog.message.tone == "error"
    assert dialog.message.text() == f"Old side (before): there is no file or folder {tmp_path / 'nowhere.zip'}."
    assert not app.main_window.controller.runner.busy

    fill(dialog, old, new, key="isbn")
    _, state, _error = run_compare(app, qtbot, dialog)
    assert state == "failed"
    assert dialog.message.tone == "error"
    assert dialog.message.text() == "Not compared: no table in common has the key column isbn on both sides."
    assert "Error" not in dialog.message.text() and "Traceback" not in dialog.message.text()
    assert app.main_window.findChild(QDialog, "compareView") is None


def test_a_user_compares_and_picks_a_proposed_key(app, qtbot, tmp_path):
    app.services.accounts.create_user("ada", PASSWORD)
    app.services.accounts.create_user("bob", PASSWORD, "user")
    app.login_window.refresh()
    sign_in(app, qtbot, "bob")
    assert app.main_window.tools_menu.menuAction().isVisible()
    old, new = batch_pair(tmp_path)
    dialog = open_dialog(app)
    fill(dialog, old, new)
    propose_keys(app, qtbot, dialog)
    keys = dialog.table_keys
    assert keys.isVisible() and keys.tables() == ["EXPORT_2024_02"]
    box = keys.box("EXPORT_2024_02")
    assert [box.itemText(i) for i in range(box.count())] == [
        "id", "title", "year", "no key: by document and row order"]  # all unique here
    assert box.currentText() == "id"  # the first proposal, preselected
    _, state, error = run_compare(app, qtbot, dialog)
    assert (state, error) == ("succeeded", "")
    window = result_window(app)
    assert window.summary.tables[0].key == ["id"]
    assert (window.summary.tables[0].rows_added, window.summary.tables[0].rows_removed) == (1, 1)


def test_sign_out_closes_the_result_and_wipes_it_with_the_session(app, qtbot, tmp_path, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    old, new = batch_pair(tmp_path)
    dialog = open_dialog(app)
    fill(dialog, old, new, key="id")
    assert run_compare(app, qtbot, dialog)[1] == "succeeded"
    window = result_window(app)
    result = window.result_path
    assert result.exists() and window.isVisible()
    app.main_window.lock()  # what it shows is the session's: the lock closes it
    assert not shiboken6.isValid(window) or not window.isVisible()
    page = app.main_window.lock_page
    child(page, QLineEdit, "unlockPassword").setText(PASSWORD)
    qtbot.mouseClick(child(page, QPushButton, "unlock"), Qt.MouseButton.LeftButton)
    assert child(app.main_window, QAction, "actionCompare").isEnabled()

    dialog = open_dialog(app)
    fill(dialog, old, new, key="id")
    assert run_compare(app, qtbot, dialog)[1] == "succeeded"
    second = visible(app, "compareView")
    assert second.result_path != result
    monkeypatch.setattr("PySide6.QtWidgets.QMessageBox.question", lambda *a, **k: 0x00004000)  # Yes
    app.main_window.action_sign_out.trigger()
    qtbot.waitUntil(app.login_window.isVisible)
    assert not result.parent.exists()  # the session folder, compare results and all, is gone
    assert not any(w.isVisible() for w in app.main_window.findChildren(QDialog, "compareView"))


def test_the_sessions_tables_against_an_earlier_input(app, qtbot, tmp_path, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    old, new = batch_pair(tmp_path)
    assert import_samples(app, qtbot, monkeypatch, new)[1] == "succeeded"
    assert convert_all(app, qtbot)[1] == "succeeded"
    dialog = open_dialog(app)
    assert child(dialog, QRadioButton, "newSideSession").isChecked()  # proposed once the session has tables
    child(dialog, QRadioButton, "oldSideConvert").setChecked(True)
    child(dialog, QLineEdit, "oldSidePath").setText(str(old))
    child(dialog, QLineEdit, "compareKey").setText("id")
    assert run_compare(app, qtbot, dialog)[1:] == ("succeeded", "")
    [table] = result_window(app).summary.tables
    assert (table.status, table.rows_added, table.rows_removed, table.rows_changed, table.cells_changed) == (
        "changed", 1, 1, 1, 1)
