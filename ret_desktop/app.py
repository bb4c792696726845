"""Composition root: settings, services, the QApplication and its windows.

``build_app(data_dir)`` builds everything without entering the event loop (for tests and tools);
``main()`` is what ``ret-desktop`` runs.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from ret_desktop import APP_NAME
from ret_desktop.core.accounts import RememberMeUnavailable, User
from ret_desktop.core.appdb import AppDatabaseDamaged
from ret_desktop.core.config import Settings, load_settings
from ret_desktop.core.fsutil import make_private_dir
from ret_desktop.core.roles import Actor
from ret_desktop.core.scratch import record_scratch_in, sweep_leftovers
from ret_desktop.core.services import Services, open_services
from ret_desktop.core.sessions import SessionError
from ret_desktop.gui.garbage import GuiThreadGarbageCollector
from ret_desktop.gui.idle_lock import IdleWatch
from ret_desktop.gui.login import LoginWindow
from ret_desktop.gui.main_window import MainWindow
from ret_desktop.gui.messages import choose
from ret_desktop.gui.platform_check import platform_usable
from ret_desktop.gui.session import SessionState
from ret_desktop.gui.theme import apply_theme

SWEEP_INTERVAL_MS = 60_000
log = logging.getLogger(__name__)


class AppController(QObject):
    """Moves between the sign-in window and the main window and owns the session's life."""

    def __init__(self, services: Services, login_window: LoginWindow, main_window: MainWindow) -> None:
        super().__init__(main_window)
        self.services = services
        self.login_window = login_window
        self.main_window = main_window
        login_window.signed_in.connect(self.start_session)
        main_window.sign_out_requested.connect(lambda: self.sign_out(forget=True))
        self.sweeper = QTimer(self)
        self.sweeper.setInterval(SWEEP_INTERVAL_MS)
        self.sweeper.timeout.connect(self.sweep)
        self.sweeper.start()
        self._last_sweep = time.monotonic()
        self.idle = IdleWatch(services.settings.session_cache_ttl_seconds, self)
        self.idle.idle.connect(main_window.lock)
        main_window.unlocked.connect(self.idle.start)
        main_window.settings_applied.connect(lambda s: self.idle.set_limit(s.session_cache_ttl_seconds))

    def start_session(self, user: User, remember: bool = False) -> None:
        sessions = self.services.sessions
        if remember:
            try:
                self.services.accounts.remember(user)
            except RememberMeUnavailable as error:
                log.warning("remember me failed: %s", error)
                self.login_window.message.show_error("Signed in, but you will be asked for your password next "
                                                     "time: the system's password store did not keep it.")
        info = None
        for leftover in sessions.leftovers(user.name):
            answer = QMessageBox.question(
                self.login_window, APP_NAME,
                "A session of yours was left open when RET Desktop last stopped. Resume it?\n"
                "No discards it and everything in it.",
            )
            if answer == QMessageBox.StandardButton.Yes and info is None:
                info = sessions.resume(leftover.session_id, user.name)
            else:
                sessions.wipe(leftover.session_id, reason="discarded")
        if info is None:
            info = sessions.create(user.name)
        state = SessionState(info, sessions.folder(info.session_id), user.name, Actor.signed_in(user, info.session_id))
        self.main_window.start_session(state)
        self.login_window.hide()
        self.main_window.show()
        self.idle.start()

    def sign_in_remembered(self) -> bool:
        """At start: sign in the user whose remember-me token is in the keyring, if any."""
        accounts = self.services.accounts
        remembered = accounts.remembered_user_name()
        user = accounts.sign_in_remembered(remembered) if remembered else None
        if user is None:
            return False
        self.start_session(user)
        return True

    def sign_out(self, ask: bool = True, forget: bool = False) -> bool:
        """Wipe the session and go back to the sign-in window; False if the person said no.
        ``forget`` also drops a remember-me token (an explicit sign-out; closing the app keeps it)."""
        state = self.main_window.controller.session
        if state is None:
            return True
        if ask and (state.edited or state.unexported):
            what = "You have edits that are not exported." if state.edited else "Some results have not been exported."
            role = QMessageBox.ButtonRole
            answer = choose(self.main_window, APP_NAME,
                            f"{what} Signing out deletes everything of this session.\n"
                            "Export the tables first, or sign out without exporting?",
                            [("Export…", role.AcceptRole), ("Sign out without exporting", role.DestructiveRole),
                             ("Cancel", role.RejectRole)])
            if answer == 0:  # sign out once the export has succeeded
                self.main_window.choose_export(then=lambda: self.sign_out(ask=False, forget=forget))
                return False
            if answer != 1:
                return False
        self.idle.stop()
        self.main_window.end_session()
        try:
            self.services.sessions.wipe(state.info.session_id, reason="sign_out")
        except SessionError as error:
            log.warning("session folder not wiped at sign-out: %s", error)
            self.login_window.message.show_error("Signed out, but some files of the session could not be deleted "
                                                 "yet (another program may have them open). RET Desktop tries "
                                                 "again later.")
        if forget:
            self.services.accounts.forget(state.user_name)
        self.services.audit.record("sign_out", state.user_name, state.info.session_id)
        self.main_window.hide()
        self.login_window.refresh()
        self.login_window.show()
        return True

    def sweep(self) -> None:
        """The periodic clean-up: expired cache entries, and crashed sessions past their TTL."""
        self.services.cache.sweep_expired()
        self.services.sessions.wipe_expired_leftovers()
        self.services.sweep_audit()
        session = self.main_window.controller.session
        if session is not None:
            self.main_window.controller.edit_tally.flush_if_over()
            if self.idle.active_since(self._last_sweep) and not self.main_window.locked:
                self.services.sessions.touch(session.info.session_id)  # its cache rows live on too
            self.main_window.refresh_status()
        self._last_sweep = time.monotonic()


