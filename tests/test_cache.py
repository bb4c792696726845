import logging
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from ret_desktop.core.cache import CacheError, CacheFullError, CacheLockedError, SessionCache, _prefix_upper_bound


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "ret_session.db"


def disk_keys(db_path):
    with sqlite3.connect(db_path) as conn:
        return {row[0] for row in conn.execute("SELECT key FROM session_cache")}


@pytest.mark.parametrize(
    "value",
    ["123", 123, 1.5, 0.1 + 0.2, -0.0, True, None, "", "02", "naïve ✓ 日本", {"a": [1, "2", {"b": None}]}, [], {}],
)
def test_values_round_trip_exactly_from_memory_and_disk(db_path, value):
    with SessionCache(db_path) as cache:
        cache.set("k", value)
        from_memory = cache.get("k")
    with SessionCache(db_path) as cache:
        from_disk = cache.get("k")
    for got in (from_memory, from_disk):
        assert got == value
        assert type(got) is type(value)


def test_returned_containers_are_copies(db_path):
    with SessionCache(db_path) as cache:
        cache.set("k", {"rows": [1, 2]})
        cache.get("k")["rows"].append(3)
        assert cache.get("k") == {"rows": [1, 2]}


@pytest.mark.parametrize("bad", [object(), float("nan"), {1, 2}, b"bytes"])
def test_values_that_are_not_json_are_refused_and_nothing_is_stored(db_path, bad):
    with SessionCache(db_path) as cache:
        with pytest.raises(TypeError, match="'k' is not JSON"):
            cache.set("k", bad)
        assert cache.get("k", "absent") == "absent"
    assert disk_keys(db_path) == set()


def test_expired_entry_is_never_returned_from_memory_or_disk(db_path, clock):
    with SessionCache(db_path, default_ttl=60, clock=clock) as cache:
        cache.set("short", "v", ttl_seconds=10)
        cache.set("long", "w")
        clock.advance(9.9)
        assert cache.get("short") == "v"
        clock.advance(0.1)
        assert cache.get("short") is None  # from memory: expired exactly at its deadline
        assert cache.get("long") == "w"
        cache.set("later", "x", ttl_seconds=5)
    clock.advance(5)
    with SessionCache(db_path, default_ttl=60, clock=clock) as cache:
        assert cache.get("later") is None  # from disk
        assert cache.get("long") == "w"
        with pytest.raises(KeyError):
            cache.ttl_remaining("later")


def test_sweep_expired_removes_rows_from_both_tiers(db_path, clock):
    with SessionCache(db_path, default_ttl=100, clock=clock) as cache:
        for i in range(10):
            cache.set(f"short:{i}", i, ttl_seconds=10)
        cache.set("keep", 1)
        clock.advance(10)
        assert cache.sweep_expired() == 10
        assert cache.stats()["entries"] == 1
        assert cache.stats()["memory_entries"] == 1
        assert disk_keys(db_path) == {"keep"}
        assert cache.sweep_expired() == 0


def test_memory_tier_eviction_loses_no_live_entry(db_path):
    with SessionCache(db_path, max_size=200, memory_size=10) as cache:
        for i in range(200):
            cache.set(f"k{i}", {"i": i})
        assert cache.stats()["memory_entries"] == 10
        assert [cache.get(f"k{i}") for i in range(200)] == [{"i": i} for i in range(200)]
        stats = cache.stats()
        assert stats["disk_hits"] >= 190
        assert stats["evictions"] == 0
        assert stats["entries"] == 200


def test_bound_evicts_least_recently_used(db_path):
    with SessionCache(db_path, max_size=3) as cache:
        for key in "abc":
            cache.set(key, key)
        assert cache.get("a") == "a"  # a is now the most recent; b the least
        cache.set("d", "d")
        assert cache.get("b") is None
        assert {k: cache.get(k) for k in "acd"} == {"a": "a", "c": "c", "d": "d"}
        assert cache.stats()["evictions"] == 1
    assert disk_keys(db_path) == {"a", "c", "d"}


