"""The convert dialog: which groups, wide or relational, the record path of each group picked from
its element tree (with counts), and the formats later exports write. A kind of document converted
before comes with the record path and mode picked then (the person's remembered profile)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
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

from ret_desktop.core.convert import ConvertOptions, GroupStructure
from ret_desktop.core.profiles import ConversionChoice, ConversionProfile

_PATH = Qt.ItemDataRole.UserRole


class ConvertDialog(QDialog):
    def __init__(self, structures: dict[str, GroupStructure], chosen_groups: set[str], mode: str,
                 record_paths: dict[str, str], formats: tuple[str, ...], parent: QWidget | None = None,
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
            plural = "s" if structure.documents != 1 else ""
            item = QListWidgetItem(f"{group}  ({structure.documents} document{plural})")
            item.setData(_PATH, group)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if group in chosen_groups else Qt.CheckState.Unchecked)
            self.groups.addItem(item)
        self.groups.currentItemChanged.connect(lambda *_: self._show_paths())

        self.paths = QTreeWidget(self)
        self.paths.setObjectName("recordPathTree")
        self.paths.setAccessibleName("Record path")
        self.paths.setHeaderLabels(["Element", "Count", "Repeats", "Content"])
        self.paths.itemClicked.connect(self._path_clicked)
        self.path_label = QLabel("")
        self.path_label.setObjectName("recordPathLabel")
        self.path_label.setWordWrap(True)
        use_detected = QPushButton("Use detected", self)
        use_detected.setObjectName("useDetected")
        use_detected.clicked.connect(self._use_detected)

        self.wide = QRadioButton("Wide: one row per record, repeats as numbered columns", self)
        self.wide.setObjectName("modeWide")
        self.relational = QRadioButton("Relational: repeats become child tables", self)
        self.relational.setObjectName("modeRelational")
        (self.relational if mode == "relational" else self.wide).setChecked(True)
        self.csv = QCheckBox("CSV", self)
        self.csv.setObjectName("formatCsv")
        self.xlsx = QCheckBox("XLSX", self)
        self.xlsx.setObjectName("formatXlsx")
        self.zip = QCheckBox("all in one ZIP", self)
        self.zip.setObjectName("formatZip")
        self.csv.setChecked("csv" in formats)
        self.xlsx.setChecked("xlsx" in formats)
        self.zip.setChecked("zip" in formats)

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
        right.addWidget(use_detected, 0, Qt.AlignmentFlag.AlignLeft)
        top = QHBoxLayout()
        top.addLayout(left, 1)
        top.addLayout(right, 2)
        mode_box = QGroupBox("Mode", self)
        mode_layout = QVBoxLayout(mode_box)
        mode_layout.addWidget(self.wide)
        mode_layout.addWidget(self.relational)
        format_box = QGroupBox("Export formats", self)
        format_layout = QHBoxLayout(format_box)
        for box in (self.csv, self.xlsx, self.zip):
            format_layout.addWidget(box)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(mode_box)
        layout.addWidget(format_box)
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

    def formats(self) -> tuple[str, ...]:
        return tuple(name for name, box in (("csv", self.csv), ("xlsx", self.xlsx), ("zip", self.zip))
                     if box.isChecked())

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
            row = [name, f"{path.count:,}", "yes" if path.max_siblings >= 2 else "", f"{path.share:.0%}"]
            parent = items.get(parent_display)
            item = QTreeWidgetItem(parent, row) if parent else QTreeWidgetItem(self.paths, row)
            item.setData(0, _PATH, path.display)
            item.setToolTip(0, path.display)
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
            self.path_label.setText(self.path_label.text() + f"\n{len(structure.failed)} documents could not be read.")

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
            self.path_label.setText("Tick at least one group to convert.")
            return
        if not any(box.isChecked() for box in (self.csv, self.xlsx)):
            self.path_label.setText("Choose CSV, XLSX or both for the export.")
            return
        super().accept()
