"""A damaged or emptied ret_app.db is moved aside and reported; first-start setup is offered only for a
data folder that never had accounts (issue 10 §2)."""

import os
import random
import sqlite3
import subprocess
import sys

import pytest

from ret_desktop.core.appdb import AppDatabase, AppDatabaseDamaged
from ret_desktop.core.services import open_services

PASSWORD = "correct horse battery"


def folder_with_accounts(settings):
    """A real data folder after some use: accounts, audit rows, all checkpointed into ret_app.db."""
    with open_services(settings, keyring_backend=None) as services:
        services.accounts.create_user("admin", PASSWORD)
        services.accounts.create_user("bob", PASSWORD)
        for i in range(300):
            services.audit.record("sign_in_failed", f"someone{i}")
    with sqlite3.connect(settings.app_db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return settings.app_db.read_bytes()


def random_bytes(data):
    return random.Random(1).randbytes(len(data))


def truncated(data):
    return data[: len(data) // 3]


def garbled_pages(data):
    page_size = int.from_bytes(data[16:18], "big")
    garbage = random.Random(2).randbytes(3 * page_size)
    return data[:page_size] + garbage + data[4 * page_size:]


def emptied(data):
    return b""


DAMAGES = [random_bytes, truncated, garbled_pages, emptied]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__)
def test_a_damaged_account_database_is_moved_aside_and_no_setup_is_offered(settings, damage):
    damaged = damage(folder_with_accounts(settings))
    settings.app_db.write_bytes(damaged)
    for suffix in ("-wal", "-shm"):
        settings.app_db.with_name(settings.app_db.name + suffix).unlink(missing_ok=True)
    with pytest.raises(AppDatabaseDamaged) as report:
        AppDatabase(settings.app_db)
    message = str(report.value)
    assert "\n" not in message and "was damaged" in message and "users add NAME --role admin" in message
    moved = report.value.moved_to
    assert moved.name.startswith("ret_app.db.corrupt-") and moved.name in message
    assert moved.read_bytes() == damaged and not settings.app_db.exists()
    with open_services(settings, keyring_backend=None) as services:  # the next start: empty, but no setup
        assert services.accounts.count() == 0
        assert not services.accounts.first_start()
        assert services.accounts.accounts_lost()
        services.accounts.create_user("root", PASSWORD, role="user")  # what the CLI advice does
        assert services.accounts.get_user("root").role == "admin"  # the first is always an admin
        assert not services.accounts.accounts_lost()


def test_only_a_folder_that_never_had_accounts_offers_setup(settings):
    settings.app_db.write_bytes(b"")  # a 0-byte file of a folder without accounts: a new database
    with open_services(settings, keyring_backend=None) as services:
        assert services.accounts.first_start()
        services.accounts.create_user("admin", PASSWORD)
        assert not services.accounts.first_start()
    marker = settings.app_db.with_name("ret_app.db.had-accounts")
    assert marker.exists()
    if os.name == "posix":
        assert marker.stat().st_mode & 0o077 == 0
    settings.app_db.unlink()  # removed outright: nothing to move aside, and still no setup
    with open_services(settings, keyring_backend=None) as services:
        assert not services.accounts.first_start() and services.accounts.accounts_lost()


def test_accounts_made_before_the_marker_existed_get_one_on_open(settings):
    folder_with_accounts(settings)
    marker = settings.app_db.with_name("ret_app.db.had-accounts")
    marker.unlink()
    AppDatabase(settings.app_db).close()
    assert marker.exists()


def run_cli(settings, *args, stdin=""):
    return subprocess.run([sys.executable, "-m", "ret_desktop", *args], input=stdin, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "RET_DATA_DIR": str(settings.data_dir)})


@pytest.mark.parametrize("damage", [garbled_pages, emptied], ids=lambda d: d.__name__)
def test_the_cli_reports_a_damaged_account_database_in_one_line_with_exit_2(settings, damage):
    settings.app_db.write_bytes(damage(folder_with_accounts(settings)))
    result = run_cli(settings, "users", "list")
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("ret-desktop: error: the account database") and "moved to" in result.stderr
    assert list(settings.data_dir.glob("ret_app.db.corrupt-*"))
    again = run_cli(settings, "users", "list")  # moved aside: the next command says the accounts are lost
    assert again.returncode == 2 and "had accounts, but the account database has none" in again.stderr
    added = run_cli(settings, "users", "add", "root", "--password-stdin", stdin=PASSWORD + "\n")
    assert (added.returncode, added.stdout.strip()) == (0, "created admin root")
