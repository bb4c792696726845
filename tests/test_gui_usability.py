"""Issue 15, the usability pass: what a new user tripped on, each point checked through the real
widgets (offscreen), with real sessions, workbooks, jobs and exports."""

import csv
import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel, QLineEdit, QScrollArea, QTableView, QTreeWidget

from ret_desktop.app import build_app
from ret_desktop.core.text import counted
from ret_desktop.gui.login import HINT_WIDTH, NO_KEYRING
from ret_desktop.gui.profile_panel import ValueBar
from test_gui import (
    DATA,
    PASSWORD,
    SIGN_OUT_ANYWAY,
    action,
    answer_question,
    child,
    convert_all,
    create_admin_and_sign_in,
    import_samples,
    open_convert_dialog,
    open_library_table,
    run_job,
    sign_in,
)


def library_xml(path: Path, books: int, title=lambda n: f"Title {n}") -> Path:
    """A generated ``/library/book`` document of ``books`` records."""
    with open(path, "w", encoding="utf-8") as out:
        out.write("<?xml version='1.0'?>\n<library>\n")
        for n in range(books):
            out.write(f"<book><title>{title(n)}</title><author>Author {n % 97}</author>"
                      f"<note>{'x' * 200}</note></book>\n")
        out.write("</library>\n")
    return path


def status(window) -> str:
    return window.statusBar().currentMessage()


# -- 1. names show their distinguishing part -----------------------------------------------------

