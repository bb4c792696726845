import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap

import pytest

from ret_desktop.core.procutil import process_start_time
from ret_desktop.core.services import open_services
from ret_desktop.core.sessions import SESSION_SUBDIRS, SessionError


@pytest.fixture
def services(settings, clock):
    with open_services(settings, keyring_backend=None, clock=clock) as result:
        yield result


def cache_keys_of(services, session_id):
    with sqlite3.connect(services.settings.session_db) as conn:
        return [row[0] for row in conn.execute("SELECT key FROM session_cache WHERE key LIKE ?", (f"%{session_id}%",))]


def test_create_makes_a_private_folder_metadata_and_cache_row(services):
    info = services.sessions.create("alice")
    folder = services.sessions.folder(info.session_id)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*SESSION_SUBDIRS, "metadata.json"])
    if os.name == "posix":
        for path in [folder, *(folder / name for name in SESSION_SUBDIRS)]:
            assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert services.sessions.get(info.session_id) == info
    assert services.cache.get(f"session:{info.session_id}:metadata")["user_name"] == "alice"
    assert services.cache.ttl_remaining(f"session:{info.session_id}:metadata") == pytest.approx(3600)
    assert services.sessions.leftovers("alice") == []  # in use by this process


def test_wipe_removes_only_that_session(services):
    mine = services.sessions.create("alice")
    other = services.sessions.create("bob")
    for info in (mine, other):
        folder = services.sessions.folder(info.session_id)
        (folder / "input" / "a.xml").write_text("<a/>")
        services.cache.set(f"session:{info.session_id}:tables", ["t1"])
        services.cache.set(f"session:{info.session_id}:x:y", 1)
    services.cache.set("user:alice:layout", {"dock": "left"})
    assert len(services.cache.stats()) > 0 and services.cache.get(f"session:{mine.session_id}:tables") == ["t1"]
    services.sessions.wipe(mine.session_id)
    assert not services.sessions.folder(mine.session_id).exists()
    assert cache_keys_of(services, mine.session_id) == []
    assert services.cache.get(f"session:{mine.session_id}:tables") is None  # memory tier too
    assert (services.sessions.folder(other.session_id) / "input" / "a.xml").read_text() == "<a/>"
    assert sorted(cache_keys_of(services, other.session_id)) == sorted(
        f"session:{other.session_id}:{k}" for k in ("metadata", "tables", "x:y")
    )
    assert services.cache.get("user:alice:layout") == {"dock": "left"}
    assert [p.name for p in services.settings.sessions_dir.iterdir()] == [other.session_id]
    event = services.audit.recent(1)[0]
    assert (event.action, event.user, event.counts["cache_rows"]) == ("session_wiped", "alice", 3)


def test_session_ids_are_checked_before_touching_paths(services):
    for bad in ("../../etc", "", "A" * 32, "0" * 31):
        with pytest.raises(SessionError):
            services.sessions.wipe(bad)


CRASHING_SESSION = textwrap.dedent(
    """
    import sys
    from ret_desktop.core.config import load_settings
    from ret_desktop.core.services import open_services
    services = open_services(load_settings({"RET_DATA_DIR": sys.argv[1]}), keyring_backend=None)
    info = services.sessions.create(sys.argv[2])
    (services.sessions.folder(info.session_id) / "input" / "kept.xml").write_text("<kept/>")
    print(info.session_id, flush=True)
    import os
    os._exit(0)  # no clean-up: as if the process crashed
    """
)