def test_bound_drops_expired_entries_before_live_ones(db_path, clock):
    with SessionCache(db_path, max_size=3, clock=clock, default_ttl=1000) as cache:
        cache.set("b", 1)
        cache.set("a", 1, ttl_seconds=10)
        cache.set("c", 1)
        clock.advance(10)
        cache.set("d", 1)
        assert [cache.get(k) for k in "bcd"] == [1, 1, 1]
    assert disk_keys(db_path) == {"b", "c", "d"}


def test_overwriting_a_key_never_evicts(db_path):
    with SessionCache(db_path, max_size=2) as cache:
        cache.set("a", 1)
        cache.set("b", 1)
        for i in range(5):
            cache.set("a", i)
        assert cache.get("a") == 4 and cache.get("b") == 1


def test_lru_order_survives_restart(db_path):
    with SessionCache(db_path, max_size=3) as cache:
        for key in "abc":
            cache.set(key, key)
        cache.get("a")
    with SessionCache(db_path, max_size=3) as cache:
        cache.set("d", "d")
        assert cache.get("b") is None
        assert cache.get("a") == "a"


def test_lowering_max_size_trims_least_recent_on_open(db_path):
    with SessionCache(db_path, max_size=10) as cache:
        for i in range(10):
            cache.set(f"k{i}", i)
    with SessionCache(db_path, max_size=4) as cache:
        assert cache.stats()["entries"] == 4
        assert [cache.get(f"k{i}") for i in range(6, 10)] == [6, 7, 8, 9]
    assert disk_keys(db_path) == {"k6", "k7", "k8", "k9"}


def test_clear_prefix_is_literal(db_path):
    keys = ["session:a_b:x", "session:a_b:y", "session:aXb:x", "session:a%b:x", "session:a_b", "session:a_c:x",
            "session:a_b;", "user:alice:x"]
    with SessionCache(db_path) as cache:
        for key in keys:
            cache.set(key, key)
        assert cache.clear_prefix("session:a_b:") == 2
        assert cache.get("session:a_b:x") is None
        survivors = [k for k in keys if not k.startswith("session:a_b:")]
        assert all(cache.get(k) == k for k in survivors)
        assert cache.clear_prefix("session:a%") == 1
        assert cache.clear_prefix("nothing:") == 0
        with pytest.raises(ValueError):
            cache.clear_prefix("")
    assert disk_keys(db_path) == set(survivors) - {"session:a%b:x"}


def test_clear_prefix_with_the_highest_code_points(db_path):
    top = "\U0010ffff"
    keys = [f"p{top}", f"p{top}{top}x", "q", "p\ud7ff!", "p\ue000"]
    with SessionCache(db_path) as cache:
        for key in keys:
            cache.set(key, 1)
        assert cache.clear_prefix(f"p{top}") == 2
        assert cache.get("q") == 1 and cache.get("p\ue000") == 1 and cache.get("p\ud7ff!") == 1
    assert _prefix_upper_bound("ab") == "ac"
    assert _prefix_upper_bound(f"a{top}") == "b"
    assert _prefix_upper_bound(top) is None
    assert _prefix_upper_bound("\ud7ff") == "\ue000"


def test_incr_is_atomic_across_threads(db_path):
    with SessionCache(db_path) as cache:
        barrier = threading.Barrier(8)
        errors = []

        def worker():
            try:
                barrier.wait()
                for _ in range(1000):
                    cache.incr("counter")
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert cache.get("counter") == 8000
    with SessionCache(db_path) as cache:
        assert cache.get("counter") == 8000


def test_incr_keeps_the_window_and_restarts_after_expiry(db_path, clock):
    with SessionCache(db_path, clock=clock) as cache:
        assert cache.incr("n", ttl_seconds=60) == 1
        clock.advance(30)
        assert cache.incr("n", 5, ttl_seconds=60) == 6
        assert cache.ttl_remaining("n") == pytest.approx(30)
        clock.advance(30)
        assert cache.incr("n", ttl_seconds=60) == 1
        cache.set("text", "7")
        with pytest.raises(TypeError, match="does not hold an int"):
            cache.incr("text")
        with pytest.raises(TypeError):
            cache.incr("n", 1.5)


