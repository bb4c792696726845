"""The backend in one object: everything the CLI and the GUI work through, built from Settings."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from ret_desktop.core.accounts import Accounts
from ret_desktop.core.appdb import AppDatabase
from ret_desktop.core.audit import AuditLog
from ret_desktop.core.cache import SessionCache
from ret_desktop.core.config import Settings, prepare_data_dirs
from ret_desktop.core.jobs import JobStore
from ret_desktop.core.ratelimit import RateLimiter, default_limits
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
