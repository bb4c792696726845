"""The desktop app driven through its real widgets (offscreen), with the effects checked on disk."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from keyrings.alt.file import PlaintextKeyring
from PySide6.QtCore import QItemSelection, QItemSelectionModel, QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableView,
    QTreeWidget,
    QWidget,
)

from ret_desktop.app import build_app
from ret_desktop.core.text import counted
from ret_desktop.gui.profile_panel import ValueBar
from ret_desktop.gui.table_model import WorkbookTableModel

DATA = Path(__file__).parent / "data"
PASSWORD = "a long password 1"


def child(widget, kind, name):
    found = widget.findChild(kind, name)
    assert found is not None, name
    return found


def create_admin_and_sign_in(app, qtbot, name="alice"):
    login = app.login_window
    child(login, QLineEdit, "setupUsername").setText(name)
    child(login, QLineEdit, "setupPassword").setText(PASSWORD)
    child(login, QLineEdit, "setupConfirm").setText(PASSWORD)
    qtbot.mouseClick(child(login, QPushButton, "setupCreate"), Qt.MouseButton.LeftButton)
    sign_in(app, qtbot, name)


def sign_in(app, qtbot, name, password=PASSWORD):
    login = app.login_window
    child(login, QLineEdit, "username").setText(name)
    child(login, QLineEdit, "password").setText(password)
    qtbot.mouseClick(child(login, QPushButton, "signIn"), Qt.MouseButton.LeftButton)


def run_job(app, qtbot, start):
    """Start a job through the GUI, wait until every job it led to has finished (a conversion is
    followed by indexing for search) and return how the first one ended: job id, state, error."""
    runner = app.main_window.controller.runner
    finished = []
    runner.job_finished.connect(lambda *args: finished.append(args))
    start()
    qtbot.waitUntil(lambda: bool(finished) and not runner.busy, timeout=60_000)
    return finished[0]


def import_samples(app, qtbot, monkeypatch, *paths):
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(p) for p in paths], ""))
    return run_job(app, qtbot, app.main_window.findChild(type(app.main_window.action_import), "actionImport").trigger)


def open_convert_dialog(app, qtbot):
    """Convert (Ctrl+R): the structure is read as a job, then the dialog asks."""
    window = app.main_window
    _, state, error = run_job(app, qtbot, window.action_convert.trigger)
    assert (state, error) == ("succeeded", "")
    return child(window, QDialog, "convertDialog")


def convert_all(app, qtbot, dialog=None):
    """Convert through the dialog, accepting what it proposes (or what the test set in ``dialog``)."""
    dialog = dialog or open_convert_dialog(app, qtbot)
    return run_job(app, qtbot, child(dialog, QDialogButtonBox, "convertButtons")
                   .button(QDialogButtonBox.StandardButton.Ok).click)


def source_tree(window):
    """The Sources tree as plain data: group -> number of documents; "Skipped" -> the reasons.
    (No item objects are kept: the tree deletes them when it is cleared.)"""
    groups = child(window, QTreeWidget, "groupsView")
    result = {}
    for i in range(groups.topLevelItemCount()):
        top = groups.topLevelItem(i)
        if top.text(0) == "Skipped":
            result["Skipped"] = [top.child(j).child(0).text(0) for j in range(top.childCount())]  # detail lines
        else:
            result[top.text(0)] = top.childCount()
    return result


def answer_question(label, asked=None, tries=500):
    """Press the button ``label`` of the next question box, as a person would (its text goes to ``asked``)."""
    def press():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            if tries_left.pop():
                QTimer.singleShot(10, press)
            return
        if asked is not None:
            asked.append(box.text())
        next(button for button in box.buttons() if button.text() == label).click()

    tries_left = [False] + [True] * tries
    QTimer.singleShot(0, press)


SIGN_OUT_ANYWAY = "Sign out without exporting"


def session_rows(app, session_id):
    with sqlite3.connect(app.services.settings.session_db) as conn:
        return conn.execute("SELECT key FROM session_cache WHERE key LIKE ?", (f"session:{session_id}:%",)).fetchall()


def test_first_start_creates_the_admin_then_signs_in(app, qtbot):
    assert app.login_window.pages.currentIndex() == 0
    create_admin_and_sign_in(app, qtbot)
    assert app.main_window.isVisible() and not app.login_window.isVisible()
    assert app.services.accounts.get_user("alice").role == "admin"
    session = app.main_window.controller.session
    assert (app.services.settings.sessions_dir / session.info.session_id).is_dir()
    assert child(app.main_window, QLabel, "emptyHint").text() == "Drop ZIP or XML files here, or press Ctrl+O"


def test_wrong_password_and_lockout_countdown(app, qtbot):
    app.services.accounts.create_user("alice", PASSWORD)
    app.login_window.refresh()
    message = child(app.login_window, QLabel, "loginMessage")
    sign_in(app, qtbot, "alice", "wrong password")
    assert message.text().startswith("Wrong user name or password.")
    sign_in(app, qtbot, "nobody", "wrong password")
    assert message.text().startswith("Wrong user name or password.")
    for _ in range(4):
        sign_in(app, qtbot, "alice", "wrong password")
    assert re.search(r"Try again in 1[45] min \d\d s\.$", message.text()), message.text()
    assert not child(app.login_window, QPushButton, "signIn").isEnabled()
    assert not app.main_window.isVisible()


def test_import_convert_view_export_and_sign_out_wipes(app, qtbot, monkeypatch, tmp_path):
    other = app.services.sessions.create("bob")  # another user's session must survive
    (app.services.sessions.folder(other.session_id) / "input" / "keep.xml").write_text("<k/>")
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    session_id = window.controller.session.info.session_id
    folder = app.services.sessions.folder(session_id)

    _, state, error = import_samples(app, qtbot, monkeypatch, DATA / "test-examples_1.zip", DATA / "library_1mb.xml")
    assert (state, error) == ("succeeded", "")
    assert source_tree(window) == {
        "TEST-EXAMPLES_1": 13, "LIBRARY": 1, "Skipped": ["RAR archives are not supported (only ZIP)"]
    }
    assert (folder / "input" / "library_1mb.xml").exists()  # loose files are copied into the session

    _, state, _ = convert_all(app, qtbot)
    assert state == "succeeded"
    tables = child(window, QListWidget, "tablesView")
    names = [tables.item(i).data(Qt.ItemDataRole.UserRole) for i in range(tables.count())]
    assert set(names) == {"LIBRARY", "TEST-EXAMPLES_1.citation", "TEST-EXAMPLES_1.doi_batch"}
    tables.setCurrentRow(names.index("LIBRARY"))
    view = child(window, QTableView, "tableView")
    model = view.model()
    assert isinstance(model, WorkbookTableModel) and model.rowCount() == 6401
    assert model.index(0, 2).data() == "Velit eius rerum aliquam est."

    out = tmp_path / "exported"
    out.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    _, state, _ = run_job(app, qtbot, window.action_export.trigger)
    assert state == "succeeded"
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.{ext}" for n in names for ext in ("csv", "xlsx"))
    assert not window.controller.session.unexported

    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Yes)
    window.action_sign_out.trigger()
    assert asked == []  # everything was exported: nothing to ask
    assert not folder.exists() and session_rows(app, session_id) == []
    assert app.login_window.isVisible() and not window.isVisible()
    assert (app.services.sessions.folder(other.session_id) / "input" / "keep.xml").exists()
    assert session_rows(app, other.session_id)


def test_sign_out_with_unexported_results_asks(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    import_samples(app, qtbot, monkeypatch, DATA / "4_test-examples.zip")
    convert_all(app, qtbot)
    folder = window.controller.session.folder
    asked = []
    answer_question("Cancel", asked)
    window.action_sign_out.trigger()
    assert folder.exists() and window.isVisible()
    assert asked[-1].startswith("Some results have not been exported.")
    answer_question(SIGN_OUT_ANYWAY)
    window.close()
    assert not folder.exists() and app.login_window.isVisible()


def test_filter_and_sort_keep_track_of_stored_rows(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    import_samples(app, qtbot, monkeypatch, DATA / "library_1mb.xml")
    convert_all(app, qtbot)
    view = child(window, QTableView, "tableView")
    model = view.model()
    title = model.columns.index("title")
    with qtbot.waitSignal(model.rows_reordered):  # worked out on a worker thread
        view.horizontalHeader().setSortIndicator(title, Qt.SortOrder.DescendingOrder)
        assert child(window, QLabel, "statusSize").text() == "sorting and filtering…"
    first = model.index(0, title).data()
    assert first >= model.index(1, title).data()
    model.sort(title, Qt.SortOrder.AscendingOrder)
    model.sort(title, Qt.SortOrder.DescendingOrder)  # asked while the first is still working: it wins
    qtbot.waitUntil(lambda: not model.busy)
    assert model.index(0, title).data() == first
    box = child(window, QLineEdit, "filterBox")
    box.setText("velit eius rerum")
    with qtbot.waitSignal(model.rows_reordered):
        qtbot.keyClick(box, Qt.Key.Key_Return)
    assert 0 < model.rowCount() < 6401
    assert child(window, QLabel, "statusSize").text() == f"{counted(model.rowCount(), 'row')} × {len(model.columns)} columns"
    assert all("velit eius rerum" in model.index(r, title).data().lower() for r in range(model.rowCount()))
    assert model.row_id(0) >= 1


def test_table_model_passes_qt_model_tester(app, qtbot, monkeypatch, qtmodeltester):
    create_admin_and_sign_in(app, qtbot)
    import_samples(app, qtbot, monkeypatch, DATA / "4_test-examples.zip")
    convert_all(app, qtbot)
    qtmodeltester.check(child(app.main_window, QTableView, "tableView").model(), force_py=True)


def test_cancel_a_running_conversion_leaves_no_table(app, qtbot, monkeypatch, tmp_path):
    big = tmp_path / "BIG.xml"
    with open(big, "w") as handle:
        handle.write("<r>" + "".join(f"<i><a>{n}</a><b>x</b></i>" for n in range(300_000)) + "</r>")
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    import_samples(app, qtbot, monkeypatch, big)
    dialog = open_convert_dialog(app, qtbot)
    with qtbot.waitSignal(window.controller.runner.job_finished, timeout=60_000) as finished:
        child(dialog, QDialogButtonBox, "convertButtons").button(QDialogButtonBox.StandardButton.Ok).click()
        qtbot.waitUntil(lambda: window.jobs.job_progress.maximum() == 1000 and window.jobs.job_progress.value() > 0,
                        timeout=30_000)
        qtbot.mouseClick(child(window, QPushButton, "cancelJob"), Qt.MouseButton.LeftButton)
    assert finished.args[1] == "cancelled"
    assert window.controller.read_workbook.table_names() == []
    assert child(window, QListWidget, "tablesView").count() == 0
    record = app.services.jobs.get(finished.args[0])
    assert record.state.value == "cancelled"


CRASH = textwrap.dedent("""
    import json, os, sys
    from ret_desktop.core.config import load_settings
    from ret_desktop.core.convert import convert_documents
    from ret_desktop.core.importing import take_in
    from ret_desktop.core.services import open_services
    from ret_desktop.core.workbook import Workbook
    services = open_services(load_settings({"RET_DATA_DIR": sys.argv[1]}), keyring_backend=None)
    info = services.sessions.create("alice")
    folder = services.sessions.folder(info.session_id)
    (folder / "input" / "kept.xml").write_text("<kept/>")
    report = take_in([__import__("pathlib").Path(sys.argv[2])], folder / "extracted")
    (folder / "intake.json").write_text(json.dumps(report.to_json(folder)))
    with Workbook(folder / "workbook.sqlite") as workbook:
        convert_documents(report, workbook)
    print(info.session_id, flush=True)
    os._exit(0)
