"""The PySide6 layer: widgets, Qt models, the job runner and timers. All work is done by core."""
