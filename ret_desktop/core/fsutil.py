"""Small file-system helpers shared by the core: atomic writes, owner-only folders and the
permissions of what the app writes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ret_desktop.core.scratch import part_file

OWNER_ONLY_DIR = 0o700
OWNER_ONLY_FILE = 0o600
PRIVATE_UMASK = 0o077
NOT_WRITABLE_BY_OTHERS = 0o022


def _read_umask() -> int:
    mask = os.umask(PRIVATE_UMASK)  # the only way to read it; done at import, before any worker thread
    os.umask(mask)
    return mask


_user_umask = _read_umask()


def restrict_umask() -> None:
    """At process start: everything the process creates from now on (folders, SQLite databases and
    their -wal/-shm, logs, Qt's files) is owner-only, whatever the umask it was started with.
    The user's umask is kept for exported files (``exported_file_mode``)."""
    global _user_umask
    previous = os.umask(PRIVATE_UMASK)
    if previous != PRIVATE_UMASK:
        _user_umask = previous


def exported_file_mode() -> int:
    """Exported files (in a folder the user picks) get what a plain save under the user's umask
    gives, but never writable by group or others: 0644 at most."""
    return 0o666 & ~(_user_umask | NOT_WRITABLE_BY_OTHERS)


def make_export_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) for exported files, as ``exported_file_mode`` for a
    folder: 0755 at most; a folder that is there already is left as it is."""
    path = Path(path)
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for folder in missing:
        os.chmod(folder, 0o777 & ~(_user_umask | NOT_WRITABLE_BY_OTHERS))
    return path


def atomic_write_bytes(path: Path, data: bytes, mode: int = OWNER_ONLY_FILE) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part.

    The bytes go to a part file of this process in the same folder (``scratch.part_file``: a run
    killed mid-write leaves it to the next start's sweep), are flushed to disk, and the part file is
    renamed over ``path``. On any error the part file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    with part_file(path) as part:
        with open(part, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(part, mode)
        os.replace(part, path)
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, value: Any, mode: int = OWNER_ONLY_FILE) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def make_private_dir(path: Path, only_if_new: bool = False) -> Path:
    """Create ``path`` and missing parents, owner-only (0700) whatever the umask. A folder that is
    there already is made owner-only too, unless ``only_if_new`` (a folder the user named)."""
    path = Path(path)
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for folder in missing if only_if_new else {path, *missing}:
        os.chmod(folder, OWNER_ONLY_DIR)
    return path


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a directory for fsync; os.replace is already durable there.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
