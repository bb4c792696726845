"""Issue 10 §4: after import, convert, edit, a failed job and sign-out in the window, no file under the
data folder holds a value, file name, archive entry name or table name of the session: not the log,
not the job records, not window.ini, not the cache database and its WAL."""

import io
import logging
import zipfile
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QListWidget, QTableView

from ret_desktop.app import build_app
from ret_desktop.core.jobs import JobState
from ret_desktop.core.logs import configure_logging
from test_gui import SIGN_OUT_ANYWAY, answer_question, child, create_admin_and_sign_in, run_job

# Words that only this session's inputs and edits contain: every name and value is built from them.
ARCHIVE_WORD, FOLDER_WORD, ENTRY_WORD, LOOSE_WORD, VALUE_WORD, EDIT_WORD = (
    "Quokkaledger", "Zephyrfolder", "Marmosetentry", "Narwhalloose", "Ocelotvalue", "Wombatedit")
WORDS = (ARCHIVE_WORD, FOLDER_WORD, ENTRY_WORD, LOOSE_WORD, VALUE_WORD, EDIT_WORD)
CACHE_FILES = ("ret_session.db", "ret_session.db-wal", "ret_session.db-shm")


def _records(word: str, count: int) -> bytes:
    items = "".join(f"<item><title>{word} {i}</title><code>{word}-{i:03d}</code></item>" for i in range(count))
    return f"<?xml version='1.0'?><catalog>{items}</catalog>".encode()


def make_inputs(folder: Path) -> list[Path]:
    archive = folder / f"{ARCHIVE_WORD}-2024.zip"
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as nested:
        nested.writestr(f"{ENTRY_WORD}-inner.xml", _records(VALUE_WORD, 5))
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{FOLDER_WORD}/{ENTRY_WORD}-a.xml", _records(VALUE_WORD, 20))
        zf.writestr(f"{FOLDER_WORD}/{ENTRY_WORD}-nested.zip", inner.getvalue())
        zf.writestr(f"{FOLDER_WORD}/{ENTRY_WORD}-notes.txt", f"{VALUE_WORD} is not XML")
    loose = folder / f"{LOOSE_WORD}-catalog.xml"
    loose.write_bytes(_records(VALUE_WORD, 3))
    return [archive, loose]


def traces(data_dir: Path, names: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """Every file under ``data_dir`` (or only those named ``names``) that holds one of the session's
    words, in any letter case, as UTF-8 or UTF-16 -> the words found."""
    found = {}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        if names is not None and path.name not in names:
            continue
        data = path.read_bytes().lower()
        hits = [w for w in WORDS if any(w.lower().encode(codec) in data for codec in ("utf-8", "utf-16-le",
                                                                                        "utf-16-be"))]
        if hits:
            found[str(path.relative_to(data_dir))] = hits
    return found


@pytest.fixture
def app(tmp_path, qtbot):
    built = build_app(tmp_path / "data", keyring_backend=None)
    configure_logging(built.services.settings.log_dir)  # as `ret-desktop` does before opening the window
    built.login_window.show()
    yield built
    built.close()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_ret_desktop", False)]:
        root.removeHandler(handler)
        handler.close()


@pytest.fixture
def signed_out(app, qtbot, monkeypatch, tmp_path):
    """The whole flow in the window, up to the sign-out; the app still runs."""
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    session_id = window.controller.session.info.session_id
    legacy = QSettings(str(app.services.settings.config_dir / "window.ini"), QSettings.Format.IniFormat)
    legacy.setValue(f"alice/columns/{ARCHIVE_WORD}-2023.item", b"\0")  # as earlier versions kept view state
    legacy.sync()
    inputs = make_inputs(tmp_path)
    _, state, error = run_job(app, qtbot, lambda: window.import_paths(inputs))
    assert (state, error) == ("succeeded", "")

    _, state, _ = run_job(app, qtbot, window.action_convert.trigger)
    dialog = child(window, QDialog, "convertDialog")
    _, state, error = run_job(app, qtbot, child(dialog, QDialogButtonBox, "convertButtons")
                              .button(QDialogButtonBox.StandardButton.Ok).click)
    assert (state, error) == ("succeeded", "")
    tables = child(window, QListWidget, "tablesView")
    names = [tables.item(i).data(Qt.ItemDataRole.UserRole) for i in range(tables.count())]
    assert any(ARCHIVE_WORD.lower() in n.lower() for n in names) and any(LOOSE_WORD.lower() in n.lower()
                                                                        for n in names), names
    for row in range(len(names)):  # each table's view state is saved when another table is shown
        tables.setCurrentRow(row)
        view = child(window, QTableView, "tableView")
        view.horizontalHeader().resizeSection(2, 140 + row)
        model = view.model()
        assert model.setData(model.index(0, 2), f"{EDIT_WORD} {row}")

    # An export that fails: a folder stands where a table's CSV file should go. The error names the
    # table; the window shows it, the log and the job record must not.
    out = tmp_path / "out"
    (out / f"{names[0]}.csv").mkdir(parents=True)
    job_id, state, error = run_job(app, qtbot, lambda: window.export_to(out, ("csv",)))
    assert state == "failed" and names[0] in error
    assert names[0] in window.statusBar().currentMessage()  # the detail, in memory
    assert names[0] in window.jobs.jobs_view.item(0).text()

    answer_question(SIGN_OUT_ANYWAY)
    window.action_sign_out.trigger()
    assert window.controller.session is None and app.login_window.isVisible()
    for handler in logging.getLogger().handlers:
        handler.flush()
    return app, job_id, session_id


def test_sign_out_leaves_no_name_or_value_in_any_file_of_the_data_folder(signed_out):
    app, failed_job, _session_id = signed_out
    record = app.services.jobs.get(failed_job)
    assert record.state is JobState.FAILED and record.error.startswith("IsADirectoryError")  # what, not which
    log = (app.services.settings.log_dir / "ret-desktop.log").read_text(encoding="utf-8")
    assert "IsADirectoryError" in log and "export.py" in log  # the failure is logged: type and code locations
    data_dir = app.services.settings.data_dir
    assert {name for name in CACHE_FILES if (app.services.settings.session_db.parent / name).exists()}
    assert traces(data_dir) == {}  # the cache database and its WAL included


def test_the_wiped_cache_rows_of_the_session_are_not_readable_in_the_cache_files(signed_out):
    app, _failed_job, session_id = signed_out
    key = f"session:{session_id}:".encode()
    folder = app.services.settings.session_db.parent

    def holding() -> list[str]:
        return [name for name in CACHE_FILES if (folder / name).exists() and key in (folder / name).read_bytes()]

    assert holding() == []  # while the app runs
    app.services.close()
    assert holding() == []  # and once it has closed its databases
