"""The Jobs panel: the running job with its progress and Cancel, and the session's past jobs."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QStyle, \
    QVBoxLayout, QWidget

from ret_desktop.core.text import counted
from ret_desktop.gui.messages import plain_error
from ret_desktop.gui.session import SessionController, SessionState
from ret_desktop.gui.theme import icon

_COUNTED = {"Export": "table", "Index for search": "row"}  # what a job's progress counts; bytes for Convert

def _amount(n: int, kind: str) -> str:
    """A job's progress count in words."""
    if kind != "Convert":
        return counted(n, _COUNTED.get(kind, "file"))
    for unit in ("B", "KB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.2f} GB"


class JobsPanel(QWidget):
    """``status_label`` (the running job in a few words) is placed in the status bar by the window."""

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._running_kind = ""
        layout = QVBoxLayout(self)
        running = QHBoxLayout()
        self.job_label = QLabel("No job running.")
        self.job_label.setObjectName("jobLabel")
        self.job_progress = QProgressBar(self)
        self.job_progress.setFormat("")
        self.job_progress.setRange(0, 1)
        self.job_progress.setObjectName("jobProgress")
        self.cancel_button = QPushButton(icon("cancel"), "Cancel", self)
        self.cancel_button.setObjectName("cancelJob")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._cancel_jobs)
        running.addWidget(self.job_label, 1)
        running.addWidget(self.job_progress, 2)
        running.addWidget(self.cancel_button)
        layout.addLayout(running)
        self.jobs_view = QListWidget(self)
        self.jobs_view.setObjectName("jobsView")
        self.jobs_view.setAccessibleName("Jobs")
        layout.addWidget(self.jobs_view)
        self.status_label = QLabel("")
        self.status_label.setObjectName("statusJob")
        controller.session_started.connect(self._session_started)
        controller.job_started.connect(self._job_started)
        controller.job_progress.connect(self._job_progress)
        controller.job_finished.connect(self._job_finished)

    def _session_started(self, session: SessionState) -> None:
        self.jobs_view.clear()
        for record in self.controller.services.jobs.list(session.info.session_id):  # a resumed session's past jobs
            if record.state.is_final:
                self._list_job(record)

    def _job_started(self, job_id: str, kind: str) -> None:
        self._running_kind = kind.capitalize()
        self.job_label.setText(f"{self._running_kind}…")
        self.status_label.setText(f"{self._running_kind}…")
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
        self.status_label.setText(f"{self._running_kind} {counted}")

    def _list_job(self, record, error: str | None = None) -> None:
        """Put a finished job at the top of the Jobs list: when, what, how it ended (``error``: why it
        failed in full, while the session lasts; the record says only what kind of failure), how long."""
        state = record.state.value
        took = (record.finished_at - record.started_at) if record.started_at and record.finished_at else 0
        when = time.strftime("%H:%M:%S", time.localtime(record.finished_at or time.time()))
        text = f"{when}  {record.kind.capitalize()}: {state}" + (f" in {took:.1f} s" if took else "")
        if error:  # this session's failure, in full
            text += f": {plain_error(error)}"
        elif record.error and state == "interrupted":
            text += f" ({record.error})"
        item = QListWidgetItem(text)
        item.setToolTip(text if error or not record.error else f"{text}\nFor support: {record.error}")
        if state != "succeeded":
            pixmap = QStyle.StandardPixmap.SP_MessageBoxWarning if state in ("failed", "interrupted") \
                else QStyle.StandardPixmap.SP_DialogCancelButton
            item.setIcon(self.style().standardIcon(pixmap))
        self.jobs_view.insertItem(0, item)

    def _job_finished(self, job_id: str, state: str, error: str) -> None:
        record = self.controller.services.jobs.get(job_id)
        self._list_job(record, error or None)
        runner = self.controller.runner
        if not runner or not runner.busy:
            self.job_label.setText("No job running.")
            self.status_label.setText("")
            self.job_progress.setFormat("")
            self.job_progress.setRange(0, 1)
            self.job_progress.setValue(0)
            self.cancel_button.setEnabled(False)
        if state == "failed":
            self.controller.refresh_status(f"{record.kind.capitalize()} failed: {plain_error(error) if error else 'see Jobs'}"
                                           ". Nothing was half-written; fix the cause and try again.")
        elif state != "succeeded":
            self.controller.refresh_status(f"{record.kind.capitalize()} {state}; nothing was half-written.")

    def _cancel_jobs(self) -> None:
        if self.controller.runner is not None:
            self.controller.runner.cancel_all()
