"""The main window: a frame of actions, menus, docks and the status bar around the panels (Sources,
Tables, Jobs, Search, Column profile). The panels talk through the session controller's signals; each
user operation is an op over the job runner (gui/ops.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ret_desktop import APP_NAME
from ret_desktop.core.convert import ConvertOptions
from ret_desktop.core.roles import CHANGE_LIMITS, MANAGE_ACCOUNTS, READ_AUDIT, may
from ret_desktop.core.services import Services
from ret_desktop.core.text import counted
from ret_desktop.gui.about_dialog import about_action
from ret_desktop.gui.actions import make_action
from ret_desktop.gui.compare_dialog import CompareDialog
from ret_desktop.gui.compare_window import CompareWindow
from ret_desktop.gui.audit_window import AuditWindow
from ret_desktop.gui.convert_dialog import ConvertDialog
from ret_desktop.gui.idle_lock import LockPage
from ret_desktop.gui.jobs_panel import JobsPanel
from ret_desktop.gui.ops import ConvertOp, ExportOp, ImportOp, ReadStructureOp
from ret_desktop.gui.password_dialog import PasswordDialog
from ret_desktop.gui.profile_panel import ColumnProfilePanel
from ret_desktop.gui.search_panel import SearchPanel
from ret_desktop.gui.session import SessionController, SessionState
from ret_desktop.gui.settings_dialog import SettingsDialog
from ret_desktop.gui.sources_panel import SourcesPanel
from ret_desktop.gui.table_editing import TableEditor
from ret_desktop.gui.tables_panel import TablesPanel
from ret_desktop.gui.users_window import UsersWindow


DEFAULT_FORMATS = ("csv", "xlsx")
FORMAT_NAMES = {"csv": "CSV", "xlsx": "XLSX", "zip": "all in one ZIP"}


class MainWindow(QMainWindow):
    sign_out_requested = Signal()
    settings_applied = Signal(object)  # the new Settings
    unlocked = Signal()

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("mainWindow")
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.controller = SessionController(services, self)
        self.controller.status_message.connect(self.refresh_status)
        # Asked before the window closes with a session open (signs out); False keeps it open.
        self.confirm_close: Callable[[], bool] = lambda: True
        self._build_actions()
        self._build_views()
        self._build_edit_menu()
        self.tools_menu = self.menuBar().addMenu("&Tools")  # Users and Audit: administrators only (see _show_role)
        self.tools_menu.addAction(self.action_compare)
        self.tools_menu.addSeparator()
        self.tools_menu.addAction(self.action_users)
        self.tools_menu.addAction(self.action_audit)

    # ------------------------------------------------------------------ building
    def _build_actions(self) -> None:
        self.action_import = make_action(self, "actionImport", "&Import…", [QKeySequence.StandardKey.Open],
                                         self.choose_imports, "import")
        self.action_convert = make_action(self, "actionConvert", "&Convert…", ["Ctrl+R"], self.choose_conversion,
                                          "convert")
        self.action_export = make_action(self, "actionExport", "&Export…", ["Ctrl+E"], lambda: self.choose_export(),
                                         "export")
        self.action_sign_out = make_action(self, "actionSignOut", "Sign &out", ["Ctrl+Shift+Q"],
                                           self.sign_out_requested.emit, "sign-out")
        self.action_settings = make_action(self, "actionSettings", "&Settings…", ["Ctrl+,"], self.open_settings,
                                           "settings")
        self.action_change_password = make_action(self, "actionChangePassword", "Change &password…", [],
                                                  self.open_change_password)
        self.action_users = make_action(self, "actionUsers", "&Users…", [], self.open_users)
        self.action_audit = make_action(self, "actionAudit", "&Audit log…", [], self.open_audit)
        self.action_compare = make_action(self, "actionCompare", "&Compare…", ["Ctrl+K"], self.open_compare,
                                          tip="Compare two batches")
        self.format_actions: dict[str, QAction] = {}
        format_menu = QMenu("Export &formats", self)  # what Export writes, remembered per user
        format_menu.setToolTipsVisible(True)
        for name, text in (("csv", "CSV"), ("xlsx", "XLSX"), ("zip", "All in one ZIP")):
            action = format_menu.addAction(text)
            action.setObjectName(f"actionFormat{name.capitalize()}")
            action.setCheckable(True)
            action.setChecked(name in DEFAULT_FORMATS)
            action.toggled.connect(self._set_formats)
            self.format_actions[name] = action
        format_menu.addSeparator()
        self.action_csv_raw = format_menu.addAction("Write CSV values exactly as stored (formulas not neutralised)")
        self.action_csv_raw.setObjectName("actionCsvRaw")
        self.action_csv_raw.setCheckable(True)
        self.action_csv_raw.setToolTip("Off: a value a spreadsheet would run as a formula (=, +, -, @) is "
                                       "written with a leading ' in CSV files and the patch log.")
        self.action_csv_raw.toggled.connect(self._set_csv_raw)
        self.action_export.setMenu(format_menu)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.action_import, self.action_convert, self.action_export):
            toolbar.addAction(action)
        toolbar.addSeparator()
        self.search = SearchPanel(self.controller, self)
        toolbar.addWidget(self.search.box)
        toolbar.addSeparator()
        self.user_label = QLabel("")
        toolbar.addWidget(self.user_label)
        toolbar.addAction(self.action_sign_out)
        menu = self.menuBar().addMenu("&File")
        for action in (self.action_import, self.action_convert, self.action_export):
            menu.addAction(action)
        menu.addMenu(format_menu)
        self.action_save_profile = make_action(
            self, "actionSaveProfile", "Save conversion &profile…", [], lambda: self.save_conversion_profile(),
            tip="Save the record paths and modes picked for each kind of document (for ret-desktop convert --profile)")
        menu.addAction(self.action_save_profile)
        menu.addSeparator()
        menu.addAction(self.action_settings)
        menu.addAction(self.action_change_password)
        menu.addAction(self.action_sign_out)

    def _build_edit_menu(self) -> None:
        self.table_editor = TableEditor(self.controller, self.tables.table_view, self)
        self.table_editor.csv_raw = self.action_csv_raw.isChecked
        self.table_editor.export_folder = self._export_start_folder
        edit_menu = self.menuBar().addMenu("&Edit")
        editor = self.table_editor
        for group in ((editor.undo, editor.redo), (editor.copy, editor.paste, editor.fill_down),
                      (editor.insert_row, editor.append_row, editor.delete_rows),
                      (editor.add_column, editor.rename_column, editor.delete_column),
                      (editor.new_table, editor.export_patch_log)):
            for action in group:
                edit_menu.addAction(action)
            edit_menu.addSeparator()
        table_view = self.tables.table_view
        table_view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        header = table_view.horizontalHeader()
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        header.addActions([editor.add_column, editor.rename_column, editor.delete_column])
        view_menu = self.menuBar().addMenu("&View")  # a closed panel comes back from here
        view_menu.addAction(self.search.focus_action)
        view_menu.addSeparator()
        for dock in (self.sources_dock, self.profile_dock, self.jobs_dock, self.search_dock):
            view_menu.addAction(dock.toggleViewAction())
        self.menuBar().addMenu("&Help").addAction(about_action(lambda: self.services.settings, self))

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_views(self) -> None:
        controller = self.controller
        self.sources = SourcesPanel(controller, self)
        self.sources.wants_width.connect(self._fit_sources_dock)
        self.tables = TablesPanel(controller, self)
        sources = QWidget(self)  # the Sources dock: what came in, then the tables it made
        sources_layout = QVBoxLayout(sources)
        sources_layout.addWidget(self.sources)
        sources_layout.addWidget(QLabel("Tables"))
        sources_layout.addWidget(self.tables.tables_view)
        self.sources_dock = self._dock("Sources", "sourcesDock", sources, Qt.DockWidgetArea.LeftDockWidgetArea)

        self.lock_page = LockPage(self.services.accounts, self)
        self.lock_page.sign_out_requested.connect(self.sign_out_requested.emit)
        self.lock_page.unlocked.connect(self.unlock)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.tables)
        self.pages.addWidget(self.lock_page)
        self.setCentralWidget(self.pages)
        self._docks_before_lock: list[QDockWidget] = []

        self.jobs = JobsPanel(controller, self)
        self.jobs_dock = self._dock("Jobs", "jobsDock", self.jobs, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.search_dock = self._dock("Search results", "searchDock", self.search.results,
                                      Qt.DockWidgetArea.BottomDockWidgetArea)
        self.profile = ColumnProfilePanel(self)
        self.profile.value_clicked.connect(self.tables.filter_to_value)
        self.tables.model_changed.connect(self.profile.show_table)
        controller.session_ended.connect(self.profile.wait)  # its reads end before the workbook goes away
        self.profile_dock = self._dock("Column profile", "profileDock", self.profile,
                                       Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.jobs_dock, self.search_dock)
        self.jobs_dock.raise_()
        self.search.hit_activated.connect(self.tables.show_hit)
        self.search.box.returnPressed.connect(self.search_dock.raise_)

        self.status_user = QLabel("")
        self.status_session = QLabel("")
        self.status_cache = QLabel("")
        for name, label in (("statusUser", self.status_user), ("statusSession", self.status_session),
                            ("statusSize", self.tables.size_label), ("statusCache", self.status_cache),
                            ("statusJob", self.jobs.status_label)):
            label.setObjectName(name)
            self.statusBar().addPermanentWidget(label)

    def closeEvent(self, event) -> None:
        if self.controller.session is not None and not self.confirm_close():
            event.ignore()
            return
        event.accept()

    # ------------------------------------------------------------------ session
    def start_session(self, session: SessionState) -> None:
        """Show ``session``; a resumed one comes back with its sources and tables."""
        self._restore_layout(session.user_name)
        self._restore_export_choices(session)
        self._sources_fitted = False
        self.user_label.setText(f"  {session.user_name}  ")
        self.status_user.setText(session.user_name)
        self.status_session.setText(f"session {session.info.session_id[:8]}")
        self.status_session.setToolTip("This session: what you bring in and make stays in it until you sign "
                                       "out, and is deleted then")
        self._show_role(session)
        self.controller.start(session)

    def _show_role(self, session: SessionState) -> None:
        """The menus offer only what the role may do (the core refuses the rest anyway)."""
        for action, what in ((self.action_users, MANAGE_ACCOUNTS), (self.action_audit, READ_AUDIT),
                             (self.action_settings, CHANGE_LIMITS)):
            allowed = self._may(what, session)
            action.setVisible(allowed)
            action.setEnabled(allowed)

    def _restore_layout(self, user_name: str) -> None:
        store, key = self.controller.layout_store(user_name)
        geometry, state = store.value(key + "geometry"), store.value(key + "state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is None or not self.restoreState(state):
            QTimer.singleShot(0, self._default_dock_sizes)  # once the window has its size

    def _fit_sources_dock(self, wanted: int) -> None:
        """Widen Sources once per session, when names first come in, so they show whole (to 35% of the window)."""
        if self._sources_fitted or self.controller.session is None or not self.controller.session.intake.documents:
            return
        self._sources_fitted = True
        width = min(wanted + 24, int(self.width() * 0.35))  # the dock's own margins
        if width > self.sources_dock.width():
            self.resizeDocks([self.sources_dock], [width], Qt.Orientation.Horizontal)

    def _default_dock_sizes(self) -> None:
        self.resizeDocks([self.sources_dock], [380], Qt.Orientation.Horizontal)
        self.resizeDocks([self.jobs_dock], [150], Qt.Orientation.Vertical)
        self.resizeDocks([self.profile_dock], [260], Qt.Orientation.Horizontal)

    def _save_layout(self, user_name: str) -> None:
        store, key = self.controller.layout_store(user_name)
        store.setValue(key + "geometry", self.saveGeometry())
        store.setValue(key + "state", self.saveState())
        store.sync()

    def end_session(self) -> None:
        """Stop the session's jobs and let go of its files (before the session folder is wiped)."""
        if self.controller.session is not None and not self.locked:
            self._save_layout(self.controller.session.user_name)
        self._close_dialogs()  # the Users and Audit windows act for this session's account
        self.controller.end()
        if self.locked:
            self._show_data()

    @property
    def locked(self) -> bool:
        return self.pages.currentWidget() is self.lock_page

    def lock(self) -> None:
        """Hide the session's data until the password is given again (jobs go on)."""
        session = self.controller.session
        if session is None or self.locked:
            return
        self._close_dialogs()  # what they showed is the session's too
        self._docks_before_lock = [d for d in self.findChildren(QDockWidget) if d.isVisible()]
        for dock in self._docks_before_lock:
            dock.hide()
        for action in self._session_actions():
            action.setEnabled(False)
        self.search.box.setEnabled(False)
        self.pages.setCurrentWidget(self.lock_page)
        self.lock_page.show_for(session.user_name)
        self.services.audit.record("idle_lock", session.user_name, session.info.session_id)

    def _close_dialogs(self) -> None:
        for dialog in self.findChildren(QDialog):
            if dialog.isVisible():
                dialog.reject()

    def _session_actions(self) -> list[QAction]:
        """What the lock disables: everything that shows or changes the session's data."""
        return [self.action_import, self.action_convert, self.action_export, self.action_settings,
                self.action_change_password, self.action_users, self.action_audit, self.action_compare,
                self.search.focus_action, *self.table_editor.actions]

    def unlock(self) -> None:
        self._show_data()
        self.controller.audit("idle_unlock")
        self.unlocked.emit()

    def _show_data(self) -> None:
        for dock in self._docks_before_lock:
            dock.show()
        for action in self._session_actions():
            action.setEnabled(True)
        self.table_editor.show_history()
        self.search.box.setEnabled(True)
        if self.controller.session is not None:
            self._show_role(self.controller.session)
        self.pages.setCurrentIndex(0)

    def _may(self, what: str, session: SessionState | None = None) -> bool:
        session = session or self.controller.session
        return session is not None and session.actor is not None and may(self.services.app_db, session.actor, what)

    def _refuse(self, what: str) -> bool:
        """True (and a message) when the signed-in role may not do ``what``."""
        if self._may(what):
            return False
        self.refresh_status(f"Only an administrator may {what}.")
        return True

    def open_settings(self) -> None:
        if self._refuse(CHANGE_LIMITS):
            return

        def apply(settings) -> None:
            self.settings_applied.emit(settings)
            self.refresh_status("Settings saved and applied.")

        actor = self.controller.session.actor
        dialog = SettingsDialog(self.services.settings, apply, self,
                                save=lambda changes: self.services.change_settings(changes, by=actor))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def open_change_password(self) -> PasswordDialog:
        session = self.controller.session
        dialog = PasswordDialog(self.services.accounts, session.user_name, session.info.session_id, parent=self)
        dialog.accepted.connect(lambda: self.refresh_status("Password changed."))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def open_users(self) -> UsersWindow | None:
        if self._refuse(MANAGE_ACCOUNTS):
            return None
        window = UsersWindow(self.services, self.controller.session.actor, self)
        window.finished.connect(window.deleteLater)
        window.show()
        return window

    def open_compare(self) -> CompareDialog | None:
        if self.controller.session is None:
            return None
        dialog = CompareDialog(self.controller, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.compared.connect(lambda path, summary: CompareWindow(self.controller, path, summary, self).show())
        dialog.show()
        return dialog

    def open_audit(self) -> AuditWindow | None:
        if self._refuse(READ_AUDIT):
            return None
        names = [user.name for user in self.services.accounts.list_users()]
        window = AuditWindow(self.services.audit, self.controller.session.actor, names, self)
        window.finished.connect(window.deleteLater)
        window.show()
        return window

    def refresh_status(self, message: str = "") -> None:
        entries = counted(self.services.cache.stats()["entries"], "entry", "entries")
        self.status_cache.setText(f"cache: {entries}")
        self.status_cache.setToolTip("Entries in the session cache (all users), of at most "
                                     f"{self.services.settings.session_cache_max_size:,}")
        if message:
            self.statusBar().showMessage(message, 10_000)

    # ------------------------------------------------------------------ import
    def choose_imports(self) -> None:
        paths, _filter = QFileDialog.getOpenFileNames(self, "Import ZIP or XML files", "",
                                                      "ZIP archives and XML (*.zip *.xml);;All files (*)")
        if paths:
            self.import_paths([Path(p) for p in paths])

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.import_paths(paths)

    def import_paths(self, paths: list[Path]) -> str | None:
        return ImportOp(self.controller, paths).run()

    # ------------------------------------------------------------------ convert
    def _has_documents(self) -> bool:
        session = self.controller.session
        if session is None or not session.intake.documents:
            self.refresh_status("Nothing to convert yet: import ZIP or XML files first (Ctrl+O).")
            return False
        return True

    def choose_conversion(self) -> str | None:
        """Read the structure of the groups (a job), then ask how to convert them."""
        if not self._has_documents():
            return None
        op = ReadStructureOp(self.controller)
        chosen = self.sources.selected_groups() or set(op.report.groups)
        op.succeeded.connect(lambda structures: self._ask_conversion(structures, chosen))
        return op.run()

    def _ask_conversion(self, structures, chosen: set[str]) -> None:
        session = self.controller.session
        dialog = ConvertDialog(structures, chosen, session.options.mode, session.options.record_paths, self,
                               profile=self.controller.conversion_profile)

        def accepted() -> None:
            self.controller.remember_conversion(dialog.choices_to_remember())
            session.options = dialog.options()
            self.convert(session.options, dialog.chosen_groups())

        dialog.accepted.connect(accepted)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def convert(self, options: ConvertOptions = ConvertOptions(), groups: list[str] | None = None) -> str | None:
        """Convert the documents of ``groups`` (default: all) into the workbook; the tables of other
        groups stay."""
        if not self._has_documents():
            return None
        session = self.controller.session
        replaced = {t.name for t in session.tables if groups is None or t.group in set(groups)}
        edited = sorted(replaced & self.controller.read_workbook.edited_tables())
        op = ConvertOp(self.controller, options, groups)
        if not op.admit():
            return None
        if edited and QMessageBox.question(
                self, APP_NAME, f"Converting again replaces {', '.join(edited)}, and the edits made to "
                                f"{'it' if len(edited) == 1 else 'them'} are lost. Convert anyway?",
        ) != QMessageBox.StandardButton.Yes:
            op.deleteLater()
            self.refresh_status("Not converted: the edited tables stay as they are.")
            return None
        return op.run()

    def save_conversion_profile(self, path: Path | None = None) -> bool:
        """Write the remembered record paths and modes to a file ``ret-desktop convert --profile`` reads."""
        profile = self.controller.conversion_profile
        if not profile.choices:
            self.refresh_status("No conversion choices to save yet: pick a record path in the Convert dialog (Ctrl+R) first.")
            return False
        if path is None:
            name, _ = QFileDialog.getSaveFileName(self, "Save conversion profile", "conversion-profile.json",
                                                  "Conversion profile (*.json)")
            if not name:
                return False
            path = Path(name)
        try:
            profile.save(path)
        except OSError as error:
            self.refresh_status(f"The conversion profile was not saved: {error.strerror or error}.")
            return False
        self.refresh_status(f"Saved the conversion profile to {path}; use it with ret-desktop convert --profile.")
        return True

    # ------------------------------------------------------------------ export
    def choose_export(self, then: Callable[[], object] | None = None) -> str | None:
        """Ask for a folder and export into it; ``then`` runs once the export has succeeded."""
        session = self.controller.session
        if session is None or not session.tables:
            self.refresh_status("Nothing to export yet: convert first (Ctrl+R).")
            return None
        ticked = len(self.tables.checked_tables())
        formats = " + ".join(FORMAT_NAMES[f] for f in session.formats if f != "zip")
        formats += " in one ZIP" if "zip" in session.formats else ""
        folder = QFileDialog.getExistingDirectory(
            self, f"Export {counted(ticked, 'table')} as {formats}: choose a folder", self._export_start_folder())
        if not folder:
            return None
        store, key = self.controller.layout_store(session.user_name)
        store.setValue(key + "export/folder", folder)
        return self.export_to(Path(folder), then=then)

    def _export_start_folder(self) -> str:
        """The folder of the last export, else Documents, else home (never the program's folder)."""
        session = self.controller.session
        if session is not None:
            store, key = self.controller.layout_store(session.user_name)
            last = store.value(key + "export/folder")
            if last and Path(last).is_dir():
                return str(last)
        documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        return documents if Path(documents).is_dir() else str(Path.home())

    def _restore_export_choices(self, session: SessionState) -> None:
        """The export formats and the CSV option as this user left them."""
        store, key = self.controller.layout_store(session.user_name)
        saved = store.value(key + "export/formats")
        formats = tuple(f for f in str(saved).split(",") if f in FORMAT_NAMES) if saved else DEFAULT_FORMATS
        session.formats = formats if set(formats) & {"csv", "xlsx"} else DEFAULT_FORMATS
        for name, action in self.format_actions.items():
            action.blockSignals(True)
            action.setChecked(name in session.formats)
            action.blockSignals(False)
        self.action_csv_raw.blockSignals(True)
        self.action_csv_raw.setChecked(store.value(key + "export/csv-raw", False, type=bool))
        self.action_csv_raw.blockSignals(False)

    def _set_formats(self) -> None:
        chosen = tuple(name for name, action in self.format_actions.items() if action.isChecked())
        if not set(chosen) & {"csv", "xlsx"}:  # keep one table format at least
            self.format_actions["csv"].setChecked(True)
            chosen = ("csv", *chosen)
        session = self.controller.session
        if session is not None:
            session.formats = chosen
            store, key = self.controller.layout_store(session.user_name)
            store.setValue(key + "export/formats", ",".join(chosen))

    def _set_csv_raw(self, raw: bool) -> None:
        session = self.controller.session
        if session is not None:
            store, key = self.controller.layout_store(session.user_name)
            store.setValue(key + "export/csv-raw", raw)

    def export_to(self, folder: Path, formats: tuple[str, ...] | None = None,
                  tables: list[str] | None = None, then: Callable[[], object] | None = None) -> str | None:
        """Export ``tables`` (default: the ticked ones) in ``formats`` (default: the session's; "zip"
        puts everything into one ZIP) into ``folder``."""
        session = self.controller.session
        if session is None or not session.tables:
            return None
        formats = session.formats if formats is None else formats
        op = ExportOp(self.controller, folder, formats, set(self.tables.checked_tables() if tables is None else tables),
                      csv_raw=self.action_csv_raw.isChecked())
        if not op.admit():
            return None
        if not op.chosen:
            op.deleteLater()
            self.refresh_status("No table is ticked in the Tables list: nothing to export.")
            return None
        if then is not None:
            op.succeeded.connect(lambda _written: then())
        return op.run()
