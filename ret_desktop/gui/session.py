"""The session controller: the one owner of the signed-in session's state, its read connection to the
workbook and its job runner. Panels, ops and tool windows read the session here and learn of changes
by its signals, never by reaching into the main window."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal

from ret_desktop.core.audit import EditTally
from ret_desktop.core.config import Settings
from ret_desktop.core.convert import ConvertOptions, TableOutcome
from ret_desktop.core.fsutil import atomic_write_json, make_private_dir
from ret_desktop.core.importing import IntakeReport
from ret_desktop.core.profiles import ConversionChoice, ConversionProfile, load_remembered, remembered_profile_path
from ret_desktop.core.ratelimit import OPERATIONS_SCOPE
from ret_desktop.core.roles import Actor
from ret_desktop.core.services import Services
from ret_desktop.core.sessions import SessionInfo
from ret_desktop.core.workbook import Workbook
from ret_desktop.gui.jobs import JobRunner, Work

INTAKE_FILE = "intake.json"  # in the session folder: what was brought in, for a resumed session
WORKBOOK_FILE = "workbook.sqlite"


@dataclass
class SessionState:
    """What the signed-in person has brought in and made in this session."""

    info: SessionInfo
    folder: Path
    user_name: str
    actor: Actor | None = None  # who works in it, for the core's role checks and the audit trail
    intake: IntakeReport = field(default_factory=IntakeReport)
    tables: list[TableOutcome] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # document -> why it did not convert
    warnings: dict[str, list[str]] = field(default_factory=dict)  # document -> what to know of its conversion
    unexported: bool = False
    options: ConvertOptions = field(default_factory=ConvertOptions)  # the last conversion's choices
    formats: tuple[str, ...] = ("csv", "xlsx")  # what Export writes ("zip": all in one ZIP)
    edited: bool = False  # tables were changed by hand since the last export
    exported_at: dict[str, float] = field(default_factory=dict)  # table -> when its last export began

    @property
    def workbook_path(self) -> Path:
        return self.folder / WORKBOOK_FILE


class SessionController(QObject):
    session_started = Signal(object)  # SessionState
    session_ended = Signal()
    sources_changed = Signal()  # what was brought in, its groups or its failed documents changed
    tables_listed = Signal(list)  # the list of tables was read anew; these tables were (re)written whole
    table_changed = Signal(str)  # one table changed (new, undo, redo); the others stay as they were
    rows_changed = Signal(str, object)  # table, stored row ids changed (None: its columns or the table itself)
    edits_exported = Signal(list)  # these tables were exported: their edits are no longer news
    status_message = Signal(str)  # "" only asks to refresh the status bar's counters
    job_started = Signal(str, str)  # job id, kind: the runner's signals, for the session's whole life
    job_progress = Signal(str, int, int, str)
    job_finished = Signal(str, str, str)

    def __init__(self, services: Services, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.session: SessionState | None = None
        self.read_workbook: Workbook | None = None
        self.runner: JobRunner | None = None
        self.conversion_profile = ConversionProfile()  # the signed-in person's remembered choices
        self.edit_tally: EditTally | None = None

    # -- life of the session
    def start(self, session: SessionState) -> None:
        """Take ``session`` over; a resumed one comes back with its sources, tables and past jobs."""
        self.session = session
        self.edit_tally = EditTally(self.services.audit, session.user_name, session.info.session_id)
        # The window's own connection: an edit while a job writes the workbook gives up quickly.
        self.read_workbook = Workbook(session.workbook_path, busy_timeout_s=0.3)
        saved = session.folder / INTAKE_FILE
        if saved.exists():
            session.intake = IntakeReport.from_json(json.loads(saved.read_text(encoding="utf-8")), session.folder)
        session.tables = self.stored_tables()
        session.unexported = bool(session.tables)  # a resumed session's tables
        session.edited = bool(self.read_workbook.edited_tables())
        self.conversion_profile = load_remembered(self._profile_path())
        self.runner = JobRunner(self.services.jobs, session.info.session_id, self)
        self.runner.job_started.connect(self.job_started)
        self.runner.job_progress.connect(self.job_progress)
        self.runner.job_finished.connect(self.job_finished)
        self.session_started.emit(session)
        self.sources_changed.emit()
        self.tables_listed.emit([t.name for t in session.tables])
        self.refresh_status()

    def end(self) -> None:
        """Stop the session's jobs and let go of its files (before the session folder is wiped); the
        panels let go of theirs on ``session_ended``."""
        if self.runner is not None:
            self.runner.shutdown()
            self.runner.deleteLater()
            self.runner = None
        if self.edit_tally is not None:
            self.edit_tally.flush()
            self.edit_tally = None
        self.session_ended.emit()
        if self.read_workbook is not None:
            self.read_workbook.close()
            self.read_workbook = None
        self.session = None

    # -- the choices a person made, for the next batch of the same kind
    def _profile_path(self) -> Path:
        return remembered_profile_path(self.services.settings.config_dir, self.session.user_name)

    def remember_conversion(self, choices: dict[str, ConversionChoice]) -> None:
        """Keep the record path and mode picked for each kind of document (``choices`` by kind), so
        that the next conversion of that kind proposes them; a choice that cannot be saved is said."""
        if not choices:
            return
        for kind, choice in choices.items():
            self.conversion_profile.remember(kind, choice.record_path, choice.mode)
        path = self._profile_path()
        try:
            make_private_dir(path.parent)
            self.conversion_profile.save(path)
        except OSError as error:
            self.refresh_status(f"The conversion choices were not remembered: {error.strerror or error}.")

    # -- what the session holds
    def stored_tables(self, changed: str | None = None) -> list[TableOutcome]:
        """The workbook's tables as they are now. Rows are counted (not for every keystroke): those of
        every table, or, when only table ``changed`` changed, its rows alone."""
        known = {t.name: t for t in self.session.tables if t.name != changed} if changed is not None else {}
        return [known.get(name) or TableOutcome.from_info(self.read_workbook.info(name))
                for name in self.read_workbook.table_names()]

    def relist_tables(self, written: list[str]) -> None:
        """The workbook's tables were rewritten (``written``: the tables a conversion made)."""
        self.session.tables = self.stored_tables()
        self.session.unexported = bool(self.session.tables)
        self.session.edited = bool(self.read_workbook.edited_tables())  # edits of replaced tables went with them
        self.tables_listed.emit(written)

    def change_table(self, table: str, row_ids: list[int] | None = None) -> None:
        """Table ``table`` changed as a whole step (a new table, undo or redo): count it again and say so."""
        if self.session is None:
            return
        self.session.tables = self.stored_tables(table)
        self.session.unexported = True
        self.edit_tally.note(table)
        self.table_changed.emit(table)
        self.rows_changed.emit(table, row_ids)

    def note_edit(self, table: str, row_ids: list[int] | None) -> None:
        """An edit typed, pasted or deleted in the table view was stored."""
        if self.session is not None:
            self.session.unexported = True
            self.session.edited = True
            self.edit_tally.note(table)
        self.rows_changed.emit(table, row_ids)

    def regroup(self, groups: list[str], name: str) -> None:
        """Put the documents of ``groups`` into group ``name``; they convert into its table from then on."""
        name = name.strip()
        if not name:
            self.refresh_status("Not renamed: a group needs a name.")
            return
        for group in groups:
            self.session.intake.rename_group(group, name)
        self.save_intake()
        self.sources_changed.emit()
        self.refresh_status(f"{' + '.join(groups)} → {name}. Convert again (Ctrl+R) to update the tables.")

    def save_intake(self) -> None:
        atomic_write_json(self.session.folder / INTAKE_FILE, self.session.intake.to_json(self.session.folder))

    # -- running work
    def allowed(self) -> bool:
        """One more operation for the rate limit; False (and a message) when over it."""
        decision = self.services.limiter.hit(OPERATIONS_SCOPE, self.session.user_name)
        if not decision.allowed:
            self.refresh_status(f"Too many operations in a minute. Try again in {decision.wait_text()}.")
        return decision.allowed

    def submit(self, kind: str, work: Work, on_done=None) -> str:
        return self.runner.submit(kind, work, on_done)

    def refresh_status(self, message: str = "") -> None:
        self.status_message.emit(message)

    def audit(self, action: str, **counts) -> None:
        """Record ``action`` of the signed-in person in the audit trail (counts only, never data)."""
        if self.session is not None:
            self.services.audit.record(action, self.session.user_name, self.session.info.session_id, **counts)

    def layout_store(self, user_name: str) -> tuple[QSettings, str]:
        """Where the window's layout is kept: per user, beside settings.json, never in the session."""
        return _window_state(self.services.settings), f"{user_name.casefold()}/"


def _window_state(settings: Settings) -> QSettings:
    return QSettings(str(settings.config_dir / "window.ini"), QSettings.Format.IniFormat)


def forget_window_state(settings: Settings, user_name: str) -> None:
    """Drop the window layout kept for ``user_name`` (their account was deleted)."""
    store = _window_state(settings)
    store.remove(user_name.casefold())
    store.sync()
