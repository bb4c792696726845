"""The window after the account database was damaged or emptied (issue 10 §2), offscreen."""

import pytest
from PySide6.QtWidgets import QMessageBox

from ret_desktop.app import build_app
from ret_desktop.core.config import load_settings
from ret_desktop.core.services import open_services

PASSWORD = "a long password 1"


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    with open_services(load_settings({"RET_DATA_DIR": str(folder)}), keyring_backend=None) as services:
        services.accounts.create_user("admin", PASSWORD)
    return folder


@pytest.mark.parametrize("content", [b"", b"garbage, not SQLite " * 500], ids=["emptied", "garbage"])
def test_a_damaged_account_database_shows_a_dialog_and_no_setup(data_dir, qtbot, content):
    (data_dir / "ret_app.db").write_bytes(content)
    for suffix in ("-wal", "-shm"):
        (data_dir / f"ret_app.db{suffix}").unlink(missing_ok=True)
    app = build_app(data_dir, keyring_backend=None)
    try:
        app.login_window.show()
        dialog = app.damage_dialog
        qtbot.waitUntil(dialog.isVisible)
        assert isinstance(dialog, QMessageBox) and dialog.isModal()
        moved = next(data_dir.glob("ret_app.db.corrupt-*"))
        assert moved.read_bytes() == content
        assert str(moved) in dialog.text() and "users add NAME --role admin" in dialog.text()
        login = app.login_window
        assert login.pages.currentIndex() == 1  # the sign-in page: anyone at the keyboard is no administrator
        assert "no first-start setup" in login.message.text()
        dialog.accept()
    finally:
        app.close()
    app = build_app(data_dir, keyring_backend=None)  # the next start: no dialog, still no setup
    try:
        assert app.damage_dialog is None
        assert app.login_window.pages.currentIndex() == 1
    finally:
        app.close()


def test_a_folder_that_never_had_accounts_offers_setup(tmp_path, qtbot):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ret_app.db").write_bytes(b"")
    app = build_app(tmp_path / "data", keyring_backend=None)
    try:
        assert app.damage_dialog is None and app.login_window.pages.currentIndex() == 0
    finally:
        app.close()
