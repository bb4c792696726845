"""The compare dialog (Tools ▸ Compare): the two sides, each this session's tables, an input to convert
or an earlier export; then the options: key columns (proposed by a job), ignore case, trim, ignored
columns, empty equal to absent, the documents' similarity threshold. Compare runs as one op; what
goes wrong (a side not readable, no table in common, an unknown key) is said in the dialog."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ret_desktop.core.compare import CompareOptions, CompareSummary, Side
from ret_desktop.core.text import counted
from ret_desktop.gui.messages import MessageLabel, plain_error
from ret_desktop.gui.ops import CompareOp, ProposeKeysOp
from ret_desktop.gui.session import SessionController

SESSION, CONVERT, EXPORT = "session", "convert", "export"
_COLUMN = Qt.ItemDataRole.UserRole


def _names(text: str) -> tuple[str, ...]:
    """Comma-separated column names, blanks left out."""
    return tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))


class SidePicker(QGroupBox):
    """One side: this session's tables, an input to convert (files or a folder) or an earlier export
    (a folder or ZIP)."""

    def __init__(self, title: str, name: str, has_tables: bool, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.setObjectName(name)
        self.kinds = QButtonGroup(self)
        layout = QGridLayout(self)
        self.buttons: dict[str, QRadioButton] = {}
        for row, (kind, text) in enumerate(((SESSION, "This session's tables"),
                                            (CONVERT, "An input to convert (ZIP, XML files, folder)"),
                                            (EXPORT, "An earlier export (folder or ZIP of CSV files)"))):
            button = QRadioButton(text, self)
            button.setObjectName(f"{name}{kind.capitalize()}")
            self.kinds.addButton(button)
            self.buttons[kind] = button
            layout.addWidget(button, row, 0, 1, 3)
        self.buttons[SESSION].setEnabled(has_tables)
        if not has_tables:
            self.buttons[SESSION].setToolTip("This session has no tables yet: import and convert first.")
        self.path = QLineEdit(self)
        self.path.setObjectName(f"{name}Path")
        self.path.setPlaceholderText("Paths (separate several files with ;)")
        self.files_button = QPushButton("Files…", self)
        self.folder_button = QPushButton("Folder…", self)
        self.files_button.clicked.connect(self._choose_files)
        self.folder_button.clicked.connect(self._choose_folder)
        layout.addWidget(self.path, 3, 0)
        layout.addWidget(self.files_button, 3, 1)
        layout.addWidget(self.folder_button, 3, 2)
        layout.setColumnStretch(0, 1)
        self.path.setMinimumWidth(220)
        self.kinds.buttonToggled.connect(self._kind_changed)

    @property
    def kind(self) -> str:
        return next(k for k, b in self.buttons.items() if b.isChecked())

    def set_kind(self, kind: str) -> None:
        self.buttons[kind].setChecked(True)

    def set_paths(self, paths: list[Path]) -> None:
        self.path.setText("; ".join(str(p) for p in paths))

    def paths(self) -> list[Path]:
        return [Path(p.strip()).expanduser() for p in self.path.text().split(";") if p.strip()]

    def _kind_changed(self) -> None:
        picks_paths = self.kind != SESSION
        for widget in (self.path, self.files_button, self.folder_button):
            widget.setEnabled(picks_paths)

    def _choose_files(self) -> None:
        filters = "Exports (*.zip *.csv);;All files (*)" if self.kind == EXPORT else \
            "Inputs (*.zip *.xml);;All files (*)"
        chosen, _ = QFileDialog.getOpenFileNames(self, self.title(), "", filters)
        if chosen:
            self.set_paths([Path(p) for p in chosen])

    def _choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, self.title())
        if chosen:
            self.set_paths([Path(chosen)])

    def side(self, workbook_path: Path) -> Side:
        """This side for the core; ValueError (a message for the user) when it names nothing readable."""
        if self.kind == SESSION:
            return Side.session(workbook_path)
        paths = self.paths()
        if not paths:
            raise ValueError(f"{self.title()}: choose the files or folder to compare.")
        missing = [p for p in paths if not p.exists()]
        if missing:
            raise ValueError(f"{self.title()}: there is no file or folder {missing[0]}.")
        if self.kind == CONVERT:
            return Side.convert(paths)
        if len(paths) > 1:
            raise ValueError(f"{self.title()}: an earlier export is one folder or one ZIP.")
        return Side.export(paths[0])


class CompareDialog(QDialog):
    """Emits ``compared(result_path, summary)`` when a comparison it started has succeeded, then closes."""

    compared = Signal(object, object)

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compareDialog")
        self.setWindowTitle("Compare")
        self.controller = controller
        self._op: CompareOp | ProposeKeysOp | None = None
        has_tables = bool(controller.session.tables)
        self.old_side = SidePicker("Old side (before)", "oldSide", has_tables, self)
        self.new_side = SidePicker("New side (after)", "newSide", has_tables, self)
        self.old_side.set_kind(EXPORT)
        self.new_side.set_kind(SESSION if has_tables else CONVERT)

        options = QGroupBox("Options", self)
        form = QFormLayout(options)
        self.key_edit = QLineEdit(options)
        self.key_edit.setObjectName("compareKey")
        self.key_edit.setPlaceholderText("none: rows pair by document and by their contents' order")
        self.key_edit.setToolTip("Columns that identify a row on both sides, separated by commas. A table "
                                 "that lacks one of them pairs its rows by document and order.")
        self.propose_button = QPushButton("Propose keys", options)
        self.propose_button.setObjectName("proposeKeys")
        self.propose_button.setToolTip("Find the columns filled in every row and unique on both sides "
                                       "(reads both sides)")
        self.propose_button.clicked.connect(self.propose_keys)
        key_row = QHBoxLayout()
        key_row.addWidget(self.key_edit, 1)
        key_row.addWidget(self.propose_button)
        form.addRow("Key columns", key_row)
        self.proposals = QListWidget(options)
        self.proposals.setObjectName("proposedKeys")
        self.proposals.setMaximumHeight(90)
        self.proposals.hide()
        self.proposals.itemChanged.connect(self._proposal_ticked)
        form.addRow("", self.proposals)
        self.ignore_columns = QLineEdit(options)
        self.ignore_columns.setObjectName("compareIgnoreColumns")
        self.ignore_columns.setPlaceholderText("none (column names, separated by commas)")
        form.addRow("Ignore columns", self.ignore_columns)
        self.ignore_case = QCheckBox("Ignore case", options)
        self.ignore_case.setObjectName("compareIgnoreCase")
        self.trim = QCheckBox("Trim spaces around values", options)
        self.trim.setObjectName("compareTrim")
        self.empty_equals_absent = QCheckBox("An empty value equals an absent one", options)
        self.empty_equals_absent.setObjectName("compareEmptyEqualsAbsent")
        self.empty_equals_absent.setChecked(CompareOptions().empty_equals_absent)
        for box in (self.ignore_case, self.trim, self.empty_equals_absent):
            form.addRow("", box)
        self.similarity = QDoubleSpinBox(options)
        self.similarity.setObjectName("compareSimilarity")
        self.similarity.setRange(0.5, 1.0)
        self.similarity.setSingleStep(0.05)
        self.similarity.setDecimals(2)
        self.similarity.setValue(CompareOptions().similarity)
        self.similarity.setMaximumWidth(90)
        self.similarity.setToolTip("A renamed document pairs with one whose rows are at least this alike")
        form.addRow("Documents alike from", self.similarity)

        self.message = MessageLabel(self)
        self.message.setObjectName("compareMessage")
        self.buttons = QDialogButtonBox(self)
        self.buttons.setObjectName("compareButtons")
        self.compare_button = self.buttons.addButton("Compare", QDialogButtonBox.ButtonRole.AcceptRole)
        self.compare_button.setObjectName("compareRun")
        self.stop_button = self.buttons.addButton("Stop", QDialogButtonBox.ButtonRole.ActionRole)
        self.stop_button.setObjectName("compareStop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close).clicked.connect(self.reject)
        self.compare_button.clicked.connect(self.run_compare)
        controller.job_progress.connect(self._progress)

        layout = QVBoxLayout(self)
        sides = QHBoxLayout()
        sides.addWidget(self.old_side)
        sides.addWidget(self.new_side)
        layout.addLayout(sides)
        layout.addWidget(options)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.resize(860, self.sizeHint().height())

    # -- what the person chose
    def sides(self) -> tuple[Side, Side]:
        workbook = self.controller.session.workbook_path
        return self.old_side.side(workbook), self.new_side.side(workbook)

    def options(self) -> CompareOptions:
        return CompareOptions(key=_names(self.key_edit.text()), ignore_case=self.ignore_case.isChecked(),
                              trim=self.trim.isChecked(), ignore_columns=_names(self.ignore_columns.text()),
                              empty_equals_absent=self.empty_equals_absent.isChecked(),
                              similarity=self.similarity.value(), convert=self.controller.session.options)

    # -- running
    def run_compare(self) -> str | None:
        return self._start(CompareOp, "Comparing…")

    def propose_keys(self) -> str | None:
        return self._start(ProposeKeysOp, "Looking for key columns…")

    def _start(self, op_class, doing: str) -> str | None:
        if self._op is not None:
            return None
        try:
            old, new = self.sides()
        except ValueError as error:
            self.message.show_error(str(error))
            return None
        op = op_class(self.controller, old, new, self.options())
        op.succeeded.connect(self._compared if op_class is CompareOp else self._show_proposals)
        op.ended.connect(self._ended)
        job_id = op.run()
        if job_id is None:
            self.message.show_error("Too many operations in a minute: try again in a moment.")
            return None
        self._op = op
        self.message.setText(doing)
        self._set_running(True)
        return job_id

    def stop(self) -> None:
        if self._op is not None and self.controller.runner is not None:
            self.controller.runner.cancel_all()

    def _set_running(self, running: bool) -> None:
        for widget in (self.old_side, self.new_side, self.compare_button, self.propose_button):
            widget.setEnabled(not running)
        self.stop_button.setEnabled(running)

    def _progress(self, job_id: str, done: int, total: int, current: str) -> None:
        if self._op is not None and job_id == self._op.job_id and current:
            self.message.setText(f"{current}…" + (f" ({done:,} of {total:,})" if total else ""))

    def _ended(self, state: str, error: str) -> None:
        self._op = None
        self._set_running(False)
        if state == "failed":
            self.message.show_error(f"Not compared: {plain_error(error)}.")
        elif state == "cancelled":
            self.message.setText("Stopped; nothing was kept.")

    def _show_proposals(self, proposed: dict[str, list[str]]) -> None:
        tables_by_column: dict[str, list[str]] = {}
        for table, columns in proposed.items():
            for column in columns:
                tables_by_column.setdefault(column, []).append(table)
        self.proposals.blockSignals(True)
        self.proposals.clear()
        chosen = set(_names(self.key_edit.text()))
        for column, tables in tables_by_column.items():
            item = QListWidgetItem(f"{column}  ({', '.join(tables)})", self.proposals)
            item.setData(_COLUMN, column)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if column in chosen else Qt.CheckState.Unchecked)
        self.proposals.blockSignals(False)
        self.proposals.setVisible(bool(tables_by_column))
        if tables_by_column:
            self.message.show_info(f"{counted(len(tables_by_column), 'column')} could be a key: tick one or "
                                   "several, or none.")
        else:
            self.message.show_info("No column is filled and unique on both sides: rows pair by document and order.")

    def _proposal_ticked(self, item: QListWidgetItem) -> None:
        keys = list(_names(self.key_edit.text()))
        column = item.data(_COLUMN)
        if item.checkState() == Qt.CheckState.Checked and column not in keys:
            keys.append(column)
        elif item.checkState() != Qt.CheckState.Checked and column in keys:
            keys.remove(column)
        self.key_edit.setText(", ".join(keys))

    def _compared(self, result: tuple[Path, CompareSummary]) -> None:
        self.compared.emit(*result)
        self.accept()
