import os
import sqlite3
import subprocess
import sys
import time

import keyring.backends.fail
import pytest
from argon2 import PasswordHasher
from keyrings.alt.file import PlaintextKeyring

from ret_desktop.core import accounts as accounts_module
from ret_desktop.core.accounts import (
    AccountError,
    AccountLocked,
    Accounts,
    InvalidCredentials,
    RememberMeUnavailable,
    SignInError,
    TooManyAttempts,
    default_keyring,
)
from ret_desktop.core.appdb import AppDatabase
from ret_desktop.core.audit import AuditLog
from ret_desktop.core.cache import SessionCache
from ret_desktop.core.ratelimit import Limit, RateLimiter
from ret_desktop.core.services import open_services

PASSWORD = "correct horse battery"


@pytest.fixture
def file_keyring(tmp_path):
    """A real keyring backend that stores into a file of the test's own (keyrings.alt)."""
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")
    return backend


class Stack:
    """The real pieces, on files under one folder, reopenable as after a restart."""

    def __init__(self, folder, clock, keyring_backend, hasher=None):
        self.folder, self.clock, self.keyring_backend, self.hasher = folder, clock, keyring_backend, hasher
        self.open()

    def open(self):
        self.cache = SessionCache(self.folder / "ret_session.db", clock=self.clock)
        self.db = AppDatabase(self.folder / "ret_app.db")
        self.audit = AuditLog(self.db, clock=self.clock)
        limiter = RateLimiter(self.cache, {"login": Limit(5, 900)})
        self.accounts = Accounts(self.db, limiter, self.audit, keyring_backend=self.keyring_backend, clock=self.clock,
                                 hasher=self.hasher)

    def restart(self):
        self.cache.close()
        self.db.close()
        self.open()


@pytest.fixture
def stack(tmp_path, clock, file_keyring):
    result = Stack(tmp_path, clock, file_keyring)
    yield result
    result.cache.close()
    result.db.close()


def test_first_user_is_admin_and_names_are_unique_ignoring_case(stack):
    accounts = stack.accounts
    assert accounts.count() == 0
    first = accounts.create_user("Alice", PASSWORD, role="user")
    assert first.role == "admin" and first.state == "active" and first.is_admin
    second = accounts.create_user("bob", PASSWORD)
    assert second.role == "user"
    with pytest.raises(AccountError, match="already exists"):
        accounts.create_user("ALICE", PASSWORD)
    assert [u.name for u in accounts.list_users()] == ["Alice", "bob"]
    assert accounts.get_user("aLiCe").name == "Alice"


@pytest.mark.parametrize("name", ["", "has space", "a:b", "x" * 65, "tab\there", "new\nline"])
def test_bad_names_are_refused(stack, name):
    with pytest.raises(AccountError, match="user name"):
        stack.accounts.create_user(name, PASSWORD)


def test_short_password_and_unknown_role_are_refused(stack):
    with pytest.raises(AccountError, match="at least 8"):
        stack.accounts.create_user("carol", "short")
    with pytest.raises(AccountError, match="role"):
        stack.accounts.create_user("carol", PASSWORD, role="root")
    assert stack.accounts.count() == 0


def test_passwords_are_stored_as_argon2_hashes(stack):
    stack.accounts.create_user("alice", PASSWORD)
    with sqlite3.connect(stack.folder / "ret_app.db") as conn:
        (stored,) = conn.execute("SELECT password_hash FROM users").fetchone()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_sign_in_records_time_and_audit(stack, clock):
    stack.accounts.create_user("alice", PASSWORD)
    user = stack.accounts.sign_in("ALICE", PASSWORD)
    assert user.name == "alice" and user.last_sign_in_at == clock.now
    assert [e.action for e in stack.audit.recent(3)] == ["sign_in", "user_created"]


def test_unknown_user_and_wrong_password_get_the_same_message(stack):
    stack.accounts.create_user("alice", PASSWORD)
    with pytest.raises(InvalidCredentials) as wrong_password:
        stack.accounts.sign_in("alice", "not the password")
    with pytest.raises(InvalidCredentials) as unknown:
        stack.accounts.sign_in("mallory", "not the password")
    assert str(wrong_password.value) == str(unknown.value)


def test_five_failures_lock_the_name_for_the_rest_of_the_window_even_across_restart(stack, clock):
    stack.accounts.create_user("alice", PASSWORD)
    for attempt in range(4):
        with pytest.raises(InvalidCredentials):
            stack.accounts.sign_in("alice", f"wrong {attempt}")
        clock.advance(60)
    with pytest.raises(TooManyAttempts) as fifth:
        stack.accounts.sign_in("alice", "wrong 5")
    assert fifth.value.retry_after_s == pytest.approx(900 - 240)
    stack.restart()
    clock.advance(100)
    with pytest.raises(TooManyAttempts, match="Try again in 9 min 20 s") as locked:
        stack.accounts.sign_in("Alice", PASSWORD)  # the right password does not help
    assert locked.value.retry_after_s == pytest.approx(560)
    clock.advance(560)
    assert stack.accounts.sign_in("alice", PASSWORD).name == "alice"


