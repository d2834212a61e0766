"""Logs you can follow: a request id on every line, optionally one JSON object per line (PORTAL_LOG_FORMAT=json).

The id is born in `RequestIdMiddleware` (or taken from a well-formed incoming X-Request-ID), returned as the
X-Request-ID response header, kept in a context variable for the request's log lines (`RequestIdFilter`), carried
into Celery tasks as a message header (`task_publish_hook` / `task_start_hook` / `task_end_hook`, connected in
portal/celery.py) and printed by gunicorn's access log (its `{x-request-id}o` atom, portal/gunicorn_conf.py).
The JSON formatter redacts its finished line too (extra fields are not seen by the redaction filter).
"""

import contextvars
import logging
import re
import uuid

from pythonjsonlogger.json import JsonFormatter

from portal.lib.redaction import redact

HEADER = "X-Request-ID"
CELERY_HEADER = "portal_request_id"
NO_REQUEST = "-"
_ACCESS_ATOM = "{x-request-id}o"  # gunicorn's access-log atom for the response header
# A caller's (or a proxy's) own id is kept when it is a sane one: 1-128 letters, digits and ._:@/+=- (no spaces or
# line breaks, so it cannot forge log lines); anything else gets a fresh id.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("portal_request_id", default=None)


def request_id() -> str | None:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(value: str | None) -> str:
    """An incoming id is kept when it is sane (no log injection, bounded length); else a new one."""
    return value if value and _WELL_FORMED.fullmatch(value) else new_request_id()


def _request_finished(**kwargs) -> None:
    _request_id.set(None)


class RequestIdMiddleware:
    """Sets the id for the whole request; it is cleared when the request is finished (Django's request_finished,
    sent when the server closes the response), so Django's own 4xx/5xx log line, written after the middleware
    returned, carries it too."""

    def __init__(self, get_response):
        from django.core.signals import request_finished

        self.get_response = get_response
        request_finished.connect(_request_finished, weak=False, dispatch_uid="portal.lib.logs.request_finished")

    def __call__(self, request):
        rid = accepted_request_id(request.headers.get(HEADER))
        _request_id.set(rid)
        request.request_id = rid  # error bodies quote it (portal/views.py)
        response = self.get_response(request)
        response[HEADER] = rid
        return response


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id`: the current request's or task's id, gunicorn's access-log response header, or
    "-" outside both."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = _request_id.get()
        if rid is None and isinstance(record.args, dict):
            value = record.args.get(_ACCESS_ATOM)
            rid = value if isinstance(value, str) and value != "-" else None
        record.request_id = rid or NO_REQUEST
        return True


class RedactingJsonFormatter(JsonFormatter):
    """python-json-logger's formatter, the finished line passed through the redaction once more."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"levelname": "level", "asctime": "time", "name": "logger"})
        super().__init__(*args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# -- Celery: the publishing request's id travels as a message header -------------------------------------------------

def task_publish_hook(headers=None, **kwargs) -> None:
    rid = _request_id.get()
    if rid and isinstance(headers, dict):
        headers.setdefault(CELERY_HEADER, rid)


_task_tokens: dict[str, contextvars.Token] = {}


def task_start_hook(task_id=None, task=None, **kwargs) -> None:
    incoming = getattr(task.request, CELERY_HEADER, None) if task is not None else None
    if incoming is None and task is not None:
        incoming = (getattr(task.request, "headers", None) or {}).get(CELERY_HEADER)
    rid = incoming or _request_id.get() or new_request_id()  # eager tasks keep the caller's id
    _task_tokens[task_id] = _request_id.set(rid)


def task_end_hook(task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            _request_id.reset(token)
        except ValueError:  # set in another context: forget it instead
            _request_id.set(None)
