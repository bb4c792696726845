"""Garbage collection on the GUI thread only.

Python's cycle collector runs in whichever thread happens to allocate. If it frees a Qt widget there
(a window caught in a reference cycle), the C++ object is destroyed outside the GUI thread and the
process crashes. So automatic collection is switched off while the app runs and a timer on the GUI
thread collects instead, with Python's usual thresholds (the approach Anki takes).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GuiThreadGarbageCollector(QObject):
    def __init__(self, parent: QObject | None = None, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self._thresholds[generation]:
                gc.collect(generation)
                break

    def stop(self) -> None:
        """Back to automatic collection (when the app is torn down)."""
        self._timer.stop()
        gc.collect()
        gc.enable()
