"""The backend in one object: everything the CLI and the GUI work through, built from Settings."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from ret_desktop.core.accounts import Accounts, User
from ret_desktop.core.appdb import AppDatabase
from ret_desktop.core.audit import AuditLog
from ret_desktop.core.cache import SessionCache
from ret_desktop.core.config import TUNABLE_NAMES, Settings, prepare_data_dirs, save_settings
from ret_desktop.core.jobs import JobStore
from ret_desktop.core.ratelimit import RateLimiter, default_limits
from ret_desktop.core.roles import CHANGE_LIMITS, COMMAND_LINE, REMOVE_OTHERS_SESSIONS, Actor, require
from ret_desktop.core.sessions import SessionManager


@dataclass
class Services:
    settings: Settings
    cache: SessionCache
    app_db: AppDatabase
    audit: AuditLog
    limiter: RateLimiter
    accounts: Accounts
    sessions: SessionManager
    jobs: JobStore

    def apply_settings(self, settings: Settings) -> None:
        """Use changed tunables at once; the lock timeout and paths wait for the next start."""
        self.cache.resize(settings.session_cache_max_size)
        self.cache.default_ttl = settings.session_cache_ttl_seconds
        self.sessions.ttl_seconds = settings.session_cache_ttl_seconds
        self.limiter.set_limits(default_limits(settings))
        self.settings = settings

    def change_settings(self, changes: dict[str, Any], *, by: Actor = COMMAND_LINE) -> Settings:
        """Save ``changes`` (tunable name -> value) and apply them; administrators only. Each
        changed value is recorded in the audit trail as old -> new."""
        require(self.app_db, by, CHANGE_LIMITS)
        old = self.settings
        saved = save_settings(old, changes)
        self.apply_settings(saved)
        moved = {name: [getattr(old, name), getattr(saved, name)] for name in TUNABLE_NAMES
                 if getattr(old, name) != getattr(saved, name)}
        if moved:
            self.audit.record("settings_changed", by.name, by.session_id, **moved)
        return saved

    def remove_leftover_sessions(self, user_name: str, *, by: Actor = COMMAND_LINE,
                                 reason: str = "discarded") -> int:
        """Wipe ``user_name``'s leftover sessions: one's own, or anyone's for an administrator."""
        if by.name != user_name:
            require(self.app_db, by, REMOVE_OTHERS_SESSIONS)
        leftovers = self.sessions.leftovers(user_name)
        for info in leftovers:
            self.sessions.wipe(info.session_id, reason=reason)
        return len(leftovers)

    def delete_user(self, name: str, *, by: Actor = COMMAND_LINE) -> User:
        """Delete the account, its remember-me token and its leftover sessions. (Its window state is
        the window's: ``gui.session.forget_window_state``.)"""
        user = self.accounts.delete_user(name, by=by)
        self.remove_leftover_sessions(user.name, by=by, reason="user_deleted")
        return user

    def sweep_audit(self) -> int:
        """Drop audit entries older than the retention setting (the sweep timer calls it)."""
        return self.audit.prune(self.settings.audit_retention_days)

    def close(self) -> None:
        self.cache.close()
        self.app_db.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_services(
    settings: Settings, keyring_backend: Any = "system", clock: Callable[[], float] = time.time
) -> Services:
    prepare_data_dirs(settings)
    cache = SessionCache(
        settings.session_db,
        max_size=settings.session_cache_max_size,
        default_ttl=settings.session_cache_ttl_seconds,
        lock_timeout=settings.cache_lock_timeout_seconds,
        clock=clock,
    )
    try:
        app_db = AppDatabase(settings.app_db, lock_timeout=settings.cache_lock_timeout_seconds)
    except BaseException:
        cache.close()
        raise
    audit = AuditLog(app_db, clock=clock)
    limiter = RateLimiter(cache, default_limits(settings))
    return Services(
        settings=settings,
        cache=cache,
        app_db=app_db,
        audit=audit,
        limiter=limiter,
        accounts=Accounts(app_db, limiter, audit, keyring_backend=keyring_backend, clock=clock),
        sessions=SessionManager(settings.sessions_dir, cache, audit, settings.session_cache_ttl_seconds, clock=clock),
        jobs=JobStore(settings.jobs_dir, clock=clock),
    )