""")


@pytest.mark.parametrize("answer", ["Yes", "No"])
def test_a_crashed_session_is_offered_back(app, qtbot, monkeypatch, answer):
    app.services.accounts.create_user("alice", PASSWORD)
    app.login_window.refresh()
    crashed = subprocess.run([sys.executable, "-c", CRASH, str(app.services.settings.data_dir),
                              str(DATA / "4_test-examples.zip")], check=True,
                             capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}).stdout.strip()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: getattr(QMessageBox.StandardButton, answer))
    sign_in(app, qtbot, "alice")
    session = app.main_window.controller.session
    if answer == "Yes":  # the session comes back with its files, sources and tables
        assert session.info.session_id == crashed
        assert (session.folder / "input" / "kept.xml").read_text() == "<kept/>"
        assert source_tree(app.main_window) == {"TEST-EXAMPLES": 8}
        tables = child(app.main_window, QListWidget, "tablesView")
        names = {tables.item(i).data(Qt.ItemDataRole.UserRole) for i in range(tables.count())}
        assert names == {"TEST-EXAMPLES.citation", "TEST-EXAMPLES.doi_batch"}
        assert child(app.main_window, QTableView, "tableView").model().rowCount() > 0
    else:
        assert session.info.session_id != crashed
        assert not app.services.sessions.folder(crashed).exists()
        assert source_tree(app.main_window) == {}


def test_emitting_signals_keeps_reference_counts(qapp):
    """PySide6 6.12.0 dropped a reference to True on every Signal.emit(), so a session that emitted
    a few thousand progress signals aborted the process; pyproject.toml keeps that release out."""
    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        progressed = Signal(str, int, int, str)

    emitter = Emitter()
    emitter.progressed.connect(lambda *args: None)
    before = sys.getrefcount(True)
    for n in range(1000):
        emitter.progressed.emit("job", n, 1000, "file.xml")
    assert abs(sys.getrefcount(True) - before) < 10


def test_settings_dialog_saves_and_applies_without_restart(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    window.findChild(type(window.action_import), "actionSettings").trigger()
    dialog = child(window, QDialog, "settingsDialog")
    child(dialog, QSpinBox, "session_cache_max_size").setValue(40)
    child(dialog, QSpinBox, "session_cache_ttl_seconds").setValue(600)
    child(dialog, QSpinBox, "intake_max_files").setValue(3)
    child(dialog, QSpinBox, "operations_per_minute").setValue(2)
    child(dialog, QDialogButtonBox, "settingsButtons").button(QDialogButtonBox.StandardButton.Ok).click()
    assert not dialog.isVisible()
    settings = app.services.settings
    assert json.loads(settings.settings_file.read_text()) == {
        "session_cache_max_size": 40, "session_cache_ttl_seconds": 600, "intake_max_files": 3,
        "operations_per_minute": 2}
    assert app.services.cache.stats()["max_size"] == 40 and app.services.cache.default_ttl == 600
    assert app.controller.idle.limit_s == 600
    # the intake limit and the rate limit hold from the next operation on
    _, state, _ = import_samples(app, qtbot, monkeypatch, DATA / "test-examples_1.zip")
    assert state == "succeeded"
    assert sum(source_tree(window)[g] for g in source_tree(window) if g != "Skipped") == 3
    convert_all(app, qtbot)
    assert window.convert() is None  # the third operation in this minute
    assert "Too many operations in a minute. Try again in" in window.statusBar().currentMessage()


def test_a_bad_setting_is_refused_in_the_dialog_and_nothing_is_saved(app, qtbot, monkeypatch):
    monkeypatch.setenv("RET_INTAKE_MAX_DEPTH", "4")
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    window.action_settings.trigger()
    dialog = child(window, QDialog, "settingsDialog")
    assert not child(dialog, QSpinBox, "intake_max_depth").isEnabled()
    assert "RET_INTAKE_MAX_DEPTH" in child(dialog, QSpinBox, "intake_max_depth").toolTip()
    app.services.settings.config_dir.mkdir(parents=True, exist_ok=True)
    app.services.settings.settings_file.mkdir()  # cannot be written
    child(dialog, QSpinBox, "intake_max_files").setValue(5)
    child(dialog, QDialogButtonBox, "settingsButtons").button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.isVisible()
    assert child(dialog, QLabel, "settingsError").text().startswith("Not saved:")
    assert app.services.settings.intake_max_files == 20_000


def test_idle_window_locks_and_asks_for_the_password(app, qtbot):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    window.action_settings.trigger()
    dialog = child(window, QDialog, "settingsDialog")
    with qtbot.waitSignal(dialog.finished):  # open dialogs close with the lock: they show the session too
        app.controller.idle.set_limit(0.3)
        app.controller.idle.start()
        qtbot.waitUntil(lambda: window.locked, timeout=5000)
    assert not child(window, QTableView, "tableView").isVisible()
    assert not window.action_import.isEnabled()
    page = child(window, QWidget, "lockPage")
    password = child(page, QLineEdit, "unlockPassword")
    password.setText("wrong password")
    qtbot.keyClick(password, Qt.Key.Key_Return)
    assert window.locked
    assert child(page, QLabel, "unlockMessage").text().startswith("Wrong password.")
    app.controller.idle.set_limit(60)
    password.setText(PASSWORD)
    qtbot.mouseClick(child(page, QPushButton, "unlock"), Qt.MouseButton.LeftButton)
    assert not window.locked and window.action_import.isEnabled()
    assert child(window, QTableView, "tableView").isVisible()
    assert window.controller.session is not None


def group_item(window, name):
    groups = child(window, QTreeWidget, "groupsView")
    return next(groups.topLevelItem(i) for i in range(groups.topLevelItemCount())
                if groups.topLevelItem(i).text(0) == name)


def test_convert_dialog_picks_groups_and_record_path_and_the_export_step_its_formats(app, qtbot, monkeypatch,
                                                                                    tmp_path):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    import_samples(app, qtbot, monkeypatch, DATA / "4_test-examples.zip", DATA / "library_1mb.xml")
    group_item(window, "LIBRARY").setSelected(True)
    dialog = open_convert_dialog(app, qtbot)
    groups = child(dialog, QListWidget, "convertGroups")
    ticked = {groups.item(i).text().split()[0]: groups.item(i).checkState() == Qt.CheckState.Checked
              for i in range(groups.count())}
    assert ticked == {"LIBRARY": True, "TEST-EXAMPLES": False}  # the selection in Sources
    groups.setCurrentRow(0)
    tree = child(dialog, QTreeWidget, "recordPathTree")
    root = tree.topLevelItem(0)
    book = root.child(0)
    assert [root.text(0), book.text(0), book.text(1), book.text(2)] == ["library", "book", "6,401", "yes"]
    assert book.font(0).bold()  # the detected record path
    assert child(dialog, QLabel, "recordPathLabel").text() == "Record path (detected): /library/book"
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(book.child(0)).center())
    assert child(dialog, QLabel, "recordPathLabel").text() == "Record path (picked): /library/book/title"
    assert dialog.findChildren(QCheckBox) == []  # formats are chosen where they act: at the export
    _, state, _ = convert_all(app, qtbot, dialog)
    assert state == "succeeded"
    assert [t.name for t in window.controller.session.tables] == ["LIBRARY"]
    table = window.controller.session.tables[0]
    assert table.rows == 6401 and table.record_path == "/library/book/title"
    window.format_actions["xlsx"].setChecked(False)
    window.format_actions["zip"].setChecked(True)

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    run_job(app, qtbot, window.action_export.trigger)
    (exported,) = out.iterdir()  # one ZIP, nothing else beside it
    assert exported.suffix == ".zip" and exported.name.startswith("alice ")
    with zipfile.ZipFile(exported) as archive:
        assert archive.namelist() == ["LIBRARY.csv"]
        assert archive.read("LIBRARY.csv").decode().splitlines()[1].startswith("library_1mb.xml,")


def test_rename_and_merge_groups(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    import_samples(app, qtbot, monkeypatch, DATA / "4_test-examples.zip", DATA / "library_1mb.xml")
    group_item(window, "LIBRARY").setSelected(True)
    group_item(window, "TEST-EXAMPLES").setSelected(True)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("  ALL  ", True))
    window.findChild(type(window.action_import), "actionMergeGroups").trigger()
    assert source_tree(window) == {"ALL": 9}
    saved = json.loads((window.controller.session.folder / "intake.json").read_text())
    assert {d["group"] for d in saved["documents"]} == {"ALL"}
    group_item(window, "ALL").setSelected(True)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Everything", True))
    with qtbot.waitActive(window):  # F2 renames while Sources has the focus (in the table it edits a cell)
        window.activateWindow()
    child(window, QTreeWidget, "groupsView").setFocus()
    qtbot.keyClick(child(window, QTreeWidget, "groupsView"), Qt.Key.Key_F2)
    assert source_tree(window) == {"Everything": 9}
    _, state, _ = convert_all(app, qtbot)
    assert state == "succeeded"
    assert all(t.group == "Everything" for t in window.controller.session.tables)


def test_dock_layout_is_remembered_per_user_outside_the_session(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    jobs_dock = child(window, QDockWidget, "jobsDock")
    assert jobs_dock.isVisible()
    jobs_dock.hide()
    folder = window.controller.session.folder
    window.action_sign_out.trigger()
    assert not folder.exists()
    assert (app.services.settings.config_dir / "window.ini").exists()
    sign_in(app, qtbot, "alice")
    assert window.isVisible() and not child(window, QDockWidget, "jobsDock").isVisible()


def test_column_widths_are_remembered_per_user_and_table(app, qtbot, monkeypatch):
    view, model = open_library_table(app, qtbot, monkeypatch)
    window = app.main_window
    view.horizontalHeader().resizeSection(2, 333)
    answer_question(SIGN_OUT_ANYWAY)
    window.action_sign_out.trigger()
    sign_in(app, qtbot, "alice")
    import_samples(app, qtbot, monkeypatch, DATA / "library_1mb.xml")
    convert_all(app, qtbot)
    assert child(window, QTableView, "tableView").horizontalHeader().sectionSize(2) == 333


def test_dropping_files_on_the_window_imports_them(app, qtbot):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(DATA / "4_test-examples.zip"))])
    position = QPointF(window.rect().center())
    enter = QDragEnterEvent(position.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    with qtbot.waitSignal(window.controller.runner.job_finished, timeout=60_000) as finished:
        QApplication.sendEvent(window, QDropEvent(position, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                                  Qt.KeyboardModifier.NoModifier))
    assert finished.args[1] == "succeeded"
    assert source_tree(window) == {"TEST-EXAMPLES": 8}
    assert re.fullmatch(r"\d\d:\d\d:\d\d  Import: succeeded( in \d+\.\d s)?",
                        child(window, QListWidget, "jobsView").item(0).text())


def test_remember_me_signs_in_at_the_next_start_until_an_explicit_sign_out(tmp_path, qtbot):
    keyring_file = PlaintextKeyring()
    keyring_file.file_path = str(tmp_path / "keyring.cfg")
    first = build_app(tmp_path / "data", keyring_backend=keyring_file)
    try:
        first.services.accounts.create_user("alice", PASSWORD)
        first.login_window.refresh()
        first.login_window.show()
        remember = child(first.login_window, QCheckBox, "rememberMe")
        assert remember.isVisibleTo(first.login_window)
        remember.setChecked(True)
        sign_in(first, qtbot, "alice")
        assert first.main_window.controller.session is not None
    finally:
        first.close()  # quitting keeps the token

    second = build_app(tmp_path / "data", keyring_backend=keyring_file)
    try:
        assert second.controller.sign_in_remembered()
        assert second.main_window.isVisible() and second.main_window.controller.session.user_name == "alice"
        second.main_window.action_sign_out.trigger()  # an explicit sign-out forgets it
        assert second.login_window.isVisible()
    finally:
        second.close()

    third = build_app(tmp_path / "data", keyring_backend=keyring_file)
    try:
        assert not third.controller.sign_in_remembered()
    finally:
        third.close()


def test_remember_me_is_hidden_with_a_reason_without_a_keyring(app):
    app.services.accounts.create_user("alice", PASSWORD)
    app.login_window.refresh()
    assert not child(app.login_window, QCheckBox, "rememberMe").isVisibleTo(app.login_window)
    reason = child(app.login_window, QLabel, "rememberMeReason")
    assert reason.isVisibleTo(app.login_window) and reason.text().startswith("Remember me needs the system's password")


HOLD_LOCK = textwrap.dedent("""
    import sys
    from pathlib import Path
    from PySide6.QtCore import QLockFile
    lock = QLockFile(str(Path(sys.argv[1]) / "ret-desktop.lock"))
    assert lock.tryLock(100)
    print("locked", flush=True)
    sys.stdin.readline()