def test_lockout_applies_to_unknown_names_too(stack):
    for _ in range(5):
        with pytest.raises((InvalidCredentials, TooManyAttempts)):
            stack.accounts.sign_in("ghost", "whatever1")
    with pytest.raises(TooManyAttempts):
        stack.accounts.sign_in("ghost", "whatever1")


def test_successful_sign_in_resets_the_failure_count(stack):
    stack.accounts.create_user("alice", PASSWORD)
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            stack.accounts.sign_in("alice", "wrong password")
    stack.accounts.sign_in("alice", PASSWORD)
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            stack.accounts.sign_in("alice", "wrong password")


class CountingHasher(PasswordHasher):
    """The real Argon2 hasher, counting the hashes it verifies."""

    verified = 0

    def verify(self, password_hash, password):
        CountingHasher.verified += 1
        return super().verify(password_hash, password)


def answer_of(accounts, name, password):
    """What a person sees for one attempt: the refusal's type and message, and the time it took."""
    started = time.perf_counter()
    try:
        accounts.sign_in(name, password)
        outcome = ("signed in", "")
    except SignInError as error:
        outcome = (type(error).__name__, str(error))
    return outcome, time.perf_counter() - started


def test_a_locked_name_never_confirms_a_password(tmp_path, clock, file_keyring):
    """Issue 10 §3: while locked, the right and a wrong password got different answers."""
    stack = Stack(tmp_path, clock, file_keyring, hasher=CountingHasher())
    stack.accounts.create_user("admin", PASSWORD)
    stack.accounts.create_user("bob", PASSWORD)
    stack.accounts.create_user("carol", PASSWORD)
    normal = [answer_of(stack.accounts, "carol", f"wrong {i}")[1] for i in range(2)]
    stack.accounts.set_state("bob", "locked")  # locked by an administrator
    for _ in range(5):
        answer_of(stack.accounts, "admin", "nope nope")
    for name in ("bob", "admin"):  # admin: locked out by failures
        before = CountingHasher.verified
        (right, right_time), (wrong, wrong_time) = (answer_of(stack.accounts, name, PASSWORD),
                                                    answer_of(stack.accounts, name, "wrong password"))
        assert right == wrong and right[0] in ("AccountLocked", "TooManyAttempts"), (name, right, wrong)
        assert CountingHasher.verified - before == 2  # one Argon2 check each, as for any attempt
        assert min(right_time, wrong_time) > 0.3 * min(normal)  # no answer comes sooner than another
    assert answer_of(stack.accounts, "bob", "wrong password")[0][0] == "AccountLocked"  # not counted as failures
    stack.accounts.set_state("bob", "active")
    assert stack.accounts.sign_in("bob", PASSWORD).state == "active"
    stack.cache.close()
    stack.db.close()


def test_admin_stays_locked_while_a_thousand_other_names_fail(tmp_path, clock):
    """Issue 10 §3: failing once under each of 1,000 other names evicted admin's counter."""
    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)  # real Argon2, cheap settings
    cache = SessionCache(tmp_path / "ret_session.db", max_size=1000, clock=clock)
    db = AppDatabase(tmp_path / "ret_app.db")
    audit = AuditLog(db, clock=clock)
    accounts = Accounts(db, RateLimiter(cache, {"login": Limit(5, 900)}), audit, keyring_backend=None,
                        clock=clock, hasher=cheap)
    accounts.create_user("admin", PASSWORD)
    for _ in range(5):
        with pytest.raises((InvalidCredentials, TooManyAttempts)):
            accounts.sign_in("admin", "wrong password")
    for i in range(1000):
        with pytest.raises(InvalidCredentials):
            accounts.sign_in(f"someone{i}", "wrong password")
    with pytest.raises(TooManyAttempts):
        accounts.sign_in("admin", PASSWORD)
    clock.advance(900)
    assert accounts.sign_in("admin", PASSWORD).name == "admin"
    cache.close()
    db.close()


def test_names_that_cannot_be_accounts_share_one_counter(stack):
    for i in range(5):
        with pytest.raises((InvalidCredentials, TooManyAttempts)):
            stack.accounts.sign_in(f"not a name {i} " + "x" * 5000, "whatever1")
    with pytest.raises(TooManyAttempts):
        stack.accounts.sign_in("yet another:name", "whatever1")
    assert stack.cache.stats()["protected_entries"] == 1


