"""HTML pages: login, Allow/Deny, OAuth error page, maintenance page.

Element ids and names are stable so browser tests can drive them: inputs ``username`` and
``password``, submit ``Login``; buttons ``allow`` and ``deny``; hidden ``txn`` on both forms.
"""

from __future__ import annotations

from html import escape

AUTHORIZE_PATH = "/services/oauth2/authorize"
LOGIN_ERROR = (
    "Please check your username and password. "
    "If you still can't log in, contact your Salesforce administrator."
)

_STYLE = (
    "body{font-family:sans-serif;background:#f3f3f3;margin:0}"
    "main{max-width:380px;margin:60px auto;background:#fff;padding:24px;border-radius:6px}"
    "label,input,button{display:block;width:100%;margin:6px 0}"
    ".error{color:#c23934}"
)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><p><small>sfsim — simulated Salesforce</small></p>{body}</main></body></html>"
    )


def login_page(txn: str, *, error: str | None = None, username: str = "") -> str:
    message = f'<p class="error" id="error">{escape(error)}</p>' if error else ""
    return _page(
        "Login | Salesforce",
        f"<h1>Log In</h1>{message}"
        f'<form method="post" action="{AUTHORIZE_PATH}" id="login_form">'
        f'<input type="hidden" name="txn" value="{escape(txn)}">'
        '<label for="username">Username</label>'
        f'<input type="text" id="username" name="username" value="{escape(username)}"'
        ' autocomplete="username">'
        '<label for="password">Password</label>'
        '<input type="password" id="password" name="password" autocomplete="current-password">'
        '<input type="submit" id="Login" name="Login" value="Log In">'
        "</form>",
    )


def allow_page(txn: str, *, app_name: str, username: str, scopes: tuple[str, ...]) -> str:
    items = "".join(f"<li>{escape(scope)}</li>" for scope in scopes)
    return _page(
        "Allow Access?",
        f"<h1>Allow Access?</h1><p><strong>{escape(app_name)}</strong> is asking to:</p><ul>{items}</ul>"
        f'<p>Logged in as <span id="current_user">{escape(username)}</span></p>'
        f'<form method="post" action="{AUTHORIZE_PATH}" id="approve_form">'
        f'<input type="hidden" name="txn" value="{escape(txn)}">'
        '<button type="submit" id="deny" name="deny" value="1">Deny</button>'
        '<button type="submit" id="allow" name="allow" value="1">Allow</button>'
        "</form>",
    )


def error_page(error: str, description: str) -> str:
    return _page(
        "Error",
        f"<h1>OAuth Error</h1><p>We can't authorize you because of an OAuth error.</p>"
        f'<p>error=<code id="error">{escape(error)}</code></p>'
        f'<p>error_description=<code id="error_description">{escape(description)}</code></p>',
    )


def maintenance_page() -> str:
    return _page(
        "Service Unavailable",
        "<h1>Service Unavailable</h1>"
        "<p>This Salesforce instance is temporarily unavailable for maintenance.</p>",
    )


def home_page(username: str, org_name: str, org_id: str, path: str) -> str:
    """What a browser sees after frontdoor.jsp logged it in (ids ``current_user``, ``current_org``)."""
    return _page(
        "Home | Salesforce",
        f'<h1>{escape(org_name)}</h1><p>Logged in as <span id="current_user">{escape(username)}</span>'
        f' in org <span id="current_org">{escape(org_id)}</span></p>'
        f'<p>Page: <code id="current_path">{escape(path)}</code></p>',
    )


def landing_page() -> str:
    """The login host's start page, where Salesforce sends a browser without a session (``?ec=302``)."""
    return _page(
        "Login | Salesforce",
        '<h1>Log In</h1><p id="no_session">You are not logged in, or your session has ended.</p>',
    )
