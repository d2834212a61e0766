"""The Celery app: configured from Django settings (CELERY_* names), one tasks.py per app.

Logging: worker and beat keep Django's LOGGING (its redaction filter on every handler). Celery would otherwise
reset the root logger (worker_hijack_root_logger, off in settings) and give `celery.task` its own unfiltered
handler; answering `setup_logging` makes Celery leave logging entirely to Django's configuration.

Worker and beat verify the encryption keyring against the database before they start (portal/accounts/keycheck.py).
"""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def _django_logging(**kwargs):
    """Worker, beat and every pool process: (re)apply Django's LOGGING instead of Celery's own handlers."""
    from django.conf import settings
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    if app.conf.worker_redirect_stdouts:  # what Celery does when it configures logging itself: print() → a logger
        app.log.redirect_stdouts(app.conf.worker_redirect_stdouts_level)


@signals.worker_init.connect
@signals.beat_init.connect
def _verify_keyring(**kwargs) -> None:
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    from portal.accounts.keycheck import keyring_verify_or_exit

    keyring_verify_or_exit()