def test_sources_show_names_whole_and_skip_reasons_in_full_on_a_detail_line(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    window.resize(1600, 1000)
    window.show()
    import_samples(app, qtbot, monkeypatch, DATA / "test-examples_1.zip")
    tree = child(window, QTreeWidget, "groupsView")
    assert tree.textElideMode() == Qt.TextElideMode.ElideLeft  # the end of a file name tells them apart
    qtbot.waitUntil(lambda: tree.header().sectionSize(0) >= tree.sizeHintForColumn(0))  # the dock was widened
    top = {tree.topLevelItem(i).text(0): tree.topLevelItem(i) for i in range(tree.topLevelItemCount())}
    assert top["TEST-EXAMPLES_1"].text(1) == "13 documents"
    skipped = top["Skipped"]
    assert skipped.text(1) == "1 entry"
    entry = skipped.child(0)
    assert entry.text(1) == "skipped" and entry.isExpanded()
    detail = entry.child(0)
    assert detail.text(0) == "RAR archives are not supported (only ZIP)"
    assert tree.isFirstColumnSpanned(tree.indexFromItem(detail).row(), tree.indexFromItem(entry))
    assert tree.wordWrap()
    assert tree.visualItemRect(detail).width() > tree.header().sectionSize(0)  # across both columns


def test_a_column_header_shows_the_leaf_over_its_path_and_the_whole_name_in_its_tooltip(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    import_samples(app, qtbot, monkeypatch, DATA / "test-examples_1.zip")
    convert_all(app, qtbot)
    model = child(window, QTableView, "tableView").model()
    columns = model.columns
    nested = next(i for i, name in enumerate(columns) if name.count("/") >= 2)
    name = columns[nested]
    above, _, leaf = name.rpartition("/")
    assert model.headerData(nested, Qt.Orientation.Horizontal) == f"{leaf}\n{above}"
    assert model.headerData(nested, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) == name
    assert model.headerData(columns.index("_file"), Qt.Orientation.Horizontal) == "_file"
    header = child(window, QTableView, "tableView").horizontalHeader()
    assert header._lines(nested) == (leaf, above)  # painted as two lines, each elided at its own side
    metrics = header.fontMetrics()
    assert header.height() >= 2 * metrics.height()
    assert header.sectionSize(nested) > metrics.horizontalAdvance(leaf)  # sized to its content on first show
    assert header.sectionSize(columns.index("_file")) > metrics.horizontalAdvance("_file")


def test_search_results_keep_the_end_of_a_column_path_and_show_whole_table_names(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    import_samples(app, qtbot, monkeypatch, DATA / "test-examples_1.zip")
    convert_all(app, qtbot)
    window.search.box.setText("crossref")
    hits = window.search.run()
    results = child(window, QTreeWidget, "searchResults")
    assert hits and results.textElideMode() == Qt.TextElideMode.ElideLeft
    widest = max(results.fontMetrics().horizontalAdvance(hit.table) for hit in hits)
    assert results.header().sectionSize(0) >= widest  # two tables are never both "TEST-EXAMPL…"
    first = results.topLevelItem(0)
    assert first.toolTip(2) == hits[0].column and first.toolTip(0) == hits[0].table


# -- 2. the column profile fits any width ----------------------------------------------------------

def test_the_column_profile_fits_a_narrow_panel_without_clipping(app, qtbot, monkeypatch):
    window = app.main_window
    open_library_table(app, qtbot, monkeypatch)
    panel = child(window, QScrollArea, "columnProfile")
    qtbot.waitUntil(lambda: bool(panel.profiles) and not panel.busy, timeout=30_000)
    window.resizeDocks([window.profile_dock], [150], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: panel.viewport().width() < 200)
    QApplication.processEvents()
    assert panel.horizontalScrollBar().maximum() == 0  # nothing hidden to the right
    assert panel.widget().width() <= panel.viewport().width()
    stats = [bar for bar in panel.widget().findChildren(ValueBar) if bar.wrap]
    assert stats and stats[0].text == "6,401/6,401 filled · 1 distinct"  # _file
    for bar in stats:  # the whole text, wrapped within the bar
        assert bar._text_rect(bar.width()).height() <= bar.height()
        assert bar._text_rect(bar.width()).width() <= bar.width() - 8


# -- 3. a search result in another table selects its cell ------------------------------------------

def test_opening_a_search_result_in_another_table_selects_and_shows_its_cell(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    import_samples(app, qtbot, monkeypatch, DATA / "library_1mb.xml", DATA / "test-examples_1.zip")
    convert_all(app, qtbot)
    view = child(window, QTableView, "tableView")
    tables = window.tables.tables_view
    names = [tables.item(i).data(Qt.ItemDataRole.UserRole) for i in range(tables.count())]
    tables.setCurrentRow(names.index(next(n for n in names if n != "LIBRARY")))  # another table on screen
    qtbot.waitUntil(lambda: not view.model().busy)
    window.search.box.setText("Haley")
    hits = [hit for hit in window.search.run() if hit.table == "LIBRARY"]
    far = max(hits, key=lambda hit: hit.row_id)  # a row well below the first screen
    results = child(window, QTreeWidget, "searchResults")
    item = next(results.topLevelItem(i) for i in range(results.topLevelItemCount())
                if results.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == far)
    results.itemActivated.emit(item, 0)
    qtbot.waitUntil(lambda: view.model().table == "LIBRARY" and not view.model().busy)
    QApplication.processEvents()
    model = view.model()
    wanted = (model.view_row(far.row_id), model.columns.index(far.column))
    assert (view.currentIndex().row(), view.currentIndex().column()) == wanted
    assert [(i.row(), i.column()) for i in view.selectionModel().selectedIndexes()] == [wanted]
    assert view.viewport().rect().contains(view.visualRect(view.currentIndex()).center())  # scrolled to
    assert view.hasFocus() or QApplication.focusWidget() is None  # offscreen windows may not be active


# -- 4. the convert dialog says where its counts come from; formats live at the export ---------------

def test_convert_dialog_says_its_counts_are_from_the_first_2_mb(app, qtbot, monkeypatch, tmp_path):
    big = library_xml(tmp_path / "big_library.xml", 12_000)  # about 3.4 MB
    assert big.stat().st_size > 3 * 1024 * 1024
    create_admin_and_sign_in(app, qtbot)
    import_samples(app, qtbot, monkeypatch, big, DATA / "library_1mb.xml")
    dialog = open_convert_dialog(app, qtbot)
    groups = dialog.groups
    rows = {groups.item(i).data(Qt.ItemDataRole.UserRole): i for i in range(groups.count())}
    tree = child(dialog, QTreeWidget, "recordPathTree")
    sample = child(dialog, QLabel, "sampleLabel")

    groups.setCurrentRow(rows[next(group for group in rows if group != "LIBRARY")])
    book = tree.topLevelItem(0).child(0)
    seen = int(book.text(1).removeprefix("at least ").replace(",", ""))
    assert book.text(1).startswith("at least ") and 0 < seen < 12_000
    assert tree.topLevelItem(0).text(1) == "1"  # one root per document, however far it was read
    assert sample.isVisibleTo(dialog) and "first 2 MB of each document" in sample.text()

    groups.setCurrentRow(rows["LIBRARY"])  # read whole: exact counts, no note
    assert tree.topLevelItem(0).child(0).text(1) == "6,401" and not sample.isVisibleTo(dialog)


# -- 6. counted nouns ------------------------------------------------------------------------------

def test_counted_says_one_for_one_and_groups_thousands():
    assert counted(1, "entry", "entries") == "1 entry"
    assert counted(0, "entry", "entries") == "0 entries"
    assert counted(2, "document") == "2 documents"
    assert counted(12_000, "row") == "12,000 rows"
    assert counted(-1, "cell") == "-1 cells"


def test_window_messages_count_one_thing_in_the_singular(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    said = []
    window.controller.status_message.connect(said.append)
    import_samples(app, qtbot, monkeypatch, DATA / "library_1mb.xml")
    assert "Imported 1 document. Next: Convert (Ctrl+R)." in said
    convert_all(app, qtbot)
    assert "Converted 1 document into 1 table." in said
    window.controller.refresh_status("")
    entries = app.services.cache.stats()["entries"]
    assert child(window, QLabel, "statusCache").text() == f"cache: {counted(entries, 'entry', 'entries')}"
    assert child(window, QLabel, "statusSize").text() == "6,401 rows × 7 columns"


def test_the_command_line_counts_one_document_and_table_in_the_singular(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "ret_desktop", "convert", str(DATA / "library_1mb.xml"),
                             "--out", str(out), "--format", "csv"], capture_output=True, text=True,
                            env={**os.environ, "RET_DATA_DIR": str(tmp_path / "data")}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"1 document converted into 1 table in {out}\n")
    assert "  LIBRARY: 6,401 rows x 7 columns (LIBRARY.csv)" in result.stdout


# -- 7. errors look like errors --------------------------------------------------------------------

def reddish_pixels(label) -> int:
    image = label.grab().toImage()
    return sum(1 for x in range(image.width()) for y in range(image.height())
               if (c := image.pixelColor(x, y)).red() > c.green() + 80 and c.red() > c.blue() + 80)


def test_sign_in_errors_show_an_icon_and_the_error_colour_and_successes_do_not(app, qtbot):
    login = app.login_window
    child(login, QLineEdit, "setupUsername").setText("alice")
    child(login, QLineEdit, "setupPassword").setText(PASSWORD)
    child(login, QLineEdit, "setupConfirm").setText(PASSWORD + "x")
    login.setup_create.click()
    assert login.setup_message.tone == "error" and login.setup_message.text().startswith("The two passwords differ.")
    child(login, QLineEdit, "setupConfirm").setText(PASSWORD)
    login.setup_create.click()
    message = child(login, QLabel, "loginMessage")
    assert message.text() == "Account alice created. Sign in with it." and message.tone == "info"
    qtbot.waitExposed(login)
    created = reddish_pixels(message)
    sign_in(app, qtbot, "alice", "wrong password")
    assert message.text() == "Wrong user name or password." and message.tone == "error"
    assert message.property("tone") == "error" and message.contentsMargins().left() > 0  # room for the icon
    assert created == 0 and reddish_pixels(message) > 20  # the icon and the text in the error colour


def test_the_lock_page_and_settings_report_errors_in_the_error_style(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    window.lock()
    page = window.lock_page
    page.password.setText("not it")
    page.unlock_button.click()
    assert page.message.tone == "error" and page.message.text() == "Wrong password. Try again, or sign out instead."


# -- 8. the first-run window keeps its place ------------------------------------------------------

def test_the_first_run_window_keeps_its_size_and_place_as_the_strength_hint_changes(app, qtbot):
    login = app.login_window
    qtbot.waitExposed(login)
    login.move(200, 150)
    QApplication.processEvents()
    before = (login.pos(), login.size())
    hints = []
    for password in ("", "short", "abcdefghij", "abcdefghijklmnopq"):
        login.setup_password.setText(password)
        QApplication.processEvents()
        hints.append(login.setup_hint.text())
        assert (login.pos(), login.size()) == before, password
    assert len(set(hints)) == 3  # "At least…", "Fair: …", "Strong."
    assert login.setup_hint.wordWrap() and login.setup_hint.width() == HINT_WIDTH


# -- 9. remember me without a keyring, in plain words ----------------------------------------------

def test_without_a_keyring_remember_me_says_why_in_plain_words_and_logs_the_detail(tmp_path, qtbot, caplog):
    caplog.set_level(logging.INFO)
    built = build_app(tmp_path / "data", keyring_backend=None)
    try:
        built.services.accounts.create_user("alice", PASSWORD)
        built.login_window.refresh()
        reason = child(built.login_window, QLabel, "rememberMeReason")
        assert reason.text() == NO_KEYRING
        assert "Keyring" not in reason.text().replace("GNOME Keyring", "")  # no backend class names
        detail = built.services.accounts.remember_me_status()[1]
        assert detail and any(detail in r.getMessage() for r in caplog.records)
    finally:
        built.close()


# -- 10. small things ------------------------------------------------------------------------------

def test_after_sign_out_the_password_has_the_focus_under_the_filled_in_name(app, qtbot):
    create_admin_and_sign_in(app, qtbot)
    app.main_window.action_sign_out.trigger()  # nothing to export: no question
    login = app.login_window
    assert login.isVisible() and login.username.text() == "alice"
    assert login.focusWidget() is login.password


def test_undo_and_redo_are_enabled_only_when_there_is_a_step(app, qtbot, monkeypatch):
    view, model = open_library_table(app, qtbot, monkeypatch)
    window = app.main_window
    undo, redo = action(window, "actionUndo"), action(window, "actionRedo")
    assert not undo.isEnabled() and not redo.isEnabled()
    model.setData(model.index(0, 2), "edited")
    assert undo.isEnabled() and not redo.isEnabled()
    undo.trigger()
    assert not undo.isEnabled() and redo.isEnabled()
    redo.trigger()
    assert undo.isEnabled() and not redo.isEnabled()
    window.lock()
    window.unlock()  # the lock disables every action; unlocking gives Redo back its state
    assert undo.isEnabled() and not redo.isEnabled()


def test_the_export_folder_dialog_opens_in_documents_then_in_the_last_export_folder(app, qtbot, monkeypatch, tmp_path):
    view, model = open_library_table(app, qtbot, monkeypatch)
    window = app.main_window
    out = tmp_path / "exports"
    out.mkdir()
    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda parent, title, folder: asked.append(
        (title, folder)) or str(out))
    run_job(app, qtbot, window.action_export.trigger)
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    first = documents if Path(documents).is_dir() else str(Path.home())  # never the program's folder
    assert asked[0] == ("Export 1 table as CSV + XLSX: choose a folder", first) and first != str(Path.cwd())
    assert sorted(p.name for p in out.iterdir()) == ["LIBRARY.csv", "LIBRARY.xlsx"]
    answer_question(SIGN_OUT_ANYWAY)
    window.action_sign_out.trigger()
    sign_in(app, qtbot, "alice")  # remembered per user, beyond the session
    import_samples(app, qtbot, monkeypatch, DATA / "library_1mb.xml")
    convert_all(app, qtbot)
    run_job(app, qtbot, window.action_export.trigger)
    assert asked[1][1] == str(out)


def test_edited_cells_are_marked_with_their_original_value_until_export_or_undo(app, qtbot, monkeypatch, tmp_path):
    view, model = open_library_table(app, qtbot, monkeypatch)
    window = app.main_window
    title = model.columns.index("title")
    original = model.index(3, title).data()
    assert model.index(3, title).data(Qt.ItemDataRole.BackgroundRole) is None
    model.setData(model.index(3, title), "first")
    model.setData(model.index(3, title), "second")  # the original is the value before the first edit
    cell = model.index(3, title)
    assert cell.data(Qt.ItemDataRole.BackgroundRole) is not None
    assert cell.data(Qt.ItemDataRole.ToolTipRole) == f"second\n\nEdited, not exported yet. Before: “{original}”"
    assert model.index(4, title).data(Qt.ItemDataRole.BackgroundRole) is None
    assert model.index(3, title).data(Qt.ItemDataRole.ToolTipRole) != original
    action(window, "actionUndo").trigger()
    model = view.model()
    assert model.index(3, title).data() == "first" and model.index(3, title).data(Qt.ItemDataRole.BackgroundRole)
    action(window, "actionUndo").trigger()
    model = view.model()
    assert model.index(3, title).data() == original
    assert model.index(3, title).data(Qt.ItemDataRole.BackgroundRole) is None  # undone: no mark

    model.setData(model.index(5, title), "")
    assert model.index(5, title).data(Qt.ItemDataRole.BackgroundRole) is not None
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    run_job(app, qtbot, window.action_export.trigger)
    assert view.model().index(5, title).data(Qt.ItemDataRole.BackgroundRole) is None  # exported: no mark
    assert view.model().index(5, title).data(Qt.ItemDataRole.ToolTipRole) == ""
    view.model().setData(view.model().index(6, title), "after the export")
    assert view.model().index(6, title).data(Qt.ItemDataRole.BackgroundRole) is not None


def test_job_records_of_succeeded_jobs_say_done_equals_total(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot)
    import_samples(app, qtbot, monkeypatch, DATA / "library_1mb.xml", DATA / "test-examples_1.zip")
    convert_all(app, qtbot)
    records = app.services.jobs.list(app.main_window.controller.session.info.session_id)
    assert {r.kind for r in records} >= {"import", "read structure", "convert", "index for search"}
    assert all(r.state.value == "succeeded" and r.done == r.total and r.total > 0 for r in records), \
        [(r.kind, r.done, r.total) for r in records]


# -- the export step's CSV option ------------------------------------------------------------------

def test_the_raw_csv_option_writes_formulas_as_stored_and_is_remembered_per_user(app, qtbot, monkeypatch, tmp_path):
    formulas = library_xml(tmp_path / "formulas.xml", 3, title=lambda n: ["=1+2", "@SUM(A1)", "-5"][n])
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    import_samples(app, qtbot, monkeypatch, formulas)
    convert_all(app, qtbot)
    raw = action(window, "actionCsvRaw")
    assert raw.isCheckable() and not raw.isChecked()
    assert raw.text() == "Write CSV values exactly as stored (formulas not neutralised)"
    assert raw in window.action_export.menu().actions()

    def export(folder: Path) -> list[str]:
        folder.mkdir()
        monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
        _, state, error = run_job(app, qtbot, window.action_export.trigger)
        assert state == "succeeded", error
        (table,) = window.controller.session.tables
        with open(folder / table.files[0], newline="", encoding="utf-8") as handle:  # the name it was written under
            rows = list(csv.DictReader(handle))
        return [row["title"] for row in rows]

    assert export(tmp_path / "neutralised") == ["'=1+2", "'@SUM(A1)", "-5"]
    raw.setChecked(True)
    assert export(tmp_path / "raw") == ["=1+2", "@SUM(A1)", "-5"]

    window.action_sign_out.trigger()  # all exported: no question
    sign_in(app, qtbot, "alice")
    assert action(window, "actionCsvRaw").isChecked()  # remembered for alice
    app.services.accounts.create_user("bob", PASSWORD)
    window.action_sign_out.trigger()
    sign_in(app, qtbot, "bob")
    assert not action(window, "actionCsvRaw").isChecked()  # not for bob


def test_the_raw_csv_option_reaches_a_zip_export_and_the_patch_log(app, qtbot, monkeypatch, tmp_path):
    view, model = open_library_table(app, qtbot, monkeypatch)
    window = app.main_window
    model.setData(model.index(0, model.columns.index("title")), "=HYPERLINK(\"x\")")
    action(window, "actionCsvRaw").setChecked(True)
    window.format_actions["zip"].setChecked(True)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    run_job(app, qtbot, window.action_export.trigger)
    (archive,) = out.glob("*.zip")
    with zipfile.ZipFile(archive) as opened:
        assert opened.read("LIBRARY.csv").decode().splitlines()[1].split(",", 2)[2].startswith('"=HYPERLINK(')
    log = tmp_path / "patch.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(log), ""))
    action(window, "actionExportPatchLog").trigger()
    assert "=HYPERLINK" in log.read_text() and "'=HYPERLINK" not in log.read_text()
