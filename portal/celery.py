"""The Celery app: configured from Django settings (CELERY_* names), one tasks.py per app. Worker and beat verify
the encryption keyring against the database before they start (portal/accounts/keycheck.py)."""

import os

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def _verify_keyring(**kwargs) -> None:
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    from portal.accounts.keycheck import keyring_verify_or_exit

    keyring_verify_or_exit()
