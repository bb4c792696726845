"""Roles in the core (issue 13): what a `user` may not do is refused by the core itself, the last
administrator stays, passwords can be reset, set and changed, and Argon2 keeps today's parameters."""

import json

import pytest
from argon2 import PasswordHasher

from ret_desktop.core.accounts import AccountError, InvalidCredentials, TooManyAttempts
from ret_desktop.core.audit import AuditFilter
from ret_desktop.core.roles import Actor, PermissionDenied
from ret_desktop.core.services import open_services
from ret_desktop.core.sessions import SessionManager

PASSWORD = "a long password 1"


@pytest.fixture
def services(settings, keyring_file, clock):
    with open_services(settings, keyring_backend=keyring_file, clock=clock) as opened:
        yield opened


@pytest.fixture
def people(services):
    """An administrator and a user, each as the window's actor of a session."""
    admin = services.accounts.create_user("ada", PASSWORD)
    user = services.accounts.create_user("bob", PASSWORD, "user")
    return Actor.signed_in(admin, "a" * 32), Actor.signed_in(user, "b" * 32)


def test_a_user_calling_the_core_directly_is_refused_every_administrator_action(services, people, tmp_path):
    admin, user = people
    accounts = services.accounts
    refused = {
        "create an account": lambda: accounts.create_user("eve", PASSWORD, "admin", by=user),
        "make oneself an administrator": lambda: accounts.set_role("bob", "admin", by=user),
        "lock the administrator": lambda: accounts.set_state("ada", "locked", by=user),
        "delete the administrator": lambda: services.delete_user("ada", by=user),
        "reset a password": lambda: accounts.reset_password("ada", by=user),
        "set a password": lambda: accounts.set_password("ada", "a new long password", by=user),
        "list the accounts' states": lambda: accounts.statuses(by=user),
        "change a limit": lambda: services.change_settings({"login_max_failures": 1000}, by=user),
        "read the audit log": lambda: services.audit.page(user),
        "export the audit log": lambda: services.audit.export_csv(user, tmp_path / "audit.csv"),
        "remove another's sessions": lambda: services.remove_leftover_sessions("ada", by=user),
    }
    for what, call in refused.items():
        with pytest.raises(PermissionDenied, match=r"^only an administrator may .+; bob is not one$"):
            call()
    assert [(u.name, u.role, u.state) for u in accounts.list_users()] == [("ada", "admin", "active"),
                                                                          ("bob", "user", "active")]
    assert services.settings.login_max_failures == 5 and not services.settings.settings_file.exists()
    assert not (tmp_path / "audit.csv").exists()
    accounts.sign_in("ada", PASSWORD)  # her password is untouched
    # The same calls by the administrator go through.
    assert accounts.set_role("bob", "admin", by=admin).role == "admin"
    assert services.change_settings({"login_max_failures": 7}, by=admin).login_max_failures == 7
    assert services.audit.page(admin)[0].action == "settings_changed"


def test_a_demoted_or_locked_administrator_loses_the_rights_at_once(services, people):
    admin, user = people
    services.accounts.set_role("bob", "admin", by=admin)
    services.accounts.set_role("ada", "user", by=user)  # bob (now an admin) demotes ada
    with pytest.raises(PermissionDenied):
        services.accounts.statuses(by=admin)  # her Actor still says who she is; the role is read anew
    services.accounts.set_role("ada", "admin", by=user)
    services.accounts.set_state("ada", "locked", by=user)
    with pytest.raises(PermissionDenied):
        services.audit.page(admin)


