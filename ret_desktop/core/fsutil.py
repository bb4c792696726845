"""Small file-system helpers shared by the core: atomic writes and owner-only folders."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

OWNER_ONLY_DIR = 0o700
OWNER_ONLY_FILE = 0o600


def atomic_write_bytes(path: Path, data: bytes, mode: int = OWNER_ONLY_FILE) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the temporary
    file is renamed over ``path``. On any error the temporary file is removed and ``path`` is
    left as it was.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, value: Any, mode: int = OWNER_ONLY_FILE) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make the folder itself readable by its owner only."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, OWNER_ONLY_DIR)
    return path


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a directory for fsync; os.replace is already durable there.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
