"""Session lifecycle: create, list leftovers, resume, touch, wipe.

A session is a folder ``<runtime root>/sessions/<session_id>/`` (owner-only) holding everything the
user brought in and made, plus the cache rows under ``session:<session_id>:``. Wiping removes both,
and only that session's.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ret_desktop import __version__
from ret_desktop.core.audit import AuditLog
from ret_desktop.core.cache import SessionCache
from ret_desktop.core.fsutil import atomic_write_json, make_private_dir
from ret_desktop.core.procutil import process_alive, this_process

log = logging.getLogger(__name__)

SESSION_SUBDIRS = ("input", "extracted", "output", "ai_index")
METADATA_FILE = "metadata.json"
_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
_WIPING_PREFIX = ".wiping-"


class SessionError(RuntimeError):
    pass


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    user_name: str
    created_at: float
    last_active_at: float
    pid: int
    app_version: str
    pid_started: int | None = None  # procutil.process_start_time of pid; None when unknown (or older metadata)


def cache_prefix(session_id: str) -> str:
    return f"session:{session_id}:"


class SessionManager:
    def __init__(
        self,
        sessions_dir: Path,
        cache: SessionCache,
        audit: AuditLog,
        ttl_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions_dir = Path(sessions_dir)
        self._cache = cache
        self._audit = audit
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._open: set[str] = set()  # sessions this process is working in
        # Set by a caller that holds the data folder's lock (the window): then no other process can
        # be working in a session, so every session this process has not opened is a leftover.
        self.holds_data_lock = False
        make_private_dir(self.sessions_dir)

    def folder(self, session_id: str) -> Path:
        if not _SESSION_ID.match(session_id):
            raise SessionError(f"not a session id: {session_id!r}")
        return self.sessions_dir / session_id

    def create(self, user_name: str) -> SessionInfo:
        session_id = secrets.token_hex(16)
        folder = make_private_dir(self.folder(session_id))
        for name in SESSION_SUBDIRS:
            make_private_dir(folder / name)
        now = self._clock()
        pid, started = this_process()
        info = SessionInfo(session_id, user_name, now, now, pid, __version__, started)
        self._save(info)
        self._open.add(session_id)
        self._audit.record("session_created", user_name, session_id)
        return info

    def get(self, session_id: str) -> SessionInfo | None:
        path = self.folder(session_id) / METADATA_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return SessionInfo(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            log.warning("session %s: unreadable %s (%s)", session_id, METADATA_FILE, exc)
            return None

    def leftovers(self, user_name: str | None = None) -> list[SessionInfo]:
        """Sessions no live process is working in (left by a crash), oldest first. A session whose
        owner's pid now names another process (reused) counts as left."""
        found = []
        for folder in sorted(self.sessions_dir.iterdir()) if self.sessions_dir.exists() else []:
            if not _SESSION_ID.match(folder.name) or folder.name in self._open:
                continue
            info = self.get(folder.name)
            if info is None:
                continue
            if not self.holds_data_lock and info.pid != os.getpid() and process_alive(info.pid, info.pid_started):
                continue
            if user_name is None or info.user_name == user_name:
                found.append(info)
        return sorted(found, key=lambda i: i.created_at)

    def resume(self, session_id: str, user_name: str) -> SessionInfo:
        info = self.get(session_id)
        if info is None:
            raise SessionError(f"session {session_id} no longer exists")
        if info.user_name != user_name:
            raise SessionError(f"session {session_id} belongs to another user")
        if session_id not in {s.session_id for s in self.leftovers(user_name)}:
            raise SessionError(f"session {session_id} is in use by another process")
        pid, started = this_process()
        info = SessionInfo(**{**asdict(info), "pid": pid, "pid_started": started, "last_active_at": self._clock()})
        self._save(info)
        self._open.add(session_id)
        self._audit.record("session_resumed", user_name, session_id)
        return info

    def touch(self, session_id: str) -> SessionInfo:
        """Record activity: the session's idle clock starts again."""
        info = self.get(session_id)
        if info is None:
            raise SessionError(f"session {session_id} no longer exists")
        info = SessionInfo(**{**asdict(info), "last_active_at": self._clock()})
        self._save(info)
        return info

    def wipe(self, session_id: str, reason: str = "sign_out") -> None:
        """Delete the session's folder and every cache entry of it; other sessions are untouched.
        The cache's WAL is truncated afterwards, so the rows survive in no file (secure_delete
        zeroes them in the database itself)."""
        folder = self.folder(session_id)
        info = self.get(session_id)
        removed_rows = self._cache.clear_prefix(cache_prefix(session_id))
        self._cache.truncate_wal()
        self._open.discard(session_id)
        if folder.exists():
            # Renamed first, so that a wipe cut short never leaves a folder that looks like a session.
            doomed = folder.with_name(_WIPING_PREFIX + session_id)
            folder.rename(doomed)
            _remove_tree(doomed)
        self._audit.record("session_wiped", info.user_name if info else None, session_id,
                           reason=reason, cache_rows=removed_rows)

    def wipe_expired_leftovers(self) -> list[str]:
        """Wipe crashed sessions idle for longer than the TTL, and finish interrupted wipes."""
        for remnant in self.sessions_dir.glob(_WIPING_PREFIX + "*"):
            _remove_tree(remnant)
        deadline = self._clock() - self.ttl_seconds
        wiped = []
        for info in self.leftovers():
            if info.last_active_at <= deadline:
                self.wipe(info.session_id, reason="expired")
                wiped.append(info.session_id)
        return wiped

    def _save(self, info: SessionInfo) -> None:
        atomic_write_json(self.folder(info.session_id) / METADATA_FILE, asdict(info))
        self._cache.set(cache_prefix(info.session_id) + "metadata", asdict(info), ttl_seconds=self.ttl_seconds)


def _remove_tree(path: Path) -> None:
    def make_writable_and_retry(function, failed_path, _exc):
        os.chmod(os.path.dirname(failed_path), 0o700)
        if os.path.lexists(failed_path) and not os.path.islink(failed_path):
            os.chmod(failed_path, 0o700)
        function(failed_path)

    handler = {"onexc": make_writable_and_retry} if sys.version_info >= (3, 12) else {"onerror": make_writable_and_retry}
    try:
        shutil.rmtree(path, **handler)
    except OSError as exc:
        raise SessionError(f"could not delete {path}: {exc}; it will be retried at the next sweep") from exc
