"""The audit trail: who did what and when, with counts, never data.

Each entry is time, user, session, action and counts. It outlives sessions, so it may hold nothing
a session brought in or made: no cell value, file name, path or table name. ``record`` enforces
that: count keys come from a fixed list, and a text value is one of a fixed set of words (formats,
roles, reasons) or, under ``account``, an account name. Anything else is a programming error.

Reading it is for administrators (``roles.READ_AUDIT``). Pages are read newest first by keyset
(``before`` the last entry shown), so a page costs the same at any depth of a million entries.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ret_desktop.core.appdb import AppDatabase
from ret_desktop.core.config import TUNABLE_NAMES
from ret_desktop.core.roles import READ_AUDIT, ROLES, Actor, require

PAGE_SIZE = 200

# Every action the trail records (the Audit window's action filter lists these).
ACTIONS = (
    "sign_in", "sign_in_failed", "sign_in_refused", "sign_out", "idle_lock", "idle_unlock",
    "session_created", "session_resumed", "session_wiped",
    "import", "convert", "edit", "export", "compare",
    "user_created", "user_deleted", "role_changed", "user_locked", "user_unlocked",
    "password_reset", "password_set", "password_changed", "settings_changed", "audit_exported",
)
_COUNT_KEYS = frozenset({
    "account", "role", "method", "reason", "cache_rows", "documents", "skipped", "failed", "tables", "rows",
    "edits", "formats", "files", "differences", "entries", "sessions", *TUNABLE_NAMES,
})
_WORDS = frozenset({
    *ROLES, "password", "remembered", "csv", "xlsx", "zip", "html",
    "too_many_failures", "account_locked", "sign_out", "expired", "discarded", "user_deleted",
})


class AuditError(ValueError):
    """What was asked of the audit trail cannot be done (a bad date, ...); one line for the user."""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    time: float
    user: str | None
    session: str | None
    action: str
    counts: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"time": local_time_text(self.time), "user": self.user, "session": self.session,
                "action": self.action, "counts": self.counts}


@dataclass(frozen=True)
class AuditFilter:
    user: str | None = None
    action: str | None = None
    since: float | None = None  # from this time on (inclusive)
    until: float | None = None  # before this time

    def where(self) -> tuple[str, list[Any]]:
        clauses, args = [], []
        for clause, value in (("user_name = ?", self.user), ("action = ?", self.action),
                              ("at >= ?", self.since), ("at < ?", self.until)):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        return " AND ".join(clauses), args


def local_time_text(moment: float) -> str:
    return datetime.fromtimestamp(moment).astimezone().isoformat(timespec="seconds")


def parse_date(text: str) -> float:
    """A date (YYYY-MM-DD, local midnight) or ISO date-time, as a POSIX time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise AuditError(f"not a date: {text!r} (write it as YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    return moment.timestamp()


def _check_counts(action: str, counts: Mapping[str, Any]) -> None:
    if action not in ACTIONS:
        raise ValueError(f"not an audit action: {action!r}")
    for key, value in counts.items():
        if key not in _COUNT_KEYS:
            raise ValueError(f"audit {action}: {key!r} is not a count the audit trail keeps")
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, str) and key != "account" and item not in _WORDS:
                raise ValueError(f"audit {action}: {key}={item!r} is not one of the audit trail's words")
            if not isinstance(item, (str, int, float, type(None))):
                raise ValueError(f"audit {action}: {key} holds a {type(item).__name__}")


