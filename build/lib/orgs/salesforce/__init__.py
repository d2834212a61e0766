"""The Salesforce client: plain Python on `requests`, no Django, models, Celery or settings.

- `client`: OAuth (web-server + PKCE, refresh, JWT bearer, revoke), identity and REST calls; dataclasses out.
- `hosts`: the one validator of Salesforce hosts and URLs (login hosts, `instance_url`, identity URLs).
- `egress`: connections to public addresses only (DNS checked, socket pinned).
- `errors`: the error classes (permanent vs transient) and the one table of advice shown to people.

`orgs.services.client.sf_client()` builds a client from the portal's settings.
"""

from orgs.salesforce.client import *  # noqa: F403
from orgs.salesforce.client import __all__  # noqa: F401