def test_entries_and_remaining_ttls_survive_reopen(db_path, clock):
    with SessionCache(db_path, default_ttl=None, clock=clock) as cache:
        cache.set("session:s1:metadata", {"user": "ann"}, ttl_seconds=100)
        cache.set("forever", 1)
    clock.advance(40)
    with SessionCache(db_path, default_ttl=None, clock=clock) as cache:
        assert cache.get("session:s1:metadata") == {"user": "ann"}
        assert cache.ttl_remaining("session:s1:metadata") == pytest.approx(60)
        assert cache.ttl_remaining("forever") is None
    clock.advance(60)
    with SessionCache(db_path, default_ttl=None, clock=clock) as cache:
        assert cache.get("session:s1:metadata") is None
        assert cache.get("forever") == 1


def test_garbage_db_file_is_moved_aside_with_a_warning(db_path, caplog):
    db_path.write_bytes(b"this is not a database, just some bytes" * 200)
    with caplog.at_level(logging.WARNING, logger="ret_desktop.core.cache"):
        cache = SessionCache(db_path)
    assert "moved it to" in caplog.text
    aside = list(db_path.parent.glob("ret_session.db.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes().startswith(b"this is not a database")
    cache.set("k", "v")
    cache.close()
    with SessionCache(db_path) as cache:
        assert cache.get("k") == "v"


def test_damaged_pages_are_detected_and_moved_aside(db_path, caplog):
    with SessionCache(db_path) as cache:
        for i in range(2000):
            cache.set(f"k{i}", "x" * 200)
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db_path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size * 3 : page_size * 6] = b"\xa5" * (page_size * 3)
    db_path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="ret_desktop.core.cache"):
        with SessionCache(db_path) as cache:
            assert cache.stats()["entries"] == 0
            cache.set("fresh", 1)
    assert "moved it to" in caplog.text
    assert list(db_path.parent.glob("ret_session.db.corrupt-*"))


HOLD_LOCK = r"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "wal":
    conn.execute("PRAGMA journal_mode=WAL")
conn.execute("CREATE TABLE IF NOT EXISTS other (x)")
conn.execute("BEGIN EXCLUSIVE")
conn.execute("INSERT INTO other VALUES (1)")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def hold_lock(db_path, journal):
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db_path), journal],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout.readline().strip() == "locked"
    return child


def release(child):
    child.stdin.write("\n")
    child.stdin.flush()
    assert child.wait(timeout=10) == 0


def test_write_lock_held_by_another_process_is_waited_on_then_a_clear_error(db_path):
    with SessionCache(db_path, lock_timeout=0.3) as cache:
        cache.set("before", 1)
        child = hold_lock(db_path, "wal")
        try:
            started = time.monotonic()
            with pytest.raises(CacheLockedError, match="locked by another process"):
                cache.set("during", 2)
            assert 0.25 <= time.monotonic() - started < 5
            assert cache.get("before") == 1  # reads go on under a WAL writer
            assert cache.get("during") is None  # nothing half-written
        finally:
            release(child)
        cache.set("after", 3)
        assert cache.get("after") == 3


def test_opening_a_db_locked_exclusively_is_a_clear_error(db_path):
    child = hold_lock(db_path, "delete")
    try:
        with pytest.raises(CacheLockedError, match="waited 0.2 s"):
            SessionCache(db_path, lock_timeout=0.2)
    finally:
        release(child)
    assert not list(db_path.parent.glob("*.corrupt-*"))  # a lock is not corruption
    with SessionCache(db_path) as cache:
        cache.set("k", 1)


def test_closed_cache_refuses_work(db_path):
    cache = SessionCache(db_path)
    cache.set("k", 1)
    cache.close()
    cache.close()
    for call in (lambda: cache.get("k"), lambda: cache.set("k", 2), lambda: cache.delete("k"), cache.stats):
        with pytest.raises(CacheError, match="closed"):
            call()


