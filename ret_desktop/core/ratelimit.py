"""RateLimiter: fixed-window counters kept in the SessionCache, so limits survive a restart and
hold for every process on the same cache.

Counters are protected cache entries: no amount of other traffic evicts them, only their window
(TTL) or ``reset``. The cache keeps at most ``max_protected`` of them; while that many are live, a
key without a counter is refused (``Decision.counters_full``) until the first window ends, rather
than counted nowhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from ret_desktop.core.cache import CacheFullError, SessionCache


@dataclass(frozen=True)
class Limit:
    max_hits: int
    window_seconds: float

    def __post_init__(self) -> None:
        if self.max_hits < 1 or self.window_seconds <= 0:
            raise ValueError(f"a limit needs max_hits >= 1 and a positive window, not {self}")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after_s: float  # 0 when allowed
    counters_full: bool = False  # refused because no counter could be started (see the module docstring)

    def wait_text(self) -> str:
        """The wait as a person reads it: '14 min 5 s', '42 s'."""
        seconds = math.ceil(self.retry_after_s)
        minutes, seconds = divmod(seconds, 60)
        return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


class RateLimiter:
    """``hit(scope, key)`` counts one event against the limit of ``scope``.

    Counters live at ``rate:<scope>:<key>`` with the window as their TTL: the first hit opens the
    window, and the counter (with any lockout) ends when the window does.
    """

    def __init__(self, cache: SessionCache, limits: Mapping[str, Limit]) -> None:
        self._cache = cache
        self._limits = dict(limits)

    def set_limits(self, limits: Mapping[str, Limit]) -> None:
        """New limits; counters in their windows carry on against them."""
        self._limits = dict(limits)

    def hit(self, scope: str, key: str) -> Decision:
        limit = self._limit(scope)
        try:
            count = self._cache.incr(self._key(scope, key), ttl_seconds=limit.window_seconds, protected=True)
        except CacheFullError as full:
            return Decision(False, 0, full.retry_after_s, counters_full=True)
        return self._decision(scope, key, limit, count)

    def peek(self, scope: str, key: str) -> Decision:
        """The decision the next hit would get, without counting one."""
        limit = self._limit(scope)
        count = self._cache.get(self._key(scope, key), 0)
        if count == 0:
            wait = self._cache.seconds_until_protected_room()
            if wait > 0:
                return Decision(False, 0, wait, counters_full=True)
        return self._decision(scope, key, limit, count + 1)

    def count(self, scope: str, key: str) -> int:
        """How many hits the current window of ``key`` has counted (0 when none is open)."""
        self._limit(scope)
        return self._cache.get(self._key(scope, key), 0)

    def reset(self, scope: str, key: str) -> None:
        self._limit(scope)
        self._cache.delete(self._key(scope, key))

    def _decision(self, scope: str, key: str, limit: Limit, count: int) -> Decision:
        if count <= limit.max_hits:
            return Decision(True, limit.max_hits - count, 0.0)
        try:
            retry_after = self._cache.ttl_remaining(self._key(scope, key)) or limit.window_seconds
        except KeyError:  # the window ended between the two calls
            return Decision(True, limit.max_hits - 1, 0.0)
        return Decision(False, 0, retry_after)

    def _limit(self, scope: str) -> Limit:
        try:
            return self._limits[scope]
        except KeyError:
            raise ValueError(f"no rate limit configured for scope {scope!r}") from None

    @staticmethod
    def _key(scope: str, key: str) -> str:
        return f"rate:{scope}:{key}"


LOGIN_SCOPE = "login"
OPERATIONS_SCOPE = "operations"


def default_limits(settings) -> dict[str, Limit]:
    """The limits of DESIGN §3 from ``settings`` (a ``config.Settings``)."""
    return {
        LOGIN_SCOPE: Limit(settings.login_max_failures, settings.login_window_seconds),
        OPERATIONS_SCOPE: Limit(settings.operations_per_minute, 60),
    }
