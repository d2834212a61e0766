"""Test-only Celery tasks, loaded into a real worker with `celery worker -I tests.logging_tasks` (never by the
portal itself): a task that logs token-shaped values every way a task can."""

import logging
import sys

from celery import shared_task
from celery.utils.log import get_task_logger

task_logger = get_task_logger(__name__)
module_logger = logging.getLogger(__name__)


def fake_tokens(marker: str) -> tuple[str, str]:
    """Token-shaped values derived from `marker` (so no secret-looking value travels as a task argument)."""
    return f"00D5g00000{marker[:5]}!AQ{marker}.access", f"5Aep861{marker}refreshtokenvalue"


@shared_task(name="tests.logging_tasks.log_secrets")
def log_secrets(marker: str) -> None:
    access_token, refresh_token = fake_tokens(marker)
    task_logger.warning("%s task logger access %s refresh %s", marker, access_token, refresh_token)
    module_logger.warning("%s module logger access %s refresh %s", marker, access_token, refresh_token)
    logging.getLogger("celery").warning("%s celery logger refresh_token=%s", marker, refresh_token)
    try:
        raise RuntimeError(f"{marker} failed with {access_token}")
    except RuntimeError:
        task_logger.exception("%s exception", marker)
    print(f"{marker} stdout {access_token}", file=sys.stderr)


@shared_task(name="tests.logging_tasks.log_marker")
def log_marker(marker: str) -> None:
    task_logger.warning("%s task line", marker)
    module_logger.warning("%s module line", marker)
