"""Issue 13: the Users window (administrators), Change password (everyone, and the forced change after
a reset), and menus that offer a `user` no administrator's action."""

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
)

from ret_desktop.app import build_app
from ret_desktop.core.accounts import SignInError
from ret_desktop.core.roles import Actor, PermissionDenied
from ret_desktop.core.sessions import SessionManager
from test_gui import PASSWORD, child, create_admin_and_sign_in, sign_in


@pytest.fixture
def app(tmp_path, qtbot, keyring_file):
    built = build_app(tmp_path / "data", keyring_backend=keyring_file)
    built.login_window.show()
    yield built
    built.close()


def action(window, name):
    return window.findChild(QAction, name)


def table(window):
    view = child(window, QTableWidget, "usersView")
    return [[view.item(r, c).text() for c in range(view.columnCount())] for r in range(view.rowCount())]


def open_users(app):
    window = app.main_window
    action(window, "actionUsers").trigger()
    return child(window, QDialog, "usersWindow")


def select(users_window, name):
    users_window.select(name)
    assert users_window.selected().user.name == name


def sign_out(app, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    app.main_window.action_sign_out.trigger()
    assert app.login_window.isVisible()


def test_an_administrator_manages_accounts_in_the_users_window(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot, "ada")
    window = app.main_window
    assert all(action(window, n).isVisible() and action(window, n).isEnabled()
               for n in ("actionUsers", "actionAudit", "actionSettings", "actionChangePassword"))
    users = open_users(app)
    assert table(users) == [["ada", "administrator", "active", table(users)[0][3], "0", "0"]]
    assert table(users)[0][3] != "never"

    qtbot.mouseClick(child(users, QPushButton, "addUser"), Qt.MouseButton.LeftButton)
    add = child(users, QDialog, "addUserDialog")
    child(add, QLineEdit, "newUserName").setText("bob")
    for name in ("newUserPassword", "newUserConfirm"):
        child(add, QLineEdit, name).setText("short")
    ok = child(add, QDialogButtonBox, "addUserButtons").button(QDialogButtonBox.StandardButton.Ok)
    ok.click()
    assert add.isVisible() and child(add, QLabel, "addUserMessage").text() == "A password needs at least 8 characters."
    for name in ("newUserPassword", "newUserConfirm"):
        child(add, QLineEdit, name).setText(PASSWORD)
    assert child(add, QComboBox, "newUserRole").currentText() == "user"
    ok.click()
    assert not add.isVisible()
    assert table(users)[1] == ["bob", "user", "active", "never", "0", "0"]

    select(users, "bob")
    change_role = child(users, QPushButton, "changeRole")
    assert change_role.text() == "Make administrator"
    change_role.click()
    assert table(users)[1][1] == "administrator" and change_role.text() == "Make user"
    change_role.click()
    assert table(users)[1][1] == "user"
    lock = child(users, QPushButton, "lockUser")
    lock.click()
    assert table(users)[1][2] == "locked" and lock.text() == "Unlock"
    lock.click()
    assert table(users)[1][2] == "active"

    # A lockout shows with its end and the failed sign-ins; Unlock lifts it.
    for _ in range(5):
        with pytest.raises(SignInError):
            app.services.accounts.sign_in("bob", "wrong")
    users.refresh()
    assert table(users)[1][2].startswith("locked out until ") and table(users)[1][4] == "5"
    assert lock.text() == "Unlock"
    lock.click()
    assert table(users)[1][2:] == ["active", "never", "0", "0"]

    # The last administrator stays one: the core refuses, the window says why.
    select(users, "ada")
    assert not child(users, QPushButton, "deleteUser").isEnabled()  # oneself
    change_role.click()
    assert "Cannot demote ada: the last active administrator" in child(users, QLabel, "usersMessage").text()
    assert table(users)[0][1] == "administrator"

    select(users, "bob")
    child(users, QPushButton, "resetPassword").click()
    box = child(users, QMessageBox, "oneTimePassword")
    one_time = box.text().split("\n\n")[1]
    assert len(one_time) >= 8 and "must change password" in table(users)[1][2]
    box.accept()
    sign_out(app, monkeypatch)  # with the Users window open: it goes with ada's session
    qtbot.waitUntil(lambda: app.main_window.findChild(QDialog, "usersWindow") is None)

    # bob signs in with the one-time password: the same Change password dialog asks for a new one.
    sign_in(app, qtbot, "bob", one_time)
    forced = child(app.login_window, QDialog, "passwordDialog")
    assert not child(forced, QLineEdit, "currentPassword").isVisible()
    child(forced, QLineEdit, "newPassword").setText("bob's very own password")
    child(forced, QLineEdit, "confirmPassword").setText("bob's very own password")
    child(forced, QDialogButtonBox, "passwordButtons").button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: app.main_window.isVisible())
    assert app.main_window.controller.session.user_name == "bob"
    assert not app.services.accounts.get_user("bob").must_change_password


