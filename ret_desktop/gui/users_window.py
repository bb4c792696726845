"""The Users window (Tools ▸ Users, administrators): every account with role, state, last sign-in and
failed sign-ins; add, change role, lock / unlock, reset password, delete. Every change goes through
the core, which checks the role again and keeps the last administrator. The table is read again
after each change and whenever the window is shown or activated, so it never shows stale rows."""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ret_desktop import APP_NAME
from ret_desktop.core.accounts import AccountError, AccountStatus
from ret_desktop.core.roles import ROLES, Actor, PermissionDenied
from ret_desktop.core.services import Services
from ret_desktop.core.sessions import SessionError
from ret_desktop.gui.login import password_hint
from ret_desktop.gui.password_dialog import sentence
from ret_desktop.gui.session import forget_window_state

COLUMNS = ("Name", "Role", "State", "Last sign-in", "Failed sign-ins", "Leftover sessions")


def _when(moment: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(moment)) if moment else "never"


class AddUserDialog(QDialog):
    """Name, password twice (the first-run setup's strength rules and hint), role."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("addUserDialog")
        self.setWindowTitle("Add user")
        self.name = QLineEdit(self)
        self.name.setObjectName("newUserName")
        self.name.setAccessibleName("User name")
        self.password = QLineEdit(self)
        self.password.setObjectName("newUserPassword")
        self.confirm = QLineEdit(self)
        self.confirm.setObjectName("newUserConfirm")
        for edit, label in ((self.password, "Password"), (self.confirm, "Password again")):
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setAccessibleName(label)
        self.hint = QLabel(password_hint(""))
        self.password.textChanged.connect(lambda text: self.hint.setText(password_hint(text)))
        self.role = QComboBox(self)
        self.role.setObjectName("newUserRole")
        self.role.setAccessibleName("Role")
        self.role.addItems(ROLES)
        self.role.setCurrentText("user")
        self.message = QLabel("")
        self.message.setObjectName("addUserMessage")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.setObjectName("addUserButtons")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("User name", self.name)
        form.addRow("Password", self.password)
        form.addRow("", self.hint)
        form.addRow("Password again", self.confirm)
        form.addRow("Role", self.role)
        form.addRow(self.message)
        form.addRow(buttons)
        self.create = lambda name, password, role: None  # set by the Users window

    def accept(self) -> None:
        if self.password.text() != self.confirm.text():
            self.message.setText("The two passwords differ.")
            return
        try:
            self.create(self.name.text(), self.password.text(), self.role.currentText())
        except (AccountError, PermissionDenied) as error:
            self.message.setText(sentence(error))
            return
        super().accept()


class UsersWindow(QDialog):
    def __init__(self, services: Services, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("usersWindow")
        self.setWindowTitle(f"{APP_NAME}: users")
        self.services, self.actor = services, actor
        self.view = QTableWidget(0, len(COLUMNS), self)
        self.view.setObjectName("usersView")
        self.view.setAccessibleName("User accounts")
        self.view.setHorizontalHeaderLabels(COLUMNS)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().hide()
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("State"), QHeaderView.ResizeMode.Stretch)
        self.view.itemSelectionChanged.connect(self._selection_changed)
        self.message = QLabel("")
        self.message.setObjectName("usersMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for name, text, slot in (("addUser", "Add…", self.add_user), ("changeRole", "Make administrator", self.change_role),
                                 ("lockUser", "Lock", self.toggle_lock), ("resetPassword", "Reset password…",
                                                                          self.reset_password),
                                 ("removeSessions", "Remove leftover sessions", self.remove_sessions),
                                 ("deleteUser", "Delete…", self.delete_user)):
            button = QPushButton(text, self)
            button.setObjectName(name)
            button.clicked.connect(slot)
            row.addWidget(button)
            self.buttons[name] = button
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addLayout(row)
        layout.addWidget(self.message)
        self.resize(760, 420)
        self.statuses: list[AccountStatus] = []
        self.refresh()

    # -- showing
    def event(self, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Show, QEvent.Type.WindowActivate):
            self.refresh()  # another window or process (the `users` commands) may have changed accounts
        return super().event(event)

    def refresh(self, keep: str | None = None) -> None:
        keep = keep or (self.selected().user.name if self.selected() else None)
        self.statuses = self.services.accounts.statuses(by=self.actor)
        self.leftovers: dict[str, int] = {}
        for info in self.services.sessions.leftovers():
            self.leftovers[info.user_name] = self.leftovers.get(info.user_name, 0) + 1
        self.view.clearSelection()  # rows may have moved: only the same account is selected again
        self.view.setRowCount(len(self.statuses))
        for row, status in enumerate(self.statuses):
            user = status.user
            role = "administrator" if user.is_admin else "user"
            state = status.state_text(lambda t: time.strftime("%H:%M:%S", time.localtime(t)))
            if user.must_change_password:
                state += " (must change password)"
            for column, text in enumerate((user.name, role, state, _when(user.last_sign_in_at),
                                           str(status.failed_attempts), str(self.leftovers.get(user.name, 0)))):
                item = QTableWidgetItem(text)
                if column >= 4:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.view.setItem(row, column, item)
            if user.name == keep:
                self.view.selectRow(row)
        self._selection_changed()

    def selected(self) -> AccountStatus | None:
        rows = {index.row() for index in self.view.selectionModel().selectedRows()} if self.view.selectionModel() else set()
        return self.statuses[min(rows)] if rows and min(rows) < len(self.statuses) else None

    def select(self, name: str) -> None:
        for row, status in enumerate(self.statuses):
            if status.user.name == name:
                self.view.selectRow(row)

    def _selection_changed(self) -> None:
        status = self.selected()
        for name in ("changeRole", "lockUser", "resetPassword", "deleteUser"):
            self.buttons[name].setEnabled(status is not None)
        self.buttons["removeSessions"].setEnabled(status is not None and self.leftovers.get(status.user.name, 0) > 0)
        if status is not None:
            self.buttons["changeRole"].setText("Make user" if status.user.is_admin else "Make administrator")
            self.buttons["lockUser"].setText("Unlock" if status.user.state == "locked" or status.locked_out_until
                                             else "Lock")
        self.buttons["deleteUser"].setEnabled(status is not None and status.user.id != self.actor.user_id)

    # -- changing (every call goes through the core, which may refuse: the message says why)
    def _do(self, change, done: str, keep: str | None = None) -> bool:
        try:
            change()
        except (AccountError, PermissionDenied, SessionError) as error:
            self.message.setText(sentence(error))
            return False
        self.message.setText(done)
        self.refresh(keep)
        return True

    def add_user(self) -> AddUserDialog:
        dialog = AddUserDialog(self)

        def create(name: str, password: str, role: str) -> None:
            user = self.services.accounts.create_user(name, password, role, by=self.actor)
            self.message.setText(f"Account {user.name} created.")
            self.refresh(user.name)

        dialog.create = create
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def change_role(self) -> None:
        status = self.selected()
        role = "user" if status.user.is_admin else "admin"
        self._do(lambda: self.services.accounts.set_role(status.user.name, role, by=self.actor),
                 f"{status.user.name} is now {'an administrator' if role == 'admin' else 'a user'}.", status.user.name)

    def toggle_lock(self) -> None:
        status = self.selected()
        unlock = status.user.state == "locked" or status.locked_out_until is not None
        self._do(lambda: self.services.accounts.set_state(status.user.name, "active" if unlock else "locked",
                                                          by=self.actor),
                 f"{status.user.name} is {'unlocked' if unlock else 'locked'}.", status.user.name)

    def reset_password(self) -> QMessageBox | None:
        """Set a one-time password and show it, once, in a box the administrator closes."""
        status = self.selected()
        one_time: list[str] = []
        if not self._do(lambda: one_time.append(self.services.accounts.reset_password(status.user.name, by=self.actor)),
                        f"The password of {status.user.name} was reset.", status.user.name):
            return None
        box = QMessageBox(QMessageBox.Icon.Information, "One-time password",
                          f"The one-time password of {status.user.name} is\n\n{one_time[0]}\n\n"
                          "It is shown only now. They must choose a new password when they sign in with it.",
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("oneTimePassword")
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.finished.connect(box.deleteLater)
        box.open()
        return box

    def remove_sessions(self) -> None:
        """Wipe the selected account's sessions left by a crash (everything in them goes)."""
        name = self.selected().user.name
        if QMessageBox.question(self, APP_NAME, f"Delete the sessions {name} left open, and everything in them?") \
                != QMessageBox.StandardButton.Yes:
            return
        count = self.leftovers.get(name, 0)
        self._do(lambda: self.services.remove_leftover_sessions(name, by=self.actor),
                 f"Removed {count} leftover {'session' if count == 1 else 'sessions'} of {name}.", name)

    def delete_user(self) -> None:
        status = self.selected()
        name = status.user.name
        if QMessageBox.question(self, APP_NAME, f"Delete the account {name}? Their leftover sessions, "
                                               "remember-me token and window layout are deleted too.") \
                != QMessageBox.StandardButton.Yes:
            return

        def delete() -> None:
            self.services.delete_user(name, by=self.actor)
            forget_window_state(self.services.settings, name)

        self._do(delete, f"Account {name} deleted.")