def test_the_last_administrator_cannot_be_demoted_locked_or_deleted(services, people):
    admin, user = people
    accounts = services.accounts
    for change in (lambda: accounts.set_role("ada", "user"), lambda: accounts.set_state("ada", "locked"),
                   lambda: services.delete_user("ada")):
        with pytest.raises(AccountError, match="cannot .+ ada: the last active administrator"):
            change()
    assert accounts.get_user("ada").role == "admin" and accounts.get_user("ada").state == "active"
    # A locked administrator is no second one.
    accounts.create_user("cy", PASSWORD, "admin", by=admin)
    accounts.set_state("cy", "locked", by=admin)
    with pytest.raises(AccountError, match="last active administrator"):
        accounts.set_role("ada", "user", by=admin)
    accounts.set_state("cy", "active", by=admin)
    assert accounts.set_role("ada", "user", by=admin).role == "user"
    with pytest.raises(AccountError, match="you cannot delete the account you are signed in with"):
        services.delete_user("cy", by=Actor.signed_in(accounts.get_user("cy")))


def test_delete_wipes_the_accounts_leftover_sessions_and_remember_me(services, people, keyring_file, settings):
    admin, _user = people
    bob = services.accounts.get_user("bob")
    services.accounts.remember(bob)
    crashed = SessionManager(settings.sessions_dir, services.cache, services.audit, 3600).create("bob")  # another process's
    kept = SessionManager(settings.sessions_dir, services.cache, services.audit, 3600).create("ada")
    assert [s.session_id for s in services.sessions.leftovers("bob")] == [crashed.session_id]
    services.delete_user("bob", by=admin)
    assert services.accounts.get_user("bob") is None
    assert not services.sessions.folder(crashed.session_id).exists()
    assert services.sessions.folder(kept.session_id).exists()
    assert keyring_file.get_password("RET Desktop", "remember:bob") is None
    assert services.app_db.query("SELECT COUNT(*) AS n FROM remember_tokens")[0]["n"] == 0
    wiped = services.audit.recent(1, action="session_wiped")[0]
    assert (wiped.session, wiped.counts["reason"]) == (crashed.session_id, "user_deleted")
    deleted = services.audit.recent(1, action="user_deleted")[0]
    assert (deleted.user, deleted.session, deleted.counts) == ("ada", admin.session_id, {"account": "bob"})


def test_a_reset_gives_a_one_time_password_that_must_be_changed(services, people, keyring_file):
    admin, _user = people
    accounts = services.accounts
    accounts.remember(accounts.get_user("bob"))
    one_time = accounts.reset_password("bob", by=admin)
    assert len(one_time) >= 8 and one_time != accounts.reset_password("ada", by=admin) != PASSWORD
    assert accounts.sign_in_remembered("bob") is None  # the reset ends remember-me
    with pytest.raises(InvalidCredentials):
        accounts.sign_in("bob", PASSWORD)
    signed_in = accounts.sign_in("bob", one_time)
    assert signed_in.must_change_password
    with pytest.raises(AccountError, match="differ from the current one"):
        accounts.change_password("bob", one_time, one_time)
    with pytest.raises(AccountError, match="at least 8"):
        accounts.change_password("bob", one_time, "short")
    changed = accounts.change_password("bob", one_time, "bob's own new password", session="c" * 32)
    assert not changed.must_change_password
    with pytest.raises(InvalidCredentials):
        accounts.sign_in("bob", one_time)  # one time only
    assert not accounts.sign_in("bob", "bob's own new password").must_change_password
    actions = [(e.action, e.user, e.counts) for e in services.audit.recent(20)
               if e.action in ("password_reset", "password_changed")]
    assert ("password_changed", "bob", {}) in actions and ("password_reset", "ada", {"account": "bob"}) in actions


def test_changing_ones_password_checks_the_current_one_against_the_lockout_and_ends_remember_me(services, people):
    accounts = services.accounts
    accounts.remember(accounts.get_user("bob"))
    for _ in range(5):
        with pytest.raises(InvalidCredentials, match="The current password is wrong"):
            accounts.change_password("bob", "not my password", "a new long password")
    with pytest.raises(TooManyAttempts):
        accounts.change_password("bob", PASSWORD, "a new long password")  # locked out, even with the right one
    accounts.set_state("bob", "active")  # an administrator lifts the lockout
    accounts.change_password("bob", PASSWORD, "a new long password")
    assert accounts.sign_in_remembered("bob") is None
    assert services.app_db.query("SELECT COUNT(*) AS n FROM remember_tokens")[0]["n"] == 0


