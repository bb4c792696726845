"""SessionCache: a bounded LRU key/value cache with TTLs, in memory over SQLite.

SQLite is the one truth, for every thread and every process that opens the file. Every write runs
in a ``BEGIN IMMEDIATE`` transaction and reaches SQLite before memory changes; the memory tier
(every live key with its expiry, and the values of the most recently used entries) is trusted only
while no other process has committed: each operation first compares the WAL-index header in the
``-shm`` file (one 48-byte read, no system call), and when it moved asks ``PRAGMA data_version``
whether another connection committed; if one did, the key index is reloaded and memory dropped.

At most ``max_size`` ordinary entries: when a new key would exceed that, expired entries go first,
then the least recently used. Protected entries (``protected=True``: sign-in failure counters,
lockouts) are never evicted; only their TTL, ``delete`` or ``clear_prefix`` removes them. They must
have a TTL, and at most ``max_protected`` of them live at once: past that, a new one is refused with
``CacheFullError`` (and how long until one expires) instead of pushing an old one out.
Values are JSON. All methods are safe to call from several threads.
"""

from __future__ import annotations

import json
import logging
import marshal
import mmap
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable


log = logging.getLogger(__name__)

_MISSING = object()
_JSON_DECODER = json.JSONDecoder()
_SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS session_cache (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    accessed_seq INTEGER NOT NULL DEFAULT 0,
    protected INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS session_cache_expires_at ON session_cache(expires_at);
"""
# The first copy of the WAL-index header (https://www.sqlite.org/walformat.html): SQLite rewrites
# it at every commit (its iChange counter goes up), whichever process commits.
_WAL_INDEX_HEADER_BYTES = 48
DEFAULT_MAX_PROTECTED = 10_000


class CacheError(RuntimeError):
    """The session cache cannot do what was asked; the message says why."""


class CacheLockedError(CacheError):
    """Another process held the cache database locked for longer than the lock timeout."""


class CacheFullError(CacheError):
    """``max_protected`` protected entries are live; ``retry_after_s`` until the first expires."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SessionCache:
    def __init__(
        self,
        db_path: Path | str,
        max_size: int = 1000,
        default_ttl: float | None = 3600,
        *,
        memory_size: int | None = None,
        max_protected: int = DEFAULT_MAX_PROTECTED,
        lock_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        if max_protected < 1:
            raise ValueError(f"max_protected must be at least 1, not {max_protected}")
        if default_ttl is not None and default_ttl <= 0:
            raise ValueError(f"default_ttl must be positive or None, not {default_ttl}")
        memory_size = max_size if memory_size is None else memory_size
        if not 1 <= memory_size <= max_size:
            raise ValueError(f"memory_size must be between 1 and max_size ({max_size}), not {memory_size}")
        self.db_path = Path(db_path)
        self.max_size = max_size
        self.max_protected = max_protected
        self.default_ttl = default_ttl
        self.lock_timeout = lock_timeout
        self._clock = clock
        self._lock = threading.RLock()
        # Every live ordinary key -> expires_at (None: never), least recently used first.
        self._index: OrderedDict[str, float | None] = OrderedDict()
        # Every live protected key -> expires_at; outside the LRU.
        self._protected: dict[str, float] = {}
        # The values of the most recently used entries of both kinds, frozen (see _freeze), least
        # recently used first; at most _memory_size. (An OrderedDict: cachetools' LRUCache runs
        # Python code on every lookup, this runs C.)
        self._memory: OrderedDict[str, Any] = OrderedDict()
        self._memory_size = memory_size
        # Keys read since their recency was last written to disk.
        self._touched: set[str] = set()
        self._seq = 0  # the highest accessed_seq in the file, as far as this process knows
        self._counts = {"memory_hits": 0, "disk_hits": 0, "misses": 0, "evictions": 0, "expired": 0,
                        "reloads": 0}
        self._wal_index: mmap.mmap | None = None
        self._seen_header = b""
        self._data_version: int | None = None
        self._wal_truncate_pending = False
        self._conn: sqlite3.Connection | None = self._open()
        self._reader = self._conn.cursor()  # for the reads of get, under self._lock: no cursor made per call
        (journal_mode,) = self._conn.execute("PRAGMA journal_mode").fetchone()
        # Without WAL (a file system that cannot share memory) there is no live header to read.
        self._wal_index = _map_wal_index(self.db_path) if journal_mode == "wal" else None
        self._load_index()

    # ------------------------------------------------------------------ public API

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            self._sync()
            frozen = self._live_value(key, self._clock())
        if frozen is _MISSING:
            return default
        return marshal.loads(frozen) if type(frozen) is bytes else frozen

    def set(self, key: str, value: Any, ttl_seconds: float | None = None, *, protected: bool = False) -> None:
        """Store ``value``. ``protected`` entries are never evicted (see the module docstring)."""
        text = _encode(key, value)
        frozen = _freeze(_decode_json(text))  # what a later get returns: exactly what the disk holds
        with self._lock, self._transaction():
            now = self._clock()
            self._write(key, text, frozen, now, self._expiry(now, ttl_seconds, protected), protected)

    def delete(self, key: str) -> bool:
        with self._lock:
            self._sync()
            removed = self._execute("DELETE FROM session_cache WHERE key = ? RETURNING key", (key,), fetch=True)
            self._forget([key])
            return bool(removed)

    def clear_prefix(self, prefix: str) -> int:
        """Remove every entry whose key starts with ``prefix`` (taken literally) and return how many."""
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("clear_prefix needs a non-empty prefix")
        upper = _prefix_upper_bound(prefix)
        where, args = ("key >= ?", (prefix,)) if upper is None else ("key >= ? AND key < ?", (prefix, upper))
        # The keys, then the rows: far faster than DELETE ... RETURNING, and one transaction (the
        # write lock) keeps them the same rows.
        with self._lock, self._transaction():
            removed = [key for (key,) in self._conn.execute(f"SELECT key FROM session_cache WHERE {where}", args)]
            if removed:
                self._conn.execute(f"DELETE FROM session_cache WHERE {where}", args)
                self._forget(removed)
            return len(removed)

    def incr(self, key: str, amount: int = 1, ttl_seconds: float | None = None, *, protected: bool = False) -> int:
        """Add ``amount`` to the integer stored at ``key`` and return the new value, atomically
        (one write transaction, so no increment of any thread or process is lost).

        A missing or expired key starts from 0 and gets ``ttl_seconds`` (or the default TTL);
        an existing key keeps its expiry, so a counter measures a fixed window.
        """
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError(f"incr amount must be an int, not {type(amount).__name__}")
        with self._lock, self._transaction():
            now = self._clock()
            current = self._live_value(key, now)
            if current is _MISSING:
                value, expires_at = amount, self._expiry(now, ttl_seconds, protected)
            elif type(current) is int:
                value, expires_at = current + amount, self._expires_at(key)
            else:
                raise TypeError(f"cache key {key!r} does not hold an int")
            self._write(key, str(value), value, now, expires_at, protected)
            return value

    def ttl_remaining(self, key: str) -> float | None:
        """Seconds until ``key`` expires; None if it never does. KeyError if it is not there."""
        with self._lock:
            self._sync()
            now = self._clock()
            expires_at = self._expires_at(key)
            if expires_at is _MISSING or (expires_at is not None and expires_at <= now):
                raise KeyError(key)
            return None if expires_at is None else expires_at - now

    def seconds_until_protected_room(self) -> float:
        """0 if a new protected entry fits now, else the seconds until the first one expires."""
        with self._lock:
            self._sync()
            if len(self._protected) < self.max_protected:
                return 0.0
            return max(0.0, min(self._protected.values()) - self._clock())

    def resize(self, max_size: int) -> int:
        """Change how many ordinary entries the cache holds (memory tier too); returns how many were
        evicted to fit the new size, expired ones first."""
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        with self._lock, self._transaction():
            excess = len(self._index) - max_size
            victims = self._victims(self._clock(), excess) if excess > 0 else []
            self._evict(victims)
            if self._memory_size == self.max_size or self._memory_size > max_size:
                self._memory_size = max_size
            while len(self._memory) > self._memory_size:
                self._memory.popitem(last=False)
            self.max_size = max_size
            return len(victims)

    def sweep_expired(self) -> int:
        """Remove every expired entry from both tiers and return how many there were."""
        with self._lock:
            with self._transaction():
                self._flush_recency()
                removed = [
                    row[0]
                    for row in self._execute(
                        "DELETE FROM session_cache WHERE expires_at <= ? RETURNING key", (self._clock(),), fetch=True
                    )
                ]
                self._forget(removed)
                self._counts["expired"] += len(removed)
            if self._wal_truncate_pending:
                self.truncate_wal()
            return len(removed)

    def truncate_wal(self) -> bool:
        """Copy the WAL into the database file and cut it to 0 bytes, so that rows deleted before
        (zeroed in the database by ``secure_delete``) survive in no file. False, and retried by the
        next ``sweep_expired``, while another connection's reading keeps the WAL in use."""
        with self._lock:
            self._require_open()
            (busy, _frames, _copied) = self._execute("PRAGMA wal_checkpoint(TRUNCATE)", fetch=True)[0]
            self._wal_truncate_pending = bool(busy)
            if busy:
                log.warning("session cache: the WAL of %s is in use by another process; "
                            "it is truncated at the next sweep", self.db_path)
            return not busy

    def stats(self) -> dict[str, Any]:
        with self._lock:
            self._sync()
            return {
                "entries": len(self._index) + len(self._protected),
                "protected_entries": len(self._protected),
                "memory_entries": len(self._memory),
                "max_size": self.max_size,
                "max_protected": self.max_protected,
                "memory_size": self._memory_size,
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
                with self._transaction():
                    self._flush_recency()
            except CacheError as exc:
                log.warning("session cache: recency not saved on close: %s", exc)
            if self._wal_index is not None:
                self._wal_index.close()
                self._wal_index = None
            self._conn.close()
            self._conn = None
            self._index.clear()
            self._protected.clear()
            self._memory.clear()
            self._touched.clear()

    def __enter__(self) -> SessionCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _sync(self) -> None:
        """Make the memory tier agree with what every process has committed. The hot path of every
        operation: while the WAL-index header is the one last seen, nobody has committed."""
        wal_index = self._wal_index
        if wal_index is not None:
            header = wal_index[:_WAL_INDEX_HEADER_BYTES]
            if header == self._seen_header:
                return
            self._seen_header = header  # read before data_version, so no commit falls between
        (version,) = self._execute("PRAGMA data_version", fetch=True)[0]
        if version != self._data_version:  # another connection committed (our own commits do not count)
            self._data_version = version
            self._reload()

    def _reload(self) -> None:
        """Read the key index afresh from SQLite, keeping this process's unsaved recency."""
        rows = self._execute(
            "SELECT accessed_seq, created_at, key, expires_at, protected FROM session_cache", fetch=True)
        rows.sort()  # least recently used first; faster here than ORDER BY, which has no index to use
        self._index.clear()
        self._protected.clear()
        for seq, _created_at, key, expires_at, protected in rows:
            if protected:
                self._protected[key] = expires_at
            else:
                self._index[key] = expires_at
            if seq > self._seq:
                self._seq = seq
        self._touched.intersection_update(self._index.keys() | self._protected.keys())
        for key in self._touched:
            if key in self._index:
                self._index.move_to_end(key)
        self._memory.clear()
        self._counts["reloads"] += 1

    def _stale(self) -> None:
        """Memory may disagree with the file (a transaction failed): reload at the next operation."""
        self._seen_header = b""
        self._data_version = None

    def _expiry(self, now: float, ttl_seconds: float | None, protected: bool) -> float | None:
        ttl = self.default_ttl if ttl_seconds is None else ttl_seconds
        if ttl is not None and ttl <= 0:
            raise ValueError(f"ttl_seconds must be positive, not {ttl}")
        if ttl is None and protected:
            raise ValueError("a protected entry needs a TTL (it is never evicted)")
        return None if ttl is None else now + ttl

    def _expires_at(self, key: str) -> Any:
        expires_at = self._index.get(key, _MISSING)
        return self._protected.get(key, _MISSING) if expires_at is _MISSING else expires_at

    def _live_value(self, key: str, now: float) -> Any:
        """The frozen value (see ``_freeze``) of a live entry, marked as just used; _MISSING if the
        key is absent or expired. The hot path of every read: keep it lean."""
        expires_at = self._index.get(key, _MISSING)
        if expires_at is _MISSING:
            expires_at = self._protected.get(key, _MISSING)
            if expires_at is _MISSING:
                self._require_open()
                self._counts["misses"] += 1
                return _MISSING
        else:
            self._index.move_to_end(key)
            self._touched.add(key)
        if expires_at is not None and expires_at <= now:
            self._execute("DELETE FROM session_cache WHERE key = ? AND expires_at <= ?", (key, now))
            self._forget([key])
            self._counts["expired"] += 1
            self._counts["misses"] += 1
            return _MISSING
        frozen = self._memory.get(key, _MISSING)
        if frozen is not _MISSING:
            self._memory.move_to_end(key)
            self._counts["memory_hits"] += 1
            return frozen
        try:
            row = self._reader.execute("SELECT value FROM session_cache WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        if row is None:  # deleted by another process after this operation's _sync
            self._forget([key])
            self._counts["misses"] += 1
            return _MISSING
        frozen = _freeze(_decode_json(row[0]))
        self._remember(key, frozen)
        self._counts["disk_hits"] += 1
        return frozen

    def _write(self, key: str, text: str, frozen: Any, now: float, expires_at: float | None, protected: bool) -> None:
        """Upsert one entry; the caller holds a transaction (so memory agrees with the file)."""
        victims: list[str] = []
        if protected:
            if key not in self._protected and len(self._protected) >= self.max_protected:
                self._drop_expired_protected(now)
                if len(self._protected) >= self.max_protected:
                    wait = max(0.0, min(self._protected.values()) - now)
                    raise CacheFullError(
                        f"session cache {self.db_path} holds its {self.max_protected} protected entries; "
                        f"the first expires in {wait:.0f} s", wait)
        elif key not in self._index and len(self._index) >= self.max_size:
            victims = self._victims(now, len(self._index) - self.max_size + 1)
        if victims:
            self._conn.executemany("DELETE FROM session_cache WHERE key = ?", ((v,) for v in victims))
        self._seq += 1
        self._execute(
            "INSERT INTO session_cache (key, value, created_at, expires_at, accessed_seq, protected) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
            "expires_at = excluded.expires_at, accessed_seq = excluded.accessed_seq, protected = excluded.protected",
            (key, text, now, expires_at, self._seq, int(protected)),
        )
        if victims:
            self._forget(victims)
            self._counts["evictions"] += len(victims)
        if protected:
            self._index.pop(key, None)
            self._protected[key] = expires_at
        else:
            self._protected.pop(key, None)
            self._index[key] = expires_at
            self._index.move_to_end(key)
        self._touched.discard(key)
        self._remember(key, frozen)

    def _remember(self, key: str, frozen: Any) -> None:
        memory = self._memory
        memory[key] = frozen
        memory.move_to_end(key)
        if len(memory) > self._memory_size:
            memory.popitem(last=False)

    def _drop_expired_protected(self, now: float) -> None:
        removed = [row[0] for row in self._execute(
            "DELETE FROM session_cache WHERE protected = 1 AND expires_at <= ? RETURNING key", (now,), fetch=True)]
        self._forget(removed)
        self._counts["expired"] += len(removed)

    def _victims(self, now: float, count: int) -> list[str]:
        """Ordinary keys to remove to make room for ``count`` new ones: expired first, then the LRU."""
        expired = [
            row[0]
            for row in self._execute(
                "SELECT key FROM session_cache WHERE expires_at <= ? AND protected = 0 LIMIT ?",
                (now, count), fetch=True,
            )
        ]
        chosen = set(expired)
        for key in self._index:
            if len(chosen) >= count:
                break
            chosen.add(key)
        return list(chosen)

    def _forget(self, keys: Iterable[str]) -> None:
        keys = keys if isinstance(keys, list) else list(keys)  # clear_prefix forgets thousands at once
        index_pop, memory_pop = self._index.pop, self._memory.pop
        for key in keys:
            index_pop(key, None)
            memory_pop(key, None)
        if self._protected:
            for key in keys:
                self._protected.pop(key, None)
        if self._touched:
            self._touched.difference_update(keys)

    def _flush_recency(self) -> None:
        """Write the order in which entries were last read, so LRU order survives a restart and is
        seen by other processes; the caller holds a transaction."""
        if not self._touched:
            return
        updates = []
        for key in self._index:  # least recently used first
            if key in self._touched:
                self._seq += 1
                updates.append((self._seq, key))
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
        if is_lock_error(exc):
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
            conn.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed, not left in free space
            conn.execute("PRAGMA mmap_size=67108864")
            (check,) = conn.execute("PRAGMA quick_check").fetchone()
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                columns = {row[1] for row in conn.execute("PRAGMA table_info(session_cache)")}
                if "protected" not in columns:  # written by schema 1
                    conn.execute("ALTER TABLE session_cache ADD COLUMN protected INTEGER NOT NULL DEFAULT 0")
                conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if is_lock_error(exc):
                raise self._translate(exc) from exc
            try:
                moved_to = move_database_aside(self.db_path)
            except OSError as move_exc:
                raise CacheError(
                    f"session cache {self.db_path} is unreadable and cannot be moved aside: {move_exc}") from move_exc
            log.warning("session cache %s was unreadable (%s); moved it to %s and started afresh",
                        self.db_path, exc, moved_to)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc

    def _load_index(self) -> None:
        with self._lock, self._transaction():  # syncs: reads the index
            excess = len(self._index) - self.max_size
            if excess > 0:  # max_size was lowered since the last run
                self._evict(list(self._index)[:excess])

    def _evict(self, victims: list[str]) -> None:
        """Remove ``victims`` from both tiers to keep the bound; they count as evictions. The
        caller holds a transaction."""
        if not victims:
            return
        try:
            self._conn.executemany("DELETE FROM session_cache WHERE key = ?", ((v,) for v in victims))
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        self._forget(victims)
        self._counts["evictions"] += len(victims)


class _Transaction:
    """``BEGIN IMMEDIATE`` (this process now holds the write lock), then the memory tier is synced,
    so what the caller reads and writes is exact; COMMIT, or ROLLBACK and mark memory stale."""

    def __init__(self, cache: SessionCache) -> None:
        self._cache = cache

    def __enter__(self) -> None:
        cache = self._cache
        try:
            cache._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise cache._translate(exc) from exc
        try:
            cache._sync()
        except BaseException:
            self._rollback()
            raise

    def __exit__(self, exc_type, exc, tb) -> bool:
        conn = self._cache._conn
        if exc_type is None:
            try:
                conn.execute("COMMIT")
                return False
            except sqlite3.OperationalError as commit_exc:
                self._rollback()
                raise self._cache._translate(commit_exc) from commit_exc
        self._rollback()
        if isinstance(exc, sqlite3.Error):
            raise self._cache._translate(exc) from exc
        return False

    def _rollback(self) -> None:
        self._cache._stale()
        try:
            self._cache._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled back (e.g. disk full); nothing is half-written either way


def move_database_aside(db_path: Path) -> Path:
    """Rename an SQLite database and its -wal and -shm to ``<name>.corrupt-<time>``; returns the new
    path of the database. OSError if they cannot be moved."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = _sibling(db_path, f".corrupt-{stamp}")
    number = 1
    while any(_sibling(target, suffix).exists() for suffix in ("", "-wal", "-shm")):
        number += 1
        target = _sibling(db_path, f".corrupt-{stamp}-{number}")
    for suffix in ("", "-wal", "-shm"):
        source = _sibling(db_path, suffix)
        if source.exists():
            source.replace(_sibling(target, suffix))
    return target


def _map_wal_index(db_path: Path) -> mmap.mmap | None:
    """A read-only view of the WAL-index header in ``<db>-shm``; None where it cannot be mapped
    (then every operation asks ``PRAGMA data_version``, which is correct but slower)."""
    try:
        with open(_sibling(db_path, "-shm"), "rb") as shm:
            return mmap.mmap(shm.fileno(), _WAL_INDEX_HEADER_BYTES, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None


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


def is_lock_error(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc)


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)
