"""Change my password (File ▸ Change password…): current password, the new one twice, a strength
hint. The same dialog asks for a new password at the sign-in after a reset (``forced``)."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from ret_desktop.core.accounts import AccountError, Accounts, SignInError, User
from ret_desktop.gui.login import password_hint


def sentence(error: Exception) -> str:
    """An error's one-line message as a sentence (first letter up, names left as they are)."""
    text = str(error)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


class PasswordDialog(QDialog):
    """Changes ``user_name``'s password through the core; ``changed_user`` is the account after it.
    ``current`` fills in (and hides) the current password, for the forced change right after a
    sign-in with the one-time password."""

    def __init__(self, accounts: Accounts, user_name: str, session: str | None = None, current: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("passwordDialog")
        self.setWindowTitle("Change password")
        self.accounts, self.user_name, self.session = accounts, user_name, session
        self.changed_user: User | None = None
        forced = current is not None
        self.current = self._line("currentPassword", "Current password")
        self.new = self._line("newPassword", "New password")
        self.confirm = self._line("confirmPassword", "New password again")
        self.hint = QLabel(password_hint(""))
        self.hint.setObjectName("passwordHint")
        self.new.textChanged.connect(lambda text: self.hint.setText(password_hint(text)))
        self.message = QLabel("")
        self.message.setObjectName("passwordMessage")
        self.message.setWordWrap(True)
        form = QFormLayout()
        if forced:
            self.current.setText(current)
            self.current.hide()
            intro = QLabel(f"{user_name}, your password was reset. Choose a new password to go on.")
            intro.setWordWrap(True)
            form.addRow(intro)
        else:
            form.addRow("Current password", self.current)
        form.addRow("New password", self.new)
        form.addRow("", self.hint)
        form.addRow("New password again", self.confirm)
        form.addRow(QLabel("Changing it also ends “remember me” on every computer."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.setObjectName("passwordButtons")
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Change password")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        (self.new if forced else self.current).setFocus()

    def _line(self, name: str, accessible: str) -> QLineEdit:
        edit = QLineEdit(self)
        edit.setObjectName(name)
        edit.setAccessibleName(accessible)
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        return edit

    def accept(self) -> None:
        if self.new.text() != self.confirm.text():
            self.message.setText("The two new passwords differ.")
            return
        try:
            self.changed_user = self.accounts.change_password(self.user_name, self.current.text(), self.new.text(),
                                                              session=self.session)
        except SignInError as error:
            self.current.clear()
            self.message.setText(str(error))
            return
        except AccountError as error:
            self.message.setText(sentence(error))
            return
        for edit in (self.current, self.new, self.confirm):
            edit.clear()
        super().accept()