""")


def test_a_second_copy_on_the_same_data_folder_is_refused(tmp_path, qapp, monkeypatch):
    from ret_desktop.app import main as run_app
    from ret_desktop.core.config import load_settings

    settings = load_settings({"RET_DATA_DIR": str(tmp_path / "data")})
    settings.data_dir.mkdir(parents=True)
    first = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(settings.data_dir)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "locked"
        shown = []
        monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append(text))
        assert run_app(settings) == 2
        assert shown == [f"RET Desktop is already running for this data folder.\n({settings.data_dir})"]
    finally:
        first.communicate("\n", timeout=30)


def open_library_table(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    import_samples(app, qtbot, monkeypatch, DATA / "library_1mb.xml")
    convert_all(app, qtbot)
    with qtbot.waitActive(app.main_window):  # keys reach shortcuts through the focused widget
        app.main_window.activateWindow()
    view = child(app.main_window, QTableView, "tableView")
    view.setFocus()
    return view, view.model()


def action(window, name):
    found = window.findChild(QAction, name)
    assert found is not None, name
    return found


def test_typing_enter_tab_delete_undo_and_redo_through_the_table(app, qtbot, monkeypatch):
    view, model = open_library_table(app, qtbot, monkeypatch)
    window = app.main_window
    title = model.columns.index("title")
    view.setFocus()
    view.setCurrentIndex(model.index(0, title))
    qtbot.keyClick(view, "0")  # typing over a selected cell starts an edit
    editor = view.focusWidget()
    assert isinstance(editor, QLineEdit) and editor.text() == "0"
    qtbot.keyClicks(editor, "07")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # stores it and moves down
    assert model.index(0, title).data() == "007" and view.currentIndex().row() == 1
    qtbot.keyClick(view, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert view.currentIndex().row() == 0
    qtbot.keyClick(view, "x")
    qtbot.keyClick(view.focusWidget(), Qt.Key.Key_Tab)  # stores it and moves right
    assert model.index(0, title).data() == "x" and view.currentIndex().column() == title + 1
    qtbot.keyClick(view.focusWidget(), Qt.Key.Key_Escape)
    qtbot.keyClick(view, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert view.currentIndex().column() == title
    model.setData(model.index(0, title), "007")
    view.setCurrentIndex(model.index(2, title))
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert model.index(2, title).data() == ""
    assert model.setData(model.index(3, title), "set through the model")
    journal = window.controller.read_workbook.journal()
    assert [(e.row_id, e.column, e.new) for e in journal] == [
        (1, "title", "007"), (1, "title", "x"), (1, "title", "007"), (3, "title", None),
        (4, "title", "set through the model")]
    action(window, "actionUndo").trigger()
    action(window, "actionUndo").trigger()
    assert model.index(2, title).data() == "Sint sequi totam sunt." and model.index(3, title).data() != "set through the model"
    action(window, "actionRedo").trigger()
    assert model.index(2, title).data() == ""
    assert window.controller.session.edited


def test_sorted_view_edits_the_right_stored_row(app, qtbot, monkeypatch):
    view, model = open_library_table(app, qtbot, monkeypatch)
    title = model.columns.index("title")
    with qtbot.waitSignal(model.rows_reordered):
        view.horizontalHeader().setSortIndicator(title, Qt.SortOrder.DescendingOrder)
    stored = model.row_id(0)
    model.setData(model.index(0, title), "changed")
    assert app.main_window.controller.read_workbook.rows_for_ids("LIBRARY", [stored])[stored][title] == "changed"


def test_paste_fill_down_insert_and_delete_rows_are_one_step_each(app, qtbot, monkeypatch):
    view, model = open_library_table(app, qtbot, monkeypatch)
    window = app.main_window
    author = model.columns.index("author")
    QApplication.clipboard().setText("a1\tb1\na2\tb2\na3\tb3\n")
    view.setFocus()
    view.setCurrentIndex(model.index(0, author))
    qtbot.keyClick(view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert [[model.index(r, author + c).data() for c in range(2)] for r in range(3)] == [
        ["a1", "b1"], ["a2", "b2"], ["a3", "b3"]]
    view.selectionModel().select(QItemSelection(model.index(1, author), model.index(2, author + 1)),
                                 QItemSelectionModel.SelectionFlag.ClearAndSelect)
    QApplication.clipboard().clear()
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.clipboard().text() == "a2\tb2\na3\tb3\n"  # a spreadsheet pastes this as it was
    view.selectionModel().clearSelection()
    for row in range(3, 6):
        view.selectionModel().select(model.index(row, author), QItemSelectionModel.SelectionFlag.Select)
    view.setCurrentIndex(model.index(3, author))
    view.selectionModel().select(model.index(3, author), QItemSelectionModel.SelectionFlag.Select)
    for row in range(3, 6):
        view.selectionModel().select(model.index(row, author), QItemSelectionModel.SelectionFlag.Select)
    qtbot.keyClick(view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    filled = model.index(3, author).data()
    assert [model.index(r, author).data() for r in range(3, 6)] == [filled] * 3
    view.setCurrentIndex(model.index(0, 0))
    qtbot.keyClick(view, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert model.rowCount() == 6402 and model.index(1, author).data() == "" and view.currentIndex().row() == 1
    assert child(window, QListWidget, "tablesView").currentItem().text() == "LIBRARY  (6,402 × 7)"
    view.selectionModel().select(model.index(1, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    action(window, "actionDeleteRows").trigger()
    assert model.rowCount() == 6401
    for _ in range(3):  # delete, insert, fill
        action(window, "actionUndo").trigger()
    qtbot.waitUntil(lambda: not model.busy)
    assert model.rowCount() == 6401
    assert [model.index(r, author).data() for r in range(3)] == ["a1", "a2", "a3"]
    action(window, "actionUndo").trigger()  # the whole paste at once
    qtbot.waitUntil(lambda: not model.busy)
    assert model.index(0, author).data() == "Norma Haley"
    last = model.rowCount() - 1
    QApplication.clipboard().setText("a1\tb1\na2\tb2\na3\tb3\n")
    view.setCurrentIndex(model.index(last, author))
    qtbot.keyClick(view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)  # past the end: rows are added
    assert model.rowCount() == 6403 and model.index(last + 2, author + 1).data() == "b3"
    action(window, "actionUndo").trigger()  # rows and cells: one step
    qtbot.waitUntil(lambda: not model.busy)
    assert model.rowCount() == 6401
    last_column = len(model.columns) - 1
    QApplication.clipboard().setText("x1\ty1\tz1\nx2\ty2\tz2\n")  # wider than what is left of the table
    view.setCurrentIndex(model.index(0, last_column))
    qtbot.keyClick(view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert [model.index(r, last_column).data() for r in range(2)] == ["x1", "x2"]
    assert window.statusBar().currentMessage() == (
        "Pasted 2 cells; 4 cells past the last column were left out (add columns first to keep them).")


def test_columns_new_table_and_patch_log(app, qtbot, monkeypatch, tmp_path):
    view, model = open_library_table(app, qtbot, monkeypatch)
    window = app.main_window
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("checked", True))
    action(window, "actionAddColumn").trigger()
    assert model.columns[-1] == "checked"
    view.setCurrentIndex(model.index(0, len(model.columns) - 1))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("verified", True))
    action(window, "actionRenameColumn").trigger()
    assert model.columns[-1] == "verified"
    model.setData(model.index(0, len(model.columns) - 1), "yes")
    answers = iter([("Notes", True), ("when, what", True)])
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: next(answers))
    action(window, "actionNewTable").trigger()
    notes = view.model()
    assert notes.table == "Notes" and notes.columns == ["when", "what"] and notes.rowCount() == 0
    assert "Notes" in [child(window, QListWidget, "tablesView").item(i).data(Qt.ItemDataRole.UserRole)
                       for i in range(child(window, QListWidget, "tablesView").count())]
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert notes.rowCount() == 1
    notes.setData(notes.index(0, 1), "a note")
    patch = tmp_path / "patch.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(patch), ""))
    action(window, "actionExportPatchLog").trigger()
    lines = patch.read_text().splitlines()
    assert [line.split(",")[-1] for line in lines[1:]] == [
        "add_column", "rename_column", "cell", "create_table", "insert", "cell"]
    out = tmp_path / "out"
    out.mkdir()
    window.export_to(out, ("csv",), ["LIBRARY"])  # the columns as edited
    qtbot.waitUntil(lambda: not window.controller.runner.busy)
    header, first = (out / "LIBRARY.csv").read_text().splitlines()[:2]
    assert header.endswith(",verified") and first.endswith(",yes")
    action(window, "actionUndo").trigger()
    action(window, "actionUndo").trigger()
    action(window, "actionUndo").trigger()  # the new table goes again
    assert view.model().table == "LIBRARY"
    assert "Notes" not in window.controller.read_workbook.table_names()


def test_sign_out_with_edits_asks_to_export_discard_or_cancel(app, qtbot, monkeypatch, tmp_path):
    view, model = open_library_table(app, qtbot, monkeypatch)
    window = app.main_window
    folder = window.controller.session.folder
    model.setData(model.index(0, 2), "edited")
    asked = []
    answer_question("Cancel", asked)
    window.action_sign_out.trigger()
    assert folder.exists() and asked[-1].startswith("You have edits that are not exported.")
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    answer_question("Export…")
    with qtbot.waitSignal(window.controller.runner.job_finished, timeout=60_000):
        window.action_sign_out.trigger()
    qtbot.waitUntil(lambda: not folder.exists())
    assert (out / "LIBRARY.csv").read_text().splitlines()[1].split(",")[2] == "edited"
    assert app.login_window.isVisible()


def test_the_sign_out_question_has_buttons_that_say_what_they_do(app, qtbot, monkeypatch):
    view, model = open_library_table(app, qtbot, monkeypatch)
    window = app.main_window
    model.setData(model.index(0, 2), "edited")
    seen = []

    def look():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, look)
            return
        seen.extend((button.text(), box.buttonRole(button)) for button in box.buttons())
        seen.append(("default", box.defaultButton().text()))
        seen.append(("escape", box.escapeButton().text()))
        box.escapeButton().click()  # Escape: nothing happens

    QTimer.singleShot(0, look)
    window.action_sign_out.trigger()
    role = QMessageBox.ButtonRole
    assert sorted(seen[:3]) == sorted([("Export…", role.AcceptRole), (SIGN_OUT_ANYWAY, role.DestructiveRole),
                                       ("Cancel", role.RejectRole)])
    assert seen[3:] == [("default", "Export…"), ("escape", "Cancel")]
    assert window.controller.session is not None and window.isVisible()
    answer_question(SIGN_OUT_ANYWAY)
    window.action_sign_out.trigger()
    assert window.controller.session is None and app.login_window.isVisible()


EDIT_IN_THE_APP_THEN_DIE = textwrap.dedent("""
    import os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from pathlib import Path
    from PySide6.QtCore import QCoreApplication
    from ret_desktop.app import build_app

    def wait_for(condition):
        while not condition():
            QCoreApplication.processEvents()
            time.sleep(0.01)

    app = build_app(sys.argv[1], keyring_backend=None)
    user = app.services.accounts.create_user("alice", "a long password 1")
    app.controller.start_session(user)
    window = app.main_window
    finished = []
    window.controller.runner.job_finished.connect(lambda *args: finished.append(args))
    window.import_paths([Path(sys.argv[2])])
    wait_for(lambda: len(finished) == 1)
    window.convert()
    wait_for(lambda: len(finished) == 2)
    model = window.tables.table_view.model()
    title = model.columns.index("title")
    for row in range(50):
        assert model.setData(model.index(row, title), f"edit {row}")
    model.insert_rows(0)
    assert model.setData(model.index(1, title), "inserted")
    print("edited", flush=True)
    sys.stdin.readline()  # killed here: nothing closed, nothing flushed by hand