def test_concurrent_mixed_operations_stay_consistent_with_disk(db_path):
    with SessionCache(db_path, max_size=500, memory_size=50) as cache:

        def worker(n):
            for i in range(300):
                key = f"session:t{n}:k{i % 40}"
                cache.set(key, {"n": n, "i": i})
                cache.get(f"session:t{(n + 1) % 4}:k{i % 40}")
                if i % 7 == 0:
                    cache.delete(key)
                if i % 50 == 49:
                    cache.clear_prefix(f"session:t{n}:k1")

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        live = {key for key in disk_keys(db_path)}
        assert cache.stats()["entries"] == len(live)
        for key in live:
            assert cache.get(key) is not None


def test_stats_and_argument_checks(db_path):
    with SessionCache(db_path, max_size=10, default_ttl=5) as cache:
        cache.set("a", 1)
        cache.get("a")
        cache.get("missing")
        stats = cache.stats()
        assert stats["entries"] == 1 and stats["memory_hits"] == 1 and stats["misses"] == 1
        assert stats["max_size"] == 10 and stats["db_bytes"] > 0
        with pytest.raises(ValueError):
            cache.set("a", 1, ttl_seconds=0)
        with pytest.raises(TypeError):
            cache.set("", 1)
    with pytest.raises(ValueError):
        SessionCache(db_path, max_size=0)
    with pytest.raises(ValueError):
        SessionCache(db_path, max_size=5, memory_size=6)


def test_after_reopen_expired_rows_are_not_returned_and_make_room_first(db_path, clock):
    with SessionCache(db_path, max_size=3, clock=clock) as cache:
        cache.set("old", 1, ttl_seconds=5)
        cache.set("b", 1)
        cache.set("c", 1)
    clock.advance(5)
    with SessionCache(db_path, max_size=3, clock=clock) as cache:
        cache.set("d", 1)
        assert [cache.get(k) for k in ("old", "b", "c", "d")] == [None, 1, 1, 1]
    assert disk_keys(db_path) == {"b", "c", "d"}


def test_resize_evicts_expired_then_least_recently_used_and_keeps_the_bound(db_path, clock):
    with SessionCache(db_path, max_size=5, clock=clock, default_ttl=1000) as cache:
        for key in "abcde":
            cache.set(key, key)
        cache.set("x", 1, ttl_seconds=5)  # evicts a (the least recently used) to make room
        assert cache.get("b") == "b"  # b is now the most recent
        clock.advance(10)  # x has expired
        assert cache.resize(3) == 2  # x (expired), then c (least recently used)
        assert {k for k in "bcdex" if cache.get(k) is not None} == {"b", "d", "e"}
        assert cache.stats()["max_size"] == 3 and cache.stats()["memory_size"] == 3
        cache.set("f", "f")
        assert cache.stats()["entries"] == 3
        cache.resize(10)
        for key in "ghij":
            cache.set(key, key)
        assert cache.stats()["entries"] == 7
    assert disk_keys(db_path) == set("defghij")


# ---------------------------------------------------------------- protected entries (issue 10 §3)


def test_protected_entries_are_never_evicted_by_lru_pressure_only_by_ttl_or_delete(db_path, clock):
    with SessionCache(db_path, max_size=10, clock=clock) as cache:
        for _ in range(5):
            cache.incr("rate:login:admin", ttl_seconds=900, protected=True)
        for i in range(1000):
            cache.set(f"session:s:{i}", i)  # far more than max_size ordinary entries
        cache.resize(1)
        assert cache.get("rate:login:admin") == 5
        stats = cache.stats()
        assert (stats["entries"], stats["protected_entries"]) == (2, 1)
        assert stats["evictions"] == 990 + 9  # by the sets, then by resize(1)
    with SessionCache(db_path, max_size=1, clock=clock) as cache:  # a restart with a smaller bound
        assert cache.get("rate:login:admin") == 5
        assert cache.ttl_remaining("rate:login:admin") == pytest.approx(900)
        clock.advance(900)
        assert cache.get("rate:login:admin") is None  # the TTL ends it
        cache.incr("rate:login:admin", ttl_seconds=900, protected=True)
        assert cache.delete("rate:login:admin") and cache.get("rate:login:admin") is None
    assert disk_keys(db_path) == {"session:s:999"}


