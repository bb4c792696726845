"""Idle lock: after the session time-out without input, the window hides its data and asks for the
password again. Jobs keep running behind the lock."""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ret_desktop.core.accounts import Accounts, InvalidCredentials, SignInError
from ret_desktop.gui.messages import MessageLabel
from ret_desktop.gui.theme import icon

_INPUT_EVENTS = {QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.Wheel,
                 QEvent.Type.TouchBegin}


class IdleWatch(QObject):
    """Notes the last keyboard, mouse or touch input anywhere in the application and says ``idle``
    once ``limit_s`` seconds have passed without any."""

    idle = Signal()

    def __init__(self, limit_s: float, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.limit_s = limit_s
        self.last_input = time.monotonic()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._check)
        self.set_limit(limit_s)

    def set_limit(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self._timer.setInterval(max(50, min(1000, int(limit_s * 100))))  # a tenth of the limit, at most 1 s

    def start(self) -> None:
        """Watch from now on (while a session is open)."""
        self.last_input = time.monotonic()
        QApplication.instance().installEventFilter(self)  # installing twice keeps one
        self._timer.start()

    def stop(self) -> None:
        QApplication.instance().removeEventFilter(self)
        self._timer.stop()

    def active_since(self, moment: float) -> bool:
        return self.last_input > moment

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _INPUT_EVENTS:
            self.last_input = time.monotonic()
        return False

    def _check(self) -> None:
        if time.monotonic() - self.last_input >= self.limit_s:
            self._timer.stop()
            self.idle.emit()


class LockPage(QWidget):
    """Shown instead of the data while the window is locked."""

    unlocked = Signal()
    sign_out_requested = Signal()

    def __init__(self, accounts: Accounts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lockPage")
        self.accounts = accounts
        self.user_name = ""
        self.title = QLabel("")
        self.title.setObjectName("lockTitle")
        self.title.setWordWrap(True)
        self.password = QLineEdit(self)
        self.password.setObjectName("unlockPassword")
        self.password.setAccessibleName("Password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("Password")
        self.password.returnPressed.connect(self._unlock)
        self.unlock_button = QPushButton("Unlock", self)
        self.unlock_button.setObjectName("unlock")
        self.unlock_button.setDefault(True)
        self.unlock_button.clicked.connect(self._unlock)
        self.sign_out_button = QPushButton("Sign out instead", self)
        self.sign_out_button.setObjectName("lockSignOut")
        self.sign_out_button.clicked.connect(self.sign_out_requested.emit)
        self.message = MessageLabel(self)
        self.message.setObjectName("unlockMessage")
        panel = QWidget(self)
        panel.setFixedWidth(420)
        panel_layout = QVBoxLayout(panel)
        padlock = QLabel(self)
        padlock.setPixmap(icon("lock").pixmap(48, 48))
        panel_layout.addWidget(padlock, 0, Qt.AlignmentFlag.AlignHCenter)
        for widget in (self.title, self.password, self.unlock_button, self.message, self.sign_out_button):
            panel_layout.addWidget(widget)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(panel)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)

    def show_for(self, user_name: str) -> None:
        self.user_name = user_name
        self.title.setText(f"Locked after a time without input. {user_name}, enter your password to go on.")
        self.message.setText("")
        self.password.clear()
        self.password.setFocus()

    def _unlock(self) -> None:
        try:
            self.accounts.sign_in(self.user_name, self.password.text(), method=None)  # the window records the unlock
        except SignInError as error:
            wrong = isinstance(error, InvalidCredentials)  # the name is known here: it is the password
            self.message.show_error("Wrong password. Try again, or sign out instead." if wrong else str(error))
            self.password.clear()
            return
        self.password.clear()
        self.unlocked.emit()