def crash_with_session(settings, user):
    output = subprocess.run(
        [sys.executable, "-c", CRASHING_SESSION, str(settings.data_dir), user],
        check=True, capture_output=True, text=True, cwd=os.getcwd(),
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return output.stdout.strip()


def test_session_of_a_crashed_process_is_offered_back_and_resumed_with_its_files(settings, clock):
    crashed = crash_with_session(settings, "alice")
    crash_with_session(settings, "bob")
    with open_services(settings, keyring_backend=None, clock=clock) as services:
        leftovers = services.sessions.leftovers("alice")
        assert [s.session_id for s in leftovers] == [crashed]
        with pytest.raises(SessionError, match="another user"):
            services.sessions.resume(crashed, "bob")
        resumed = services.sessions.resume(crashed, "alice")
        assert resumed.pid == os.getpid()
        assert (services.sessions.folder(crashed) / "input" / "kept.xml").read_text() == "<kept/>"
        assert services.sessions.leftovers("alice") == []


def test_sweep_wipes_leftovers_idle_past_the_ttl_and_nothing_else(settings, clock):
    crashed = crash_with_session(settings, "alice")
    with open_services(settings, keyring_backend=None, clock=clock) as services:
        live = services.sessions.create("carol")
        clock.advance(3590)  # the crash happened after the clock's start, so not yet expired
        services.sessions.touch(live.session_id)
        assert services.sessions.wipe_expired_leftovers() == []
        clock.advance(60)
        assert services.sessions.wipe_expired_leftovers() == [crashed]
        assert not services.sessions.folder(crashed).exists()
        assert services.sessions.folder(live.session_id).exists()


@pytest.fixture
def unrelated_process():
    """A live process that has nothing to do with RET Desktop, as a reused pid would name."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    yield process
    process.stdin.close()
    process.wait(timeout=10)


def own_session_as_if_by(services, info, pid: int, pid_started: int | None) -> None:
    """Rewrite the metadata of ``info`` as if process ``pid`` (started at ``pid_started``) had made it."""
    path = services.sessions.folder(info.session_id) / "metadata.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "pid": pid, "pid_started": pid_started}))


@pytest.mark.skipif(process_start_time(os.getpid()) is None, reason="process start times are read from /proc")
def test_a_crashed_session_whose_pid_was_reused_is_offered_back_and_expires(settings, clock, unrelated_process):
    with open_services(settings, keyring_backend=None, clock=clock) as services:
        crashed = services.sessions.create("alice")
        (services.sessions.folder(crashed.session_id) / "input" / "customer.xml").write_text("<r>SECRET</r>")
        # the owner was this process (its start time is recorded); the pid now names another one
        own_session_as_if_by(services, crashed, unrelated_process.pid, process_start_time(os.getpid()))
        live = services.sessions.create("alice")
        own_session_as_if_by(services, live, unrelated_process.pid, process_start_time(unrelated_process.pid))
    with open_services(settings, keyring_backend=None, clock=clock) as services:  # the next start
        assert [s.session_id for s in services.sessions.leftovers("alice")] == [crashed.session_id]
        clock.advance(3601)
        assert services.sessions.wipe_expired_leftovers() == [crashed.session_id]
        assert not services.sessions.folder(crashed.session_id).exists()
        assert services.sessions.folder(live.session_id).exists()  # its owner still runs
        assert unrelated_process.poll() is None


def test_holding_the_data_folder_lock_every_session_not_opened_here_is_a_leftover(settings, clock,
                                                                                  unrelated_process):
    with open_services(settings, keyring_backend=None, clock=clock) as services:
        left = services.sessions.create("alice")
        own_session_as_if_by(services, left, unrelated_process.pid, None)  # owner's start unknown (older metadata)
    with open_services(settings, keyring_backend=None, clock=clock) as services:
        assert services.sessions.leftovers("alice") == []  # another process may be working in it
        services.sessions.holds_data_lock = True  # as the window does
        mine = services.sessions.create("alice")
        assert [s.session_id for s in services.sessions.leftovers("alice")] == [left.session_id]
        resumed = services.sessions.resume(left.session_id, "alice")
        assert (resumed.pid, resumed.pid_started) == (os.getpid(), process_start_time(os.getpid()))
        assert services.sessions.leftovers() == [] and services.sessions.get(mine.session_id) is not None


def test_interrupted_wipe_is_finished_by_the_next_sweep(services):
    info = services.sessions.create("alice")
    remnant = services.settings.sessions_dir / f".wiping-{info.session_id}"
    services.sessions.folder(info.session_id).rename(remnant)
    (remnant / "input" / "left.xml").write_text("x")
    assert services.sessions.leftovers() == []
    services.sessions.wipe_expired_leftovers()
    assert not remnant.exists()


def cache_file_bytes(settings):
    db = settings.session_db
    return {p.name: p.read_bytes() for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))
            if p.exists()}


def test_a_wiped_session_leaves_no_byte_of_its_keys_or_values_in_the_cache_files(services, settings):
    """Issue 10 §4: wiped rows stayed readable in ret_session.db-wal and in free pages of ret_session.db."""
    mine = services.sessions.create("alice").session_id
    other = services.sessions.create("bob").session_id
    written = {
        f"session:{mine}:table:Zebrafish_Quarterly": {"columns": ["Okapi-column-7731"], "rows": 12},
        f"session:{mine}:source:Narwhal-archive-42.zip": "Quokka-entry-name.xml",
        f"session:{mine}:view:large": "Axolotl-value-" * 2000,  # larger than a page: overflow pages
    }
    for round_no in range(5):  # overwritten again and again: many copies in the WAL
        for key, value in written.items():
            services.cache.set(key, {"round": round_no, "value": value})
        services.cache.set(f"session:{other}:kept", "bob's entry stays")
    with sqlite3.connect(settings.session_db) as conn:  # some of it in the database file before the wipe, too
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for key, value in written.items():
        services.cache.set(key, value)
    services.sessions.wipe(mine)
    services.cache.incr("rate:operations:bob", protected=True)  # the cache is in use after the wipe
    needles = [mine, "Zebrafish", "Okapi", "Narwhal", "Quokka", "Axolotl"]

    def leftovers():
        files = cache_file_bytes(settings)
        assert settings.session_db.name in files
        return {(name, needle) for name, data in files.items() for needle in needles if needle.encode() in data}

    assert leftovers() == set()  # while the cache is still open
    assert services.cache.get(f"session:{other}:kept") == "bob's entry stays"
    services.cache.close()
    assert leftovers() == set()  # and after it closes
    with sqlite3.connect(settings.session_db) as conn:
        assert conn.execute("SELECT value FROM session_cache WHERE key = ?", (f"session:{other}:kept",)).fetchone()
