"""The audit trail (issue 13): entries of time, user, session, action and counts only; paged newest
first over SQLite (a million entries stay fast); retention; the `audit` and new `users` commands."""

import csv
import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from ret_desktop.core.appdb import _MIGRATIONS, AppDatabase
from ret_desktop.core.audit import ACTIONS, PAGE_SIZE, AuditFilter, AuditLog, EditTally
from ret_desktop.core.config import load_settings
from ret_desktop.core.roles import COMMAND_LINE, Actor
from ret_desktop.core.services import open_services

PASSWORD = "a long password 1"


def test_record_keeps_counts_and_refuses_anything_that_could_be_data(tmp_path):
    audit = AuditLog(AppDatabase(tmp_path / "ret_app.db"))
    audit.record("export", "ada", "s" * 32, formats=["csv", "xlsx"], files=3, tables=2)
    audit.record("settings_changed", "ada", None, login_max_failures=[5, 7])
    for action, counts in (
        ("export", {"formats": ["csv", "/home/ada/secret.csv"]}),  # a path where a format goes
        ("import", {"table": "patients"}),  # a key that is not a count
        ("convert", {"tables": "patients"}),  # a name where a number goes
        ("edit", {"edits": {"patients": 3}}),
        ("looked_at_patients", {}),  # not an action
    ):
        with pytest.raises(ValueError):
            audit.record(action, "ada", None, **counts)
    assert [(e.action, e.counts) for e in audit.recent()] == [
        ("settings_changed", {"login_max_failures": [5, 7]}),
        ("export", {"files": 3, "formats": ["csv", "xlsx"], "tables": 2}),
    ]


def test_edits_are_counted_per_table_per_minute_without_the_table_names(tmp_path, clock):
    audit = AuditLog(AppDatabase(tmp_path / "ret_app.db"), clock=clock)
    clock.now = clock.now // 60 * 60 + 5
    tally = EditTally(audit, "ada", "s" * 32, clock=clock)
    for table in ("patients", "patients", "visits"):
        tally.note(table)
    tally.flush_if_over()
    assert audit.recent() == []  # the minute is not over
    clock.advance(60)
    tally.flush_if_over()
    tally.note("patients")
    tally.flush()
    entries = [(e.time % 60, e.counts) for e in reversed(audit.recent())]
    assert entries == [(0, {"edits": 2, "tables": 1}), (0, {"edits": 1, "tables": 1}), (0, {"edits": 1, "tables": 1})]
    assert "patients" not in json.dumps([list(r) for r in audit._db.query("SELECT * FROM audit_log")])


def test_the_schema_1_audit_log_is_migrated_with_its_session_ids(tmp_path):
    path = tmp_path / "ret_app.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(_MIGRATIONS[0] + "; PRAGMA user_version=1;")
        conn.execute("INSERT INTO users (name, name_key, password_hash, role, state, created_at) "
                     "VALUES ('ada', 'ada', 'x', 'admin', 'active', 1)")
        conn.execute("INSERT INTO audit_log (at, user_name, event, detail) VALUES "
                     "(1, 'ada', 'session_wiped', '{\"cache_rows\": 3, \"reason\": \"sign_out\", \"session_id\": \"abc\"}')")
    db = AppDatabase(path)
    (entry,) = AuditLog(db).recent()
    assert (entry.session, entry.action, entry.counts) == ("abc", "session_wiped", {"cache_rows": 3, "reason": "sign_out"})
    assert db.query("SELECT must_change_password FROM users")[0][0] == 0


def fill_a_million(path, now):
    """1,000,000 entries over the last ~11 days: 50 users in turn, every action, one rare user."""
    with sqlite3.connect(path) as conn:
        rows = ((now - 1_000_000 + i, "zed" if i % 100_000 == 7 else f"user{i % 50}", f"{i % 997:032x}",
                 ACTIONS[i % len(ACTIONS)], '{"documents": 3, "skipped": 1}') for i in range(1_000_000))
        conn.executemany("INSERT INTO audit_log (at, user_name, session_id, action, counts) VALUES (?, ?, ?, ?, ?)", rows)


def best_of(times, call):
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - start)
    return best, result


def test_a_million_entries_first_page_is_as_fast_as_a_bare_query(settings):
    with open_services(settings, keyring_backend=None) as services:
        admin = Actor.signed_in(services.accounts.create_user("ada", PASSWORD))
    now = time.time()
    fill_a_million(settings.app_db, now)
    with open_services(settings, keyring_backend=None) as services:
        audit, db = services.audit, services.app_db
        bare_s, bare = best_of(5, lambda: db.query(
            "SELECT id, at, user_name, session_id, action, counts FROM audit_log ORDER BY id DESC LIMIT 200"))
        assert len(bare) == PAGE_SIZE
        filters = {
            "none": AuditFilter(),
            "user": AuditFilter(user="user7"),
            "rare user": AuditFilter(user="zed"),
            "action": AuditFilter(action="export"),
            "date range": AuditFilter(since=now - 600_000, until=now - 500_000),
            "user, action and dates": AuditFilter(user="user4", action="convert", since=now - 900_000),
        }
        report = {}
        for name, where in filters.items():
            page_s, page = best_of(5, lambda: audit.page(admin, where))
            report[name] = (round(page_s * 1000, 2), round(page_s / bare_s, 1))
            assert page, name
            assert all(a.time >= b.time for a, b in zip(page, page[1:])), name  # newest first
        # The thousandth page costs what the first does: keyset, no OFFSET.
        deep_before = audit.page(admin, AuditFilter(), limit=1)[0]
        deep_before = type(deep_before)(0, now - 999_000, None, None, "sign_in", {})  # the 999,000th newest
        deep_s, deep = best_of(5, lambda: audit.page(admin, AuditFilter(), before=deep_before))
        report["page at 999,000"] = (round(deep_s * 1000, 2), round(deep_s / bare_s, 1))
        assert len(deep) == PAGE_SIZE and deep[0].time == pytest.approx(now - 999_001)
        print(f"\nbare query {bare_s * 1000:.2f} ms; page ms, ratio: {report}")
        for name, (ms, ratio) in report.items():
            assert ratio < 10 and ms < 50, (name, report)
        # Pages follow one another with nothing skipped or repeated.
        first = audit.page(admin, AuditFilter(user="user7"))
        second = audit.page(admin, AuditFilter(user="user7"), before=first[-1])
        ids = [e.id for e in first + second]
        expected = [r[0] for r in db.query("SELECT id FROM audit_log WHERE user_name = 'user7' "
                                           "ORDER BY at DESC, id DESC LIMIT 400")]
        assert ids == expected


