"""Opt-in error reports to Sentry (sentry-sdk), switched on by SENTRY_DSN alone (portal/settings.py).

Django and Celery integrations; beat's periodic tasks are monitored as Sentry crons (monitor_beat_tasks).
send_default_pii is off, frames carry no local variables (Sentry ignores Django's sensitive_variables), request
bodies are not sent, and every event passes through `scrub_event` before it leaves: each string in it (message,
exception values, stack-frame variables, breadcrumbs, request data) through the log redaction
(portal/lib/redaction.py), and the values of secret-looking keys replaced outright.
"""

from portal.lib.redaction import _QUERY_SECRETS, REDACTED, redact

_SECRET_KEYS = _QUERY_SECRETS | {"authorization", "cookie", "secret", "consumer_secret", "private_key", "token",
                                 "api_token", "sessionid", "csrftoken", "x-csrftoken", "pending_consumer_secret"}


def _scrub(value, depth: int = 0):
    if depth > 20:
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: REDACTED if isinstance(key, str) and key.lower() in _SECRET_KEYS and value[key]
                else _scrub(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, depth + 1) for item in value]
    return value


def scrub_event(event, hint=None):
    """before_send / before_send_transaction: the whole event, redacted."""
    return _scrub(event)


def sentry_init(*, dsn: str, environment: str, transport=None) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    options = {}
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        send_default_pii=False,
        integrations=[DjangoIntegration(), CeleryIntegration(monitor_beat_tasks=True)],
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        before_breadcrumb=lambda crumb, hint: _scrub(crumb),
        max_request_body_size="never",
        include_local_variables=False,  # Sentry does not honour Django's sensitive_variables: no frame locals
        traces_sample_rate=0.0,
        **options,
    )