def test_protected_entries_are_bounded_by_max_protected_and_never_displace_each_other(db_path, clock):
    with SessionCache(db_path, max_size=5, max_protected=50, clock=clock) as cache:
        for i in range(50):
            cache.incr(f"rate:login:name{i}", ttl_seconds=900, protected=True)
            clock.advance(1)
        assert cache.seconds_until_protected_room() == pytest.approx(850)
        with pytest.raises(CacheFullError, match="50 protected entries") as full:
            cache.incr("rate:login:one-too-many", ttl_seconds=900, protected=True)
        assert full.value.retry_after_s == pytest.approx(850)
        assert cache.incr("rate:login:name0", ttl_seconds=900, protected=True) == 2  # existing ones count on
        for i in range(100):
            cache.set(f"other:{i}", i)  # ordinary entries still come and go
        assert cache.stats()["protected_entries"] == 50
        assert len(disk_keys(db_path)) == 55  # the whole file: max_size + max_protected
        clock.advance(850)  # name0's window ends: room for exactly one
        assert cache.seconds_until_protected_room() == 0
        cache.incr("rate:login:one-too-many", ttl_seconds=900, protected=True)
        assert cache.get("rate:login:name0") is None
        with pytest.raises(ValueError, match="needs a TTL"):
            SessionCache(db_path.with_name("other.db"), default_ttl=None).set("p", 1, protected=True)


def test_a_cache_file_of_schema_1_gains_the_protected_column_and_keeps_its_rows(db_path):
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE session_cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, created_at REAL "
                     "NOT NULL, expires_at REAL, accessed_seq INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID")
        conn.execute("INSERT INTO session_cache VALUES ('rate:login:admin', '5', 0, NULL, 1)")
        conn.execute("PRAGMA user_version=1")
    with SessionCache(db_path) as cache:
        assert cache.get("rate:login:admin") == 5
        cache.incr("rate:login:admin", protected=True)
        assert cache.stats()["protected_entries"] == 1


# ---------------------------------------------------------------- two processes, one cache (issue 10 §3)

CHILD = r"""
import sys, time
from ret_desktop.core.cache import SessionCache
db, action, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with SessionCache(db, max_size=int(sys.argv[4]) if len(sys.argv) > 4 else 1000) as cache:
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    if action == "incr":
        for _ in range(count):
            cache.incr("counter", protected=True)
    elif action == "set-many":
        for i in range(count):
            cache.set(f"child:{i}", i)
    else:
        for line in [action]:
            exec(line)
    print("done", cache.stats()["entries"], flush=True)
"""


def start_child(db_path, action, count=0, *extra):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db_path), action, str(count), *map(str, extra)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    return child


def finish(child):
    child.stdin.write("go\n")
    child.stdin.flush()
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0
    return out


def test_two_processes_incrementing_one_key_lose_no_increment(db_path):
    per_process = 1500
    with SessionCache(db_path) as cache:
        assert cache.incr("counter", protected=True) == 1  # this process holds the key in memory
        children = [start_child(db_path, "incr", per_process) for _ in range(2)]
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        mine = [cache.incr("counter", protected=True) for _ in range(per_process)]
        for child in children:
            out, _ = child.communicate(timeout=120)
            assert child.returncode == 0, out
        assert len(set(mine)) == per_process  # every value this process got back was its own
        assert cache.get("counter") == 1 + 3 * per_process
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT value FROM session_cache WHERE key = 'counter'").fetchone() == (str(1 + 3 * per_process),)


def run_in_child(db_path, code):
    finish(start_child(db_path, code))


