"""With Redis unreachable, pages keep working and login rate limits stay on (per process), never a 500."""

import logging

import pytest
from django.core.cache import caches
from django.urls import reverse

from tests.conftest import make_user

DOWN = {"default": {"BACKEND": "portal.lib.cache.FallbackRedisCache", "LOCATION": "redis://127.0.0.1:1/0",
                    "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}


@pytest.fixture
def redis_down(settings):
    settings.CACHES = DOWN  # Django rebuilds the cache handlers on this setting change
    assert caches["default"].__class__.__name__ == "FallbackRedisCache"


def test_login_works_and_is_still_rate_limited_when_redis_is_down(db, client, redis_down, caplog):
    caplog.set_level(logging.ERROR, logger="portal.lib.cache")
    make_user("ann@example.com")
    assert client.get(reverse("account_login")).status_code == 200
    statuses = [client.post(reverse("account_login"), {"login": "ann@example.com", "password": "nope"}).status_code
                for _ in range(5)]
    assert statuses == [200] * 5
    locked = client.post(reverse("account_login"), {"login": "ann@example.com", "password": "correct-horse-battery-9"})
    assert "Too many failed login attempts" in locked.content.decode()
    assert any("Redis unreachable" in r.getMessage() for r in caplog.records)


def test_the_fallback_cache_is_a_cache(redis_down):
    from django.core.cache import cache

    cache.set("k", 41)
    assert cache.incr("k") == 42 and cache.get("k") == 42
    cache.delete("k")
    assert cache.get("k") is None


def test_count_hit_counts_in_a_window_with_redis_down(redis_down):
    from portal.lib.cache import count_hit

    assert [count_hit("hits", 60) for _ in range(3)] == [1, 2, 3]


@pytest.mark.redis
def test_count_hit_is_one_atomic_counter_with_an_expiry_in_redis(settings):
    import redis

    from portal.lib.cache import count_hit

    settings.CACHES = {"default": {"BACKEND": "portal.lib.cache.FallbackRedisCache",
                                   "LOCATION": settings.TEST_REDIS_URL, "KEY_PREFIX": "count-hit-test"}}
    backend = caches["default"]
    backend.delete("hits")
    assert [count_hit("hits", 60) for _ in range(3)] == [1, 2, 3]
    ttl = redis.Redis.from_url(settings.TEST_REDIS_URL).ttl(backend.make_and_validate_key("hits"))
    assert 0 < ttl <= 60  # the window ends: set on the first hit, not pushed back by later ones
    backend.delete("hits")