def test_a_user_sees_no_administrators_action_and_cannot_open_one(app, qtbot, monkeypatch):
    app.services.accounts.create_user("ada", PASSWORD)
    app.services.accounts.create_user("bob", PASSWORD, "user")
    app.login_window.refresh()
    sign_in(app, qtbot, "bob")
    window = app.main_window
    for name in ("actionUsers", "actionAudit", "actionSettings"):
        assert not action(window, name).isVisible() and not action(window, name).isEnabled(), name
        action(window, name).trigger()  # a disabled action does nothing, even triggered by code
    assert window.findChild(QDialog, "usersWindow") is None and window.findChild(QDialog, "auditWindow") is None
    assert window.findChild(QDialog, "settingsDialog") is None
    assert [a.objectName() for a in window.tools_menu.actions() if a.isVisible() and not a.isSeparator()] == [
        "actionCompare"]  # a user compares; the rest of Tools is for administrators
    assert window.open_users() is None and window.open_audit() is None  # the slots ask too
    assert window.statusBar().currentMessage() == "Only an administrator may read the audit log."
    window.lock()  # unlocking enables the session's actions again, but not these
    page = window.lock_page
    child(page, QLineEdit, "unlockPassword").setText(PASSWORD)
    qtbot.mouseClick(child(page, QPushButton, "unlock"), Qt.MouseButton.LeftButton)
    assert window.action_import.isEnabled() and not action(window, "actionUsers").isEnabled()
    # The core refuses bob even when the window is bypassed.
    from ret_desktop.gui.users_window import UsersWindow

    with pytest.raises(PermissionDenied):
        UsersWindow(app.services, window.controller.session.actor, window)
    assert action(window, "actionChangePassword").isVisible()


def test_change_my_password_checks_the_current_one_and_ends_remember_me(app, qtbot, keyring_file):
    app.services.accounts.create_user("ada", PASSWORD)
    app.login_window.refresh()
    child(app.login_window, QLineEdit, "username").setText("ada")
    child(app.login_window, QLineEdit, "password").setText(PASSWORD)
    app.login_window.remember.setChecked(True)
    qtbot.mouseClick(child(app.login_window, QPushButton, "signIn"), Qt.MouseButton.LeftButton)
    assert app.services.accounts.remembered_user_name() == "ada"
    window = app.main_window
    action(window, "actionChangePassword").trigger()
    dialog = child(window, QDialog, "passwordDialog")
    ok = child(dialog, QDialogButtonBox, "passwordButtons").button(QDialogButtonBox.StandardButton.Ok)
    child(dialog, QLineEdit, "currentPassword").setText("not it")
    child(dialog, QLineEdit, "newPassword").setText("the next long password")
    assert child(dialog, QLabel, "passwordHint").text().startswith(("Strong", "Fair"))
    child(dialog, QLineEdit, "confirmPassword").setText("the next long password")
    ok.click()
    assert dialog.isVisible() and child(dialog, QLabel, "passwordMessage").text() == "The current password is wrong."
    child(dialog, QLineEdit, "currentPassword").setText(PASSWORD)
    child(dialog, QLineEdit, "confirmPassword").setText("something else")
    ok.click()
    assert child(dialog, QLabel, "passwordMessage").text() == "The two new passwords differ."
    child(dialog, QLineEdit, "confirmPassword").setText("the next long password")
    ok.click()
    assert not dialog.isVisible()
    assert app.services.accounts.remembered_user_name() is None
    assert keyring_file.get_password("RET Desktop", "remember:ada") is None
    app.services.accounts.sign_in("ada", "the next long password")
    changed = app.services.audit.recent(5, action="password_changed")[0]
    assert (changed.user, changed.session) == ("ada", window.controller.session.info.session_id)


def test_an_administrator_removes_another_users_leftover_sessions(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot, "ada")
    services = app.services
    services.accounts.create_user("bob", PASSWORD, "user")
    crashed = [SessionManager(services.settings.sessions_dir, services.cache, services.audit, 3600).create("bob")
               for _ in range(2)]
    users = open_users(app)
    assert [row[5] for row in table(users)] == ["0", "2"]
    select(users, "ada")
    assert not child(users, QPushButton, "removeSessions").isEnabled()
    select(users, "bob")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    child(users, QPushButton, "removeSessions").click()
    assert child(users, QLabel, "usersMessage").text() == "Removed 2 leftover sessions of bob."
    assert [row[5] for row in table(users)] == ["0", "0"]
    assert not any(services.sessions.folder(info.session_id).exists() for info in crashed)
    assert services.accounts.get_user("bob") is not None
    bob = Actor.signed_in(services.accounts.get_user("bob"))
    with pytest.raises(PermissionDenied):
        services.remove_leftover_sessions("ada", by=bob)


def test_deleting_a_user_in_the_window_wipes_their_sessions_token_and_window_state(app, qtbot, monkeypatch):
    create_admin_and_sign_in(app, qtbot, "ada")
    services = app.services
    bob = services.accounts.create_user("bob", PASSWORD, "user")
    services.accounts.remember(bob)
    leftover = SessionManager(services.settings.sessions_dir, services.cache, services.audit, 3600).create("bob")
    state = QSettings(str(services.settings.config_dir / "window.ini"), QSettings.Format.IniFormat)
    state.setValue("bob/geometry", b"\1\2")
    state.setValue("ada/geometry", b"\3")
    state.sync()
    users = open_users(app)
    select(users, "bob")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    child(users, QPushButton, "deleteUser").click()
    assert services.accounts.get_user("bob") is not None
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    child(users, QPushButton, "deleteUser").click()
    assert [row[0] for row in table(users)] == ["ada"]
    assert child(users, QLabel, "usersMessage").text() == "Account bob deleted."
    assert services.accounts.get_user("bob") is None
    assert not services.sessions.folder(leftover.session_id).exists()
    assert services.accounts.sign_in_remembered("bob") is None
    state = QSettings(str(services.settings.config_dir / "window.ini"), QSettings.Format.IniFormat)
    assert state.value("bob/geometry") is None and state.value("ada/geometry") is not None
    ada = Actor.signed_in(services.accounts.get_user("ada"))
    newest = services.audit.page(ada, limit=2)
    assert [(e.action, e.user, e.counts) for e in newest] == [
        ("session_wiped", "bob", {"cache_rows": 1, "reason": "user_deleted"}),
        ("user_deleted", "ada", {"account": "bob"})]
    assert newest[0].session == leftover.session_id
