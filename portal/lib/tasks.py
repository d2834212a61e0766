"""Services publish Celery tasks by name.

Tasks call services, and services enqueue tasks (after their transaction commits). Naming the task, instead of
importing its module, keeps the imports one-way (`<app>.tasks` → `<app>.services`) so there is no import cycle;
the task module is loaded when the first message is published, as Celery's own `symbol_by_name` would. Arguments
are ids and primitives only, never secrets.
"""

import logging

from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


def task(name: str):
    """The Celery task registered under the dotted path `name` (e.g. "orgs.tasks.scratch_org_poll_task")."""
    found = import_string(name)
    if getattr(found, "name", None) != name:
        raise LookupError(f"{name} is not a Celery task")
    return found


def publish_each(name: str, ids, what: str) -> None:
    """Publish task `name`(id) for each id. A message the broker refuses is logged and left to the beat sweep that
    finds its row still waiting (the database is the truth); the others are still tried."""
    for item in ids:
        try:
            task(name).delay(item)
        except Exception as exc:  # noqa: BLE001 - broker down (or an eager failure): the row stays for the sweep
            log.error("could not publish %s %s (%s)", what, item, type(exc).__name__)
