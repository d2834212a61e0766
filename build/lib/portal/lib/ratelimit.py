"""Fixed-window rate limits in the shared cache: one Redis round trip per hit (portal.lib.cache.count_hit).

While Redis is unreachable the count falls back to this process's memory (weaker across processes, never off).
"""

from __future__ import annotations

import time

from portal.lib.cache import count_hit


def rate_limit_hit(bucket: str, *, limit: int, window: int = 60) -> int | None:
    """Count one hit for `bucket` in the current window of `window` seconds. None while within `limit`, else the
    seconds until the window ends (for `Retry-After`, at least 1)."""
    now = time.time()
    current = int(now // window)
    if count_hit(f"rate:{bucket}:{current}", window + 5) > limit:
        return max(1, int(window - now % window) + 1)
    return None