def test_every_read_sees_what_another_process_committed(db_path, clock):
    with SessionCache(db_path, max_size=5) as cache:
        cache.set("k", "mine")
        cache.set("session:a:1", 1)
        cache.set("session:a:2", 2)
        assert cache.get("k") == "mine"  # now in this process's memory tier
        run_in_child(db_path, "cache.set('k', 'theirs'); cache.set('new', {'from': 'child'})")
        assert cache.get("k") == "theirs"
        assert cache.get("new") == {"from": "child"}
        run_in_child(db_path, "cache.delete('k'); cache.clear_prefix('session:a:')")
        assert cache.get("k") is None and cache.get("session:a:1") is None
        assert cache.stats()["entries"] == 1
        run_in_child(db_path, "cache.incr('n', 41, ttl_seconds=60, protected=True)")
        assert cache.incr("n", protected=True) == 42
        assert cache.ttl_remaining("n") == pytest.approx(60, abs=5)
        # the bound holds over both processes: the child fills the cache (max_size 5) past it
        run_in_child(db_path, "[cache.set(f'child:{i}', i) for i in range(8)]")
        cache.set("last", 1)
        assert cache.stats()["entries"] == len(disk_keys(db_path)) == 6  # 5 ordinary + the protected n
        assert cache.get("n") == 42 and cache.get("last") == 1
        run_in_child(db_path, "cache.set('short', 1, ttl_seconds=0.001); __import__('time').sleep(0.01); "
                              "print(cache.sweep_expired())")
        assert cache.get("short") is None
        assert cache.stats()["entries"] == len(disk_keys(db_path))


def test_a_read_that_nobody_else_committed_before_costs_no_reload(db_path):
    with SessionCache(db_path) as cache:
        cache.set("k", 1)
        reloads = cache.stats()["reloads"]
        for _ in range(100):
            cache.get("k")
        cache.set("k", 2)
        assert cache.get("k") == 2
        assert cache.stats()["reloads"] == reloads  # our own commits never force a reload
        run_in_child(db_path, "cache.set('other', 1)")
        assert cache.get("k") == 2
        assert cache.stats()["reloads"] == reloads + 1


def test_without_the_wal_index_header_every_operation_asks_sqlite_and_still_sees_other_processes(db_path):
    with SessionCache(db_path) as cache:
        cache._wal_index.close()
        cache._wal_index = None  # as where the -shm cannot be mapped
        cache.set("k", "mine")
        assert cache.get("k") == "mine"
        run_in_child(db_path, "cache.set('k', 'theirs')")
        assert cache.get("k") == "theirs"


MIXED = r"""
import random
rng = random.Random(SEED)
for i in range(2000):
    roll = rng.random()
    key = f"session:{rng.randrange(4)}:{rng.randrange(30)}"
    if roll < 0.45:
        cache.set(key, {"by": SEED, "i": i})
    elif roll < 0.6:
        cache.get(key)
    elif roll < 0.7:
        cache.delete(key)
    elif roll < 0.75:
        cache.clear_prefix(f"session:{rng.randrange(4)}:1")
    elif roll < 0.8:
        cache.sweep_expired()
    else:
        cache.incr("total", protected=True)
"""


def expected_incrs(seed):
    import random

    rng = random.Random(seed)
    count = 0
    for _ in range(2000):
        roll = rng.random()
        rng.randrange(4), rng.randrange(30)
        if 0.7 <= roll < 0.75:
            rng.randrange(4)
        count += roll >= 0.8
    return count


def test_mixed_operations_of_three_processes_keep_one_consistent_bounded_cache(db_path):
    with SessionCache(db_path, max_size=40) as cache:
        children = [start_child(db_path, MIXED.replace("SEED", str(seed)), 0, 40) for seed in (1, 2)]
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        namespace = {"cache": cache}
        exec(MIXED.replace("SEED", "3"), namespace)
        for child in children:
            child.communicate(timeout=120)
            assert child.returncode == 0
        on_disk = disk_keys(db_path)
        assert cache.stats()["entries"] == len(on_disk) <= 40 + 1
        assert cache.get("total") == sum(expected_incrs(seed) for seed in (1, 2, 3))
        for key in on_disk - {"total"}:
            assert cache.get(key)["by"] in (1, 2, 3)
