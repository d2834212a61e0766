"""Signals the people side sends for the Salesforce side, which this package must not import (layers).

`member_access_changed` is sent inside the write's transaction when a member's role changes or a member joins
(keyword arguments: `team`, `user_ids`): what they can reach may have grown. The orgs app creates their org
aliases in the same transaction (orgs/apps.py).

`access_reducing` is sent inside the transaction, *before* a write that may take access to orgs away from people
or service tokens (a role lowered, a member removed or leaving, a service token revoked). Keyword arguments:
`team_id`, `reason` (a short text for the audit log), `user_ids` (None: every member) and `service_token_ids`
(None: every service token). The orgs app connects it (orgs/apps.py) and, after the commit, revokes the access
tokens already handed out for every org someone lost (orgs/services/revocation.py).
"""

from django.dispatch import Signal

access_reducing = Signal()
member_access_changed = Signal()
