"""The shared cache: Redis, with a per-process fallback while Redis is unreachable.

allauth's login rate limits and TOTP replay protection live in the cache. When Redis goes away, failing closed would
make every login a 500; failing open would silently switch those protections off. This backend does neither: each
process keeps enforcing them in its own memory (weaker across processes, never off), logs an error, and tries Redis
again after a few seconds.
"""

import logging
import time

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5.0
_COUNT_HIT_LUA = ("local n = redis.call('INCR', KEYS[1]) "
                  "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return n")
_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)


class FallbackRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._fallback = LocMemCache(f"fallback-{id(self)}", {"OPTIONS": {"MAX_ENTRIES": 10000}})
        self._down_until = 0.0
        self._count_script = None

    def _call(self, name, *args, **kwargs):
        if time.monotonic() < self._down_until:
            return getattr(self._fallback, name)(*args, **kwargs)
        try:
            return getattr(super(), name)(*args, **kwargs)
        except _REDIS_DOWN as exc:
            self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
            log.error("cache: Redis unreachable (%s); using this process's memory for %.0f s", type(exc).__name__,
                      RETRY_AFTER_SECONDS)
            return getattr(self._fallback, name)(*args, **kwargs)

    def add(self, *args, **kwargs):
        return self._call("add", *args, **kwargs)

    def get(self, *args, **kwargs):
        return self._call("get", *args, **kwargs)

    def set(self, *args, **kwargs):
        return self._call("set", *args, **kwargs)

    def touch(self, *args, **kwargs):
        return self._call("touch", *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._call("delete", *args, **kwargs)

    def get_many(self, *args, **kwargs):
        return self._call("get_many", *args, **kwargs)

    def has_key(self, *args, **kwargs):
        return self._call("has_key", *args, **kwargs)

    def incr(self, *args, **kwargs):
        return self._call("incr", *args, **kwargs)

    def set_many(self, *args, **kwargs):
        return self._call("set_many", *args, **kwargs)

    def delete_many(self, *args, **kwargs):
        return self._call("delete_many", *args, **kwargs)

    def count_hit(self, key, timeout: int) -> int:
        """Add one to a counter that expires `timeout` seconds after its first hit; returns the new count.
        One Redis round trip (an atomic INCR-then-EXPIRE script)."""
        if time.monotonic() < self._down_until:
            return _count_hit_generic(self._fallback, key, timeout)
        try:
            if self._count_script is None:
                # Django builds a Redis client object per call; the counter keeps one (they are thread-safe).
                client = self._cache.get_client(key, write=True)
                self._count_script = client.register_script(_COUNT_HIT_LUA)
            return self._count_script(keys=[self.make_and_validate_key(key)], args=[timeout])
        except _REDIS_DOWN as exc:
            self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
            log.error("cache: Redis unreachable (%s); using this process's memory for %.0f s", type(exc).__name__,
                      RETRY_AFTER_SECONDS)
            return _count_hit_generic(self._fallback, key, timeout)

    def clear(self):
        self._fallback.clear()
        return self._call("clear")


def _count_hit_generic(backend, key, timeout: int) -> int:
    if backend.add(key, 1, timeout=timeout):
        return 1
    try:
        return backend.incr(key)
    except ValueError:  # expired between the two calls
        backend.add(key, 1, timeout=timeout)
        return 1


def count_hit(key: str, timeout: int) -> int:
    """Count one hit on `key` in the default cache (a window of `timeout` seconds from the first hit)."""
    from django.core.cache import caches

    backend = caches["default"]
    if isinstance(backend, FallbackRedisCache):
        return backend.count_hit(key, timeout)
    return _count_hit_generic(backend, key, timeout)
