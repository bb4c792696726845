"""Logging: warnings to stderr, everything from INFO up to a rotating file in the log folder
(owner-only: the folder 0700, the log and its rotated copies 0600, whatever the umask)."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from ret_desktop.core.fsutil import OWNER_ONLY_FILE, make_private_dir

LOG_FILE_NAME = "ret-desktop.log"


class _OwnerOnlyRotatingFileHandler(logging.handlers.RotatingFileHandler):
    def _open(self):
        stream = super()._open()
        os.chmod(self.baseFilename, OWNER_ONLY_FILE)  # rotated copies keep it: they are renamed
        return stream


def configure_logging(log_dir: Path, stderr_level: int = logging.WARNING) -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        if getattr(handler, "_ret_desktop", False):
            root.removeHandler(handler)
            handler.close()
    console = logging.StreamHandler()
    console.setLevel(stderr_level)
    console.setFormatter(logging.Formatter("ret-desktop: %(levelname)s: %(message)s"))
    handlers: list[logging.Handler] = [console]
    try:
        make_private_dir(log_dir)
        file_handler = _OwnerOnlyRotatingFileHandler(
            log_dir / LOG_FILE_NAME, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(file_handler)
    except OSError as exc:
        logging.getLogger(__name__).warning("no log file in %s: %s", log_dir, exc)
    for handler in handlers:
        handler._ret_desktop = True  # type: ignore[attr-defined]
        root.addHandler(handler)