UNLOCK_IN_A_CHILD = [sys.executable, "-m", "ret_desktop", "users", "unlock", "admin"]


def test_users_unlock_in_another_process_lets_the_next_sign_in_here_succeed(settings):
    """Issue 10 §3: `ret-desktop users unlock admin` said "admin is active" while the app kept refusing."""
    with open_services(settings, keyring_backend=None) as services:
        services.accounts.create_user("admin", PASSWORD)
        for _ in range(5):
            with pytest.raises((InvalidCredentials, TooManyAttempts)):
                services.accounts.sign_in("admin", "wrong password")
        with pytest.raises(TooManyAttempts):
            services.accounts.sign_in("admin", PASSWORD)
        child = subprocess.run(UNLOCK_IN_A_CHILD, capture_output=True, text=True, timeout=60,
                               env={**os.environ, "RET_DATA_DIR": str(settings.data_dir)})
        assert (child.returncode, child.stdout.strip()) == (0, "admin is active"), child.stderr
        assert services.accounts.sign_in("admin", PASSWORD).name == "admin"


def test_unlock_lifts_a_sign_in_lockout(stack):
    stack.accounts.create_user("alice", PASSWORD)
    for _ in range(5):
        with pytest.raises((InvalidCredentials, TooManyAttempts)):
            stack.accounts.sign_in("alice", "wrong password")
    stack.accounts.set_state("alice", "active")
    assert stack.accounts.sign_in("alice", PASSWORD)


def test_remember_me_round_trip_stores_only_a_hash(stack, file_keyring):
    user = stack.accounts.create_user("alice", PASSWORD)
    assert stack.accounts.remember_me_status() == (True, "")
    stack.accounts.remember(user)
    token = file_keyring.get_password(accounts_module.KEYRING_SERVICE, "remember:alice")
    assert token and len(token) >= 40
    db_bytes = (stack.folder / "ret_app.db").read_bytes() + (stack.folder / "ret_app.db-wal").read_bytes()
    assert token.encode() not in db_bytes and PASSWORD.encode() not in db_bytes
    stack.restart()
    assert stack.accounts.remembered_user_name() == "alice"
    signed_in = stack.accounts.sign_in_remembered("alice")
    assert signed_in is not None and signed_in.name == "alice"
    rotated = file_keyring.get_password(accounts_module.KEYRING_SERVICE, "remember:alice")
    assert rotated != token
    file_keyring.set_password(accounts_module.KEYRING_SERVICE, "remember:alice", token)  # a stale copy
    assert stack.accounts.sign_in_remembered("alice") is None


def test_remember_me_expires_and_can_be_forgotten(stack, clock, file_keyring):
    user = stack.accounts.create_user("alice", PASSWORD)
    stack.accounts.remember(user)
    stack.accounts.forget("alice")
    assert stack.accounts.sign_in_remembered("alice") is None
    assert file_keyring.get_password(accounts_module.KEYRING_SERVICE, "remember:alice") is None
    stack.accounts.remember(user)
    clock.advance(accounts_module.REMEMBER_SECONDS + 1)
    assert stack.accounts.remembered_user_name() is None
    assert stack.accounts.sign_in_remembered("alice") is None


def test_locking_an_account_drops_its_remember_me(stack):
    stack.accounts.create_user("admin", PASSWORD)
    bob = stack.accounts.create_user("bob", PASSWORD)
    stack.accounts.remember(bob)
    stack.accounts.set_state("bob", "locked")
    stack.accounts.set_state("bob", "active")
    assert stack.accounts.sign_in_remembered("bob") is None


def test_without_a_usable_keyring_remember_me_is_unavailable_and_nothing_is_stored(stack, monkeypatch):
    monkeypatch.setattr(accounts_module.keyring, "get_keyring", lambda: keyring.backends.fail.Keyring())
    backend, reason = default_keyring()
    assert backend is None and "no secure system keyring" in reason
    accounts = Accounts(stack.db, stack.accounts._limiter, stack.audit, clock=stack.clock)
    user = accounts.create_user("alice", PASSWORD)
    available, why = accounts.remember_me_status()
    assert not available and why
    with pytest.raises(RememberMeUnavailable):
        accounts.remember(user)
    assert accounts.sign_in_remembered("alice") is None
    assert stack.db.query("SELECT COUNT(*) AS n FROM remember_tokens")[0]["n"] == 0


def test_a_plaintext_keyring_is_not_trusted_by_default(monkeypatch, tmp_path):
    monkeypatch.setattr(accounts_module.keyring, "get_keyring", PlaintextKeyring)
    backend, reason = default_keyring()
    assert backend is None and "PlaintextKeyring" in reason
