"""Start several callers at the same moment: the race tests' one helper."""

from __future__ import annotations

import threading

from django.db import connection


def at_once(n: int, call, *, also=None, timeout: float = 60) -> tuple[list, list]:
    """Run `call()` in `n` threads released together (and `also()` in this thread at the same moment, if given).
    Returns (results, exceptions). Each thread closes its own database connection when done."""
    barrier = threading.Barrier(n + (1 if also else 0))
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(call())
        except Exception as exc:  # noqa: BLE001 - returned to the test, which asserts on it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    if also:
        barrier.wait()
        also()
    for thread in threads:
        thread.join(timeout)
    return results, errors
