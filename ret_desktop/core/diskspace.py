"""A full disk, told apart from other failures and reported with how much more space is needed."""

from __future__ import annotations

import errno
import math
import shutil
import sqlite3
from pathlib import Path

MB = 1024 * 1024


class DiskFullError(Exception):
    """The disk filled up while ``what`` was being written; nothing half-written was kept. The
    message holds no path (it goes to job records)."""

    def __init__(self, what: str, needed_bytes: int) -> None:
        self.what = what
        self.needed_bytes = max(int(needed_bytes), MB)
        super().__init__(f"disk full: {what} needs about {math.ceil(self.needed_bytes / MB):,} MB more")


def is_disk_full(error: BaseException) -> bool:
    """A write refused for lack of space: ENOSPC or EDQUOT from the system, SQLITE_FULL from SQLite."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return False


def free_bytes(folder: Path) -> int:
    """Free space for this user on the file system of ``folder`` (0 when it cannot be read)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def needed_more(room: int, done: int, total: int) -> int:
    """About how many bytes more a run needs that filled ``room`` bytes with ``done`` of ``total``
    units of its input: the rest of the input at the same rate."""
    if done <= 0:
        return max(room, MB)
    return room * max(total - done, 0) // done
