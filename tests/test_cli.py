import json
import os
import subprocess
import sys

import pytest

from ret_desktop.core.accounts import ACCOUNTS_LOST_ADVICE


@pytest.fixture
def run(tmp_path):
    data_dir = tmp_path / "data"

    def run_cli(*args, stdin="", env=None):
        return subprocess.run(
            [sys.executable, "-m", "ret_desktop", *args],
            input=stdin, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RET_DATA_DIR": str(data_dir), **(env or {})},
        )

    run_cli.data_dir = data_dir
    return run_cli


def test_users_add_and_list(run):
    first = run("users", "add", "Alice", "--role", "user", "--password-stdin", stdin="a long password\n")
    assert (first.returncode, first.stdout) == (0, "created admin Alice\n")
    assert run("users", "add", "bob", "--password-stdin", stdin="another password\n").returncode == 0
    assert run("users", "lock", "BOB").stdout == "bob is locked\n"
    listing = run("users", "list")
    assert listing.returncode == 0
    assert [line.split() for line in listing.stdout.splitlines()] == [
        ["Alice", "admin", "active"], ["bob", "user", "locked"]
    ]


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (("users", "add", "alice", "--password-stdin"), "short\n", "at least 8 characters"),
        (("users", "add", "al ice", "--password-stdin"), "long enough pw\n", "user name"),
        (("users", "add", "alice", "--password-stdin"), "", "no password on standard input"),
        (("users", "add", "alice"), "long enough pw\n", "--password-stdin"),
        (("users", "unlock", "nobody"), "", "no user named 'nobody'"),
    ],
)
def test_errors_go_to_stderr_with_status_2(run, args, stdin, message):
    result = run(*args, stdin=stdin)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_duplicate_user_is_an_error(run):
    run("users", "add", "alice", "--password-stdin", stdin="a long password\n")
    result = run("users", "add", "ALICE", "--password-stdin", stdin="a long password\n")
    assert result.returncode == 2 and "already exists" in result.stderr


def test_bad_setting_is_named_not_a_traceback(run):
    result = run("cache", "stats", env={"SESSION_CACHE_TTL_SECONDS": "soon"})
    assert result.returncode == 2
    assert "SESSION_CACHE_TTL_SECONDS" in result.stderr and "Traceback" not in result.stderr


def test_cache_stats_and_sweep(run):
    stats = run("cache", "stats", "--json")
    assert stats.returncode == 0
    data = json.loads(stats.stdout)
    assert data["entries"] == 0 and data["max_size"] == 1000
    assert data["db_path"] == str(run.data_dir / "runtime" / "ret_session.db")
    sweep = run("cache", "sweep")
    assert (sweep.returncode, sweep.stdout) == (0, "removed 0 expired entries\n")
    assert run("cache", "stats", env={"SESSION_CACHE_MAX_SIZE": "50"}).stdout.count("max_size: 50") == 1


def test_cache_sweep_removes_expired_rows_written_earlier(run):
    from ret_desktop.core.cache import SessionCache

    run("cache", "stats")
    db = run.data_dir / "runtime" / "ret_session.db"
    with SessionCache(db, clock=lambda: 1000.0) as cache:  # long ago: expired by now
        cache.set("session:old:metadata", {"x": 1}, ttl_seconds=5)
        cache.set("session:old:tables", [], ttl_seconds=5)
        cache.set("user:alice:layout", {}, ttl_seconds=10**12)
    result = run("cache", "sweep")
    assert (result.returncode, result.stdout) == (0, "removed 2 expired entries\n")
    assert json.loads(run("cache", "stats", "--json").stdout)["entries"] == 1


def test_usage_errors_exit_2(run):
    assert run("cache").returncode == 2
    assert run("frobnicate").returncode == 2


def test_a_number_too_large_in_the_settings_file_is_one_line_naming_it(run):
    (run.data_dir / "config").mkdir(parents=True)
    (run.data_dir / "config" / "settings.json").write_text('{"session_cache_max_size": 1e400}')
    result = run("users", "list")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (f"ret-desktop: error: setting 'session_cache_max_size' from "
                             f"{run.data_dir / 'config' / 'settings.json'} is Infinity: expected a whole number\n")


def test_account_commands_say_when_the_accounts_were_lost(run):
    assert run("users", "add", "admin", "--password-stdin", stdin="a long password\n").returncode == 0
    (run.data_dir / "ret_app.db").write_bytes(b"not a database at all" * 500)  # damaged
    for name in ("ret_app.db-wal", "ret_app.db-shm"):
        (run.data_dir / name).unlink(missing_ok=True)
    first = run("users", "list")
    assert first.returncode == 2 and "was damaged" in first.stderr  # moved aside, said once
    advice = f"ret-desktop: error: {ACCOUNTS_LOST_ADVICE}\n"
    for args in (("users", "list"), ("users", "unlock", "admin")):
        later = run(*args)
        assert (later.returncode, later.stdout, later.stderr) == (2, "", advice)
    stats = run("cache", "stats", "--json")
    assert stats.returncode == 0 and json.loads(stats.stdout)["entries"] == 0
    assert stats.stderr == f"ret-desktop: warning: {ACCOUNTS_LOST_ADVICE}\n"
    assert run("users", "add", "root", "--password-stdin", stdin="a long password\n").returncode == 0
    listed = run("users", "list")
    assert (listed.returncode, listed.stderr) == (0, "") and listed.stdout.split() == ["root", "admin", "active"]
    assert run("cache", "stats").stderr == ""
