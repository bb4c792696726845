"""Actions made one way: object name, shortcuts, a tooltip that names the first shortcut, an icon."""

from __future__ import annotations

from typing import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from ret_desktop.gui.theme import icon


def make_action(owner: QWidget, name: str, text: str, shortcuts: Sequence[QKeySequence | str], slot: Callable,
                icon_name: str | None = None, tip: str | None = None, local: bool = False) -> QAction:
    """An action of ``owner``, whose shortcuts work anywhere in owner's window, or, with ``local``,
    only while ``owner`` or a child of it has the focus."""
    action = QAction(icon(icon_name), text, owner) if icon_name else QAction(text, owner)
    action.setObjectName(name)
    keys = [QKeySequence(key) for key in shortcuts]
    action.setShortcuts(keys)
    label = tip or text.replace("&", "").rstrip("….")
    action.setToolTip(f"{label} ({keys[0].toString()})" if keys else label)
    if local:
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    action.triggered.connect(slot)
    owner.addAction(action)
    return action
