"""Keep secrets out of log output.

A logging filter that masks token-shaped values (Salesforce access tokens `00D…!…`, refresh tokens `5Aep…`,
portal API tokens `op_…`, PEM blocks), the values of sensitive-looking keys, and the OAuth `code` and `state` of a
logged URL's query string, in the message and its arguments. Every handler has it: Django's (portal/settings.py
LOGGING, also kept by Celery's worker and beat, portal/celery.py) and gunicorn's (portal/gunicorn_conf.py). The
error e-mail handler masks the same values in the finished e-mail.
Redaction here is a safety net: code must not log secrets in the first place.
"""

import logging
import re

from django.utils.log import AdminEmailHandler
from django.views.debug import ExceptionReporter

REDACTED = "[redacted]"

_PATTERNS = [
    re.compile(r"00D\w{12,15}![\w.]+"),  # Salesforce access token / session id
    re.compile(r"\b5Aep[\w.=]{20,}"),  # Salesforce refresh token
    re.compile(r"\bop_[A-Za-z0-9_-]{20,}"),  # portal API tokens
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"\beyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]+"),  # JWTs
    re.compile(
        r"(?i)((?:access|refresh)_token|client_secret|consumer_secret|password|secret|assertion|code_verifier|"
        r"authorization)(['\"]?\s*[:=]\s*['\"]?)(?:Bearer\s+)?[^\s'\"&,}]+"
    ),
    # The OAuth callback's one-time code and state in a logged URL (access logs): ?code=…&state=…
    re.compile(r"(?i)([?&;](?:code|state)|%3[fF](?:code|state)|%26(?:code|state))(=|%3[dD])[^\s&\"#]+"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not drop the record
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class RedactingAdminEmailHandler(AdminEmailHandler):
    """Django's error e-mail to ADMINS, with token-shaped values masked in the finished subject and bodies.

    `sensitive_variables` / `sensitive_post_parameters` on the views and services that hold secrets keep those out
    of the report in the first place; this is the safety net for what they miss."""

    def __init__(self, include_html=False, email_backend=None, reporter_class=None):
        super().__init__(include_html, email_backend,
                         reporter_class or "portal.lib.redaction.RedactingExceptionReporter")

    def send_mail(self, subject, message, *args, **kwargs):
        if kwargs.get("html_message"):
            kwargs["html_message"] = redact(kwargs["html_message"])
        super().send_mail(redact(subject), redact(message), *args, **kwargs)


# Query parameters that carry secrets (the OAuth callback's code and state, tokens by mistake).
_QUERY_SECRETS = {"code", "state", "access_token", "refresh_token", "token", "client_secret", "assertion",
                  "code_verifier", "password"}


class RedactingExceptionReporter(ExceptionReporter):
    """Django's error report with the query string's secrets masked: the request URL, GET and the URL-carrying
    META entries (Django masks only POST, cookies and settings/META names that look secret)."""

    def get_traceback_data(self):
        data = super().get_traceback_data()
        if self.request is not None:
            data["request_GET_items"] = [(k, REDACTED if k.lower() in _QUERY_SECRETS else v)
                                         for k, v in self.request.GET.items()]
            if data.get("request_insecure_uri"):
                data["request_insecure_uri"] = redact(str(data["request_insecure_uri"]))
            meta = data.get("request_meta")
            if isinstance(meta, dict):
                for key in ("QUERY_STRING", "REQUEST_URI", "RAW_URI", "HTTP_REFERER"):
                    if isinstance(meta.get(key), str):
                        meta[key] = redact(meta[key] if key != "QUERY_STRING" else "?" + meta[key]).lstrip("?")
        return data