def test_retention_drops_old_entries_at_the_sweep(settings, clock):
    with open_services(settings, keyring_backend=None, clock=clock) as services:
        services.audit.record("sign_in", "ada", at=clock.now - 366 * 86400)
        services.audit.record("sign_in", "ada", at=clock.now - 364 * 86400)
        assert services.sweep_audit() == 1
        services.change_settings({"audit_retention_days": 30})
        assert services.sweep_audit() == 1
        assert [e.action for e in services.audit.recent()] == ["settings_changed"]
        assert services.audit.recent()[0].counts == {"audit_retention_days": [365, 30]}
    assert load_settings({"RET_DATA_DIR": str(settings.data_dir)}).audit_retention_days == 30


@pytest.fixture
def run(tmp_path):
    data_dir = tmp_path / "data"

    def run_cli(*args, stdin=""):
        return subprocess.run(
            [sys.executable, "-m", "ret_desktop", *args], input=stdin, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RET_DATA_DIR": str(data_dir)},
        )

    run_cli.data_dir = data_dir
    return run_cli


def test_users_commands_role_reset_passwd_delete(run):
    assert run("users", "add", "ada", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    assert run("users", "add", "bob", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    assert run("users", "role", "BOB", "admin").stdout == "bob is an administrator\n"
    reset = run("users", "reset", "bob")
    one_time = reset.stdout.strip()
    assert reset.returncode == 0 and len(one_time) >= 8 and "\n" not in one_time
    passwd = run("users", "passwd", "ada", "--password-stdin", stdin="ada's new password\n")
    assert passwd.stdout == "password of ada set; it must be changed at the next sign-in\n"
    settings = load_settings({"RET_DATA_DIR": str(run.data_dir)})
    with open_services(settings, keyring_backend=None) as services:
        assert services.accounts.sign_in("bob", one_time).must_change_password
        assert services.accounts.sign_in("ada", "ada's new password").must_change_password
    assert run("users", "delete", "bob").stdout == "deleted bob\n"
    assert [line.split()[0] for line in run("users", "list").stdout.splitlines()] == ["ada"]


@pytest.mark.parametrize("args, message", [
    (("users", "delete", "ada"), "cannot delete ada: the last active administrator"),
    (("users", "role", "ada", "user"), "cannot demote ada: the last active administrator"),
    (("users", "lock", "ada"), "cannot lock ada: the last active administrator"),
    (("users", "reset", "nobody"), "no user named 'nobody'"),
    (("audit", "list", "--since", "last tuesday"), "not a date: 'last tuesday'"),
    (("audit", "export", "{data}/ret_app.db/audit.csv"), "audit.csv: File exists"),  # below a file
])
def test_users_and_audit_errors_exit_2_with_one_line(run, args, message):
    run("users", "add", "ada", "--password-stdin", stdin=PASSWORD + "\n")
    result = run(*(arg.format(data=run.data_dir) for arg in args))
    assert result.returncode == 2, result
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_audit_list_json_and_export(run, tmp_path):
    run("users", "add", "ada", "--password-stdin", stdin=PASSWORD + "\n")
    run("users", "add", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    run("users", "lock", "bob")
    listed = run("audit", "list", "--json")
    entries = json.loads(listed.stdout)
    assert listed.returncode == 0 and all(set(e) == {"time", "user", "session", "action", "counts"} for e in entries)
    assert [(e["action"], e["counts"]) for e in entries] == [
        ("user_locked", {"account": "bob"}), ("user_created", {"account": "bob", "role": "user"}),
        ("user_created", {"account": "ada", "role": "admin"})]
    assert entries[0]["user"] is None and entries[0]["time"][:4] == time.strftime("%Y")
    only = json.loads(run("audit", "list", "--json", "--action", "user_locked").stdout)
    assert [e["action"] for e in only] == ["user_locked"]
    assert json.loads(run("audit", "list", "--json", "--since", "2999-01-01").stdout) == []
    text = run("audit", "list").stdout.splitlines()
    assert len(text) == 3 and "user_locked" in text[0] and 'account="bob"' in text[0]
    out = tmp_path / "audit.csv"
    assert run("audit", "export", str(out)).stdout == f"wrote 3 entries to {out}\n"
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["time", "user", "session", "action", "counts"] and len(rows) == 4
    assert json.loads(run("audit", "list", "--json").stdout)[0]["action"] == "audit_exported"


def test_reading_the_audit_log_as_the_command_line_is_allowed(settings):
    with open_services(settings, keyring_backend=None) as services:
        services.audit.record("sign_in", "ada", method="password")
        assert [e.action for e in services.audit.page(COMMAND_LINE)] == ["sign_in"]
