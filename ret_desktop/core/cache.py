"""SessionCache: a bounded LRU key/value cache with TTLs, in memory (cachetools) over SQLite.

Every write goes through to SQLite before memory changes, so the disk tier always holds every live
entry; the memory tier keeps the values of the most recently used ones. The cache as a whole holds
at most ``max_size`` entries: when a new key would exceed that, expired entries go first, then the
least recently used. Values are JSON. All methods are safe to call from several threads.
"""

from __future__ import annotations

import json
import logging
import marshal
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable

from cachetools import LRUCache

log = logging.getLogger(__name__)

_MISSING = object()
_JSON_DECODER = json.JSONDecoder()
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS session_cache (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    accessed_seq INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS session_cache_expires_at ON session_cache(expires_at);
"""


class CacheError(RuntimeError):
    """The session cache cannot do what was asked; the message says why."""


class CacheLockedError(CacheError):
    """Another process held the cache database locked for longer than the lock timeout."""


class SessionCache:
    def __init__(
        self,
        db_path: Path | str,
        max_size: int = 1000,
        default_ttl: float | None = 3600,
        *,
        memory_size: int | None = None,
        lock_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        if default_ttl is not None and default_ttl <= 0:
            raise ValueError(f"default_ttl must be positive or None, not {default_ttl}")
        memory_size = max_size if memory_size is None else memory_size
        if not 1 <= memory_size <= max_size:
            raise ValueError(f"memory_size must be between 1 and max_size ({max_size}), not {memory_size}")
        self.db_path = Path(db_path)
        self.max_size = max_size
        self.default_ttl = default_ttl
        self.lock_timeout = lock_timeout
        self._clock = clock
        self._lock = threading.RLock()
        # Every live key of both tiers -> expires_at (None: never), least recently used first.
        self._index: OrderedDict[str, float | None] = OrderedDict()
        # The values of the most recently used entries, frozen (see _freeze).
        self._memory: LRUCache[str, Any] = LRUCache(maxsize=memory_size)
        # Keys read since their recency was last written to disk.
        self._touched: set[str] = set()
        self._seq = 0
        self._counts = {"memory_hits": 0, "disk_hits": 0, "misses": 0, "evictions": 0, "expired": 0}
        self._conn: sqlite3.Connection | None = self._open()
        self._load_index()

    # ------------------------------------------------------------------ public API

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            frozen = self._live_value(key, self._clock())
        if frozen is _MISSING:
            return default
        return marshal.loads(frozen) if type(frozen) is bytes else frozen

    def set(self, key: str, value: Any, ttl_seconds: float | None = None) -> None:
        text = _encode(key, value)
        frozen = _freeze(_decode_json(text))  # what a later get returns: exactly what the disk holds
        with self._lock:
            now = self._clock()
            self._write(key, text, frozen, now, self._expiry(now, ttl_seconds))

    def delete(self, key: str) -> bool:
        with self._lock:
            self._require_open()
            if key not in self._index:
                return False
            self._execute("DELETE FROM session_cache WHERE key = ?", (key,))
            self._forget([key])
            return True

    def clear_prefix(self, prefix: str) -> int:
        """Remove every entry whose key starts with ``prefix`` (taken literally) and return how many."""
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("clear_prefix needs a non-empty prefix")
        upper = _prefix_upper_bound(prefix)
        with self._lock:
            if upper is None:
                sql, args = "DELETE FROM session_cache WHERE key >= ? RETURNING key", (prefix,)
            else:
                sql, args = "DELETE FROM session_cache WHERE key >= ? AND key < ? RETURNING key", (prefix, upper)
            removed = [row[0] for row in self._execute(sql, args, fetch=True)]
            self._forget(removed)
            return len(removed)

    def incr(self, key: str, amount: int = 1, ttl_seconds: float | None = None) -> int:
        """Add ``amount`` to the integer stored at ``key`` and return the new value, atomically.

        A missing or expired key starts from 0 and gets ``ttl_seconds`` (or the default TTL);
        an existing key keeps its expiry, so a counter measures a fixed window.
        """
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError(f"incr amount must be an int, not {type(amount).__name__}")
        with self._lock:
            now = self._clock()
            current = self._live_value(key, now)
            if current is _MISSING:
                value, expires_at = amount, self._expiry(now, ttl_seconds)
            elif type(current) is int:
                value, expires_at = current + amount, self._index[key]
            else:
                raise TypeError(f"cache key {key!r} does not hold an int")
            self._write(key, str(value), value, now, expires_at)
            return value

    def ttl_remaining(self, key: str) -> float | None:
        """Seconds until ``key`` expires; None if it never does. KeyError if it is not there."""
        with self._lock:
            self._require_open()
            now = self._clock()
            expires_at = self._index.get(key, _MISSING)
            if expires_at is _MISSING or (expires_at is not None and expires_at <= now):
                raise KeyError(key)
            return None if expires_at is None else expires_at - now

    def resize(self, max_size: int) -> int:
        """Change how many entries the cache holds (memory tier too); returns how many were evicted
        to fit the new size, expired ones first."""
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        with self._lock:
            self._require_open()
            victims = self._victims(self._clock(), len(self._index) - max_size) if len(self._index) > max_size else []
            self._evict(victims)
            follows_max_size = self._memory.maxsize == self.max_size
            memory: LRUCache[str, Any] = LRUCache(
                maxsize=max_size if follows_max_size else min(int(self._memory.maxsize), max_size))
            for key in self._index:  # least recently used first, so the most recent stay
                if key in self._memory:
                    memory[key] = self._memory[key]
            self._memory = memory
            self.max_size = max_size
            return len(victims)

    def sweep_expired(self) -> int:
        """Remove every expired entry from both tiers and return how many there were."""
        with self._lock:
            self._flush_recency()
            removed = [
                row[0]
                for row in self._execute(
                    "DELETE FROM session_cache WHERE expires_at <= ? RETURNING key", (self._clock(),), fetch=True
                )
            ]
            self._forget(removed)
            self._counts["expired"] += len(removed)
            return len(removed)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            self._require_open()
            return {
                "entries": len(self._index),
                "memory_entries": len(self._memory),
                "max_size": self.max_size,
                "memory_size": int(self._memory.maxsize),
                "default_ttl": self.default_ttl,
                **self._counts,
                "db_path": str(self.db_path),
                "db_bytes": sum(
                    p.stat().st_size
                    for p in (self.db_path, _sibling(self.db_path, "-wal"))
                    if p.exists()
                ),
            }

    def close(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                self._flush_recency()
            except CacheError as exc:
                log.warning("session cache: recency not saved on close: %s", exc)
            self._conn.close()
            self._conn = None
            self._index.clear()
            self._memory.clear()
            self._touched.clear()

    def __enter__(self) -> SessionCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _expiry(self, now: float, ttl_seconds: float | None) -> float | None:
        ttl = self.default_ttl if ttl_seconds is None else ttl_seconds
        if ttl is not None and ttl <= 0:
            raise ValueError(f"ttl_seconds must be positive, not {ttl}")
        return None if ttl is None else now + ttl

    def _live_value(self, key: str, now: float) -> Any:
        """The frozen value (see ``_freeze``) of a live entry, marked as just used; _MISSING if the
        key is absent or expired. The hot path of every read: keep it lean."""
        expires_at = self._index.get(key, _MISSING)
        if expires_at is _MISSING:
            self._require_open()
            self._counts["misses"] += 1
            return _MISSING
        if expires_at is not None and expires_at <= now:
            self._execute("DELETE FROM session_cache WHERE key = ?", (key,))
            self._forget([key])
            self._counts["expired"] += 1
            self._counts["misses"] += 1
            return _MISSING
        self._index.move_to_end(key)
        self._touched.add(key)
        if key in self._memory:
            self._counts["memory_hits"] += 1
            return self._memory[key]
        try:
            row = self._conn.execute("SELECT value FROM session_cache WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        if row is None:
            log.warning("session cache: %r vanished from %s (changed by another process?)", key, self.db_path)
            self._forget([key])
            self._counts["misses"] += 1
            return _MISSING
        frozen = _freeze(_decode_json(row[0]))
        self._memory[key] = frozen
        self._counts["disk_hits"] += 1
        return frozen

    def _write(self, key: str, text: str, frozen: Any, now: float, expires_at: float | None) -> None:
        self._require_open()
        victims: list[str] = []
        if key not in self._index and len(self._index) >= self.max_size:
            victims = self._victims(now, len(self._index) - self.max_size + 1)
        self._seq += 1
        upsert = (
            "INSERT INTO session_cache (key, value, created_at, expires_at, accessed_seq) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, "
            "accessed_seq = excluded.accessed_seq"
        )
        if victims:
            with self._transaction():
                self._conn.executemany("DELETE FROM session_cache WHERE key = ?", ((v,) for v in victims))
                self._conn.execute(upsert, (key, text, now, expires_at, self._seq))
            self._forget(victims)
            self._counts["evictions"] += len(victims)
        else:
            self._execute(upsert, (key, text, now, expires_at, self._seq))
        self._index[key] = expires_at
        self._index.move_to_end(key)
        self._touched.discard(key)
        self._memory[key] = frozen

    def _victims(self, now: float, count: int) -> list[str]:
        """Keys to remove to make room for ``count`` new entries: expired ones first, then the LRU."""
        expired = [
            row[0]
            for row in self._execute(
                "SELECT key FROM session_cache WHERE expires_at <= ? LIMIT ?", (now, count), fetch=True
            )
        ]
        chosen = set(expired)
        for key in self._index:
            if len(chosen) >= count:
                break
            chosen.add(key)
        return list(chosen)

    def _forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._index.pop(key, None)
            self._memory.pop(key, None)
            self._touched.discard(key)

    def _flush_recency(self) -> None:
        """Write the order in which entries were last read, so LRU order survives a restart."""
        if self._conn is None or not self._touched:
            return
        updates = []
        for key in self._index:  # least recently used first
            if key in self._touched:
                self._seq += 1
                updates.append((self._seq, key))
        with self._transaction():
            self._conn.executemany("UPDATE session_cache SET accessed_seq = ? WHERE key = ?", updates)
        self._touched.clear()

    def _require_open(self) -> None:
        if self._conn is None:
            raise CacheError(f"session cache {self.db_path} is closed")

    def _execute(self, sql: str, args: tuple = (), fetch: bool = False) -> list[tuple]:
        self._require_open()
        try:
            cursor = self._conn.execute(sql, args)
            return cursor.fetchall() if fetch else []
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    def _transaction(self) -> _Transaction:
        self._require_open()
        return _Transaction(self)

    def _translate(self, exc: sqlite3.Error) -> CacheError:
        if _is_lock_error(exc):
            return CacheLockedError(
                f"session cache {self.db_path} is locked by another process "
                f"(waited {self.lock_timeout:g} s); close the other RET Desktop and try again"
            )
        return CacheError(f"session cache {self.db_path}: {exc}")

    # ------------------------------------------------------------------ opening

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.db_path, timeout=self.lock_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA mmap_size=67108864")
            (check,) = conn.execute("PRAGMA quick_check").fetchone()
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if _is_lock_error(exc):
                raise self._translate(exc) from exc
            moved_to = self._move_aside()
            log.warning("session cache %s was unreadable (%s); moved it to %s and started afresh",
                        self.db_path, exc, moved_to)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = _sibling(self.db_path, f".corrupt-{stamp}")
        try:
            for suffix in ("", "-wal", "-shm"):
                source = _sibling(self.db_path, suffix)
                if source.exists():
                    source.replace(_sibling(target, suffix))
        except OSError as exc:
            raise CacheError(f"session cache {self.db_path} is unreadable and cannot be moved aside: {exc}") from exc
        return target

    def _load_index(self) -> None:
        with self._lock:
            rows = self._execute(
                "SELECT key, expires_at, accessed_seq FROM session_cache ORDER BY accessed_seq, created_at", fetch=True
            )
            for key, expires_at, seq in rows:
                self._index[key] = expires_at
                self._seq = max(self._seq, seq)
            excess = len(self._index) - self.max_size
            if excess > 0:  # max_size was lowered since the last run
                self._evict(list(self._index)[:excess])

    def _evict(self, victims: list[str]) -> None:
        """Remove ``victims`` from both tiers to keep the bound; they count as evictions."""
        if not victims:
            return
        with self._transaction():
            self._conn.executemany("DELETE FROM session_cache WHERE key = ?", ((v,) for v in victims))
        self._forget(victims)
        self._counts["evictions"] += len(victims)


class _Transaction:
    def __init__(self, cache: SessionCache) -> None:
        self._cache = cache

    def __enter__(self) -> None:
        try:
            self._cache._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._cache._translate(exc) from exc

    def __exit__(self, exc_type, exc, tb) -> bool:
        conn = self._cache._conn
        if exc_type is None:
            try:
                conn.execute("COMMIT")
                return False
            except sqlite3.OperationalError as commit_exc:
                conn.execute("ROLLBACK")
                raise self._cache._translate(commit_exc) from commit_exc
        conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError):
            raise self._cache._translate(exc) from exc
        return False


def _encode(key: str, value: Any) -> str:
    if not isinstance(key, str) or not key:
        raise TypeError(f"cache keys are non-empty strings, not {key!r}")
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"value for cache key {key!r} is not JSON: {exc}") from None


def _decode_json(text: str) -> Any:
    # Values are written by _encode (compact, no surrounding blanks), so the decoder's raw entry
    # point serves; it skips the two whitespace scans of json.loads on a hot path.
    return _JSON_DECODER.raw_decode(text)[0]


def _freeze(value: Any) -> Any:
    """What the memory tier keeps: scalars as they are (immutable), containers as marshal bytes,
    so that every ``get`` hands out a fresh copy the caller may change, faster than JSON decoding."""
    if isinstance(value, (dict, list)):
        return marshal.dumps(value)
    return value


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (UTF-8 byte order)."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code == 0xD800:
            code = 0xE000  # surrogates cannot be stored; UTF-8 order skips them too
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def _is_lock_error(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc)


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)
