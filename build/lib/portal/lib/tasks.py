"""Services publish Celery tasks by name.

Tasks call services, and services enqueue tasks (after their transaction commits). Naming the task, instead of
importing its module, keeps the imports one-way (`<app>.tasks` → `<app>.services`) so there is no import cycle;
the task module is loaded when the first message is published, as Celery's own `symbol_by_name` would. Arguments
are ids and primitives only, never secrets.
"""

from django.utils.module_loading import import_string


def task(name: str):
    """The Celery task registered under the dotted path `name` (e.g. "orgs.tasks.scratch_org_poll_task")."""
    found = import_string(name)
    if getattr(found, "name", None) != name:
        raise LookupError(f"{name} is not a Celery task")
    return found