class AuditLog:
    def __init__(self, db: AppDatabase, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def record(self, action: str, user: str | None = None, session: str | None = None,
               at: float | None = None, **counts: Any) -> None:
        _check_counts(action, counts)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO audit_log (at, user_name, session_id, action, counts) VALUES (?, ?, ?, ?, ?)",
                (self._clock() if at is None else at, user, session, action, json.dumps(counts, sort_keys=True)),
            )

    # ------------------------------------------------------------------ reading (administrators)

    def page(self, actor: Actor, where: AuditFilter = AuditFilter(), before: AuditEntry | None = None,
             limit: int = PAGE_SIZE) -> list[AuditEntry]:
        """Up to ``limit`` entries matching ``where``, newest first, older than ``before``."""
        require(self._db, actor, READ_AUDIT)
        return self._page(where, before, limit)

    def entries(self, actor: Actor, where: AuditFilter = AuditFilter()) -> Iterator[AuditEntry]:
        """Every entry matching ``where``, newest first, a page at a time."""
        require(self._db, actor, READ_AUDIT)  # now, not at the first entry read
        return self._entries(where)

    def _entries(self, where: AuditFilter) -> Iterator[AuditEntry]:
        before = None
        while True:
            page = self._page(where, before, PAGE_SIZE)
            yield from page
            if len(page) < PAGE_SIZE:
                return
            before = page[-1]

    def users(self, actor: Actor) -> list[str]:
        """The names the trail has entries of (for the user filter)."""
        require(self._db, actor, READ_AUDIT)
        rows = self._db.query("SELECT DISTINCT user_name FROM audit_log WHERE user_name IS NOT NULL "
                              "ORDER BY user_name COLLATE NOCASE")
        return [r["user_name"] for r in rows]

    def export_csv(self, actor: Actor, path: Path, where: AuditFilter = AuditFilter()) -> int:
        """Write the matching entries to ``path`` as CSV (newest first); returns how many."""
        from ret_desktop.core.export import write_csv  # the CSV writer of exports, formulas neutralised

        header = ("time", "user", "session", "action", "counts")
        rows = ([local_time_text(e.time), e.user or "", e.session or "", e.action, json.dumps(e.counts, sort_keys=True)]
                for e in self.entries(actor, where))
        try:
            written = write_csv(Path(path), header, _batches(rows, PAGE_SIZE))
        except OSError as exc:
            raise AuditError(f"cannot write {path}: {exc.strerror or exc}") from exc
        self.record("audit_exported", actor.name, actor.session_id, entries=written)
        return written

    def prune(self, retention_days: float) -> int:
        """Delete entries older than ``retention_days``; returns how many went."""
        with self._db.transaction() as conn:
            return conn.execute("DELETE FROM audit_log WHERE at < ?",
                                (self._clock() - retention_days * 86400,)).rowcount

    def recent(self, limit: int = 100, action: str | None = None) -> list[AuditEntry]:
        """The newest entries, unchecked: for the core's own use and tests, never shown to a user."""
        return self._page(AuditFilter(action=action), None, limit)

    def _page(self, where: AuditFilter, before: AuditEntry | None, limit: int) -> list[AuditEntry]:
        clause, args = where.where()
        if before is not None:
            clause = (clause + " AND " if clause else "") + "(at, id) < (?, ?)"
            args += [before.time, before.id]
        rows = self._db.query(
            "SELECT id, at, user_name, session_id, action, counts FROM audit_log "
            f"{'WHERE ' + clause if clause else ''} ORDER BY at DESC, id DESC LIMIT ?", (*args, limit))
        return [AuditEntry(r["id"], r["at"], r["user_name"], r["session_id"], r["action"], json.loads(r["counts"]))
                for r in rows]


def _batches(rows: Iterator[list[str]], size: int) -> Iterator[list[list[str]]]:
    batch: list[list[str]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class EditTally:
    """Counts edits per table per minute in memory and records one ``edit`` entry per table and
    minute, without the table's name, once the minute is over (or at ``flush``)."""

    def __init__(self, audit: AuditLog, user: str, session: str, clock: Callable[[], float] = time.time) -> None:
        self._audit, self._user, self._session, self._clock = audit, user, session, clock
        self._minute: float | None = None
        self._counts: dict[str, int] = {}

    def note(self, table: str, edits: int = 1) -> None:
        minute = self._clock() // 60 * 60
        if self._minute is not None and minute != self._minute:
            self.flush()
        self._minute = minute
        self._counts[table] = self._counts.get(table, 0) + edits

    def flush_if_over(self) -> None:
        """Record the counts of a minute that has ended (the sweep timer calls it)."""
        if self._minute is not None and self._clock() // 60 * 60 != self._minute:
            self.flush()

    def flush(self) -> None:
        for edits in self._counts.values():
            self._audit.record("edit", self._user, self._session, at=self._minute, tables=1, edits=edits)
        self._counts.clear()
        self._minute = None
