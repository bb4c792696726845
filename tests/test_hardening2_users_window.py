"""The Users window shows accounts as they are now: changes made by another process (the `users`
commands) or another window appear when it is shown again or activated, without a manual refresh,
and the selection stays on the same account (or goes, when it is gone)."""

import os
import subprocess
import sys

from PySide6.QtWidgets import QWidget

from test_gui import PASSWORD, create_admin_and_sign_in
from test_users_window import app, open_users, table  # noqa: F401  (app is a fixture)


def run_users_command(app, *args: str, stdin: str = "") -> None:
    """``ret-desktop users ARGS`` in a real second process on the app's data folder."""
    result = subprocess.run([sys.executable, "-m", "ret_desktop", "users", *args], input=stdin, capture_output=True,
                            text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
                                 "RET_DATA_DIR": str(app.services.settings.data_dir)})
    assert result.returncode == 0, result.stderr


def activate(window, qtbot) -> None:
    with qtbot.waitActive(window):
        window.activateWindow()
    assert window.isActiveWindow()


def test_the_users_window_shows_what_another_process_changed_when_activated_or_shown_again(app, qtbot):
    create_admin_and_sign_in(app, qtbot, "ada")
    run_users_command(app, "add", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    run_users_command(app, "add", "dan", "--password-stdin", stdin=PASSWORD + "\n")
    users = open_users(app)
    activate(users, qtbot)
    assert [row[:3] for row in table(users)] == [
        ["ada", "administrator", "active"], ["bob", "user", "active"], ["dan", "user", "active"]]
    users.select("dan")
    elsewhere = QWidget()  # another window of the desktop
    qtbot.addWidget(elsewhere)
    elsewhere.show()
    qtbot.waitExposed(elsewhere)

    run_users_command(app, "lock", "dan")
    run_users_command(app, "delete", "bob")
    activate(elsewhere, qtbot)
    activate(users, qtbot)
    assert [row[:3] for row in table(users)] == [["ada", "administrator", "active"], ["dan", "user", "locked"]]
    assert users.selected().user.name == "dan" and users.buttons["lockUser"].text() == "Unlock"

    run_users_command(app, "add", "carol", "--password-stdin", stdin=PASSWORD + "\n")
    run_users_command(app, "delete", "dan")
    users.hide()
    users.show()
    assert [row[0] for row in table(users)] == ["ada", "carol"]
    assert users.selected() is None and not users.buttons["deleteUser"].isEnabled()  # not carol, in dan's row