def test_set_password_by_an_administrator_forces_a_change_at_the_next_sign_in(services, people):
    services.accounts.set_password("bob", "set by the admin", by=people[0])
    assert services.accounts.sign_in("bob", "set by the admin").must_change_password
    with pytest.raises(AccountError, match="at least 8"):
        services.accounts.set_password("bob", "short")


def test_statuses_show_failed_sign_ins_and_a_lockout_until(services, people, clock):
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            services.accounts.sign_in("bob", "wrong")
    statuses = {s.user.name: s for s in services.accounts.statuses(by=people[0])}
    assert (statuses["bob"].failed_attempts, statuses["bob"].locked_out_until) == (2, None)
    assert statuses["bob"].state_text(str) == "active"
    for _ in range(3):
        with pytest.raises((InvalidCredentials, TooManyAttempts)):
            services.accounts.sign_in("bob", "wrong")
    bob = {s.user.name: s for s in services.accounts.statuses(by=people[0])}["bob"]
    assert bob.failed_attempts == 5 and bob.locked_out_until == pytest.approx(clock.now + 900, abs=2)
    assert bob.state_text(lambda t: "then") == "locked out until then"


class CountingHasher(PasswordHasher):
    """The real Argon2 hasher, counting its hashes and verifications."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hashed = self.verified = 0

    def hash(self, password, *, salt=None):
        self.hashed += 1
        return super().hash(password, salt=salt)

    def verify(self, hash, password):
        self.verified += 1
        return super().verify(hash, password)


def test_the_dummy_hash_is_made_at_start_up_so_the_first_unknown_name_costs_one_verify(settings, keyring_file):
    with open_services(settings, keyring_backend=None) as services:
        services.accounts.create_user("ada", PASSWORD)
    hasher = CountingHasher()
    from ret_desktop.core.accounts import Accounts

    with open_services(settings, keyring_backend=None) as services:
        accounts = Accounts(services.app_db, services.limiter, services.audit, keyring_backend=None, hasher=hasher)
        assert hasher.hashed == 1  # the dummy, at start-up
        for name in ("nobody", "ada"):  # the very first unknown name, then a wrong password
            before = (hasher.hashed, hasher.verified)
            with pytest.raises(InvalidCredentials):
                accounts.sign_in(name, "wrong password")
            assert (hasher.hashed - before[0], hasher.verified - before[1]) == (0, 1), name


def test_a_hash_with_outdated_parameters_is_rehashed_at_sign_in(settings):
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    today = PasswordHasher()
    from ret_desktop.core.accounts import Accounts

    with open_services(settings, keyring_backend=None) as services:
        Accounts(services.app_db, services.limiter, services.audit, keyring_backend=None, hasher=old) \
            .create_user("ada", PASSWORD)
    with open_services(settings, keyring_backend=None) as services:
        stored = lambda: services.app_db.query("SELECT password_hash FROM users")[0]["password_hash"]  # noqa: E731
        assert "m=8192,t=1,p=1" in stored() and today.check_needs_rehash(stored())
        accounts = Accounts(services.app_db, services.limiter, services.audit, keyring_backend=None, hasher=today)
        accounts.sign_in("ada", PASSWORD)
        assert not today.check_needs_rehash(stored()) and "m=8192" not in stored()
        accounts.sign_in("ada", PASSWORD)  # the new hash checks the same password


def test_sign_in_failures_of_unknown_names_do_not_write_the_typed_name_down(services, people):
    for typed in ("hunter2-typed-as-a-name", "x y z"):
        with pytest.raises(InvalidCredentials):
            services.accounts.sign_in(typed, "whatever")
    failures = services.audit.page(people[0], AuditFilter(action="sign_in_failed"))
    assert [e.user for e in failures] == [None, None]
    raw = json.dumps([list(r) for r in services.app_db.query("SELECT * FROM audit_log")])
    assert "hunter2" not in raw