@dataclass
class App:
    qapp: QApplication
    services: Services
    login_window: LoginWindow
    main_window: MainWindow
    controller: AppController
    collector: GuiThreadGarbageCollector
    damage_dialog: QMessageBox | None = None  # shown when the account database was moved aside

    def close(self) -> None:
        """Sign out without asking, close the windows and the databases."""
        self.controller.sign_out(ask=False)
        self.controller.sweeper.stop()
        self.controller.idle.stop()
        self.main_window.close()
        self.login_window.close()
        self.services.close()
        record_scratch_in(None)
        self.collector.stop()


def build_app(data_dir: Path | str | None = None, keyring_backend="system") -> App:
    """The application's windows and services on ``data_dir`` (default: the settings' data dir)."""
    env = dict(os.environ)
    if data_dir is not None:
        env["RET_DATA_DIR"] = str(data_dir)
    return _build(load_settings(env), keyring_backend)


def _build(settings: Settings, keyring_backend="system") -> App:
    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    qapp.setApplicationName(APP_NAME)
    apply_theme(qapp)
    try:
        services, damage = open_services(settings, keyring_backend=keyring_backend), None
    except AppDatabaseDamaged as error:  # moved aside: this start goes on with an empty database
        services, damage = open_services(settings, keyring_backend=keyring_backend), error
    services.jobs.mark_interrupted()
    record_scratch_in(settings.runtime_root / "scratch")
    sweep_leftovers(settings.runtime_root, settings.sessions_dir)  # what killed runs left behind
    login_window = LoginWindow(services.accounts)
    main_window = MainWindow(services)
    controller = AppController(services, login_window, main_window)
    main_window.confirm_close = controller.sign_out
    app = App(qapp, services, login_window, main_window, controller, GuiThreadGarbageCollector(qapp))
    if damage is not None:
        app.damage_dialog = _show_damage(login_window, damage)
    return app


def _show_damage(parent: LoginWindow, damage: AppDatabaseDamaged) -> QMessageBox:
    dialog = QMessageBox(
        QMessageBox.Icon.Critical, APP_NAME,
        f"The account database could not be used ({damage.reason}), so it was moved aside to\n"
        f"{damage.moved_to}\n\n"
        "No account can sign in until you do one of these:\n"
        f"• quit RET Desktop and put that file (or a backup) back as {damage.path.name}, or\n"
        "• create an administrator in a terminal:\n"
        "    ret-desktop users add NAME --role admin --password-stdin",
        QMessageBox.StandardButton.Ok, parent,
    )
    dialog.setObjectName("accountDatabaseDamaged")
    dialog.setModal(True)
    dialog.show()
    return dialog


def main(settings: Settings) -> int:
    """Run the window on ``settings`` (loaded, with logging set up, by the command line)."""
    make_private_dir(settings.data_dir)
    if QApplication.instance() is None and not platform_usable():
        return 2  # Qt would abort with a misleading hint; the message names the missing libraries
    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    lock = QLockFile(str(settings.data_dir / "ret-desktop.lock"))
    lock.setStaleLockTime(0)
    if not lock.tryLock(100):
        QMessageBox.critical(None, APP_NAME, "RET Desktop is already running for this data folder.\n"
                                             f"({settings.data_dir})")
        return 2
    app = _build(settings)
    app.services.sessions.holds_data_lock = True  # no other window can be working in a session
    if not app.controller.sign_in_remembered():
        app.login_window.show()
    try:
        return qapp.exec()
    finally:
        app.close()
        lock.unlock()
