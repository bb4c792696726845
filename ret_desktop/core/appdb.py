"""The application database ``ret_app.db``: accounts, remember-me token hashes, the audit trail.

One long-lived connection shared by the threads of this process, guarded by a lock.

A database that SQLite cannot read, that fails its integrity check, or that was emptied (0 bytes)
although the folder had accounts is moved aside to ``ret_app.db.corrupt-<time>`` and reported with
``AppDatabaseDamaged``; the next open starts an empty database. Whether the folder ever had accounts
is kept outside the database, in ``ret_app.db.had-accounts`` (written when the first account is
made), so that what empties the database does not also make the app offer first-start setup.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ret_desktop.core.cache import is_lock_error, move_database_aside
from ret_desktop.core.fsutil import atomic_write_json

_MIGRATIONS = [
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
        state TEXT NOT NULL CHECK (state IN ('active', 'locked')),
        created_at REAL NOT NULL,
        last_sign_in_at REAL
    );
    CREATE TABLE remember_tokens (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        user_name TEXT,
        event TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_log_at ON audit_log(at);
    """,
    # Roles and the audit trail (issue 13): forced password change; each audit entry has its session
    # and counts, never data; indexes for the Audit window's filters, newest first.
    """
    ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE audit_log RENAME COLUMN event TO action;
    ALTER TABLE audit_log RENAME COLUMN detail TO counts;
    ALTER TABLE audit_log ADD COLUMN session_id TEXT;
    UPDATE audit_log SET session_id = json_extract(counts, '$.session_id'),
                         counts = json_remove(counts, '$.session_id');
    CREATE INDEX audit_log_user_at ON audit_log(user_name, at);
    CREATE INDEX audit_log_action_at ON audit_log(action, at);
    CREATE INDEX audit_log_user_action_at ON audit_log(user_name, action, at);
    """,
]


class AppDatabaseError(RuntimeError):
    pass


class AppDatabaseDamaged(AppDatabaseError):
    """The database was unusable and has been moved aside; ``str()`` says what to do (one line)."""

    def __init__(self, path: Path, moved_to: Path, reason: str) -> None:
        super().__init__(
            f"the account database {path} was damaged ({reason}); it was moved to {moved_to.name}. "
            f"Restore it from a good copy, or create an administrator: "
            f"ret-desktop users add NAME --role admin --password-stdin"
        )
        self.path, self.moved_to, self.reason = path, moved_to, reason


class AppDatabase:
    def __init__(self, path: Path | str, lock_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.accounts_marker = self.path.with_name(self.path.name + ".had-accounts")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        emptied = self.had_accounts() and self.path.exists() and self.path.stat().st_size == 0
        damage = "emptied to 0 bytes, though this folder had accounts" if emptied else None
        self._conn: sqlite3.Connection | None = None
        if damage is None:
            try:
                self._conn = sqlite3.connect(
                    self.path, timeout=lock_timeout, isolation_level=None, check_same_thread=False
                )
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA foreign_keys=ON")
                (check,) = self._conn.execute("PRAGMA quick_check").fetchone()
                if check != "ok":
                    raise sqlite3.DatabaseError(f"integrity check failed: {check}")
                self._migrate()
            except sqlite3.DatabaseError as exc:
                if is_lock_error(exc):
                    self.close()
                    raise AppDatabaseError(f"application database {self.path} is locked by another process "
                                           f"(waited {lock_timeout:g} s)") from exc
                damage = str(exc)
        if damage is not None:
            self.close()
            try:
                moved_to = move_database_aside(self.path)
            except OSError as exc:
                raise AppDatabaseError(
                    f"the account database {self.path} is damaged ({damage}) and cannot be moved aside: {exc}") from exc
            raise AppDatabaseDamaged(self.path, moved_to, damage)
        if not self.had_accounts() and self.query("SELECT 1 FROM users LIMIT 1"):
            self.record_accounts_exist()  # accounts made before the marker existed

    def had_accounts(self) -> bool:
        return self.accounts_marker.exists()

    def record_accounts_exist(self) -> None:
        """Remember, outside the database, that this folder has had accounts (idempotent)."""
        if not self.had_accounts():
            atomic_write_json(self.accounts_marker, {"first_account_seen_at": time.time()})

    def _migrate(self) -> None:
        (version,) = self._conn.execute("PRAGMA user_version").fetchone()
        if version > len(_MIGRATIONS):
            raise AppDatabaseError(
                f"application database {self.path} was written by a newer RET Desktop (schema {version})"
            )
        for number in range(version, len(_MIGRATIONS)):
            with self.transaction() as conn:
                for statement in _MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a group of statements atomically (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._conn.execute(sql, args)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

