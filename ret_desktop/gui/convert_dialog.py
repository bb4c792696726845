"""The convert dialog: which groups, wide or relational, and the record path of each group picked
from its element tree (with counts). A kind of document converted before comes with the record path
and mode picked then (the person's remembered profile). What an export writes is chosen at the
export (Export's menu): tables are reviewed and edited between the two."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ret_desktop.core.convert import DETECT_BYTES, ConvertOptions, GroupStructure
from ret_desktop.core.profiles import ConversionChoice, ConversionProfile
from ret_desktop.core.text import counted
from ret_desktop.gui.messages import MessageLabel

_PATH = Qt.ItemDataRole.UserRole


class ConvertDialog(QDialog):
    def __init__(self, structures: dict[str, GroupStructure], chosen_groups: set[str], mode: str,
                 record_paths: dict[str, str], parent: QWidget | None = None,
                 profile: ConversionProfile | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("convertDialog")
        self.setWindowTitle("Convert")
        self.structures = structures
        self.record_paths = dict(record_paths)  # group -> the path the person picked
        self.remembered: dict[str, ConversionChoice] = {}  # group -> what was picked for its kind before
        for group, structure in structures.items():
            choice = (profile or ConversionProfile()).choice_for(structure.kind)
            if choice is not None:
                self.remembered[group] = choice
                if choice.record_path and group not in self.record_paths:
                    self.record_paths[group] = choice.record_path
        remembered_modes = [self.remembered[g].mode for g in structures if g in chosen_groups and g in self.remembered]
        if remembered_modes and remembered_modes[0]:
            mode = remembered_modes[0]

        self.groups = QListWidget(self)
        self.groups.setObjectName("convertGroups")
        self.groups.setAccessibleName("Groups to convert")
        for group, structure in structures.items():
            item = QListWidgetItem(f"{group}  ({counted(structure.documents, 'document')})")
            item.setToolTip(group)
            item.setData(_PATH, group)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if group in chosen_groups else Qt.CheckState.Unchecked)
            self.groups.addItem(item)
        self.groups.currentItemChanged.connect(lambda *_: self._show_paths())

        self.paths = QTreeWidget(self)
        self.paths.setObjectName("recordPathTree")
        self.paths.setAccessibleName("Record path")
        self.paths.setHeaderLabels(["Element", "Count", "Repeats", "Content"])
        self.paths.headerItem().setToolTip(1, "How many times the element occurs")
        self.paths.headerItem().setToolTip(2, "Whether it occurs more than once under one parent")
        self.paths.headerItem().setToolTip(3, "Its share of the group's text")
        self.paths.itemClicked.connect(self._path_clicked)
        self.path_label = QLabel("")
        self.path_label.setObjectName("recordPathLabel")
        self.path_label.setWordWrap(True)
        self.sample_label = QLabel("")  # when counts come from the start of each document only
        self.sample_label.setObjectName("sampleLabel")
        self.sample_label.setWordWrap(True)
        self.problem = MessageLabel(self)  # why the dialog cannot convert yet
        self.problem.setObjectName("convertProblem")
        use_detected = QPushButton("Use detected", self)
        use_detected.setObjectName("useDetected")
        use_detected.clicked.connect(self._use_detected)

        self.wide = QRadioButton("Wide: one row per record, repeats as numbered columns", self)
        self.wide.setObjectName("modeWide")
        self.relational = QRadioButton("Relational: repeats become child tables", self)
        self.relational.setObjectName("modeRelational")
        (self.relational if mode == "relational" else self.wide).setChecked(True)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.setObjectName("convertButtons")
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Convert")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        left = QVBoxLayout()
        left.addWidget(QLabel("Groups"))
        left.addWidget(self.groups)
        right = QVBoxLayout()
        right.addWidget(QLabel("Record path: click the element that is one record"))
        right.addWidget(self.paths)
        right.addWidget(self.path_label)
        right.addWidget(self.sample_label)
        right.addWidget(use_detected, 0, Qt.AlignmentFlag.AlignLeft)
        top = QHBoxLayout()
        top.addLayout(left, 1)
        top.addLayout(right, 2)
        mode_box = QGroupBox("Mode", self)
        mode_layout = QVBoxLayout(mode_box)
        mode_layout.addWidget(self.wide)
        mode_layout.addWidget(self.relational)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(mode_box)
        formats_note = QLabel("Converting fills the tables to review and edit; CSV, XLSX or one ZIP are "
                              "picked when you export (the arrow beside Export).")
        formats_note.setObjectName("formatsNote")
        formats_note.setWordWrap(True)
        layout.addWidget(formats_note)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.resize(820, 560)
        if self.groups.count():
            self.groups.setCurrentRow(0)

    # -- what the person chose
    def chosen_groups(self) -> list[str]:
        return [self.groups.item(i).data(_PATH) for i in range(self.groups.count())
                if self.groups.item(i).checkState() == Qt.CheckState.Checked]

    def options(self) -> ConvertOptions:
        return ConvertOptions(mode="relational" if self.relational.isChecked() else "wide",
                              record_paths=dict(self.record_paths))

    def choices_to_remember(self) -> dict[str, ConversionChoice]:
        """For each kind of document among the chosen groups whose record path was picked (now or
        before): that path (None after "Use detected") and the mode, by kind."""
        mode = "relational" if self.relational.isChecked() else "wide"
        return {self.structures[group].kind: ConversionChoice(self.record_paths.get(group), mode)
                for group in self.chosen_groups()
                if self.structures[group].kind and (group in self.record_paths or group in self.remembered)}

    def choose_record_path(self, group: str, display: str) -> None:
        """Pick ``display`` as the record path of ``group`` (what a click on the tree does)."""
        self.record_paths[group] = display
        if self._current_group() == group:
            self._show_paths()

    # -- the tree
    def _current_group(self) -> str | None:
        item = self.groups.currentItem()
        return item.data(_PATH) if item else None

    def _show_paths(self) -> None:
        self.paths.clear()
        group = self._current_group()
        if group is None:
            return
        structure = self.structures[group]
        chosen = self.record_paths.get(group, structure.detected)
        items: dict[str, QTreeWidgetItem] = {}
        for path in structure.paths:
            parent_display, _, name = path.display.rpartition("/")
            exact = structure.complete or path.display.count("/") == 1  # each document has one root
            count = f"{path.count:,}" if exact else f"at least {path.count:,}"
            row = [name, count, "yes" if path.max_siblings >= 2 else "", f"{path.share:.0%}"]
            parent = items.get(parent_display)
            item = QTreeWidgetItem(parent, row) if parent else QTreeWidgetItem(self.paths, row)
            item.setData(0, _PATH, path.display)
            item.setToolTip(0, path.display)
            if not exact:
                item.setToolTip(1, f"First {DETECT_BYTES // (1024 * 1024)} MB of each document read")
            if path.display == chosen:
                font = QFont(item.font(0))
                font.setBold(True)
                item.setFont(0, font)
                self.paths.setCurrentItem(item)
            items[path.display] = item
        self.paths.expandAll()
        for column in range(4):
            self.paths.resizeColumnToContents(column)
        remembered = self.remembered.get(group)
        if group not in self.record_paths:
            how = "detected"
        elif remembered is not None and remembered.record_path == chosen:
            how = "as picked for this kind of document before"
        else:
            how = "picked"
        self.path_label.setText(f"Record path ({how}): {chosen}" if chosen
                                else "No one record path fits the whole group: each document's own is detected "
                                     "when it converts. Click an element to use it for all.")
        if structure.warning and group not in self.record_paths:
            self.path_label.setText(self.path_label.text() + f"\n{structure.warning}")
        if structure.failed:
            self.path_label.setText(self.path_label.text() + f"\n{counted(len(structure.failed), 'document')} "
                                    "could not be read; they are reported when the group converts.")
        self.sample_label.setText("" if structure.complete else
                                  f"Counts are from the first {DETECT_BYTES // (1024 * 1024)} MB of each document "
                                  "(the larger ones were not read to the end), so there may be more.")
        self.sample_label.setVisible(not structure.complete)

    def _path_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        group = self._current_group()
        if group is not None:
            self.choose_record_path(group, item.data(0, _PATH))

    def _use_detected(self) -> None:
        group = self._current_group()
        if group is not None:
            self.record_paths.pop(group, None)
            self._show_paths()

    def accept(self) -> None:
        if not self.chosen_groups():
            self.problem.show_error("Tick at least one group to convert.")
            return
        super().accept()
