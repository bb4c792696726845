"""Roles: who may do what. The core checks it on every administrator's call; the window only mirrors it.

An ``Actor`` is who asks: a signed-in account (with its session) or the command line. The command
line is run by whoever can read and write the data folder, which is the machine's administrator,
so it acts with the administrator's rights. A signed-in actor's role is read from the database at
each check, so a demoted or locked administrator loses the rights at once, signed in or not.
"""

from __future__ import annotations

from dataclasses import dataclass

from ret_desktop.core.appdb import AppDatabase

ADMIN, USER = "admin", "user"
ROLES = (ADMIN, USER)

# What only an administrator may do, and how a refusal names it.
MANAGE_ACCOUNTS = "manage accounts"
CHANGE_LIMITS = "change the settings"
READ_AUDIT = "read the audit log"
REMOVE_OTHERS_SESSIONS = "remove other users' sessions"
ADMIN_ONLY = (MANAGE_ACCOUNTS, CHANGE_LIMITS, READ_AUDIT, REMOVE_OTHERS_SESSIONS)


class PermissionDenied(Exception):
    """The actor's role may not do this; ``str()`` is one line for the user."""


@dataclass(frozen=True)
class Actor:
    user_id: int | None  # None: the command line
    name: str | None
    session_id: str | None = None

    @classmethod
    def signed_in(cls, user, session_id: str | None = None) -> Actor:
        """``user``: an ``accounts.User``."""
        return cls(user.id, user.name, session_id)

    @property
    def is_command_line(self) -> bool:
        return self.user_id is None


COMMAND_LINE = Actor(None, None)


def current_role(db: AppDatabase, actor: Actor) -> str | None:
    """The actor's role now (the command line counts as an administrator); None for an account that
    is gone or locked."""
    if actor.is_command_line:
        return ADMIN
    rows = db.query("SELECT role, state FROM users WHERE id = ?", (actor.user_id,))
    if not rows or rows[0]["state"] != "active":
        return None
    return rows[0]["role"]


def may(db: AppDatabase, actor: Actor, what: str) -> bool:
    return what not in ADMIN_ONLY or current_role(db, actor) == ADMIN


def require(db: AppDatabase, actor: Actor, what: str) -> None:
    """Raise PermissionDenied unless ``actor`` may do ``what`` (one of ADMIN_ONLY)."""
    if not may(db, actor, what):
        raise PermissionDenied(f"only an administrator may {what}; {actor.name} is not one")
