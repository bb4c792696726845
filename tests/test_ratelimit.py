import pytest

from ret_desktop.core.cache import SessionCache
from ret_desktop.core.ratelimit import Decision, Limit, RateLimiter, default_limits


@pytest.fixture
def limiter(tmp_path, clock):
    cache = SessionCache(tmp_path / "c.db", clock=clock)
    yield RateLimiter(cache, {"ops": Limit(3, 60)})
    cache.close()


def test_hits_within_the_limit_are_allowed_with_remaining_count(limiter):
    assert [limiter.hit("ops", "alice") for _ in range(3)] == [
        Decision(True, 2, 0.0), Decision(True, 1, 0.0), Decision(True, 0, 0.0)
    ]


def test_over_the_limit_is_refused_until_the_window_ends(limiter, clock):
    for _ in range(3):
        limiter.hit("ops", "alice")
    clock.advance(20)
    refused = limiter.hit("ops", "alice")
    assert not refused.allowed and refused.remaining == 0
    assert refused.retry_after_s == pytest.approx(40)
    assert limiter.hit("ops", "bob").allowed  # per key
    clock.advance(40)
    assert limiter.hit("ops", "alice") == Decision(True, 2, 0.0)


def test_peek_does_not_count_and_reset_clears(limiter):
    for _ in range(3):
        assert limiter.peek("ops", "alice").allowed
    for _ in range(3):
        limiter.hit("ops", "alice")
    assert not limiter.peek("ops", "alice").allowed
    limiter.reset("ops", "alice")
    assert limiter.peek("ops", "alice").allowed


def test_unknown_scope_and_bad_limits_are_errors(limiter):
    with pytest.raises(ValueError, match="no rate limit"):
        limiter.hit("nope", "x")
    with pytest.raises(ValueError):
        Limit(0, 10)


def test_wait_text_and_defaults(settings):
    assert Decision(False, 0, 845.2).wait_text() == "14 min 6 s"
    assert Decision(False, 0, 41.1).wait_text() == "42 s"
    limits = default_limits(settings)
    assert limits["login"] == Limit(5, 900) and limits["operations"] == Limit(100, 60)


def test_a_lockout_outlives_failures_under_a_thousand_other_names_and_a_restart(tmp_path, clock):
    """Issue 10 §3: 1,000 other names used to push admin's counter out of the 1,000-entry LRU."""
    path = tmp_path / "c.db"
    cache = SessionCache(path, max_size=1000, clock=clock)
    limiter = RateLimiter(cache, {"login": Limit(5, 900)})
    for _ in range(5):
        limiter.hit("login", "admin")
    assert not limiter.peek("login", "admin").allowed
    for i in range(1500):
        assert limiter.hit("login", f"name{i}").allowed
        cache.set(f"session:x:{i}", i)  # and ordinary traffic besides
    assert not limiter.peek("login", "admin").allowed
    cache.close()
    cache = SessionCache(path, max_size=1000, clock=clock)
    limiter = RateLimiter(cache, {"login": Limit(5, 900)})
    refused = limiter.peek("login", "admin")
    assert not refused.allowed and refused.retry_after_s == pytest.approx(900)
    assert limiter.peek("login", "name1499") == Decision(True, 3, 0.0)  # every counter is still there
    clock.advance(900)
    assert limiter.peek("login", "admin").allowed
    cache.close()


def test_while_every_counter_slot_is_taken_a_name_without_one_is_refused_until_a_window_ends(tmp_path, clock):
    """What bounds the counters an attacker makes under made-up names: max_protected of them; past it
    a new name is refused (not counted nowhere), and names already counted keep their counts."""
    with SessionCache(tmp_path / "c.db", max_size=10, max_protected=100, clock=clock) as cache:
        limiter = RateLimiter(cache, {"login": Limit(5, 900)})
        for _ in range(5):
            limiter.hit("login", "admin")
        clock.advance(100)
        for i in range(99):
            assert limiter.hit("login", f"made-up-{i}").allowed
        for name in ("victim", "made-up-100"):
            refused = limiter.peek("login", name)
            assert (refused.allowed, refused.counters_full) == (False, True)
            assert refused.retry_after_s == pytest.approx(800)  # admin's window, the first to end
            assert limiter.hit("login", name) == refused
        assert not limiter.peek("login", "admin").allowed and not limiter.peek("login", "admin").counters_full
        assert limiter.hit("login", "made-up-0") == Decision(True, 3, 0.0)
        assert cache.stats()["protected_entries"] == 100
        clock.advance(800)
        assert limiter.peek("login", "victim") == Decision(True, 4, 0.0)
        assert limiter.hit("login", "victim") == Decision(True, 4, 0.0)
