"""The compare dialog (Tools ▸ Compare): the two sides, each this session's tables, an input to convert
or an earlier export; then the options: key columns for every table, or each table's own key picked
from those a job proposes; ignore case, trim, ignored columns, empty equal to absent, the documents'
similarity threshold. Compare runs as one op; what goes wrong (a side not readable, no table in
common, an unknown key) is said in the dialog."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ret_desktop.core.compare import CompareOptions, CompareSummary, Side
from ret_desktop.core.text import counted
from ret_desktop.gui.messages import MessageLabel, plain_error
from ret_desktop.gui.ops import CompareOp, ProposeKeysOp
from ret_desktop.gui.session import SessionController

SESSION, CONVERT, EXPORT = "session", "convert", "export"
NO_KEY = "no key: by document and row order"


def _names(text: str) -> tuple[str, ...]:
    """Comma-separated column names, blanks left out."""
    return tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))


class SidePicker(QGroupBox):
    """One side: this session's tables, an input to convert (files or a folder) or an earlier export
    (a folder or ZIP). Emits ``changed`` when the choice changes."""

    changed = Signal()

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
        self.kinds.buttonToggled.connect(self.changed)
        self.path.textChanged.connect(self.changed)

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
        self.key_edit.setToolTip("Columns that identify a row on both sides, separated by commas, for every "
                                 "table without a key of its own below (and picked there for each table that "
                                 "proposes them). A table that lacks one of them pairs its rows by document "
                                 "and order.")
        self.propose_button = QPushButton("Propose keys", options)
        self.propose_button.setObjectName("proposeKeys")
        self.propose_button.setToolTip("Find, for each table, the columns filled in every row and unique on "
                                       "both sides (reads both sides); then pick each table's key")
        self.propose_button.clicked.connect(self.propose_keys)
        key_row = QHBoxLayout()
        key_row.addWidget(self.key_edit, 1)
        key_row.addWidget(self.propose_button)
        form.addRow("Key columns", key_row)
        self.table_keys = TableKeys(options)
        self.table_keys.hide()
        form.addRow("", self.table_keys)
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
        self.key_edit.textEdited.connect(lambda text: self.table_keys.prefer(_names(text)))
        for side in (self.old_side, self.new_side):  # proposals are for the sides they were read from
            side.changed.connect(self._forget_proposals)

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
        return CompareOptions(key=_names(self.key_edit.text()), table_keys=self.table_keys.keys(),
                              ignore_case=self.ignore_case.isChecked(),
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

    def _show_proposals(self, proposed: dict[str, list[tuple[str, ...]]]) -> None:
        self.table_keys.show_proposals(proposed, _names(self.key_edit.text()))
        chain = [self.propose_button, *self.table_keys.boxes(), self.ignore_columns]
        for before, after in zip(chain, chain[1:]):  # Tab goes from Propose keys through the tables' keys
            QWidget.setTabOrder(before, after)
        self.table_keys.setVisible(bool(proposed))
        keyed = sum(1 for keys in proposed.values() if keys)
        if not proposed:
            self.message.show_info("The two sides have no table in common.")
        elif keyed:
            self.message.show_info(f"Proposed a key for {counted(keyed, 'table')} of {len(proposed)}: pick each "
                                   "table's key below (or type columns, separated by commas).")
        else:
            self.message.show_info("No column is filled and unique on both sides: rows pair by document and order.")

    def _forget_proposals(self) -> None:
        if not self.table_keys.isHidden():
            self.table_keys.show_proposals({}, ())
            self.table_keys.hide()
            self.message.setText("The sides changed: Propose keys again to pick each table's key.")

    def _compared(self, result: tuple[Path, CompareSummary]) -> None:
        self.compared.emit(*result)
        self.accept()


class TableKeys(QGroupBox):
    """Each paired table's key: a choice among the proposed keys and "no key", or columns typed in."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Key of each table", parent)
        self.setObjectName("tableKeys")
        self.setToolTip("A table's own key replaces the key columns above for that table.")
        self._boxes: dict[str, QComboBox] = {}
        self._inner = QWidget()
        self._form = QFormLayout(self._inner)
        self._scroll = QScrollArea(self)
        self._scroll.setWidget(self._inner)
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        QVBoxLayout(self).addWidget(self._scroll)

    def show_proposals(self, proposed: dict[str, list[tuple[str, ...]]], typed: tuple[str, ...]) -> None:
        """One row per table; preselected: the typed key where it is proposed, else the first proposal."""
        while self._form.rowCount():
            self._form.removeRow(0)
        self._boxes = {}
        for number, (table, keys) in enumerate(proposed.items()):
            box = QComboBox(self._inner)
            box.setObjectName(f"tableKey{number}")
            box.setEditable(True)
            box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            box.setAccessibleName(f"Key of {table}")
            for key in keys:
                box.addItem(", ".join(key), key)
            box.addItem(NO_KEY, ())
            box.setCurrentIndex(keys.index(typed) if typed in keys else 0)
            label = QLabel(table, self._inner)
            label.setBuddy(box)
            self._form.addRow(label, box)
            self._boxes[table] = box
        self._scroll.setFixedHeight(min(self._inner.sizeHint().height() + 4, 160))  # a few rows, then it scrolls

    def prefer(self, typed: tuple[str, ...]) -> None:
        """Pick ``typed`` for every table that proposes it."""
        for box in self._boxes.values():
            index = next((i for i in range(box.count()) if typed and tuple(box.itemData(i)) == typed), None)
            if index is not None:
                box.setCurrentIndex(index)

    def tables(self) -> list[str]:
        return list(self._boxes)

    def box(self, table: str) -> QComboBox:
        return self._boxes[table]

    def boxes(self) -> list[QComboBox]:
        return list(self._boxes.values())

    def keys(self) -> dict[str, tuple[str, ...]]:
        """Table -> its key columns (() for no key), for the tables listed."""
        result = {}
        for table, box in self._boxes.items():
            text = box.currentText().strip()
            index = box.findText(text)
            result[table] = tuple(box.itemData(index)) if index >= 0 else _names(text)
        return result
