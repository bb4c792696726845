"""The settings dialog: the tunable values of DESIGN §2, saved to settings.json and applied at once."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ret_desktop.core.config import Settings, SettingsError, environment_overrides, save_settings
from ret_desktop.core.roles import PermissionDenied
from ret_desktop.gui.messages import MessageLabel

MB = 1024 * 1024
# setting name -> (label, suffix, lowest, highest, shown per stored unit)
_FIELDS: dict[str, tuple[str, str, float, float, int]] = {
    "session_cache_max_size": ("Session cache size", " entries", 1, 10_000_000, 1),
    "session_cache_ttl_seconds": ("Session time-out (idle lock, cache TTL)", " s", 10, 31_536_000, 1),
    "operations_per_minute": ("Operations per minute", "", 1, 100_000, 1),
    "login_max_failures": ("Failed sign-ins before lockout", "", 1, 1000, 1),
    "login_window_seconds": ("Lockout window", " s", 1, 86_400, 1),
    "intake_max_bytes": ("Import: most unpacked data", " MB", 1, 1_000_000, MB),
    "intake_max_files": ("Import: most files", " files", 1, 10_000_000, 1),
    "intake_max_ratio": ("Import: highest compression ratio", "", 2, 100_000, 1),
    "intake_max_depth": ("Import: deepest archive nesting", " levels", 1, 100, 1),
    "audit_retention_days": ("Audit log: keep entries for", " days", 1, 36_500, 1),
    "convert_workers": ("Conversion: worker processes (1: none)", "", 1, 256, 1),
}


class SettingsDialog(QDialog):
    """Edits the settings; on OK saves them (``save``: changes -> new Settings; by default into the
    settings file) and calls ``apply`` with the new Settings."""

    def __init__(self, settings: Settings, apply: Callable[[Settings], None], parent: QWidget | None = None,
                 save: Callable[[dict], Settings] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.settings = settings
        self.apply = apply
        self.save = save or (lambda changes: save_settings(settings, changes))
        fixed = environment_overrides()
        form = QFormLayout()
        self.fields: dict[str, QSpinBox | QDoubleSpinBox] = {}
        for name, (label, suffix, lowest, highest, unit) in _FIELDS.items():
            box = QDoubleSpinBox(self) if name == "intake_max_ratio" else QSpinBox(self)
            box.setObjectName(name)
            box.setAccessibleName(label)
            box.setRange(lowest, highest)
            box.setSuffix(suffix)
            box.setValue(getattr(settings, name) / unit)
            if name in fixed:
                box.setEnabled(False)
                box.setToolTip(f"Set by the environment variable {fixed[name]}.")
            form.addRow(label, box)
            self.fields[name] = box
        self._shown = self.values()  # compared on OK: only what the person changed is saved
        self.error = MessageLabel(self)
        self.error.setObjectName("settingsError")
        note = QLabel("Changes apply at once; the cache lock time-out and data folders apply at the next start.\n"
                      f"Saved in {settings.settings_file}")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.setObjectName("settingsButtons")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def values(self) -> dict[str, float | int]:
        changes: dict[str, float | int] = {}
        for name, box in self.fields.items():
            unit = _FIELDS[name][4]
            changes[name] = box.value() if isinstance(box, QDoubleSpinBox) else box.value() * unit
        return changes

    def accept(self) -> None:
        changes = {name: value for name, value in self.values().items() if value != self._shown[name]}
        try:
            saved = self.save(changes)
        except (SettingsError, PermissionDenied, OSError) as error:
            self.error.show_error(f"Not saved: {error}. Correct the value and press OK again.")
            return
        self.apply(saved)
        super().accept()