""")


def test_every_edit_is_there_after_the_app_is_killed_and_the_session_resumed(app, qtbot, monkeypatch):
    data_dir = app.services.settings.data_dir
    child_app = subprocess.Popen([sys.executable, "-c", EDIT_IN_THE_APP_THEN_DIE, str(data_dir),
                                  str(DATA / "library_1mb.xml")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert child_app.stdout.readline().strip() == "edited"
    finally:
        child_app.send_signal(signal.SIGKILL)
        child_app.wait(timeout=30)
    app.login_window.refresh()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    sign_in(app, qtbot, "alice")
    window = app.main_window
    model = child(window, QTableView, "tableView").model()
    title = model.columns.index("title")
    assert model.rowCount() == 6402
    assert model.index(0, title).data() == "edit 0" and model.index(1, title).data() == "inserted"
    assert [model.index(row, title).data() for row in range(2, 51)] == [f"edit {n}" for n in range(1, 50)]
    assert len(window.controller.read_workbook.journal()) == 52 and window.controller.session.edited
    past = [child(window, QListWidget, "jobsView").item(i).text()
            for i in range(child(window, QListWidget, "jobsView").count())]
    assert any(text.endswith("Convert: succeeded") or "Convert: succeeded in" in text for text in past), past


def test_search_all_tables_follows_edits_and_activating_a_hit_selects_its_cell(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    import_samples(app, qtbot, monkeypatch, DATA / "library_1mb.xml", DATA / "4_test-examples.zip")
    convert_all(app, qtbot)  # waits for the index job too
    assert (window.controller.session.folder / "ai_index" / "search.sqlite").exists()
    with qtbot.waitActive(window):
        window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    box = child(window, QLineEdit, "searchBox")
    assert box.hasFocus()
    results = child(window, QTreeWidget, "searchResults")
    box.setText("Velit eius rerum")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    found = [(results.topLevelItem(i).text(0), results.topLevelItem(i).text(2), results.topLevelItem(i).text(3))
             for i in range(results.topLevelItemCount())]
    assert ("LIBRARY", "title", "Velit eius rerum aliquam est.") in found
    box.setText("Haley")  # a word from an author
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert results.topLevelItemCount() >= 1

    view = child(window, QTableView, "tableView")
    tables = window.tables.tables_view
    names = [tables.item(i).data(Qt.ItemDataRole.UserRole) for i in range(tables.count())]
    window.tables.tables_view.setCurrentRow(names.index("LIBRARY"))
    model = view.model()
    model.setData(model.index(41, model.columns.index("genre")), "quixotic")  # the index follows the edit
    box.setText("quixotic")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert results.topLevelItemCount() == 1
    window.tables.tables_view.setCurrentRow(0 if names[0] != "LIBRARY" else 1)  # another table on screen
    item = results.topLevelItem(0)
    results.itemActivated.emit(item, 0)
    qtbot.waitUntil(lambda: view.model().table == "LIBRARY" and not view.model().busy)  # it sorts first
    assert (view.currentIndex().row(), view.currentIndex().column()) == (41, view.model().columns.index("genre"))
    window.findChild(QAction, "actionUndo").trigger()
    box.setText("quixotic")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert results.topLevelItemCount() == 0


def test_column_profile_draws_bars_follows_edits_and_filters_on_a_click(app, qtbot, monkeypatch):
    view, model = open_library_table(app, qtbot, monkeypatch)
    window = app.main_window
    panel = child(window, QScrollArea, "columnProfile")
    qtbot.waitUntil(lambda: bool(panel.profiles) and not panel.busy, timeout=30_000)
    genre = next(p for p in panel.profiles if p.column == "genre")
    assert genre.rows == 6401 and genre.filled == 6401 and 0 < genre.distinct < 6401
    top_value, top_count = genre.frequent[0]
    bars = [bar for bar in panel.widget().findChildren(ValueBar) if bar.text.endswith(f"× {top_value}")]
    assert bars and bars[0].share == pytest.approx(top_count / 6401)
    assert not bars[0].grab().isNull()  # a picture: it paints
    with qtbot.waitSignal(model.rows_reordered):
        qtbot.mouseClick(bars[0], Qt.MouseButton.LeftButton)
    assert child(window, QLineEdit, "filterBox").text() == f"genre = {top_value}"
    assert model.rowCount() == top_count
    column = model.columns.index("genre")
    assert {model.index(r, column).data() for r in range(model.rowCount())} == {top_value}
    model.setData(model.index(0, column), "zzz-unique")  # the profile is worked out again after edits
    qtbot.waitUntil(lambda: [p.distinct for p in panel.profiles if p.column == "genre"] == [genre.distinct + 1],
                    timeout=30_000)


def test_converting_again_over_edited_tables_asks_first(app, qtbot, monkeypatch):
    view, model = open_library_table(app, qtbot, monkeypatch)
    window = app.main_window
    model.setData(model.index(0, 2), "edited")
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    assert window.convert() is None
    assert asked == ["Converting again replaces LIBRARY, and the edits made to it are lost. Convert anyway?"]
    assert window.controller.read_workbook.rows_for_ids("LIBRARY", [1])[1][2] == "edited"


def test_an_edit_while_a_job_writes_the_workbook_is_refused_with_a_reason(app, qtbot, monkeypatch):
    view, model = open_library_table(app, qtbot, monkeypatch)
    window = app.main_window
    blocker = sqlite3.connect(window.controller.session.folder / "workbook.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # as a conversion job holds it
    try:
        assert not model.setData(model.index(0, 2), "blocked")
        assert window.statusBar().currentMessage() == \
            "Not changed: a job is writing the tables; try again when it has ended."
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert model.setData(model.index(0, 2), "now it works") and model.index(0, 2).data() == "now it works"


def test_undo_recounts_the_rows_of_the_table_it_changed_only(app, qtbot, monkeypatch):
    view, model = open_library_table(app, qtbot, monkeypatch)
    window = app.main_window
    workbook = window.controller.read_workbook
    workbook.create_table("Notes", ["note"])
    window.controller.change_table("Notes")
    window.tables.tables_view.setCurrentRow(0)
    model = view.model()
    assert model.table == "LIBRARY"
    rows = model.rowCount()
    action(window, "actionAppendRow").trigger()
    labels = [window.tables.tables_view.item(i).text() for i in range(window.tables.tables_view.count())]
    assert labels == [f"LIBRARY  ({rows + 1:,} × {len(model.columns)})", "Notes  (0 × 1)"]
    statements = []
    workbook._conn.set_trace_callback(statements.append)  # the SQL the undo runs, to see what it counts
    try:
        action(window, "actionUndo").trigger()
    finally:
        workbook._conn.set_trace_callback(None)
    counted = [s for s in statements if "COUNT(*)" in s]
    assert counted and all(f"FROM t{workbook._table('LIBRARY')[0]}" in s for s in counted)
    labels = [window.tables.tables_view.item(i).text() for i in range(window.tables.tables_view.count())]
    assert labels == [f"LIBRARY  ({rows:,} × {len(model.columns)})", "Notes  (0 × 1)"]
