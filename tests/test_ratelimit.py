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
