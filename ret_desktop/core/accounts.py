"""Local user accounts: Argon2 password hashes, roles, sign-in throttling, remember-me tokens.

Sign-in never tells which names exist: an unknown name and a wrong password get the same message,
take the same time (a dummy hash is verified) and count against the same per-name limit. A name that
is locked (too many failures, or by an administrator) never confirms a password: the right and a
wrong one get the same answer after the same Argon2 check. (An account locked by an administrator
says so, whatever the password: that tells that the name exists, never whether the password was
right.) Names that cannot be accounts share one failure counter, so made-up names cannot make
counters of any size. The audit trail names only accounts: what was typed as an unknown name (often
a password typed into the wrong box) is never written down.

Managing accounts is for administrators (``roles.MANAGE_ACCOUNTS``): every such call says who asks
(``by``, an ``roles.Actor``; by default the command line, which acts as the machine's administrator).
The last active administrator cannot be demoted, locked or deleted.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable

import keyring
import keyring.backend
import keyring.errors
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ret_desktop import APP_NAME
from ret_desktop.core.appdb import AppDatabase
from ret_desktop.core.audit import AuditLog
from ret_desktop.core.ratelimit import LOGIN_SCOPE, Decision, RateLimiter
from ret_desktop.core.roles import ADMIN, COMMAND_LINE, MANAGE_ACCOUNTS, ROLES, Actor, require

STATES = ("active", "locked")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
REMEMBER_SECONDS = 30 * 24 * 3600
KEYRING_SERVICE = APP_NAME
_NAME_PATTERN = re.compile(r"^[\w.@-]{1,64}$")
_WRONG_CREDENTIALS = "Wrong user name or password."
_NOT_A_NAME_KEY = "*not-a-user-name*"  # the login counter of every name _NAME_PATTERN refuses
ACCOUNTS_LOST_ADVICE = (
    "This data folder had accounts, but the account database has none now (it was damaged, emptied "
    "or removed), so no first-start setup is offered. Restore ret_app.db from the moved-aside "
    "ret_app.db.corrupt-* file or a backup, or create an administrator in a terminal: "
    "ret-desktop users add NAME --role admin --password-stdin"
)


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    state: str
    created_at: float
    last_sign_in_at: float | None
    must_change_password: bool = False  # after a reset or a password set for them

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


@dataclass(frozen=True)
class AccountStatus:
    """An account as the Users window shows it."""

    user: User
    failed_attempts: int  # failed sign-ins in the current lockout window
    locked_out_until: float | None  # a sign-in lockout (too many failures), not an administrator's lock

    def state_text(self, format_time: Callable[[float], str]) -> str:
        if self.user.state == "locked":
            return "locked"
        if self.locked_out_until is not None:
            return f"locked out until {format_time(self.locked_out_until)}"
        return "active"


class AccountError(ValueError):
    """A request about accounts cannot be done as asked (name taken, weak password, ...)."""


class SignInError(Exception):
    """Sign-in refused; ``str(error)`` is the message to show."""


class InvalidCredentials(SignInError):
    pass


class AccountLocked(SignInError):
    pass


class TooManyAttempts(SignInError):
    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RememberMeUnavailable(RuntimeError):
    pass


def name_key(name: str) -> str:
    """The form under which names are unique: Unicode-normalised and case-folded."""
    return unicodedata.normalize("NFKC", name).casefold()


def default_keyring() -> tuple[keyring.backend.KeyringBackend | None, str]:
    """The system keyring if it is one we may keep secrets in, else None and the reason."""
    backend = keyring.get_keyring()
    priority = getattr(backend, "priority", 0)
    if priority < 1:
        kind = type(backend).__name__
        return None, f"no secure system keyring is available (found {kind}), so nothing is remembered"
    return backend, ""


class Accounts:
    def __init__(
        self,
        db: AppDatabase,
        limiter: RateLimiter,
        audit: AuditLog,
        keyring_backend: keyring.backend.KeyringBackend | None | Any = "system",
        clock: Callable[[], float] = time.time,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._db = db
        self._limiter = limiter
        self._audit = audit
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        # Made now, not at the first unknown name: that attempt takes as long as a wrong password.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))
        if keyring_backend == "system":
            self._keyring, self._keyring_problem = default_keyring()
        elif keyring_backend is None:
            self._keyring, self._keyring_problem = None, "remember-me is switched off"
        else:
            self._keyring, self._keyring_problem = keyring_backend, ""

    # ------------------------------------------------------------------ users

    def count(self) -> int:
        return self._db.query("SELECT COUNT(*) AS n FROM users")[0]["n"]

    def first_start(self) -> bool:
        """True only for a data folder that never had an account: then the window offers setup."""
        return not self._db.had_accounts() and self.count() == 0

    def accounts_lost(self) -> bool:
        """The data folder had accounts, and the account database has none (see ACCOUNTS_LOST_ADVICE)."""
        return self._db.had_accounts() and self.count() == 0

    def create_user(self, name: str, password: str, role: str = "user", *, by: Actor = COMMAND_LINE) -> User:
        """Create a user; the very first user is always an administrator (and needs nobody's leave)."""
        if self.count():
            require(self._db, by, MANAGE_ACCOUNTS)
        name = name.strip()
        if not _NAME_PATTERN.match(name):
            raise AccountError(
                "a user name is 1 to 64 letters, digits or . _ @ - (no spaces or colons)"
            )
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        _check_password(password)
        password_hash = self._hasher.hash(password)
        with self._db.transaction() as conn:
            if conn.execute("SELECT 1 FROM users WHERE name_key = ?", (name_key(name),)).fetchone():
                raise AccountError(f"a user named {name!r} already exists (names ignore case)")
            if conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0:
                role = "admin"
            conn.execute(
                "INSERT INTO users (name, name_key, password_hash, role, state, created_at) "
                "VALUES (?, ?, ?, ?, 'active', ?)",
                (name, name_key(name), password_hash, role, self._clock()),
            )
        self._db.record_accounts_exist()
        self._audit.record("user_created", by.name, by.session_id, account=name, role=role)
        return self._require_user(name)

    def list_users(self) -> list[User]:
        return [_user(row) for row in self._db.query("SELECT * FROM users ORDER BY name_key")]

    def get_user(self, name: str) -> User | None:
        rows = self._db.query("SELECT * FROM users WHERE name_key = ?", (name_key(name),))
        return _user(rows[0]) if rows else None

    def statuses(self, *, by: Actor = COMMAND_LINE) -> list[AccountStatus]:
        """Every account with its failed sign-ins and any lockout (for administrators)."""
        require(self._db, by, MANAGE_ACCOUNTS)
        found = []
        for user in self.list_users():
            key = name_key(user.name)
            failed = self._limiter.count(LOGIN_SCOPE, key)
            ahead = self._limiter.peek(LOGIN_SCOPE, key)
            until = self._clock() + ahead.retry_after_s if failed and not ahead.allowed else None
            found.append(AccountStatus(user, failed, until))
        return found

    def set_state(self, name: str, state: str, *, by: Actor = COMMAND_LINE) -> User:
        """Lock or unlock an account. Unlocking also lifts a sign-in lockout."""
        require(self._db, by, MANAGE_ACCOUNTS)
        if state not in STATES:
            raise AccountError(f"state must be one of {', '.join(STATES)}, not {state!r}")
        user = self._require_user(name)
        with self._db.transaction() as conn:
            if state == "locked":
                self._keep_an_admin(conn, user, "lock")
            conn.execute("UPDATE users SET state = ? WHERE id = ?", (state, user.id))
            if state == "locked":
                conn.execute("DELETE FROM remember_tokens WHERE user_id = ?", (user.id,))
        if state == "active":
            self._limiter.reset(LOGIN_SCOPE, name_key(name))
        self._audit.record(f"user_{'unlocked' if state == 'active' else 'locked'}", by.name, by.session_id,
                           account=user.name)
        return self._require_user(name)

    def set_role(self, name: str, role: str, *, by: Actor = COMMAND_LINE) -> User:
        require(self._db, by, MANAGE_ACCOUNTS)
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        user = self._require_user(name)
        with self._db.transaction() as conn:
            if role != ADMIN:
                self._keep_an_admin(conn, user, "demote")
            conn.execute("UPDATE users SET role = ? WHERE id = ?", (role, user.id))
        self._audit.record("role_changed", by.name, by.session_id, account=user.name, role=role)
        return self._require_user(name)

    def delete_user(self, name: str, *, by: Actor = COMMAND_LINE) -> User:
        """Delete the account and its remember-me token. Its leftover sessions and window state are
        not the account database's: ``Services.delete_user`` wipes those too."""
        require(self._db, by, MANAGE_ACCOUNTS)
        user = self._require_user(name)
        if by.user_id == user.id:
            raise AccountError("you cannot delete the account you are signed in with")
        self.forget(user.name)
        with self._db.transaction() as conn:
            self._keep_an_admin(conn, user, "delete")
            conn.execute("DELETE FROM users WHERE id = ?", (user.id,))
        self._limiter.reset(LOGIN_SCOPE, name_key(user.name))
        self._audit.record("user_deleted", by.name, by.session_id, account=user.name)
        return user

    def reset_password(self, name: str, *, by: Actor = COMMAND_LINE) -> str:
        """Give the account a new random one-time password (returned, to be shown once) that must be
        changed at the next sign-in."""
        one_time = "-".join(secrets.token_hex(3) for _ in range(3))  # 20 characters, easy to read out
        self._replace_password(name, one_time, by, "password_reset")
        return one_time

    def set_password(self, name: str, password: str, *, by: Actor = COMMAND_LINE) -> User:
        """An administrator sets ``name``'s password; they must change it at the next sign-in."""
        _check_password(password)
        return self._replace_password(name, password, by, "password_set")

    def _replace_password(self, name: str, password: str, by: Actor, action: str) -> User:
        require(self._db, by, MANAGE_ACCOUNTS)
        user = self._require_user(name)
        self._store_password(user, password, must_change=True)
        self._audit.record(action, by.name, by.session_id, account=user.name)
        return self._require_user(name)

    def change_password(self, name: str, current: str, new: str, *, session: str | None = None) -> User:
        """One's own password: ``current`` must be right (a wrong one counts as a failed sign-in).
        Remember-me tokens are revoked."""
        user = self._require_user(name)
        key = name_key(user.name)
        ahead = self._limiter.peek(LOGIN_SCOPE, key)
        right = self._verify(self._password_hash(user), current)
        if not ahead.allowed:
            raise _too_many_attempts(ahead)
        if not right:
            self._limiter.hit(LOGIN_SCOPE, key)
            self._audit.record("sign_in_failed", user.name, session)
            raise InvalidCredentials("The current password is wrong.")
        if new == current:
            raise AccountError("the new password must differ from the current one")
        _check_password(new)
        self._store_password(user, new, must_change=False)
        self._audit.record("password_changed", user.name, session)
        return self._require_user(name)

    def _store_password(self, user: User, password: str, must_change: bool) -> None:
        password_hash = self._hasher.hash(password)
        self.forget(user.name)
        with self._db.transaction() as conn:
            conn.execute("UPDATE users SET password_hash = ?, must_change_password = ? WHERE id = ?",
                         (password_hash, int(must_change), user.id))

    def _password_hash(self, user: User) -> str:
        return self._db.query("SELECT password_hash FROM users WHERE id = ?", (user.id,))[0]["password_hash"]

    @staticmethod
    def _keep_an_admin(conn, user: User, change: str) -> None:
        """Refuse (inside the transaction) a change that would leave no active administrator."""
        if user.role != ADMIN or user.state != "active":
            return
        (others,) = conn.execute("SELECT COUNT(*) FROM users WHERE role = 'admin' AND state = 'active' AND id != ?",
                                 (user.id,)).fetchone()
        if not others:
            raise AccountError(f"cannot {change} {user.name}: the last active administrator; "
                               f"make another account an administrator first")

    # ------------------------------------------------------------------ sign-in

    def sign_in(self, name: str, password: str, method: str | None = "password") -> User:
        """``method`` None: only check the password, with every limit, and record no sign-in (the
        idle lock's unlock)."""
        name = name.strip()
        key = name_key(name) if _NAME_PATTERN.match(name) else _NOT_A_NAME_KEY
        ahead = self._limiter.peek(LOGIN_SCOPE, key)
        rows = self._db.query("SELECT * FROM users WHERE name_key = ?", (key,))
        row = rows[0] if rows else None
        # Every attempt verifies one hash (a dummy one for an unknown name), locked or not, so that
        # no answer comes sooner than another; nothing below depends on the result while locked.
        password_ok = self._verify(row["password_hash"] if row else self._dummy(), password) and row is not None
        account = row["name"] if row is not None else None  # an unknown name is not written down
        if not ahead.allowed:
            self._audit.record("sign_in_refused", account, reason="too_many_failures")
            raise _too_many_attempts(ahead)
        if row is not None and row["state"] == "locked":
            self._audit.record("sign_in_refused", account, reason="account_locked")
            raise AccountLocked("This account is locked. Ask an administrator to unlock it.")
        if not password_ok:
            decision = self._limiter.hit(LOGIN_SCOPE, key)
            self._audit.record("sign_in_failed", account)
            if not decision.allowed or decision.remaining == 0:
                raise _too_many_attempts(decision if not decision.allowed else self._limiter.peek(LOGIN_SCOPE, key))
            tries_left = decision.remaining
            hint = f" {tries_left} more {'try' if tries_left == 1 else 'tries'} before this name is locked." if tries_left <= 2 else ""
            raise InvalidCredentials(_WRONG_CREDENTIALS + hint)
        self._limiter.reset(LOGIN_SCOPE, key)
        if self._hasher.check_needs_rehash(row["password_hash"]):
            with self._db.transaction() as conn:
                conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (self._hasher.hash(password), row["id"]))
        if method is None:
            return self._require_user(row["name"])
        return self._signed_in(row["id"], row["name"], method)

    def _signed_in(self, user_id: int, name: str, method: str) -> User:
        with self._db.transaction() as conn:
            conn.execute("UPDATE users SET last_sign_in_at = ? WHERE id = ?", (self._clock(), user_id))
        self._audit.record("sign_in", name, method=method)
        return self._require_user(name)


    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        return self._dummy_hash

    # ------------------------------------------------------------------ remember me

    def remember_me_status(self) -> tuple[bool, str]:
        """(available, reason it is not)."""
        return self._keyring is not None, self._keyring_problem

    def remember(self, user: User) -> None:
        """Keep a sign-in token for ``user`` in the OS keyring; the database keeps only its hash."""
        if self._keyring is None:
            raise RememberMeUnavailable(self._keyring_problem)
        token = secrets.token_urlsafe(32)
        now = self._clock()
        try:
            self._keyring.set_password(KEYRING_SERVICE, _keyring_user(user.name), token)
        except keyring.errors.KeyringError as exc:
            raise RememberMeUnavailable(f"the system keyring refused to store the token: {exc}") from exc
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM remember_tokens WHERE user_id = ?", (user.id,))
            conn.execute(
                "INSERT INTO remember_tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (_token_hash(token), user.id, now, now + REMEMBER_SECONDS),
            )

    def remembered_user_name(self) -> str | None:
        """The user with the newest unexpired remember-me token, if any."""
        rows = self._db.query(
            "SELECT users.name FROM remember_tokens JOIN users ON users.id = remember_tokens.user_id "
            "WHERE expires_at > ? AND users.state = 'active' ORDER BY remember_tokens.created_at DESC LIMIT 1",
            (self._clock(),),
        )
        return rows[0]["name"] if rows else None

    def sign_in_remembered(self, name: str) -> User | None:
        """Sign ``name`` in with the keyring token, or None if there is no valid one."""
        if self._keyring is None:
            return None
        try:
            token = self._keyring.get_password(KEYRING_SERVICE, _keyring_user(name))
        except keyring.errors.KeyringError:
            return None
        if not token:
            return None
        rows = self._db.query(
            "SELECT users.id, users.name, users.state FROM remember_tokens JOIN users "
            "ON users.id = remember_tokens.user_id WHERE token_hash = ? AND expires_at > ? AND users.name_key = ?",
            (_token_hash(token), self._clock(), name_key(name)),
        )
        if not rows or rows[0]["state"] != "active":
            return None
        user = self._signed_in(rows[0]["id"], rows[0]["name"], "remembered")
        self.remember(user)  # a fresh token each time: a copied old one stops working
        return user

    def forget(self, name: str) -> None:
        user = self.get_user(name)
        if user is None:
            return
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM remember_tokens WHERE user_id = ?", (user.id,))
        if self._keyring is not None:
            try:
                self._keyring.delete_password(KEYRING_SERVICE, _keyring_user(user.name))
            except keyring.errors.KeyringError:
                pass  # nothing stored, or the keyring is gone; the hash above is what counts

    def _require_user(self, name: str) -> User:
        user = self.get_user(name)
        if user is None:
            raise AccountError(f"no user named {name!r}")
        return user


def _too_many_attempts(decision: Decision) -> TooManyAttempts:
    whose = "names on this computer" if decision.counters_full else "this name"
    return TooManyAttempts(
        f"Too many failed sign-ins for {whose}. Try again in {decision.wait_text()}.", decision.retry_after_s
    )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")


def _user(row: Any) -> User:
    return User(row["id"], row["name"], row["role"], row["state"], row["created_at"], row["last_sign_in_at"],
                bool(row["must_change_password"]))


def _keyring_user(name: str) -> str:
    return f"remember:{name_key(name)}"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()
