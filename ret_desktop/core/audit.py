"""Audit log: who did what and when (sign-in, sign-out, wipes, account changes). No user data."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable

from ret_desktop.core.appdb import AppDatabase


@dataclass(frozen=True)
class AuditEvent:
    at: float
    user_name: str | None
    event: str
    detail: dict[str, Any]


class AuditLog:
    def __init__(self, db: AppDatabase, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def record(self, event: str, user_name: str | None = None, **detail: Any) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO audit_log (at, user_name, event, detail) VALUES (?, ?, ?, ?)",
                (self._clock(), user_name, event, json.dumps(detail, sort_keys=True)),
            )

    def recent(self, limit: int = 100, event: str | None = None) -> list[AuditEvent]:
        where, args = ("WHERE event = ?", (event,)) if event else ("", ())
        rows = self._db.query(
            f"SELECT at, user_name, event, detail FROM audit_log {where} ORDER BY id DESC LIMIT ?", (*args, limit)
        )
        return [AuditEvent(r["at"], r["user_name"], r["event"], json.loads(r["detail"])) for r in rows]
