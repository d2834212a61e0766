"""A real Celery worker whose pool process stops at one point of a token refresh, for the SIGKILL tests.

`python -m tests.workers.pausing_worker -A portal worker …` is `celery -A portal worker …` plus, in every pool
process, a wrapper around one step of `orgs.services.refresh` chosen by RELIABILITY_PAUSE_AT:
- `before_call`: the "in flight" mark is committed, the refresh token not yet presented;
- `after_answer`: Salesforce answered (with rotation: the old refresh token is rotated out), nothing stored yet;
- `after_commit`: the new tokens are committed, the task not yet acknowledged.
There it writes RELIABILITY_PAUSE_MARKER and sleeps until the test SIGKILLs it. Production code knows nothing of this.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from celery.signals import worker_process_init


def _pause(point: str) -> None:
    Path(os.environ["RELIABILITY_PAUSE_MARKER"]).write_text(point)
    while True:
        time.sleep(1)


def install(**_kwargs) -> None:
    from orgs import tasks
    from orgs.services import refresh

    point = os.environ["RELIABILITY_PAUSE_AT"]
    real_renew, real_refresh = refresh._renew, tasks.connection_refresh
    if point == "before_call":
        def renew(connection):
            _pause(point)
        refresh._renew = renew
    elif point == "after_answer":
        def renew(connection):
            real_renew(connection)
            _pause(point)
        refresh._renew = renew
    elif point == "after_commit":
        def connection_refresh(**kwargs):
            real_refresh(**kwargs)
            _pause(point)
        tasks.connection_refresh = connection_refresh
    else:
        raise SystemExit(f"unknown RELIABILITY_PAUSE_AT {point!r}")


if __name__ == "__main__":
    worker_process_init.connect(install, weak=False)
    from celery.__main__ import main

    sys.argv = ["celery", *sys.argv[1:]]
    main()
