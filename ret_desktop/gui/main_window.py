"""The main window: sources, tables, the table view, jobs, status bar. Thin: work goes to core via jobs."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ret_desktop import APP_NAME
from ret_desktop.core.convert import (
    ConversionResult,
    ConvertOptions,
    TableOutcome,
    convert_documents,
    describe_groups,
    export_tables,
    export_zip,
)
from ret_desktop.core.export import safe_file_stem
from ret_desktop.core.fsutil import atomic_write_json
from ret_desktop.core.importing import IntakeLimits, IntakeReport, take_in
from ret_desktop.core.ratelimit import OPERATIONS_SCOPE
from ret_desktop.core.services import Services
from ret_desktop.core.sessions import SessionInfo
from ret_desktop.core.workbook import Workbook
from ret_desktop.gui.about_dialog import about_action
from ret_desktop.gui.actions import make_action
from ret_desktop.gui.convert_dialog import ConvertDialog
from ret_desktop.gui.idle_lock import LockPage
from ret_desktop.gui.jobs import JobRunner
from ret_desktop.gui.profile_panel import ColumnProfilePanel
from ret_desktop.gui.search_panel import SearchPanel
from ret_desktop.gui.settings_dialog import SettingsDialog
from ret_desktop.gui.table_editing import TableEditor
from ret_desktop.gui.table_model import WorkbookTableModel
from ret_desktop.gui.table_view import EntryTableView
from ret_desktop.gui.theme import icon

EMPTY_HINT = "Drop ZIP or XML files here, or press Ctrl+O"
INTAKE_FILE = "intake.json"  # in the session folder: what was brought in, for a resumed session


_COUNTED = {"Export": "tables", "Index for search": "rows"}  # what a job's progress counts; bytes for Convert


def _amount(n: int, kind: str) -> str:
    """A job's progress count in words."""
    if kind != "Convert":
        return f"{n:,} {_COUNTED.get(kind, 'files')}"
    for unit in ("B", "KB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.2f} GB"


@dataclass
class SessionState:
    """What the signed-in person has brought in and made in this session."""

    info: SessionInfo
    folder: Path
    user_name: str
    intake: IntakeReport = field(default_factory=IntakeReport)
    tables: list[TableOutcome] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # document -> why it did not convert
    unexported: bool = False
    options: ConvertOptions = field(default_factory=ConvertOptions)  # the last conversion's choices
    formats: tuple[str, ...] = ("csv", "xlsx")  # what Export writes ("zip": all in one ZIP)
    edited: bool = False  # tables were changed by hand since the last export


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
        self.session: SessionState | None = None
        self.runner: JobRunner | None = None
        self._running_kind = ""
        self.read_workbook: Workbook | None = None
        # Asked before the window closes with a session open (signs out); False keeps it open.
        self.confirm_close: Callable[[], bool] = lambda: True
        self._build_actions()
        self._build_views()
        self._build_edit_menu()

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
        self.format_actions: dict[str, QAction] = {}
        format_menu = QMenu("Export &formats", self)
        for name, text in (("csv", "CSV"), ("xlsx", "XLSX"), ("zip", "All in one ZIP")):
            action = format_menu.addAction(text)
            action.setObjectName(f"actionFormat{name.capitalize()}")
            action.setCheckable(True)
            action.setChecked(name in ("csv", "xlsx"))
            action.toggled.connect(self._set_formats)
            self.format_actions[name] = action
        self.action_export.setMenu(format_menu)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.action_import, self.action_convert, self.action_export):
            toolbar.addAction(action)
        toolbar.addSeparator()
        self.search = SearchPanel(self, self)
        toolbar.addWidget(self.search.box)
        toolbar.addSeparator()
        self.user_label = QLabel("")
        toolbar.addWidget(self.user_label)
        toolbar.addAction(self.action_sign_out)
        menu = self.menuBar().addMenu("&File")
        for action in (self.action_import, self.action_convert, self.action_export):
            menu.addAction(action)
        menu.addMenu(format_menu)
        menu.addSeparator()
        menu.addAction(self.action_settings)
        menu.addAction(self.action_sign_out)

    def _build_edit_menu(self) -> None:
        self.table_editor = TableEditor(self)
        edit_menu = self.menuBar().addMenu("&Edit")
        editor = self.table_editor
        for group in ((editor.undo, editor.redo), (editor.copy, editor.paste, editor.fill_down),
                      (editor.insert_row, editor.append_row, editor.delete_rows),
                      (editor.add_column, editor.rename_column, editor.delete_column),
                      (editor.new_table, editor.export_patch_log)):
            for action in group:
                edit_menu.addAction(action)
            edit_menu.addSeparator()
        self.table_view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        header = self.table_view.horizontalHeader()
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
        self.groups_view = QTreeWidget(self)
        self.groups_view.setObjectName("groupsView")
        self.groups_view.setAccessibleName("Sources")
        self.groups_view.setHeaderLabels(["Source", "Status"])
        self.groups_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.groups_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # archive chains: keep both ends
        header = self.groups_view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(1, 110)
        self.groups_view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        # Keys of Sources only: F2 in the table edits a cell.
        self.action_rename_group = make_action(self.groups_view, "actionRenameGroup", "&Rename group…", ["F2"],
                                               self.rename_group, local=True)
        self.action_merge_groups = make_action(self.groups_view, "actionMergeGroups", "&Merge groups…", ["Ctrl+M"],
                                               self.merge_groups, local=True)
        sources = QWidget(self)
        sources_layout = QVBoxLayout(sources)
        self.empty_hint = QLabel(EMPTY_HINT)
        self.empty_hint.setObjectName("emptyHint")
        self.empty_hint.setWordWrap(True)
        sources_layout.addWidget(self.empty_hint)
        sources_layout.addWidget(self.groups_view)
        self.tables_view = QListWidget(self)
        self.tables_view.setObjectName("tablesView")
        self.tables_view.setAccessibleName("Result tables")
        self.tables_view.currentItemChanged.connect(self._open_selected_table)
        sources_layout.addWidget(QLabel("Tables"))
        sources_layout.addWidget(self.tables_view)
        self.sources_dock = self._dock("Sources", "sourcesDock", sources, Qt.DockWidgetArea.LeftDockWidgetArea)

        centre = QWidget(self)
        centre_layout = QVBoxLayout(centre)
        self.filter_box = QLineEdit(centre)
        self.filter_box.setObjectName("filterBox")
        self.filter_box.setPlaceholderText("Filter rows: text any cell contains, or column = value; Enter applies")
        self.filter_box.setAccessibleName("Filter rows")
        self.filter_box.returnPressed.connect(self._apply_filter)
        self.table_view = EntryTableView(centre)
        self.table_view.setObjectName("tableView")
        self.table_view.setAccessibleName("Table")
        self.table_view.setWordWrap(False)  # one line per row: more rows on screen; the tooltip has it all
        self.table_view.verticalHeader().setDefaultSectionSize(self.table_view.fontMetrics().height() + 6)
        self.table_view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table_view.setSortingEnabled(True)
        centre_layout.addWidget(self.filter_box)
        centre_layout.addWidget(self.table_view)
        self.lock_page = LockPage(self.services.accounts, self)
        self.lock_page.sign_out_requested.connect(self.sign_out_requested.emit)
        self.lock_page.unlocked.connect(self.unlock)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(centre)
        self.pages.addWidget(self.lock_page)
        self.setCentralWidget(self.pages)
        self._docks_before_lock: list[QDockWidget] = []

        jobs = QWidget(self)
        jobs_layout = QVBoxLayout(jobs)
        running = QHBoxLayout()
        self.job_label = QLabel("No job running.")
        self.job_label.setObjectName("jobLabel")
        self.job_progress = QProgressBar(jobs)
        self.job_progress.setFormat("")
        self.job_progress.setRange(0, 1)
        self.job_progress.setObjectName("jobProgress")
        self.cancel_button = QPushButton(icon("cancel"), "Cancel", jobs)
        self.cancel_button.setObjectName("cancelJob")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._cancel_jobs)
        running.addWidget(self.job_label, 1)
        running.addWidget(self.job_progress, 2)
        running.addWidget(self.cancel_button)
        jobs_layout.addLayout(running)
        self.jobs_view = QListWidget(jobs)
        self.jobs_view.setObjectName("jobsView")
        self.jobs_view.setAccessibleName("Jobs")
        jobs_layout.addWidget(self.jobs_view)
        self.jobs_dock = self._dock("Jobs", "jobsDock", jobs, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.search_dock = self._dock("Search results", "searchDock", self.search.results,
                                      Qt.DockWidgetArea.BottomDockWidgetArea)
        self.profile = ColumnProfilePanel(self)
        self.profile.value_clicked.connect(self.filter_to_value)
        self.profile_dock = self._dock("Column profile", "profileDock", self.profile,
                                       Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.jobs_dock, self.search_dock)
        self.jobs_dock.raise_()
        self.search.hit_activated.connect(self.show_hit)
        self.search.box.returnPressed.connect(self.search_dock.raise_)

        self.status_user = QLabel("")
        self.status_session = QLabel("")
        self.status_size = QLabel("")
        self.status_cache = QLabel("")
        self.status_job = QLabel("")
        for name, label in (("statusUser", self.status_user), ("statusSession", self.status_session),
                            ("statusSize", self.status_size), ("statusCache", self.status_cache),
                            ("statusJob", self.status_job)):
            label.setObjectName(name)
            self.statusBar().addPermanentWidget(label)

    def closeEvent(self, event) -> None:
        if self.session is not None and not self.confirm_close():
            event.ignore()
            return
        event.accept()

    # ------------------------------------------------------------------ session
    def start_session(self, session: SessionState) -> None:
        """Show ``session``; a resumed one comes back with its sources and tables."""
        self.session = session
        # The window's own connection: an edit while a job writes the workbook gives up quickly.
        self.read_workbook = Workbook(session.folder / "workbook.sqlite", busy_timeout_s=0.3)
        saved = session.folder / INTAKE_FILE
        if saved.exists():
            session.intake = IntakeReport.from_json(json.loads(saved.read_text(encoding="utf-8")), session.folder)
        session.tables = self._stored_tables()
        session.unexported = bool(session.tables)  # a resumed session's tables
        session.edited = bool(self.read_workbook.edited_tables())
        self._show_formats()
        self._restore_layout(session.user_name)
        self.runner = JobRunner(self.services.jobs, session.info.session_id, self)
        self.runner.job_started.connect(self._job_started)
        self.runner.job_progress.connect(self._job_progress)
        self.runner.job_finished.connect(self._job_finished)
        self.search.open(session.folder)
        self.search.build([t.name for t in session.tables])  # a resumed session's tables
        self.user_label.setText(f"  {session.user_name}  ")
        self.status_user.setText(session.user_name)
        self.status_session.setText(f"session {session.info.session_id[:8]}")
        self.jobs_view.clear()
        for record in self.services.jobs.list(session.info.session_id):  # a resumed session's past jobs
            if record.state.is_final:
                self._list_job(record)
        self._refresh_sources()
        self._refresh_tables()
        self.refresh_status()

    def _stored_tables(self, changed: str | None = None) -> list[TableOutcome]:
        """The workbook's tables as they are now. Rows are counted (not for every keystroke): those of
        every table, or, when only table ``changed`` changed, its rows alone."""
        known = {t.name: t for t in self.session.tables if t.name != changed} if changed is not None else {}
        return [known.get(name) or TableOutcome.from_info(self.read_workbook.info(name))
                for name in self.read_workbook.table_names()]

    def _layout_store(self, user_name: str) -> tuple[QSettings, str]:
        """Where the window's layout is kept: per user, beside settings.json, never in the session."""
        store = QSettings(str(self.services.settings.config_dir / "window.ini"), QSettings.Format.IniFormat)
        return store, f"{user_name.casefold()}/"

    def _restore_layout(self, user_name: str) -> None:
        store, key = self._layout_store(user_name)
        geometry, state = store.value(key + "geometry"), store.value(key + "state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is None or not self.restoreState(state):
            QTimer.singleShot(0, self._default_dock_sizes)  # once the window has its size

    def _default_dock_sizes(self) -> None:
        self.resizeDocks([self.sources_dock], [380], Qt.Orientation.Horizontal)
        self.resizeDocks([self.jobs_dock], [150], Qt.Orientation.Vertical)
        self.resizeDocks([self.profile_dock], [260], Qt.Orientation.Horizontal)

    def _save_layout(self, user_name: str) -> None:
        store, key = self._layout_store(user_name)
        store.setValue(key + "geometry", self.saveGeometry())
        store.setValue(key + "state", self.saveState())
        store.sync()

    def end_session(self) -> None:
        """Stop the session's jobs and let go of its files (before the session folder is wiped)."""
        if self.session is not None and not self.locked:
            self._save_layout(self.session.user_name)
        if self.runner is not None:
            self.runner.shutdown()
            self.runner.deleteLater()
            self.runner = None
        self.search.close()
        self._set_table_model(None)
        self.profile.wait()
        if self.read_workbook is not None:
            self.read_workbook.close()
            self.read_workbook = None
        self.session = None
        if self.locked:
            self._show_data()
        self.groups_view.clear()
        self.tables_view.clear()

    @property
    def locked(self) -> bool:
        return self.pages.currentWidget() is self.lock_page

    def lock(self) -> None:
        """Hide the session's data until the password is given again (jobs go on)."""
        if self.session is None or self.locked:
            return
        for dialog in self.findChildren(QDialog):
            if dialog.isVisible():
                dialog.reject()  # what it showed is the session's too
        self._docks_before_lock = [d for d in self.findChildren(QDockWidget) if d.isVisible()]
        for dock in self._docks_before_lock:
            dock.hide()
        for action in self._session_actions():
            action.setEnabled(False)
        self.search.box.setEnabled(False)
        self.pages.setCurrentWidget(self.lock_page)
        self.lock_page.show_for(self.session.user_name)
        self.services.audit.record("idle_lock", self.session.user_name, session_id=self.session.info.session_id)

    def _session_actions(self) -> list[QAction]:
        """What the lock disables: everything that shows or changes the session's data."""
        return [self.action_import, self.action_convert, self.action_export, self.action_settings,
                self.search.focus_action, *self.table_editor.actions]

    def unlock(self) -> None:
        self._show_data()
        self.unlocked.emit()

    def _show_data(self) -> None:
        for dock in self._docks_before_lock:
            dock.show()
        for action in self._session_actions():
            action.setEnabled(True)
        self.search.box.setEnabled(True)
        self.pages.setCurrentIndex(0)

    def open_settings(self) -> None:
        def apply(settings) -> None:
            self.services.apply_settings(settings)
            self.settings_applied.emit(settings)
            self.refresh_status("Settings saved and applied.")

        dialog = SettingsDialog(self.services.settings, apply, self)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def refresh_status(self, message: str = "") -> None:
        self.status_cache.setText(f"cache {self.services.cache.stats()['entries']} entries")
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

    def _allowed(self) -> bool:
        decision = self.services.limiter.hit(OPERATIONS_SCOPE, self.session.user_name)
        if not decision.allowed:
            self.refresh_status(f"Too many operations in a minute. Try again in {decision.wait_text()}.")
        return decision.allowed

    def import_paths(self, paths: list[Path]) -> str | None:
        if self.session is None or not self._allowed():
            return None
        folder = self.session.folder
        limits = IntakeLimits.from_settings(self.services.settings)

        def work(progress, cancelled):
            inputs = []
            for path in paths:  # loose XML files are copied in, so the session owns what it shows
                if path.is_file() and path.suffix.lower() == ".xml":
                    copy = folder / "input" / path.name
                    n = 1
                    while copy.exists():
                        n += 1
                        copy = folder / "input" / f"{path.stem} ({n}){path.suffix}"
                    shutil.copyfile(path, copy)
                    inputs.append(copy)
                else:
                    inputs.append(path)
            count = 0

            def seen(name):
                nonlocal count
                count += 1
                progress(count, 0, name)

            return take_in(inputs, folder / "extracted", limits=limits, should_cancel=cancelled, on_progress=seen)

        return self.runner.submit("import", work, self._imported)

    def _imported(self, report: IntakeReport) -> None:
        self.session.intake.extend(report)
        self._save_intake()
        self._refresh_sources()
        limits = f"; stopped by limits: {', '.join(report.limits_hit)}" if report.limits_hit else ""
        self.refresh_status(f"Imported {len(report.documents)} documents, skipped {len(report.skipped)}{limits}.")

    def _refresh_sources(self) -> None:
        self.groups_view.clear()
        intake = self.session.intake if self.session else IntakeReport()
        self.empty_hint.setVisible(not intake.documents and not intake.skipped)
        for group, documents in intake.groups.items():
            item = QTreeWidgetItem([group, f"{len(documents)} document{'s' if len(documents) != 1 else ''}"])
            item.setData(0, Qt.ItemDataRole.UserRole, group)
            for document in documents:
                why = self.session.failed.get(document.display)
                child = QTreeWidgetItem([document.chain[-1].rsplit("/", 1)[-1], f"failed: {why}" if why else ""])
                child.setToolTip(0, document.display)
                if why:
                    child.setIcon(0, self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))
                    child.setToolTip(1, why)
                item.addChild(child)
            self.groups_view.addTopLevelItem(item)
        if intake.skipped:
            skipped = QTreeWidgetItem(["Skipped", f"{len(intake.skipped)} entries"])
            for entry in intake.skipped:
                child = QTreeWidgetItem([entry.display, entry.reason])
                child.setToolTip(1, entry.reason)
                skipped.addChild(child)
            self.groups_view.addTopLevelItem(skipped)
        self.groups_view.expandToDepth(0)

    def selected_groups(self) -> set[str]:
        """The groups selected in Sources (a selected document counts for its group)."""
        groups = set()
        for item in self.groups_view.selectedItems():
            top = item if item.parent() is None else item.parent()
            group = top.data(0, Qt.ItemDataRole.UserRole)
            if group:
                groups.add(group)
        return groups

    def rename_group(self) -> None:
        groups = sorted(self.selected_groups())
        if self.session is None or len(groups) != 1:
            self.refresh_status("Select one group in Sources to rename it.")
            return
        name, ok = QInputDialog.getText(self, "Rename group", f"New name for {groups[0]}:", text=groups[0])
        if ok:
            self._regroup(groups, name)

    def merge_groups(self) -> None:
        groups = sorted(self.selected_groups())
        if self.session is None or len(groups) < 2:
            self.refresh_status("Select two or more groups in Sources to merge them.")
            return
        name, ok = QInputDialog.getText(self, "Merge groups", f"Name of the merged group ({', '.join(groups)}):",
                                        text=groups[0])
        if ok:
            self._regroup(groups, name)

    def _regroup(self, groups: list[str], name: str) -> None:
        """Put the documents of ``groups`` into group ``name``; they convert into its table from then on."""
        name = name.strip()
        if not name:
            self.refresh_status("A group needs a name.")
            return
        for group in groups:
            self.session.intake.rename_group(group, name)
        self._save_intake()
        self._refresh_sources()
        self.refresh_status(f"{' + '.join(groups)} → {name}. Convert again to update the tables.")

    def _save_intake(self) -> None:
        atomic_write_json(self.session.folder / INTAKE_FILE, self.session.intake.to_json(self.session.folder))

    # ------------------------------------------------------------------ convert
    def _has_documents(self) -> bool:
        if self.session is None or not self.session.intake.documents:
            self.refresh_status("Nothing to convert yet: import ZIP or XML files first (Ctrl+O).")
            return False
        return True

    def choose_conversion(self) -> str | None:
        """Read the structure of the groups (a job), then ask how to convert them."""
        if not self._has_documents():
            return None
        report = IntakeReport(list(self.session.intake.documents))
        chosen = self.selected_groups() or set(report.groups)

        def work(progress, cancelled):
            return describe_groups(report, should_cancel=cancelled, on_progress=progress)

        return self.runner.submit("read structure", work, lambda structures: self._ask_conversion(structures, chosen))

    def _ask_conversion(self, structures, chosen: set[str]) -> None:
        session = self.session
        dialog = ConvertDialog(structures, chosen, session.options.mode, session.options.record_paths,
                               session.formats, self)

        def accepted() -> None:
            session.options = dialog.options()
            session.formats = dialog.formats()
            self._show_formats()
            self.convert(session.options, dialog.chosen_groups())

        dialog.accepted.connect(accepted)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def convert(self, options: ConvertOptions = ConvertOptions(), groups: list[str] | None = None) -> str | None:
        """Convert the documents of ``groups`` (default: all) into the workbook; the tables of other
        groups stay."""
        if not self._has_documents() or not self._allowed():
            return None
        wanted = None if groups is None else set(groups)
        report = IntakeReport([d for d in self.session.intake.documents if wanted is None or d.group in wanted])
        replaced = {t.name for t in self.session.tables if wanted is None or t.group in wanted}
        edited = sorted(replaced & self.read_workbook.edited_tables())
        if edited and QMessageBox.question(
                self, APP_NAME, f"Converting again replaces {', '.join(edited)}, and the edits made to "
                                f"{'it' if len(edited) == 1 else 'them'} are lost. Convert anyway?",
        ) != QMessageBox.StandardButton.Yes:
            self.refresh_status("Not converted: the edited tables stay as they are.")
            return None
        path = self.session.folder / "workbook.sqlite"

        def work(progress, cancelled):
            with Workbook(path) as workbook:
                return convert_documents(report, workbook, options, should_cancel=cancelled, on_progress=progress)

        return self.runner.submit("convert", work, self._converted)

    def _converted(self, result: ConversionResult) -> None:
        session = self.session
        session.tables = self._stored_tables()
        for outcome in result.files:
            if outcome.status == "failed":
                session.failed[outcome.path] = outcome.error
            else:
                session.failed.pop(outcome.path, None)
        session.unexported = bool(session.tables)
        session.edited = bool(self.read_workbook.edited_tables())  # edits of replaced tables went with them
        self._refresh_sources()
        self._refresh_tables()
        self.search.build([t.name for t in result.tables])
        converted = sum(1 for f in result.files if f.status == "ok")
        failed = sum(1 for f in result.files if f.status == "failed")
        self.refresh_status(f"Converted {converted} documents into {len(result.tables)} tables"
                            + (f"; {failed} failed (see Sources)." if failed else "."))

    @staticmethod
    def _table_label(name: str, rows: int, columns: int) -> str:
        return f"{name}  ({rows:,} × {columns})"

    def tables_changed(self, changed: str) -> None:
        """Table ``changed`` changed (a new table, an edit, undo or redo): list the tables again and
        show it; the table on screen keeps its sort and filter."""
        session = self.session
        if session is None:
            return
        session.tables = self._stored_tables(changed)
        session.unexported = True
        names = self.read_workbook.table_names()
        model = self.table_view.model()
        showing = model.table if isinstance(model, WorkbookTableModel) else None
        wanted = next((name for name in (changed, showing) if name in names), None)
        self.tables_view.blockSignals(True)
        self._refresh_tables(select=wanted)
        self.tables_view.blockSignals(False)
        if wanted is not None and wanted == showing:
            model.reload()
        else:
            self._open_selected_table(self.tables_view.currentItem())

    def _refresh_tables(self, select: str | None = None) -> None:
        self.tables_view.clear()
        for table in self.session.tables if self.session else []:
            item = QListWidgetItem(self._table_label(table.name, table.rows, len(table.columns)))
            item.setData(Qt.ItemDataRole.UserRole, table.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            item.setToolTip(f"{table.name}: from {table.record_path} in group {table.group}. "
                            "Ticked tables are exported.")
            self.tables_view.addItem(item)
        names = [t.name for t in self.session.tables] if self.session else []
        if names:
            self.tables_view.setCurrentRow(names.index(select) if select in names else 0)
        else:
            self._set_table_model(None)

    def _set_table_model(self, model: WorkbookTableModel | None) -> None:
        old = self.table_view.model()
        header = self.table_view.horizontalHeader()
        if isinstance(old, WorkbookTableModel) and self.session is not None:  # its column widths, for next time
            store, key = self._layout_store(self.session.user_name)
            store.setValue(f"{key}columns/{old.table}", header.saveState())
        self.table_view.setModel(model)
        if model is not None and self.session is not None:
            store, key = self._layout_store(self.session.user_name)
            saved = store.value(f"{key}columns/{model.table}")
            if saved is not None:
                header.restoreState(saved)
        self.profile.show_table(model)
        if isinstance(old, WorkbookTableModel):
            old.wait()
            old.deleteLater()
        if model is not None:
            model.busy_changed.connect(self._table_busy)
            model.rows_reordered.connect(self._show_table_size)
            model.query_failed.connect(lambda error: self.refresh_status(f"Sorting or filtering failed: {error}"))
            model.edited.connect(self._table_edited)
            model.edit_failed.connect(lambda error: self.refresh_status(f"Not changed: {error}"))
        self._show_table_size()

    def _table_edited(self, table: str, row_ids: list[int] | None) -> None:
        if self.session is not None:
            self.session.unexported = True
            self.session.edited = True
        self.search.rows_changed(table, row_ids)
        self._show_table_size()
        model = self.table_view.model()
        if isinstance(model, WorkbookTableModel) and model.table == table and not model.filtered:
            self._show_table_counts(table, model.rowCount(), model.columns)

    def _show_table_counts(self, table: str, rows: int, columns: list[str]) -> None:
        """Keep the Tables list right after rows or columns were added or deleted."""
        for outcome in self.session.tables if self.session else []:
            if outcome.name == table:
                outcome.rows, outcome.columns = rows, columns
        for i in range(self.tables_view.count()):
            item = self.tables_view.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == table:
                item.setText(self._table_label(table, rows, len(columns)))

    def show_hit(self, hit) -> None:
        """Open the table of a search hit and select its cell."""
        names = [t.name for t in self.session.tables] if self.session else []
        if hit.table not in names:
            return
        self.tables_view.setCurrentRow(names.index(hit.table))
        model = self.table_view.model()
        row = model.view_row(hit.row_id)
        if row is None:
            self.refresh_status("That row is hidden by the filter: clear the filter box to see it.")
            return
        index = model.index(row, model.columns.index(hit.column) if hit.column in model.columns else 0)
        self.table_view.setCurrentIndex(index)
        self.table_view.scrollTo(index)
        self.table_view.setFocus()

    def _table_busy(self, busy: bool) -> None:
        self.status_size.setText("sorting and filtering…" if busy else "")
        if not busy:
            self._show_table_size()

    def _show_table_size(self) -> None:
        model = self.table_view.model()
        self.status_size.setText(f"{model.rowCount():,} rows × {model.columnCount()} columns" if model else "")

    def _open_selected_table(self, current: QListWidgetItem | None, _previous=None) -> None:
        if current is None or self.read_workbook is None:
            return
        self.filter_box.clear()
        self.table_view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self._set_table_model(WorkbookTableModel(self.read_workbook, current.data(Qt.ItemDataRole.UserRole)))

    def filter_to_value(self, column: str, value: str) -> None:
        """Show the rows whose ``column`` holds ``value`` (a click in the column profile)."""
        self.filter_box.setText(f"{column} = {value}")
        self._apply_filter()

    def _apply_filter(self) -> None:
        model = self.table_view.model()
        if isinstance(model, WorkbookTableModel):
            model.set_filter(self.filter_box.text())

    # ------------------------------------------------------------------ export
    def choose_export(self, then: Callable[[], object] | None = None) -> str | None:
        """Ask for a folder and export into it; ``then`` runs once the export has succeeded."""
        if self.session is None or not self.session.tables:
            self.refresh_status("Nothing to export yet: convert first.")
            return None
        folder = QFileDialog.getExistingDirectory(self, "Export tables to folder")
        return self.export_to(Path(folder), then=then) if folder else None

    def checked_tables(self) -> list[str]:
        """The tables ticked in the Tables list (all are, until someone unticks them)."""
        return [self.tables_view.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.tables_view.count())
                if self.tables_view.item(i).checkState() == Qt.CheckState.Checked]

    def _show_formats(self) -> None:
        for name, action in self.format_actions.items():
            action.blockSignals(True)
            action.setChecked(name in self.session.formats)
            action.blockSignals(False)

    def _set_formats(self) -> None:
        chosen = tuple(name for name, action in self.format_actions.items() if action.isChecked())
        if not set(chosen) & {"csv", "xlsx"}:  # keep one table format at least
            self.format_actions["csv"].setChecked(True)
            chosen = ("csv", *chosen)
        if self.session is not None:
            self.session.formats = chosen

    def export_to(self, folder: Path, formats: tuple[str, ...] | None = None,
                  tables: list[str] | None = None, then: Callable[[], object] | None = None) -> str | None:
        """Export ``tables`` (default: the ticked ones) in ``formats`` (default: the session's; "zip"
        puts everything into one ZIP) into ``folder``."""
        if self.session is None or not self.session.tables or not self._allowed():
            return None
        formats = self.session.formats if formats is None else formats
        names = set(self.checked_tables() if tables is None else tables)
        chosen = [replace(t, files=[]) for t in self.session.tables if t.name in names]  # files get recorded
        if not chosen:
            self.refresh_status("No table is ticked in the Tables list: nothing to export.")
            return None
        table_formats = [f for f in formats if f != "zip"]
        path = self.session.folder / "workbook.sqlite"
        zip_path = folder / f"{safe_file_stem(self.session.user_name)} {time.strftime('%Y-%m-%d %H%M%S')}.zip"

        def work(progress, cancelled):
            with Workbook(path) as workbook:
                if "zip" in formats:
                    return [export_zip(workbook, chosen, zip_path, table_formats, should_cancel=cancelled,
                                       on_progress=progress)]
                return export_tables(workbook, chosen, folder, table_formats, should_cancel=cancelled,
                                     on_progress=progress)

        def done(written: list[Path]) -> None:
            self._exported(folder, written, len(chosen))
            if then is not None:
                then()

        return self.runner.submit("export", work, done)

    def _exported(self, folder: Path, written: list[Path], tables: int) -> None:
        if tables == len(self.session.tables):
            self.session.unexported = False
            self.session.edited = False
        self.refresh_status(f"Exported {tables} tables to {', '.join(p.name for p in written[:3])}"
                            f"{'…' if len(written) > 3 else ''} in {folder}.")

    # ------------------------------------------------------------------ jobs
    def _job_started(self, job_id: str, kind: str) -> None:
        self._running_kind = kind.capitalize()
        self.job_label.setText(f"{self._running_kind}…")
        self.status_job.setText(f"{self._running_kind}…")
        self.job_progress.setRange(0, 0)
        self.cancel_button.setEnabled(True)

    def _job_progress(self, job_id: str, done: int, total: int, current: str) -> None:
        counted = f"{_amount(done, self._running_kind)}" + (f" / {_amount(total, self._running_kind)}" if total else "")
        if total:
            self.job_progress.setRange(0, 1000)  # bytes overflow the bar's int
            self.job_progress.setValue(min(1000, 1000 * done // total))
            self.job_progress.setFormat(counted)
        self.job_label.setText(f"{self._running_kind} {counted}: {current[-60:]}")
        self.job_label.setToolTip(current)
        self.status_job.setText(f"{self._running_kind} {counted}")

    def _list_job(self, record) -> None:
        """Put a finished job at the top of the Jobs list: when, what, how it ended, how long."""
        state, error = record.state.value, record.error or ""
        took = (record.finished_at - record.started_at) if record.started_at and record.finished_at else 0
        when = time.strftime("%H:%M:%S", time.localtime(record.finished_at or time.time()))
        text = (f"{when}  {record.kind}: {state}" + (f" in {took:.1f} s" if took else "")
                + (f" ({error})" if error else ""))
        item = QListWidgetItem(text)
        item.setToolTip(error or text)
        if state != "succeeded":
            pixmap = QStyle.StandardPixmap.SP_MessageBoxWarning if state in ("failed", "interrupted") \
                else QStyle.StandardPixmap.SP_DialogCancelButton
            item.setIcon(self.style().standardIcon(pixmap))
        self.jobs_view.insertItem(0, item)

    def _job_finished(self, job_id: str, state: str, error: str) -> None:
        record = self.services.jobs.get(job_id)
        self._list_job(record)
        if not self.runner or not self.runner.busy:
            self.job_label.setText("No job running.")
            self.status_job.setText("")
            self.job_progress.setFormat("")
            self.job_progress.setRange(0, 1)
            self.job_progress.setValue(0)
            self.cancel_button.setEnabled(False)
        if state != "succeeded":
            self.refresh_status(f"{record.kind.capitalize()} {state}" + (f": {error}" if error else "."))

    def _cancel_jobs(self) -> None:
        if self.runner is not None:
            self.runner.cancel_all()
