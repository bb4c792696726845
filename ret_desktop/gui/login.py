"""The sign-in window: first-start administrator setup, or sign-in with lockout countdown."""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ret_desktop import APP_NAME
from ret_desktop.core.accounts import (
    ACCOUNTS_LOST_ADVICE,
    MIN_PASSWORD_LENGTH,
    AccountError,
    Accounts,
    SignInError,
    TooManyAttempts,
    User,
)
from ret_desktop.gui.messages import MessageLabel

log = logging.getLogger(__name__)
NO_KEYRING = ("Remember me needs the system's password store (e.g. GNOME Keyring or KWallet), which this "
              "system does not have.")
HINT_WIDTH = 260  # the strength hint wraps within this, so the window keeps its size as the hint changes


def password_hint(password: str) -> str:
    """A short strength hint for the setup form."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"At least {MIN_PASSWORD_LENGTH} characters."
    kinds = sum(any(test(c) for c in password) for test in (str.islower, str.isupper, str.isdigit,
                                                             lambda c: not c.isalnum()))
    if len(password) >= 14 or (len(password) >= 10 and kinds >= 3):
        return "Strong."
    return "Fair: longer, or mixing letters, digits and symbols, is stronger."


class LoginWindow(QWidget):
    signed_in = Signal(object, bool)  # User, remember me

    def __init__(self, accounts: Accounts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.accounts = accounts
        self.setObjectName("loginWindow")
        self.setWindowTitle(f"{APP_NAME}: sign in")
        self._locked_until = 0.0
        self._countdown = QTimer(self)
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self._tick)

        self.pages = QStackedWidget(self)
        self.pages.addWidget(self._build_setup_page())
        self.pages.addWidget(self._build_sign_in_page())
        layout = QVBoxLayout(self)
        title = QLabel(APP_NAME)
        title.setObjectName("appTitle")
        layout.addWidget(title)
        layout.addWidget(self.pages)
        self.refresh()

    # -- pages
    def _line(self, name: str, accessible: str, password: bool = False) -> QLineEdit:
        edit = QLineEdit(self)
        edit.setObjectName(name)
        edit.setAccessibleName(accessible)
        if password:
            edit.setEchoMode(QLineEdit.EchoMode.Password)
        return edit

    def _build_setup_page(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        form.addRow(QLabel("No account yet: create the administrator account."))
        self.setup_username = self._line("setupUsername", "Administrator user name")
        self.setup_password = self._line("setupPassword", "Password", password=True)
        self.setup_confirm = self._line("setupConfirm", "Password again", password=True)
        self.setup_hint = QLabel(password_hint(""))
        self.setup_hint.setObjectName("setupHint")
        self.setup_hint.setWordWrap(True)
        self.setup_hint.setFixedWidth(HINT_WIDTH)
        self.setup_hint.setMinimumHeight(2 * self.setup_hint.fontMetrics().lineSpacing())
        self.setup_password.textChanged.connect(lambda text: self.setup_hint.setText(password_hint(text)))
        self.setup_create = QPushButton("Create account", page)
        self.setup_create.setObjectName("setupCreate")
        self.setup_create.clicked.connect(self._create_admin)
        self.setup_confirm.returnPressed.connect(self._create_admin)
        self.setup_message = MessageLabel(page)
        self.setup_message.setObjectName("setupMessage")
        form.addRow("User name", self.setup_username)
        form.addRow("Password", self.setup_password)
        form.addRow("", self.setup_hint)
        form.addRow("Password again", self.setup_confirm)
        form.addRow(self.setup_create)
        form.addRow(self.setup_message)
        return page

    def _build_sign_in_page(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self.username = self._line("username", "User name")
        self.password = self._line("password", "Password", password=True)
        self.remember = QCheckBox("Remember me on this computer", page)
        self.remember.setObjectName("rememberMe")
        self.remember_reason = QLabel("")
        self.remember_reason.setObjectName("rememberMeReason")
        self.remember_reason.setWordWrap(True)
        self.sign_in_button = QPushButton("Sign in", page)
        self.sign_in_button.setObjectName("signIn")
        self.sign_in_button.setDefault(True)
        self.sign_in_button.clicked.connect(self._sign_in)
        self.password.returnPressed.connect(self._sign_in)
        self.message = MessageLabel(page)
        self.message.setObjectName("loginMessage")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("User name", self.username)
        form.addRow("Password", self.password)
        form.addRow(self.remember)
        form.addRow(self.remember_reason)
        form.addRow(self.sign_in_button)
        form.addRow(self.message)
        available, reason = self.accounts.remember_me_status()
        self.remember.setVisible(available)
        self.remember_reason.setVisible(not available)
        if reason:
            log.info("remember me is unavailable: %s", reason)
        self.remember_reason.setText(NO_KEYRING if not available else "")
        return page

    def refresh(self) -> None:
        """Show the setup page for a data folder that never had an account, else the sign-in page
        (saying what to do if the accounts were lost)."""
        first_start = self.accounts.first_start()
        self.pages.setCurrentIndex(0 if first_start else 1)
        self.password.clear()
        if first_start:
            self.setup_username.setFocus()
        else:  # a name is there after a sign-out or a new account: the password comes next
            (self.password if self.username.text() else self.username).setFocus()
        if self.accounts.accounts_lost():
            self.message.show_error(ACCOUNTS_LOST_ADVICE)

    # -- actions
    def _create_admin(self) -> None:
        if self.setup_password.text() != self.setup_confirm.text():
            self.setup_message.show_error("The two passwords differ. Type the same password twice.")
            return
        try:
            user = self.accounts.create_user(self.setup_username.text(), self.setup_password.text(), role="admin")
        except AccountError as error:
            self.setup_message.show_error(str(error).capitalize() + ".")
            return
        self.setup_password.clear()
        self.setup_confirm.clear()
        self.refresh()
        self.username.setText(user.name)
        self.message.show_info(f"Account {user.name} created. Sign in with it.")
        self.password.setFocus()

    def _sign_in(self) -> None:
        if self._locked_until > time.monotonic():
            return
        try:
            user: User = self.accounts.sign_in(self.username.text(), self.password.text())
        except TooManyAttempts as error:
            self.password.clear()
            self._locked_until = time.monotonic() + error.retry_after_s
            self._tick()
            self._countdown.start()
            return
        except SignInError as error:
            self.password.clear()
            self.message.show_error(str(error))
            self.password.setFocus()
            return
        remember = self.remember.isVisible() and self.remember.isChecked()
        if user.must_change_password:
            self._ask_new_password(user, self.password.text(), remember)
            self.password.clear()
            return
        self.password.clear()
        self.message.setText("")
        self.signed_in.emit(user, remember)

    def _ask_new_password(self, user: User, one_time: str, remember: bool):
        """After a reset: the session starts once a new password is chosen (Change password's dialog)."""
        from ret_desktop.gui.password_dialog import PasswordDialog  # it uses password_hint from here

        dialog = PasswordDialog(self.accounts, user.name, current=one_time, parent=self)

        def finished(result: int) -> None:
            if dialog.changed_user is not None:
                self.message.setText("")
                self.signed_in.emit(dialog.changed_user, remember)
            else:
                self.message.setText("Choose a new password to sign in.")
            dialog.deleteLater()

        dialog.finished.connect(finished)
        dialog.open()
        self.password_dialog = dialog
        return dialog

    def _tick(self) -> None:
        left = self._locked_until - time.monotonic()
        if left <= 0:
            self._countdown.stop()
            self.sign_in_button.setEnabled(True)
            self.message.show_info("You can try again now.")
            return
        self.sign_in_button.setEnabled(False)
        minutes, seconds = divmod(int(left + 0.999), 60)
        wait = f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
        self.message.show_error(f"Too many failed sign-ins for this name. Try again in {wait}.")
